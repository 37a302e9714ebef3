-- Accounts are the tenants (a restaurant chain); every other resource belongs to one.
CREATE TABLE accounts (
    id          UUID PRIMARY KEY,          -- UUIDv7
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,           -- Unix ms
    updated_at  BIGINT NOT NULL
);

-- API keys are stored only as SHA-256 of the key; the plaintext is shown once at creation.
-- role 'admin' reaches every account; role 'account' only account_id.
CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    account_id    UUID REFERENCES accounts(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'account')),
    name          TEXT NOT NULL DEFAULT '',
    key_hash      BYTEA NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,           -- non-secret display prefix
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

-- Small key/value facts about this database (e.g. that the first admin key was issued), written
-- with INSERT … ON CONFLICT DO NOTHING so concurrent nodes agree on who did it.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
