-- Bots belong to an account; deleting a bot deletes everything it owns (cascades below and in
-- later migrations).
CREATE TABLE bots (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    is_active    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX bots_account ON bots(account_id, id);

-- Every upload is a new immutable version (scenario_data never changes after insert); at most
-- one version per bot is active, enforced by the partial unique index.
-- scenario_data is TEXT, not JSONB: JSONB reorders object keys, and a scenario's first step is
-- the first key in document order.
CREATE TABLE scenarios (
    id              UUID PRIMARY KEY,
    bot_id          UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    version_number  INTEGER NOT NULL,          -- 1, 2, 3… per bot
    name            TEXT NOT NULL,
    description     TEXT,
    version         TEXT NOT NULL,             -- the author's free-form label (GET INN's `version`)
    scenario_data   TEXT NOT NULL,             -- the document as uploaded (JSON, key order kept)
    warnings        TEXT NOT NULL DEFAULT '[]',-- validation warnings at upload
    is_active       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (bot_id, version_number)
);
CREATE UNIQUE INDEX scenarios_one_active ON scenarios(bot_id) WHERE is_active;
