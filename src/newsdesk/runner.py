"""`newsdesk run`: fetch what is due, cluster, write briefs as stories change, sleep until
the next source is due; and `newsdesk status`, what it has to do and how it went.

Each step commits its own work in short transactions (items per batch, a clustering run,
one brief), so a stop at any point leaves nothing half-written: SIGTERM or Ctrl-C sets the
stop flag, the step in progress finishes, and the loop ends; SIGKILL loses at most the step
in progress, which the next start does again (a source whose fetch was not recorded is
still due, unclustered items are still unclustered, a missing brief is still missing).

A store that refuses writes (locked past its busy timeout, or full) fails the cycle, not
the loop: the cycle is recorded as ``failed`` where the store still takes that, the error
is logged and reported, and the next cycle, ``run_idle_seconds`` later, does the work again.
"""

from __future__ import annotations

import logging
import statistics
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from newsdesk.exceptions import StoreError
from newsdesk.models import utcnow

if TYPE_CHECKING:
    from newsdesk.desk import Desk

log = logging.getLogger(__name__)


@dataclass
class Cycle:
    """What one cycle of the loop did; ``run_id`` is None when the store refused to record
    the cycle at all, and ``failed`` says the store stopped it (locked, full)."""

    run_id: int | None
    sources: int = 0
    new_items: int = 0
    clustered: int = 0
    briefs: int = 0
    errors: int = 0
    stopped: bool = False
    failed: bool = False
    messages: list[str] = field(default_factory=list)


class Runner:
    """The loop of `newsdesk run`. ``stop`` ends it after the step in progress."""

    def __init__(self, desk: Desk, stop: threading.Event | None = None) -> None:
        self.desk = desk
        self.stop = stop or threading.Event()

    def cycle(self) -> Cycle:
        cycle = Cycle(None)
        try:
            cycle.run_id = self.desk.store.start_run()
            self._steps(cycle)
        except StoreError as e:
            # Every write is its own transaction: what was stored stays, the rest is still
            # due, unclustered or unbriefed, and the next cycle does it.
            log.error("the cycle failed, the next one tries again: %s", e)
            cycle.failed = True
            cycle.errors += 1
            cycle.messages.append(str(e))
        cycle.stopped = self.stop.is_set()
        if cycle.run_id is not None:
            try:
                self.desk.store.finish_run(
                    cycle.run_id,
                    sources=cycle.sources,
                    new_items=cycle.new_items,
                    clustered=cycle.clustered,
                    briefs=cycle.briefs,
                    errors=cycle.errors,
                    note="failed" if cycle.failed else "stopped" if cycle.stopped else None,
                )
            except StoreError as e:  # it shows as interrupted
                log.error("run %s not recorded as finished: %s", cycle.run_id, e)
        return cycle

    def _steps(self, cycle: Cycle) -> None:
        desk, stop = self.desk, self.stop
        due = desk.due_sources()
        step = max(1, int(desk.settings.update_concurrency))
        for start in range(0, len(due), step):  # a stop waits for one batch at most
            if stop.is_set():
                break
            for result in desk.update(sources=due[start : start + step]):
                cycle.sources += 1
                cycle.new_items += result.counts.new
                if result.error:
                    cycle.errors += 1
                    cycle.messages.append(f"{result.source.name}: {result.error}")
        if not stop.is_set():
            cycle.clustered = desk.cluster().items
        wanted = int(desk.settings.run_briefs)
        if wanted > 0 and not stop.is_set():
            for card in desk.river(limit=wanted).cards:
                if stop.is_set():
                    break
                written = desk.write_brief(card.story.id)
                cycle.briefs += int(written.written)
                if written.error:
                    cycle.errors += 1
                    cycle.messages.append(f"brief of {card.story.id}: {written.error}")

    def seconds_to_next(self) -> float:
        """Seconds until the next source is due, between 1 and ``run_idle_seconds``."""
        longest = float(self.desk.settings.run_idle_seconds)
        upcoming = [s.next_fetch_at for s in self.desk.sources() if s.enabled and s.next_fetch_at]
        if not upcoming:
            return longest
        return min(longest, max(1.0, (min(upcoming) - utcnow()).total_seconds()))

    def run(self, cycles: int | None = None, report: Any = None) -> int:
        """Cycle until stopped (or ``cycles`` done); return the number of cycles."""
        done = 0
        while not self.stop.is_set():
            cycle = self.cycle()
            done += 1
            if report is not None:
                report(cycle)
            if cycles is not None and done >= cycles:
                break
            if cycle.failed:  # not at once: every source is still due
                self.stop.wait(float(self.desk.settings.run_idle_seconds))
                continue
            try:
                wait = self.seconds_to_next()
            except StoreError as e:
                log.error("%s", e)
                wait = float(self.desk.settings.run_idle_seconds)
            self.stop.wait(wait)
        return done


def _ago(moment: datetime | None) -> float | None:
    # A moment ahead of the clock (the clock was set back since) reads as just now.
    return None if moment is None else round(max(0.0, (utcnow() - moment).total_seconds()), 1)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def status(desk: Desk) -> dict[str, Any]:
    """What `newsdesk status` prints: queued work, the last runs, sources, the model."""
    from newsdesk.stories import model_key

    store = desk.store
    sources = desk.sources()
    wanted = max(1, int(desk.settings.run_briefs))
    top = desk.river(limit=wanted).cards
    briefs = store.recent_briefs(50)
    seconds = sum(b.seconds for b in briefs[:20])
    tokens = sum(b.completion_tokens for b in briefs[:20])
    first_versions = [b.time_to_brief for b in briefs if b.version == 1 and b.time_to_brief]
    return {
        "queued": {
            "sources_due": len(desk.due_sources()),
            "items_to_embed": len(store.items_without_embedding(model_key(desk.settings))),
            "items_to_cluster": store.unclustered_count(),
            "top_stories_without_brief": sum(1 for c in top if c.brief is None),
        },
        "runs": [
            {
                "id": r.id,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "state": "interrupted" if r.finished_at is None else (r.note or "done"),
                "sources": r.sources,
                "new_items": r.new_items,
                "clustered": r.clustered,
                "briefs": r.briefs,
                "errors": r.errors,
            }
            for r in store.last_runs(5)
        ],
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "last_fetch_ago": _ago(s.last_fetch_at),
                "next_fetch_at": s.next_fetch_at,
                "poll_minutes": s.poll_minutes,
                "error_count": s.error_count,
                "last_error": s.last_error,
            }
            for s in sources
        ],
        "model": {
            "briefs": len(briefs[:20]),
            "seconds_per_brief": round(statistics.median([b.seconds for b in briefs[:20]]), 1)
            if briefs
            else None,
            "generated_tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        },
        "time_to_brief": {
            "briefs": len(first_versions),
            "p50_seconds": percentile(first_versions, 0.5),
            "p95_seconds": percentile(first_versions, 0.95),
        },
    }
