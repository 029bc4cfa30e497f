"""Stories: new items are embedded, clustered online into stories, and stories get their
fields (title, counts, freshness, importance, hashtags, related stories).

The rules, also in docs/stories.md:

- freshness: "Fresh" while the newest item is younger than ``fresh_hours``, then "Stale";
  the collection delay is the first item's collection time minus its publication time.
- title: the item's title that scores best by cosine to the story's centroid plus
  ``TITLE_ENGAGEMENT`` times the item's engagement (below; 1 for an item without a score,
  a headline its publisher wrote);
- importance (stored, 0..1) = 0.5 engagement + 0.35 coverage + 0.15 size, where
  engagement is the best item's score percentile within its own source (a top post of a
  small subreddit counts as much as one of a big one; an item without a score counts as
  the middle one, 0.5), coverage = min(1, (sources - 1) / 3),
  size = min(1, log2(items) / 4). Rankings multiply it by the recency decay
  0.5 ** (hours since the last update / 24).
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from newsdesk.exceptions import StoreError, StoryNotFoundError
from newsdesk.models import utcnow
from newsdesk.settings import Settings
from newsdesk.store import Store, story_id_for
from newsdesk.tags import hashtags, merged, persona_score, tag_key
from newsdesk.timeline import DatedSentence, archive_evidence

log = logging.getLogger(__name__)

RELATED_LIMIT = 5
# Chosen on ECB+'s topics (`newsdesk eval related`): F1 of the links 0.76 at 0.55, on a
# plateau of 0.76-0.79 from 0.525 to 0.575, against 0.62 at 0.45 (precision 0.80 and 0.48).
RELATED_MIN_COSINE = 0.55
HALF_LIFE_HOURS = 24.0
# A story's title is the title of the item that scores best by its cosine to the story's
# centroid plus this much of its engagement (0..1; 1 for a publisher's headline, which has
# no score): the most central post, unless a post about as central drew more readers. On
# 122 stories of the recorded r/LocalLLaMA dump whose best titles a helper of the team
# chose by hand, the title was an acceptable one for 0.762 of the stories with the centroid
# alone and 0.852 at 0.2, on a plateau of 0.844-0.852 from 0.2 to 0.5 (docs/stories.md,
# "Titles").
TITLE_ENGAGEMENT = 0.2


@dataclass
class ClusterRun:
    """What one clustering run did."""

    embedded: int = 0
    items: int = 0
    new_stories: int = 0
    joined: int = 0
    merged: list[tuple[str, str]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    seconds: float = 0.0


Progress = Callable[[str, int, int], None]  # (stage, done, total)


# Title and lead: what a story is about. Attention cost grows with length, and the int8
# MiniLM runs about 2x faster on ~80 word pieces than at its 256 cap (bench/embed.py).
# Shorter leads cost related stories more than they save: on GVA dev an article's nearest
# neighbour reports its incident for 66% of articles at 400 characters, 60% at 300 and 56%
# at 200 (about 97, 78 and 57 word pieces).
EMBED_BODY_CHARS = 400


def embedding_text(row: Any) -> str:
    body = row.article_text or row.text or ""
    return f"{row.title}\n{body[:EMBED_BODY_CHARS]}"


def model_key(settings: Settings) -> str:
    return f"{settings.embed_backend}:{settings.embed_model or 'default'}"


def embed_missing(store: Store, settings: Settings, progress: Progress | None = None) -> int:
    """Embed every item that has no vector for the configured model yet."""
    from newsdesk.embeddings import embed_batches, get_backend, to_blob

    todo = store.items_without_embedding(model_key(settings))
    if not todo:
        return 0
    backend = get_backend(settings)
    done = 0

    def report(n: int) -> None:
        if progress is not None:
            progress("embedding", done + n, len(todo))

    step = max(1, settings.embed_batch_size) * 8
    for start in range(0, len(todo), step):
        chunk = todo[start : start + step]
        vectors = embed_batches(
            backend, [embedding_text(r) for r in chunk], settings.embed_batch_size, report
        )
        store.save_embeddings(
            model_key(settings), [(r.id, to_blob(v)) for r, v in zip(chunk, vectors, strict=True)]
        )
        done += len(chunk)
    return done


def cluster_doc(row: Any, vector: bytes | None = None) -> Any:
    """What the clusterer reads of an item: a stored row, or a source's ``Item`` not yet
    stored (no extracted article, no collection time)."""
    from newsdesk.cluster import ClusterDoc
    from newsdesk.embeddings import from_blob

    collected = getattr(row, "collected_at", None)
    published = row.published_at or collected
    if published is not None and collected is not None and published > collected:
        # Dated after it was collected: a feed's wrong date. Left as it is, one item of
        # 2030 would hold the clusterer's window (and its IDF) in 2030 for every run.
        published = collected
    return ClusterDoc(
        id=row.external_id,
        title=row.title or "",
        text=getattr(row, "article_text", None) or row.text or "",
        published_at=published,
        canonical_url=row.canonical_url or row.url,
        links=[u for u in (row.url, row.canonical_url) if u],
        embedding=from_blob(vector) if vector is not None else None,
        forum=getattr(row, "score", None) is not None,
    )


def cluster_new_items(
    store: Store, settings: Settings, progress: Progress | None = None
) -> ClusterRun:
    """Put every item that is in no story yet into a story, online, in arrival order.

    The whole run holds the store's clustering lock, so two runs never make two stories
    of one event. Stories updated within the window are restored first, from their items,
    so that new items can join them.

    The clusterer compares words and names, not vectors (``ClusterConfig.embedding_weight``
    is 0), so new items are embedded on a thread of their own while they are clustered:
    the model's threads and the clusterer's one share the cores (bench/cluster.py). Only
    the story fields (title, related stories) need the vectors; the assignments are stored
    once every item has its vector, so a failed embedding stores no assignment and the
    items wait, unclustered, for the next run.
    """
    from newsdesk.cluster import ClusterConfig, OnlineClusterer, named_days

    run = ClusterRun()
    started = time.perf_counter()
    config = ClusterConfig(window_hours=settings.cluster_window_hours)
    key = model_key(settings)
    with ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:
        embedding = pool.submit(embed_missing, store, settings, progress)
        with store.clustering_lock():
            pending = store.unclustered_items()
            run.items = len(pending)
            # Stories whose items changed since their fields were computed (a post fetched
            # again with its real score) are refreshed with the ones this run touches.
            changed = store.stories_with_changed_items()
            if not pending:
                run.embedded = embedding.result()
                refresh_stories(store, settings, changed)
                run.seconds = time.perf_counter() - started
                return run
            # Follow-up articles may join stories older than the window: restore those too.
            reach = timedelta(hours=max(config.window_hours, config.follow_up_hours))
            first = min(r.published_at or r.collected_at for r in pending)
            restored = store.window_items(first - reach)
            # A dated follow-up (a trial naming the day of the shooting) may join a story of
            # any age up to config.dated_follow_up_hours: restore the stories with an item
            # published on a day the new items name or in the three days after (when the
            # event was reported); the clusterer decides which of them were of that day.
            named = {
                r.id: named_days(cluster_doc(r), config.dated_follow_up_hours) for r in pending
            }
            known = {r.story_id for r in restored}
            events = {
                date.fromordinal(d + k) for days in named.values() for d in days for k in range(4)
            }
            restored += [r for r in store.items_of_stories_on(events) if r.story_id not in known]
            vectors: dict[int, bytes] = {}
            if config.embedding_weight:
                embedding.result()
                vectors = store.embeddings([r.id for r in [*restored, *pending]], key)

            by_ext = {r.external_id: r for r in pending}
            clusterer = OnlineClusterer(config, new_id=lambda doc: story_id_for(doc.id))
            members: dict[str, list[Any]] = {}
            for row in restored:
                members.setdefault(row.story_id, []).append(row)
            for story_id, rows in members.items():
                clusterer.restore(story_id, [cluster_doc(r, vectors.get(r.id)) for r in rows])

            assignments: list[tuple[int, str, str]] = []
            new_stories: dict[str, Any] = {}
            for n, row in enumerate(pending, 1):
                doc = replace(cluster_doc(row, vectors.get(row.id)), days=named[row.id])
                result = clusterer.add(doc)
                if result.new_story:
                    new_stories[result.story_id] = by_ext[result.doc_id]
                    run.new_stories += 1
                else:
                    run.joined += 1
                assignments.append((row.id, result.story_id, result.reason))
                run.touched.add(result.story_id)
                if progress is not None and (n % 100 == 0 or n == len(pending)):
                    progress("clustering", n, len(pending))
            run.embedded = embedding.result()
            store.assign(assignments, new_stories)
            refresh_stories(store, settings, sorted(run.touched | set(changed)))
    run.seconds = time.perf_counter() - started
    return run


def _percentile(sorted_scores: Sequence[int], score: int) -> float:
    if not sorted_scores:
        return 0.0
    return bisect.bisect_right(sorted_scores, score) / len(sorted_scores)


# The engagement of an item without a score (a lab's blog, Hacker News's RSS feed): the
# middle post of a source that keeps scores, neither its best nor its worst.
UNSCORED_ENGAGEMENT = 0.5


def engagement(row: Any, source_scores: dict[int, list[int]]) -> float:
    """An item's score percentile within its own source (``UNSCORED_ENGAGEMENT`` without
    a score)."""
    if row.score is None:
        return UNSCORED_ENGAGEMENT
    return _percentile(source_scores.get(row.source_id, []), row.score)


def importance(rows: Sequence[Any], source_scores: dict[int, list[int]]) -> float:
    """The stored importance of a story's items (formula in the module docstring)."""
    best = max((engagement(r, source_scores) for r in rows), default=0.0)
    sources = len({r.source_id for r in rows})
    coverage = min(1.0, (sources - 1) / 3)
    size = min(1.0, math.log2(max(1, len(rows))) / 4)
    return round(0.5 * best + 0.35 * coverage + 0.15 * size, 4)


