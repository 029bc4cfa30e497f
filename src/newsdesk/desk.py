"""The core API. The CLI, the web app and (later) the JSON API are thin callers of Desk.

>>> desk = Desk()                     # settings from NEWSDESK_* / newsdesk.toml / defaults
>>> desk.add_source("reddit:LocalLLaMA")
>>> for result in desk.update():      # fetch every due source, store the items
...     print(result.source.name, result.counts.new, result.error)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from newsdesk.exceptions import (
    FetchError,
    NewsdeskError,
    ParseError,
    SettingsError,
    StoreError,
    StoryNotFoundError,
)
from newsdesk.fetch import Fetcher
from newsdesk.models import Item, Source, as_utc, set_now, utcnow
from newsdesk.replay import read_manifest
from newsdesk.settings import Settings
from newsdesk.sources import get_kind, parse_spec
from newsdesk.store import Store, UpsertCounts

if TYPE_CHECKING:
    from collections import Counter

    from newsdesk.briefs.writer import BriefProgress, BriefResult, BriefWriter
    from newsdesk.llm import LLMBackend
    from newsdesk.recap import Recapper, RecapResult
    from newsdesk.stories import Card, ClusterRun, Progress, StoryView

log = logging.getLogger(__name__)

REPLAY_STARTED = "replay-started"
"""The file in the data directory that holds the real time it began replaying."""

# Lists of stories rank this many of the most recently updated ones.
RIVER_POOL = 500


@dataclass
class SourceUpdate:
    """How one source's update went: counts, or the error that stopped it."""

    source: Source
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    not_modified: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    extracted: int = 0


@dataclass
class ImportResult:
    source: Source
    counts: UpsertCounts
    bad_lines: int = 0


UpdateProgress = Callable[[SourceUpdate], None]


class Found(NamedTuple):
    """What a search found (Desk.search): items best first, the story of each item that is
    in one, and those stories' cards."""

    items: list[Any]
    story_of: dict[int, str]
    stories: list[Card]


class River(NamedTuple):
    """A page of stories (Desk.river): the cards, whether more follow, how many matched,
    and the tags of all that matched with their counts."""

    cards: list[Card]
    more: bool
    total: int
    tags: Counter[str]


