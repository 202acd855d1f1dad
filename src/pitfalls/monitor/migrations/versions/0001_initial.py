"""Monitor schema v1: records, labels, hourly aggregates, alerts, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("captured_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("pred", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("probs", sa.JSON()),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("feature_version", sa.Integer()),
        sa.Column("thumbnail", sa.LargeBinary()),
    )
    op.create_index("ix_records_captured_at", "records", ["captured_at"])
    op.create_index("ix_records_source_captured_at", "records", ["source", "captured_at"])
    op.create_table(
        "labels",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("labelled_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "hourly",
        sa.Column("hour", sa.DateTime(), primary_key=True),
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("model_version", sa.String(200), primary_key=True),
        sa.Column("pred", sa.String(200), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_index("ix_hourly_source_hour", "hourly", ["source", "hour"])
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
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime()),
    )


def downgrade() -> None:
    for table in ("tokens", "alerts", "hourly", "labels", "records"):
        op.drop_table(table)