def rank(story: Any, now: datetime | None = None) -> float:
    """Importance with recency decay: what the river sorts by."""
    hours = max(0.0, ((now or utcnow()) - story.last_updated_at).total_seconds() / 3600)
    return float(story.importance) * 0.5 ** (hours / HALF_LIFE_HOURS)


def rank_key(importance: float, last_updated_at: datetime) -> float:
    """A stored number whose order is the order of ``rank`` at any moment:
    log2(importance) + hours since the epoch / HALF_LIFE_HOURS (migration 0005)."""
    hours = last_updated_at.timestamp() / 3600
    return math.log2(max(float(importance), 1e-9)) + hours / HALF_LIFE_HOURS


def freshness(story: Any, settings: Settings, now: datetime | None = None) -> str:
    age = (now or utcnow()) - story.last_updated_at
    return "Fresh" if age < timedelta(hours=settings.fresh_hours) else "Stale"


def short_span(seconds: int) -> str:
    """A duration as the pages say it: "4h", "3d", "12m", "40s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(0, seconds)}s"


def collection_delay(first_item: Any) -> timedelta | None:
    """Collected minus published of the story's first item ("collected in 4h")."""
    if first_item.published_at is None:
        return None
    return max(timedelta(0), first_item.collected_at - first_item.published_at)