class Desk:
    """Everything newsdesk does, as methods. Creates its store on first use."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None) -> None:
        self.settings = settings or Settings.load()
        if store is not None:
            self.__dict__["store"] = store
        self.recorded_at: datetime | None = None
        """When the replayed recordings were made (their manifest's ``recorded_at``)."""
        if self.settings.replay:
            self._start_replay_clock()

    def _start_replay_clock(self) -> None:
        """Take the replayed recordings' moment as now (``models.set_now``).

        The clock runs on from it for the data directory, not for each process: the real
        time the directory began replaying is kept in its ``replay-started`` file, so a
        later command, a worker or a restarted ``newsdesk run`` reads the same clock, and
        what an earlier one stored is never in its future. A manifest that cannot be read
        leaves the system clock (fetches report the error).
        """
        try:
            self.recorded_at = read_manifest(self.settings.replay).recorded_at
        except SettingsError as e:
            log.warning("%s", e)
            return
        if self.recorded_at is None:
            return
        marker = self.settings.data_path / REPLAY_STARTED
        real_now = datetime.now(UTC)
        try:
            began = as_utc(datetime.fromisoformat(marker.read_text("utf-8").strip()))
        except (OSError, ValueError):
            began = None
        if began is None:
            began = real_now
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(began.isoformat() + "\n", "utf-8")
        set_now(self.recorded_at + (real_now - began))

    def published_by_now(self, items: list[Item]) -> list[Item]:
        """In a replay as at its recordings' moment, the items published by now: a feed
        recorded later holds posts not yet written then. Otherwise all of them."""
        if self.recorded_at is None:
            return items
        now = utcnow()
        return [i for i in items if (as_utc(i.published_at) or now) <= now]

    @cached_property
    def store(self) -> Store:
        return Store.for_data_dir(self.settings.data_path, self.settings.database_url)

    @cached_property
    def llm(self) -> LLMBackend:
        """The model backend that ``llm_backend`` names; the model loads on first use."""
        from newsdesk.llm import get_backend

        return get_backend(self.settings)

    def close(self) -> None:
        if "llm" in self.__dict__:
            self.llm.close()
        if "store" in self.__dict__:
            self.store.close()

    # -- sources -------------------------------------------------------------------------

    def add_source(self, spec: str, *, name: str | None = None) -> Source:
        """Add a source from a spec: ``reddit:LocalLLaMA``, ``hn:top``, ``arxiv:cs.CL``, a URL."""
        found = parse_spec(spec, self.settings)
        kind = get_kind(found.kind)
        return self.store.add_source(found.kind, found.url, name or found.name, kind.emoji)

    def remove_source(self, ref: str) -> Source:
        """Remove a source and its items; the stories they fed are refreshed or removed."""
        from newsdesk.stories import refresh_stories

        source = self.store.get_source(ref)
        touched = self.store.stories_of_source(source.id)
        self.store.remove_source(source.id)
        refresh_stories(self.store, self.settings, touched)
        return source

    def sources(self) -> list[Source]:
        return self.store.list_sources()

    def import_opml(self, data: bytes) -> list[Source | NewsdeskError]:
        """Add every feed of an OPML file; a bad entry gives its error, the rest go on."""
        from newsdesk.sources.opml import read_opml

        added: list[Source | NewsdeskError] = []
        for url, title in read_opml(data):
            try:
                added.append(self.add_source(url, name=title or None))
            except NewsdeskError as e:
                added.append(e)
        return added

    def export_opml(self) -> bytes:
        from newsdesk.sources.opml import write_opml

        return write_opml([(s.url, s.name) for s in self.sources() if s.kind == "feed"])

    # -- update --------------------------------------------------------------------------

    def update(
        self,
        *,
        sources: Iterable[Source] | None = None,
        force: bool = False,
        progress: UpdateProgress | None = None,
        extract: bool = True,
    ) -> list[SourceUpdate]:
        """Fetch every due source (all enabled ones with ``force``) and store its items.

        One failing source never stops the others: its result carries the error, and the
        store keeps its error count and last error until a fetch succeeds. With
        ``extract`` (and the extract_articles setting), the articles that new items link to
        are fetched and extracted too; without, they wait for ``extract_item``.
        """
        return asyncio.run(
            self.aupdate(sources=sources, force=force, progress=progress, extract=extract)
        )

    def due_sources(self, *, force: bool = False) -> list[Source]:
        if force:
            return [s for s in self.store.list_sources() if s.enabled]
        now = utcnow()
        due = self.store.list_sources(due_at=now)
        # A source last fetched "after now" was fetched before the clock was set back: its
        # next fetch, planned on the clock of then, could be days away. It is due now.
        seen = {s.id for s in due}
        return due + [
            s
            for s in self.store.list_sources()
            if s.enabled and s.id not in seen and s.last_fetch_at and s.last_fetch_at > now
        ]

    async def aupdate(
        self,
        *,
        sources: Iterable[Source] | None = None,
        force: bool = False,
        progress: UpdateProgress | None = None,
        extract: bool = True,
    ) -> list[SourceUpdate]:
        todo = list(sources) if sources is not None else self.due_sources(force=force)
        limit = asyncio.Semaphore(max(1, self.settings.update_concurrency))

        async with Fetcher(self.settings) as fetcher:

            async def one(source: Source) -> SourceUpdate:
                async with limit:
                    result = SourceUpdate(source)
                    try:
                        await self._update_source(result, fetcher, extract=extract)
                    except StoreError as e:
                        # The store refused a write (locked, full). The fetch is recorded
                        # only after its items, so the source stays due until they are in.
                        result.error = str(e)
                        log.error("source %s (%s): %s", source.id, source.url, e)
                if progress is not None:
                    progress(result)
                return result

            return list(await asyncio.gather(*(one(s) for s in todo)))

    async def _update_source(
        self, result: SourceUpdate, fetcher: Fetcher, *, extract: bool = True
    ) -> None:
        from newsdesk.polling import next_fetch_at, next_interval

        source = result.source
        started = utcnow()
        retry_after: float | None = None
        try:
            fetched = await get_kind(source.kind).fetch(source, fetcher, self.settings)
        except (FetchError, ParseError) as e:
            result.error = str(e)
            retry_after = getattr(e, "retry_after", None)
        except Exception as e:  # a bug in one source kind must not stop the others
            log.exception("source %s (%s) failed", source.id, source.url)
            result.error = f"{type(e).__name__}: {e}"
        else:
            result.not_modified = fetched.not_modified
            result.warnings = fetched.warnings
            fetched.items = self.published_by_now(fetched.items)
            if not fetched.not_modified:
                # Items are committed before the fetch is recorded: a crash in between
                # only means the next run fetches and upserts the same items again.
                result.counts = await asyncio.to_thread(
                    self.store.upsert_items, source.id, fetched.items
                )
            minutes = next_interval(source.poll_minutes, self.settings, new_items=result.counts.new)
            self.store.record_fetch(
                source.id,
                fetched_at=started,
                next_fetch_at=next_fetch_at(started, minutes, not_before=fetched.not_before),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                poll_minutes=minutes,
            )
            source.poll_minutes = minutes
            if fetched.title and source.name == parse_spec(source.url, self.settings).name:
                # A name the user did not choose gives way to the source's own title.
                self.store.update_source(source.id, name=fetched.title)
                source.name = fetched.title
            if extract and self.settings.extract_articles and source.extract:
                result.extracted = await self._extract_articles(source, fetcher)
            return
        log.warning("source %s (%s): %s", source.id, source.url, result.error)
        minutes = next_interval(source.poll_minutes, self.settings, error=True)
        self.store.record_fetch(
            source.id,
            fetched_at=started,
            next_fetch_at=next_fetch_at(started, minutes, retry_after=retry_after),
            error=result.error,
            poll_minutes=minutes,
        )
        source.poll_minutes = minutes

    async def _extract_articles(self, source: Source, fetcher: Fetcher) -> int:
        """Fetch and extract the articles that this source's new items link to."""
        pending = self.store.items_to_extract(source.id, self.settings.extract_max_per_source)
        done = await asyncio.gather(
            *(self._extract_item(fetcher, item_id, url) for item_id, url in pending)
        )
        return sum(done)

    def extract_item(self, item_id: int) -> bool:
        """Fetch and extract the article that one item links to (distributed mode's task).

        Safe to run twice: an item already extracted, or one with nothing to extract, is
        left alone (False). An extraction that fails is stored as the item's error.
        """
        url = self.store.extraction_target(item_id)
        if url is None:
            return False

        async def go() -> bool:
            async with Fetcher(self.settings) as fetcher:
                return await self._extract_item(fetcher, item_id, url)

        return asyncio.run(go())

    async def _extract_item(self, fetcher: Fetcher, item_id: int, url: str) -> bool:
        from newsdesk.extract import extract_article

        try:
            response = await fetcher.get(url, accept="text/html,application/xhtml+xml")
        except FetchError as e:
            self.store.store_extraction(item_id, error=str(e))
            return False
        kind = response.headers.get("content-type", "")
        if "html" not in kind:
            self.store.store_extraction(item_id, error=f"not an HTML page: {kind or '?'}")
            return False
        page = response.content.decode("utf-8", "replace")
        found = await asyncio.to_thread(extract_article, page, response.url)
        if found is None:
            self.store.store_extraction(item_id, error="no main text found")
            return False
        self.store.store_extraction(
            item_id,
            text=found.text,
            html=found.html,
            canonical_url=found.canonical_url,
            language=found.language,
            published_at=found.published_at,
        )
        return True

    # -- imports -------------------------------------------------------------------------

    def import_reddit(
        self, path: Path, *, progress: Callable[[int], None] | None = None
    ) -> ImportResult:
        """Import a Reddit archive dump (.jsonl or .jsonl.gz, one t3 object a line).

        Items go to the ``reddit:<subreddit>`` source of each post, created when missing.
        Importing the same file twice adds nothing.
        """
        from newsdesk.sources.reddit import adapt_post, iter_dump

        by_source: dict[str, list[Item]] = {}
        sources: dict[str, Source] = {}
        total = UpsertCounts()
        bad = 0
        first: Source | None = None
        # One writer thread stores a batch while this thread parses the next: SQLite
        # releases the GIL while it writes and indexes, so the two overlap on two cores.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsdesk-writer")
        pending: Future[UpsertCounts] | None = None

        def flush(sub: str) -> None:
            nonlocal total, pending
            if pending is not None:
                total += pending.result()
            pending = writer.submit(self.store.upsert_items, sources[sub].id, by_source.pop(sub))
            if progress is not None:
                progress(total.new + total.updated + total.unchanged)

        with writer:
            for post in iter_dump(path):
                if isinstance(post, ParseError):
                    bad += 1
                    log.warning("%s", post)
                    continue
                item = adapt_post(post)
                if not self.published_by_now([item]):
                    continue
                sub = post.subreddit or "unknown"
                if sub not in sources:
                    sources[sub] = self.add_source(f"reddit:{sub}")
                    first = first or sources[sub]
                by_source.setdefault(sub, []).append(item)
                if len(by_source[sub]) >= 500:
                    flush(sub)
            for sub in list(by_source):
                flush(sub)
            if pending is not None:
                total += pending.result()
        if progress is not None:
            progress(total.new + total.updated + total.unchanged)
        if first is None:
            raise ParseError(str(path), "no Reddit posts in this file")
        return ImportResult(first, total, bad)

    # -- stories -------------------------------------------------------------------------

    def cluster(self, progress: Progress | None = None) -> ClusterRun:
        """Embed new items and put each into a story (online; see newsdesk.stories)."""
        from newsdesk.stories import cluster_new_items

        return cluster_new_items(self.store, self.settings, progress)

    def refresh_all_stories(self, progress: Progress | None = None) -> int:
        """Recompute every story's fields (``stories.refresh_all_stories``)."""
        from newsdesk.stories import refresh_all_stories

        return refresh_all_stories(self.store, self.settings, progress)

    def merge_stories(self, old_id: str, into_id: str) -> StoryView:
        """Merge a story into another by hand (``stories.merge_stories``); the story merged
        into, its fields computed again.

        Raises:
            StoryNotFoundError: either is no story.
            StoreError: both are one story.
        """
        from newsdesk.stories import merge_stories

        return self.story(merge_stories(self.store, self.settings, old_id, into_id))

    def split_story(self, story_id: str, item_ids: Sequence[int]) -> StoryView:
        """Move items out of a story into a new one by hand (``stories.split_story``); the
        new story, its fields computed.

        Raises:
            StoryNotFoundError: no such story.
            StoreError: no item, an item not in the story, or all of them.
        """
        from newsdesk.stories import split_story

        return self.story(split_story(self.store, self.settings, story_id, item_ids))

    def stories(
        self, *, limit: int = 50, offset: int = 0, source_id: int | None = None
    ) -> list[StoryView]:
        """Stories, best first: importance with recency decay (one indexed query)."""
        from newsdesk.stories import story_view

        rows = self.store.ranked_stories(limit=limit, offset=offset, source_id=source_id)
        return [story_view(self.store, self.settings, r, with_items=False) for r in rows]

    def river(
        self,
        *,
        tag: str | None = None,
        persona: str | None = None,
        source_id: int | None = None,
        briefed: bool = False,
        limit: int = 20,
        offset: int = 0,
    ) -> River:
        """A page of the best stories, each with its newest brief and source badges.

        ``source_id`` filters in the query. ``tag`` (the story's or its brief's hashtags),
        ``persona`` (the brief's "who should care" or the persona's tags, ranked in that
        order: ``Card.for_persona``) and ``briefed`` (only stories with a brief) filter the
        RIVER_POOL best stories: their ``total`` and ``tags`` count that pool; without
        them, ``total`` counts every story and ``tags`` this page.
        """
        from newsdesk.stories import Card
        from newsdesk.tags import tally

        pooled = bool(tag or persona or briefed)
        if pooled:
            views = self.stories(limit=RIVER_POOL, source_id=source_id)
        else:
            views = self.stories(limit=limit + 1, offset=offset, source_id=source_id)
        briefs = self.store.latest_briefs([v.id for v in views])
        cards = [Card(v, briefs.get(v.id)) for v in views]
        if pooled:
            chosen = [
                c for c in cards if c.matches(tag, persona) and (c.brief is not None or not briefed)
            ]
            if persona:  # named in "who should care" first, then by the persona's tags
                chosen.sort(key=lambda c: -c.for_persona(persona))
            page, more, total = (
                chosen[offset : offset + limit],
                len(chosen) > offset + limit,
                len(chosen),
            )
        else:
            chosen = page = cards[:limit]
            more, total = len(cards) > limit, self.store.count_stories(source_id)
        badges = self.store.story_badges([c.story.id for c in page])
        for card in page:
            card.badges = badges.get(card.story.id, [])
        return River(page, more, total, tally(c.tags for c in chosen))

    def tags(self) -> Counter[str]:
        """Hashtags (the stories' and their briefs') over the RIVER_POOL best stories."""
        from newsdesk.stories import Card
        from newsdesk.tags import tally

        views = self.stories(limit=RIVER_POOL)
        briefs = self.store.latest_briefs([v.id for v in views])
        return tally(Card(v, briefs.get(v.id)).tags for v in views)

    def ranked_tags(self) -> list[tuple[str, int]]:
        """``tags`` as (tag, stories), most stories first, ties by name."""
        return sorted(self.tags().items(), key=lambda kv: (-kv[1], kv[0]))

    def cards(self, story_ids: Sequence[str]) -> list[Card]:
        """Cards of these stories, in this order (merged ids resolved, unknown ones left
        out), with their briefs and badges."""
        from newsdesk.stories import Card, story_view

        rows = self.store.get_stories(story_ids)
        live = list(dict.fromkeys(rows[i].id for i in story_ids if i in rows))
        by_id = {row.id: row for row in rows.values()}
        briefs = self.store.latest_briefs(live)
        badges = self.store.story_badges(live)
        return [
            Card(
                story_view(self.store, self.settings, by_id[i], with_items=False),
                briefs.get(i),
                badges.get(i, []),
            )
            for i in live
        ]

    def story(self, story_id: str) -> StoryView:
        """One story with its items; a merged story's old id gives the story it joined."""
        from newsdesk.stories import story_view

        live = self.store.resolve_story_id(story_id)
        row = self.store.get_story(live)
        if row is None:
            raise StoryNotFoundError(story_id)
        view = story_view(self.store, self.settings, row)
        if live != story_id:
            view.redirected_from = story_id
        return view

    # -- briefs --------------------------------------------------------------------------

    @cached_property
    def brief_writer(self) -> BriefWriter:
        from newsdesk.briefs.writer import BriefWriter

        return BriefWriter(self.store, self.settings, self.llm)

    def write_brief(self, story_id: str, *, force: bool = False) -> BriefResult:
        """Write the story's brief, unless one was written from the same sources and model.

        Raises:
            StoryNotFoundError: no such story.
        """
        return self.brief_writer.write(story_id, force=force)

    def write_briefs(
        self,
        *,
        limit: int = 10,
        story_ids: Sequence[str] | None = None,
        force: bool = False,
        progress: BriefProgress | None = None,
    ) -> list[BriefResult]:
        """Write the briefs of ``story_ids``, or of the ``limit`` best stories.

        One story's failure is its result; the others go on.
        """
        from newsdesk.briefs.writer import write_briefs

        ids = (
            list(story_ids) if story_ids is not None else [v.id for v in self.stories(limit=limit)]
        )
        return write_briefs(self.brief_writer, ids, force=force, progress=progress)

    def brief(self, story_id: str) -> Any:
        """The newest brief of the story (a row with ``brief``, ``passages``...), or None."""
        return self.store.latest_brief(self.store.resolve_story_id(story_id))

    # -- recaps --------------------------------------------------------------------------

    @cached_property
    def recapper(self) -> Recapper:
        from newsdesk.recap import Recapper

        return Recapper(self.store, self.settings)

    def write_recap(self, period: str, persona: str = "", *, force: bool = False) -> RecapResult:
        """Write the recap of ``period`` ("2025-W31" or "2025-07-30"), for everyone or one
        persona, unless the stored one was written from the same stories and briefs.

        Raises:
            RecapError: a malformed period or unknown persona, or the model failed.
        """
        from newsdesk.recap import parse_period

        return self.recapper.write(parse_period(period), persona, force=force)

    def recap(self, period: str, persona: str = "") -> tuple[dict[str, Any], Any]:
        """The stored recap of ``period`` (content, row), or one built now without its
        opening (content, None) where none was written yet. Never calls the model."""
        from newsdesk.recap import parse_period

        parsed = parse_period(period)
        row = self.store.latest_recap(parsed.label, persona)
        if row is not None:
            return row.content, row
        return self.recapper.build(parsed, persona), None

    # -- backups -------------------------------------------------------------------------

    def backup(self, target: Path) -> int:
        """A consistent copy of the SQLite store in ``target``, taken while others write;
        returns its number of items. PostgreSQL: StoreError says how to use pg_dump."""
        return self.store.backup(target)

    def export_jsonl(self, out: Any) -> int:
        """Every story, best first, as one JSON line each: its fields, its items' external
        ids and URLs, and its newest brief with verdicts. Returns the number of lines."""
        import json

        count = 0
        total = self.store.count_stories()
        for start in range(0, total, 500):
            for view in self.stories(limit=500, offset=start):
                row = self.store.latest_brief(view.id)
                record = {
                    "id": view.id,
                    "title": view.title,
                    "first_seen_at": view.first_seen_at.isoformat(),
                    "last_updated_at": view.last_updated_at.isoformat(),
                    "importance": view.importance,
                    "tags": view.tags,
                    "items": [
                        {"external_id": i.external_id, "url": i.url, "title": i.title}
                        for i in self.store.story_items(view.id)
                    ],
                    "brief": None
                    if row is None
                    else {
                        "version": row.version,
                        "brief": row.brief,
                        "verdicts": row.verdicts,
                        "grounding_score": row.grounding_score,
                        "model": row.model,
                        "created_at": row.created_at.isoformat(),
                    },
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        return count

    # -- reading -------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts of sources, items, stories and briefs."""
        return self.store.counts()

    def recent_items(self, limit: int = 100) -> list[Any]:
        return self.store.recent_items(limit)

    def search(self, query: str, limit: int = 20) -> Found:
        """Items matching a full-text query (SQLite FTS5 or PostgreSQL full text), best
        first, and the stories they are in, in the order of their best item."""
        rows = self.store.search_items(query, limit)
        story_of = self.store.stories_of_items([r.id for r in rows])
        stories = list(dict.fromkeys(story_of[r.id] for r in rows if r.id in story_of))
        return Found(rows, story_of, self.cards(stories))

    def settings_table(self) -> Iterator[tuple[str, Any, str, str]]:
        """(name, value, origin, help) of every setting, for `newsdesk settings`."""
        from newsdesk.settings import SECRET_SETTINGS, SETTINGS
        from newsdesk.store import shown_url

        for s in SETTINGS:
            value = self.settings.values[s.name]
            if s.name in SECRET_SETTINGS and value:
                value = "(set, hidden)"
            elif s.name.endswith("_url") and value:
                value = shown_url(str(value))  # a database or broker URL may hold a password
            yield s.name, value, self.settings.origins[s.name], s.help
