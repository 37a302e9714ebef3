-- Queues are indexed by what is still to do, not by everything ever done. Every reply, bot
-- event and delivery is looked up by these indexes only while it is pending, so a partial index
-- holds only those rows: a row leaves it when it is sent (or published, or delivered) instead of
-- moving to a "done" part of the index that nothing reads. The indexes stay a few pages that
-- every commit already has in hand, instead of growing with history and costing each update a
-- write to a random page of a large b-tree.
--
-- inbox_pending is dropped outright: inbox rows are written 'done' together with what their
-- update did (nothing is ever pending there), and no query read the index.
DROP INDEX IF EXISTS inbox_pending;

DROP INDEX IF EXISTS outbox_due;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';
DROP INDEX IF EXISTS outbox_chat;
CREATE INDEX outbox_chat ON outbox(bot_id, platform, chat_id, id) WHERE status = 'pending';
-- Deleting a bot deletes its replies (ON DELETE CASCADE), which outbox_chat no longer covers;
-- a bot's new rows land at the end of its range, one page that stays in the cache.
CREATE INDEX outbox_bot ON outbox(bot_id);

DROP INDEX IF EXISTS bot_events_unpublished;
CREATE INDEX bot_events_unpublished ON bot_events(id) WHERE published_at IS NULL;

DROP INDEX IF EXISTS webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
