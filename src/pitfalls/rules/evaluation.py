"""Rules of the evaluation family (to be written)."""
