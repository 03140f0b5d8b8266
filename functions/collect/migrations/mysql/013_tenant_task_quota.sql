-- A tenant's quota of tasks at once (flow key tenant:{id}, field `tasks`): a start beyond it is
-- answered 429 with Retry-After, and nothing is written.
ALTER TABLE flow_limit ADD COLUMN IF NOT EXISTS tasks INT UNSIGNED NULL AFTER burst;
