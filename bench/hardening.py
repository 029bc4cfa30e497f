"""`make check-hardening`: the bounded hardening runs, then the table of docs/reliability.md.

1. the coverage-guided fuzzers (fuzz/run.py, atheris) for --fuzz-seconds per harness;
2. the hypothesis properties with NEWSDESK_FUZZ_EXAMPLES examples each, the fault
   injections, the whole hostile-content corpus (a brief by the real model for every
   injection payload) and the access tests (pytest, NEWSDESK_HARDENING_FULL=1);
3. the soak (bench/soak.py) for --soak-minutes.

Each step writes its figures as JSON into --out; this prints them as the markdown table of
docs/reliability.md. `make test` runs the fast part of the same tests (a sample of the
corpus, fewer examples, no soak).

    .venv/bin/python bench/hardening.py [--fuzz-seconds 120] [--soak-minutes 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# The figure files each step writes (into NEWSDESK_HARDENING_REPORT, or --json).
FIGURES = {
    "fuzz": ["fuzz.json"],
    "tests": ["faults.json", "hostile-injection.json", "hostile-xss.json"],
    "soak": ["soak.json"],
}
STEPS = list(FIGURES)
TESTS = [
    "tests/test_fuzz.py",
    "tests/test_faults.py",
    "tests/test_hostile.py",
    "tests/test_access.py",
    "tests/test_crash.py",
]


def step(name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    print(f"== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env)
    return {"step": name, "exit": done.returncode, "seconds": round(time.monotonic() - started)}


def load(out: Path, name: str) -> Any:
    path = out / name
    return json.loads(path.read_text()) if path.exists() else None


def table(out: Path, steps: list[dict[str, Any]]) -> str:
    rows = ["| Check | Tried | Found or failed | Lost / followed |", "|---|---|---|---|"]
    fuzz = load(out, "fuzz.json")
    if fuzz:
        for h in fuzz.get("harnesses", []):
            rows.append(
                f"| fuzz (atheris) `{h['name']}`, {h['seconds']} s | {h['executed']:,} inputs | "
                f"{h['crashes']} crashes | {h.get('fixed', 0)} fixed earlier, now regression "
                "tests |"
            )
    for name in ("hostile-injection.json", "hostile-xss.json"):
        hostile = load(out, name)
        if hostile:
            for key, value in hostile.items():
                rows.append(f"| hostile content: {key} | {value} | | |")
    faults = load(out, "faults.json")
    if faults:
        for f in faults:
            rows.append(
                f"| fault: {f['fault']} | {f['injected']} injected | "
                f"`{str(f.get('error', ''))[:90]}` | {f['lost']} of "
                f"{f['items_committed_before']} items lost |"
            )
    soak = load(out, "soak.json")
    if soak:
        emptied = (
            f" ({soak['empty_tag_pages']} pages of a tag no story carries any more)"
            if "empty_tag_pages" in soak
            else ""
        )
        rows.append(
            f"| soak {soak['minutes']} min, site at {soak['rate']:g} requests/s | "
            f"{soak['requests']:,} requests, p99 {soak['p99_ms_worst_round']} ms in the worst "
            f"round | {soak['errors']} error answers{emptied}; {soak['briefs']} briefs written | "
            f"{soak['items_lost']} of "
            f"{soak['items_committed']} items lost; integrity_check {soak['integrity_check']} |"
        )
        for proc in ("run", "serve"):
            rows.append(
                f"| soak memory: `newsdesk {proc}` | "
                f"{soak[f'{proc}_rss_mib_after_warmup']} MiB after warm-up | "
                f"{soak[f'{proc}_rss_mib_end']} MiB at the end | "
                f"{100 * soak[f'{proc}_rss_growth']:+.1f}% |"
            )
    for s in steps:
        rows.append(f"| step `{s['step']}` | {s['seconds']} s | exit {s['exit']} | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz-seconds", type=int, default=120)
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--examples", type=int, default=2000, help="hypothesis examples")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "hardening")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=STEPS,
        default=STEPS,
        help="run these steps; the table also shows the figures earlier steps left in --out",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "NEWSDESK_HARDENING_REPORT": str(args.out),
        "NEWSDESK_HARDENING_FULL": "1",
        "NEWSDESK_FUZZ_EXAMPLES": str(args.examples),
    }
    commands = {
        "fuzz": [PY, "fuzz/run.py", "--seconds", str(args.fuzz_seconds)],
        "tests": [PY, "-m", "pytest", "-q", *TESTS],
        "soak": [PY, "bench/soak.py", "--minutes", str(args.soak_minutes)],
    }
    steps = []
    for name in args.only:
        for stale in FIGURES[name]:
            (args.out / stale).unlink(missing_ok=True)
        json_out = ["--json", str(args.out / f"{name}.json")] if name != "tests" else []
        steps.append(step(name, commands[name] + json_out, env))
    report = table(args.out, steps)
    (args.out / "table.md").write_text(report + "\n")
    print(report)
    if any(s["exit"] for s in steps):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
