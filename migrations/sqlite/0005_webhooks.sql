-- Outbound webhooks: endpoints customers register, their event types, the events published to
-- them, one delivery row per (event, matching endpoint) written in the same transaction as the
-- event, and the log of every attempt.

-- A customer's receiver. The secret is sealed with the master key; during rotation the previous
-- secret also signs until previous_secret_until. disabled_reason is set whenever enabled becomes
-- false (by the customer, a 410 Gone, or failing continuously for too long).
CREATE TABLE webhook_endpoints (
    id                     BLOB PRIMARY KEY,
    account_id             BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    enabled                INTEGER NOT NULL DEFAULT 1,
    disabled_reason        TEXT,
    disabled_at            INTEGER,
    event_types            TEXT,               -- JSON list; NULL = every type
    labels                 TEXT NOT NULL,      -- JSON list; an event must carry all of them
    headers                TEXT NOT NULL,      -- JSON object of extra request headers
    timeout_ms             INTEGER NOT NULL,
    rate_limit             INTEGER,            -- deliveries per second; NULL = unlimited
    max_in_flight          INTEGER,            -- concurrent requests; NULL = worker default
    retry_schedule         TEXT,               -- JSON list of seconds; NULL = server default
    metadata               TEXT NOT NULL,      -- JSON object, the customer's own
    secret                 BLOB NOT NULL,      -- sealed `whsec_…`
    previous_secret        BLOB,               -- sealed, signs too until previous_secret_until
    previous_secret_until  INTEGER,
    failing_since          INTEGER,            -- first failure of the current failing streak
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, id);

-- Event types an account declared; the platform's own catalogue lives in code (delivery/catalogue.rs).
CREATE TABLE webhook_event_types (
    account_id   BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    schema       TEXT,                         -- JSON Schema the payload must satisfy
    deprecated   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Published events. (account_id, event_id) is unique: publishing the same event_id again
-- returns the original (idempotent publish). payload is NULL once retention removed it.
CREATE TABLE webhook_events (
    id          BLOB PRIMARY KEY,
    account_id  BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT,
    labels      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, event_id)
);
CREATE INDEX webhook_events_account ON webhook_events(account_id, id);
CREATE INDEX webhook_events_created ON webhook_events(created_at);

-- The work queue. A row is due when status = 'pending' and next_attempt_at has passed; a worker
-- claims it by writing lease_owner/lease_until, and records the outcome only while it still holds
-- that lease, so a node whose lease expired cannot overwrite the one that took over.
CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY,
    account_id       BLOB NOT NULL,
    event_id         BLOB NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id      BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      BLOB,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    last_status      INTEGER,                  -- HTTP status of the last attempt
    last_error       TEXT,                     -- error class of the last attempt
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, status, updated_at);

-- Every attempt, successful or not: what was answered, how long it took, and why it failed.
CREATE TABLE webhook_attempts (
    id                BLOB PRIMARY KEY,
    delivery_id       BLOB NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    account_id        BLOB NOT NULL,
    event_id          BLOB NOT NULL,
    endpoint_id       BLOB NOT NULL,
    attempt           INTEGER NOT NULL,
    cause             TEXT NOT NULL,           -- scheduled, test, resend, recover
    succeeded         INTEGER NOT NULL,
    response_status   INTEGER,
    response_headers  TEXT NOT NULL,           -- JSON object
    response_body     TEXT NOT NULL,           -- first 8 KiB
    request_headers   TEXT NOT NULL,           -- JSON object, signature masked
    error_class       TEXT,                    -- dns, connect, tls, timeout, status, refused
    error_message     TEXT,
    latency_ms        INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts(event_id, id);
CREATE INDEX webhook_attempts_created ON webhook_attempts(created_at);

-- Background jobs (recover): progress readable while they run.
CREATE TABLE webhook_jobs (
    id           BLOB PRIMARY KEY,
    account_id   BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    endpoint_id  BLOB NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    params       TEXT NOT NULL,               -- JSON
    total        INTEGER NOT NULL DEFAULT 0,
    done         INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
