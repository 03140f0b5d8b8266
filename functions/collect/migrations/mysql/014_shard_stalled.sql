-- The stalled-shard sweeper (requeueStalledShards) looks for RUNNING shards by their last change.
ALTER TABLE collect_shard ADD KEY IF NOT EXISTS idx_shard_state_updated (state, updated_at);
