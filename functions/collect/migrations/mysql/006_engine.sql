-- The collection engine (@collect/core): tasks of any collector, controls asked of a task or
-- shard (honoured by workers at a page boundary), dispatch generations (older messages are
-- stale), shard specs and cursors, push-shard payloads kept while a shard is parked or failed.
ALTER TABLE collect_task
  ADD COLUMN IF NOT EXISTS collector VARCHAR(64) CHARACTER SET ascii NULL AFTER kind,
  ADD COLUMN IF NOT EXISTS requested VARCHAR(8) CHARACTER SET ascii NULL AFTER state,
  ADD COLUMN IF NOT EXISTS settings JSON NULL COMMENT 'collector settings, secrets included: never returned',
  ADD COLUMN IF NOT EXISTS range_json JSON NULL,
  ADD COLUMN IF NOT EXISTS strategy JSON NULL,
  ADD COLUMN IF NOT EXISTS concurrency INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS since DATETIME(3) NULL COMMENT 'INCREMENTAL: changes since',
  ADD COLUMN IF NOT EXISTS started_reading_at DATETIME(3) NULL COMMENT 'first source read: the next watermark';

ALTER TABLE collect_shard
  ADD COLUMN IF NOT EXISTS requested VARCHAR(8) CHARACTER SET ascii NULL AFTER state,
  ADD COLUMN IF NOT EXISTS gen INT UNSIGNED NOT NULL DEFAULT 0 AFTER epoch,
  ADD COLUMN IF NOT EXISTS spec JSON NULL,
  ADD COLUMN IF NOT EXISTS pages INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS payload LONGBLOB NULL;

-- Newest first per tenant (GET /api/tasks).
ALTER TABLE collect_task ADD KEY IF NOT EXISTS idx_task_tenant_created (tenant_id, created_at, id);

-- Where the next INCREMENTAL run of a source by a collector starts: the start of its last
-- COMPLETED FULL or INCREMENTAL run.
CREATE TABLE IF NOT EXISTS collect_watermark (
  tenant_id  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  source     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  collector  VARCHAR(64)  CHARACTER SET ascii NOT NULL,
  watermark  DATETIME(3) NOT NULL,
  task_id    CHAR(36) CHARACTER SET ascii NOT NULL,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, source, collector)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
