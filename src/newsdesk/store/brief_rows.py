"""Brief rows: the versions of each story's brief. Part of Store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsdesk.models import utcnow
from newsdesk.store.schema import briefs


class BriefsMixin:
    """Brief queries of Store; ``engine`` comes from Store."""

    engine: Engine

    def latest_brief(self, story_id: str) -> Any:
        """The newest version of the story's brief, or None."""
        query = (
            sa.select(briefs)
            .where(briefs.c.story_id == story_id)
            .order_by(briefs.c.version.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first()

    def latest_briefs(self, story_ids: Sequence[str]) -> dict[str, Any]:
        """The newest brief of each story that has one (without its passages): one query
        for a whole page of stories."""
        if not story_ids:
            return {}
        newest = (
            sa.select(briefs.c.story_id, sa.func.max(briefs.c.version).label("version"))
            .where(briefs.c.story_id.in_(story_ids))
            .group_by(briefs.c.story_id)
            .subquery()
        )
        columns = [c for c in briefs.c if c.name != "passages"]
        query = sa.select(*columns).join(
            newest,
            sa.and_(briefs.c.story_id == newest.c.story_id, briefs.c.version == newest.c.version),
        )
        with self.engine.connect() as conn:
            return {row.story_id: row for row in conn.execute(query)}

    def brief_versions(self, story_id: str) -> list[Any]:
        """Every version of the story's brief, oldest first."""
        query = sa.select(briefs).where(briefs.c.story_id == story_id).order_by(briefs.c.version)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def save_brief(self, story_id: str, **values: Any) -> int:
        """Store a new version of the story's brief; return its version number.

        The version is the next one in the same transaction; two writers racing on one story
        meet the (story_id, version) constraint instead of both writing version n.
        """
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(sa.func.max(briefs.c.version)).where(briefs.c.story_id == story_id)
            ).scalar()
            version = int(current or 0) + 1
            conn.execute(
                sa.insert(briefs).values(
                    story_id=story_id, version=version, created_at=utcnow(), **values
                )
            )
        return version
