-- When an import in parts was committed: a commit sent again (its answer lost) answers the same
-- success instead of 409, and a task sealed by a stop is told apart from a committed one.
ALTER TABLE collect_task ADD COLUMN IF NOT EXISTS committed_at DATETIME(3) NULL;
