"""Time-to-brief benchmark: the recorded r/LocalLLaMA `new` listing replayed as a live
stream, `newsdesk run` with the default model on 2 cores.

A local HTTP server on 127.0.0.1 answers `/r/LocalLLaMA/new.json` with the posts of the
recorded listing (listings/new.head.json, 100 posts over 18 h) whose creation time has
passed on a clock that runs --speed (60) times faster than real time, newest first, as
Reddit does. `newsdesk run` (its own process, `reddit_base_url` pointing at that server,
polling every 15 to 30 s of real time, `run_briefs` 3) runs for --minutes of real time.
Then, for every story that got a brief: the real seconds from the moment its first post
appeared on the server to its first brief being stored; p50 and p95, and briefs written
per hour of real time. The baseline, from the same store: the median seconds the model
spent writing one of those briefs (what time to brief cannot be shorter than).

    .venv/bin/python bench/time_to_brief.py [--minutes 12] [--speed 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


class Stream:
    """The listing's posts, released on a clock running ``speed`` times faster."""

    def __init__(self, listing: Path, speed: float) -> None:
        data = json.loads(listing.read_text())
        self.children = sorted(
            data["data"]["children"], key=lambda c: c["data"]["created_utc"], reverse=True
        )
        self.first = min(c["data"]["created_utc"] for c in self.children)
        self.speed = speed
        self.started = time.time()

    def appeared_at(self, created_utc: float) -> float:
        """The real (epoch) time at which a post created at ``created_utc`` appears."""
        return self.started + (created_utc - self.first) / self.speed

    def visible(self) -> list[dict[str, Any]]:
        now = self.first + (time.time() - self.started) * self.speed
        return [c for c in self.children if c["data"]["created_utc"] <= now]


def serve(stream: Stream) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.path.startswith("/r/LocalLLaMA/new.json"):
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(
                {"kind": "Listing", "data": {"after": None, "children": stream.visible()}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def replay_env(data_dir: Path, reddit_base_url: str) -> dict[str, str]:
    """The environment of newsdesk on the replayed stream: none of the caller's NEWSDESK_
    variables but the models folder, the recorded server as Reddit, no extraction."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(
        NEWSDESK_DATA_DIR=str(data_dir),
        NEWSDESK_REDDIT_BASE_URL=reddit_base_url,
        NEWSDESK_ALLOW_HOSTS="127.0.0.1",
        NEWSDESK_HOST_DELAY="0",
        NEWSDESK_EXTRACT_ARTICLES="false",
        # The pulled model files (a fresh data directory would pull them again).
        NEWSDESK_MODELS_DIR=os.environ.get(
            "NEWSDESK_MODELS_DIR", str(Path.home() / ".local" / "share" / "newsdesk" / "models")
        ),
    )
    return env


def stream_env(data_dir: Path, reddit_base_url: str) -> dict[str, str]:
    """The environment of a `newsdesk run` on the replayed stream (``replay_env``),
    polling every 15 to 30 s, 2 model threads."""
    env = replay_env(data_dir, reddit_base_url)
    env.update(
        NEWSDESK_FETCH_INTERVAL="1",
        NEWSDESK_POLL_MIN_MINUTES="0.25",
        NEWSDESK_POLL_MAX_MINUTES="0.5",
        NEWSDESK_RUN_IDLE_SECONDS="5",
        NEWSDESK_LLM_THREADS="2",
    )
    return env


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="real minutes to run")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--briefs", type=int, default=3, help="run_briefs")
    args = parser.parse_args()
    from newsdesk.evaluate import dataset_path

    listing = dataset_path("localllama").parent / "listings" / "new.head.json"
    stream = Stream(listing, args.speed)
    server = serve(stream)
    data_dir = Path(tempfile.mkdtemp(prefix="ttb-"))
    env = stream_env(data_dir, f"http://127.0.0.1:{server.server_address[1]}")
    env["NEWSDESK_RUN_BRIEFS"] = str(args.briefs)
    newsdesk = str(BIN / "newsdesk")
    subprocess.run([newsdesk, "sources", "add", "reddit:LocalLLaMA"], env=env, check=True)
    stream.started = time.time()
    run = subprocess.Popen([newsdesk, "run"], env=env, stdout=subprocess.DEVNULL)
    time.sleep(args.minutes * 60)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=600)
    server.shutdown()
    elapsed_h = (time.time() - stream.started) / 3600

    db = sqlite3.connect(data_dir / "newsdesk.db")
    created = {f"reddit:{c['data']['name']}": c["data"]["created_utc"] for c in stream.children}
    rows = db.execute(
        "SELECT b.story_id, b.created_at, b.seconds, i.external_id FROM briefs b "
        "JOIN story_items s ON s.story_id = b.story_id JOIN items i ON i.id = s.item_id "
        "WHERE b.version = 1"
    ).fetchall()
    first_seen: dict[str, float] = {}
    written: dict[str, tuple[float, float]] = {}
    for story_id, created_at, seconds, external_id in rows:
        if external_id in created:
            appeared = stream.appeared_at(created[external_id])
            first_seen[story_id] = min(first_seen.get(story_id, appeared), appeared)
        stamp = datetime.fromisoformat(str(created_at)).replace(tzinfo=UTC).timestamp()
        written[story_id] = (stamp, seconds)
    delays = [written[s][0] - first_seen[s] for s in written if s in first_seen]
    items = db.execute("SELECT count(*) FROM items").fetchone()[0]
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    shown = len(stream.visible())
    print(
        f"{args.minutes:g} real minutes at {args.speed:g}x ({args.minutes * args.speed / 60:.1f} "
        f"h of the stream): {shown} posts appeared, {items} stored, {stories} stories, "
        f"{len(written)} briefs"
    )
    if delays:
        model = statistics.median(s for _, s in written.values())
        print(
            f"time to brief (real): p50 {percentile(delays, 0.5):.0f} s, "
            f"p95 {percentile(delays, 0.95):.0f} s over {len(delays)} stories; "
            f"{len(written) / elapsed_h:.1f} briefs/hour"
        )
        print(
            f"baseline: model time of one brief, median {model:.0f} s; "
            f"p50 / baseline = {percentile(delays, 0.5) / model:.2f}"
        )


if __name__ == "__main__":
    main()
