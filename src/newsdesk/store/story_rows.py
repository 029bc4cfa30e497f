"""Story rows: membership of items, merges with redirects, embeddings. Part of Store."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsdesk.exceptions import StoreError
from newsdesk.models import utcnow
from newsdesk.store.schema import item_embeddings, items, sources, stories, story_items
from newsdesk.store.schema import story_redirects as redirects

# Columns of an item that clustering and story fields read.
CLUSTER_COLUMNS = (
    items.c.id,
    items.c.external_id,
    items.c.source_id,
    items.c.title,
    items.c.text,
    items.c.article_text,
    items.c.url,
    items.c.canonical_url,
    items.c.published_at,
    items.c.collected_at,
    items.c.score,
    items.c.comment_count,
)


def story_id_for(external_id: str) -> str:
    """The stable id of the story that an item starts: short, URL-safe, never reused."""
    return "s" + hashlib.sha1(external_id.encode("utf-8")).hexdigest()[:15]


def _of_source(source_id: int) -> Any:
    """The ids of the stories with an item from ``source_id``, as a subquery."""
    return (
        sa.select(story_items.c.story_id)
        .join(items, items.c.id == story_items.c.item_id)
        .where(items.c.source_id == source_id)
    )


def _arrival() -> Any:
    return sa.func.coalesce(items.c.published_at, items.c.collected_at)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class StoriesMixin:
    """Story queries of Store; ``engine``, ``dialect`` and ``url`` come from Store."""

    engine: Engine
    dialect: str
    url: str

    # -- embeddings ----------------------------------------------------------------------

    def items_without_embedding(self, model: str, limit: int | None = None) -> list[Any]:
        done = sa.select(item_embeddings.c.item_id).where(item_embeddings.c.model == model)
        query = (
            sa.select(items.c.id, items.c.title, items.c.text, items.c.article_text)
            .where(items.c.id.not_in(done))
            .order_by(items.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def save_embeddings(self, model: str, vectors: Iterable[tuple[int, bytes]]) -> None:
        rows = [{"item_id": i, "model": model, "vector": v} for i, v in vectors]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(item_embeddings).where(
                    item_embeddings.c.item_id.in_([r["item_id"] for r in rows])
                )
            )
            conn.execute(sa.insert(item_embeddings), rows)

    def embeddings(self, item_ids: Sequence[int], model: str) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(item_ids), 500):
                chunk = list(item_ids[start : start + 500])
                query = sa.select(item_embeddings.c.item_id, item_embeddings.c.vector).where(
                    item_embeddings.c.item_id.in_(chunk), item_embeddings.c.model == model
                )
                out.update({row.item_id: row.vector for row in conn.execute(query)})
        return out

    # -- clustering input ----------------------------------------------------------------

    def unclustered_items(self) -> list[Any]:
        """Items in no story yet, in publication order, then the undated ones; ties by
        external id. Nothing here depends on when or in which order the items were fetched,
        so every deployment (one process, many workers) clusters the same items the same
        way."""
        clustered = sa.select(story_items.c.item_id)
        query = (
            sa.select(*CLUSTER_COLUMNS)
            .where(items.c.id.not_in(clustered))
            .order_by(items.c.published_at.is_(None), items.c.published_at, items.c.external_id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def stories_with_changed_items(self) -> list[str]:
        """The stories with an item changed (a new score, comments, text) since their
        fields were last computed: a post collected minutes after it went up is fetched
        again with its real score."""
        query = (
            sa.select(story_items.c.story_id)
            .join(items, items.c.id == story_items.c.item_id)
            .join(stories, stories.c.id == story_items.c.story_id)
            .where(items.c.updated_at > stories.c.updated_at)
            .distinct()
            .order_by(story_items.c.story_id)
        )
        with self.engine.connect() as conn:
            return [row.story_id for row in conn.execute(query)]

    def window_items(self, since: datetime) -> list[Any]:
        """Items of the stories updated since ``since``, with their story id, by arrival."""
        query = (
            sa.select(*CLUSTER_COLUMNS, story_items.c.story_id)
            .join(story_items, story_items.c.item_id == items.c.id)
            .join(stories, stories.c.id == story_items.c.story_id)
            .where(stories.c.last_updated_at >= since)
            .order_by(_arrival(), items.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def items_of_stories_on(self, days: Iterable[date]) -> list[Any]:
        """Items of the stories with an item published on one of ``days`` (UTC), with their
        story id, by arrival: the stories that a dated follow-up may join, however old."""
        ranges: list[list[date]] = []
        for day in sorted(set(days)):
            if ranges and day == ranges[-1][1]:
                ranges[-1][1] = day + timedelta(days=1)
            else:
                ranges.append([day, day + timedelta(days=1)])
        if not ranges:
            return []
        on_days = sa.or_(
            *(
                sa.and_(_arrival() >= _midnight(start), _arrival() < _midnight(end))
                for start, end in ranges
            )
        )
        of_days = (
            sa.select(story_items.c.story_id)
            .join(items, items.c.id == story_items.c.item_id)
            .where(on_days)
        )
        query = (
            sa.select(*CLUSTER_COLUMNS, story_items.c.story_id)
            .join(story_items, story_items.c.item_id == items.c.id)
            .where(story_items.c.story_id.in_(of_days))
            .order_by(_arrival(), items.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    @contextlib.contextmanager
    def clustering_lock(self) -> Iterator[None]:
        """Held for a whole clustering run: concurrent runs never make two stories of one
        event. PostgreSQL: an advisory lock; SQLite: a lock file beside the database."""
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(7071)"))
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(7071)"))
                    conn.commit()
            return
        database = sa.engine.make_url(self.url).database
        lock_path = Path(f"{database}.cluster-lock") if database else None
        if lock_path is None or database == ":memory:":
            yield
            return
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- writing stories -----------------------------------------------------------------

    def assign(self, rows: Sequence[tuple[int, str, str]], new_stories: dict[str, Any]) -> None:
        """Create ``new_stories`` (id -> first item row) and put items in stories, in one
        transaction. ``rows``: (item id, story id, reason)."""
        now = utcnow()
        with self.engine.begin() as conn:
            if new_stories:
                conn.execute(
                    sa.insert(stories),
                    [
                        {
                            "id": story_id,
                            "title": first.title,
                            "first_seen_at": first.published_at or first.collected_at,
                            "last_updated_at": first.published_at or first.collected_at,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for story_id, first in new_stories.items()
                    ],
                )
            if rows:
                conn.execute(
                    sa.insert(story_items),
                    [
                        {"item_id": i, "story_id": s, "reason": r, "added_at": now}
                        for i, s, r in rows
                    ],
                )

    def stories_of_source(self, source_id: int) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(_of_source(source_id).distinct()).scalars())

    def stories_of_items(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The story each of these items is in (items in none are left out)."""
        if not item_ids:
            return {}
        query = sa.select(story_items.c.item_id, story_items.c.story_id).where(
            story_items.c.item_id.in_(item_ids)
        )
        with self.engine.connect() as conn:
            return {item_id: story_id for item_id, story_id in conn.execute(query)}

    def update_story(self, story_id: str, **values: Any) -> None:
        self.update_stories({story_id: values})

    def update_stories(
        self, values: Mapping[str, Mapping[str, Any]], *, computed_at: datetime | None = None
    ) -> None:
        """Set fields of several stories (story id -> column values), 500 stories to a
        transaction. ``computed_at``: the fields were computed from the stories' items as
        they were then; it becomes ``updated_at``, against which
        ``stories_with_changed_items`` compares. None (links, a field set by hand) leaves
        ``updated_at`` as it was."""
        stamp = {"updated_at": computed_at} if computed_at is not None else {}
        todo = list(values.items())
        for start in range(0, len(todo), 500):
            with self.engine.begin() as conn:
                for story_id, fields in todo[start : start + 500]:
                    conn.execute(
                        sa.update(stories).where(stories.c.id == story_id).values(**fields, **stamp)
                    )

    def merge_stories(self, old_id: str, new_id: str) -> None:
        """Move every item of ``old_id`` into ``new_id``, added to it now (a brief's next
        version counts them as gained) for the reason "merged"; the old id redirects from
        now on, and its briefs go with its row."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(story_items)
                .where(story_items.c.story_id == old_id)
                .values(story_id=new_id, added_at=now, reason="merged")
            )
            # Earlier redirects to the old story now point at the new one: no chains.
            conn.execute(
                sa.update(redirects).where(redirects.c.new_id == old_id).values(new_id=new_id)
            )
            conn.execute(sa.insert(redirects).values(old_id=old_id, new_id=new_id, merged_at=now))
            conn.execute(sa.delete(stories).where(stories.c.id == old_id))

    def split_story(self, story_id: str, item_ids: Sequence[int], new_id: str) -> None:
        """Move ``item_ids`` out of ``story_id`` into a new story ``new_id``, added to it now
        for the reason "split", in one transaction; the caller computes both stories'
        fields. The new row starts with the first moved item's title and times."""
        now = utcnow()
        first = sa.select(items.c.title, _arrival().label("at")).where(items.c.id.in_(item_ids))
        with self.engine.begin() as conn:
            row = conn.execute(first.order_by(_arrival(), items.c.id).limit(1)).first()
            if row is None:
                raise StoreError(f"no such items: {', '.join(map(str, item_ids))}")
            conn.execute(
                sa.insert(stories).values(
                    id=new_id,
                    title=row.title,
                    first_seen_at=row.at,
                    last_updated_at=row.at,
                    created_at=now,
                    updated_at=now,
                )
            )
            moved = conn.execute(
                sa.update(story_items)
                .where(story_items.c.story_id == story_id, story_items.c.item_id.in_(item_ids))
                .values(story_id=new_id, added_at=now, reason="split")
            ).rowcount
            if moved != len(set(item_ids)):  # a source removed meanwhile: nothing is done
                raise StoreError(f"{story_id} no longer holds all of those items")

    # -- reading stories -----------------------------------------------------------------

    def resolve_story_id(self, story_id: str) -> str:
        """The live id for ``story_id``: itself, or the story it was merged into."""
        with self.engine.connect() as conn:
            new = conn.execute(
                sa.select(redirects.c.new_id).where(redirects.c.old_id == story_id)
            ).scalar()
        return str(new) if new else story_id

    def get_story(self, story_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(stories).where(stories.c.id == story_id)).first()

    def get_stories(self, story_ids: Sequence[str]) -> dict[str, Any]:
        """The live stories of ``story_ids`` (merged ids resolved), by the id asked for."""
        if not story_ids:
            return {}
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(redirects.c.old_id, redirects.c.new_id).where(
                    redirects.c.old_id.in_(story_ids)
                )
            )
            moved = {old: new for old, new in found}
            live = {i: moved.get(i, i) for i in story_ids}
            rows = conn.execute(sa.select(stories).where(stories.c.id.in_(set(live.values()))))
            by_id = {row.id: row for row in rows}
        return {asked: by_id[i] for asked, i in live.items() if i in by_id}

    def story_dates(self, story_ids: Sequence[str]) -> dict[str, datetime]:
        """Each story's date: its earliest item's publication (or, undated, arrival) time.
        Stories that do not exist are left out."""
        if not story_ids:
            return {}
        query = (
            sa.select(story_items.c.story_id, sa.func.min(_arrival()))
            .join(items, items.c.id == story_items.c.item_id)
            .where(story_items.c.story_id.in_(set(story_ids)))
            .group_by(story_items.c.story_id)
        )
        with self.engine.connect() as conn:
            return {story_id: when for story_id, when in conn.execute(query) if when}

    def story_badges(self, story_ids: Sequence[str]) -> dict[str, list[tuple[str, str, int]]]:
        """Each story's sources as (name, emoji, source id), in order of first item."""
        if not story_ids:
            return {}
        query = (
            sa.select(story_items.c.story_id, sources.c.name, sources.c.emoji, sources.c.id)
            .join(items, items.c.id == story_items.c.item_id)
            .join(sources, sources.c.id == items.c.source_id)
            .where(story_items.c.story_id.in_(story_ids))
            .order_by(story_items.c.story_id, _arrival(), items.c.id)
        )
        out: dict[str, list[tuple[str, str, int]]] = {}
        with self.engine.connect() as conn:
            for story_id, name, emoji, source_id in conn.execute(query):
                badges = out.setdefault(story_id, [])
                if (name, emoji, source_id) not in badges:
                    badges.append((name, emoji, source_id))
        return out

    def story_items(self, story_id: str) -> list[Any]:
        """The story's items with their source's name, kind and emoji, and when each was
        added to the story (``added_at``), in arrival order."""
        return self.stories_items([story_id]).get(story_id, [])

    def stories_items(self, story_ids: Sequence[str]) -> dict[str, list[Any]]:
        """``story_items`` of several stories, by story id (one query per 500 stories);
        a story without items is left out."""
        out: dict[str, list[Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(story_ids), 500):
                query = (
                    sa.select(
                        items,
                        story_items.c.story_id,
                        story_items.c.reason,
                        story_items.c.added_at,
                        sources.c.name.label("source_name"),
                        sources.c.kind.label("source_kind"),
                        sources.c.emoji.label("source_emoji"),
                    )
                    .join(story_items, story_items.c.item_id == items.c.id)
                    .join(sources, sources.c.id == items.c.source_id)
                    .where(story_items.c.story_id.in_(list(story_ids[start : start + 500])))
                    .order_by(_arrival(), items.c.id)
                )
                for row in conn.execute(query):
                    out.setdefault(row.story_id, []).append(row)
        return out

    def ranked_stories(
        self, *, limit: int = 50, offset: int = 0, source_id: int | None = None
    ) -> list[Any]:
        """Stories best first (by ``rank_key``: importance with recency decay), without their
        centroids; ``source_id``: only stories with an item from that source."""
        columns = [c for c in stories.c if c.name != "centroid"]
        query = sa.select(*columns).order_by(stories.c.rank_key.desc(), stories.c.id)
        if source_id is not None:
            query = query.where(stories.c.id.in_(_of_source(source_id)))
        with self.engine.connect() as conn:
            return list(conn.execute(query.limit(limit).offset(offset)))

    def count_stories(self, source_id: int | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(stories)
        if source_id is not None:
            query = query.where(stories.c.id.in_(_of_source(source_id)))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def story_centroids(self, since: datetime | None = None) -> list[tuple[str, bytes]]:
        query = sa.select(stories.c.id, stories.c.centroid).where(stories.c.centroid.is_not(None))
        if since is not None:
            query = query.where(stories.c.last_updated_at >= since)
        with self.engine.connect() as conn:
            return [(row.id, row.centroid) for row in conn.execute(query.order_by(stories.c.id))]

    def source_scores(self) -> dict[int, list[int]]:
        """Every source's item scores, sorted: the basis of per-source engagement."""
        query = (
            sa.select(items.c.source_id, items.c.score)
            .where(items.c.score.is_not(None))
            .order_by(items.c.source_id, items.c.score)
        )
        out: dict[int, list[int]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out.setdefault(row.source_id, []).append(row.score)
        return out
