"""`newsdesk demo`: a fresh data directory, the default AI sources, one update.

Live when the sources' hosts answer; otherwise, in a checkout beside ../shared/data, from
the recorded responses of replay/demo.toml, so the demo works on a machine with no internet.
"""

from __future__ import annotations

import os
import shutil
import socket
import tomllib
from pathlib import Path
from typing import Any

from newsdesk.desk import Desk
from newsdesk.exceptions import FetchError
from newsdesk.llm.files import models_dir
from newsdesk.settings import Settings

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


def prepare_demo(data_dir: Path = Path(".demo-data")) -> tuple[Desk, str]:
    """Wipe the demo data directory, choose live or replay, add the demo sources.

    The models stay where ``newsdesk models pull`` puts them (the user's own data
    directory, or their ``models_dir``): wiped with the demo's data, the 1.1 GB generator
    would be joined and hashed again on every run.
    """
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    models = str(models_dir(Settings.load()))
    overrides: dict[str, Any] = {"data_dir": data_dir, "models_dir": models}
    replay = os.environ.get("NEWSDESK_REPLAY", "")
    if not replay and not online():
        if not DEMO_MANIFEST.exists():
            raise FetchError("www.reddit.com", "offline, and no replay/demo.toml here to replay")
        replay = str(DEMO_MANIFEST)
    if replay:
        overrides["replay"] = replay
    desk = Desk(Settings.load(**overrides))
    specs: tuple[str, ...] = DEMO_SOURCES
    note = "live"
    if replay:
        with open(replay, "rb") as f:
            specs = tuple(tomllib.load(f).get("sources", DEMO_SOURCES))
        skipped = [spec for spec in DEMO_SOURCES if spec not in specs]
        note = f"offline, replaying {replay}"
        if skipped:
            note += f"; skipped for want of a recording: {', '.join(skipped)}"
    for spec in specs:
        desk.add_source(spec)
    return desk, note
