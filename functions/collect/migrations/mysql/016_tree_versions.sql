-- Tree versions (issue 9). A node has one row per version range it is valid in:
-- `valid_from` is the tree version that wrote the row, `valid_to` the version that replaced or
-- deleted it (NULL: still current for writers). A reader of version V sees the rows with
-- valid_from <= V < valid_to. A run writing version N copies a row before it changes it (the
-- copy has valid_from = N, the original gets valid_to = N), so readers of the published version
-- never see its changes until `tree_source.published_version` moves to N, one UPDATE.
-- Rows that existed before this migration are valid from version 0: every version sees them.
-- Each statement is idempotent, so a crash in the middle of this file can run it again.
ALTER TABLE test_directory
  ADD COLUMN IF NOT EXISTS valid_from BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER version,
  ADD COLUMN IF NOT EXISTS valid_to BIGINT UNSIGNED NULL AFTER valid_from,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (tenant_id, source, id, valid_from),
  DROP INDEX IF EXISTS idx_dir_children,
  ADD INDEX idx_dir_children (tenant_id, source, parent_id, deleted, valid_to),
  DROP INDEX IF EXISTS idx_dir_seen,
  ADD INDEX idx_dir_seen (tenant_id, source, valid_to, deleted, seen_version),
  ADD INDEX IF NOT EXISTS idx_dir_from (tenant_id, source, valid_from);

-- `doc_version`: the version whose MongoDB document holds this row's content and metadata
-- (`case_detail` _id tenant␟source␟caseId␟doc_version; 0 = the document from before versions,
-- _id tenant␟source␟caseId). A copy that only moves or renames a case keeps it.
ALTER TABLE test_case
  ADD COLUMN IF NOT EXISTS valid_from BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER version,
  ADD COLUMN IF NOT EXISTS valid_to BIGINT UNSIGNED NULL AFTER valid_from,
  ADD COLUMN IF NOT EXISTS doc_version BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER valid_to,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (tenant_id, source, id, valid_from),
  DROP INDEX IF EXISTS idx_case_children,
  ADD INDEX idx_case_children (tenant_id, source, directory_id, deleted, valid_to),
  DROP INDEX IF EXISTS idx_case_seen,
  ADD INDEX idx_case_seen (tenant_id, source, valid_to, deleted, seen_version),
  ADD INDEX IF NOT EXISTS idx_case_from (tenant_id, source, valid_from);

-- What readers read: the last version a run published (0: none yet).
ALTER TABLE tree_source ADD COLUMN IF NOT EXISTS published_version BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER applied_version;
-- Everything stored so far was visible: it is all published, as the source's last version.
-- (Apply with no import or run in progress: a run begun before keeps a version already published.)
UPDATE tree_source SET published_version = last_version WHERE published_version < last_version;

-- One row per published version: who published it and what it changed. Versions older than the
-- retained ones (TREE_VERSIONS_KEEP) lose their row and the tree rows only they could see.
CREATE TABLE IF NOT EXISTS tree_version (
  tenant_id    VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  source       VARCHAR(128) NOT NULL,
  version      BIGINT UNSIGNED NOT NULL,
  task_id      CHAR(36) CHARACTER SET ascii NULL,
  mode         VARCHAR(16) CHARACTER SET ascii NULL,
  partial      TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1 = published by hand from a PARTIALLY_COMPLETED run',
  published_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  added        INT UNSIGNED NOT NULL DEFAULT 0,
  changed      INT UNSIGNED NOT NULL DEFAULT 0,
  moved        INT UNSIGNED NOT NULL DEFAULT 0,
  renamed      INT UNSIGNED NOT NULL DEFAULT 0,
  deleted      INT UNSIGNED NOT NULL DEFAULT 0,
  directories  INT UNSIGNED NOT NULL DEFAULT 0,
  cases        INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, source, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT IGNORE INTO tree_version (tenant_id, source, version, published_at, directories, cases)
SELECT s.tenant_id, s.source, s.published_version, s.update_time,
       (SELECT COUNT(*) FROM test_directory d WHERE d.tenant_id = s.tenant_id AND d.source = s.source AND d.deleted = 0),
       (SELECT COUNT(*) FROM test_case c WHERE c.tenant_id = s.tenant_id AND c.source = s.source AND c.deleted = 0)
  FROM tree_source s WHERE s.published_version > 0;

-- Versions whose unpublished rows were discarded (a new run began over a run that never
-- published): versions after_version+1 … version, whose MongoDB documents are still to be removed.
CREATE TABLE IF NOT EXISTS tree_discarded (
  tenant_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  source        VARCHAR(128) NOT NULL,
  version       BIGINT UNSIGNED NOT NULL,
  after_version BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (tenant_id, source, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The published tree, for anyone reading MySQL directly: the rows of each source's published
-- version, deleted nodes left out (`version` = the version that wrote the row).
CREATE OR REPLACE VIEW test_directory_current AS
SELECT d.tenant_id, d.source, d.id, d.parent_id, d.name, d.path, d.level, d.position, d.content_hash,
       d.valid_from AS version, d.create_time, d.update_time
  FROM test_directory d
  JOIN tree_source s ON s.tenant_id = d.tenant_id AND s.source = d.source
 WHERE d.deleted = 0 AND d.valid_from <= s.published_version
   AND (d.valid_to IS NULL OR d.valid_to > s.published_version);

CREATE OR REPLACE VIEW test_case_current AS
SELECT c.tenant_id, c.source, c.id, c.directory_id, c.name, c.path, c.level, c.position, c.status,
       c.priority, c.content_hash, c.doc_version, c.valid_from AS version, c.create_time, c.update_time
  FROM test_case c
  JOIN tree_source s ON s.tenant_id = c.tenant_id AND s.source = c.source
 WHERE c.deleted = 0 AND c.valid_from <= s.published_version
   AND (c.valid_to IS NULL OR c.valid_to > s.published_version);

-- Open imports in parts (unsealed) are few: the every-minute sweep finds the idle ones by this.
ALTER TABLE collect_task ADD KEY IF NOT EXISTS idx_task_open (sealed, kind, state);
