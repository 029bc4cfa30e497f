"""Experiment: which of the hashtags the model writes does ``tags.written_tags`` keep?
Not part of newsdesk; the figures go to docs/briefs.md.

For the top stories of a data directory (those without a brief, with ``--unbriefed``: a
set the rule was not written from), this asks the headline section alone, with the
writer's own pack and post-processing, and prints the hashtags the model wrote, those the
rule keeps and those it leaves out.

    NEWSDESK_DATA_DIR=/tmp/exp-data .venv/bin/python scripts/experiments/hashtags.py \
        [--limit 30] [--unbriefed] [--out /tmp/tags.json]
"""

from __future__ import annotations

import argparse
import json

from _stories import chosen_packs

from newsdesk.briefs import writer as writing
from newsdesk.briefs.schema import Headline
from newsdesk.briefs.writer import BriefResult, _user, json_schema
from newsdesk.desk import Desk
from newsdesk.tags import written_tags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--unbriefed", action="store_true", help="the top stories without a brief instead"
    )
    args = parser.parse_args()

    desk = Desk()
    writer = desk.brief_writer
    out = []
    for sid, pack in chosen_packs(desk, args.limit, args.unbriefed):
        if not pack.passages:
            continue
        system = {"role": "system", "content": writing.SYSTEM.format(pack=pack.render())}
        asks = {
            "headline": (
                Headline,
                [system, _user(writing.INSTRUCTIONS["headline"])],
                json_schema(Headline),
            )
        }
        done, problems = writer._write(sid, asks, pack, pack.provenance(), BriefResult(sid))
        if "headline" not in done:
            print(json.dumps({"story": sid, "problem": problems.get("headline")}), flush=True)
            continue
        wrote = list(done["headline"].hashtags)  # type: ignore[attr-defined]
        kept = written_tags(wrote, "\n".join(p.text for p in pack.passages))
        record = {
            "story": sid,
            "title": desk.store.get_story(sid).title,  # type: ignore[union-attr]
            "wrote": wrote,
            "kept": kept,
            "left_out": [t for t in wrote if t not in kept],
        }
        out.append(record)
        print(json.dumps(record), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    wrote = sum(len(r["wrote"]) for r in out)
    kept = sum(len(r["kept"]) for r in out)
    empty = sum(1 for r in out if not r["kept"])
    print(f"{len(out)} stories: {wrote} hashtags written, {kept} kept, {empty} stories with none")


if __name__ == "__main__":
    main()
