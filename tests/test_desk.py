"""The update pipeline end to end: real HTTP server on 127.0.0.1, real store, real data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdesk.desk import Desk
from newsdesk.settings import Settings
from newsdesk.store import Store

from httpserver import RecordedServer, Reply

LISTINGS = ("new.2025-07-02_3fa9caf5.json", "new.2025-07-24_58cd14b3.json", "new.head.json")


def _ids(listing: Path) -> set[str]:
    data = json.loads(listing.read_bytes())
    return {"reddit:" + child["data"]["name"] for child in data["data"]["children"]}


def _scores(listing: Path) -> dict[str, int]:
    data = json.loads(listing.read_bytes())
    return {"reddit:" + c["data"]["name"]: c["data"]["score"] for c in data["data"]["children"]}


@pytest.fixture
def desk(settings: Settings, database_url: str) -> Desk:
    return Desk(settings, Store(database_url))


def test_reddit_listings_oldest_first_give_the_union(
    desk: Desk, shared_data: Path, http_server: RecordedServer
) -> None:
    folder = shared_data / "reddit-localllama" / "listings"
    desk.settings = desk.settings.with_(reddit_base_url=http_server.base_url)
    source = desk.add_source("reddit:LocalLLaMA")
    expected: set[str] = set()
    for name in LISTINGS:
        http_server.file("/r/LocalLLaMA/new.json", folder / name, "application/json")
        [result] = desk.update(sources=[desk.store.get_source(source.id)])
        assert result.error is None
        expected |= _ids(folder / name)
    stored = set(desk.store.iter_external_ids())
    assert stored == expected
    assert desk.stats()["items"] == len(expected)

    # The hot listing shares 65 posts with the newest `new` listing, 38 with other scores:
    # those rows are updated in place, never duplicated.
    hot_listing = folder / "hot.head.json"
    http_server.file("/r/LocalLLaMA/hot.json", hot_listing, "application/json")
    hot = desk.add_source("reddit:LocalLLaMA/hot")
    [again] = desk.update(sources=[hot])
    hot_scores = _scores(hot_listing)
    shared = expected & set(hot_scores)
    assert len(shared) == 65
    assert again.counts.new == len(set(hot_scores) - expected)
    rescored = sum(
        desk.store.get_item(eid).score != score
        for eid, score in _scores(folder / "new.head.json").items()
        if eid in shared
    )
    assert rescored == 38
    assert again.counts.updated >= rescored
    assert all(desk.store.get_item(eid).score == hot_scores[eid] for eid in hot_scores)
    assert desk.stats()["items"] == len(expected | set(hot_scores))


def test_one_failing_source_never_stops_the_others(
    desk: Desk, shared_data: Path, http_server: RecordedServer
) -> None:
    feeds = shared_data / "rss-ai-feeds" / "head"
    good = http_server.file(
        "/anthropic.xml", feeds / "feed_anthropic_news.xml", "application/rss+xml"
    )
    bad = http_server.route("/broken.xml", Reply(500, body=b"boom"))
    junk = http_server.route("/junk.xml", Reply(200, {"Content-Type": "text/plain"}, b"\x00\x01"))
    for url in (good, bad, junk):
        desk.add_source(url)
    results = {r.source.url: r for r in desk.update()}
    assert results[good].error is None
    assert results[good].counts.new == 22
    assert "500" in (results[bad].error or "")
    assert results[junk].error
    listed = {s.url: s for s in desk.sources()}
    assert (listed[bad].error_count, listed[good].error_count) == (1, 0)
    assert listed[bad].last_error == results[bad].error

    # The next run of a failing source counts again; a success resets it.
    desk.update(force=True)
    assert desk.store.get_source(bad).error_count == 2
    http_server.route(
        "/broken.xml",
        Reply(200, {"Content-Type": "application/rss+xml"}, feeds / "feed_xai_news.xml"),
    )
    desk.update(force=True)
    fixed = desk.store.get_source(bad)
    assert (fixed.error_count, fixed.last_error) == (0, None)


def test_unchanged_feed_is_a_conditional_get(
    desk: Desk, shared_data: Path, http_server: RecordedServer
) -> None:
    path = shared_data / "rss-ai-feeds" / "head" / "feed_mistral_news.xml"
    etag = '"v1"'

    def conditional(request: object) -> Reply:
        if getattr(request, "headers", {}).get("if-none-match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, {"ETag": etag, "Content-Type": "application/rss+xml"}, path)

    url = http_server.route("/mistral.xml", conditional)
    desk.add_source(url)
    [first] = desk.update()
    assert first.counts.new == 50
    [second] = desk.update(force=True)
    assert second.not_modified
    assert (second.counts.new, second.counts.updated) == (0, 0)
    assert http_server.requests[-1].headers.get("if-none-match") == etag
    assert desk.stats()["items"] == 50


def test_due_sources_wait_for_the_interval(desk: Desk, http_server: RecordedServer) -> None:
    url = http_server.route(
        "/empty.xml",
        Reply(
            200,
            {"Content-Type": "application/rss+xml"},
            b"<rss version='2.0'><channel><title>t</title></channel></rss>",
        ),
    )
    desk.add_source(url)
    assert len(desk.due_sources()) == 1
    desk.update()
    assert desk.due_sources() == []
    assert len(desk.due_sources(force=True)) == 1


def test_import_reddit_dump_twice(desk: Desk, shared_data: Path) -> None:
    dump = shared_data / "reddit-localllama" / "posts.jsonl.gz"
    first = desk.import_reddit(dump)
    assert first.counts.new == 3747
    assert first.bad_lines == 0
    assert first.source.name == "r/LocalLLaMA"
    second = desk.import_reddit(dump)
    assert second.counts.new == 0
    assert second.counts.unchanged == 3747
    assert desk.stats() == {"sources": 1, "items": 3747, "stories": 0, "briefs": 0, "recaps": 0}


def test_import_reports_bad_lines(desk: Desk, tmp_path: Path, shared_data: Path) -> None:
    import gzip

    src = shared_data / "reddit-localllama" / "posts.jsonl.gz"
    with gzip.open(src, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(3)]
    dump = tmp_path / "dump.jsonl"
    dump.write_text(lines[0] + "{not json\n" + lines[1] + "[1, 2]\n" + lines[2], "utf-8")
    result = desk.import_reddit(dump)
    assert (result.counts.new, result.bad_lines) == (3, 2)


def test_opml_round_trip(desk: Desk, http_server: RecordedServer) -> None:
    desk.add_source(http_server.base_url + "/a.xml", name="Feed A")
    desk.add_source("reddit:LocalLLaMA")
    data = desk.export_opml()
    other = Desk(desk.settings.with_(data_dir=desk.settings.data_path / "other"))
    added = other.import_opml(data)
    assert [getattr(s, "name", None) for s in added] == ["Feed A"]
    other.close()


def test_feed_title_names_the_source_unless_the_user_did(
    desk: Desk, shared_data: Path, http_server: RecordedServer
) -> None:
    feed = shared_data / "rss-ai-feeds" / "head" / "feed_thinkingmachines.xml"
    plain = http_server.file("/tm.xml", feed, "application/rss+xml")
    named = http_server.file("/tm2.xml", feed, "application/rss+xml")
    desk.add_source(plain)
    desk.add_source(named, name="My lab feed")
    desk.update()
    names = {s.url: s.name for s in desk.sources()}
    assert names[named] == "My lab feed"
    assert names[plain] not in {"127.0.0.1", ""}
    import feedparser

    assert names[plain] == " ".join(feedparser.parse(feed.read_bytes()).feed.title.split())


def test_hostile_sources_fail_alone_with_a_clear_error(
    desk: Desk, shared_data: Path, http_server: RecordedServer
) -> None:
    import zlib

    def huge() -> Iterator[bytes]:
        for _ in range(50):  # 50 MB, streamed, no Content-Length
            yield b"<rss>" + b" " * (1_000_000 - 5)

    def bomb() -> Iterator[bytes]:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
        for _ in range(200):  # 200 MB of zeros inflated, about 200 KB on the wire
            yield packer.compress(b"\0" * 1_000_000)
        yield packer.flush()

    feeds = shared_data / "rss-ai-feeds" / "head"
    urls = {
        "good": http_server.file("/ok.xml", feeds / "feed_xai_news.xml", "application/rss+xml"),
        "huge": http_server.route("/huge.xml", lambda _r: Reply(200, {}, huge())),
        "bomb": http_server.route(
            "/bomb.xml", lambda _r: Reply(200, {"Content-Encoding": "gzip"}, bomb())
        ),
        "metadata": http_server.route(
            "/meta.xml", Reply(302, {"Location": "http://169.254.169.254/latest/meta-data"})
        ),
        "private": http_server.route("/private.xml", Reply(302, {"Location": "http://10.0.0.1/"})),
        "loopback": http_server.route("/lo.xml", Reply(302, {"Location": "http://127.0.0.2/"})),
    }
    for url in urls.values():
        desk.add_source(url)
    results = {r.source.url: r for r in desk.update()}
    assert results[urls["good"]].counts.new == 50
    for name in ("huge", "bomb"):
        assert "max_body_bytes" in (results[urls[name]].error or ""), name
    for name in ("metadata", "private", "loopback"):
        assert "not a public address" in (results[urls[name]].error or ""), name
    stored = {s.url: s for s in desk.sources()}
    assert all(stored[urls[n]].error_count == 1 for n in urls if n != "good")
    assert desk.stats()["items"] == 50
