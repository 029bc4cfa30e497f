"""Stories get a stored rank key, so that lists of the best stories are one indexed query.

rank_key = log2(max(importance, 1e-9)) + (hours since the epoch of last_updated_at) / 24:
ordering by it is ordering by importance * 0.5 ** (hours since last update / 24) at any
moment (newsdesk.stories.rank_key; the formula is copied here as it was at this revision).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _key(importance: float, last_updated_at: datetime | str) -> float:
    if isinstance(last_updated_at, str):
        last_updated_at = datetime.fromisoformat(last_updated_at)
    if last_updated_at.tzinfo is None:
        last_updated_at = last_updated_at.replace(tzinfo=UTC)
    hours = last_updated_at.timestamp() / 3600
    return math.log2(max(float(importance or 0.0), 1e-9)) + hours / 24.0


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("rank_key", sa.Float, nullable=False, server_default="0"))
    op.create_index("ix_stories_rank_key", "stories", ["rank_key"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, importance, last_updated_at FROM stories")).all()
    if rows:
        conn.execute(
            sa.text("UPDATE stories SET rank_key = :key WHERE id = :id"),
            [{"id": r.id, "key": _key(r.importance, r.last_updated_at)} for r in rows],
        )


def downgrade() -> None:
    op.drop_index("ix_stories_rank_key", "stories")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("rank_key")
