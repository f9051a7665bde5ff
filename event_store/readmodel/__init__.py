"""The read model: the projection kept in the store, its queries (the only SQL on it), its rebuild and its check."""
