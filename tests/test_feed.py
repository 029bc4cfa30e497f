from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import lxml.html
import pytest

from newsdesk.exceptions import ParseError
from newsdesk.fetch import Fetcher
from newsdesk.models import Item, Source
from newsdesk.settings import Settings
from newsdesk.sources import FetchResult, get_kind
from newsdesk.sources.feed import FeedKind, ParsedFeed, adapt, parse_feed
from newsdesk.urls import canonicalize

from httpserver import RecordedServer, Reply, Request

FEED_URL = "https://blog.example/feed.xml"

# What must never reach Item.html, whatever the feed carries.
FORBIDDEN_TAGS = {"script", "style", "iframe", "object", "embed", "meta", "link", "form", "svg"}
SAFE_SCHEMES = {"", "http", "https", "mailto"}


def unsafe_parts(html: str) -> list[str]:
    """The forbidden elements, handlers, styles and URL schemes left in ``html``."""
    if not html.strip():
        return []
    found = []
    for el in lxml.html.fragment_fromstring(html, create_parent="div").iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in FORBIDDEN_TAGS:
            found.append(tag)
        for name, value in el.attrib.items():
            if name.startswith("on") or name == "style":
                found.append(name)
            if name in {"href", "src"}:
                scheme = value.strip().partition(":")[0].lower() if ":" in value else ""
                if scheme not in SAFE_SCHEMES and "/" not in scheme:
                    found.append(f"{name}={value[:30]}")
    return found


def _items(data: bytes, url: str = FEED_URL, headers: dict[str, str] | None = None) -> list[Item]:
    return adapt(parse_feed(data, url, headers), url)


def _rss(items: str, channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Blog</title><link>https://blog.example/</link>{channel}"
        f"{items}</channel></rss>"
    ).encode()


# --- feedparser's test corpus: robustness over 2,107 edge cases ----------------------------

SUITE_DIRS = ["encoding", "entities", "illformed", "json", "wellformed"]
# Floors measured on the corpus (files giving items); a regression fails here.
ITEM_FLOORS = {"encoding": 14, "entities": 3, "illformed": 13, "json": 1, "wellformed": 1164}


def _simulated_headers(data: bytes) -> dict[str, str]:
    # Some files carry "Header: Content-type: ..." lines: the HTTP headers they expect.
    found = re.findall(rb"Header:\s*([\w-]+):\s*([^\r\n]*)", data[:2000])
    return {k.decode(): v.decode().strip() for k, v in found}


@pytest.mark.parametrize("directory", SUITE_DIRS)
def test_feedparser_suite(shared_data: Path, directory: str) -> None:
    root = shared_data / "feedparser-testsuite" / "tests" / directory
    files = sorted(p for p in root.rglob("*") if p.suffix in {".xml", ".json"})
    assert files
    outcome: Counter[str] = Counter()
    missing: list[str] = []
    for path in files:
        data = path.read_bytes()
        url = f"http://example.org/{directory}/{path.name}"
        headers = _simulated_headers(data)
        try:
            items = _items(data, url, headers)
        except ParseError:
            outcome["parse_error"] += 1
            continue
        outcome["items" if items else "empty"] += 1
        for item in items:
            assert item.external_id.startswith("feed:")
            assert not unsafe_parts(item.html), (path, item.html)
            assert item.url is None or item.url.startswith(("http://", "https://")), path
            assert item.published_at is None or item.published_at.tzinfo == UTC
        if directory == "wellformed" and path.suffix == ".xml":
            # Every well-formed file feedparser finds entries in gives as many Items.
            reference = feedparser.parse(io.BytesIO(data), response_headers=headers or None)
            if reference.entries and len(items) != len(reference.entries):
                missing.append(path.name)
    assert not missing
    assert outcome["items"] >= ITEM_FLOORS[directory], outcome
    assert sum(outcome.values()) == len(files)


def test_feedparser_suite_json_example(shared_data: Path) -> None:
    data = (shared_data / "feedparser-testsuite" / "tests" / "json" / "example.json").read_bytes()
    parsed = parse_feed(data, "https://example.org/feed.json")
    assert (parsed.format, parsed.title, parsed.bozo) == ("json10", "My Example Feed", False)
    second, first = adapt(parsed, "https://example.org/feed.json")
    assert second.external_id == "feed:https://example.org/feed.json#2"
    assert second.url == "https://example.org/second-item"
    assert second.text == "This is a second item."
    assert first.author == "you"
    assert first.text == "Hello, world!"
    assert "script" not in first.html and "alert" not in first.html


# --- feed-rs fixtures: titles, links and dates against another parser's gold --------------

