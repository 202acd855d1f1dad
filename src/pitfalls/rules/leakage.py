"""Rules of the leakage family (to be written)."""
