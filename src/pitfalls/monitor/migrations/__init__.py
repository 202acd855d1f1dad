"""Alembic migrations of the monitor's schema (shipped with the package, run at startup)."""
