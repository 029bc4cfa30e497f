"""`make demo`'s set-up (``newsdesk.demo.prepare_demo``), offline: the recorded replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdesk.demo import DEMO_MANIFEST, prepare_demo
from newsdesk.desk import Desk
from newsdesk.exceptions import FetchError


def test_the_demo_starts_clean_and_keeps_the_users_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    # The user's own data directory, where `newsdesk models pull` puts the models.
    home = tmp_path / "home-data"
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(home))
    monkeypatch.setenv("NEWSDESK_REPLAY", str(DEMO_MANIFEST.resolve()))
    monkeypatch.delenv("NEWSDESK_MODELS_DIR", raising=False)
    pulled = home / "models" / "model.gguf"
    pulled.parent.mkdir(parents=True)
    pulled.write_bytes(b"GGUF")
    demo = tmp_path / "demo"
    for _ in range(2):  # a second run wipes the first's data, never the models
        desk, note, archive = prepare_demo(demo)
        try:
            assert note.startswith("offline, replaying")
            assert "as at 2025-08-08 12:10 UTC" in note
            assert desk.settings.data_path == demo
            assert Path(desk.settings.models_dir) == home / "models"
            assert len(desk.sources()) >= 2 and not desk.store.items_per_source()
            dump = shared_data / "reddit-localllama" / "posts.jsonl.gz"
            assert [p.resolve() for p in archive] == [dump.resolve()]
        finally:
            desk.close()
        # A later command on the demo's folder reads the same models and replay.
        monkeypatch.setenv("NEWSDESK_DATA_DIR", str(demo))
        monkeypatch.delenv("NEWSDESK_REPLAY")
        again = Desk()
        try:
            assert again.settings.origins["replay"] == "file"
            assert Path(again.settings.models_dir) == home / "models"
            assert desk.recorded_at is not None
            assert again.recorded_at == desk.recorded_at
        finally:
            again.close()
        monkeypatch.setenv("NEWSDESK_DATA_DIR", str(home))
        monkeypatch.setenv("NEWSDESK_REPLAY", str(DEMO_MANIFEST.resolve()))
        (demo / "left-over").write_text("from the run before")
    assert pulled.read_bytes() == b"GGUF"
    desk, _, _ = prepare_demo(demo)
    desk.close()
    assert not (demo / "left-over").exists()


def test_an_offline_demo_without_its_recordings_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "replay.toml"
    manifest.write_text(
        'recorded_at = 2025-08-08T12:10:00Z\n[responses]\n"https://x.test/feed" = "gone.xml"\n',
        "utf-8",
    )
    monkeypatch.setenv("NEWSDESK_REPLAY", str(manifest))
    with pytest.raises(FetchError, match="none of the recordings"):
        prepare_demo(tmp_path / "demo")
