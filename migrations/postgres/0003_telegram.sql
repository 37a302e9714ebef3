-- Platform credentials of a bot: one row per (bot, platform). The token and the webhook secret
-- are sealed with the master key (XChaCha20-Poly1305); only a redacted hint is kept in clear.
CREATE TABLE bot_credentials (
    id                    UUID PRIMARY KEY,
    bot_id                UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    platform              TEXT NOT NULL,
    token_sealed          BYTEA NOT NULL,
    token_hint            TEXT NOT NULL,         -- e.g. 123456:****
    secret_token_sealed   BYTEA,                  -- X-Telegram-Bot-Api-Secret-Token we registered
    extra                 TEXT NOT NULL DEFAULT '{}', -- non-secret settings given with the credential
    is_active             BOOLEAN NOT NULL DEFAULT TRUE,
    webhook_url           TEXT,
    webhook_last_checked  BIGINT,
    webhook_auto_refresh  BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (bot_id, platform)
);

-- One conversation per (bot, platform, chat). `state` is the engine's DialogState as JSON;
-- `version` guards against two nodes writing the same dialog (optimistic concurrency).
CREATE TABLE dialogs (
    id                   UUID PRIMARY KEY,
    bot_id               UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    platform             TEXT NOT NULL,
    chat_id              TEXT NOT NULL,
    current_step         TEXT NOT NULL,
    status               TEXT NOT NULL,
    state                TEXT NOT NULL,
    context              TEXT NOT NULL DEFAULT '{}',  -- last known user/chat, for timers
    version              BIGINT NOT NULL DEFAULT 0,
    last_interaction_at  BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (bot_id, platform, chat_id)
);
CREATE INDEX dialogs_bot ON dialogs(bot_id, id);

-- What the user sent and what the bot answered, in order.
CREATE TABLE dialog_history (
    id          UUID PRIMARY KEY,
    dialog_id   UUID NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    direction   TEXT NOT NULL CHECK (direction IN ('user', 'bot')),
    message     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX dialog_history_dialog ON dialog_history(dialog_id, id);

-- Every platform update hookline acknowledged, with the answer it gave (so a repeated
-- update_id is answered the same and never processed twice). Timer ticks are rows too
-- (kind 'tick', no update_id), so they are ordered with the chat's updates.
CREATE TABLE inbox (
    id            UUID PRIMARY KEY,
    bot_id        UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    platform      TEXT NOT NULL,
    update_id     BIGINT,
    kind          TEXT NOT NULL,               -- 'update' | 'tick'
    chat_id       TEXT NOT NULL,               -- '' for updates without a chat
    body          BYTEA NOT NULL,
    status        TEXT NOT NULL,               -- 'pending' | 'done' | 'failed'
    result        TEXT,                        -- the webhook answer's data, JSON
    received_at   BIGINT NOT NULL,
    processed_at  BIGINT,
    UNIQUE (bot_id, platform, update_id)
);
CREATE INDEX inbox_pending ON inbox(status, bot_id, platform, chat_id, id);

-- Replies to send through the platform API, in order per chat. Written in the same
-- transaction as the dialog change that produced them; sent after commit.
CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    bot_id           UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    platform         TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    call             TEXT NOT NULL,            -- the platform request, JSON
    status           TEXT NOT NULL,            -- 'pending' | 'sent' | 'failed'
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    response         TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_chat ON outbox(bot_id, platform, chat_id, status, id);

-- Pending automatic transitions: one per dialog at most (the dialog state names the token).
CREATE TABLE timers (
    bot_id       UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    platform     TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    token        BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bot_id, platform, chat_id)
);
CREATE INDEX timers_due ON timers(due_at);

-- Events the bot flow produced (message.received, dialog.completed, order.created, …), for
-- outbound delivery. `published_at` is set once handed to the outbound publisher.
CREATE TABLE bot_events (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    bot_id        UUID NOT NULL,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    published_at  BIGINT
);
CREATE INDEX bot_events_unpublished ON bot_events(published_at, id);

-- Named leases: a periodic job that must run on one node at a time takes its lease first.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    until  BIGINT NOT NULL
);
