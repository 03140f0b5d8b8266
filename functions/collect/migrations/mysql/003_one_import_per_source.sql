-- One import at a time per (tenant, source): the task that holds the source. A second import
-- answers 409 naming it. Cleared when that task reaches a final state.
ALTER TABLE tree_source ADD COLUMN active_task_id CHAR(36) CHARACTER SET ascii NULL AFTER applied_version;
