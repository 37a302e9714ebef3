-- The webhook answer an update got the first time (update_id, processed_at, response_sent, …),
-- JSON. A redelivered or concurrent copy of the update is answered with it, so every copy of
-- one update gets the same answer. Written once: the first answer stored wins.
ALTER TABLE inbox ADD COLUMN answer TEXT;

-- The keyboards a chat was sent, newest first: a button pressed on any other than the newest
-- is an old keyboard's, answered but not acted on. Partial, so only replies that carry a
-- keyboard (a small share of all replies) cost an index entry. The expression must match the
-- one `Store::newest_keyboard` queries with.
CREATE INDEX outbox_keyboards ON outbox(bot_id, platform, chat_id, id)
    WHERE call LIKE '{"call":"send_%' AND call LIKE '%"inline_keyboard":[[%';
