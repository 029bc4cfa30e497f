"""Run each atheris harness for a bounded time and report inputs executed and crashes.

    .venv/bin/python fuzz/run.py --seconds 120 [--json PATH] [--only feed reddit]
        [--keep DIR]

Each harness runs in its own process (libFuzzer through atheris) with ``-max_total_time``,
seeded from the recorded documents in the shared data folder (../shared/data, or
NEWSDESK_SHARED_DATA), copied into a temporary corpus folder, never into the repository.
libFuzzer stops at the first crash; the harness is then started again on the grown corpus
for the time that is left, so one run can report several crashes. Crashes are told apart
by exception type and the innermost newsdesk frame; each one's input is kept (``--keep``,
else a temporary folder that is left in place when something crashed).

Prints a line per harness; ``--json`` writes the same figures. Exits 1 when anything
crashed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("NEWSDESK_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Longer inputs cost more per execution than they find; most seeds are far smaller.
MAX_LEN = 32_768
MAX_RESTARTS = 25


# --- seeds from the recorded data ------------------------------------------------------


def _small(documents: Iterator[bytes]) -> Iterator[bytes]:
    return (d for d in documents if 0 < len(d) <= MAX_LEN)


def _rss_items(path: Path) -> Iterator[bytes]:
    """One document per entry: the channel's head, the entry, the closing tags."""
    data = path.read_bytes()
    start = data.find(b"<item>")
    if start == -1:
        yield data
        return
    head = data[:start]
    for match in re.finditer(rb"<item>.*?</item>", data, re.DOTALL):
        yield head + match.group() + b"</channel></rss>"


def feed_seeds(shared: Path) -> Iterator[bytes]:
    for path in sorted((shared / "rss-ai-feeds").glob("**/*.xml")):
        yield from _small(_rss_items(path))
    for folder in ("feedrs-fixtures", "feedparser-testsuite"):
        for path in sorted((shared / folder).glob("**/*")):
            if (
                path.suffix in {".xml", ".rss", ".atom", ".rdf", ".json"}
                and not path.name.endswith(".serde.json")  # expectations, not feeds
                and path.is_file()
            ):
                yield from _small(iter([path.read_bytes()]))


def _listing(children: list[object]) -> bytes:
    return json.dumps({"kind": "Listing", "data": {"children": children, "after": None}}).encode()


