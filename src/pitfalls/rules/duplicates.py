"""Rules of the duplicates family (to be written)."""
