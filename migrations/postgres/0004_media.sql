-- The media library: metadata here, bytes in the object store (local data dir or S3) under
-- `storage_key` = `{bot_id}/{sha256}`. Identical bytes of one bot share one blob, so several rows
-- may name the same key; a blob is deleted when the last row naming it goes.
CREATE TABLE media (
    id              UUID PRIMARY KEY,
    bot_id          UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,             -- image | video | audio | document | voice | video_note | animation | sticker
    file_name       TEXT NOT NULL,             -- sanitised: no path, no control characters
    content_type    TEXT NOT NULL,             -- sniffed from the bytes first, then declared, then by extension
    size            BIGINT NOT NULL,
    sha256          TEXT,                      -- hex; NULL when the bytes were not stored
    storage_key     TEXT,                      -- NULL when the bytes were not stored
    source          TEXT NOT NULL,             -- upload (the API) | user (sent to the bot by a user)
    chat_id         TEXT,                      -- user uploads: the platform's chat and user ids
    user_id         TEXT,
    file_unique_id  TEXT,                      -- user uploads: the platform's stable file id, for dedup
    status          TEXT NOT NULL,             -- stored | too_large | failed
    status_reason   TEXT,
    caption         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (bot_id, file_unique_id)            -- NULLs (API uploads) never collide
);
CREATE INDEX media_bot ON media(bot_id, id);
CREATE INDEX media_bot_sha ON media(bot_id, sha256);

-- Names a scenario uses for a media item (`"file_id": "welcome_image"`), scoped to the bot: two
-- bots may both have `welcome_image`. One alias per media and platform (GET INN's
-- `platform_file_ids[platform]`).
CREATE TABLE media_aliases (
    bot_id      UUID NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    alias       TEXT NOT NULL,
    media_id    UUID NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    platform    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (bot_id, alias),
    UNIQUE (media_id, platform)
);

-- The platform's own id for bytes it has already received (Telegram's `file_id`), so a media
-- item is uploaded once and then sent by id. Never consulted when resolving aliases.
CREATE TABLE media_platform_ids (
    media_id    UUID NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    platform    TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (media_id, platform)
);
