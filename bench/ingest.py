"""Ingest benchmark: the 3,747 Reddit posts and every rss-ai-feeds file into a fresh SQLite store.

Prints items/s, peak RSS and the ratio of storing to parsing alone (json.loads and
feedparser on the same files, nothing stored), both measured in this run.

    .venv/bin/python bench/ingest.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import feedparser

from newsdesk.desk import Desk
from newsdesk.settings import Settings
from newsdesk.sources.feed import adapt, parse_feed

ROOT = Path(__file__).resolve().parents[1]


def feed_files(data: Path) -> list[Path]:
    return sorted((data / "rss-ai-feeds").rglob("*.xml"))


def parse_only(data: Path) -> int:
    """The baseline: what any reader must do anyway, with nothing stored."""
    count = 0
    with gzip.open(data / "reddit-localllama" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            json.loads(line)
            count += 1
    for path in feed_files(data):
        count += len(feedparser.parse(path.read_bytes()).entries)
    return count


def ingest(data: Path) -> int:
    """newsdesk's own path: parse, adapt, sanitize, upsert into a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        desk = Desk(Settings.load(env={}, data_dir=Path(tmp)))
        result = desk.import_reddit(data / "reddit-localllama" / "posts.jsonl.gz")
        stored = result.counts.new
        for path in feed_files(data):
            url = f"https://bench.invalid/{path.parent.name}/{path.name}"
            source = desk.store.add_source("feed", url, path.stem, "📰")
            items = adapt(parse_feed(path.read_bytes(), url), url)
            stored += desk.store.upsert_items(source.id, items).new
        desk.close()
        return stored


def timed(fn: object, data: Path, repeat: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(data)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.data / "reddit-localllama").is_dir():
        print(f"skipped: no real data at {args.data}", file=sys.stderr)
        return 0

    base_s, parsed = timed(parse_only, args.data, args.repeat)
    rss_after_parse = peak_rss_mb()
    ingest_s, stored = timed(ingest, args.data, args.repeat)
    print(f"files: posts.jsonl.gz + {len(feed_files(args.data))} rss-ai-feeds files")
    print(f"parse only : {parsed:,} items in {base_s:.2f} s = {parsed / base_s:,.0f} items/s")
    print(f"ingest     : {stored:,} items in {ingest_s:.2f} s = {stored / ingest_s:,.0f} items/s")
    print(f"ratio      : ingest / parse only = {ingest_s / base_s:.2f}x (goal <= 3x)")
    print(
        f"peak RSS   : {rss_after_parse:.0f} MB after parsing, {peak_rss_mb():.0f} MB after ingest"
    )
    print(f"(median of {args.repeat} runs each, same process, same files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
