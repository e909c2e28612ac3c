"""SR stage: super-resolve one shard of a dataset with one method, then gather the shards."""
