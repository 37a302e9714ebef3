-- Accounts are the tenants (a restaurant chain); every other resource belongs to one.
CREATE TABLE accounts (
    id          BLOB PRIMARY KEY,          -- UUIDv7
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,          -- Unix ms
    updated_at  INTEGER NOT NULL
);

-- API keys are stored only as SHA-256 of the key; the plaintext is shown once at creation.
-- role 'admin' reaches every account; role 'account' only account_id.
CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY,
    account_id    BLOB REFERENCES accounts(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'account')),
    name          TEXT NOT NULL DEFAULT '',
    key_hash      BLOB NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,           -- non-secret display prefix
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);

-- Small key/value facts about this database (e.g. that the first admin key was issued), written
-- with INSERT … ON CONFLICT DO NOTHING so concurrent nodes agree on who did it.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
