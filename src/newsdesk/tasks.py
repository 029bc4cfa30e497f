"""Distributed mode: the same work as `newsdesk run`, as Celery tasks that workers on several
machines take from a Redis broker, sharing one PostgreSQL store (docs/operations.md).

Every task is acknowledged late (after it finished) and is rejected back to the queue if its
worker dies, so a task taken by a killed worker runs again elsewhere, after
``broker_visibility_timeout``. Every task is safe to run twice: a fetch upserts by external
id, an item's article is extracted only while it waits for it, clustering takes only
unclustered items under the store's clustering lock (a PostgreSQL
advisory lock), and a brief is written only when its key changed.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from celery import Celery

from newsdesk.settings import Settings

if TYPE_CHECKING:
    from newsdesk.desk import Desk

log = logging.getLogger(__name__)

QUEUE = "newsdesk"


def make_app(settings: Settings) -> Celery:
    app = Celery("newsdesk", set_as_current=False)
    configure(app, settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


def configure(app: Celery, settings: Settings) -> None:
    """Point ``app`` at the broker of ``settings`` (before it first connects)."""
    app.conf.update(
        broker_url=str(settings.broker_url),
        broker_transport_options=transport_options(settings.broker_visibility_timeout),
    )


def transport_options(visibility_timeout: float) -> dict[str, float]:
    """The Redis transport's options for a visibility timeout.

    A worker's event loop looks for tasks whose worker died every
    ``unacked_restore_interval`` seconds, but scans only on every
    ``unacked_restore_throttle``-th look: every 100 s by default, kombu's pace for its own
    timeout of an hour, while a timeout of 5 s would wait up to 100 s more. The scan here
    comes every quarter of the timeout, between 1 and 100 s (looks at most 10 s apart), so
    a task whose worker died runs again at most a quarter of the timeout, or 1 s, after
    it. The scan's lock expires after one such period too (kombu's 5 minutes otherwise):
    a worker killed in its own scan held it, and the tasks of the dead, that long."""
    period = min(max(visibility_timeout / 4, 1.0), 100.0)
    throttle = math.ceil(period / 10)
    return {
        "visibility_timeout": float(visibility_timeout),
        "unacked_restore_interval": period / throttle,
        "unacked_restore_throttle": throttle,
        "unacked_mutex_expire": math.ceil(period),
    }


app = make_app(Settings.load())
_desk: Desk | None = None


def desk() -> Desk:
    """This worker process's Desk (settings from its environment), made on first use."""
    global _desk
    if _desk is None:
        from newsdesk.desk import Desk

        _desk = Desk()
    return _desk


@app.task(name="newsdesk.fetch_source")
def fetch_source(source_id: int) -> dict[str, Any]:
    """Fetch one source and store its items (the next fetch time is recorded with it), then
    send an extraction task for each article its items link to."""
    d = desk()
    source = d.store.get_source(source_id)
    (result,) = d.update(sources=[source], extract=False)
    pending = []
    if d.settings.extract_articles and source.extract:
        pending = d.store.items_to_extract(source_id, d.settings.extract_max_per_source)
        for item_id, _url in pending:
            extract_item.apply_async((item_id,), queue=QUEUE)
    return {
        "source": source_id,
        "new": result.counts.new,
        "to_extract": len(pending),
        "error": result.error,
    }


@app.task(name="newsdesk.extract_item")
def extract_item(item_id: int) -> bool:
    """Fetch and extract the article one item links to (nothing when already done)."""
    return desk().extract_item(item_id)


@app.task(name="newsdesk.cluster")
def cluster() -> int:
    """Embed and cluster every unclustered item (serialized by the clustering lock)."""
    return desk().cluster().items


@app.task(name="newsdesk.write_brief")
def write_brief(story_id: str) -> dict[str, Any]:
    result = desk().write_brief(story_id)
    return {"story": story_id, "written": result.written, "error": result.error}


def enqueue_due(d: Desk, *, force: bool = False) -> int:
    """Send a fetch task for every due source (all with ``force``); return how many."""
    sources = d.due_sources(force=force)
    for source in sources:
        fetch_source.apply_async((source.id,), queue=QUEUE)
    return len(sources)


def worker(concurrency: int = 1) -> None:
    """Run a worker in this process until SIGTERM (Celery's warm shutdown: the task in
    progress finishes)."""
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--loglevel=WARNING",
            f"--queues={QUEUE}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
