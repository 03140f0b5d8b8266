-- One task per trigger: a start request that carries a key (the register's trigger key — a
-- schedule's fire, an upstream run's dependant — or a caller's Idempotency-Key) starts at most
-- one task; the same key again answers that task. NULL keys (plain starts) never clash.
ALTER TABLE collect_task ADD COLUMN IF NOT EXISTS trigger_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_task_trigger ON collect_task (tenant_id, trigger_key);
