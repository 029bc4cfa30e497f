"""The records that flow between stages: what a source yields and what the store holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_shift = timedelta(0)


def utcnow() -> datetime:
    """Now in UTC: the system clock, or the moment that ``set_now`` chose, run on since."""
    return datetime.now(UTC) + _shift


def set_now(moment: datetime | None) -> None:
    """Make ``utcnow`` read ``moment`` (timezone-aware) from here on, the clock then running.

    A replay of recordings made at one moment sets it (its manifest's ``recorded_at``), so
    that their posts are as fresh, and their stories as new, as they were then. None: the
    system clock again.
    """
    global _shift
    _shift = timedelta(0) if moment is None else moment - datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Timezone-aware UTC; a naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def counted(n: int, noun: str) -> str:
    """A number with its noun, plural but for one: "1 source", "2 sources", "1 story",
    "3,417 stories"."""
    if n == 1:
        return f"{n:,} {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n:,} {plural}"


@dataclass
class Item:
    """One post, entry or article as every source kind adapts it.

    ``external_id`` is unique across all sources: kinds with global ids namespace them
    (``reddit:t3_abc``, ``hn:8863``, ``arxiv:2401.01234``); feeds use the entry's guid.
    """

    external_id: str
    title: str
    url: str | None = None
    canonical_url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    text: str = ""
    html: str = ""
    score: int | None = None
    comment_count: int | None = None
    language: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    # A link post or a summary-only entry whose article text is still to be extracted.
    needs_extraction: bool = False

    def content_hash(self) -> str:
        """Hash of what a reader sees; a change means the item was edited."""
        digest = hashlib.sha256()
        for part in (self.title, self.url or "", self.text):
            digest.update(part.encode("utf-8", "replace"))
            digest.update(b"\x00")
        return digest.hexdigest()


@dataclass
class Source:
    """A stored source: where to fetch, and how the last fetches went."""

    id: int
    kind: str
    url: str
    name: str
    emoji: str
    enabled: bool = True
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: datetime | None = None
    next_fetch_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    extract: bool = True
    poll_minutes: float | None = None  # its adaptive polling interval (newsdesk.polling)