# Fields where feedparser and feed-rs legitimately disagree, per fixture.
FEEDRS_SKIPS = {
    "atom_xml_base.xml": ("link", "no <link>: feedparser takes the URL-shaped id as the link"),
    "rss_2.0_spec_1.xml": ("link", "no <link>: feedparser takes the permalink guid (RSS 2.0)"),
    "rss_1.0_example_1.xml": ("date", "offset '+00:0' is invalid; feedparser still reads it"),
    "rss_2.0_ilmessaggero.xml": ("date", "Italian day/month names: feedparser gives none"),
    "rss_2.0_nbcny.xml": ("date", "'Sat, Dec 16 2023 02:02:33 PM': feed-rs gives none"),
}


def _gold_date(entry: dict[str, object]) -> datetime | None:
    value = entry.get("published") or entry.get("updated")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def test_feedrs_fixtures(shared_data: Path) -> None:
    root = shared_data / "feedrs-fixtures" / "fixture"
    golds = sorted(root.rglob("*.serde.json"))
    assert len(golds) == 64
    compared = 0
    for gold_path in golds:
        stem = gold_path.name.removesuffix(".serde.json")
        source = next(p for p in gold_path.parent.glob(stem + ".*") if p != gold_path)
        gold = json.loads(gold_path.read_text("utf-8"))
        url = f"https://fixtures.example/{source.name}"
        items = _items(source.read_bytes(), url)
        assert len(items) == len(gold["entries"]), source.name
        skipped = FEEDRS_SKIPS.get(source.name, ("", ""))[0]
        for entry, item in zip(gold["entries"], items, strict=True):
            title = (entry.get("title") or {}).get("content")
            if title is not None:
                assert item.title == " ".join(title.split()), source.name
            if skipped != "link":
                links = [canonicalize(urljoin(url, link["href"])) for link in entry["links"]]
                if links:
                    assert item.url is not None and canonicalize(item.url) in links, source.name
                else:
                    assert item.url is None, source.name
            if skipped != "date":
                got = item.published_at.replace(microsecond=0) if item.published_at else None
                want = _gold_date(entry)
                assert got == (want.replace(microsecond=0) if want else None), source.name
            compared += 1
    assert compared >= 100


def test_feedrs_invalid_feed(shared_data: Path) -> None:
    # Reuters: the server failed mid-render, so the channel never closes and has no item.
    path = shared_data / "feedrs-fixtures" / "fixture" / "rss2" / "rss_2.0_invalid_1.xml"
    with pytest.raises(ParseError, match=r"not a feed: .*no element found"):
        parse_feed(path.read_bytes(), FEED_URL)


# --- real full-content feeds -------------------------------------------------------------

AI_FEED_COUNTS = {
    "head/feed_ai_research.xml": 50,
    "head/feed_anthropic_news.xml": 22,
    "head/feed_anthropic_research.xml": 16,
    "head/feed_anthropic_red.xml": 12,
    "head/feed_openai_research.xml": 50,
    "head/feed_openai_alignment.xml": 21,
    "head/feed_mistral_news.xml": 50,
    "head/feed_xai_news.xml": 50,
    "head/feed_thinkingmachines.xml": 7,
    "head/feed_hackernews.xml": 50,
    "head/feed_digg_tech.xml": 20,
    "head/feed_piratewires.xml": 50,
    "head/feed_arenamag.xml": 50,
    "head/feed_steve_jobs_archive_stories.xml": 4,
    "snapshot_2025-08-08/feed_anthropic_news.xml": 105,
    "snapshot_2025-02-01/feed_openai_research.xml": 163,
}
# Entries the feed itself repeats (same guid twice).
AI_FEED_REPEATS = {"head/feed_arenamag.xml": 1}


@pytest.mark.parametrize(("name", "count"), sorted(AI_FEED_COUNTS.items()))
def test_rss_ai_feeds(shared_data: Path, name: str, count: int) -> None:
    url = f"https://feeds.example/{name}"
    parsed = parse_feed((shared_data / "rss-ai-feeds" / name).read_bytes(), url)
    assert not parsed.bozo, parsed.bozo_message
    assert parsed.format == "rss20"
    items = adapt(parsed, url)
    assert len(items) == count
    assert len({i.external_id for i in items}) == count - AI_FEED_REPEATS.get(name, 0)
    for item in items:
        assert item.title and item.text
        assert item.url and item.url.startswith("https://")
        assert item.canonical_url == canonicalize(item.url)
        assert item.published_at and item.published_at.tzinfo == UTC
        assert item.language == "en"
        assert not unsafe_parts(item.html)
    if name.startswith("head/"):
        # full content:encoded text: nothing left to extract for most entries
        assert sum(i.needs_extraction for i in items) <= 1
    else:
        # these snapshots carry a one-line description only
        assert all(i.needs_extraction for i in items)


# --- shapes, ids, dates ----------------------------------------------------------------