def reddit_seeds(shared: Path) -> Iterator[bytes]:
    base = shared / "reddit-localllama"
    for path in sorted((base / "listings").glob("*.json")):
        for child in json.loads(path.read_bytes())["data"]["children"][:30]:
            yield _listing([child])
    for path in sorted((base / "threads_sample").glob("*.json")):
        post, comments = json.loads(path.read_bytes())[:2]
        comments["data"]["children"] = comments["data"]["children"][:3]
        yield json.dumps([post, comments]).encode()
    with gzip.open(base / "posts.jsonl.gz", "rt", encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if index % 25 == 0:  # 150 of the 3,747 posts
                yield _listing([json.loads(line)])


def hackernews_seeds(shared: Path) -> Iterator[bytes]:
    for path in sorted((shared / "api-samples" / "hackernews").glob("*")):
        if path.suffix in {".json", ".txt"} and not path.name.startswith("LICENSE"):
            yield path.read_bytes()[:MAX_LEN]


def arxiv_seeds(shared: Path) -> Iterator[bytes]:
    for path in sorted((shared / "api-samples" / "arxiv").glob("*.xml")):
        data = path.read_bytes()
        start = data.find(b"<entry>")
        head = data[:start] if start != -1 else data
        for match in re.finditer(rb"<entry>.*?</entry>", data, re.DOTALL):
            yield head + match.group() + b"</feed>"
        yield from _small(iter([data]))


HARNESSES: dict[str, Callable[[Path], Iterator[bytes]]] = {
    "feed": feed_seeds,
    "reddit": reddit_seeds,
    "hackernews": hackernews_seeds,
    "arxiv": arxiv_seeds,
}
# The bugs each harness found that are fixed, by their regression tests in tests/test_fuzz.py
# (hypothesis had found the Reddit and Hacker News ones before these harnesses ran).
FIXED = {
    "feed": ["test_sanitized_html_kept_character_references_to_noncharacters"],
    "arxiv": ["test_arxiv_encoding_expat_cannot_use_raised"],
}


# --- running ---------------------------------------------------------------------------


@dataclass
class Crash:
    kind: str  # "ValueError: year 0 is out of range"
    where: str  # innermost frame of ours: "src/newsdesk/sources/reddit.py:183 in _time"
    input: str  # the crashing input's file


@dataclass
class Result:
    name: str
    seconds: float
    executed: int
    seeds: int
    crashes: int = 0
    restarts: int = 0
    fixed: int = 0  # found earlier and fixed (FIXED)
    found: list[Crash] = field(default_factory=list)


_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s", re.MULTILINE)
_FRAME = re.compile(r'File "([^"]*)", line (\d+), in (\S+)')


def _executed(log: str) -> int:
    """libFuzzer's final count; the last progress line when it printed none."""
    found = _EXECUTED.findall(log)
    if found:
        return int(found[-1])
    progress = _PROGRESS.findall(log)
    return int(progress[-1]) if progress else 0


def _crash(log: str, artifact: Path) -> Crash:
    block = log.split("=== Uncaught Python exception: ===", 1)[-1]
    lines = [line for line in block.splitlines() if line.strip()]
    kind = next(
        (line.strip() for line in lines if re.match(r"^\w[\w.]*(Error|Exception|Exit)\b", line)),
        lines[-1].strip() if lines else "unknown",
    )
    # The innermost frame of newsdesk's own code, or of the invariant that failed.
    ours = [
        (path, line, func)
        for path, line, func in _FRAME.findall(block)
        if "/src/newsdesk/" in path or path.endswith("/fuzz/invariants.py")
    ]
    where = ""
    if ours:
        path, line, func = ours[-1]
        where = f"{path.split(f'{ROOT}/', 1)[-1]}:{line} in {func}"
    return Crash(kind=kind[:200], where=where, input=str(artifact))


def run_harness(name: str, seconds: int, shared: Path, work: Path) -> Result:
    corpus, artifacts = work / name / "corpus", work / name / "crashes"
    corpus.mkdir(parents=True)
    artifacts.mkdir(parents=True)
    seeds = 0
    for seed in HARNESSES[name](shared):
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        seeds += 1
    result = Result(name=name, seconds=0.0, executed=0, seeds=seeds, fixed=len(FIXED.get(name, [])))
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + seconds
    while (left := int(deadline - time.monotonic())) >= 1 and result.restarts <= MAX_RESTARTS:
        before = set(artifacts.iterdir())
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / f"{name}.py"),
                str(corpus),
                f"-max_total_time={left}",
                f"-max_len={MAX_LEN}",
                "-timeout=30",
                "-rss_limit_mb=4096",
                "-print_final_stats=1",
                f"-artifact_prefix={artifacts}/",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        result.seconds += time.monotonic() - started
        log = proc.stdout + proc.stderr
        (work / name / f"log-{result.restarts}.txt").write_text(log)
        result.executed += _executed(log)
        new = sorted(set(artifacts.iterdir()) - before)
        if proc.returncode == 0 and not new:
            break
        if not new:  # died without an input to show for it: report it, stop
            result.found.append(Crash(f"exit {proc.returncode}", "", log[-500:]))
            break
        crash = _crash(log, new[0])
        if (crash.kind.split(":")[0], crash.where) not in seen:
            seen.add((crash.kind.split(":")[0], crash.where))
            result.found.append(crash)
        result.restarts += 1
    result.crashes = len(result.found)
    result.seconds = round(result.seconds, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, required=True, help="fuzzing time per harness")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--only", nargs="+", choices=sorted(HARNESSES), help="these harnesses")
    parser.add_argument("--keep", type=Path, help="keep corpora, logs and crashes here")
    args = parser.parse_args()
    if not SHARED_DATA.is_dir():
        sys.exit(f"no recorded data at {SHARED_DATA} to seed from (set NEWSDESK_SHARED_DATA)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="newsdesk-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.only or list(HARNESSES):
        shutil.rmtree(work / name, ignore_errors=True)
        result = run_harness(name, args.seconds, SHARED_DATA, work)
        results.append(result)
        rate = result.executed / result.seconds if result.seconds else 0.0
        print(
            f"{name:<11} {result.executed:>10,} inputs in {result.seconds:>6.1f} s "
            f"({rate:,.0f}/s, {result.seeds} seeds), {result.crashes} crashes",
            flush=True,
        )
        for crash in result.found:
            print(f"    {crash.kind}\n      at {crash.where or '?'}\n      input {crash.input}")
    crashed = any(r.crashes for r in results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"seconds_per_harness": args.seconds, "harnesses": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.keep is None and not crashed:
        shutil.rmtree(work, ignore_errors=True)
    elif crashed:
        print(f"crashing inputs are under {work}", file=sys.stderr)
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
