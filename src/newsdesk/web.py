"""The site. For now one page: what was collected, newest first (the full site comes later)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from newsdesk.desk import Desk

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
    app = FastAPI(title="newsdesk", docs_url=None, redoc_url=None)
    app.add_middleware(_SecurityHeaders)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, q: str = "") -> Response:
        rows = desk.search(q, 100) if q else desk.recent_items(200)
        names = {s.id: s for s in desk.sources()}
        context: dict[str, Any] = {
            "items": rows,
            "sources": names,
            "counts": desk.stats(),
            "q": q,
        }
        return TEMPLATES.TemplateResponse(request, "items.html", context)

    @app.get("/api/v1/stats")
    def stats() -> JSONResponse:
        return JSONResponse(desk.stats())

    return app


def run(desk: Desk, host: str, port: int) -> None:
    import uvicorn

    print(f"newsdesk is serving on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(desk), host=host, port=port, log_level="warning")