def representative_title(
    rows: Sequence[Any],
    vectors: np.ndarray,
    centroid: np.ndarray,
    source_scores: dict[int, list[int]],
) -> str | None:
    """The story's title: that of the item (``rows[i]``, embedded as ``vectors[i]``) whose
    cosine to the story's ``centroid`` plus ``TITLE_ENGAGEMENT`` times its engagement is
    the highest, the one listed first on a tie; None when no item has a title. An item
    without a score is a headline that its publisher wrote (a lab's post, a news site's
    article), and counts here as a post that drew the most readers: a forum's reaction to a
    launch does not head the launch's own post."""
    scored = [
        (
            float(vector @ centroid)
            + TITLE_ENGAGEMENT * (1.0 if r.score is None else engagement(r, source_scores)),
            -i,
            r.title,
        )
        for i, (r, vector) in enumerate(zip(rows, vectors, strict=True))
        if r.title
    ]
    return max(scored)[2] if scored else None


def refresh_stories(store: Store, settings: Settings, story_ids: Sequence[str]) -> None:
    """Recompute the fields of these stories from their items."""
    from newsdesk.embeddings import from_blob, to_blob

    key = model_key(settings)
    # The fields are computed as the items are now: an item that changes while they are
    # (a worker's fetch) is later than this, and its story is found changed again.
    read_at = utcnow()
    scores = store.source_scores()
    members = store.stories_items(story_ids)
    every_vector = store.embeddings([r.id for rows in members.values() for r in rows], key)
    fields: dict[str, dict[str, Any]] = {}
    for story_id in story_ids:
        rows = members.get(story_id)
        if not rows:
            continue
        embedded = [r for r in rows if r.id in every_vector]
        centroid: np.ndarray | None = None
        title = next((r.title for r in rows if r.title), rows[0].title)
        if embedded:
            matrix = np.stack([from_blob(every_vector[r.id]) for r in embedded])
            mean = matrix.mean(axis=0)
            centroid = mean / (np.linalg.norm(mean) or 1.0)
            title = representative_title(embedded, matrix, centroid, scores) or title
        times = [r.published_at or r.collected_at for r in rows]
        weight = importance(rows, scores)
        fields[story_id] = dict(
            title=title,
            first_seen_at=min(times),
            last_updated_at=max(times),
            item_count=len(rows),
            source_count=len({r.source_id for r in rows}),
            importance=weight,
            rank_key=rank_key(weight, max(times)),
            tags=hashtags(
                sorted((r.title for r in rows), key=lambda t: t != title),
                [r.article_text or r.text for r in rows],
            ),
            centroid=to_blob(centroid) if centroid is not None else None,
        )
    store.update_stories(fields, computed_at=read_at)
    refresh_related(store, story_ids)


