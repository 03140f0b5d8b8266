-- Tenant ids (and sources) are case-sensitive everywhere else (MongoDB _ids, Redis keys), but
-- `CHARACTER SET ascii` alone collates case-insensitively: tenant "ACME" found, replaced and
-- deleted tenant "acme"'s tree. Binary collations make every comparison exact.
ALTER TABLE test_directory MODIFY tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
ALTER TABLE test_case MODIFY tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
ALTER TABLE tree_source MODIFY tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
ALTER TABLE collect_task
  MODIFY tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  MODIFY source VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
