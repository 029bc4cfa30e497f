"""Rows of `newsdesk run` and what `newsdesk status` reads. Part of Store."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsdesk.models import utcnow
from newsdesk.store.schema import briefs, items, runs, story_items


class RunsMixin:
    """Rows of `newsdesk run` and what `newsdesk status` reads; ``engine`` from Store."""

    engine: Engine

    def start_run(self) -> int:
        with self.engine.begin() as conn:
            key = conn.execute(sa.insert(runs).values(started_at=utcnow())).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_run(self, run_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(runs).where(runs.c.id == run_id).values(finished_at=utcnow(), **values)
            )

    def last_runs(self, limit: int = 5) -> list[Any]:
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def recent_briefs(self, limit: int = 50) -> list[Any]:
        """The newest brief rows (without passages), newest first."""
        columns = [c for c in briefs.c if c.name not in ("passages", "brief", "verdicts")]
        query = sa.select(*columns).order_by(briefs.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def unclustered_count(self) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(items)
            .where(items.c.id.not_in(sa.select(story_items.c.item_id)))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
