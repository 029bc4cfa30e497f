from __future__ import annotations

import html as html_lib
import io
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from newsdesk.extract import extract_article, normalize_language
from newsdesk.sanitize import html_to_text

from httpserver import RecordedServer, Reply


def _page(title: str, body: str, extra_head: str = "") -> str:
    """A page as a site would serve it: navigation, the article, a footer, a script."""
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{html_lib.escape(title)} | Site</title>
<link rel="canonical" href="/articles/canonical-slug">
<meta property="article:published_time" content="2026-08-21T13:45:00Z">{extra_head}
<script>window.tracker = "TRACKER-CODE";</script></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav>
<article><h1>{html_lib.escape(title)}</h1>{body}</article>
<footer><p>Copyright Example Media. All rights reserved. Subscribe to the newsletter.</p></footer>
</body></html>"""


@pytest.fixture
def hn_articles(shared_data: Path) -> list[tuple[str, str, str]]:
    """(title, link, article html) of Hacker News entries with a long fetched article."""
    path = shared_data / "rss-ai-feeds" / "head" / "feed_hackernews.xml"
    parsed = feedparser.parse(io.BytesIO(path.read_bytes()), sanitize_html=False)
    found = [
        (e.title, e.link, e.content[0].value)
        for e in parsed.entries
        if "content" in e and len(html_to_text(e.content[0].value)) > 3000
    ]
    assert len(found) >= 10
    return found[:10]


def test_extract_real_articles(hn_articles: list[tuple[str, str, str]]) -> None:
    for title, link, body in hn_articles:
        result = extract_article(_page(title, body), link)
        assert result is not None, link
        source_text = html_to_text(body)
        # most of the article comes back, and the chrome around it does not
        assert len(result.text) >= 0.5 * len(source_text), link
        longest = max(source_text.split("\n\n"), key=len)[:60]
        assert longest in result.text, link
        for chrome in ("TRACKER-CODE", "All rights reserved"):
            assert chrome not in result.text and chrome not in result.html
        assert "<script" not in result.html
        assert result.title and title.split()[0] in result.title
        assert result.language == "en-gb"
        assert result.canonical_url is not None
        assert result.canonical_url.endswith("/articles/canonical-slug")
        assert result.published_at is not None and result.published_at.tzinfo == UTC


def test_extract_date_and_canonical(hn_articles: list[tuple[str, str, str]]) -> None:
    title, _, body = hn_articles[0]
    result = extract_article(_page(title, body), "https://news.example/a/1?utm_source=x")
    assert result is not None
    assert result.canonical_url == "https://news.example/articles/canonical-slug"
    assert result.published_at is not None
    assert result.published_at.date() == datetime(2026, 8, 21, tzinfo=UTC).date()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "garbage",
        "\x00\xff\xfe",
        "<html>",
        "<<<>>>" * 1000,
        "<html><body><nav><a href='/'>Home</a></nav></body></html>",
        '<?xml version="1.0" encoding="latin-1"?><html><body><p>x</p></body></html>',
        "<div>" * 5000,
    ],
)
def test_extract_garbage_gives_none(garbage: str) -> None:
    assert extract_article(garbage, "https://example.com/") is None


def test_extract_bad_types_and_urls() -> None:
    assert extract_article(None, "https://example.com/") is None  # type: ignore[arg-type]
    assert extract_article(b"<p>bytes</p>", "https://example.com/") is None  # type: ignore[arg-type]
    body = "<p>" + "A sentence that says something about the topic at hand. " * 20 + "</p>"
    result = extract_article(_page("T", body), "not a url")
    assert result is None or "sentence" in result.text


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("en", "en"),
        ("en_US", "en-us"),
        (" de-DE ", "de-de"),
        ("fr, en", "fr"),
        ("", None),
        (None, None),
        ("en us", None),
        ("x" * 50, None),
    ],
)
def test_normalize_language(value: str | None, tag: str | None) -> None:
    assert normalize_language(value) == tag


def test_a_linked_articles_own_date_dates_its_passages_and_relative_days(
    tmp_path: Path, http_server: RecordedServer
) -> None:
    """A post links an essay written years before it: the essay's own date (its page's
    published time) is stored with its text, dates its passages in a brief's pack, and is
    the day its "yesterday" counts from, not the day of the post."""
    from newsdesk.briefs.pack import build_pack
    from newsdesk.briefs.writer import evidence_timeline
    from newsdesk.desk import Desk
    from newsdesk.settings import Settings

    body = (
        "<p>We started the project as a weekend experiment with a tiny parser.</p>"
        "<p>Yesterday we released version one of the compiler to everyone who asked.</p>"
        + "<p>The compiler reads the source, checks the types and writes machine code.</p>"
        * 8
    )
    page = _page("Our compiler, one year on", body).replace("2026-08-21T13:45:00Z", "2019-03-04")
    http_server.route("/essay", Reply(200, {"Content-Type": "text/html"}, page.encode()))
    feed = (
        "<rss version='2.0'><channel><title>Links</title><item><title>Our compiler, one "
        f"year on</title><guid>e1</guid><link>{http_server.base_url}/essay</link>"
        "<pubDate>Sat, 22 Aug 2026 10:00:00 GMT</pubDate><description>A link.</description>"
        "</item></channel></rss>"
    )
    http_server.route(
        "/links.xml", Reply(200, {"Content-Type": "application/rss+xml"}, feed.encode())
    )
    settings = Settings.load(
        env={}, data_dir=tmp_path, allow_hosts=["127.0.0.1"], host_delay=0.0, extract_articles=False
    )
    desk = Desk(settings)
    try:
        desk.add_source(f"{http_server.base_url}/links.xml")
        desk.update()
        (row,) = desk.store.recent_items(10)
        assert desk.extract_item(row.id)
        (row,) = desk.store.recent_items(10)
        assert row.article_published_at.date() == datetime(2019, 3, 4).date()
        assert row.published_at.date() == datetime(2026, 8, 22).date()
        pack = build_pack([row], 10_000, lambda text: len(text) // 4)
        assert {p.date for p in pack.passages} == {"2019-03-04"}
        days = [entry.date.isoformat() for entry, _ in evidence_timeline(pack, 5)]
        assert days == ["2019-03-03"]
    finally:
        desk.close()
