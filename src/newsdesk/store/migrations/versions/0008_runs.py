"""Runs of `newsdesk run` (one row a cycle) and each brief's time to brief.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsdesk.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("sources", sa.Integer, nullable=False, server_default="0"),
        sa.Column("new_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("clustered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("briefs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("note", sa.Text),
    )
    with op.batch_alter_table("briefs") as batch:
        batch.add_column(sa.Column("time_to_brief", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("briefs") as batch:
        batch.drop_column("time_to_brief")
    op.drop_table("runs")
