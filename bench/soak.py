"""Soak: `newsdesk run` against a replayed live stream while the site is under load.

The recorded r/LocalLLaMA `new` listing is replayed as a live stream (bench/time_to_brief.py's
server: posts appear at their creation times, --speed times faster). `newsdesk run` (its own
process, the --model model, 2 threads) fetches, clusters and writes briefs from it, while
`newsdesk serve` (its own process, on the same SQLite file) answers a steady --rate
requests a second from an open-loop load generator (asyncio and httpx: a request is sent
every 1/rate s whether or not the earlier ones are answered), in rounds of --round seconds,
over the home page, the story pages of the moment, the API, search, tag pages, recaps and
the feeds. A closed-loop generator such as wrk would take both cores and starve the model;
a steady rate is what a site sees. The API rate limit is off for this one load generator (it
is one client calling the API --rate times a second: 429s by design).

At the end (SIGTERM to `newsdesk run`): requests served and error answers (HTTP status of
400 and above, timeouts and socket errors), latency, the resident memory of both processes
after the warm-up (--warmup minutes: the model loaded, the first briefs written) and at the
end, every item seen committed in any round still in the store, and `PRAGMA
integrity_check`. The baseline in the same run: the site's p99 latency in the first round.

    .venv/bin/python bench/soak.py [--minutes 10] [--model qwen2.5-coder-0.5b] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from time_to_brief import Stream, percentile, serve, stream_env
from web import BIN, Server

# What a tag page says when no story carries its tag any more (templates/tag.html).
EMPTY_TAG = "carries this tag now"


async def _load(port: int, paths: list[str], seconds: float, rate: float) -> dict[str, float]:
    """Open loop: one GET every 1/rate s for ``seconds``, round-robin over ``paths``."""
    import asyncio

    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    emptied: list[str] = []  # tag pages of a tag that no story carries any more

    async def one(client: httpx.AsyncClient, path: str) -> None:
        started = time.perf_counter()
        try:
            answer = await client.get(path)
            if answer.status_code >= 400:
                errors.append(f"{answer.status_code} {path}")
            elif path.startswith("/tags/") and EMPTY_TAG in answer.text:
                emptied.append(path)
        except httpx.HTTPError as e:
            errors.append(f"{type(e).__name__} {path}")
        latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=10.0, limits=limits
    ) as client:
        pending = []
        began = time.perf_counter()
        for n in range(int(seconds * rate)):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(client, paths[n % len(paths)])))
        await asyncio.gather(*pending)
    if errors:
        print(f"    errors: {errors[:5]}", file=sys.stderr)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "empty_tag_pages": len(emptied),
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def load(port: int, paths: list[str], seconds: float, rate: float) -> dict[str, float]:
    import asyncio

    return asyncio.run(_load(port, paths, seconds, rate))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def committed(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return {row[0] for row in conn.execute("SELECT external_id FROM items")}


def site_paths(db: Path, port: int) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        stories = [r[0] for r in conn.execute("SELECT id FROM stories LIMIT 40")]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/tags", timeout=30) as answer:
        tags = [t["tag"] for t in json.load(answer)[:5]]
    return [
        "/",
        "/?page=2",
        "/api/v1/stories",
        "/api/v1/stats",
        "/search?q=model",
        *(f"/tags/{t}" for t in tags),
        "/recaps",
        "/feeds/stories.atom",
        "/feeds/stories.json",
        *(f"/stories/{s}" for s in stories),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before memory base")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--round", type=int, default=30, help="seconds of each load round")
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second")
    parser.add_argument("--model", default="", help="llm_model (default: the setting's)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from newsdesk.evaluate import dataset_path

    listing = dataset_path("localllama").parent / "listings" / "new.head.json"
    stream = Stream(listing, args.speed)
    server = serve(stream)
    data_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    db = data_dir / "newsdesk.db"
    env = stream_env(data_dir, f"http://127.0.0.1:{server.server_address[1]}")
    env["NEWSDESK_API_RATE_LIMIT"] = "0"
    # bench/web.py's Server (`newsdesk serve`) takes this process's environment.
    os.environ.clear()
    os.environ.update(env)
    if args.model:
        os.environ["NEWSDESK_LLM_MODEL"] = args.model
    newsdesk = str(BIN / "newsdesk")
    subprocess.run([newsdesk, "sources", "add", "reddit:LocalLLaMA"], check=True)
    stream.started = time.time()
    log = (data_dir / "run.log").open("w")
    run = subprocess.Popen([newsdesk, "run"], stdout=log, stderr=subprocess.STDOUT)
    site = Server(data_dir, cache_seconds=5.0)
    began = time.monotonic()
    seen: set[str] = set()
    rounds: list[dict[str, float]] = []
    memory: dict[str, list[tuple[float, float]]] = {"run": [], "serve": []}
    try:
        while time.monotonic() - began < args.minutes * 60:
            if run.poll() is not None:
                raise SystemExit(f"newsdesk run exited with {run.returncode}: see {log.name}")
            seen |= committed(db)
            rounds.append(load(site.port, site_paths(db, site.port), args.round, args.rate))
            at = (time.monotonic() - began) / 60
            memory["run"].append((at, rss_mib(run.pid)))
            memory["serve"].append((at, rss_mib(site.proc.pid)))
            print(
                f"{at:5.1f} min: {rounds[-1]['requests']:.0f} requests, p99 "
                f"{rounds[-1]['p99_ms']:.0f} ms, {rounds[-1]['errors']:.0f} errors; "
                f"{len(seen)} items; RSS run {memory['run'][-1][1]:.0f} MiB, "
                f"serve {memory['serve'][-1][1]:.0f} MiB",
                file=sys.stderr,
            )
    finally:
        soaked = (time.monotonic() - began) / 60
        stopping = time.monotonic()
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=900)
        site.close()
        server.shutdown()
    seen |= committed(db)  # the run's last commits before it stopped
    final = committed(db)
    with sqlite3.connect(db) as conn:
        (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
        briefs = conn.execute("SELECT count(*) FROM briefs").fetchone()[0]
        stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]

    def growth(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
        warm = [m for at, m in samples if at >= args.warmup] or [samples[-1][1]]
        return warm[0], samples[-1][1], samples[-1][1] / warm[0] - 1

    figures: dict[str, Any] = {
        "minutes": round(soaked, 1),
        "rate": args.rate,
        "stop_seconds": round(time.monotonic() - stopping),
        "requests": int(sum(r["requests"] for r in rounds)),
        "errors": int(sum(r["errors"] for r in rounds)),
        "empty_tag_pages": int(sum(r["empty_tag_pages"] for r in rounds)),
        "p99_ms_first_round": round(rounds[0]["p99_ms"], 1),
        "p99_ms_last_round": round(rounds[-1]["p99_ms"], 1),
        "p99_ms_worst_round": round(max(r["p99_ms"] for r in rounds), 1),
        "items_committed": len(seen),
        "items_lost": len(seen - final),
        "stories": stories,
        "briefs": briefs,
        "integrity_check": integrity,
        "run_exit_code": run.returncode,
    }
    for name, samples in memory.items():
        start, end, grew = growth(samples)
        figures[f"{name}_rss_mib_after_warmup"] = round(start, 1)
        figures[f"{name}_rss_mib_end"] = round(end, 1)
        figures[f"{name}_rss_growth"] = round(grew, 4)
    print(
        f"soak {figures['minutes']} min: {figures['requests']:,} requests, "
        f"{figures['errors']} errors at {args.rate:g} requests/s "
        f"({figures['empty_tag_pages']} pages of a tag no story carries any more); p99 "
        f"{figures['p99_ms_first_round']} ms in the first round (the baseline), "
        f"{figures['p99_ms_last_round']} ms in the last "
        f"(ratio {figures['p99_ms_last_round'] / figures['p99_ms_first_round']:.2f}), worst "
        f"round {figures['p99_ms_worst_round']} ms; `newsdesk run` stopped "
        f"{figures['stop_seconds']} s after SIGTERM"
    )
    print(
        f"memory after {args.warmup:g} min -> end: run {figures['run_rss_mib_after_warmup']} -> "
        f"{figures['run_rss_mib_end']} MiB ({100 * figures['run_rss_growth']:+.1f}%), serve "
        f"{figures['serve_rss_mib_after_warmup']} -> {figures['serve_rss_mib_end']} MiB "
        f"({100 * figures['serve_rss_growth']:+.1f}%)"
    )
    print(
        f"items: {figures['items_committed']} committed, {figures['items_lost']} lost; "
        f"{stories} stories, {briefs} briefs; integrity_check {integrity}; "
        f"newsdesk run exited {run.returncode}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
