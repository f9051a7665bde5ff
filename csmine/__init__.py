"""csmine."""
