"""Integrity of the recorded history: the hash chain, signed checkpoints, verification."""