def _live_story(store: Store, story_id: str) -> str:
    """The live id of ``story_id`` (itself, or the story it was merged into).

    Raises:
        StoryNotFoundError: neither is a story.
    """
    live = store.resolve_story_id(story_id)
    if store.get_story(live) is None:
        raise StoryNotFoundError(story_id)
    return live


def merge_stories(store: Store, settings: Settings, old_id: str, into_id: str) -> str:
    """Merge story ``old_id`` into ``into_id``, as an editor joins two stories of one event
    that the clusterer kept apart: its items move, its id redirects to ``into_id`` (so do
    the ids merged into it before), and the fields of ``into_id`` are computed again. Under
    the clustering lock, so that a clustering run never sees half of it. Merged ids are
    resolved first. Returns the live id of the story merged into.

    Raises:
        StoryNotFoundError: either is no story.
        StoreError: both are one story.
    """
    with store.clustering_lock():
        old, into = _live_story(store, old_id), _live_story(store, into_id)
        if old == into:
            raise StoreError(f"{old_id} and {into_id} are one story ({into})")
        store.merge_stories(old, into)
        refresh_stories(store, settings, [into])
    return into


def split_story(store: Store, settings: Settings, story_id: str, item_ids: Sequence[int]) -> str:
    """Move items out of a story into a new story of their own, as an editor parts an
    item that the clusterer joined to the wrong event: ``item_ids`` (the numbers
    ``newsdesk story`` shows) start the new story together, added to it now; both stories'
    fields are computed again, and each brief is written anew by the next run. The story
    keeps its id, even where a moved item started it: ids are stable. Under the clustering
    lock. Returns the new story's id.

    Raises:
        StoryNotFoundError: no such story.
        StoreError: no item named, an item not in the story, or every item of it.
    """
    with store.clustering_lock():
        live = _live_story(store, story_id)
        members = {row.id: row for row in store.story_items(live)}
        moved = sorted(set(item_ids))
        if not moved:
            raise StoreError("name the items to move out of the story")
        strangers = [i for i in moved if i not in members]
        if strangers:
            raise StoreError(
                f"not items of {live}: {', '.join(map(str, strangers))} "
                f"(`newsdesk story {live}` lists its items)"
            )
        if len(moved) == len(members):
            raise StoreError(f"those are every item of {live}: nothing would be left of it")
        first = min(moved, key=lambda i: (members[i].published_at or members[i].collected_at, i))
        # Not the first item's own id, which may be the story's; nor one a story or a
        # redirect holds (a split of a split, in a replay whose clock stands still).
        base = f"{members[first].external_id} split from {live}"
        new_id, n = story_id_for(base), 1
        while store.get_story(new_id) is not None or store.resolve_story_id(new_id) != new_id:
            new_id, n = story_id_for(f"{base} {n}"), n + 1
        store.split_story(live, moved, new_id)
        refresh_stories(store, settings, [live, new_id])
    return new_id


def refresh_all_stories(
    store: Store, settings: Settings, progress: Progress | None = None, batch: int = 500
) -> int:
    """Recompute the fields of every story (title, counts, importance, hashtags, related
    stories) under the clustering lock: after a rule of those fields changed, a store
    settles at once rather than story by story as each gains items. Returns how many."""
    with store.clustering_lock():
        ids = [row.id for row in store.ranked_stories(limit=2**62)]
        for start in range(0, len(ids), batch):
            refresh_stories(store, settings, ids[start : start + batch])
            if progress is not None:
                progress("story fields", min(start + batch, len(ids)), len(ids))
    return len(ids)


