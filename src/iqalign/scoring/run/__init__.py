"""A scoring run: the config, its checks, the engine (plan, then execute), the loader
feed, the shard writer and manifest, failures, and the Ray backend."""
