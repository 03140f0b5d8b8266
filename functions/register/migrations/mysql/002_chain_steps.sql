-- What a job's run ending did to the jobs that depend on it: one row per (upstream task,
-- dependant job), so an announcement heard twice starts nothing twice.
CREATE TABLE IF NOT EXISTS register_chain_step (
  upstream_task_id  CHAR(36) CHARACTER SET ascii NOT NULL,
  job_id            CHAR(36) CHARACTER SET ascii NOT NULL,
  tenant_id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  chain_id          CHAR(36) CHARACTER SET ascii NOT NULL,
  -- PENDING (being started), TRIGGERED (task_id), NOT_TRIGGERED (reason).
  outcome           VARCHAR(16) CHARACTER SET ascii NOT NULL,
  task_id           CHAR(36) CHARACTER SET ascii NULL,
  reason            TEXT NULL,
  created_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (upstream_task_id, job_id),
  KEY idx_chain_job (tenant_id, job_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
