-- Inbound sources: any provider's webhooks (payments, POS, code hosting, chat apps) arrive at a
-- source's ingest URL, are verified by the source's preset, logged and routed as events.

-- A source. `scheme` is the verification preset and its options (JSON, no secret in it); the
-- secrets are sealed with the master key. During a rotation the previous secret verifies too
-- until previous_secret_until.
CREATE TABLE sources (
    id                     UUID PRIMARY KEY,
    account_id             UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    enabled                BOOLEAN NOT NULL DEFAULT TRUE,
    scheme                 JSONB NOT NULL,      -- JSON: {"type": "stripe", …}
    secret                 BYTEA,               -- sealed; NULL for the `none` preset
    previous_secret        BYTEA,               -- sealed, verifies too until previous_secret_until
    previous_secret_until  BIGINT,
    verify_token           BYTEA,               -- sealed; a GET handshake's token (Meta)
    allowed_networks       JSONB NOT NULL,      -- JSON list of CIDRs; empty = any address
    max_body_bytes         BIGINT NOT NULL,
    rate_limit             BIGINT,            -- requests per second; NULL = unlimited
    dedupe                 JSONB,               -- JSON {"header": …} or {"jq": …}; NULL = none
    event_type             TEXT,               -- jq over {body, headers}; NULL = the fallback
    fallback_type          TEXT NOT NULL,
    filter                 TEXT,               -- jq; routed only when it yields true
    transform              TEXT,               -- jq; its output is the event's payload
    labels                 JSONB NOT NULL,      -- JSON list, put on every event of the source
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX sources_account ON sources(account_id, id);

-- The ingest log: every request a source received, written in the same transaction as the
-- event it became (so an acknowledged request is durable together with its deliveries).
-- Credential headers are redacted before they are stored. ids are time-ordered (UUIDv7).
-- No foreign key to sources: a row is written inside a group commit shared with other
-- requests, and a source deleted meanwhile must not fail them all; deleting a source deletes
-- its rows explicitly.
CREATE TABLE source_requests (
    id            UUID PRIMARY KEY,
    source_id     UUID NOT NULL,
    account_id    UUID NOT NULL,
    received_at   BIGINT NOT NULL,
    remote_addr   TEXT NOT NULL,
    method        TEXT NOT NULL,
    content_type  TEXT,
    headers       JSONB NOT NULL,               -- JSON object, credentials redacted
    query         TEXT,
    body          BYTEA NOT NULL,
    verified      BOOLEAN NOT NULL,
    outcome       TEXT NOT NULL,               -- routed, duplicate, filtered, refused, failed
    detail        TEXT,                        -- why refused, filtered or failed
    dedupe_key    TEXT,
    event_type    TEXT,
    event_id      UUID                         -- the event it was routed as (webhook_events.id)
);
CREATE INDEX source_requests_source ON source_requests(source_id, id);
CREATE INDEX source_requests_received ON source_requests(received_at);

-- A job may replay a source's requests instead of recovering an endpoint's deliveries; its
-- endpoint_id is then the nil id.
ALTER TABLE webhook_jobs ADD COLUMN source_id UUID;
