-- Flow limits set through PUT /api/flow/{key}: MySQL is the truth; workers read them from Redis,
-- where each change is published with a new version (they learn it within a second).
CREATE TABLE IF NOT EXISTS flow_limit (
  flow_key         VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  concurrency      INT UNSIGNED NULL,
  rate_per_second  DOUBLE NULL,
  burst            INT UNSIGNED NULL,
  version          BIGINT UNSIGNED NOT NULL,
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (flow_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
