"""Backups, restores and exports: a backup taken while the real `newsdesk run` writes, put
back into a new data directory, holds every item committed before the backup started."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli_env
from newsdesk.desk import Desk
from newsdesk.exceptions import StoreError
from newsdesk.settings import Settings
from newsdesk.store import Store, restore

from httpserver import RecordedServer, Reply


def _env(data_dir: Path) -> dict[str, str]:
    return cli_env(data_dir, NEWSDESK_UPDATE_CONCURRENCY="1", NEWSDESK_RUN_BRIEFS="0")


def _ids(db: Path) -> set[str]:
    with sqlite3.connect(db, timeout=10) as conn:
        return {row[0] for row in conn.execute("SELECT external_id FROM items")}


def test_backup_while_run_writes_then_restore(
    tmp_path: Path, shared_data: Path, http_server: RecordedServer, settings: Settings
) -> None:
    feeds = sorted((shared_data / "rss-ai-feeds" / "head").glob("*.xml"))
    for n, path in enumerate(feeds):

        def reply(_request: object, path: Path = path) -> Reply:
            return Reply(200, {"Content-Type": "application/rss+xml"}, path, 0.7)

        http_server.route(f"/feeds/{n}.xml", reply)
    data_dir = tmp_path / "live"
    desk = Desk(settings.with_(data_dir=data_dir))
    for n in range(len(feeds)):
        desk.add_source(f"{http_server.base_url}/feeds/{n}.xml")
    desk.close()
    db = data_dir / "newsdesk.db"
    cli = [sys.executable, "-m", "newsdesk"]
    running = subprocess.Popen(
        [*cli, "run"], env=_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not _ids(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        committed = _ids(db)  # every item committed before the backup starts
        assert committed
        target = tmp_path / "backups" / "newsdesk-backup.db"
        made = subprocess.run(
            [*cli, "backup", str(target)], env=_env(data_dir), capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr
        assert "integrity ok" in made.stdout
        assert running.poll() is None, "the run ended before the backup was taken"
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait(timeout=120)
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # user-only

    restored_dir = tmp_path / "restored"
    put = subprocess.run(
        [*cli, "restore", str(target)], env=_env(restored_dir), capture_output=True, text=True
    )
    assert put.returncode == 0, put.stderr
    restored = _ids(restored_dir / "newsdesk.db")
    assert committed <= restored
    with sqlite3.connect(restored_dir / "newsdesk.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # The live store after the run holds at least as much as the backup.
    assert restored <= _ids(db)


def test_restore_refuses_what_is_not_a_backup_and_keeps_the_old_store(
    tmp_path: Path, settings: Settings
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a newsdesk backup"):
        restore(junk, tmp_path / "data")
    with pytest.raises(StoreError, match="no backup at"):
        restore(tmp_path / "missing.db", tmp_path / "data")
    desk = Desk(settings)
    desk.store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    copy = tmp_path / "copy.db"
    assert desk.backup(copy) == 0
    with pytest.raises(StoreError, match="exists"):
        desk.backup(copy)
    desk.close()
    restore(copy, settings.data_path)
    assert (settings.data_path / "newsdesk.db.before-restore").exists()
    assert [s.name for s in Desk(settings).sources()] == ["Example"]


def test_postgresql_backup_says_to_use_pg_dump() -> None:
    url = os.environ.get("NEWSDESK_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need NEWSDESK_TEST_DATABASE_URL (.ci/run sets it)")
    store = Store(url, migrate=False)
    with pytest.raises(StoreError, match="pg_dump"):
        store.backup(Path("/nonexistent/never-written.db"))
    store.close()


def test_export_is_one_json_line_per_story(clustered: Path, tmp_path: Path) -> None:
    import io
    import shutil

    shutil.copytree(clustered, tmp_path / "data")
    desk = Desk(Settings.load(env={}, data_dir=tmp_path / "data"))
    out = io.StringIO()
    count = desk.export_jsonl(out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == desk.stats()["stories"]
    assert sum(len(line["items"]) for line in lines) == desk.stats()["items"]
    assert lines[0]["id"] == desk.stories(limit=1)[0].id and "brief" in lines[0]
    desk.close()
