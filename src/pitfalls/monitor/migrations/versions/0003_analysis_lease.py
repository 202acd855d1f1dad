"""One analysis for every worker and replica: when each hour's aggregate last changed, and a
lease that names the process running the MON rules.

Several workers (or replicas on one PostgreSQL) each ran the rules on the windows they had
committed, so two of them could open the same alert twice. The process holding the `analysis`
lease now runs them for everyone, finding the changed windows from `hourly.updated_at`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hourly") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime()))
    op.create_index("ix_hourly_updated_at", "hourly", ["updated_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_hourly_updated_at", table_name="hourly")
    with op.batch_alter_table("hourly") as batch:
        batch.drop_column("updated_at")
