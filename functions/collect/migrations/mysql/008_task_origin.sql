-- Where a run came from, as the register says when it starts one: the job and its version, the
-- trigger (manual, a schedule's fire, an upstream task) and the chain of runs it belongs to; and
-- the collector version that ran it.
ALTER TABLE collect_task
  ADD COLUMN IF NOT EXISTS job_id CHAR(36) CHARACTER SET ascii NULL,
  ADD COLUMN IF NOT EXISTS job_version INT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS chain_id CHAR(36) CHARACTER SET ascii NULL,
  ADD COLUMN IF NOT EXISTS trigger_json JSON NULL,
  ADD COLUMN IF NOT EXISTS collector_version VARCHAR(32) CHARACTER SET ascii NULL;

ALTER TABLE collect_task ADD KEY IF NOT EXISTS idx_task_job (tenant_id, job_id, created_at, id);
ALTER TABLE collect_task ADD KEY IF NOT EXISTS idx_task_chain (tenant_id, chain_id, created_at, id);