def refresh_related(store: Store, story_ids: Sequence[str]) -> None:
    """Each story's nearest stories by centroid, other than itself; and those of the
    stories it is now near, which may take it in: a later story of the same subject
    (another release, a follow-up that names no day) is linked from the older one too.

    One matrix product over every story's centroid: 10,000 stories are 15 MB of float32.
    """
    from newsdesk.embeddings import from_blob

    pool = store.story_centroids()
    if len(pool) < 2:
        return
    ids = [story_id for story_id, _ in pool]
    matrix = np.stack([from_blob(blob) for _, blob in pool])
    index = {story_id: i for i, story_id in enumerate(ids)}
    related: dict[str, dict[str, Any]] = {}
    near: set[int] = set()
    for story_id in sorted(set(story_ids)):
        i = index.get(story_id)
        if i is not None:
            found = nearest(matrix, i)
            related[story_id] = {"related": [ids[j] for j in found]}
            near.update(found)
    for j in sorted(near):
        if ids[j] not in related:
            related[ids[j]] = {"related": [ids[k] for k in nearest(matrix, j)]}
    # Links only, so ``updated_at`` stays: ``refresh_stories`` stamps the stories whose
    # fields it computed, and the neighbours' fields are not computed again.
    store.update_stories(related)


def nearest(centroids: np.ndarray, i: int) -> list[int]:
    """The related stories of story ``i`` (rows of unit ``centroids``): the RELATED_LIMIT
    nearest by cosine, at least RELATED_MIN_COSINE, itself left out; nearest first."""
    sims = centroids @ centroids[i]
    sims[i] = -1.0
    best = np.argsort(-sims, kind="stable")[:RELATED_LIMIT]
    return [int(j) for j in best if sims[j] >= RELATED_MIN_COSINE]


@dataclass
class StoryView:
    """A story as front ends show it: stored fields plus those computed at read time."""

    id: str
    title: str
    first_seen_at: datetime
    last_updated_at: datetime
    item_count: int
    source_count: int
    importance: float
    rank: float
    freshness: str
    collection_delay: timedelta | None
    tags: list[str]
    related: list[tuple[str, str]]
    items: list[Any]
    redirected_from: str | None = None
    # The related stories as timeline evidence: each dated by its first item, its title as
    # the sentence (``newsdesk.timeline.archive_evidence``), in date order.
    archive: list[DatedSentence] = field(default_factory=list)


def story_view(
    store: Store, settings: Settings, story: Any, *, with_items: bool = True
) -> StoryView:
    """The story as pages show it; ``with_items`` also reads its items and related stories
    (one query each), which lists of stories do without."""
    items = store.story_items(story.id) if with_items else []
    related: list[tuple[str, str]] = []
    archive: list[DatedSentence] = []
    if with_items:
        others = store.get_stories(list(story.related or []))
        for other in others.values():
            if other.id != story.id and (other.id, other.title) not in related:
                related.append((other.id, other.title))
        archive = archive_evidence(related, store.story_dates([i for i, _ in related]))
    now = utcnow()
    return StoryView(
        id=story.id,
        title=story.title,
        first_seen_at=story.first_seen_at,
        last_updated_at=story.last_updated_at,
        item_count=story.item_count,
        source_count=story.source_count,
        importance=story.importance,
        rank=rank(story, now),
        freshness=freshness(story, settings, now),
        collection_delay=collection_delay(items[0]) if items else None,
        tags=list(story.tags or []),
        related=related,
        items=items,
        archive=archive,
    )


@dataclass
class Card:
    """A story in a list (river, tag or source page, API, feed): its view, its newest
    brief (a row without passages, or None) and its sources as (name, emoji, id)."""

    story: StoryView
    brief: Any  # the newest brief row, or None
    badges: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def hook(self) -> str | None:
        return self.brief.brief["hook"] if self.brief is not None else None

    @property
    def headline(self) -> str:
        """What heads the card: the brief's hook where the checker supports it, else the
        story's title (``writer.headline``)."""
        from newsdesk.briefs.writer import headline

        return headline(self.brief, self.story.title)

    @property
    def tags(self) -> list[str]:
        """The brief's hashtags first, then the story's own (``tags.merged``)."""
        written = self.brief.brief.get("hashtags", []) if self.brief is not None else []
        return merged(written, self.story.tags)

    def for_persona(self, persona: str) -> int:
        """How much the story is for ``persona`` (newsdesk.tags.persona_score): the brief's
        "who should care" and the persona's tags."""
        who = self.brief.brief["tldr"]["who_should_care"] if self.brief is not None else []
        return persona_score(persona, who, self.tags)

    def matches(self, tag: str | None, persona: str | None) -> bool:
        """Whether the card carries ``tag`` (in any spelling: ``tags.tag_key``) and is for
        ``persona``; None matches all."""
        if tag is not None and tag_key(tag) not in {tag_key(t) for t in self.tags}:
            return False
        return persona is None or self.for_persona(persona) > 0
