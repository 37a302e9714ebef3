-- Retention finds old events by id: ids are UUIDv7, whose leading 48 bits are the creation
-- time in milliseconds, so "created before T" is "id below the smallest id of T". The index on
-- created_at only repeated what the primary key already orders, and cost every published event
-- one more index insert.
DROP INDEX IF EXISTS webhook_events_created;
