"""Access: API rate limits, secrets kept out of logs and output, the database, backups and
model folder readable by their user only."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import cli_env
from newsdesk.desk import Desk
from newsdesk.ratelimit import RateLimit
from newsdesk.settings import Settings
from newsdesk.store import shown_url
from newsdesk.web import create_app


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_api_rate_limit_per_client_with_retry_after(settings: Settings) -> None:
    app = create_app(Desk(settings.with_(api_rate_limit=5)))
    one = TestClient(app, client=("192.0.2.1", 40000))
    other = TestClient(app, client=("192.0.2.2", 40000))
    codes = [one.get("/api/v1/stats").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    limited = one.get("/api/v1/stories")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "5 API requests a minute" in limited.json()["detail"]
    assert limited.headers["content-security-policy"]  # still behind the security headers
    # Another client has its own bucket; pages are not limited (the page cache serves them).
    assert other.get("/api/v1/stats").status_code == 200
    assert one.get("/").status_code == 200


def test_rate_limit_refills_and_forgets_old_clients() -> None:
    limit = RateLimit(app=None, per_minute=60)  # type: ignore[arg-type]
    assert [limit.take("a", 0.0) for _ in range(60)] == [0.0] * 60
    assert limit.take("a", 0.0) == 1.0  # one token a second
    assert limit.take("a", 1.0) == 0.0
    from newsdesk import ratelimit

    for n in range(ratelimit.MAX_CLIENTS + 5):
        limit.take(f"client-{n}", 2.0)
    assert len(limit.buckets) == ratelimit.MAX_CLIENTS
    assert "a" not in limit.buckets


def test_rate_limit_zero_is_off(settings: Settings) -> None:
    client = TestClient(create_app(Desk(settings.with_(api_rate_limit=0))))
    assert {client.get("/api/v1/stats").status_code for _ in range(30)} == {200}


def test_database_backup_and_model_folder_are_user_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    desk = Desk(Settings.load(env={}, data_dir=data_dir))
    desk.add_source("hn:top")
    assert _mode(data_dir) == 0o700
    db = data_dir / "newsdesk.db"
    assert _mode(db) == 0o600
    for side in (db.with_name("newsdesk.db-wal"), db.with_name("newsdesk.db-shm")):
        if side.exists():
            assert _mode(side) == 0o600, side
    backup = tmp_path / "backup.db"
    desk.store.backup(backup)
    assert _mode(backup) == 0o600

    from newsdesk.store import restore

    restored = restore(backup, tmp_path / "restored")
    assert _mode(restored) == 0o600 and _mode(restored.parent) == 0o700


def test_pulled_model_is_user_only() -> None:
    from conftest import MODELS_DIR, SMALL_MODEL
    from newsdesk.llm.files import KNOWN, pull

    path = pull(KNOWN[SMALL_MODEL], MODELS_DIR)
    assert _mode(path) & 0o077 == 0, f"{path} is readable by others"


def test_passwords_in_urls_are_masked() -> None:
    assert (
        shown_url("postgresql+psycopg://news:hunter2@db.internal:5432/newsdesk")
        == "postgresql+psycopg://news:***@db.internal:5432/newsdesk"
    )
    assert shown_url("redis://:hunter2@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert shown_url("https://www.reddit.com") == "https://www.reddit.com"


def test_no_secret_reaches_output_or_logs(tmp_path: Path) -> None:
    """The admin token, the model server's API key and a database password, all set, with
    debug logging: neither `settings` nor a failing command nor its logs print them."""
    secrets = ["tok-4e1f9c2a7b", "key-9d8c7b6a5f", "pw-3a2b1c0d9e"]
    env = cli_env(
        tmp_path / "data",
        NEWSDESK_ADMIN_TOKEN=secrets[0],
        NEWSDESK_LLM_API_KEY_ENV="NEWSDESK_TEST_MODEL_KEY",
        NEWSDESK_TEST_MODEL_KEY=secrets[1],
        NEWSDESK_BROKER_URL=f"redis://:{secrets[2]}@127.0.0.1:6379/15",
        NEWSDESK_LOG_LEVEL="debug",
    )

    def newsdesk(*args: str, **extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "newsdesk", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout + done.stderr

    shown = newsdesk("settings")
    assert "(set, hidden)" in shown and "***" in shown
    # A database that refuses the password: the error names the database, not the password.
    failed = newsdesk(
        "stats",
        NEWSDESK_DATABASE_URL=f"postgresql+psycopg://nobody:{secrets[2]}@127.0.0.1:1/none",
    )
    assert "error:" in failed and "nobody:***@127.0.0.1:1" in failed
    for secret in secrets:
        assert secret not in shown
        assert secret not in failed
