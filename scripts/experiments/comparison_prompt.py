"""Experiment: does the comparison table's instruction make the model invent its columns?
Not part of newsdesk; the figures go to docs/briefs.md.

The writer's instruction gave examples of what a table compares, "(models, prices,
scores)", and Qwen2.5-Coder-1.5B wrote "Model / Price / Score" as the columns of a home
lab's post, a books story and a trade dispute. For every story with a brief in a data
directory, this asks the comparison section alone, once per instruction, with the writer's
own pack, post-processing and checker, and prints each table: its columns, whether each
column's words occur in the pack, and its rows' verdicts.

    NEWSDESK_DATA_DIR=/tmp/exp-data .venv/bin/python scripts/experiments/comparison_prompt.py \
        [--limit 30] [--variant current] [--variant measures] [--out /tmp/tables.json]
"""

from __future__ import annotations

import argparse
import json
import re
import time

from _stories import chosen_packs

from newsdesk.briefs import writer as writing
from newsdesk.briefs.schema import ComparisonSection
from newsdesk.briefs.writer import BriefResult, _user, json_schema, table_row
from newsdesk.desk import Desk
from newsdesk.grounding import Claim

VARIANTS = {
    "current": writing.INSTRUCTIONS["comparison"],
    "measures": "A table only if the passages compare two or more things on the same "
    "measures: the first column names the things, the others the measures as the passages "
    "name them; else empty columns, rows and cites.",
    "empty": "Leave columns, rows and cites empty unless the passages give the same measures "
    "(numbers, sizes, prices, scores) for two or more named things; then one row per thing "
    "and one column per measure.",
}


def stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--unbriefed", action="store_true", help="the top stories without a brief instead"
    )
    args = parser.parse_args()
    variants = args.variant or list(VARIANTS)

    desk = Desk()
    writer = desk.brief_writer
    out = []
    for sid, pack in chosen_packs(desk, args.limit, args.unbriefed):
        pack_stems = stems(" ".join(p.text for p in pack.passages))
        system = {
            "role": "system",
            "content": writing.SYSTEM.format(pack=pack.render()),
        }
        provenance = pack.provenance()
        texts = [p.text for p in pack.passages]
        for variant in variants:
            start = time.perf_counter()
            asks = {
                "comparison": (
                    ComparisonSection,
                    [system, _user(VARIANTS[variant])],
                    json_schema(ComparisonSection),
                )
            }
            result = BriefResult(sid)
            done, problems = writer._write(sid, asks, pack, provenance, result)
            seconds = time.perf_counter() - start
            table = done["comparison"].comparison if "comparison" in done else None  # type: ignore[attr-defined]
            record = {
                "story": sid,
                "variant": variant,
                "seconds": round(seconds, 1),
                "problem": problems.get("comparison"),
                "raw": result.generations[-1].text if result.generations else "",
            }
            if table is not None and table.rows:
                verdicts = writer.checker.check_all(
                    texts,
                    [Claim(table_row(table.columns, r), tuple(table.cites)) for r in table.rows],
                )
                record |= {
                    "columns": table.columns,
                    "in_pack": [bool(stems(c) & pack_stems) for c in table.columns],
                    "rows": table.rows,
                    "labels": [v.label for v in verdicts],
                }
            out.append(record)
            print(json.dumps(record), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    for variant in variants:
        mine = [r for r in out if r["variant"] == variant]
        tables = [r for r in mine if r.get("rows")]
        rows = sum(len(r["rows"]) for r in tables)
        supported = sum(r["labels"].count("supported") for r in tables)
        echo = sum(
            1 for r in tables if {c.lower().rstrip("s") for c in r["columns"]} & {"price", "score"}
        )
        print(
            f"{variant}: {len(tables)} tables of {len(mine)} stories, {echo} with a Price or "
            f"Score column, {rows} rows, {supported} supported, "
            f"{sum(all(r['in_pack'][1:]) for r in tables)} with every measure column in the pack"
        )


if __name__ == "__main__":
    main()
