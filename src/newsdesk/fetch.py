"""HTTP fetching: polite, bounded and guarded.

``Fetcher.get`` is how newsdesk downloads anything. Each call

- refuses URLs that are not http(s), and hosts that resolve to any address that is not
  public (the SSRF guard), on the first request and again on every redirect hop;
- waits its turn per host: ``host_concurrency`` requests in flight, ``host_delay`` seconds
  between two request starts;
- retries network errors, 5xx, 429 and 503 with jittered exponential backoff, honouring
  Retry-After up to ``max_retry_after`` seconds;
- stops reading a body as soon as its decompressed size passes ``max_body_bytes``.

With the ``replay`` setting, answers come from recorded files (``newsdesk.replay``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import random
import re
import socket
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from newsdesk.exceptions import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirectsError,
)
from newsdesk.replay import ReplayTransport
from newsdesk.settings import Settings

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# Only what _Inflater decodes: a body in another encoding could not be size-checked.
_ACCEPT_ENCODING = "gzip, deflate"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass
class Response:
    """A final answer: 2xx with its decompressed body, or 304 with none."""

    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def max_age(self) -> float | None:
        """Seconds the answer stays fresh: Cache-Control max-age (s-maxage), else Expires
        minus Date; None when the server did not say."""
        control = self.headers.get("cache-control", "")
        found = re.search(r"(?:s-maxage|max-age)\s*=\s*(\d+)", control, re.IGNORECASE)
        if found:
            return float(found.group(1))
        expires = self.headers.get("expires")
        if expires:
            try:
                until = parsedate_to_datetime(expires)
                sent = parsedate_to_datetime(self.headers.get("date") or expires)
            except (TypeError, ValueError, IndexError):
                return None
            if until.tzinfo is not None and sent.tzinfo is not None:
                return max(0.0, (until - sent).total_seconds())
        return None


# -- SSRF guard -------------------------------------------------------------------------


def is_public_address(address: str | IPAddress) -> bool:
    """Whether ``address`` is globally routable: not loopback, private, link-local, etc.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by the
    IPv4 address they lead to.
    """
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 scope id
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def check_host(url: str, allow_hosts: Collection[str] = ()) -> None:
    """Refuse ``url`` unless every address its host resolves to is public or allowed.

    A host name or address listed in ``allow_hosts`` (exact match) passes. IP literals are
    judged as they are; names are resolved first, and one bad address is enough to refuse,
    since the connection could go to any of them.

    Raises:
        BlockedAddressError: the host is, or resolves to, a non-public address.
        FetchError: the URL has no host, or the host does not resolve.
    """
    parsed = httpx.URL(url)
    host = parsed.host.lower()
    if not host:
        raise FetchError(url, "the URL has no host")
    allowed = {h.strip().lower() for h in allow_hosts}
    if host in allowed:
        return
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(url, parsed)
    for address in addresses:
        if str(address) not in allowed and not is_public_address(address):
            where = "" if str(address) == host else f" resolves to {address}, which"
            raise BlockedAddressError(
                url,
                f"{host}{where} is not a public address; refused to protect local services "
                "(list it in allow_hosts to fetch it anyway)",
            )


async def _resolve(url: str, parsed: httpx.URL) -> list[IPAddress]:
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise FetchError(url, f"cannot resolve {parsed.host}: {e}") from e
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise FetchError(url, f"{parsed.host} resolves to no address")
    return addresses


# -- retries ----------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date); None if unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# -- bounded decompression --------------------------------------------------------------


class _Inflater:
    """Decompresses gzip or deflate, never producing more bytes than asked for.

    httpx's own decoders inflate each network read in full; a 64 KiB read of a gzip bomb is
    64 MiB. Asking zlib for at most limit + 1 bytes keeps memory at the size limit.
    """

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self._deflate else zlib.MAX_WBITS | 16
        self._zlib = zlib.decompressobj(wbits)
        self._started = False

    def inflate(self, data: bytes, max_length: int) -> bytes:
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error:
            if not (self._deflate and not self._started):
                raise
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, max_length)
        self._started = True
        return out

    def flush(self) -> bytes:
        return self._zlib.flush()


def _content_length(headers: httpx.Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_body(response: httpx.Response, url: str, limit: int) -> bytes:
    too_large = f"body larger than {limit:,} bytes (max_body_bytes)"
    if response.is_stream_consumed:
        # A fake transport's ready-made answer (httpx.Response(content=...)): in memory already.
        if len(response.content) > limit:
            raise TooLargeError(url, too_large)
        return response.content
    header = response.headers.get("content-encoding", "")
    encodings = [e.strip().lower() for e in header.split(",")]
    encodings = [e for e in encodings if e and e != "identity"]
    inflater: _Inflater | None = None
    if not encodings:
        length = _content_length(response.headers)
        if length is not None and length > limit:
            raise TooLargeError(
                url, f"Content-Length {length:,} is larger than {limit:,} bytes (max_body_bytes)"
            )
    elif len(encodings) == 1 and encodings[0] in {"gzip", "x-gzip", "deflate"}:
        inflater = _Inflater("deflate" if encodings[0] == "deflate" else "gzip")
    else:
        raise FetchError(url, f"unsupported Content-Encoding {header!r}")

    body = bytearray()
    try:
        async for raw in response.aiter_raw():
            chunk = raw if inflater is None else inflater.inflate(raw, limit - len(body) + 1)
            body += chunk
            if len(body) > limit:
                raise TooLargeError(url, too_large)
        if inflater is not None:
            body += inflater.flush()
    except zlib.error as e:
        raise FetchError(url, f"cannot decompress the {encodings[0]} body: {e}") from e
    if len(body) > limit:
        raise TooLargeError(url, too_large)
    return bytes(body)


# -- politeness -------------------------------------------------------------------------


class _HostGate:
    """Per-host politeness: a limit on requests in flight, a gap between request starts."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self._delay = max(0.0, delay)
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            wait = self._next_start - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start = loop.time() + self._delay

    def hold_off(self, seconds: float) -> None:
        """No request to this host starts for ``seconds`` (the server asked so)."""
        self._next_start = max(self._next_start, asyncio.get_running_loop().time() + seconds)


