"""Recap rows and the period queries recaps read. Part of Store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsdesk.models import utcnow
from newsdesk.store.schema import items, recaps, sources, stories, story_items


class RecapsMixin:
    """Recap queries of Store; ``engine`` comes from Store."""

    engine: Engine

    def stories_between(self, start: datetime, end: datetime) -> list[Any]:
        """Stories first seen in [start, end), without their centroids."""
        columns = [c for c in stories.c if c.name != "centroid"]
        query = (
            sa.select(*columns)
            .where(stories.c.first_seen_at >= start, stories.c.first_seen_at < end)
            .order_by(stories.c.first_seen_at, stories.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def story_sources_between(self, start: datetime, end: datetime) -> list[Any]:
        """(story id, first seen, source name) for every source of each story first seen
        in [start, end)."""
        query = (
            sa.select(stories.c.id, stories.c.first_seen_at, sources.c.name)
            .join(story_items, story_items.c.story_id == stories.c.id)
            .join(items, items.c.id == story_items.c.item_id)
            .join(sources, sources.c.id == items.c.source_id)
            .where(stories.c.first_seen_at >= start, stories.c.first_seen_at < end)
            .distinct()
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def latest_recap(self, period: str, persona: str = "") -> Any:
        query = (
            sa.select(recaps)
            .where(recaps.c.period == period, recaps.c.persona == persona)
            .order_by(recaps.c.version.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first()

    def list_recaps(self, *, persona: str = "", limit: int = 50) -> list[Any]:
        """The newest version of each recap for ``persona``, newest period first."""
        newest = (
            sa.select(recaps.c.period, sa.func.max(recaps.c.version).label("version"))
            .where(recaps.c.persona == persona)
            .group_by(recaps.c.period)
            .subquery()
        )
        query = (
            sa.select(recaps)
            .join(
                newest,
                sa.and_(recaps.c.period == newest.c.period, recaps.c.version == newest.c.version),
            )
            .where(recaps.c.persona == persona)
            .order_by(recaps.c.period.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def save_recap(self, period: str, persona: str, **values: Any) -> int:
        """Store the next version of a recap; return its version number."""
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(sa.func.max(recaps.c.version)).where(
                    recaps.c.period == period, recaps.c.persona == persona
                )
            ).scalar()
            version = int(current or 0) + 1
            conn.execute(
                sa.insert(recaps).values(
                    period=period, persona=persona, version=version, created_at=utcnow(), **values
                )
            )
        return version
