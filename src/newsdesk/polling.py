"""Adaptive polling: when to fetch a source next.

Each source keeps its own interval (``sources.poll_minutes``, starting at
``fetch_interval``). After a fetch:

- new items: the interval halves (the source publishes often), down to
  ``poll_min_minutes``;
- nothing new (a 304, or only items already stored): it grows by half, up to
  ``poll_max_minutes``;
- an error: it doubles, up to ``poll_max_minutes``.

The next fetch is then never earlier than what the server asked for: Cache-Control
max-age (or Expires), a feed's ``<ttl>``, and a Retry-After, which always wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsdesk.settings import Settings


def next_interval(
    minutes: float | None,
    settings: Settings,
    *,
    new_items: int = 0,
    error: bool = False,
) -> float:
    """The source's next polling interval in minutes, from its current one."""
    current = float(minutes or settings.fetch_interval)
    low, high = float(settings.poll_min_minutes), float(settings.poll_max_minutes)
    if error:
        current *= 2
    elif new_items > 0:
        current /= 2
    else:
        current *= 1.5
    return round(min(high, max(low, current)), 2)


def next_fetch_at(
    now: datetime,
    minutes: float,
    *,
    not_before: float | None = None,
    retry_after: float | None = None,
) -> datetime:
    """When to fetch next: after the interval, but never before the server's own wait
    (``not_before`` seconds: max-age, ttl) nor, above all, its Retry-After."""
    wait = minutes * 60
    if not_before is not None:
        wait = max(wait, not_before)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + timedelta(seconds=wait)
