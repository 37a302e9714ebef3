-- Bot events are published in the chat write's own transaction (webhook_events, event ids
-- `bot_<id>`); the table that kept them for a relay to publish later is no longer written.
DROP TABLE IF EXISTS bot_events;
