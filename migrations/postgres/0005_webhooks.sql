-- Outbound webhooks: endpoints customers register, their event types, the events published to
-- them, one delivery row per (event, matching endpoint) written in the same transaction as the
-- event, and the log of every attempt.

-- A customer's receiver. The secret is sealed with the master key; during rotation the previous
-- secret also signs until previous_secret_until. disabled_reason is set whenever enabled becomes
-- false (by the customer, a 410 Gone, or failing continuously for too long).
CREATE TABLE webhook_endpoints (
    id                     UUID PRIMARY KEY,
    account_id             UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    enabled                BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason        TEXT,
    disabled_at            BIGINT,
    event_types            JSONB,               -- JSON list; NULL = every type
    labels                 JSONB NOT NULL,      -- JSON list; an event must carry all of them
    headers                JSONB NOT NULL,      -- JSON object of extra request headers
    timeout_ms             BIGINT NOT NULL,
    rate_limit             BIGINT,            -- deliveries per second; NULL = unlimited
    max_in_flight          BIGINT,            -- concurrent requests; NULL = worker default
    retry_schedule         JSONB,               -- JSON list of seconds; NULL = server default
    metadata               JSONB NOT NULL,      -- JSON object, the customer's own
    secret                 BYTEA NOT NULL,      -- sealed `whsec_…`
    previous_secret        BYTEA,               -- sealed, signs too until previous_secret_until
    previous_secret_until  BIGINT,
    failing_since          BIGINT,            -- first failure of the current failing streak
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, id);

-- Event types an account declared; the platform's own catalogue lives in code (delivery/catalogue.rs).
CREATE TABLE webhook_event_types (
    account_id   UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    schema       JSONB,                         -- JSON Schema the payload must satisfy
    deprecated   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Published events. (account_id, event_id) is unique: publishing the same event_id again
-- returns the original (idempotent publish). payload is NULL once retention removed it.
CREATE TABLE webhook_events (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT,                -- kept as published text: the bytes delivered are the bytes sent
    labels      JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (account_id, event_id)
);
CREATE INDEX webhook_events_account ON webhook_events(account_id, id);
CREATE INDEX webhook_events_created ON webhook_events(created_at);

-- The work queue. A row is due when status = 'pending' and next_attempt_at has passed; a worker
-- claims it by writing lease_owner/lease_until, and records the outcome only while it still holds
-- that lease, so a node whose lease expired cannot overwrite the one that took over.
CREATE TABLE webhook_deliveries (
    id               UUID PRIMARY KEY,
    account_id       UUID NOT NULL,
    event_id         UUID NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id      UUID NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      UUID,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    last_status      BIGINT,                  -- HTTP status of the last attempt
    last_error       TEXT,                     -- error class of the last attempt
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, status, updated_at);

-- Every attempt, successful or not: what was answered, how long it took, and why it failed.
CREATE TABLE webhook_attempts (
    id                UUID PRIMARY KEY,
    delivery_id       UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    account_id        UUID NOT NULL,
    event_id          UUID NOT NULL,
    endpoint_id       UUID NOT NULL,
    attempt           BIGINT NOT NULL,
    cause             TEXT NOT NULL,           -- scheduled, test, resend, recover
    succeeded         BOOLEAN NOT NULL,
    response_status   BIGINT,
    response_headers  JSONB NOT NULL,           -- JSON object
    response_body     TEXT NOT NULL,           -- first 8 KiB
    request_headers   JSONB NOT NULL,           -- JSON object, signature masked
    error_class       TEXT,                    -- dns, connect, tls, timeout, status, refused
    error_message     TEXT,
    latency_ms        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts(event_id, id);
CREATE INDEX webhook_attempts_created ON webhook_attempts(created_at);

-- Background jobs (recover): progress readable while they run.
CREATE TABLE webhook_jobs (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    endpoint_id  UUID NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    params       JSONB NOT NULL,               -- JSON
    total        BIGINT NOT NULL DEFAULT 0,
    done         BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
