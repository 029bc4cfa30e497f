"""Source kinds: each module parses its own format into its own shape, then adapts to Item.

A kind is a class registered with ``@register``. It turns a user's spec (``reddit:LocalLLaMA``,
``hn:top``, ``arxiv:cs.CL``, a URL) into a ``SourceSpec`` and fetches a stored ``Source``
into a ``FetchResult``. Third-party kinds register the same way as the built-in ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from newsdesk.exceptions import UnknownSourceError
from newsdesk.models import Item, Source

if TYPE_CHECKING:
    from newsdesk.fetch import Fetcher, Response
    from newsdesk.settings import Settings


@dataclass
class SourceSpec:
    """What ``sources add`` stores: the kind, the identifying url and a display name."""

    kind: str
    url: str
    name: str


@dataclass
class FetchResult:
    """What one fetch of a source gave.

    ``not_modified`` is true when the server answered 304: nothing to store.
    ``warnings`` holds problems that still let some items through (a malformed feed that
    parsed partially); the update reports them but counts the fetch as a success.
    ``title`` is the source's own name for itself (a feed's title), when it has one.
    ``not_before`` is how many seconds the server asked not to be polled again (Cache-Control
    max-age or Expires, a feed's ``<ttl>``), when it said.
    """

    items: list[Item] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    warnings: list[str] = field(default_factory=list)
    title: str | None = None
    not_before: float | None = None


class SourceKind:
    """Base of the source kinds. Subclasses set the class attributes and two methods."""

    kind: ClassVar[str]
    emoji: ClassVar[str]
    label: ClassVar[str]

    @classmethod
    def parse_spec(cls, spec: str, settings: Settings) -> SourceSpec | None:
        """The SourceSpec for a user's spec, or None when the spec is not of this kind."""
        raise NotImplementedError

    async def fetch(self, source: Source, fetcher: Fetcher, settings: Settings) -> FetchResult:
        """Fetch and parse one source. Raises FetchError or ParseError on failure."""
        raise NotImplementedError

    @staticmethod
    def readable(text: str) -> str:
        """An item's stored text as a reader, and a brief's model, reads it. Most kinds
        store plain text already (a feed's HTML as text, ``sanitize.html_to_text``)."""
        return text


async def conditional_get(
    fetcher: Fetcher, source: Source, url: str, accept: str
) -> tuple[Response, FetchResult]:
    """GET ``url`` with the validators stored for ``source`` (If-None-Match,
    If-Modified-Since), and the ``FetchResult`` it starts: the validators to store next and
    how long the server asked not to be polled. On a 304 the result is ``not_modified``;
    a validator the 304 does not repeat is the stored one, kept (servers often send only
    one of the two again)."""
    response = await fetcher.get(
        url, etag=source.etag, last_modified=source.last_modified, accept=accept
    )
    result = FetchResult(
        etag=response.etag, last_modified=response.last_modified, not_before=response.max_age
    )
    if response.not_modified:
        result.not_modified = True
        result.etag = response.etag or source.etag
        result.last_modified = response.last_modified or source.last_modified
    return response, result


KINDS: dict[str, type[SourceKind]] = {}


def register(cls: type[SourceKind]) -> type[SourceKind]:
    KINDS[cls.kind] = cls
    return cls


def load_builtin_kinds() -> None:
    # Imported for their @register side effect; order decides which kind claims a spec first.
    from newsdesk.sources import arxiv, feed, hackernews, reddit  # noqa: F401


def get_kind(kind: str) -> SourceKind:
    load_builtin_kinds()
    try:
        return KINDS[kind]()
    except KeyError:
        raise UnknownSourceError(kind) from None


def parse_spec(spec: str, settings: Settings) -> SourceSpec:
    """Turn a user's spec into a SourceSpec, asking each registered kind in turn."""
    load_builtin_kinds()
    spec = spec.strip()
    # Short forms first; "feed" claims any http(s) URL, so it goes last.
    for name in sorted(KINDS, key=lambda k: k == "feed"):
        found = KINDS[name].parse_spec(spec, settings)
        if found is not None:
            return found
    raise UnknownSourceError(spec)
