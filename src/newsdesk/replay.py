"""Offline replay: answer fetches from recorded files instead of the network.

A manifest is a TOML file that maps URLs to recorded bodies::

    [responses]
    "https://www.reddit.com/r/LocalLLaMA/new.json" = "reddit/new.json"
    "https://export.arxiv.org/api/query?search_query=cat:cs.CL" = "arxiv/cs.CL.xml"

    [content_types]                       # optional; otherwise guessed from the file name
    "https://www.reddit.com/r/LocalLLaMA/new.json" = "application/json"

An optional top-level ``recorded_at = 2025-08-08T12:10:00Z`` (written before any table)
says when the recordings were made: a desk replaying them takes that moment as now
(``models.set_now``), so their posts are as fresh as they were then, and what a recording
dates after it (a feed recorded later) is not published yet and is left out.

Relative file paths resolve against the manifest's folder. A request matches an entry with
the same URL, query included; failing that, an entry without a query whose scheme, host and
path match (so one recording of a listing answers every page of it). Setting
``NEWSDESK_REPLAY`` to a manifest makes ``Fetcher`` use ``ReplayTransport``: nothing touches
the network.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from newsdesk.exceptions import ReplayMissError, SettingsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Manifest:
    """A parsed replay manifest: recorded files and content types by URL, as written."""

    path: Path
    responses: dict[str, Path]
    content_types: dict[str, str] = field(default_factory=dict)
    recorded_at: datetime | None = None


def read_manifest(path: Path | str) -> Manifest:
    """Parse a replay manifest.

    Raises:
        SettingsError: the file is missing, is not TOML, or has no ``[responses]`` table.
    """
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as e:
        raise SettingsError(
            f"replay manifest {path} not found: set NEWSDESK_REPLAY to a manifest, "
            "or to nothing to fetch live"
        ) from e
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"replay manifest {path}: {e}") from e
    responses = _string_table(data, "responses", path)
    if not responses:
        raise SettingsError(
            f'replay manifest {path} records nothing: add a [responses] table of "url" = "file"'
        )
    recorded_at = data.get("recorded_at")
    if recorded_at is not None and (
        not isinstance(recorded_at, datetime) or recorded_at.tzinfo is None
    ):
        raise SettingsError(
            f"replay manifest {path}: recorded_at must be a date and time with its offset, "
            "such as 2025-08-08T12:10:00Z"
        )
    folder = path.parent
    return Manifest(
        path=path,
        responses={url: folder / Path(file).expanduser() for url, file in responses.items()},
        content_types=_string_table(data, "content_types", path),
        recorded_at=None if recorded_at is None else recorded_at.astimezone(UTC),
    )


def load_manifest(path: Path | str) -> dict[str, Path]:
    """The recorded file of every URL in a replay manifest (relative paths resolved).

    Raises:
        SettingsError: the manifest cannot be read (see ``read_manifest``).
    """
    return read_manifest(path).responses


def _string_table(data: dict[str, object], name: str, path: Path) -> dict[str, str]:
    table = data.get(name, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise SettingsError(f'replay manifest {path}: [{name}] must map "url" = "text"')
    return {str(k): str(v) for k, v in table.items()}


def _url_key(url: httpx.URL, *, query: bool) -> str:
    port = f":{url.port}" if url.port is not None else ""
    key = f"{url.scheme}://{url.raw_host.decode('ascii').lower()}{port}{url.path or '/'}"
    if query and url.query:
        key += "?" + url.query.decode("ascii")
    return key


def etag_of(data: bytes) -> str:
    """The ETag that replay gives a recorded body: its quoted SHA-256."""
    return '"' + hashlib.sha256(data).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


class ReplayTransport(httpx.AsyncBaseTransport):
    """An httpx transport that answers from the files of a replay manifest.

    Every recorded URL answers 200 with the file's bytes and an ETag (its SHA-256), or 304
    to a matching If-None-Match; any other URL raises ReplayMissError.
    """

    def __init__(self, manifest: Manifest | Path | str) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
        self._exact: dict[str, str] = {}
        self._by_path: dict[str, str] = {}
        for url in self.manifest.responses:
            parsed = httpx.URL(url)
            self._exact.setdefault(_url_key(parsed, query=True), url)
            if not parsed.query:
                self._by_path.setdefault(_url_key(parsed, query=False), url)

    def find(self, url: httpx.URL | str) -> str | None:
        """The manifest URL that answers ``url``, or None."""
        url = httpx.URL(url)
        return self._exact.get(_url_key(url, query=True)) or self._by_path.get(
            _url_key(url, query=False)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        recorded = self.find(request.url)
        if recorded is None:
            raise ReplayMissError(url, f"no recording in {self.manifest.path}")
        file = self.manifest.responses[recorded]
        try:
            data = file.read_bytes()
        except OSError as e:
            raise ReplayMissError(
                url, f"the recording {file} listed in {self.manifest.path} cannot be read: {e}"
            ) from e
        etag = etag_of(data)
        if _matches(request.headers.get("if-none-match", ""), etag):
            log.debug("replay %s: 304 (%s)", url, file)
            return httpx.Response(304, headers={"ETag": etag}, request=request)
        content_type = (
            self.manifest.content_types.get(recorded)
            or mimetypes.guess_type(file.name)[0]
            or "application/octet-stream"
        )
        log.debug("replay %s: %s", url, file)
        # A stream, not content=: httpx reads content= at once, and the Fetcher streams.
        return httpx.Response(
            200,
            headers={
                "Content-Type": content_type,
                "Content-Length": str(len(data)),
                "ETag": etag,
            },
            stream=httpx.ByteStream(data),
            request=request,
        )
