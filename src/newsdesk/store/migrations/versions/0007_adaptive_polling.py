"""Adaptive polling: each source keeps its own polling interval (newsdesk.polling).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("poll_minutes", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("poll_minutes")
