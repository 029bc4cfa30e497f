"""The site: the river of stories, each story with its brief, what was collected, feeds
(the JSON API is api.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsdesk.briefs.schema import PERSONAS
from newsdesk.desk import RIVER_POOL, Desk
from newsdesk.exceptions import NewsdeskError, StoryNotFoundError
from newsdesk.grounding import SAID
from newsdesk.models import counted
from newsdesk.ratelimit import RateLimit
from newsdesk.stories import StoryView, short_span

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC = Path(__file__).parent / "static"


def web_url(url: str | None) -> str | None:
    """A URL fit for an href: http(s) only, whatever a source sent."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


TEMPLATES.env.filters["web_url"] = web_url
TEMPLATES.env.filters["counted"] = counted
TEMPLATES.env.globals["span"] = short_span

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; "
    "style-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_RAW_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass
class CachedPage:
    expires: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class PageCache:
    """Rendered answers to GET requests, by host and URL, for ``seconds`` (0: off), served
    by PageCacheMiddleware without reaching the app. Admin actions clear it."""

    def __init__(self, seconds: float, size: int = 1024) -> None:
        self.seconds = seconds
        self.size = size
        self.pages: OrderedDict[tuple[bytes, str, bytes], CachedPage] = OrderedDict()
        self.filling: dict[tuple[bytes, str, bytes], asyncio.Event] = {}

        # clear() comes from the admin API's worker threads; the rest from the event loop.
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.pages.clear()

    def get(self, key: tuple[bytes, str, bytes]) -> CachedPage | None:
        with self._lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
            return page

    def keep(self, key: tuple[bytes, str, bytes], page: CachedPage) -> None:
        with self._lock:
            self.pages[key] = page
            self.pages.move_to_end(key)
            while len(self.pages) > self.size:
                self.pages.popitem(last=False)