def test_external_ids() -> None:
    items = _items(
        _rss(
            "<item><title>a</title><guid>https://blog.example/p/1</guid></item>"
            "<item><title>b</title><guid isPermaLink='false'>1234</guid></item>"
            "<item><title>c</title><guid>urn:uuid:42</guid></item>"
            "<item><title>d</title><link>/p/4</link></item>"
            "<item><title>e</title><pubDate>Thu, 01 Jan 2004 19:48:21 GMT</pubDate></item>"
        )
    )
    ids = [i.external_id for i in items]
    assert ids[0] == "feed:https://blog.example/p/1"
    assert ids[1] == f"feed:{FEED_URL}#1234"
    assert ids[2] == "feed:urn:uuid:42"
    assert ids[3] == f"feed:{FEED_URL}#https://blog.example/p/4"
    assert re.fullmatch(rf"feed:{re.escape(FEED_URL)}#[0-9a-f]{{40}}", ids[4])
    assert len(set(ids)) == 5


def test_dates_are_utc() -> None:
    (item,) = _items(
        _rss("<item><title>t</title><pubDate>Sat, 03 Feb 2024 10:30:00 +0200</pubDate></item>")
    )
    assert item.published_at == datetime(2024, 2, 3, 8, 30, tzinfo=UTC)


def test_atom_updated_stands_in_for_published() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de-DE"><title>A</title>'
        b"<entry><id>tag:x,2024:1</id><title type='html'>Fish &amp;amp; &lt;b&gt;chips&lt;/b&gt;"
        b"</title><link href='https://a.example/1'/><updated>2024-05-06T07:08:09Z</updated>"
        b"<author><name>Ann</name></author><content type='html'>&lt;p&gt;Body&lt;/p&gt;"
        b"</content></entry></feed>"
    )
    (item,) = _items(atom)
    assert item.external_id == "feed:tag:x,2024:1"
    assert item.title == "Fish & chips"
    assert item.published_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert (item.author, item.language, item.text) == ("Ann", "de-de", "Body")


def test_needs_extraction_only_for_short_summaries() -> None:
    short, full, linkless = _items(
        _rss(
            "<item><title>s</title><link>https://blog.example/s</link>"
            "<description>A teaser.</description></item>"
            "<item><title>f</title><link>https://blog.example/f</link>"
            "<description>A teaser.</description>"
            "<content:encoded><![CDATA[<p>The whole article.</p>]]></content:encoded></item>"
            "<item><title>n</title><description>A note without a link.</description></item>"
        )
    )
    assert short.needs_extraction and short.text == "A teaser."
    assert not full.needs_extraction and full.text == "The whole article."
    assert not linkless.needs_extraction


def test_json_feed_1_1(shared_data: Path) -> None:
    path = shared_data / "feedrs-fixtures" / "fixture" / "jsonfeed" / "jsonfeed_elastic_1.1.json"
    parsed = parse_feed(path.read_bytes(), "https://www.elastic.co/feed.json")
    assert parsed.format == "json11" and len(parsed.entries) == 3
    first = adapt(parsed, "https://www.influxdata.com/feed.json")[0]
    # an RFC 822 date where RFC 3339 belongs: read anyway
    assert first.published_at == datetime(2019, 5, 31, 19, 17, 58, tzinfo=UTC)
    assert first.author == "Chris Churilo, Fake Author 1"  # 1.1 "authors" over 1.0 "author"
    assert first.language == "en-us"
    assert first.title == "InfluxDB vs. Graphite for Time Series Data & Metrics Benchmark"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"garbage \x00\xff\xfe",
        b"<html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
        b"<rss><channel><title>no item, and broken",
        b'{"not": "a feed"}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}',
        b'{"items": [1, 2',
        b"[1, 2, 3]",
    ],
)
def test_not_a_feed(data: bytes) -> None:
    with pytest.raises(ParseError) as e:
        _items(data)
    assert e.value.url == FEED_URL


def test_bytes_that_name_a_file_are_not_opened(tmp_path: Path) -> None:
    local = tmp_path / "secret.xml"
    local.write_bytes(_rss("<item><title>secret</title></item>"))
    with pytest.raises(ParseError):
        parse_feed(str(local).encode(), FEED_URL)


def test_partial_feed_is_bozo_with_entries() -> None:
    data = _rss("<item><title>one</title><link>https://blog.example/1</link></item>").replace(
        b"</channel></rss>", b"<item><title>two &bogus; <b></item>"
    )
    parsed = parse_feed(data, FEED_URL)
    assert parsed.bozo and parsed.bozo_message
    assert [i.title for i in adapt(parsed, FEED_URL)][:1] == ["one"]


def test_adapt_never_raises_other_errors() -> None:
    assert adapt(ParsedFeed(title=None, link=None), FEED_URL) == []


# --- hostile content ---------------------------------------------------------------------

