"""Stories: items grouped by event, redirects of merged stories, item embeddings.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsdesk.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_updated_at", UTCDateTime, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("importance", sa.Float, nullable=False, server_default="0"),
        sa.Column("tags", sa.JSON),
        sa.Column("related", sa.JSON),
        sa.Column("centroid", sa.LargeBinary),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_stories_last_updated_at", "stories", ["last_updated_at"])
    op.create_table(
        "story_items",
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "story_id",
            sa.String(32),
            sa.ForeignKey("stories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_story_items_story_id", "story_items", ["story_id"])
    op.create_table(
        "story_redirects",
        sa.Column("old_id", sa.String(32), primary_key=True),
        sa.Column("new_id", sa.String(32), nullable=False),
        sa.Column("merged_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "item_embeddings",
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("item_embeddings")
    op.drop_table("story_redirects")
    op.drop_table("story_items")
    op.drop_table("stories")
