"""Web benchmark: `newsdesk serve` under 50 concurrent connections from a load generator on
127.0.0.1.

The store: the first --posts recorded r/LocalLLaMA posts (at least 3,000 items), clustered
for real, with briefs of the --briefs best stories written by SmolLM2-135M (pages of the
same shape as the default model's; built once and kept under --cache). `newsdesk serve` runs
as its own process; the load generator is wrk (Debian's package) where it is installed, else
a Python one (asyncio, raw HTTP/1.1 keep-alive), and takes its share of the same 2 cores.

For each target, requests/s and p50/p99 latency over --seconds: the home page, story pages
(round-robin over every briefed story and the next best ones), and the stylesheet served by
the same server (the baseline, in the same run). Story pages are measured with the page
cache on (the default, `page_cache_seconds`) and off. Prints a table and the ratio of each
rate to the static file's.

    .venv/bin/python bench/web.py [--posts 3000] [--briefs 5] [--seconds 20]
        [--connections 50] [--load wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(data_dir: Path, posts: int, briefs: int) -> None:
    """Import, cluster and write briefs into ``data_dir`` (skipped when already built)."""
    from newsdesk.desk import Desk
    from newsdesk.evaluate import dataset_path
    from newsdesk.settings import Settings

    marker = data_dir / f"built-{posts}-{briefs}"
    if marker.exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    source = dataset_path("localllama")
    settings = Settings.load(
        data_dir=data_dir, llm_model="smollm2-135m", llm_threads=2, grounding_judge=False
    )
    desk = Desk(settings)
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "posts.jsonl.gz"
        with gzip.open(source, "rt", encoding="utf-8") as src, gzip.open(subset, "wt") as dst:
            for n, line in enumerate(src):
                if n >= posts:
                    break
                dst.write(line)
        print(f"building the store: {posts:,} posts", file=sys.stderr)
        desk.import_reddit(subset)
    run = desk.cluster()
    print(f"  {run.new_stories:,} stories; writing {briefs} briefs", file=sys.stderr)
    results = desk.write_briefs(limit=briefs)
    failed = [r for r in results if r.error]
    if failed:
        print(f"  {len(failed)} briefs failed: {failed[0].error}", file=sys.stderr)
    desk.close()
    marker.touch()


def story_paths(data_dir: Path, count: int) -> list[str]:
    from newsdesk.desk import Desk
    from newsdesk.settings import Settings

    desk = Desk(Settings.load(data_dir=data_dir))
    river = desk.river(limit=count)
    desk.close()
    briefed = [c for c in river.cards if c.brief is not None]
    print(f"story pages: {len(river.cards)} ({len(briefed)} with a brief)", file=sys.stderr)
    return [f"/stories/{c.story.id}" for c in river.cards]


class Server:
    """`newsdesk serve` on a free port of 127.0.0.1, in its own process."""

    def __init__(self, data_dir: Path, cache_seconds: float) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "NEWSDESK_DATA_DIR": str(data_dir),
            "NEWSDESK_PAGE_CACHE_SECONDS": str(cache_seconds),
        }
        self.proc = subprocess.Popen(
            [str(BIN / "newsdesk"), "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("newsdesk serve did not start")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- load generators -----------------------------------------------------------------------

WRK_SCRIPT = """
paths = {%s}
n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
"""


def load_wrk(port: int, paths: list[str], seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
        script = f.name
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if m is None:
        raise RuntimeError(f"wrk said: {out}")
    requests, micros, p50, p99, errors = (int(g) for g in m.groups())
    return {
        "rps": requests / (micros / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "errors": errors,
        "requests": requests,
    }


async def _python_load(
    port: int, paths: list[str], seconds: int, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal errors, counter
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            path = paths[counter % len(paths)]
            counter += 1
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[max(0, int(0.99 * len(ordered)) - 1)],
        "errors": errors,
        "requests": len(latencies),
    }


def load(kind: str, port: int, paths: list[str], seconds: int, conns: int) -> dict[str, float]:
    # A short warm-up (imports, first queries, the cache's first fill) is not measured.
    warm = max(2, seconds // 10)
    if kind == "wrk":
        load_wrk(port, paths, warm, conns)
        return load_wrk(port, paths, seconds, conns)
    asyncio.run(_python_load(port, paths, warm, conns))
    return asyncio.run(_python_load(port, paths, seconds, conns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--briefs", type=int, default=5)
    parser.add_argument("--stories", type=int, default=100, help="story pages in rotation")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--load", choices=("wrk", "python"), default=None)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "newsdesk" / "bench-web",
        help="where the built store is kept between runs",
    )
    args = parser.parse_args()
    kind = args.load or ("wrk" if shutil.which("wrk") else "python")

    data_dir = args.cache / f"posts-{args.posts}"
    build_store(data_dir, args.posts, args.briefs)
    from newsdesk.desk import Desk
    from newsdesk.settings import Settings

    desk = Desk(Settings.load(data_dir=data_dir))
    counts = desk.stats()
    desk.close()
    stories = story_paths(data_dir, args.stories)
    print(
        f"store: {counts['items']:,} items, {counts['stories']:,} stories, "
        f"{counts['briefs']:,} briefs; load: {kind}, {args.connections} connections, "
        f"{args.seconds} s each; {os.cpu_count()} cores"
    )
    rows: list[tuple[str, dict[str, float]]] = []
    for cache_seconds in (5.0, 0.0):
        server = Server(data_dir, cache_seconds)
        try:
            label = "cache on" if cache_seconds else "cache off"
            targets = [("story pages", stories), ("home page", ["/"])]
            if cache_seconds:
                targets.insert(0, ("static file", ["/static/style.css"]))
            for name, paths in targets:
                rows.append(
                    (
                        f"{name} ({label})",
                        load(kind, server.port, paths, args.seconds, args.connections),
                    )
                )
        finally:
            server.close()
    static = rows[0][1]["rps"]
    print(f"{'target':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'/static':>8}")
    for name, r in rows:
        print(
            f"{name:<28} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{int(r['errors']):>7} {r['rps'] / static:>8.2f}"
        )


if __name__ == "__main__":
    main()
