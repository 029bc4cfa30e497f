"""The store: SQLite by default, PostgreSQL by URL, both through SQLAlchemy Core.

Opening a store migrates it to the newest schema (Alembic, append-only migrations).
Every write is one short transaction, so a crash loses at most the batch in flight and a
re-run stores it again: upserts are keyed on ``items.external_id`` and never duplicate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsdesk.exceptions import SourceNotFoundError, StoreError
from newsdesk.models import Item, Source, utcnow
from newsdesk.store.brief_rows import BriefsMixin
from newsdesk.store.recap_rows import RecapsMixin
from newsdesk.store.run_rows import RunsMixin
from newsdesk.store.schema import items, metadata, sources, stories, story_items
from newsdesk.store.story_rows import StoriesMixin, story_id_for

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_BATCH = 500  # rows per SELECT ... IN and per executemany


@dataclass
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def restore(backup: Path, data_dir: Path) -> Path:
    """Put the SQLite backup ``backup`` in place as the store of ``data_dir``; the store
    that was there is kept beside it as ``newsdesk.db.before-restore``. Returns its path.

    Raises:
        StoreError: the backup is missing, not a newsdesk database, or damaged.
    """
    import shutil
    import sqlite3

    if not backup.is_file():
        raise StoreError(f"no backup at {backup}")
    try:
        with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as source:
            (ok,) = source.execute("PRAGMA integrity_check").fetchone()
            source.execute("SELECT count(*) FROM items").fetchone()
    except sqlite3.Error as e:
        raise StoreError(f"{backup} is not a newsdesk backup: {e}") from e
    if ok != "ok":
        raise StoreError(f"{backup} fails its integrity check: {ok}")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = data_dir / "newsdesk.db"
    if target.exists():
        kept = target.with_name("newsdesk.db.before-restore")
        shutil.move(target, kept)
        for suffix in ("-wal", "-shm"):
            side = target.with_name(target.name + suffix)
            if side.exists():
                shutil.move(side, kept.with_name(kept.name + suffix))
    private_file(target)
    with sqlite3.connect(backup) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by this user only, if it does not exist (SQLite
    gives its -wal and -shm files the database file's permissions)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def shown_url(url: str) -> str:
    """``url`` with its password masked, for messages, logs and `newsdesk settings`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'newsdesk.db'}"


# Seconds a SQLite write waits for another connection's write lock before it fails; a
# ``?timeout=SECONDS`` on the database URL sets another.
BUSY_SECONDS = 30.0


