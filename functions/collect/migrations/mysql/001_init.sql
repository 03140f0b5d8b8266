-- Tree tables (seed: test_directory, test_case) with tenant, source, version, content hash and
-- soft delete. Ids are the source's own ids, unique per (tenant, source). `path` is the
-- materialised id path ('/root/dir/…/id'), ascii so a prefix index covers subtree queries.
CREATE TABLE IF NOT EXISTS test_directory (
  tenant_id    VARCHAR(64)  CHARACTER SET ascii NOT NULL,
  source       VARCHAR(128) NOT NULL,
  id           VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  parent_id    VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  name         VARCHAR(255) NOT NULL,
  path         VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  level        SMALLINT UNSIGNED NOT NULL,
  position     INT UNSIGNED NOT NULL,
  content_hash CHAR(32) CHARACTER SET ascii NOT NULL,
  version      BIGINT UNSIGNED NOT NULL COMMENT 'tree version that last changed the row',
  seen_version BIGINT UNSIGNED NOT NULL COMMENT 'last tree version that contained the node',
  deleted      TINYINT(1) NOT NULL DEFAULT 0,
  create_time  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  update_time  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, source, id),
  KEY idx_dir_children (tenant_id, source, parent_id, deleted, position),
  KEY idx_dir_seen (tenant_id, source, deleted, seen_version),
  KEY idx_dir_path (tenant_id, source, path(700))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS test_case (
  tenant_id    VARCHAR(64)  CHARACTER SET ascii NOT NULL,
  source       VARCHAR(128) NOT NULL,
  id           VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  directory_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  name         VARCHAR(255) NOT NULL,
  path         VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  level        SMALLINT UNSIGNED NOT NULL,
  position     INT UNSIGNED NOT NULL,
  status       VARCHAR(32) NOT NULL DEFAULT 'ACTIVE',
  priority     VARCHAR(32) NULL,
  content_hash CHAR(32) CHARACTER SET ascii NOT NULL,
  version      BIGINT UNSIGNED NOT NULL,
  seen_version BIGINT UNSIGNED NOT NULL,
  deleted      TINYINT(1) NOT NULL DEFAULT 0,
  create_time  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  update_time  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, source, id),
  KEY idx_case_children (tenant_id, source, directory_id, deleted, position),
  KEY idx_case_seen (tenant_id, source, deleted, seen_version),
  KEY idx_case_path (tenant_id, source, path(700))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (tenant, source): hands out tree versions and remembers the last applied one.
CREATE TABLE IF NOT EXISTS tree_source (
  tenant_id       VARCHAR(64)  CHARACTER SET ascii NOT NULL,
  source          VARCHAR(128) NOT NULL,
  last_version    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  applied_version BIGINT UNSIGNED NOT NULL DEFAULT 0,
  update_time     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, source)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS collect_task (
  id             CHAR(36) CHARACTER SET ascii NOT NULL,
  tenant_id      VARCHAR(64) CHARACTER SET ascii NOT NULL,
  kind           VARCHAR(64) CHARACTER SET ascii NOT NULL,
  source         VARCHAR(128) NOT NULL,
  mode           VARCHAR(16) CHARACTER SET ascii NOT NULL,
  state          VARCHAR(24) CHARACTER SET ascii NOT NULL,
  tree_version   BIGINT UNSIGNED NULL,
  total_shards   INT UNSIGNED NOT NULL DEFAULT 0,
  done_shards    INT UNSIGNED NOT NULL DEFAULT 0,
  failed_shards  INT UNSIGNED NOT NULL DEFAULT 0,
  total_nodes    INT UNSIGNED NOT NULL DEFAULT 0,
  done_nodes     INT UNSIGNED NOT NULL DEFAULT 0,
  failed_nodes   INT UNSIGNED NOT NULL DEFAULT 0,
  changed_nodes  INT UNSIGNED NOT NULL DEFAULT 0,
  deleted_nodes  INT UNSIGNED NOT NULL DEFAULT 0,
  params         JSON NULL,
  last_error     TEXT NULL,
  created_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  started_at     DATETIME(3) NULL,
  finished_at    DATETIME(3) NULL,
  PRIMARY KEY (id),
  KEY idx_task_tenant_state (tenant_id, state, created_at),
  KEY idx_task_source (tenant_id, source, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS collect_shard (
  task_id       CHAR(36) CHARACTER SET ascii NOT NULL,
  shard_no      INT UNSIGNED NOT NULL,
  kind          VARCHAR(24) CHARACTER SET ascii NOT NULL,
  state         VARCHAR(24) CHARACTER SET ascii NOT NULL,
  attempts      INT UNSIGNED NOT NULL DEFAULT 0,
  epoch         INT UNSIGNED NOT NULL DEFAULT 0,
  cursor_json   JSON NULL,
  node_count    INT UNSIGNED NOT NULL DEFAULT 0,
  done_nodes    INT UNSIGNED NOT NULL DEFAULT 0,
  failed_nodes  INT UNSIGNED NOT NULL DEFAULT 0,
  changed_nodes INT UNSIGNED NOT NULL DEFAULT 0,
  last_error    TEXT NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (task_id, shard_no),
  KEY idx_shard_state (task_id, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
