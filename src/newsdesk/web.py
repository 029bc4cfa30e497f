"""The site: the river of stories, each story with its brief, what was collected, feeds
(the JSON API is api.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from newsdesk.briefs.schema import PERSONAS
from newsdesk.desk import Desk
from newsdesk.exceptions import StoryNotFoundError
from newsdesk.stories import StoryView, short_span

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def web_url(url: str | None) -> str | None:
    """A URL fit for an href: http(s) only, whatever a source sent."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


TEMPLATES.env.filters["web_url"] = web_url

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


def create_app(desk: Desk) -> FastAPI:
    from newsdesk.api import router

    app = FastAPI(title="newsdesk", docs_url=None, redoc_url=None)
    app.add_middleware(_SecurityHeaders)
    app.include_router(router(desk))

    @app.get("/", response_class=HTMLResponse)
    def home(
        request: Request,
        q: str = "",
        tag: str | None = None,
        persona: str | None = None,
        page: int = Query(1, ge=1),
    ) -> Response:
        rows = desk.search(q, 100) if q else desk.recent_items(200)
        names = {s.id: s for s in desk.sources()}
        stories: list[StoryView] = []
        hooks: dict[str, str] = {}
        more = False
        if not q:
            # Stories best first, filtered by tag (story or brief hashtags) or persona (the
            # brief's "who should care"), STORIES_PER_PAGE a page.
            start = (page - 1) * STORIES_PER_PAGE
            seen = 0
            for view in desk.stories(limit=500):
                row = desk.store.latest_brief(view.id)
                brief = row.brief if row is not None else None
                if tag and tag not in {*view.tags, *(brief["hashtags"] if brief else [])}:
                    continue
                if persona and not (brief and persona in brief["tldr"]["who_should_care"]):
                    continue
                seen += 1
                if seen <= start:
                    continue
                if len(stories) == STORIES_PER_PAGE:
                    more = True
                    break
                stories.append(view)
                if brief is not None:
                    hooks[view.id] = brief["hook"]
        context: dict[str, Any] = {
            "stories": stories,
            "hooks": hooks,
            "items": rows if not (tag or persona) else [],
            "sources": names,
            "counts": desk.stats(),
            "q": q,
            "tag": tag,
            "persona": persona,
            "personas": PERSONAS,
            "page": page,
            "more": more,
        }
        return TEMPLATES.TemplateResponse(request, "items.html", context)

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
            f"{str(request.base_url).rstrip('/')}/stories/{view.id}",
            context["brief"].hook if context["brief"] else view.title,
        )
        return TEMPLATES.TemplateResponse(request, "story.html", context)

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


STORIES_PER_PAGE = 20
LABELS = {"supported": "supported", "partial": "partly supported", "unsupported": "unverified"}


def share_links(url: str, text: str) -> dict[str, str]:
    """Share URLs (plain links: no third-party script runs on the page)."""
    return {
        "X": "https://twitter.com/intent/tweet?" + urlencode({"text": text, "url": url}),
        "LinkedIn": "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
    }


def story_context(desk: Desk, view: StoryView) -> dict[str, Any]:
    """What the story page shows: the story, its newest brief and each claim's verdict."""
    from newsdesk.briefs.schema import Brief

    row = desk.store.latest_brief(view.id)
    brief = Brief.model_validate(row.brief) if row is not None else None
    verdicts: dict[int, Any] = {}
    if brief is not None and row.verdicts:
        for claim, verdict in zip(brief.claims(), row.verdicts, strict=False):
            verdicts[id(claim)] = SimpleNamespace(**verdict)
    delay = view.collection_delay
    return {
        "story": view,
        "row": row,
        "brief": brief,
        "passages": [SimpleNamespace(**p) for p in row.passages] if row is not None else [],
        "verdict": lambda claim: verdicts.get(id(claim)),
        "LABELS": LABELS,
        "tags": list(dict.fromkeys([*(brief.hashtags if brief else []), *view.tags])),
        "delay": short_span(int(delay.total_seconds())) if delay is not None else "",
        "badges": list(dict.fromkeys((i.source_name, i.source_emoji) for i in view.items)),
    }


def run(desk: Desk, host: str, port: int) -> None:
    import uvicorn

    print(f"newsdesk is serving on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(desk), host=host, port=port, log_level="warning")
