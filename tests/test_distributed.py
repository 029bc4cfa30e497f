"""Distributed mode with this machine's real Redis (127.0.0.1:6379) and PostgreSQL
(127.0.0.1:5432): two `newsdesk worker` processes, one SIGKILLed in the middle of a task,
give the same stories as one process, with no item lost or doubled and no story doubled."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import _postgres_url, cli_env
from newsdesk.desk import Desk
from newsdesk.settings import Settings

from httpserver import RecordedServer, Reply

BROKER = "redis://127.0.0.1:6379/15"


@pytest.fixture
def broker() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            pass
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (this machine kind runs one)")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    return BROKER


def _partition(desk: Desk) -> set[frozenset[str]]:
    """Stories as sets of their items' external ids."""
    return {
        frozenset(r.external_id for r in desk.store.story_items(row.id))
        for row in desk.store.ranked_stories(limit=100_000)
    }


def _settings(data_dir: Path, **values: Any) -> Settings:
    values = {"extract_articles": False, **values}
    return Settings.load(
        env={}, data_dir=data_dir, allow_hosts=["127.0.0.1"], host_delay=0.0, **values
    )


def test_two_workers_give_the_stories_of_one_process(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer, broker: str
) -> None:
    feeds = sorted((shared_data / "rss-ai-feeds" / "head").glob("*.xml"))
    for n, path in enumerate(feeds):

        def reply(_request: object, path: Path = path) -> Reply:
            return Reply(200, {"Content-Type": "application/rss+xml"}, path, 0.8)

        http_server.route(f"/feeds/{n}.xml", reply)
    urls = [f"{http_server.base_url}/feeds/{n}.xml" for n in range(len(feeds))]

    database = _postgres_url(f"nd_{uuid.uuid4().hex[:12]}")
    settings = _settings(
        tmp_path / "dist", database_url=database, broker_url=broker, broker_visibility_timeout=5
    )
    desk = Desk(settings)
    for url in urls:
        desk.add_source(url)
    env = cli_env(
        tmp_path / "dist",
        NEWSDESK_DATABASE_URL=database,
        NEWSDESK_BROKER_URL=broker,
        NEWSDESK_BROKER_VISIBILITY_TIMEOUT="5",
    )

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "newsdesk", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    from newsdesk import tasks

    tasks.configure(tasks.app, settings)
    workers = [start(), start()]
    try:
        assert tasks.enqueue_due(desk, force=True) == len(urls)
        engine = sa.create_engine(database)

        def fetched() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.text("SELECT count(*) FROM sources WHERE last_fetch_at IS NOT NULL")
                    ).scalar_one()
                )

        deadline = time.monotonic() + 60
        while fetched() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)  # in the middle of its task
        workers[0].wait(timeout=10)
        # The killed worker's task runs again after the visibility timeout (5 s) and at
        # most a quarter of it more (tasks.transport_options); kombu's own pace was 100 s.
        deadline = time.monotonic() + 60
        while fetched() < len(urls) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fetched() == len(urls), "a fetch task was lost with its worker"
        # Two clustering tasks at once: the advisory lock serializes them.
        workers.append(start())
        for _ in range(2):
            tasks.cluster.apply_async(queue=tasks.QUEUE)
        deadline = time.monotonic() + 300
        while desk.store.unclustered_count() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # let the second clustering task finish (it finds nothing)
        assert desk.store.unclustered_count() == 0
        engine.dispose()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    single = Desk(_settings(tmp_path / "single"))
    for url in urls:
        single.add_source(url)
    single.update(force=True)
    single.cluster()
    ids = [r.external_id for r in desk.store.recent_items(100_000)]
    assert len(ids) == len(set(ids)) == single.stats()["items"]  # none lost, none doubled
    assert set(ids) == {r.external_id for r in single.store.recent_items(100_000)}
    assert _partition(desk) == _partition(single)  # the same stories, none doubled
    desk.close()
    single.close()


