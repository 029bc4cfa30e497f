"""`newsdesk demo`: a fresh data directory, the default AI sources, one update.

Live when the sources' hosts answer; otherwise, in a checkout beside ../shared/data, from
the recorded responses of replay/demo.toml, so the demo works on a machine with no internet.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tomllib
from pathlib import Path

from newsdesk.desk import Desk
from newsdesk.exceptions import FetchError
from newsdesk.llm.files import models_dir
from newsdesk.replay import read_manifest
from newsdesk.settings import CONFIG_FILE, Settings

# What people who build with AI read; lab blogs without their own feed come as the
# community-built feeds of the rss-feeds project.
DEMO_SOURCES = (
    "reddit:LocalLLaMA",
    "hn:top",
    "arxiv:cs.CL",
    "arxiv:cs.AI",
    "https://raw.githubusercontent.com/0xSMW/rss-feeds/main/feeds/feed_anthropic_news.xml",
    "https://raw.githubusercontent.com/0xSMW/rss-feeds/main/feeds/feed_openai_research.xml",
    "https://raw.githubusercontent.com/0xSMW/rss-feeds/main/feeds/feed_mistral_news.xml",
    "https://raw.githubusercontent.com/0xSMW/rss-feeds/main/feeds/feed_hackernews.xml",
)

DEMO_MANIFEST = Path("replay") / "demo.toml"


def online(host: str = "www.reddit.com", timeout: float = 3.0) -> bool:
    """Whether the sources' hosts can be reached at all (DNS and a TCP connect)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def prepare_demo(data_dir: Path = Path(".demo-data")) -> tuple[Desk, str, list[Path]]:
    """Wipe the demo data directory, choose live or replay, add the demo sources.

    Returns the desk, a note on what it fetches, and the Reddit dumps to import before the
    update: a replay's ``archive`` (paths relative to its manifest), so that its stories
    have an archive behind them; live, none.

    The models stay where ``newsdesk models pull`` puts them (the user's own data
    directory, or their ``models_dir``): wiped with the demo's data, the 1.1 GB generator
    would be joined and hashed again on every run.
    """
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    chosen: dict[str, str] = {"models_dir": os.path.abspath(models_dir(Settings.load()))}
    replay = os.environ.get("NEWSDESK_REPLAY", "")
    if not replay and not online():
        if not DEMO_MANIFEST.exists():
            raise FetchError("www.reddit.com", "offline, and no replay/demo.toml here to replay")
        replay = str(DEMO_MANIFEST)
    if replay:
        recorded = read_manifest(replay).responses.values()
        if not any(file.exists() for file in recorded):
            raise FetchError(
                "www.reddit.com",
                f"offline, and none of the recordings that {replay} names is here "
                "(they are read from ../shared/data)",
            )
        chosen["replay"] = os.path.abspath(replay)
    # Kept in the data directory's newsdesk.toml, so that a later command on it (`newsdesk
    # serve` with NEWSDESK_DATA_DIR=.demo-data) reads the same models and the same replay.
    (data_dir / CONFIG_FILE).write_text(
        "".join(
            f"{name} = {json.dumps(value, ensure_ascii=False)}\n" for name, value in chosen.items()
        ),
        "utf-8",
    )
    desk = Desk(Settings.load(data_dir=data_dir))
    specs: tuple[str, ...] = DEMO_SOURCES
    note = "live"
    archive: list[Path] = []
    if replay:
        with open(replay, "rb") as f:
            manifest = tomllib.load(f)
        specs = tuple(manifest.get("sources", DEMO_SOURCES))
        archive = [
            Path(os.path.abspath(Path(replay).parent / p)) for p in manifest.get("archive", [])
        ]
        missing = [p for p in archive if not p.exists()]
        archive = [p for p in archive if p.exists()]
        skipped = [spec for spec in DEMO_SOURCES if spec not in specs]
        note = f"offline, replaying {replay}"
        if desk.recorded_at is not None:
            note += f" as at {desk.recorded_at:%Y-%m-%d %H:%M} UTC, when it was recorded"
        if skipped:
            note += f"; skipped for want of a recording: {', '.join(skipped)}"
        if missing:
            note += f"; archive not found: {', '.join(map(str, missing))}"
    for spec in specs:
        desk.add_source(spec)
    return desk, note, archive
