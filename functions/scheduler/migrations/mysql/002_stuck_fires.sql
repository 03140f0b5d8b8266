-- Fires left FIRING by a tick that died between claiming and triggering them: the next ticks
-- find them by state and age, and trigger them again under the same trigger key (collect starts
-- one task per key, so a fire whose task did start gets that task, not a second one).
CREATE INDEX IF NOT EXISTS idx_fire_state ON scheduler_fire (state, updated_at);