def test_fetch_task_sends_an_extraction_task_per_article(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer
) -> None:
    """A feed of teasers: the fetch task stores them and sends one extraction task per
    linked article; each extraction task stores its article's text once (run twice, it
    changes nothing). Celery runs the tasks eagerly in this process here (the broker and
    workers are the test above); the store, the pages and the server are real."""
    import html as html_lib
    import io

    import feedparser

    from newsdesk import tasks
    from newsdesk.sanitize import html_to_text

    recorded = shared_data / "rss-ai-feeds" / "head" / "feed_hackernews.xml"
    parsed = feedparser.parse(io.BytesIO(recorded.read_bytes()), sanitize_html=False)
    articles = [
        (e.title, e.content[0].value)
        for e in parsed.entries
        if "content" in e and len(html_to_text(e.content[0].value)) > 3000
    ][:3]
    assert len(articles) == 3
    entries = []
    for n, (title, body) in enumerate(articles):
        page = (
            f"<!doctype html><html lang='en'><head><title>{html_lib.escape(title)}</title>"
            f"</head><body><nav><a href='/'>Home</a></nav><article><h1>"
            f"{html_lib.escape(title)}</h1>{body}</article><footer>Site footer</footer>"
            "</body></html>"
        ).encode()
        http_server.route(f"/articles/{n}", Reply(200, {"Content-Type": "text/html"}, page))
        entries.append(
            f"<item><title>{html_lib.escape(title)}</title><guid>a{n}</guid>"
            f"<link>{http_server.base_url}/articles/{n}</link>"
            "<description>A teaser.</description></item>"
        )
    feed = f"<rss version='2.0'><channel><title>Teasers</title>{''.join(entries)}</channel></rss>"
    http_server.route(
        "/teasers.xml", Reply(200, {"Content-Type": "application/rss+xml"}, feed.encode())
    )

    desk = Desk(_settings(tmp_path / "data", extract_articles=True))
    source = desk.add_source(f"{http_server.base_url}/teasers.xml")
    previous = (tasks._desk, tasks.app.conf.task_always_eager)
    tasks._desk, tasks.app.conf.task_always_eager = desk, True
    try:
        outcome = tasks.fetch_source.apply(args=(source.id,)).get()
        assert outcome == {"source": source.id, "new": 3, "to_extract": 3, "error": None}
        texts = {r.title: r.article_text or "" for r in desk.store.recent_items(10)}
        for title, _ in articles:
            assert len(texts[title]) > 2000, "the article's text was not extracted"
            assert "Site footer" not in texts[title]
        item_id = desk.store.recent_items(1)[0].id
        assert tasks.extract_item.apply(args=(item_id,)).get() is False  # done already
        again = tasks.fetch_source.apply(args=(source.id,)).get()
        assert again["new"] == 0 and again["to_extract"] == 0
    finally:
        tasks._desk, tasks.app.conf.task_always_eager = previous
        desk.close()


def test_a_dead_workers_task_is_looked_for_at_the_pace_of_the_visibility_timeout() -> None:
    """kombu scans for the tasks of dead workers every 100 s by default; here every quarter
    of the visibility timeout, between 1 and 100 s (the scan period is the interval times
    the throttle)."""
    from newsdesk.tasks import transport_options

    def period(timeout: float) -> float:
        options = transport_options(timeout)
        assert options["visibility_timeout"] == timeout
        assert options["unacked_restore_interval"] <= 10
        assert options["unacked_mutex_expire"] >= options["unacked_restore_interval"]
        return options["unacked_restore_interval"] * options["unacked_restore_throttle"]

    assert period(3600) == 100  # kombu's own pace for its own default of an hour
    assert transport_options(5)["unacked_mutex_expire"] == 2  # a dead scanner's lock
    for timeout in (5, 60, 120, 150, 220, 300, 380):
        assert period(timeout) == pytest.approx(timeout / 4)
    assert period(1) == 1
