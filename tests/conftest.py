from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from httpserver import RecordedServer  # noqa: E402

from newsdesk.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NEWSDESK_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip with the reason where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set NEWSDESK_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reads the developer's own config or environment."""
    for key in list(os.environ):
        if key.startswith("NEWSDESK_") and key not in {
            "NEWSDESK_SHARED_DATA",
            "NEWSDESK_TEST_DATABASE_URL",
        }:
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fast, local settings: loopback allowed, no politeness delay, quick retries."""
    return Settings.load(
        env={},
        data_dir=tmp_path / "data",
        allow_hosts=["127.0.0.1"],
        host_delay=0.0,
        backoff_base=0.01,
        connect_timeout=2.0,
        read_timeout=2.0,
        extract_articles=False,
    )


@pytest.fixture
def http_server() -> Iterator[RecordedServer]:
    with RecordedServer() as server:
        yield server
