"""Feeds of stories: RSS 2.0 and Atom (feedgen) and JSON Feed 1.1, of all stories or of
one tag or persona, each entry's content the story's TL;DR.

Only stories with a brief are in a feed: a feed reader keeps what it reads once, and a
story without its brief has nothing to say yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Literal
from urllib.parse import urlencode

from newsdesk.desk import Desk
from newsdesk.stories import Card

Format = Literal["rss", "atom", "json"]
FORMATS: tuple[Format, ...] = ("rss", "atom", "json")
MEDIA_TYPES: dict[str, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
# Stories a feed holds at most.
FEED_SIZE = 30


def entries(desk: Desk, *, tag: str | None = None, persona: str | None = None) -> list[Card]:
    """The best stories with a brief, filtered by tag or by persona (see Desk.river)."""
    return desk.river(tag=tag, persona=persona, briefed=True, limit=FEED_SIZE).cards


def tldr_html(row: Any) -> str:
    """A brief row's TL;DR as a small HTML fragment, every field escaped, each claim that
    the checker does not support marked as the page marks it ("partly supported",
    "unverified")."""
    from newsdesk.briefs.schema import Brief
    from newsdesk.briefs.writer import split_verdicts
    from newsdesk.grounding import SAID

    tldr = row.brief["tldr"]
    claimed, _, _ = split_verdicts(Brief.model_validate(row.brief), row.verdicts)
    parts = []
    for n, (name, key) in enumerate(
        [
            ("What changed", "what_changed"),
            ("Why it matters", "why_it_matters"),
            ("What to do next", "what_to_do_next"),
        ]
    ):
        verdict = claimed[n] if n < len(claimed) else None
        label = verdict.get("label") if verdict else "supported"
        mark = "" if label == "supported" else f" <em>({escape(SAID[label])})</em>"
        parts.append(f"<p><strong>{name}:</strong> {escape(tldr[key]['text'])}{mark}</p>")
    who = ", ".join(tldr["who_should_care"])
    return "".join(parts) + f"<p><strong>Who should care:</strong> {escape(who)}</p>"


@dataclass
class FeedEntry:
    """One entry of any feed newsdesk writes."""

    url: str
    title: str
    content_html: str
    published: datetime
    updated: datetime
    tags: list[str]


def render(
    desk: Desk,
    fmt: Format,
    base_url: str,
    *,
    tag: str | None = None,
    persona: str | None = None,
) -> str:
    """The feed of stories as text in ``fmt``; ``base_url`` is the site's address (links
    are absolute)."""
    base = base_url.rstrip("/")
    title = "newsdesk" + (f" · #{tag}" if tag else "") + (f" · {persona}" if persona else "")
    chosen = [
        FeedEntry(
            url=f"{base}/stories/{card.story.id}",
            title=card.headline,
            content_html=tldr_html(card.brief),
            published=card.brief.created_at,
            updated=card.story.last_updated_at,
            tags=card.tags,
        )
        for card in entries(desk, tag=tag, persona=persona)
    ]
    return write_feed(fmt, base, title, "Stories and their briefs.", chosen)


def render_recaps(desk: Desk, fmt: Format, base_url: str, *, persona: str = "") -> str:
    """The feed of written recaps (newest period first), the opening and the top stories
    as content."""
    from newsdesk.recap import title_of, to_markdown

    base = base_url.rstrip("/")
    query = "?" + urlencode({"persona": persona}) if persona else ""
    chosen = []
    for row in desk.store.list_recaps(persona=persona, limit=FEED_SIZE):
        content = row.content
        html = "".join(
            f"<p>{escape(line)}</p>" for line in to_markdown(content, base).splitlines() if line
        )
        chosen.append(
            FeedEntry(
                url=f"{base}/recaps/{row.period}{query}",
                title=title_of(content),
                content_html=html,
                published=row.created_at,
                updated=row.created_at,
                tags=[t["tag"] for t in content["themes"]],
            )
        )
    title = "newsdesk recaps" + (f" · {persona}" if persona else "")
    return write_feed(fmt, base, title, "Weekly recaps and daily digests.", chosen)


def write_feed(
    fmt: Format, base: str, title: str, description: str, chosen: list[FeedEntry]
) -> str:
    """RSS 2.0 or Atom (feedgen) or JSON Feed 1.1 of ``chosen``, in that order."""
    if fmt == "json":
        return json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": title,
                "home_page_url": base + "/",
                "items": [
                    {
                        "id": e.url,
                        "url": e.url,
                        "title": e.title,
                        "content_html": e.content_html,
                        "date_published": e.published.isoformat(),
                        "date_modified": e.updated.isoformat(),
                        "tags": e.tags,
                    }
                    for e in chosen
                ],
            },
            ensure_ascii=False,
        )
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(base + "/")
    fg.title(title)
    fg.link(href=base + "/", rel="alternate")
    fg.description(description)
    fg.language("en")
    for e in reversed(chosen):  # feedgen puts the last added entry first
        fe = fg.add_entry()
        fe.id(e.url)
        fe.guid(e.url, permalink=True)
        fe.title(e.title)
        fe.link(href=e.url)
        fe.published(e.published)
        fe.updated(e.updated)
        if fmt == "atom":
            fe.content(e.content_html, type="html")
        else:
            fe.description(e.content_html)
        for name in e.tags:
            fe.category(term=name)
    data: bytes = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    return data.decode("utf-8")
