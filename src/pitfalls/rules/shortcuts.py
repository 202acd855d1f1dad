"""Rules of the shortcuts family (to be written)."""
