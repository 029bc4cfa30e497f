"""`newsdesk run` and `newsdesk status`: cycles against a real HTTP server on 127.0.0.1 with
recorded feeds, briefs by the real SmolLM2 model, and the real process stopped by SIGTERM
and killed by SIGKILL in the middle of its work."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import MODELS_DIR, cli_env, llm_settings
from newsdesk.desk import Desk
from newsdesk.runner import Runner, status
from newsdesk.sources.feed import adapt, parse_feed

from httpserver import RecordedServer, Reply


def _feeds(shared_data: Path, server: RecordedServer, delay: float = 0.0) -> set[str]:
    """Serve the recorded head feeds; return every entry's external id."""
    expected: set[str] = set()
    for n, path in enumerate(sorted((shared_data / "rss-ai-feeds" / "head").glob("*.xml"))):
        route = f"/feeds/{n}.xml"
        url = server.base_url + route
        expected |= {item.external_id for item in adapt(parse_feed(path.read_bytes(), url), url)}

        def reply(_request: object, path: Path = path) -> Reply:
            return Reply(200, {"Content-Type": "application/rss+xml"}, path, delay)

        server.route(route, reply)
    return expected


def test_run_fetches_clusters_writes_briefs_then_waits(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer
) -> None:
    expected = _feeds(shared_data, http_server)
    # Sleeping a second between the cycles, not a minute: no source is due after one.
    desk = Desk(
        llm_settings(tmp_path / "data", run_briefs=1, extract_articles=False, run_idle_seconds=1.0)
    )
    for n in range(3):
        desk.add_source(f"{http_server.base_url}/feeds/{n}.xml")
    cycles = []
    Runner(desk).run(cycles=2, report=cycles.append)
    first, second = cycles
    assert first.sources == 3 and first.new_items > 0 and first.clustered == first.new_items
    assert first.briefs == 1 and first.errors == 0
    # Nothing is due yet and nothing changed: the second cycle fetches and writes nothing.
    assert (second.sources, second.new_items, second.clustered, second.briefs) == (0, 0, 0, 0)
    assert desk.stats()["items"] <= len(expected)

    state = status(desk)
    assert state["queued"] == {
        "sources_due": 0,
        "items_to_embed": 0,
        "items_to_cluster": 0,
        "top_stories_without_brief": 0,
    }
    assert [r["state"] for r in state["runs"]] == ["done", "done"]
    assert state["model"]["briefs"] == 1 and state["model"]["generated_tokens_per_second"] > 0
    assert state["time_to_brief"]["briefs"] == 1 and state["time_to_brief"]["p50_seconds"] > 0
    assert all(s["poll_minutes"] for s in state["sources"])
    # The site says when the last run was, and each brief how long after the first post.
    from fastapi.testclient import TestClient

    from newsdesk.web import create_app

    client = TestClient(create_app(desk))
    assert "Last update " in client.get("/").text
    briefed = next(c.story.id for c in desk.river(limit=5).cards if c.brief is not None)
    assert "after the story's first post" in client.get(f"/stories/{briefed}").text
    desk.close()


def _env(data_dir: Path) -> dict[str, str]:
    return cli_env(
        data_dir,
        NEWSDESK_UPDATE_CONCURRENCY="2",
        NEWSDESK_RUN_BRIEFS="0",
        NEWSDESK_MODELS_DIR=str(MODELS_DIR),
    )


def _count(db: Path, table: str = "items") -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0


def _start(data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsdesk", "run", *args],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for_items(db: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while _count(db) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)


def test_sigterm_finishes_the_step_sigkill_loses_nothing(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer
) -> None:
    expected = _feeds(shared_data, http_server, delay=1.0)
    data_dir = tmp_path / "data"
    desk = Desk(llm_settings(data_dir))
    for route in list(http_server.routes):
        desk.add_source(http_server.base_url + route)
    desk.close()
    db = data_dir / "newsdesk.db"

    # SIGTERM in the middle of the fetches: the fetches in flight finish, the loop stops.
    first = _start(data_dir)
    _wait_for_items(db, first)
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out.decode()
    assert b"SIGTERM: finishing the step in progress" in out
    with sqlite3.connect(db) as conn:
        (note, finished) = conn.execute("SELECT note, finished_at FROM runs").fetchone()
    assert note == "stopped" and finished is not None

    # Make every source due again, then SIGKILL a second run in the middle of its work.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sources SET next_fetch_at = NULL, etag = NULL, last_modified = NULL")
    second = _start(data_dir)
    time.sleep(1.5)  # inside the slow fetches
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=30)
    assert second.returncode == -signal.SIGKILL

    # Started again: it resumes, and every item is stored exactly once, in a story.
    third = _start(data_dir, "--cycles", "1")
    out, _ = third.communicate(timeout=300)
    assert third.returncode == 0, out.decode()
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT external_id FROM items")]
        unclustered = conn.execute(
            "SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM story_items)"
        ).fetchone()[0]
        states = [row[0] for row in conn.execute("SELECT finished_at IS NULL FROM runs")]
    assert len(ids) == len(set(ids)) and set(ids) <= expected
    assert len(ids) == _count(db) > 0 and unclustered == 0
    assert states.count(1) == 1  # the killed run shows as interrupted
