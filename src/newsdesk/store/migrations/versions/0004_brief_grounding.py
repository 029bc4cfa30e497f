"""Brief grounding: per-claim verdicts, the grounding score and what changed since the
previous version.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("briefs") as batch:
        batch.add_column(sa.Column("verdicts", sa.JSON(none_as_null=True)))
        batch.add_column(sa.Column("grounding_score", sa.Float))
        batch.add_column(sa.Column("changes", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("briefs") as batch:
        batch.drop_column("changes")
        batch.drop_column("grounding_score")
        batch.drop_column("verdicts")
