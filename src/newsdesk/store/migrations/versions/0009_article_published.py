"""The linked article's own publication date, as its page gives it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsdesk.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("article_published_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("article_published_at")