HOSTILE = """
<p>Readable words stay.</p>
<script>document.cookie</script>
<img src="https://img.example/a.png" onerror="alert('img')">
<a href="javascript:alert('link')">click here</a>
<a href="data:text/html,<script>alert(1)</script>">data link</a>
<iframe src="https://evil.example/">frame body</iframe>
<style>body { display: none }</style>
<p style="color: red" onclick="steal()">Second paragraph.</p>
<svg onload="alert(2)"><circle/></svg>
<a href="/relative">relative link</a>
"""


def test_hostile_html_is_sanitized() -> None:
    feed = _rss(
        "<item><title>Hostile</title><link>https://blog.example/post</link>"
        f"<content:encoded><![CDATA[{HOSTILE}]]></content:encoded></item>"
    )
    (item,) = _items(feed)
    assert not unsafe_parts(item.html), item.html
    for word in ("alert", "cookie", "steal", "display", "frame body"):
        assert word not in item.html and word not in item.text
    assert 'href="https://blog.example/relative"' in item.html
    assert 'rel="noopener noreferrer nofollow"' in item.html
    assert '<img src="https://img.example/a.png">' in item.html
    assert "Readable words stay." in item.text and "Second paragraph." in item.text
    assert "click here" in item.text and "relative link" in item.text


def test_entry_link_must_be_web_url() -> None:
    (item,) = _items(_rss("<item><title>x</title><link>javascript:alert(1)</link></item>"))
    assert item.url is None and item.canonical_url is None


# --- the source kind ---------------------------------------------------------------------


def test_parse_spec(settings: Settings) -> None:
    spec = FeedKind.parse_spec(" https://Blog.example/feed.xml ", settings)
    assert spec is not None
    assert (spec.kind, spec.url, spec.name) == (
        "feed",
        "https://Blog.example/feed.xml",
        "blog.example",
    )
    for other in ("reddit:LocalLLaMA", "ftp://x.example/feed", "blog.example/feed", "https://"):
        assert FeedKind.parse_spec(other, settings) is None
    assert isinstance(get_kind("feed"), FeedKind)
    assert (FeedKind.kind, FeedKind.emoji, FeedKind.label) == ("feed", "📰", "Feed")


def _fetch(settings: Settings, source: Source) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await FeedKind().fetch(source, fetcher, settings)

    try:
        return asyncio.run(go())
    except NotImplementedError:
        pytest.skip("newsdesk.fetch.Fetcher.get is not implemented yet")


def _source(url: str, etag: str | None = None) -> Source:
    return Source(id=1, kind="feed", url=url, name="test", emoji="📰", etag=etag)


@pytest.fixture
def news_feed(shared_data: Path) -> Path:
    return shared_data / "rss-ai-feeds" / "head" / "feed_anthropic_news.xml"


def test_fetch_feed(settings: Settings, http_server: RecordedServer, news_feed: Path) -> None:
    url = http_server.file("/feed.xml", news_feed, "application/rss+xml", ETag='"v1"')
    result = _fetch(settings, _source(url))
    assert len(result.items) == 22 and result.etag == '"v1"'
    assert not result.warnings and not result.not_modified
    assert "application/rss+xml" in http_server.requests[0].headers["accept"]


def test_fetch_discovers_feed_in_html(
    settings: Settings, http_server: RecordedServer, news_feed: Path
) -> None:
    feed_url = http_server.file("/feed.xml", news_feed, "application/rss+xml", ETag='"v1"')
    page = (
        "<!doctype html><html><head><title>Blog</title>"
        '<link rel="stylesheet" href="/style.css">'
        '<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">'
        "</head><body><p>Welcome</p></body></html>"
    )
    page_url = http_server.route(
        "/", Reply(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())
    )
    result = _fetch(settings, _source(page_url))
    assert result.warnings == [f"discovered feed at {feed_url}"]
    assert len(result.items) == 22
    assert result.items[0].external_id.startswith("feed:https://www.anthropic.com/")
    assert result.etag is None  # the feed's validator is not the page's


def test_fetch_page_without_feed(settings: Settings, http_server: RecordedServer) -> None:
    page = b"<!doctype html><html><body><p>No feed here</p></body></html>"
    url = http_server.route("/", Reply(200, {"Content-Type": "text/html"}, page))
    with pytest.raises(ParseError):
        _fetch(settings, _source(url))


def test_fetch_not_modified(
    settings: Settings, http_server: RecordedServer, news_feed: Path
) -> None:
    body = news_feed.read_bytes()

    def conditional(request: Request) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"'})
        return Reply(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, body)

    url = http_server.route("/feed.xml", conditional)
    first = _fetch(settings, _source(url))
    assert len(first.items) == 22 and first.etag == '"v1"'
    second = _fetch(settings, _source(url, etag=first.etag))
    assert second.not_modified and second.items == []
    assert second.etag == '"v1"'
