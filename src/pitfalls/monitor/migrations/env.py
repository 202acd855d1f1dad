"""Alembic environment: runs on the connection `pitfalls.monitor.storage.migrate` passes in."""

from __future__ import annotations

from alembic import context

from pitfalls.monitor.storage import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `storage.migrate` runs these migrations
    raise RuntimeError("run the monitor's migrations with `pitfalls monitor migrate`")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
