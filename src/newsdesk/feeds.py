"""Feeds of stories: RSS 2.0 and Atom (feedgen) and JSON Feed 1.1, of all stories or of
one tag or persona, each entry's content the story's TL;DR.

Only stories with a brief are in a feed: a feed reader keeps what it reads once, and a
story without its brief has nothing to say yet.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Literal

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


def tldr_html(brief: dict[str, Any]) -> str:
    """The TL;DR as a small HTML fragment, every field escaped."""
    tldr = brief["tldr"]
    parts = [
        ("What changed", tldr["what_changed"]["text"]),
        ("Why it matters", tldr["why_it_matters"]["text"]),
        ("What to do next", tldr["what_to_do_next"]["text"]),
        ("Who should care", ", ".join(tldr["who_should_care"])),
    ]
    return "".join(f"<p><strong>{escape(k)}:</strong> {escape(v)}</p>" for k, v in parts)


def render(
    desk: Desk,
    fmt: Format,
    base_url: str,
    *,
    tag: str | None = None,
    persona: str | None = None,
) -> str:
    """The feed as text in ``fmt``; ``base_url`` is the site's address (links are absolute)."""
    base = base_url.rstrip("/")
    title = "newsdesk" + (f" · #{tag}" if tag else "") + (f" · {persona}" if persona else "")
    chosen = entries(desk, tag=tag, persona=persona)
    if fmt == "json":
        return json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": title,
                "home_page_url": base + "/",
                "items": [
                    {
                        "id": e.story.id,
                        "url": f"{base}/stories/{e.story.id}",
                        "title": e.hook,
                        "content_html": tldr_html(e.brief.brief),
                        "date_published": e.brief.created_at.isoformat(),
                        "date_modified": e.story.last_updated_at.isoformat(),
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
    fg.description("Stories and their briefs, from the sources this desk watches.")
    fg.language("en")
    for e in reversed(chosen):  # feedgen puts the last added entry first
        fe = fg.add_entry()
        url = f"{base}/stories/{e.story.id}"
        fe.id(url)
        fe.guid(url, permalink=True)
        fe.title(e.hook)
        fe.link(href=url)
        fe.published(e.brief.created_at)
        fe.updated(e.story.last_updated_at)
        if fmt == "atom":
            fe.content(tldr_html(e.brief.brief), type="html")
        else:
            fe.description(tldr_html(e.brief.brief))
        for name in e.tags:
            fe.category(term=name)
    data: bytes = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    return data.decode("utf-8")
