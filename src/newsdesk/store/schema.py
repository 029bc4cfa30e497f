"""Table definitions (SQLAlchemy Core). Migrations under migrations/ create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"naive or non-datetime value {value!r}: use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
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
    # Migration 0007: this source's polling interval in minutes (newsdesk.polling).
    sa.Column("poll_minutes", sa.Float),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "source_id",
        sa.Integer,
        sa.ForeignKey("sources.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("external_id", sa.Text, nullable=False, unique=True),
    sa.Column("url", sa.Text),
    sa.Column("canonical_url", sa.Text, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("published_at", UTCDateTime, index=True),
    sa.Column("collected_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("html", sa.Text, nullable=False, server_default=""),
    sa.Column("score", sa.Integer),
    sa.Column("comment_count", sa.Integer),
    sa.Column("language", sa.String(16)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("comments", sa.JSON(none_as_null=True)),
    # The linked article, extracted once; kept apart so a re-ingest never overwrites it.
    sa.Column("needs_extraction", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("article_text", sa.Text),
    sa.Column("article_html", sa.Text),
    # The article's own date as its page gives it (migration 0009): its text was written
    # then, which may be long before the post that links it.
    sa.Column("article_published_at", UTCDateTime),
    sa.Column("extracted_at", UTCDateTime),
    sa.Column("extract_error", sa.Text),
)

# -- stories (migrations 0002, 0005) ----------------------------------------------------

stories = sa.Table(
    "stories",
    metadata,
    # Stable: derived from the first item's external id, never reused.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_updated_at", UTCDateTime, nullable=False, index=True),
    sa.Column("item_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("source_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("importance", sa.Float, nullable=False, server_default="0"),
    # Migration 0005: ordering by it is ordering by rank (newsdesk.stories.rank_key).
    sa.Column("rank_key", sa.Float, nullable=False, server_default="0", index=True),
    sa.Column("tags", sa.JSON(none_as_null=True)),
    sa.Column("related", sa.JSON(none_as_null=True)),
    sa.Column("centroid", sa.LargeBinary),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

story_items = sa.Table(
    "story_items",
    metadata,
    sa.Column(
        "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "story_id",
        sa.String(32),
        sa.ForeignKey("stories.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
)

# When two stories merge, the old id keeps answering: it redirects to the story it joined.
story_redirects = sa.Table(
    "story_redirects",
    metadata,
    sa.Column("old_id", sa.String(32), primary_key=True),
    sa.Column("new_id", sa.String(32), nullable=False),
    sa.Column("merged_at", UTCDateTime, nullable=False),
)

item_embeddings = sa.Table(
    "item_embeddings",
    metadata,
    sa.Column(
        "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

# -- briefs (migrations 0003, 0004) -----------------------------------------------------

# One row per version of a story's brief. ``key`` hashes what the brief was written from
# (source pack, model, prompt version): the same key is never written twice.
briefs = sa.Table(
    "briefs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "story_id",
        sa.String(32),
        sa.ForeignKey("stories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("brief", sa.JSON, nullable=False),
    sa.Column("passages", sa.JSON, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("cached_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Migration 0004: the checker's verdict on each claim (reading order, as
    # ``Brief.claims``), the share of supported claims, and what changed since the previous
    # version (new sources, new claims).
    sa.Column("verdicts", sa.JSON(none_as_null=True)),
    sa.Column("grounding_score", sa.Float),
    sa.Column("changes", sa.JSON(none_as_null=True)),
    # Migration 0008: seconds from the story's first item's publication to this version
    # going online (newsdesk run shows the median and p95).
    sa.Column("time_to_brief", sa.Float),
    sa.UniqueConstraint("story_id", "version", name="uq_briefs_story_version"),
)


# -- recaps (migration 0006) -----------------------------------------------------------

# One row per version of the recap of a period ("2025-W31" or "2025-07-30"), for everyone
# (persona "") or one persona. ``key`` hashes what it was written from (its stories and
# their brief versions, the model, the prompt): the same key is never written twice.
recaps = sa.Table(
    "recaps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("persona", sa.String(64), nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("content", sa.JSON, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("period", "persona", "version", name="uq_recaps_version"),
)


# -- runs (migration 0008) -------------------------------------------------------------

# One row per cycle of `newsdesk run`: what it fetched, clustered and wrote. A cycle that
# was stopped (SIGTERM) or killed keeps finished_at empty or says so in ``note``.
runs = sa.Table(
    "runs",
    metadata,
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
