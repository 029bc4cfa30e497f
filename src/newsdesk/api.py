"""The JSON API under /api/v1: what the pages show, for programs, with its OpenAPI schema
(/openapi.json); every response model is declared here.

Reading needs nothing. The admin endpoints under /api/v1/admin (add or remove a source, run
an update, write a brief again, merge or split stories) need ``Authorization: Bearer
<admin_token>``; with no ``admin_token`` set they do not exist (404), and a wrong token is
refused (403) after a constant-time comparison.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field

from newsdesk.desk import Desk
from newsdesk.exceptions import NewsdeskError, StoryNotFoundError
from newsdesk.stories import Card


class StorySummary(BaseModel):
    id: str
    title: str
    hook: str | None
    headline: str = Field(
        description="The brief's hook where the checker supports it, else the story's title"
    )
    freshness: str
    collected_in_seconds: int | None
    importance: float
    item_count: int
    source_count: int
    tags: list[str]
    first_seen_at: datetime
    last_updated_at: datetime
    grounding_score: float | None
    url: str


class ItemOut(BaseModel):
    id: int
    title: str
    url: str | None
    source: str
    source_kind: str
    author: str | None
    published_at: datetime | None


class FoundItem(ItemOut):
    story_id: str | None


class SearchOut(BaseModel):
    items: list[FoundItem]
    stories: list[StorySummary]


class BriefOut(BaseModel):
    version: int
    brief: dict[str, Any]
    passages: list[dict[str, Any]]
    verdicts: list[dict[str, Any]] | None
    grounding_score: float | None
    changes: dict[str, Any] | None
    model: str
    backend: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    created_at: datetime


class ArchiveEventOut(BaseModel):
    """A related story of the archive as a timeline entry, dated by its first item."""

    date: date
    story_id: str
    title: str


class StoryOut(StorySummary):
    related: list[dict[str, str]]
    # The brief's timeline holds the dated sentences of the sources; these are the dated
    # stories of the archive related to this one (the page shows both, by date).
    archive_timeline: list[ArchiveEventOut]
    items: list[ItemOut]
    brief: BriefOut | None


class SourceOut(BaseModel):
    id: int
    kind: str
    name: str
    url: str
    emoji: str
    enabled: bool
    last_fetch_at: datetime | None
    error_count: int
    last_error: str | None


class TagOut(BaseModel):
    tag: str
    stories: int


class RecapSummary(BaseModel):
    period: str
    persona: str
    version: int
    stories: int
    created_at: datetime
    url: str


class RecapOut(BaseModel):
    written: bool
    version: int | None
    model: str | None
    content: dict[str, Any]


class NewSource(BaseModel):
    spec: str
    name: str | None = None


class MergeIn(BaseModel):
    into: str = Field(min_length=1, max_length=64, description="The story it joins.")


class SplitIn(BaseModel):
    items: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1,
        max_length=1000,
        description="Ids of the story's items (its `items`) that start the new story.",
    )


class UpdateOut(BaseModel):
    source: str
    new: int
    updated: int
    not_modified: bool
    error: str | None


class UpdateRun(BaseModel):
    sources: list[UpdateOut]
    clustered: int
    new_stories: int


class BriefRun(BaseModel):
    story_id: str
    version: int | None
    written: bool
    error: str | None
    seconds: float


def _summary(card: Card) -> dict[str, Any]:
    view, row = card.story, card.brief
    delay = view.collection_delay
    return {
        "id": view.id,
        "title": view.title,
        "hook": card.hook,
        "headline": card.headline,
        "freshness": view.freshness,
        "collected_in_seconds": int(delay.total_seconds()) if delay is not None else None,
        "importance": view.importance,
        "item_count": view.item_count,
        "source_count": view.source_count,
        "tags": card.tags,
        "first_seen_at": view.first_seen_at,
        "last_updated_at": view.last_updated_at,
        "grounding_score": row.grounding_score if row is not None else None,
        "url": f"/stories/{view.id}",
    }


def router(desk: Desk, on_change: Callable[[], None] = lambda: None) -> APIRouter:
    """The API; ``on_change`` runs after every admin action (the site clears its cache)."""
    api = APIRouter(prefix="/api/v1", tags=["api"])

    @api.get("/stories", response_model=list[StorySummary])
    def stories(
        limit: int = Query(20, ge=1, le=100),
        offset: int = Query(0, ge=0, le=100_000),
        tag: str | None = None,
        persona: str | None = None,
        source: int | None = Query(None, ge=1, le=2**63 - 1),
    ) -> list[dict[str, Any]]:
        """Stories, best first (importance with recency decay); ``tag``, ``persona`` (the
        brief's "who should care") and ``source`` (a source id) filter."""
        river = desk.river(tag=tag, persona=persona, source_id=source, limit=limit, offset=offset)
        return [_summary(c) for c in river.cards]

    @api.get("/stories/{story_id}", response_model=StoryOut)
    def story(story_id: str) -> dict[str, Any]:
        """One story with its items and its newest brief (verdicts and grounding score)."""
        try:
            view = desk.story(story_id)
        except StoryNotFoundError:
            raise HTTPException(404, f"no story {story_id}") from None
        row = desk.store.latest_brief(view.id)
        out = _summary(Card(view, row))
        out["related"] = [{"id": i, "title": t} for i, t in view.related]
        out["archive_timeline"] = [
            {"date": e.date, "story_id": e.source, "title": e.sentence} for e in view.archive
        ]
        out["items"] = [
            {
                "id": item.id,
                "title": item.title,
                "url": item.url,
                "source": item.source_name,
                "source_kind": item.source_kind,
                "author": item.author,
                "published_at": item.published_at,
            }
            for item in view.items
        ]
        out["brief"] = None if row is None else {k: getattr(row, k) for k in BriefOut.model_fields}
        return out

    @api.get("/sources", response_model=list[SourceOut])
    def sources() -> list[dict[str, Any]]:
        """Every source with its health: last fetch, error count, last error."""
        return [{k: getattr(s, k) for k in SourceOut.model_fields} for s in desk.sources()]

    @api.get("/tags", response_model=list[TagOut])
    def tags() -> list[dict[str, Any]]:
        """Hashtags of the recent stories, by how many stories carry them."""
        return [{"tag": t, "stories": n} for t, n in desk.ranked_tags()]

    @api.get("/search", response_model=SearchOut)
    def search(q: str = Query(min_length=1), limit: int = Query(50, ge=1, le=200)) -> Any:
        """Items matching ``q`` (full text: SQLite FTS5 or PostgreSQL), best first, each
        with its story, and those stories in the order of their best item."""
        names = {s.id: s for s in desk.sources()}
        found = desk.search(q, limit)
        return {
            "items": [
                {
                    "id": row.id,
                    "title": row.title,
                    "url": row.url,
                    "source": names[row.source_id].name if row.source_id in names else "",
                    "source_kind": names[row.source_id].kind if row.source_id in names else "",
                    "author": row.author,
                    "published_at": row.published_at,
                    "story_id": found.story_of.get(row.id),
                }
                for row in found.items
            ],
            "stories": [_summary(c) for c in found.stories],
        }

    @api.get("/recaps", response_model=list[RecapSummary])
    def recaps(persona: str = "", limit: int = Query(20, ge=1, le=100)) -> list[dict[str, Any]]:
        """Written recaps for everyone (or ``persona``), newest period first."""
        return [
            {
                "period": row.period,
                "persona": row.persona,
                "version": row.version,
                "stories": row.content["numbers"]["stories"],
                "created_at": row.created_at,
                "url": f"/recaps/{row.period}",
            }
            for row in desk.store.list_recaps(persona=persona, limit=limit)
        ]

    @api.get("/recaps/{period}", response_model=RecapOut)
    def recap(period: str, persona: str = "") -> dict[str, Any]:
        """The recap of an ISO week (2025-W31) or a day (2025-07-30): the written one, or
        one built now without its opening (``written`` false)."""
        from newsdesk.exceptions import RecapError

        try:
            content, row = desk.recap(period, persona)
        except RecapError as e:
            raise HTTPException(404, str(e)) from None
        return {
            "written": row is not None,
            "version": row.version if row is not None else None,
            "model": row.model if row is not None else None,
            "content": content,
        }

    @api.get("/stats")
    def stats() -> dict[str, int]:
        """Counts of sources, items, stories and briefs."""
        return desk.stats()

    api.include_router(admin_router(desk, on_change))
    return api


def admin_router(desk: Desk, on_change: Callable[[], None]) -> APIRouter:
    def authorized(authorization: str | None = Header(default=None)) -> None:
        token = str(desk.settings.admin_token or "")
        if not token:
            raise HTTPException(404, "admin endpoints are off: no admin_token is set")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(401, "admin endpoints need Authorization: Bearer <token>")
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            raise HTTPException(403, "wrong admin token")

    def changed() -> Iterator[None]:
        yield
        on_change()

    admin = APIRouter(prefix="/admin", dependencies=[Depends(authorized), Depends(changed)])

    def source_out(source: Any) -> dict[str, Any]:
        return {k: getattr(source, k) for k in SourceOut.model_fields}

    @admin.post("/sources", response_model=SourceOut, status_code=201)
    def add_source(body: NewSource) -> dict[str, Any]:
        """Add a source from a spec (``reddit:LocalLLaMA``, ``hn:top``, a feed URL)."""
        try:
            return source_out(desk.add_source(body.spec, name=body.name))
        except NewsdeskError as e:
            raise HTTPException(400, str(e)) from None

    @admin.delete("/sources/{ref}", response_model=SourceOut)
    def remove_source(ref: str) -> dict[str, Any]:
        """Remove a source (id or name) and its items."""
        try:
            return source_out(desk.remove_source(ref))
        except NewsdeskError as e:
            raise HTTPException(404, str(e)) from None

    @admin.post("/update", response_model=UpdateRun)
    def update(force: bool = False) -> dict[str, Any]:
        """Fetch the due sources (all with ``force``), then cluster the new items."""
        results = desk.update(sources=desk.due_sources(force=force))
        run = desk.cluster()
        return {
            "sources": [
                {
                    "source": r.source.name,
                    "new": r.counts.new,
                    "updated": r.counts.updated,
                    "not_modified": r.not_modified,
                    "error": r.error,
                }
                for r in results
            ],
            "clustered": run.items,
            "new_stories": run.new_stories,
        }

    @admin.post("/stories/{story_id}/brief", response_model=BriefRun)
    def write_brief(story_id: str, force: bool = True) -> dict[str, Any]:
        """Write the story's brief again (``force``: even if nothing changed)."""
        try:
            r = desk.write_brief(story_id, force=force)
        except StoryNotFoundError:
            raise HTTPException(404, f"no story {story_id}") from None
        return {
            "story_id": r.story_id,
            "version": r.version,
            "written": r.written,
            "error": r.error,
            "seconds": round(r.seconds, 2),
        }

    def story_out(view: Any) -> dict[str, Any]:
        return _summary(Card(view, desk.store.latest_brief(view.id)))

    @admin.post("/stories/{story_id}/merge", response_model=StorySummary)
    def merge_story(story_id: str, body: MergeIn) -> dict[str, Any]:
        """Merge the story into ``into`` (`newsdesk merge`): its items move, its id
        redirects; answers the story merged into. 404: either is no story; 409: they are
        one story."""
        try:
            return story_out(desk.merge_stories(story_id, body.into))
        except StoryNotFoundError as e:
            raise HTTPException(404, f"no story {e.story_id}") from None
        except NewsdeskError as e:
            raise HTTPException(409, str(e)) from None

    @admin.post("/stories/{story_id}/split", response_model=StorySummary, status_code=201)
    def split_story(story_id: str, body: SplitIn) -> dict[str, Any]:
        """Move ``items`` out of the story into a new story of their own (`newsdesk
        split`); answers the new story. 404: no such story; 400: an item it does not
        hold, or all of them."""
        try:
            return story_out(desk.split_story(story_id, body.items))
        except StoryNotFoundError:
            raise HTTPException(404, f"no story {story_id}") from None
        except NewsdeskError as e:
            raise HTTPException(400, str(e)) from None

    return admin
