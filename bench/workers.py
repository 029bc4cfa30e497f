"""Distributed ingest benchmark: 1 against 2 `newsdesk worker` processes on the same stream.

The 3,747 recorded r/LocalLLaMA posts (posts.jsonl.gz), 100 to a listing, and every
rss-ai-feeds file are served by a local HTTP server on 127.0.0.1 as 38 subreddits and 16
feeds, each answer held back --latency seconds (a remote site's round trip). For 1 and then
2 worker processes (concurrency 1 each, Redis broker on 127.0.0.1:6379 db 14, a fresh
PostgreSQL schema each run): a fetch task for every source is enqueued at once, and the
clock runs until every source is fetched and stored (ingest), then one clustering task runs
until every item is in a story (clustering takes the store's lock, so it is one task
whatever the workers). Prints items/s for each and the ratio of 2 workers to 1, measured
in the same run: on 2 cores, a ratio near 2 means the fetch tasks run in parallel.

    .venv/bin/python bench/workers.py [--latency 0.3] [--database postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from time_to_brief import replay_env

BIN = Path(sys.executable).parent
BROKER = "redis://127.0.0.1:6379/14"
PAGE = 100


def listings(data: Path) -> dict[str, bytes]:
    """Paths on the server and their bodies: subreddit listings and feed files."""
    with gzip.open(data / "reddit-localllama" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        posts = [json.loads(line) for line in f]
    routes: dict[str, bytes] = {}
    for n in range(0, len(posts), PAGE):
        body = {"kind": "Listing", "data": {"after": None, "children": posts[n : n + PAGE]}}
        routes[f"/r/sub{n // PAGE}/new.json"] = json.dumps(body).encode()
    for n, path in enumerate(sorted((data / "rss-ai-feeds" / "head").glob("*.xml"))):
        routes[f"/feeds/{n}.xml"] = path.read_bytes()
    return routes


def serve(routes: dict[str, bytes], latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path.split("?")[0])
            time.sleep(latency)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            kind = "application/json" if self.path.startswith("/r/") else "application/rss+xml"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def schema_url(base: str, schema: str) -> str:
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def drop_schema(base: str, schema: str) -> None:
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def wait(what: str, done: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def run(workers: int, base_url: str, sources: list[str], database: str) -> dict[str, float]:
    import redis

    from newsdesk import tasks
    from newsdesk.desk import Desk
    from newsdesk.settings import Settings

    redis.Redis.from_url(BROKER).flushdb()
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    url = schema_url(database, schema)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    env = replay_env(data_dir, base_url)
    env.update(
        NEWSDESK_DATABASE_URL=url,
        NEWSDESK_BROKER_URL=BROKER,
        NEWSDESK_REDDIT_COMMENT_THREADS="0",
    )
    settings = Settings.load(env=env)
    desk = Desk(settings)
    for spec in sources:
        desk.add_source(spec)
    tasks.configure(tasks.app, settings)
    procs = [
        subprocess.Popen(
            [str(BIN / "newsdesk"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    engine = sa.create_engine(url)

    def scalar(sql: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())

    try:
        wait(
            "the workers",
            lambda: len(tasks.app.control.ping(timeout=0.5) or []) >= workers,
            120,
        )
        started = time.monotonic()
        tasks.enqueue_due(desk, force=True)
        wait(
            "the fetches",
            lambda: (
                scalar("SELECT count(*) FROM sources WHERE last_fetch_at IS NOT NULL")
                == len(sources)
            ),
            1800,
        )
        fetched = time.monotonic()
        items = scalar("SELECT count(*) FROM items")
        tasks.cluster.apply_async(queue=tasks.QUEUE)
        wait("clustering", lambda: desk.store.unclustered_count() == 0, 3600)
        clustered = time.monotonic()
        stories = scalar("SELECT count(*) FROM stories")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
        desk.store.engine.dispose()
        drop_schema(database, schema)
    return {
        "workers": workers,
        "items": items,
        "stories": stories,
        "ingest_s": fetched - started,
        "cluster_s": clustered - fetched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per answer")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "NEWSDESK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    from newsdesk.evaluate import dataset_path

    data = dataset_path("localllama").parents[1]
    routes = listings(data)
    server = serve(routes, args.latency)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sources = [
        f"reddit:{path.split('/')[2]}" if path.startswith("/r/") else base + path for path in routes
    ]
    print(
        f"{len(sources)} sources ({sum(p.startswith('/r/') for p in routes)} listings, "
        f"{sum(p.startswith('/feeds/') for p in routes)} feeds), {args.latency:g} s per answer"
    )
    results = [run(n, base, sources, args.database) for n in (1, 2)]
    server.shutdown()
    for r in results:
        print(
            f"{r['workers']:.0f} worker(s): ingest {r['items']:,.0f} items in "
            f"{r['ingest_s']:.1f} s = {r['items'] / r['ingest_s']:.1f} items/s; "
            f"clustering {r['cluster_s']:.1f} s = {r['items'] / r['cluster_s']:.1f} items/s "
            f"({r['stories']:,.0f} stories)"
        )
    one, two = results
    print(
        f"ratio 2 workers / 1: ingest {one['ingest_s'] / two['ingest_s']:.2f}x, "
        f"clustering {one['cluster_s'] / two['cluster_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
