"""Adaptive polling against a real HTTP server on 127.0.0.1: quiet sources are polled less
often, busy ones more often, and the server's own waits (max-age, <ttl>, Retry-After) are
never cut short."""

from __future__ import annotations

import itertools
from datetime import timedelta

from newsdesk.desk import Desk
from newsdesk.models import utcnow
from newsdesk.polling import next_interval
from newsdesk.settings import Settings

from httpserver import RecordedServer, Reply, Request

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://127.0.0.1/</link><description>d</description>{ttl}{items}</channel></rss>"""


def _items(*ids: int) -> str:
    return "".join(
        f"<item><title>Post {i}</title><link>http://127.0.0.1/p/{i}</link><guid>p{i}</guid></item>"
        for i in ids
    )


def test_interval_rules(settings: Settings) -> None:
    s = settings.with_(fetch_interval=30, poll_min_minutes=5, poll_max_minutes=360)
    assert next_interval(None, s, new_items=3) == 15
    assert next_interval(30, s) == 45
    assert next_interval(30, s, error=True) == 60
    assert next_interval(6, s, new_items=1) == 5 and next_interval(300, s) == 360


def _interval(desk: Desk) -> timedelta:
    source = desk.sources()[0]
    assert source.next_fetch_at is not None and source.last_fetch_at is not None
    return source.next_fetch_at - source.last_fetch_at


def test_a_source_answering_304_is_polled_less_often(
    settings: Settings, http_server: RecordedServer
) -> None:
    def answer(request: Request) -> Reply:
        sent = {k.lower(): v for k, v in request.headers.items()}
        if sent.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"'})
        return Reply(
            200,
            {"ETag": '"v1"', "Content-Type": "application/rss+xml"},
            RSS.format(ttl="", items=_items(1, 2)).encode(),
        )

    http_server.routes["/quiet.xml"] = answer
    desk = Desk(settings)
    desk.add_source(http_server.base_url + "/quiet.xml")
    desk.update(force=True)  # first fetch: two new items
    gaps = []
    for _ in range(6):  # an hour of 304s, fetched as often as asked
        (result,) = desk.update(force=True)
        assert result.not_modified
        gaps.append(_interval(desk))
    assert all(b > a for a, b in itertools.pairwise(gaps[:4]))
    assert gaps[-1] == timedelta(minutes=settings.poll_max_minutes) or gaps[-1] > gaps[0] * 5


def test_a_source_with_new_items_every_time_is_polled_more_often(
    settings: Settings, http_server: RecordedServer
) -> None:
    counter = itertools.count(1)

    def answer(request: Request) -> Reply:
        n = next(counter)
        body = RSS.format(ttl="", items=_items(2 * n, 2 * n + 1)).encode()
        return Reply(200, {"Content-Type": "application/rss+xml"}, body)

    http_server.routes["/busy.xml"] = answer
    desk = Desk(settings.with_(fetch_interval=60))
    desk.add_source(http_server.base_url + "/busy.xml")
    gaps = []
    for _ in range(5):
        (result,) = desk.update(force=True)
        assert result.counts.new == 2
        gaps.append(_interval(desk))
    assert gaps[0] == timedelta(minutes=30)
    assert gaps[-1] == timedelta(minutes=settings.poll_min_minutes)


def test_the_servers_own_waits_are_never_cut_short(
    settings: Settings, http_server: RecordedServer
) -> None:
    rss = {"Content-Type": "application/rss+xml"}
    http_server.routes["/ttl.xml"] = Reply(
        200, rss, RSS.format(ttl="<ttl>180</ttl>", items=_items(1)).encode()
    )
    http_server.routes["/maxage.xml"] = Reply(
        200,
        {**rss, "Cache-Control": "public, max-age=7200"},
        RSS.format(ttl="", items=_items(2)).encode(),
    )
    # Retry-After beyond max_retry_after: the update fails, and the next one waits for it.
    http_server.routes["/busy503.xml"] = Reply(503, {"Retry-After": "86400"})
    desk = Desk(settings.with_(fetch_interval=30, max_retry_after=60))
    for path in ("/ttl.xml", "/maxage.xml", "/busy503.xml"):
        desk.add_source(http_server.base_url + path)
    before = utcnow()
    results = {r.source.url.rsplit("/", 1)[1]: r for r in desk.update(force=True)}
    assert results["busy503.xml"].error and "86400" in results["busy503.xml"].error
    due = {s.url.rsplit("/", 1)[1]: s.next_fetch_at for s in desk.sources()}
    assert due["ttl.xml"] >= before + timedelta(minutes=180)
    assert due["maxage.xml"] >= before + timedelta(seconds=7200)
    assert due["busy503.xml"] >= before + timedelta(seconds=86400)  # Retry-After wins
    assert len(http_server.requests) == 3  # no retry inside the update either
    assert desk.due_sources() == []
