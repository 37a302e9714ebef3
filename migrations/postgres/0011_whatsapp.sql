-- WhatsApp, the second platform.
--
-- A WhatsApp credential has two secrets besides its access token: the app secret that signs
-- Meta's webhook bodies (given by the user) and the verify token of Meta's handshake (made by
-- hookline, kept in `secret_token_sealed` as Telegram's secret token is). The webhook's health
-- as hookline saw it: when Meta's handshake and its last signed body arrived, and the last
-- error registering or receiving.
ALTER TABLE bot_credentials ADD COLUMN app_secret_sealed BYTEA;
ALTER TABLE bot_credentials ADD COLUMN handshake_at BIGINT;
ALTER TABLE bot_credentials ADD COLUMN last_signed_post_at BIGINT;
ALTER TABLE bot_credentials ADD COLUMN webhook_error TEXT;

-- The platform's id of a sent reply (WhatsApp's `wamid…`), so its delivery receipts find it,
-- and the latest receipt: `sent`, `delivered`, `read` or `failed` (then `receipt_error` holds
-- the platform's error). Partial: replies without receipts cost no index entry.
ALTER TABLE outbox ADD COLUMN platform_message_id TEXT;
ALTER TABLE outbox ADD COLUMN receipt TEXT;
ALTER TABLE outbox ADD COLUMN receipt_at BIGINT;
ALTER TABLE outbox ADD COLUMN receipt_error TEXT;
CREATE INDEX outbox_platform_message ON outbox(bot_id, platform, platform_message_id)
    WHERE platform_message_id IS NOT NULL;
