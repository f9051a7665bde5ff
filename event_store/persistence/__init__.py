"""Where the events live: the SQL adapter, the hash-chaining recorders and schema, bulk helpers, storage failures."""
