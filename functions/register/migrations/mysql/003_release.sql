-- Gray release of collector versions. A job's release routes a share of its runs (or exactly some
-- tenants' runs) to a candidate version; the rest run the type's stable version. A release is not
-- part of the job's versions: changing it does not make a new job version.
CREATE TABLE IF NOT EXISTS register_job_release (
  job_id      CHAR(36) CHARACTER SET ascii NOT NULL,
  tenant_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version     VARCHAR(32) CHARACTER SET ascii NOT NULL,
  -- 0–100: the share of runs routed to the candidate (by a hash of the run's trigger).
  percent     TINYINT UNSIGNED NOT NULL,
  tenants     JSON NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- When a version became the stable one; registered_at no longer moves when its status does.
ALTER TABLE register_collector_version
  MODIFY registered_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  ADD COLUMN IF NOT EXISTS promoted_at DATETIME(3) NULL;
