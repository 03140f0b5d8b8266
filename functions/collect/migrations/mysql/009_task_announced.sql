-- When a job's run ended and was announced to the register (queue task-finished): announced
-- once it is confirmed; an announcement that failed is sent again on the next settle.
ALTER TABLE collect_task ADD COLUMN IF NOT EXISTS announced_at DATETIME(3) NULL;
