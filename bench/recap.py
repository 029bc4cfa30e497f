"""Recap benchmark: write one weekly recap with the default model when its stories' briefs
exist.

The store: the recorded r/LocalLLaMA posts of one ISO week (--week, default 2025-W31),
clustered for real, with the briefs of the week's best stories written by the same default
model (built once and kept under --cache; that part is not timed). Then, timed: the recap
written from scratch (``force``), and written again with nothing changed (no model call).
The baseline, in the same run: the best story's brief written again (``force``). Prints
seconds, prompt and generated tokens, the opening's kept and dropped sentences, and the
ratio recap / brief.

    .venv/bin/python bench/recap.py [--week 2025-W31] [--briefs 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from newsdesk.desk import Desk
from newsdesk.evaluate import dataset_path
from newsdesk.recap import OPENING_STORIES, parse_period, period_of
from newsdesk.settings import Settings


def build_store(data_dir: Path, week: str, briefs: int, settings: Settings) -> None:
    marker = data_dir / f"built-{week}-{briefs}"
    if marker.exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    period = parse_period(week)
    desk = Desk(settings)
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "posts.jsonl.gz"
        kept = 0
        with (
            gzip.open(dataset_path("localllama"), "rt", encoding="utf-8") as src,
            gzip.open(subset, "wt", encoding="utf-8") as dst,
        ):
            for line in src:
                post = json.loads(line)
                data = post.get("data", post)
                created = data.get("created_utc")
                if created is None:
                    continue
                moment = datetime.fromtimestamp(float(created), UTC)
                if period_of(moment).label == week:
                    dst.write(line)
                    kept += 1
        print(f"building the store: {kept:,} posts of {week}", file=sys.stderr)
        desk.import_reddit(subset)
    run = desk.cluster()
    content = desk.recapper.build(period)
    todo = [s["id"] for s in content["stories"][:briefs]]
    print(
        f"  {run.new_stories:,} stories; writing {len(todo)} briefs with {settings.llm_model}",
        file=sys.stderr,
    )
    for n, result in enumerate(desk.write_briefs(story_ids=todo), 1):
        state = result.error or f"{result.seconds:.1f} s"
        print(f"  brief {n}/{len(todo)} {result.story_id}: {state}", file=sys.stderr)
    desk.close()
    marker.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="2025-W31")
    parser.add_argument("--briefs", type=int, default=OPENING_STORIES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "newsdesk" / "bench-recap"
    )
    args = parser.parse_args()
    data_dir = args.cache / args.week
    settings = Settings.load(data_dir=data_dir, llm_threads=args.threads)
    build_store(data_dir, args.week, args.briefs, settings)

    desk = Desk(settings)
    content = desk.recapper.build(parse_period(args.week))
    brief_seconds = [
        desk.brief(s["id"]).seconds for s in content["stories"] if s["brief_version"] is not None
    ]
    desk.recapper.llm.count_tokens("warm up")  # the model file loads outside the timing
    # The baseline, in this run: the best story's brief written again from its sources.
    best = next(s["id"] for s in content["stories"] if s["brief_version"] is not None)
    again_brief = desk.brief_writer.write(best, force=True)
    started = time.perf_counter()
    first = desk.write_recap(args.week, force=True)
    seconds = time.perf_counter() - started
    row = desk.store.latest_recap(args.week)
    started = time.perf_counter()
    again = desk.write_recap(args.week)
    unchanged = time.perf_counter() - started
    baseline = again_brief.seconds
    opening = first.content["opening"]
    print(
        f"week {args.week}: {content['numbers']['stories']} stories, "
        f"{len(brief_seconds)} with a brief, {len(first.content['passages'])} in the opening; "
        f"model {settings.llm_model}, {args.threads} threads"
    )
    print(
        f"recap written in {seconds:.1f} s ({first.calls} model call, {row.prompt_tokens} "
        f"prompt + {row.completion_tokens} generated tokens); opening: {len(opening)} "
        f"sentences kept, {len(first.content['dropped'])} dropped"
    )
    print(f"written again unchanged: {unchanged:.2f} s, {again.calls} model calls")
    print(
        f"baseline: the best story's brief written again in this run, {baseline:.1f} s "
        f"(stored briefs: median {statistics.median(brief_seconds):.1f} s); "
        f"recap / brief = {seconds / baseline:.2f}"
    )
    for sentence in opening:
        print(f"  - {sentence['text']} {sentence['cites']}")
    desk.close()


if __name__ == "__main__":
    main()
