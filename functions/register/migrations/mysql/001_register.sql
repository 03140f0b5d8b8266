-- platform-register: the collector catalog (each version a collector service registered, with its
-- settings JSON Schema) and jobs (each change a new version; a task records the one it ran with).
CREATE TABLE IF NOT EXISTS register_collector_version (
  type             VARCHAR(64) CHARACTER SET ascii NOT NULL,
  version          VARCHAR(32) CHARACTER SET ascii NOT NULL,
  route            VARCHAR(64) CHARACTER SET ascii NOT NULL,
  settings_schema  JSON NOT NULL,
  secrets          JSON NOT NULL,
  -- 'stable': what runs get unless a release routes them elsewhere; 'available': registered only.
  status           VARCHAR(16) CHARACTER SET ascii NOT NULL,
  registered_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (type, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS register_job (
  id            CHAR(36) CHARACTER SET ascii NOT NULL,
  tenant_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version       INT UNSIGNED NOT NULL,
  name          VARCHAR(128) NOT NULL,
  collector     VARCHAR(64) CHARACTER SET ascii NOT NULL,
  source        VARCHAR(128) NOT NULL,
  settings      JSON NOT NULL COMMENT 'secrets included: never returned',
  strategy      JSON NULL,
  default_mode  VARCHAR(16) CHARACTER SET ascii NOT NULL,
  depends_on    JSON NOT NULL,
  enabled       TINYINT(1) NOT NULL DEFAULT 1,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_job_tenant (tenant_id, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every version of a job as it was saved (history kept when a job is changed or disabled).
CREATE TABLE IF NOT EXISTS register_job_version (
  job_id      CHAR(36) CHARACTER SET ascii NOT NULL,
  version     INT UNSIGNED NOT NULL,
  body        JSON NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (job_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