# -- the fetcher ------------------------------------------------------------------------


class Fetcher:
    """Downloads with the politeness, limits and SSRF guard of ``settings``.

    One Fetcher serves a whole update run: it keeps connections and per-host state. Use it
    as an async context manager, or call ``aclose``.

    Args:
        settings: user_agent, timeouts, size and redirect limits, retries, politeness,
            allow_hosts and replay are read from here.
        transport: send requests through this httpx transport instead of the network. The
            SSRF guard checks hosts for network transports (httpx.AsyncHTTPTransport and its
            subclasses); others, such as ReplayTransport or httpx.MockTransport, connect
            nowhere. Default: ReplayTransport when ``settings.replay`` is set, else network.
    """

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        if transport is None and settings.replay:
            transport = ReplayTransport(settings.replay)
        if transport is None:
            # httpx's own retries cover connect errors only; ours know Retry-After and 5xx.
            transport = httpx.AsyncHTTPTransport(retries=0)
        self._guarded = isinstance(transport, httpx.AsyncHTTPTransport)
        # Recorded files need no politeness: nothing reaches the host.
        self._polite = not isinstance(transport, ReplayTransport)
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,  # every hop goes through the SSRF guard in get()
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.read_timeout,
            ),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": _ACCEPT_ENCODING},
            # No proxies from the environment: the guard checks the address that this
            # machine connects to, which a proxy would replace with its own.
            trust_env=False,
        )
        self._gates: dict[str, _HostGate] = {}

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
    ) -> Response:
        """Download ``url``, following redirects.

        Args:
            url: an http or https URL.
            etag: the ETag of the copy at hand, sent as If-None-Match.
            last_modified: its Last-Modified, sent as If-Modified-Since.
            accept: the Accept header, such as "application/json".

        Returns:
            The final response: a 2xx with its decompressed body, or a 304 (``not_modified``)
            with none. ``Response.url`` is the URL after redirects.

        Raises:
            BlockedAddressError: the URL or a redirect leads to a non-public address.
            TooLargeError: the decompressed body passed ``max_body_bytes``.
            TooManyRedirectsError: more than ``max_redirects`` redirects.
            FetchTimeoutError: connecting or reading took too long.
            HTTPStatusError: the final status is not 2xx or 304.
            ReplayMissError: in replay mode, the URL has no recording.
            FetchError: any other failure (bad URL, scheme, network error after retries).
        """
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept

        current = url
        redirects = 0
        while True:
            target = await self._vet(current, origin=url)
            response = await self._get_with_retries(target, current, headers)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                break
            try:
                next_url = str(target.join(location))
            except httpx.InvalidURL as e:
                raise FetchError(current, f"redirect to an invalid URL {location!r}") from e
            if redirects >= self.settings.max_redirects:
                raise TooManyRedirectsError(
                    url,
                    f"more than {self.settings.max_redirects} redirects (max_redirects); "
                    f"the last one went to {next_url}",
                )
            redirects += 1
            log.debug("%s redirects (%d) to %s", current, response.status, next_url)
            current = next_url
        if response.status != 304 and not 200 <= response.status < 300:
            raise HTTPStatusError(current, response.status)
        return response

    async def _vet(self, url: str, *, origin: str) -> httpx.URL:
        """Parse ``url`` and pass it through the scheme check and the SSRF guard."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as e:
            raise FetchError(url, f"invalid URL: {e}") from e
        if target.scheme not in {"http", "https"}:
            scheme = f"{target.scheme}:" if target.scheme else "a relative URL"
            raise FetchError(url, f"only http and https URLs are fetched, not {scheme}")
        if self._guarded:
            try:
                await check_host(url, self.settings.allow_hosts)
            except BlockedAddressError as e:
                if url != origin:
                    e.args = (f"{e} (redirected from {origin})",)
                raise
        return target

    async def _get_with_retries(
        self, target: httpx.URL, url: str, headers: dict[str, str]
    ) -> Response:
        """One hop: the response (any status below 400), after retries where they help."""
        retries = max(0, self.settings.retries)
        attempt = 0
        while True:
            final = attempt >= retries
            try:
                response = await self._send_politely(target, url, headers)
            except httpx.TimeoutException as e:
                # Not retried: each try may already have waited read_timeout seconds, and
                # a host that slow now is seldom fast a moment later; the next update retries.
                raise FetchTimeoutError(url, self._timeout_message(e)) from e
            except (httpx.NetworkError, httpx.RemoteProtocolError) as e:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                if final:
                    raise FetchError(url, f"{reason} (after {attempt + 1} tries)") from e
                await self._pause(url, reason, self._backoff(attempt), attempt)
                attempt += 1
                continue
            except httpx.TransportError as e:  # unsupported protocol, bad request, proxy
                raise FetchError(url, f"{type(e).__name__}: {e}") from e

            status = response.status
            if status < 400:
                return response
            if status in _RETRY_AFTER_STATUSES:
                asked = parse_retry_after(response.headers.get("retry-after"))
                if asked is not None and asked > self.settings.max_retry_after:
                    raise HTTPStatusError(
                        url,
                        status,
                        f"the server asked to wait {asked:.0f} s, longer than "
                        f"max_retry_after ({self.settings.max_retry_after:g} s); "
                        "the next update tries again",
                        retry_after=asked,
                    )
                delay = asked if asked is not None else self._backoff(attempt)
                if asked is not None and self._polite:
                    self._gate(target.host).hold_off(asked)
            elif status >= 500:
                delay = self._backoff(attempt)
            else:
                raise HTTPStatusError(url, status)
            if final:
                raise HTTPStatusError(url, status, f"still failing after {attempt + 1} tries")
            await self._pause(url, f"HTTP {status}", delay, attempt)
            attempt += 1

    async def _send_politely(
        self, target: httpx.URL, url: str, headers: dict[str, str]
    ) -> Response:
        if not self._polite:
            return await self._send(target, url, headers)
        gate = self._gate(target.host)
        async with gate.slots:
            await gate.wait_turn()
            return await self._send(target, url, headers)

    async def _send(self, target: httpx.URL, url: str, headers: dict[str, str]) -> Response:
        log.debug("GET %s", url)
        async with self._client.stream("GET", target, headers=headers) as r:
            content = b""
            if 200 <= r.status_code < 300:
                content = await _read_body(r, url, self.settings.max_body_bytes)
        # The headers describe the content as returned: decompressed, and of its own length.
        received = httpx.Headers(r.headers)
        received.pop("content-encoding", None)
        received.pop("content-length", None)
        return Response(url, r.status_code, received, content)

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = _HostGate(self.settings.host_concurrency, self.settings.host_delay)
            self._gates[host] = gate
        return gate

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, so that clients do not retry in step."""
        ceiling = min(self.settings.backoff_base * 2**attempt, self.settings.max_retry_after)
        return random.uniform(0, max(0.0, ceiling))

    async def _pause(self, url: str, reason: str, delay: float, attempt: int) -> None:
        log.info(
            "%s: %s; retry %d of %d in %.2f s",
            url,
            reason,
            attempt + 1,
            self.settings.retries,
            delay,
        )
        await asyncio.sleep(delay)

    def _timeout_message(self, error: httpx.TimeoutException) -> str:
        if isinstance(error, httpx.ConnectTimeout):
            return f"no connection within {self.settings.connect_timeout:g} s (connect_timeout)"
        if isinstance(error, httpx.ReadTimeout):
            return f"no data for {self.settings.read_timeout:g} s (read_timeout)"
        return f"{type(error).__name__}: {error}"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
