"""Alerts with a life: open -> acknowledged -> resolved, one live alert per (rule, source).

The v1 `alerts` table was never written (the analysis did not run in the service yet); it is
replaced by one the `AlertStore` of `pitfalls.alerts` maps onto: a string id, the state, the
times of the alert's life, and its texts, metrics and history as JSON.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_created_at", table_name="alerts")
    op.drop_table("alerts")
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime()),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alerts_rule_source_opened", "alerts", ["rule", "source", "opened_at"])
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_opened_at", table_name="alerts")
    op.drop_index("ix_alerts_rule_source_opened", table_name="alerts")
    op.drop_table("alerts")
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("window_start", sa.DateTime()),
        sa.Column("window_end", sa.DateTime()),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("details", sa.JSON()),
        sa.Column("resolved_at", sa.DateTime()),
    )
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])
