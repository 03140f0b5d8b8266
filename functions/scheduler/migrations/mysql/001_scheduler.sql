-- platform-scheduler: cron schedules of jobs, and every fire (or skipped fire) of each.
CREATE TABLE IF NOT EXISTS scheduler_schedule (
  id            CHAR(36) CHARACTER SET ascii NOT NULL,
  tenant_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  job_id        CHAR(36) CHARACTER SET ascii NOT NULL,
  cron          VARCHAR(128) CHARACTER SET ascii NOT NULL,
  timezone      VARCHAR(64) CHARACTER SET ascii NOT NULL,
  mode          VARCHAR(16) CHARACTER SET ascii NOT NULL,
  misfire       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  paused        TINYINT(1) NOT NULL DEFAULT 0,
  deleted       TINYINT(1) NOT NULL DEFAULT 0,
  -- When it is next due (NULL: never again). Ticks claim due rows with SKIP LOCKED.
  next_fire_at  DATETIME(3) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_schedule_due (paused, deleted, next_fire_at),
  KEY idx_schedule_job (tenant_id, job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per scheduled instant: the primary key makes a second fire of one instant impossible.
CREATE TABLE IF NOT EXISTS scheduler_fire (
  schedule_id  CHAR(36) CHARACTER SET ascii NOT NULL,
  fire_time    DATETIME(3) NOT NULL,
  -- FIRING (claimed, trigger under way), FIRED (task started), SKIPPED (with the reason).
  state        VARCHAR(16) CHARACTER SET ascii NOT NULL,
  missed       INT UNSIGNED NOT NULL DEFAULT 0,
  task_id      CHAR(36) CHARACTER SET ascii NULL,
  reason       TEXT NULL,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (schedule_id, fire_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