def _sqlite_pragmas(busy_seconds: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cursor.close()

    return on_connect


def _explain_errors(where: str, busy_seconds: float) -> Any:
    """A ``handle_error`` hook: the database's own failures (locked past the busy timeout,
    no space left) become a StoreError that names the database and says what to do. The
    transaction of the failed write is rolled back whole; what was committed stays."""

    def explain(context: sa.engine.ExceptionContext) -> None:
        error = context.original_exception
        code = str(getattr(error, "sqlite_errorname", ""))
        if code.startswith("SQLITE_BUSY"):
            raise StoreError(
                f"the database {where} is locked: another connection has held its write lock "
                f"for more than {busy_seconds:g} s, so nothing of this write was stored. Let the "
                "other writer finish or close it (another newsdesk process, a backup tool, a "
                "sqlite3 shell inside a transaction), then run again; `newsdesk run` retries "
                "on its next cycle"
            ) from error
        if code == "SQLITE_FULL":
            raise StoreError(
                f"the database {where} is full (database or disk is full): nothing of this "
                "write was stored, and everything committed before is kept. Free space on the "
                "disk that holds it, or move the data directory (NEWSDESK_DATA_DIR), then run "
                "again; `newsdesk run` retries on its next cycle"
            ) from error

    return explain


def _insert(dialect: str) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update``."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise StoreError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


class Store(StoriesMixin, BriefsMixin, RecapsMixin, RunsMixin):
    """Reads and writes sources and items. Thread-safe; one per process is enough."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self.engine: Engine = sa.create_engine(url, future=True)
        except Exception as e:  # bad URL, missing driver
            hint = " (pip install 'newsdesk[postgres]')" if "postgres" in url else ""
            raise StoreError(f"cannot open database {shown_url(url)!r}: {e}{hint}") from e
        self.dialect = self.engine.dialect.name
        self._write_lock = threading.Lock()
        where = shown_url(url)
        busy = BUSY_SECONDS
        if self.dialect == "sqlite":
            where = self.engine.url.database or where
            timeout = self.engine.url.query.get("timeout")
            busy = float(timeout) if isinstance(timeout, str) else BUSY_SECONDS
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(busy))
        sa.event.listen(self.engine, "handle_error", _explain_errors(where, busy))
        if migrate:
            self.migrate()

    @classmethod
    def for_data_dir(cls, data_dir: Path, database_url: str = "") -> Store:
        if not database_url:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            private_file(data_dir / "newsdesk.db")
            database_url = sqlite_url(data_dir)
        return cls(database_url)

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.OperationalError as e:
            raise StoreError(f"cannot migrate database {self.engine.url!r}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    # -- backups -------------------------------------------------------------------------

    def backup(self, target: Path) -> int:
        """Copy the whole database to the SQLite file ``target`` with SQLite's online backup
        API: a consistent snapshot, taken while other connections keep writing. Returns the
        number of items in the copy.

        Raises:
            StoreError: a PostgreSQL store (use pg_dump), or ``target`` exists.
        """
        import sqlite3

        if self.dialect != "sqlite":
            raise StoreError(
                "newsdesk backup copies SQLite stores; for PostgreSQL use pg_dump, e.g. "
                "`pg_dump -Fc -f newsdesk.dump DBNAME` and `pg_restore -d DBNAME newsdesk.dump`"
            )
        if target.exists():
            raise StoreError(f"{target} exists: choose a new file for the backup")
        target.parent.mkdir(parents=True, exist_ok=True)
        private_file(target)
        raw = self.engine.raw_connection()
        try:
            with sqlite3.connect(target) as copy:
                raw.driver_connection.backup(copy, pages=1024)  # type: ignore[union-attr]
            with sqlite3.connect(target) as copy:
                (ok,) = copy.execute("PRAGMA integrity_check").fetchone()
                (count,) = copy.execute("SELECT count(*) FROM items").fetchone()
        finally:
            raw.close()
        if ok != "ok":
            raise StoreError(f"the backup in {target} fails its integrity check: {ok}")
        return int(count)

    # -- sources -------------------------------------------------------------------------

    def add_source(self, kind: str, url: str, name: str, emoji: str) -> Source:
        """Add a source, or return the stored one with the same url."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(sources).where(sources.c.url == url)).first()
            if row is None:
                conn.execute(
                    _insert(self.dialect)(sources)
                    .values(kind=kind, url=url, name=name, emoji=emoji, created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["url"])
                )
                row = conn.execute(sa.select(sources).where(sources.c.url == url)).one()
        return _source(row)

    def get_source(self, ref: int | str) -> Source:
        """A source by id, or by url."""
        if isinstance(ref, int) or str(ref).isdigit():
            if not 0 < int(ref) < 2**63:  # no such row, and too big for the database
                raise SourceNotFoundError(str(ref))
            where = sources.c.id == int(ref)
        else:
            where = sources.c.url == str(ref)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sources).where(where)).first()
        if row is None:
            raise SourceNotFoundError(str(ref))
        return _source(row)

    def list_sources(self, *, due_at: datetime | None = None) -> list[Source]:
        """All sources by id; with ``due_at``, only enabled ones due by then."""
        query = sa.select(sources).order_by(sources.c.id)
        if due_at is not None:
            query = query.where(
                sources.c.enabled,
                sa.or_(sources.c.next_fetch_at.is_(None), sources.c.next_fetch_at <= due_at),
            )
        with self.engine.connect() as conn:
            return [_source(row) for row in conn.execute(query)]

    def remove_source(self, source_id: int) -> None:
        """Remove a source, its items, and the stories left without any item."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(story_items).where(
                    story_items.c.item_id.in_(
                        sa.select(items.c.id).where(items.c.source_id == source_id)
                    )
                )
            )
            conn.execute(sa.delete(items).where(items.c.source_id == source_id))
            conn.execute(
                sa.delete(stories).where(stories.c.id.not_in(sa.select(story_items.c.story_id)))
            )
            gone = conn.execute(sa.delete(sources).where(sources.c.id == source_id)).rowcount
        if not gone:
            raise SourceNotFoundError(str(source_id))

    def update_source(self, source_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(sources).where(sources.c.id == source_id).values(**values))

    def record_fetch(
        self,
        source_id: int,
        *,
        fetched_at: datetime,
        next_fetch_at: datetime,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        poll_minutes: float | None = None,
    ) -> None:
        """Store how a fetch went: validators on success, error count and text on failure,
        and when to fetch next."""
        values: dict[str, Any] = {"last_fetch_at": fetched_at, "next_fetch_at": next_fetch_at}
        if poll_minutes is not None:
            values["poll_minutes"] = poll_minutes
        if error is None:
            values.update(error_count=0, last_error=None)
            if etag is not None or last_modified is not None:
                values.update(etag=etag, last_modified=last_modified)
        else:
            values.update(error_count=sources.c.error_count + 1, last_error=error)
        self.update_source(source_id, **values)

    # -- items ---------------------------------------------------------------------------

    def upsert_items(self, source_id: int, batch: Iterable[Item]) -> UpsertCounts:
        """Insert new items and refresh changed ones (score, comments, text); idempotent.

        An item already stored, from this source or another, stays one row: it is updated
        in place and keeps its first source and collection time.
        """
        counts = UpsertCounts()
        unique: dict[str, Item] = {}
        for item in batch:
            unique[item.external_id] = item  # the last copy in one batch wins
        pending = list(unique.values())
        for start in range(0, len(pending), _BATCH):
            counts += self._upsert_chunk(source_id, pending[start : start + _BATCH])
        return counts

    def _upsert_chunk(self, source_id: int, chunk: Sequence[Item]) -> UpsertCounts:
        counts = UpsertCounts()
        now = utcnow()
        # One writer at a time in this process: the new/updated counts read before the write
        # stay true, and SQLite (one writer anyway) never waits on its own busy lock.
        with self._write_lock, self.engine.begin() as conn:
            known = {
                row.external_id: row
                for row in conn.execute(
                    sa.select(
                        items.c.external_id,
                        items.c.content_hash,
                        items.c.score,
                        items.c.comment_count,
                        items.c.comments,
                    ).where(items.c.external_id.in_([i.external_id for i in chunk]))
                )
            }
            rows = []
            for item in chunk:
                digest = item.content_hash()
                old = known.get(item.external_id)
                if old is None:
                    counts.new += 1
                elif (
                    old.content_hash == digest
                    and old.score == item.score
                    and old.comment_count == item.comment_count
                    and (not item.comments or old.comments == item.comments)
                ):
                    counts.unchanged += 1
                    continue
                else:
                    counts.updated += 1
                rows.append(_item_row(source_id, item, digest, now))
            if rows:
                insert = _insert(self.dialect)(items)
                refreshed = {
                    name: insert.excluded[name]
                    for name in (
                        "url",
                        "canonical_url",
                        "title",
                        "author",
                        "text",
                        "html",
                        "score",
                        "comment_count",
                        "language",
                        "content_hash",
                        "updated_at",
                    )
                }
                refreshed["published_at"] = sa.func.coalesce(
                    items.c.published_at, insert.excluded.published_at
                )
                refreshed["comments"] = sa.func.coalesce(insert.excluded.comments, items.c.comments)
                conn.execute(
                    insert.on_conflict_do_update(index_elements=["external_id"], set_=refreshed),
                    rows,
                )
        return counts

    def items_to_extract(self, source_id: int, limit: int) -> list[tuple[int, str]]:
        """(item id, url) of this source's items still waiting for their article text."""
        query = (
            sa.select(items.c.id, items.c.url)
            .where(
                items.c.source_id == source_id,
                items.c.needs_extraction,
                items.c.extracted_at.is_(None),
                items.c.url.is_not(None),
            )
            .order_by(items.c.published_at.desc(), items.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(row.id, row.url) for row in conn.execute(query)]

    def extraction_target(self, item_id: int) -> str | None:
        """The URL of the article ``item_id`` links to, while it waits for extraction."""
        query = sa.select(items.c.url).where(
            items.c.id == item_id,
            items.c.needs_extraction,
            items.c.extracted_at.is_(None),
            items.c.url.is_not(None),
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def store_extraction(
        self,
        item_id: int,
        *,
        text: str | None = None,
        html: str | None = None,
        canonical_url: str | None = None,
        language: str | None = None,
        published_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "extracted_at": now,
            "updated_at": now,  # a changed item: its story's fields are computed again
            "article_text": text,
            "article_html": html,
            "article_published_at": published_at,
            "extract_error": error,
        }
        if canonical_url:
            values["canonical_url"] = canonical_url
        if language:
            values["language"] = sa.func.coalesce(items.c.language, language)
        with self.engine.begin() as conn:
            conn.execute(sa.update(items).where(items.c.id == item_id).values(**values))

    def recent_items(self, limit: int = 100, *, source_id: int | None = None) -> list[Any]:
        query = (
            sa.select(items, sources.c.name.label("source_name"), sources.c.emoji)
            .join(sources, sources.c.id == items.c.source_id)
            .order_by(items.c.published_at.desc().nulls_last(), items.c.id.desc())
            .limit(limit)
        )
        if source_id is not None:
            query = query.where(items.c.source_id == source_id)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def count_items(self, source_id: int) -> int:
        query = sa.select(sa.func.count()).select_from(items).where(items.c.source_id == source_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def items_per_source(self) -> dict[int, int]:
        """Each source's number of items (sources without one left out), in one query."""
        query = sa.select(items.c.source_id, sa.func.count()).group_by(items.c.source_id)
        with self.engine.connect() as conn:
            return {int(source): int(n) for source, n in conn.execute(query)}

    def iter_external_ids(self) -> Iterator[str]:
        with self.engine.connect() as conn:
            yield from conn.execute(sa.select(items.c.external_id)).scalars()

    def get_item(self, external_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(items).where(items.c.external_id == external_id)).first()

    def search_items(self, query: str, limit: int = 20) -> list[Any]:
        """Items matching a full-text query, best first (FTS5 or PostgreSQL tsvector).

        Control characters are spaces here: neither FTS5 nor PostgreSQL takes a NUL.
        """
        query = _CONTROL.sub(" ", query)
        if not query.strip():
            return []
        if self.dialect == "sqlite":
            # Quote each word so FTS5 operators in user input are taken literally.
            terms = " ".join('"' + w.replace('"', '""') + '"' for w in query.split())
            fts = sa.table("items_fts", sa.column("rowid"))
            select = (
                sa.select(items)
                .join(fts, fts.c.rowid == items.c.id)
                .where(sa.text("items_fts MATCH :q").bindparams(q=terms))
                .order_by(sa.text("bm25(items_fts)"))
            )
        else:
            tsquery = sa.func.plainto_tsquery("english", query)
            search: sa.ColumnElement[Any] = sa.literal_column("items.search")
            select = (
                sa.select(items)
                .where(search.op("@@")(tsquery))
                .order_by(sa.func.ts_rank(search, tsquery).desc())
            )
        with self.engine.connect() as conn:
            return list(conn.execute(select.limit(limit)))

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables; a table that a later migration adds counts 0."""
        names = ("sources", "items", "stories", "briefs", "recaps")
        present = set(sa.inspect(self.engine).get_table_names())
        with self.engine.connect() as conn:
            return {
                name: (
                    conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
                    if name in present
                    else 0
                )
                for name in names
            }


def _source(row: Any) -> Source:
    return Source(
        id=row.id,
        kind=row.kind,
        url=row.url,
        name=row.name,
        emoji=row.emoji,
        enabled=row.enabled,
        extract=row.extract,
        etag=row.etag,
        last_modified=row.last_modified,
        last_fetch_at=row.last_fetch_at,
        next_fetch_at=row.next_fetch_at,
        error_count=row.error_count,
        last_error=row.last_error,
        poll_minutes=row.poll_minutes,
    )


def _item_row(source_id: int, item: Item, digest: str, now: datetime) -> dict[str, Any]:
    published = item.published_at
    if published is not None and published.tzinfo is not None and published > now:
        # Nothing is published after it is collected: a date ahead of the clock (a feed's
        # wrong time zone, a clock set back) would keep its story fresh and on top until then.
        published = now
    return {
        "source_id": source_id,
        "external_id": item.external_id,
        "url": item.url,
        "canonical_url": item.canonical_url,
        "title": item.title,
        "author": item.author,
        "published_at": published,
        "collected_at": now,
        "updated_at": now,
        "text": item.text,
        "html": item.html,
        "score": item.score,
        "comment_count": item.comment_count,
        "language": item.language,
        "content_hash": digest,
        "comments": item.comments or None,
        "needs_extraction": item.needs_extraction,
    }


__all__ = ["Store", "UpsertCounts", "metadata", "sqlite_url", "story_id_for"]
