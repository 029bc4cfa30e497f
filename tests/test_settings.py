from __future__ import annotations

from pathlib import Path

import pytest

from newsdesk.exceptions import SettingsError
from newsdesk.settings import SETTINGS, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text("utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert missing == [], f"add these settings to docs/settings.md: {missing}"


def test_defaults(tmp_path: Path) -> None:
    s = Settings.load(env={"NEWSDESK_DATA_DIR": str(tmp_path)})
    assert s.data_path == tmp_path
    assert s.max_body_bytes == 10_000_000
    assert s.origins["max_body_bytes"] == "default"
    assert s.origins["data_dir"] == "env"


def test_precedence_env_then_file_then_default(tmp_path: Path) -> None:
    (tmp_path / "newsdesk.toml").write_text(
        'read_timeout = 5.5\nhn_max_items = 7\nallow_hosts = ["10.1.1.1"]\n'
    )
    env = {"NEWSDESK_DATA_DIR": str(tmp_path), "NEWSDESK_HN_MAX_ITEMS": "9"}
    s = Settings.load(env=env)
    assert (s.read_timeout, s.origins["read_timeout"]) == (5.5, "file")
    assert (s.hn_max_items, s.origins["hn_max_items"]) == (9, "env")
    assert s.allow_hosts == ["10.1.1.1"]
    assert s.origins["retries"] == "default"


def test_types_are_checked(tmp_path: Path) -> None:
    env = {"NEWSDESK_DATA_DIR": str(tmp_path), "NEWSDESK_RETRIES": "three"}
    with pytest.raises(SettingsError, match="retries"):
        Settings.load(env=env)
    env = {"NEWSDESK_DATA_DIR": str(tmp_path), "NEWSDESK_EXTRACT_ARTICLES": "no"}
    assert Settings.load(env=env).extract_articles is False
    env = {"NEWSDESK_DATA_DIR": str(tmp_path), "NEWSDESK_ALLOW_HOSTS": "127.0.0.1, ::1"}
    assert Settings.load(env=env).allow_hosts == ["127.0.0.1", "::1"]


def test_unknown_or_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "newsdesk.toml").write_text("raed_timeout = 3\n")
    with pytest.raises(SettingsError, match="raed_timeout"):
        Settings.load(env={"NEWSDESK_DATA_DIR": str(tmp_path)})
    (tmp_path / "newsdesk.toml").write_text("read_timeout = [\n")
    with pytest.raises(SettingsError, match=r"newsdesk\.toml"):
        Settings.load(env={"NEWSDESK_DATA_DIR": str(tmp_path)})
