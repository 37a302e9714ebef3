-- Users' files are downloaded off the request path. A row that a user sent starts as
-- status = 'pending' (its Telegram file_id is in media_platform_ids); the download worker claims
-- it by moving next_attempt_at forward (a lease: a dead node's claim expires), then sets the final
-- status (stored | too_large | failed) and records the media.received event in one transaction.
ALTER TABLE media ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE media ADD COLUMN next_attempt_at INTEGER;
-- The media.received event payload prepared when the update was processed (chat, user, update);
-- the worker adds the media's final fields to it. NULL once announced.
ALTER TABLE media ADD COLUMN announce TEXT;
CREATE INDEX media_pending ON media(next_attempt_at) WHERE status = 'pending';
