"""Experiment (docs/reliability.md): what the name rule (``briefs.injection.scrub_borrowed``)
takes out of real briefs. Runs bench/brief.py (recorded r/LocalLLaMA posts, the default
generator) with the rule wrapped, and prints how many strings of model output it read and
the words it took out of each section it changed.

    .venv/bin/python scripts/experiments/scrub_cost.py [bench/brief.py's options]
"""

import json
import runpy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
import newsdesk.briefs.writer as writer  # noqa: E402

rule = writer.scrub_borrowed
read = 0
taken: list[list[str]] = []


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


def wrapped(value: Any, provenance: Any, **kwargs: Any) -> Any:
    global read
    out = rule(value, provenance, **kwargs)
    before, after = strings(value), strings(out)
    read += len(before)
    gone = set(" ".join(before).split()) - set(" ".join(after).split())
    if gone:
        taken.append(sorted(gone))
    return out


writer.scrub_borrowed = wrapped
sys.argv = [str(ROOT / "bench" / "brief.py"), *sys.argv[1:]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print(f"name rule: {read} strings read, {len(taken)} sections changed: {json.dumps(taken)}")
