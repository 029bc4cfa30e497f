"""Sources and items, with full-text search over items.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsdesk.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("emoji", sa.String(16), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("extract", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_fetch_at", UTCDateTime),
        sa.Column("next_fetch_at", UTCDateTime),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("external_id", sa.Text, nullable=False, unique=True),
        sa.Column("url", sa.Text),
        sa.Column("canonical_url", sa.Text),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("author", sa.Text),
        sa.Column("published_at", UTCDateTime),
        sa.Column("collected_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("html", sa.Text, nullable=False, server_default=""),
        sa.Column("score", sa.Integer),
        sa.Column("comment_count", sa.Integer),
        sa.Column("language", sa.String(16)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("comments", sa.JSON),
        sa.Column("needs_extraction", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("article_text", sa.Text),
        sa.Column("article_html", sa.Text),
        sa.Column("extracted_at", UTCDateTime),
        sa.Column("extract_error", sa.Text),
    )
    op.create_index("ix_items_canonical_url", "items", ["canonical_url"])
    op.create_index("ix_items_published_at", "items", ["published_at"])
    op.create_index("ix_items_source_id", "items", ["source_id"])

    if op.get_bind().dialect.name == "sqlite":
        # External-content FTS5 index kept in step with items by triggers.
        op.execute(
            "CREATE VIRTUAL TABLE items_fts USING fts5("
            "title, text, content='items', content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
            "INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN "
            "INSERT INTO items_fts(items_fts, rowid, title, text) "
            "VALUES ('delete', old.id, old.title, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER items_fts_au AFTER UPDATE OF title, text ON items BEGIN "
            "INSERT INTO items_fts(items_fts, rowid, title, text) "
            "VALUES ('delete', old.id, old.title, old.text); "
            "INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END"
        )
    else:
        op.execute(
            "ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(text, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_items_search ON items USING gin (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS items_fts")
    op.drop_table("items")
    op.drop_table("sources")
