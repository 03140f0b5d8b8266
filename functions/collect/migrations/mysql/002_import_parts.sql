-- Imports too large for one request arrive in parts (POST /api/testcase/imports/{id}/parts).
-- `sealed` = no more parts will come: only a sealed task may finish. Single-request imports are
-- sealed from the start.
ALTER TABLE collect_task ADD COLUMN sealed TINYINT(1) NOT NULL DEFAULT 1 AFTER state;

-- The ids (and, for directories, paths) an import in parts has received so far: the next part
-- is validated against them (duplicate ids, parents) before its shards are queued. Removed when
-- the task finishes.
CREATE TABLE IF NOT EXISTS import_node (
  task_id   CHAR(36) CHARACTER SET ascii NOT NULL,
  id        VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  parent_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  type      CHAR(1) CHARACTER SET ascii NOT NULL COMMENT 'D = directory, C = case',
  path      VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  level     SMALLINT UNSIGNED NOT NULL,
  position  INT UNSIGNED NOT NULL,
  PRIMARY KEY (task_id, id),
  KEY idx_import_node_parent (task_id, parent_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
