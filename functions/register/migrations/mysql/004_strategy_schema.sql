-- A collector version's JSON Schema of a run's strategy (its service sends it with the version),
-- so a job's strategy is checked when the job is saved, not when its first run is refused.
ALTER TABLE register_collector_version ADD COLUMN IF NOT EXISTS strategy_schema JSON NULL;
