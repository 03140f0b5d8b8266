-- When RabbitMQ confirmed a shard's message; NULL = recorded, not confirmed yet. The API records
-- shards, commits, publishes, and only then sets this. A shard still unconfirmed
-- IMPORT_ENQUEUE_TIMEOUT_SECONDS after it was recorded was lost with the API process that
-- recorded it (it died between its commit and the broker's confirm): no message will ever come
-- for it, so it is failed and its source released, instead of both waiting IMPORT_STALE_SECONDS.
ALTER TABLE collect_shard ADD COLUMN IF NOT EXISTS queued_at DATETIME(3) NULL AFTER epoch;
UPDATE collect_shard SET queued_at = created_at WHERE queued_at IS NULL;
