"""Offline replay: a manifest of recorded files answers the Fetcher, with no network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsdesk.desk import REPLAY_STARTED, Desk
from newsdesk.exceptions import ReplayMissError, SettingsError, TooLargeError
from newsdesk.fetch import Fetcher, Response
from newsdesk.models import set_now, utcnow
from newsdesk.replay import ReplayTransport, etag_of, load_manifest, read_manifest
from newsdesk.settings import Settings
from newsdesk.web import site_status

FEED_URL = "https://example.com/feed.xml"
LISTING_URL = "https://www.reddit.com/r/LocalLLaMA/new.json"
QUERY_URL = "https://export.arxiv.org/api/query?search_query=cat:cs.CL"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    (tmp_path / "recorded").mkdir()
    (tmp_path / "recorded" / "feed.xml").write_bytes(b"<rss>recorded</rss>")
    (tmp_path / "recorded" / "new.json").write_bytes(b'{"data": {}}')
    (tmp_path / "recorded" / "cs.CL.atom").write_bytes(b"<feed>cs.CL</feed>")
    path = tmp_path / "replay.toml"
    path.write_text(
        f"""
[responses]
"{FEED_URL}" = "recorded/feed.xml"
"{LISTING_URL}" = "recorded/new.json"
"{QUERY_URL}" = "recorded/cs.CL.atom"

