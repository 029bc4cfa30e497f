from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.exceptions import HTTPStatusError, ParseError
from newsdesk.fetch import Fetcher
from newsdesk.models import Source
from newsdesk.settings import Settings
from newsdesk.sources import FetchResult, parse_spec
from newsdesk.sources.hackernews import HackerNewsKind, adapt, parse_id_list, parse_item

from httpserver import RecordedServer, Reply

SAMPLE_IDS = [8863, 121003, 192327, 126809, 160705, 2921983]


@pytest.fixture
def hn_data(shared_data: Path) -> Path:
    return shared_data / "api-samples" / "hackernews"


def _item(hn_data: Path, item_id: int) -> bytes:
    return (hn_data / f"item_{item_id}.json").read_bytes()


@pytest.mark.parametrize(
    ("spec", "url", "name"),
    [
        ("hn", "https://news.ycombinator.com/news", "HN top"),
        ("hn:top", "https://news.ycombinator.com/news", "HN top"),
        ("hn:new", "https://news.ycombinator.com/newest", "HN new"),
        ("hn:best", "https://news.ycombinator.com/best", "HN best"),
        ("hn:ask", "https://news.ycombinator.com/ask", "HN ask"),
        ("hn:show", "https://news.ycombinator.com/show", "HN show"),
        ("https://news.ycombinator.com/", "https://news.ycombinator.com/news", "HN top"),
        ("https://news.ycombinator.com/newest", "https://news.ycombinator.com/newest", "HN new"),
    ],
)
def test_parse_spec(settings: Settings, spec: str, url: str, name: str) -> None:
    found = HackerNewsKind.parse_spec(spec, settings)
    assert found is not None
    assert (found.kind, found.url, found.name) == ("hn", url, name)
    assert HackerNewsKind.parse_spec(found.url, settings) == found
    assert parse_spec(spec, settings) == found


@pytest.mark.parametrize(
    "spec",
    [
        "hn:jobs",
        "hn:",
        "hnx",
        "https://news.ycombinator.com/item?id=8863",
        "https://news.ycombinator.com/rss",
        "reddit:LocalLLaMA",
    ],
)
def test_parse_spec_rejects(settings: Settings, spec: str) -> None:
    assert HackerNewsKind.parse_spec(spec, settings) is None


def test_story_adapts(hn_data: Path) -> None:
    story = parse_item(_item(hn_data, 8863))
    assert story is not None
    item = adapt(story)
    assert item.external_id == "hn:8863"
    assert item.title == "My YC app: Dropbox - Throw away your USB drive"
    assert item.url == "http://www.getdropbox.com/u/2/screencast.html"
    assert item.canonical_url == "http://www.getdropbox.com/u/2/screencast.html"
    assert item.author == "dhouston"
    assert item.published_at == datetime.fromtimestamp(1175714200, UTC)
    assert (item.score, item.comment_count) == (111, 71)
    assert item.needs_extraction
    assert item.text == "" and item.html == ""
    assert len(story.kids) == 33


def test_ask_hn_gets_the_discussion_url_and_text(hn_data: Path) -> None:
    story = parse_item(_item(hn_data, 121003))
    assert story is not None and story.url is None
    item = adapt(story)
    assert item.url == "https://news.ycombinator.com/item?id=121003"
    assert item.title.startswith("Ask HN")
    assert not item.needs_extraction
    assert (item.score, item.comment_count) == (25, 16)
    raw = json.loads(_item(hn_data, 121003))["text"]
    # The API's HTML becomes paragraphs of text and a sanitized fragment.
    assert "<p>" in raw and "<" not in item.text
    assert item.text.count("\n\n") == raw.count("<p>")
    assert item.html.startswith("<i>") and "<p>" in item.html


@pytest.mark.parametrize("item_id", [192327, 126809, 160705, 2921983])
def test_non_stories_are_skipped(hn_data: Path, item_id: int) -> None:
    # job, poll, pollopt, comment
    assert parse_item(_item(hn_data, item_id)) is None


def test_missing_dead_and_malformed_items() -> None:
    assert parse_item(b"null") is None
    base = {"id": 1, "type": "story", "title": "t", "time": 1175714200}
    assert parse_item(json.dumps({**base, "dead": True})) is None
    assert parse_item(json.dumps({**base, "deleted": True})) is None
    assert parse_item(json.dumps(base)) is not None
    with pytest.raises(ParseError):
        parse_item(b"[1, 2]", "https://hn/item/1.json")
    with pytest.raises(ParseError):
        parse_item(b'{"type": "story"}', "https://hn/item/1.json")
    with pytest.raises(ParseError):
        parse_id_list(b"{}", "https://hn/topstories.json")
    # The docs' elided list is not JSON: a parse error, not a crash.
    with pytest.raises(ParseError):
        parse_id_list(b"[ 9129911, 9129199, ..., 9038733 ]", "https://hn/topstories.json")


def _fetch(
    settings: Settings, url: str = "https://news.ycombinator.com/news", **kw: str
) -> FetchResult:
    source = Source(id=7, kind="hn", url=url, name="HN top", emoji="🟧", **kw)

    async def go() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await HackerNewsKind().fetch(source, fetcher, settings)

    return asyncio.run(go())


def test_fetch_keeps_stories_and_warns_on_failed_items(
    hn_data: Path, http_server: RecordedServer, settings: Settings
) -> None:
    missing = 99999999
    ids = [*SAMPLE_IDS, missing, 1, 2]  # 1 and 2 fall past hn_max_items
    http_server.route(
        "/topstories.json",
        Reply(
            200, {"Content-Type": "application/json", "ETag": '"top1"'}, json.dumps(ids).encode()
        ),
    )
    for item_id in SAMPLE_IDS:
        http_server.file(
            f"/item/{item_id}.json", hn_data / f"item_{item_id}.json", "application/json"
        )
    settings = settings.with_(hn_base_url=http_server.base_url, hn_max_items=7, retries=0)
    result = _fetch(settings, etag='"top0"')

    assert [i.external_id for i in result.items] == ["hn:8863", "hn:121003"]
    assert len(result.warnings) == 1 and str(missing) in result.warnings[0]
    assert result.etag == '"top1"'
    paths = sorted(r.path for r in http_server.requests)
    assert "/item/1.json" not in paths and f"/item/{missing}.json" in paths
    assert http_server.requests[0].headers.get("if-none-match") == '"top0"'


def test_fetch_other_lists_and_failures(
    hn_data: Path, http_server: RecordedServer, settings: Settings
) -> None:
    http_server.route("/askstories.json", Reply(200, {}, b"[121003]"))
    http_server.file("/item/121003.json", hn_data / "item_121003.json", "application/json")
    settings = settings.with_(hn_base_url=http_server.base_url, retries=0)
    result = _fetch(settings, "https://news.ycombinator.com/ask")
    assert [i.url for i in result.items] == ["https://news.ycombinator.com/item?id=121003"]

    http_server.route("/showstories.json", Reply(304))
    assert _fetch(settings, "https://news.ycombinator.com/show", etag='"x"').not_modified

    # The list itself failing fails the fetch.
    with pytest.raises(HTTPStatusError):
        _fetch(settings, "https://news.ycombinator.com/best")
    http_server.route("/newstories.json", Reply(200, {}, b"<html>"))
    with pytest.raises(ParseError):
        _fetch(settings, "https://news.ycombinator.com/newest")
