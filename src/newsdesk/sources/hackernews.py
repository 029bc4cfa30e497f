"""Hacker News lists through the official Firebase API.

A fetch reads one story list (``topstories.json``...), then the first ``hn_max_items`` items
concurrently. ``parse_item`` turns one item answer into an ``HNItem`` (stories only);
``adapt`` turns that into an ``Item``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from newsdesk.exceptions import FetchError, ParseError
from newsdesk.models import Item
from newsdesk.sanitize import clean_text, html_to_text, sanitize_html
from newsdesk.sources import FetchResult, SourceKind, SourceSpec, conditional_get, register
from newsdesk.urls import canonicalize, web_url

if TYPE_CHECKING:
    from newsdesk.fetch import Fetcher
    from newsdesk.models import Source
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

WEB_BASE = "https://news.ycombinator.com"
# list name -> (web page, API endpoint)
LISTS: dict[str, tuple[str, str]] = {
    "top": ("news", "topstories"),
    "new": ("newest", "newstories"),
    "best": ("best", "beststories"),
    "ask": ("ask", "askstories"),
    "show": ("show", "showstories"),
}
_BY_PAGE = {page: name for name, (page, _) in LISTS.items()}
_HN_HOSTS = ("news.ycombinator.com", "ycombinator.com")


def discussion_url(item_id: int) -> str:
    return f"{WEB_BASE}/item?id={item_id}"


@dataclass
class HNItem:
    """The fields of a Hacker News story that newsdesk uses."""

    id: int
    title: str
    by: str | None = None
    time: datetime | None = None
    url: str | None = None  # the linked page; None for Ask HN and text posts
    text: str = ""  # HTML, as the API gives it
    score: int = 0
    descendants: int = 0
    kids: list[int] = field(default_factory=list)

    @property
    def discussion_url(self) -> str:
        return discussion_url(self.id)


def _load_json(data: bytes | str | Any, url: str) -> Any:
    if not isinstance(data, bytes | str):
        return data
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:  # ValueError: also a 5,000-digit number
        raise ParseError(url, f"not JSON: {e}") from e


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def _time(value: Any) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):  # NaN, inf, past the year 9999
        return None


def parse_item(data: bytes | str | dict[str, Any] | None, url: str = "hn item") -> HNItem | None:
    """Parse one ``/item/ID.json`` answer.

    Returns:
        The story, or None for what newsdesk does not keep: a missing item (the API
        answers ``null``), a deleted or dead one, and every type but "story" (job, poll,
        pollopt, comment).

    Raises:
        ParseError: the answer is not JSON, not an object, or has no numeric id.
    """
    doc = _load_json(data, url)
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ParseError(url, "not a Hacker News item (expected a JSON object)")
    item_id = doc.get("id")
    if not isinstance(item_id, int) or isinstance(item_id, bool):
        raise ParseError(url, "Hacker News item without a numeric id")
    if doc.get("type") != "story" or doc.get("deleted") or doc.get("dead"):
        return None
    kids = doc.get("kids")
    return HNItem(
        id=item_id,
        title=_str(doc.get("title")).strip(),
        by=_str(doc.get("by")) or None,
        time=_time(doc.get("time")),
        url=web_url(_str(doc.get("url"))),
        text=_str(doc.get("text")),
        score=_int(doc.get("score")),
        descendants=_int(doc.get("descendants")),
        kids=[k for k in kids if isinstance(k, int)] if isinstance(kids, list) else [],
    )


def parse_id_list(data: bytes | str | Any, url: str) -> list[int]:
    """Parse a story list answer (``topstories.json``): item ids, best first.

    Raises:
        ParseError: the answer is not a JSON list.
    """
    doc = _load_json(data, url)
    if not isinstance(doc, list):
        raise ParseError(url, "not a Hacker News story list (expected a JSON array)")
    return [i for i in doc if isinstance(i, int) and not isinstance(i, bool)]


def adapt(item: HNItem) -> Item:
    """The Item of a story: its link, or its discussion page when it has none (Ask HN)."""
    url = item.url or item.discussion_url
    return Item(
        external_id=f"hn:{item.id}",
        title=item.title,
        url=url,
        canonical_url=canonicalize(url),
        author=item.by,
        published_at=item.time,
        text=html_to_text(item.text) if item.text else "",
        html=sanitize_html(item.text, base_url=WEB_BASE + "/") if item.text else "",
        score=item.score,
        comment_count=item.descendants,
        needs_extraction=item.url is not None,
    )


def _parse_target(spec: str) -> str | None:
    """The list name of a spec or stored url, or None when it is not a HN list."""
    lowered = spec.lower()
    if lowered == "hn":
        return "top"
    if lowered.startswith("hn:"):
        name = lowered[3:]
        return name if name in LISTS else None
    if lowered.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if (parts.hostname or "").lower() not in _HN_HOSTS or parts.query:
            return None
        page = parts.path.strip("/")
        return "top" if page == "" else _BY_PAGE.get(page)
    return None


@register
class HackerNewsKind(SourceKind):
    kind = "hn"
    emoji = "🟧"
    label = "Hacker News"

    @classmethod
    def parse_spec(cls, spec: str, settings: Settings) -> SourceSpec | None:
        """``hn``, ``hn:top|new|best|ask|show`` or a news.ycombinator.com list page URL."""
        name = _parse_target(spec.strip())
        if name is None:
            return None
        page = LISTS[name][0]
        return SourceSpec(kind=cls.kind, url=f"{WEB_BASE}/{page}", name=f"HN {name}")

    async def fetch(self, source: Source, fetcher: Fetcher, settings: Settings) -> FetchResult:
        name = _parse_target(source.url)
        if name is None:
            raise ParseError(source.url, "not a Hacker News list: re-add it as hn:top")
        base = str(settings.hn_base_url).rstrip("/")
        list_url = f"{base}/{LISTS[name][1]}.json"
        response, result = await conditional_get(fetcher, source, list_url, "application/json")
        if result.not_modified:
            return result
        ids = parse_id_list(response.content, list_url)[: max(0, int(settings.hn_max_items))]

        async def one(item_id: int) -> HNItem | Exception | None:
            url = f"{base}/item/{item_id}.json"
            try:
                answer = await fetcher.get(url, accept="application/json")
                return parse_item(answer.content, url)
            except (FetchError, ParseError) as e:
                return e

        for item_id, got in zip(ids, await asyncio.gather(*(one(i) for i in ids)), strict=True):
            if isinstance(got, Exception):
                log.warning(
                    "HN item %s skipped: %s",
                    item_id,
                    got,
                    extra={"source_id": source.id, "url": list_url},
                )
                result.warnings.append(f"item {item_id} skipped: {got}")
            elif got is not None:
                result.items.append(adapt(got))
        return result