[content_types]
"{QUERY_URL}" = "application/atom+xml"
""",
        "utf-8",
    )
    return path


def replay_fetch(settings: Settings, manifest: Path, *urls: str, **kwargs: str) -> list[Response]:
    async def go() -> list[Response]:
        async with Fetcher(settings.with_(replay=str(manifest))) as fetcher:
            return [await fetcher.get(url, **kwargs) for url in urls]

    return asyncio.run(go())


def test_load_manifest_resolves_files_beside_it(manifest: Path) -> None:
    files = load_manifest(manifest)
    assert files[FEED_URL] == manifest.parent / "recorded" / "feed.xml"
    assert set(files) == {FEED_URL, LISTING_URL, QUERY_URL}
    assert read_manifest(manifest).content_types == {QUERY_URL: "application/atom+xml"}


def test_replay_answers_with_the_recorded_file(settings: Settings, manifest: Path) -> None:
    (response,) = replay_fetch(settings, manifest, FEED_URL)
    assert response.status == 200
    assert response.content == b"<rss>recorded</rss>"
    assert response.url == FEED_URL
    assert response.etag == etag_of(b"<rss>recorded</rss>")
    assert response.headers["content-type"] == "application/xml"

    (again,) = replay_fetch(settings, manifest, FEED_URL, etag=response.etag or "")
    assert again.status == 304
    assert again.not_modified


def test_replay_matches_query_exactly_or_ignores_it(settings: Settings, manifest: Path) -> None:
    exact, page2 = replay_fetch(settings, manifest, QUERY_URL, LISTING_URL + "?after=t3_x")
    assert exact.content == b"<feed>cs.CL</feed>"
    assert exact.headers["content-type"] == "application/atom+xml"
    assert page2.content == b'{"data": {}}'  # recorded without a query: any query matches
    with pytest.raises(ReplayMissError):  # recorded with another query: no match
        replay_fetch(settings, manifest, QUERY_URL.replace("cs.CL", "cs.AI"))


def test_unknown_url_is_a_replay_miss(settings: Settings, manifest: Path) -> None:
    with pytest.raises(ReplayMissError) as caught:
        replay_fetch(settings, manifest, "https://example.com/other.xml")
    assert caught.value.url == "https://example.com/other.xml"
    assert "no recording" in str(caught.value)
    assert str(manifest) in str(caught.value)


def test_replay_keeps_the_size_limit(settings: Settings, manifest: Path) -> None:
    with pytest.raises(TooLargeError):
        replay_fetch(settings.with_(max_body_bytes=5), manifest, FEED_URL)


def test_replay_never_resolves_hosts(settings: Settings, manifest: Path) -> None:
    # Without replay, "example.com" would be looked up by the SSRF guard; no guard runs here,
    # so the test passes with no DNS at all, and private hosts in recordings are fine too.
    transport = ReplayTransport(manifest)
    assert transport.find("https://EXAMPLE.com/feed.xml?utm=1") == FEED_URL
    assert transport.find("https://export.arxiv.org/api/query") is None
    (response,) = replay_fetch(settings.with_(allow_hosts=[]), manifest, FEED_URL)
    assert response.status == 200


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "not found"),
        ("[responses\n", "replay manifest"),
        ("[other]\n", "records nothing"),
        ('[responses]\n"https://x/" = 3\n', "must map"),
    ],
)
def test_bad_manifest_is_a_settings_error(tmp_path: Path, text: str | None, problem: str) -> None:
    path = tmp_path / "replay.toml"
    if text is not None:
        path.write_text(text, "utf-8")
    with pytest.raises(SettingsError, match=problem):
        load_manifest(path)


def _feed(*entries: tuple[str, str]) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://example.com/{n}</link>"
        f"<guid>https://example.com/{n}</guid><pubDate>{date}</pubDate>"
        "<description>A post of the recorded feed.</description></item>"
        for n, (title, date) in enumerate(entries)
    )
    channel = f"<channel><title>Lab</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def test_a_replay_takes_its_recordings_moment_as_now(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_bytes(
        _feed(
            ("An hour before the recording", "Fri, 08 Aug 2025 11:10:00 GMT"),
            ("Two days before", "Wed, 06 Aug 2025 12:00:00 GMT"),
            ("Written after the recording", "Mon, 10 Aug 2026 09:00:00 GMT"),
        )
    )
    path = tmp_path / "replay.toml"
    path.write_text(
        f'recorded_at = 2025-08-08T12:10:00Z\n[responses]\n"{FEED_URL}" = "feed.xml"\n', "utf-8"
    )
    desk = Desk(settings.with_(replay=str(path)))
    try:
        recorded = datetime(2025, 8, 8, 12, 10, tzinfo=UTC)
        assert desk.recorded_at == recorded
        assert abs(utcnow() - recorded) < timedelta(minutes=5)
        desk.add_source(FEED_URL)
        (result,) = desk.update(force=True)
        # What the feed dates after the recording was not written yet at that moment.
        assert (result.error, result.counts.new) == (None, 2)
        desk.cluster()
        views = {v.title: v for v in (desk.story(s.id) for s in desk.stories(limit=10))}
        assert set(views) == {"An hour before the recording", "Two days before"}
        assert views["An hour before the recording"].freshness == "Fresh"
        assert views["Two days before"].freshness == "Stale"
        delay = views["An hour before the recording"].collection_delay
        assert delay is not None and timedelta(hours=1) <= delay < timedelta(hours=1, minutes=5)
        assert site_status(desk).startswith("Replaying recordings made 2025-08-08 12:10 UTC")
    finally:
        desk.close()
    set_now(None)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=1)
    # The clock runs on for the data directory, not for one process: a later command (a
    # worker, `newsdesk serve`) reads the time since the directory began replaying.
    marker = settings.data_path / REPLAY_STARTED
    began = datetime.fromisoformat(marker.read_text("utf-8").strip())
    marker.write_text((began - timedelta(hours=2)).isoformat(), "utf-8")
    Desk(settings.with_(replay=str(path))).close()
    assert timedelta(hours=2) <= utcnow() - recorded < timedelta(hours=2, minutes=5)


def test_a_manifest_that_is_gone_leaves_the_system_clock(
    settings: Settings, tmp_path: Path
) -> None:
    desk = Desk(settings.with_(replay=str(tmp_path / "moved.toml")))
    desk.close()
    assert desk.recorded_at is None
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=1)


@pytest.mark.parametrize("value", ["2025-08-08T12:10:00", '"yesterday"'])
def test_a_recording_moment_needs_its_offset(tmp_path: Path, value: str) -> None:
    path = tmp_path / "replay.toml"
    path.write_text(f'recorded_at = {value}\n[responses]\n"{FEED_URL}" = "feed.xml"\n', "utf-8")
    with pytest.raises(SettingsError, match="recorded_at must be a date and time with its offset"):
        read_manifest(path)
