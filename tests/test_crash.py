"""`newsdesk update` killed with SIGKILL in the middle, then run again: nothing lost or doubled."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli_env
from newsdesk.sources.feed import adapt, parse_feed

from httpserver import RecordedServer, Reply


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def _env(data_dir: Path, server: RecordedServer) -> dict[str, str]:
    return cli_env(
        data_dir, NEWSDESK_UPDATE_CONCURRENCY="2", NEWSDESK_REDDIT_BASE_URL=server.base_url
    )


def test_sigkill_mid_update_loses_and_doubles_nothing(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer
) -> None:
    feeds = sorted((shared_data / "rss-ai-feeds" / "head").glob("*.xml"))
    expected: set[str] = set()
    slow = {"delay": 1.5}
    for n, path in enumerate(feeds):
        route = f"/feeds/{n}.xml"
        url = http_server.base_url + route
        expected |= {item.external_id for item in adapt(parse_feed(path.read_bytes(), url), url)}

        def reply(_request: object, path: Path = path) -> Reply:
            # Slow answers keep the first run busy long enough to be killed mid-way.
            return Reply(200, {"Content-Type": "application/rss+xml"}, path, slow["delay"])

        http_server.route(route, reply)

    data_dir = tmp_path / "data"
    env = _env(data_dir, http_server)
    cli = [sys.executable, "-m", "newsdesk"]
    for n in range(len(feeds)):
        subprocess.run(
            [*cli, "sources", "add", f"{http_server.base_url}/feeds/{n}.xml"],
            env=env,
            check=True,
            capture_output=True,
        )

    db = data_dir / "newsdesk.db"
    first = subprocess.Popen(
        [*cli, "update", "--no-cluster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _count(db) == 0 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    stored_before_kill = _count(db)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL, "the update finished before it was killed"
    assert 0 < stored_before_kill < len(expected)

    slow["delay"] = 0.0
    again = subprocess.run(
        [*cli, "update", "--no-cluster"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT external_id FROM items")]
        bad = conn.execute("PRAGMA integrity_check").fetchone()[0]
    assert bad == "ok"
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
