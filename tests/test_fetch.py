"""Fetcher against a real HTTP server on 127.0.0.1: conditional GET, retries, limits, guard."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from newsdesk.exceptions import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirectsError,
)
from newsdesk.fetch import Fetcher, Response, check_host, is_public_address, parse_retry_after
from newsdesk.settings import Settings

from httpserver import RecordedServer, Reply, Request

BLOCKED_URLS = [
    "http://127.0.0.2/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
]


def fetch(settings: Settings, url: str, **kwargs: Any) -> Response:
    async def go() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.get(url, **kwargs)

    return asyncio.run(go())


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The real network transport, noting every URL it is asked to connect to."""

    def __init__(self) -> None:
        super().__init__(retries=0)
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(str(request.url))
        return await super().handle_async_request(request)


def sequence(*replies: Reply) -> tuple[Any, list[float]]:
    """A handler that answers with ``replies`` in turn (the last one forever); arrival times."""
    arrivals: list[float] = []

    def handler(request: Request) -> Reply:
        arrivals.append(time.monotonic())
        return replies[min(len(arrivals), len(replies)) - 1]

    return handler, arrivals


# -- conditional GET, headers ---------------------------------------------------------


def test_conditional_get_sends_validators_and_returns_304(
    settings: Settings, http_server: RecordedServer
) -> None:
    etag, modified = '"v1"', "Wed, 21 Oct 2015 07:28:00 GMT"

    def feed(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, {"ETag": etag, "Last-Modified": modified}, b"<rss/>")

    url = http_server.route("/feed", feed)
    first = fetch(settings, url)
    assert (first.status, first.content, first.etag, first.last_modified) == (
        200,
        b"<rss/>",
        etag,
        modified,
    )
    assert "if-none-match" not in http_server.requests[0].headers

    second = fetch(settings, url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304
    assert second.not_modified
    assert second.content == b""
    sent = http_server.requests[1].headers
    assert sent["if-none-match"] == etag
    assert sent["if-modified-since"] == modified


def test_user_agent_and_accept_are_sent(settings: Settings, http_server: RecordedServer) -> None:
    url = http_server.route("/", Reply(200, body=b"ok"))
    fetch(settings, url, accept="application/json")
    sent = http_server.requests[0].headers
    assert sent["user-agent"] == settings.user_agent
    assert sent["user-agent"].startswith("newsdesk/")
    assert sent["accept"] == "application/json"


# -- retries ------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(settings: Settings, http_server: RecordedServer) -> None:
    handler, arrivals = sequence(Reply(429, {"Retry-After": "1"}), Reply(200, body=b"at last"))
    url = http_server.route("/busy", handler)
    response = fetch(settings, url)
    assert response.content == b"at last"
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.9


def test_retry_after_longer_than_max_fails_at_once(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route("/later", Reply(429, {"Retry-After": "3600"}))
    with pytest.raises(HTTPStatusError) as caught:
        fetch(settings.with_(max_retry_after=60), url)
    assert caught.value.status == 429
    assert "asked to wait 3600 s" in str(caught.value)
    assert "max_retry_after" in str(caught.value)
    assert len(http_server.requests) == 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(
        format_datetime(now + timedelta(seconds=30), usegmt=True), now=now
    ) == pytest.approx(30)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-5") == 0.0
    for unreadable in (None, "", "soon", "nan"):
        assert parse_retry_after(unreadable) is None


def test_503_then_200_succeeds(settings: Settings, http_server: RecordedServer) -> None:
    handler, arrivals = sequence(Reply(503), Reply(200, body=b"back"))
    url = http_server.route("/flaky", handler)
    assert fetch(settings, url).content == b"back"
    assert len(arrivals) == 2


def test_500_every_time_fails_after_all_retries(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route("/broken", Reply(500, body=b"oops"))
    with pytest.raises(HTTPStatusError) as caught:
        fetch(settings, url)
    assert caught.value.status == 500
    assert len(http_server.requests) == settings.retries + 1


def test_404_is_not_retried(settings: Settings, http_server: RecordedServer) -> None:
    url = http_server.route("/gone", Reply(404))
    with pytest.raises(HTTPStatusError) as caught:
        fetch(settings, url)
    assert caught.value.status == 404
    assert len(http_server.requests) == 1


def test_connection_refused_is_retried_then_fails(settings: Settings) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as caught:
        fetch(settings.with_(retries=2), f"http://127.0.0.1:{port}/")
    assert "ConnectError" in str(caught.value)
    assert "after 3 tries" in str(caught.value)


def test_server_that_never_answers_times_out(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route("/slow", Reply(200, body=b"late", delay=1.5))
    with pytest.raises(FetchTimeoutError) as caught:
        fetch(settings.with_(read_timeout=0.5), url)
    assert "read_timeout" in str(caught.value)
    assert len(http_server.requests) == 1  # timeouts are not retried


# -- politeness -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2])
def test_host_concurrency_limits_requests_in_flight(
    settings: Settings, http_server: RecordedServer, limit: int
) -> None:
    lock = threading.Lock()
    active = [0]
    most = [0]

    def slow(request: Request) -> Reply:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return Reply(200, body=b"ok")

    url = http_server.route("/slow", slow)

    async def go() -> None:
        async with Fetcher(settings.with_(host_concurrency=limit)) as fetcher:
            await asyncio.gather(*(fetcher.get(url) for _ in range(4)))

    asyncio.run(go())
    assert most[0] == limit


def test_host_delay_spaces_request_starts(settings: Settings, http_server: RecordedServer) -> None:
    handler, arrivals = sequence(Reply(200, body=b"ok"))
    url = http_server.route("/", handler)

    async def go() -> None:
        async with Fetcher(settings.with_(host_delay=0.3, host_concurrency=3)) as fetcher:
            await asyncio.gather(*(fetcher.get(url) for _ in range(3)))

    asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) == 2
    assert all(gap >= 0.25 for gap in gaps)


# -- size limit -------------------------------------------------------------------------------


def test_streamed_body_stops_at_the_limit(settings: Settings, http_server: RecordedServer) -> None:
    sent = [0]

    def fifty_megabytes() -> Iterator[bytes]:
        for _ in range(50):
            sent[0] += 1
            yield b"x" * 1_000_000

    url = http_server.route("/huge", lambda request: Reply(200, body=fifty_megabytes()))
    with pytest.raises(TooLargeError) as caught:
        fetch(settings, url)
    assert "body larger than 10,000,000 bytes (max_body_bytes)" in str(caught.value)
    assert sent[0] < 50  # the server saw the client hang up


def gzip_bomb(megabytes: int) -> Iterator[bytes]:
    """Gzip of ``megabytes`` MB of zeros, made piece by piece (about 1 KB per MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1_000_000)
    for _ in range(megabytes):
        if piece := packer.compress(zeros):
            yield piece
    yield packer.flush()


def test_gzip_bomb_stops_at_the_limit_without_inflating_it(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route(
        "/bomb",
        lambda request: Reply(200, {"Content-Encoding": "gzip"}, body=gzip_bomb(200)),
    )
    limit = 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError) as caught:
            fetch(settings.with_(max_body_bytes=limit), url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "body larger than 1,000,000 bytes (max_body_bytes)" in str(caught.value)
    # Inflating each network read in full (httpx's decoders) peaks near 14 MB here; asking
    # zlib for at most the bytes still allowed keeps the peak near the limit.
    assert peak < 8 * limit


def test_gzip_body_is_returned_decompressed(
    settings: Settings, http_server: RecordedServer
) -> None:
    text = b"<rss>" + b"news " * 10_000 + b"</rss>"
    url = http_server.route(
        "/gz", Reply(200, {"Content-Encoding": "gzip"}, body=zlib.compress(text, wbits=31))
    )
    response = fetch(settings, url)
    assert response.content == text
    assert "content-encoding" not in response.headers
    assert http_server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_content_length_above_the_limit_is_refused(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route("/big", Reply(200, body=b"x" * 1000))
    with pytest.raises(TooLargeError) as caught:
        fetch(settings.with_(max_body_bytes=100), url)
    assert "Content-Length 1,000 is larger than 100 bytes" in str(caught.value)
    assert fetch(settings.with_(max_body_bytes=1000), url).content == b"x" * 1000


# -- redirects and the SSRF guard -------------------------------------------------------------


def test_redirect_within_allowed_host_is_followed(
    settings: Settings, http_server: RecordedServer
) -> None:
    final = http_server.route("/final", Reply(200, body=b"here"))
    http_server.route("/moved", Reply(301, {"Location": "/final"}))
    response = fetch(settings, http_server.base_url + "/moved")
    assert response.content == b"here"
    assert response.url == final
    assert [r.path for r in http_server.requests] == ["/moved", "/final"]


def test_redirect_chain_longer_than_max_redirects_fails(
    settings: Settings, http_server: RecordedServer
) -> None:
    for i in range(4):
        http_server.route(f"/hop{i}", Reply(302, {"Location": f"/hop{i + 1}"}))
    http_server.route("/hop4", Reply(200, body=b"end"))
    start = http_server.base_url + "/hop0"
    assert fetch(settings.with_(max_redirects=4), start).content == b"end"
    with pytest.raises(TooManyRedirectsError) as caught:
        fetch(settings.with_(max_redirects=3), start)
    assert "max_redirects" in str(caught.value)


@pytest.mark.parametrize("target", BLOCKED_URLS)
def test_redirect_to_internal_address_is_refused_before_connecting(
    settings: Settings, http_server: RecordedServer, target: str
) -> None:
    url = http_server.route("/jump", Reply(302, {"Location": target}))
    transport = RecordingTransport()

    async def go() -> None:
        async with Fetcher(settings, transport=transport) as fetcher:
            await fetcher.get(url)

    with pytest.raises(BlockedAddressError) as caught:
        asyncio.run(go())
    assert caught.value.url == target
    assert "redirected from" in str(caught.value)
    assert transport.sent == [url]  # no connection was attempted to the target


@pytest.mark.parametrize("url", [*BLOCKED_URLS, "http://[::1]/", "http://[::ffff:10.0.0.1]/"])
def test_direct_fetch_of_internal_address_is_refused(settings: Settings, url: str) -> None:
    transport = RecordingTransport()

    async def go() -> None:
        async with Fetcher(settings, transport=transport) as fetcher:
            await fetcher.get(url)

    with pytest.raises(BlockedAddressError):
        asyncio.run(go())
    assert transport.sent == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "/relative"])
def test_only_http_and_https_are_fetched(settings: Settings, url: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        fetch(settings, url)


def test_redirect_to_other_scheme_is_refused(
    settings: Settings, http_server: RecordedServer
) -> None:
    url = http_server.route("/file", Reply(302, {"Location": "file:///etc/passwd"}))
    with pytest.raises(FetchError, match="only http and https"):
        fetch(settings, url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1", True),
        ("8.8.8.8", True),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("ff0e::1", False),  # global-scope multicast
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2001:db8::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_allow_hosts_match_exactly() -> None:
    async def check(url: str, allow: list[str]) -> None:
        await check_host(url, allow)

    asyncio.run(check("http://127.0.0.1:8000/", ["127.0.0.1"]))
    asyncio.run(check("http://Feeds.Internal/x", ["feeds.internal"]))  # no lookup needed
    for url in ("http://127.0.0.2/", "http://[::1]/"):
        with pytest.raises(BlockedAddressError, match="allow_hosts"):
            asyncio.run(check(url, ["127.0.0.1"]))
    asyncio.run(check("http://93.184.216.34/", []))


def test_fake_transport_connects_nowhere_so_is_not_guarded(settings: Settings) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"fake " + request.url.host.encode())

    async def go(url: str, limit: int) -> Response:
        fake = httpx.MockTransport(answer)
        async with Fetcher(settings.with_(max_body_bytes=limit), transport=fake) as fetcher:
            return await fetcher.get(url)

    # No DNS lookup of example.com and no connection: the fake answers.
    assert asyncio.run(go("https://example.com/", 100)).content == b"fake example.com"
    with pytest.raises(TooLargeError):
        asyncio.run(go("https://example.com/", 5))


def test_a_304_keeps_the_validator_it_does_not_repeat(
    settings: Settings, http_server: RecordedServer
) -> None:
    """Every source kind's conditional GET (``sources.conditional_get``): the stored
    validators go out, and a 304 that repeats only one of them keeps the other."""
    from newsdesk.models import Source
    from newsdesk.sources import FetchResult, conditional_get

    stamp = "Tue, 02 Dec 2025 10:00:00 GMT"

    def handler(request: Request) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"Last-Modified": stamp, "Cache-Control": "max-age=600"})
        return Reply(200, {"ETag": '"v1"', "Last-Modified": stamp}, b"{}")

    url = http_server.route("/list.json", handler)

    async def get(source: Source) -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return (await conditional_get(fetcher, source, url, "application/json"))[1]

    fresh = Source(id=1, kind="hn", url=url, name="HN top", emoji="🟧")
    first = asyncio.run(get(fresh))
    assert (first.not_modified, first.etag, first.last_modified) == (False, '"v1"', stamp)
    fresh.etag, fresh.last_modified = first.etag, first.last_modified
    again = asyncio.run(get(fresh))
    assert again.not_modified and again.items == []
    assert (again.etag, again.last_modified, again.not_before) == ('"v1"', stamp, 600.0)
    assert http_server.requests[-1].headers["if-modified-since"] == stamp
