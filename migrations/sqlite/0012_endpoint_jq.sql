-- An endpoint's jq expressions (checked when saved; see src/jq): `jq_filter` decides whether an
-- event is sent at all (it must yield `true`), `jq_transform` shapes the body that is sent and
-- may add headers. NULL = none: the event is sent, and sent as published.
ALTER TABLE webhook_endpoints ADD COLUMN jq_filter TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN jq_transform TEXT;