class PageCacheMiddleware:
    """Serves GET pages, feeds and API answers from a PageCache, in the event loop.

    A page is built by one request at a time: the others wait for it (no stampede when a
    popular page is first asked for). Once a page expires, readers get the expired copy
    while one background task builds the next, so no reader waits for a rebuild; a page is
    at most ``seconds`` plus one build old. Only 200 answers are kept; /static (which has
    its own validators) and the admin API are never cached.
    """

    SKIP = ("/static/", "/api/v1/admin")

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.cache
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or cache.seconds <= 0
            or scope["path"].startswith(self.SKIP)
        ):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"")
        key = (host, scope["path"], scope["query_string"])
        page = cache.get(key)
        if page is not None:
            if page.expires <= time.monotonic() and key not in cache.filling:
                cache.filling[key] = asyncio.Event()
                task = asyncio.create_task(self._fill(dict(scope), key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await _send_page(page, send)
            return
        waiting = cache.filling.get(key)
        if waiting is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting.wait(), timeout=60)
            page = cache.get(key)
            if page is not None:
                await _send_page(page, send)
            else:  # the other build gave no page to keep (an error, a redirect)
                await self.app(scope, receive, send)
            return
        cache.filling[key] = asyncio.Event()
        await _send_page(await self._fill(scope, key), send)

    async def _fill(self, scope: Scope, key: tuple[bytes, str, bytes]) -> CachedPage:
        """Run the app for ``scope``, keep a 200 answer; always release the waiters."""
        try:
            page = await _capture(self.app, scope)
            if page.status == 200:
                page.expires = time.monotonic() + self.cache.seconds
                self.cache.keep(key, page)
            return page
        except Exception:
            log.exception("building %s for the page cache", key[1])
            raise
        finally:
            self.cache.filling.pop(key).set()


async def _capture(app: ASGIApp, scope: Scope) -> CachedPage:
    """The whole answer of ``app`` to a GET request with no body."""
    page = CachedPage(0.0, 500, [], b"")
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            page.status = message["status"]
            page.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    page.body = b"".join(chunks)
    return page


async def _send_page(page: CachedPage, send: Send) -> None:
    await send({"type": "http.response.start", "status": page.status, "headers": page.headers})
    await send({"type": "http.response.body", "body": page.body})


def create_app(desk: Desk) -> FastAPI:
    from newsdesk.api import router

    app = FastAPI(title="newsdesk", docs_url=None, redoc_url=None)
    cache = PageCache(desk.settings.page_cache_seconds)
    app.add_middleware(PageCacheMiddleware, cache=cache)
    app.add_middleware(RateLimit, per_minute=desk.settings.api_rate_limit)
    app.add_middleware(SecurityHeaders)  # outermost: cached answers get the headers too
    app.include_router(router(desk, on_change=cache.clear))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def render(request: Request, template: str, context: dict[str, Any]) -> Response:
        context.setdefault("site_status", site_status(desk))
        return TEMPLATES.TemplateResponse(request, template, context)

    @app.get("/", response_class=HTMLResponse)
    def home(
        request: Request,
        tag: str | None = None,
        persona: str | None = None,
        source: int | None = Query(None, ge=1, le=MAX_ID),
        page: int = Query(1, ge=1, le=MAX_PAGE),
        q: str = "",
    ) -> Response:
        """The river: the best stories, STORIES_PER_PAGE a page, by tag, persona and
        source; the newest items below the first page."""
        if q:  # the search form's old address
            return RedirectResponse("/search?" + urlencode({"q": q}), status_code=301)

        river = desk.river(
            tag=tag,
            persona=persona,
            source_id=source,
            limit=STORIES_PER_PAGE,
            offset=(page - 1) * STORIES_PER_PAGE,
        )
        sources = {s.id: s for s in desk.sources()}
        filters = {"tag": tag, "persona": persona, "source": source}
        first = page == 1 and not any(filters.values())
        return render(
            request,
            "home.html",
            {
                "cards": river.cards,
                "more": river.more,
                "page": page,
                "base": _page_base("/", filters),
                "items": desk.recent_items(20) if first else [],
                "sources": sources,
                "source": sources.get(source) if source is not None else None,
                "counts": desk.stats(),
                "recorded_at": desk.recorded_at,
                "tag": tag,
                "persona": persona,
                "personas": PERSONAS,
            },
        )

    @app.get("/tags", response_class=HTMLResponse)
    def tags_page(request: Request) -> Response:
        """Every hashtag of the best stories (``Desk.tags``, as ``/api/v1/tags``), by how
        many stories carry it."""
        return render(request, "tags.html", {"tags": desk.ranked_tags(), "pool": RIVER_POOL})

    @app.get("/sources", response_class=HTMLResponse)
    def sources_page(request: Request) -> Response:
        """Every source with its health and its number of items."""
        context = {"sources": desk.sources(), "counts": desk.store.items_per_source()}
        return render(request, "sources.html", context)

    @app.get("/tags/{tag}", response_class=HTMLResponse)
    def tag_page(request: Request, tag: str, page: int = Query(1, ge=1, le=MAX_PAGE)) -> Response:
        """The stories that carry a hashtag, their number per week, the tags seen beside it
        and its feeds.

        Any tag in its spelling (``tags.slug``) has a page, also when no story carries it
        now: stories merge and are briefed again, and a tag can leave them while recaps,
        feeds and shared links still point at its page. Such a page says so and is not
        indexed. Another spelling redirects to the tag's; one with no letters or digits is
        not a tag (404).
        """
        from newsdesk import charts
        from newsdesk.recap import period_of
        from newsdesk.tags import slug, tag_key

        spelled = slug(tag)
        if spelled != tag:
            if not spelled:
                return HTMLResponse("<h1>Not a tag</h1>", status_code=404)
            target = f"/tags/{quote(spelled, safe='')}"
            return RedirectResponse(target + (f"?page={page}" if page > 1 else ""), 301)
        river = desk.river(tag=tag, limit=STORIES_PER_PAGE, offset=(page - 1) * STORIES_PER_PAGE)
        others = [(t, n) for t, n in river.tags.most_common(21) if tag_key(t) != tag_key(tag)]
        others = others[:20]
        chart = None
        if river.cards:
            newest = max(c.story.first_seen_at for c in river.cards)
            weeks = desk.recapper.tag_weeks(tag, period_of(newest))
            chart = charts.stacked_columns(
                f"Stories tagged #{tag} per week",
                list(weeks),
                {f"#{tag}": list(weeks.values())},
                ident="tag-weeks",
            )
        context = {
            "tag": tag,
            "cards": river.cards,
            "more": river.more,
            "total": river.total,
            "pool": RIVER_POOL,
            "page": page,
            "base": f"/tags/{quote(tag, safe='')}?",
            "related_tags": others,
            "chart": chart,
        }
        return render(request, "tag.html", context)

    @app.get("/sources/{source_id}", response_class=HTMLResponse)
    def source_page(
        request: Request,
        source_id: int = FastPath(ge=1, le=MAX_ID),
        page: int = Query(1, ge=1, le=MAX_PAGE),
    ) -> Response:
        """A source's health (last fetch, next fetch, last error), its stories and items."""

        try:
            source = desk.store.get_source(source_id)
        except NewsdeskError:
            return HTMLResponse("<h1>No such source</h1>", status_code=404)
        river = desk.river(
            source_id=source.id, limit=STORIES_PER_PAGE, offset=(page - 1) * STORIES_PER_PAGE
        )
        context = {
            "source": source,
            "cards": river.cards,
            "more": river.more,
            "page": page,
            "base": f"/sources/{source.id}?",
            "items": desk.store.recent_items(20, source_id=source.id),
            "item_count": desk.store.count_items(source.id),
        }
        return render(request, "source.html", context)

    @app.get("/search", response_class=HTMLResponse)
    def search(request: Request, q: str = "") -> Response:
        """Stories and items matching ``q`` (full text)."""

        found = desk.search(q, 50) if q.strip() else None
        context = {
            "q": q,
            "cards": found.stories if found else [],
            "items": [_with_story(r, found.story_of) for r in found.items] if found else [],
            "sources": {s.id: s for s in desk.sources()},
        }
        return render(request, "search.html", context)

    @app.get("/stories/{story_id}", response_class=HTMLResponse)
    def story(request: Request, story_id: str) -> Response:
        try:
            view = desk.story(story_id)
        except StoryNotFoundError:
            return HTMLResponse("<h1>No such story</h1>", status_code=404)
        if view.redirected_from:
            return RedirectResponse(f"/stories/{view.id}", status_code=301)
        context = story_context(desk, view)
        context["share"] = share_links(
            f"{str(request.base_url).rstrip('/')}/stories/{view.id}", context["headline"]
        )
        return render(request, "story.html", context)

    @app.get("/recaps", response_class=HTMLResponse)
    def recaps(request: Request) -> Response:
        """The archive of written recaps, newest first."""
        from newsdesk.models import utcnow
        from newsdesk.recap import period_of

        context = {"rows": desk.store.list_recaps(), "current": period_of(utcnow()).label}
        return render(request, "recaps.html", context)

    @app.get("/recaps/{period}.md")
    def recap_markdown(request: Request, period: str, persona: str = "") -> Response:
        """The recap as Markdown, with the links of its page."""
        from newsdesk.recap import to_markdown

        content = _recap_or_404(desk, period, persona)[0]
        text = to_markdown(content, str(request.base_url))
        return Response(text, media_type="text/markdown; charset=utf-8")

    @app.get("/recaps/{period}/email", response_class=HTMLResponse)
    def recap_email(request: Request, period: str, persona: str = "") -> Response:
        """The recap as one HTML file for a mail client: inline styles, no script, no
        external resource (links only)."""
        from newsdesk.recap import to_email_html

        content, _row = _recap_or_404(desk, period, persona)
        return HTMLResponse(to_email_html(content, str(request.base_url)))

    @app.get("/recaps/{period}", response_class=HTMLResponse)
    def recap(request: Request, period: str, persona: str = "") -> Response:
        """The recap of an ISO week (2025-W31) or a day (2025-07-30): the stored one, or one
        built now, without its opening, where none is written yet."""
        from newsdesk import charts
        from newsdesk.recap import parse_period

        content, row = _recap_or_404(desk, period, persona)
        context = _recap_context(request, content, persona)
        trends = content["trends"]
        context["tag_chart"] = charts.change_bars(
            f"Tags this {content['kind']} against the mean before",
            [(f"#{t['tag']}", round(t["now"] - t["before"], 2)) for t in trends["tags"]],
            ident="tag-trend",
        )
        context["volume_chart"] = charts.stacked_columns(
            f"Stories by source per {content['kind']}",
            trends["periods"],
            trends["sources"],
            ident="source-volume",
        )
        parsed = parse_period(content["period"])
        context.update(
            row=row,
            personas=PERSONAS,
            prev=f"/recaps/{parsed.shifted(-1).label}{context['query']}",
            next=f"/recaps/{parsed.shifted(1).label}{context['query']}",
        )
        return render(request, "recap.html", context)

    @app.get("/feeds/recaps.{fmt}")
    def recap_feed(request: Request, fmt: str, persona: str = "") -> Response:
        """Written recaps as RSS 2.0, Atom or JSON Feed; ``persona`` for one reader's."""
        from newsdesk.feeds import FORMATS, MEDIA_TYPES, render_recaps

        for known in FORMATS:
            if fmt == known:
                text = render_recaps(desk, known, str(request.base_url), persona=persona)
                return Response(text, media_type=MEDIA_TYPES[known])
        return Response("feeds: recaps.rss, recaps.atom, recaps.json", status_code=404)

    @app.get("/feeds/stories.{fmt}")
    def feed(
        request: Request, fmt: str, tag: str | None = None, persona: str | None = None
    ) -> Response:
        """Stories with their TL;DR as RSS 2.0, Atom or JSON Feed; ``tag`` or ``persona``
        for one topic or reader."""
        from newsdesk.feeds import FORMATS, MEDIA_TYPES, render

        for known in FORMATS:
            if fmt == known:
                text = render(desk, known, str(request.base_url), tag=tag, persona=persona)
                return Response(text, media_type=MEDIA_TYPES[known])
        return Response("feeds: stories.rss, stories.atom, stories.json", status_code=404)

    return app


def _recap_or_404(desk: Desk, period: str, persona: str) -> tuple[dict[str, Any], Any]:
    from fastapi import HTTPException

    from newsdesk.exceptions import RecapError

    try:
        return desk.recap(period, persona)
    except RecapError as e:
        raise HTTPException(404, str(e)) from None


def _recap_context(request: Request, content: dict[str, Any], persona: str) -> dict[str, Any]:
    from newsdesk.recap import title_of

    return {
        "recap": content,
        "title": title_of(content),
        "titles": {s["id"]: s["hook"] or s["title"] for s in content["stories"]},
        "query": "?" + urlencode({"persona": persona}) if persona else "",
        "base": str(request.base_url).rstrip("/"),
    }


def site_status(desk: Desk) -> str:
    """The site's status line: how long ago `newsdesk run` last ran and what it did, and,
    in a replay, the moment of its recordings, which the site takes as now."""
    from newsdesk.models import utcnow

    parts = []
    if desk.recorded_at is not None:
        parts.append(
            f"Replaying recordings made {desk.recorded_at:%Y-%m-%d %H:%M} UTC: "
            "ages are as they were then."
        )
    last = desk.store.last_runs(1)
    if last:
        run = last[0]
        ago = short_span(int((utcnow() - (run.finished_at or run.started_at)).total_seconds()))
        state = "running" if run.finished_at is None else f"{ago} ago"
        parts.append(
            f"Last update {state}: {run.new_items} new items, {run.briefs} briefs written."
        )
    return " ".join(parts)


def _page_base(path: str, filters: dict[str, Any]) -> str:
    """``path`` with the set filters as a query, ready for ``page=n`` to be appended."""
    query = urlencode({k: v for k, v in filters.items() if v is not None})
    return f"{path}?{query}&" if query else f"{path}?"


def _with_story(row: Any, story_of: dict[int, str]) -> SimpleNamespace:
    return SimpleNamespace(**row._mapping, story_id=story_of.get(row.id))


STORIES_PER_PAGE = 20
# Bounds of numbers in addresses: database ids are signed 64-bit; pages past the pool are
# empty anyway.
MAX_ID = 2**63 - 1
MAX_PAGE = 10_000
LABELS = SAID


def share_links(url: str, text: str) -> dict[str, str]:
    """Share URLs (plain links: no third-party script runs on the page)."""
    return {
        "X": "https://twitter.com/intent/tweet?" + urlencode({"text": text, "url": url}),
        "LinkedIn": "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
    }


def story_context(desk: Desk, view: StoryView) -> dict[str, Any]:
    """What the story page shows: the story, its newest brief and each claim's verdict."""
    from newsdesk.briefs.schema import Brief
    from newsdesk.briefs.writer import headline, split_verdicts
    from newsdesk.tags import merged

    row = desk.store.latest_brief(view.id)
    brief = Brief.model_validate(row.brief) if row is not None else None
    verdicts: dict[int, Any] = {}
    row_verdicts: list[Any] = []
    hook = None
    if brief is not None and row.verdicts:
        claimed, rows, checked = split_verdicts(brief, row.verdicts)
        for claim, verdict in zip(brief.claims(), claimed, strict=False):
            verdicts[id(claim)] = SimpleNamespace(**verdict)
        row_verdicts = [SimpleNamespace(**v) for v in rows]
        hook = SimpleNamespace(**checked) if checked else None
    from newsdesk.recap import period_of

    delay = view.collection_delay
    # The timeline: the brief's entries (dated sentences of its sources) and the dated
    # stories of the archive that are related to this one, in date order (sources first
    # on a day both have).
    timeline: list[tuple[str, str, Any]] = [
        (e.date, "source", e) for e in (brief.timeline if brief else [])
    ]
    timeline += [(e.date.isoformat(), "story", e) for e in view.archive]
    timeline.sort(key=lambda t: (t[0], t[1] != "source"))
    return {
        "recap_period": period_of(view.first_seen_at).label,
        "timeline": timeline,
        "story": view,
        "row": row,
        "brief": brief,
        "passages": [SimpleNamespace(**p) for p in row.passages] if row is not None else [],
        "verdict": lambda claim: verdicts.get(id(claim)),
        "row_verdict": lambda n: row_verdicts[n] if n < len(row_verdicts) else None,
        "hook_verdict": hook,
        # The hook where the checker supports it, else the story's title.
        "headline": headline(row, view.title),
        "LABELS": LABELS,
        "tags": merged(brief.hashtags if brief else [], view.tags),
        "delay": short_span(int(delay.total_seconds())) if delay is not None else "",
        "badges": list(
            dict.fromkeys((i.source_name, i.source_emoji, i.source_id) for i in view.items)
        ),
    }


def run(desk: Desk, host: str, port: int) -> None:
    """Serve the site on ``host``:``port`` until interrupted.

    Raises:
        SettingsError: the address cannot be taken (a port in use, a host not of this
            machine), before anything says that the site is served.
    """
    import socket

    import uvicorn

    from newsdesk.exceptions import SettingsError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as e:
        raise SettingsError(
            f"cannot serve on {host}:{port}: {e.strerror or e}; "
            "choose another with --port (or the port and host settings)"
        ) from e
    print(f"newsdesk is serving on http://{host}:{port}/ (Ctrl-C stops it)")
    server = uvicorn.Server(uvicorn.Config(create_app(desk), log_level="warning"))
    server.run(sockets=[sock])
