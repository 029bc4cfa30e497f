"""Brief benchmark: write the briefs of the best stories of recorded Reddit posts on the CPU.

Through the real path (`Desk.write_briefs` on a fresh SQLite store, stories from
`Desk.cluster`): the default generator in process (llama.cpp), 2 threads, on the most
important stories whose source text fills at least half of the pack budget. Prints seconds
per complete brief (median, p90), generated tokens/s while writing briefs divided by
llama.cpp's free (unconstrained) generation speed for the same model on a prompt of the
same size (the baseline, measured in the same run), prompt tokens evaluated per brief
divided by the source pack's size, and peak RSS.

    .venv/bin/python bench/brief.py [--data ../shared/data] [--stories 10] [--posts 1000]
        [--min-pack 0.5] [--model qwen2.5-coder-1.5b] [--threads 2] [--parallel 8]
        [--sections]
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from newsdesk.desk import Desk
from newsdesk.llm import Generation
from newsdesk.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

# Free-text instructions for the baseline, asked in turn until 256 tokens are generated
# (a small model may stop early on one of them).
FREE_INSTRUCTIONS = (
    "Retell every passage in full detail, one paragraph of at least 80 words per passage.",
    "Explain to an engineer, in at least 300 words, what these passages report and why.",
    "Write a long plain-prose article of at least 300 words from these passages.",
    "List every fact the passages state, one numbered line each, then discuss each one.",
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.9 * len(ordered) + 0.5) - 1)]


def decode_rate(gens: list[Generation]) -> float:
    """Generated tokens per second of decoding (time to the first token left out)."""
    seconds = sum(g.seconds - g.prompt_seconds for g in gens)
    return sum(g.completion_tokens for g in gens) / seconds if seconds > 0 else 0.0


def free_generation(desk: Desk, story_id: str) -> list[Generation]:
    """Unconstrained generation on the brief prompt of ``story_id`` (same size, no schema)."""
    from newsdesk.briefs.pack import build_pack
    from newsdesk.briefs.writer import SYSTEM

    writer = desk.brief_writer
    rows = desk.store.story_items(story_id)
    pack = build_pack(rows, writer.budget(), desk.llm.count_tokens)
    system = {"role": "system", "content": SYSTEM.format(pack=pack.render())}
    gens: list[Generation] = []
    for instruction in FREE_INSTRUCTIONS:
        messages = [system, {"role": "user", "content": instruction}]
        gens.append(desk.llm.generate(messages, schema=None, max_tokens=256))
        if sum(g.completion_tokens for g in gens) >= 256:
            break
    return gens


def full_stories(desk: Desk, count: int, min_share: float) -> list[str]:
    """Story ids by importance whose pack fills at least ``min_share`` of the budget."""
    from newsdesk.briefs.pack import build_pack

    budget = desk.brief_writer.budget()
    out: list[str] = []
    for view in desk.stories(limit=2000):
        rows = desk.store.story_items(view.id)
        if build_pack(rows, budget, desk.llm.count_tokens).tokens >= min_share * budget:
            out.append(view.id)
            if len(out) >= count:
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--stories", type=int, default=10, help="briefs to write")
    parser.add_argument("--posts", type=int, default=1000, help="Reddit posts to import")
    parser.add_argument(
        "--min-pack", type=float, default=0.5, help="least share of the pack budget filled"
    )
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--draft", type=int, default=0, help="prompt-lookup guesses per step (0: off)"
    )
    parser.add_argument(
        "--parallel", type=int, default=8, help="sections decoded together (1: in turn)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="write the same briefs again one section at a time (--parallel 1), same run",
    )
    parser.add_argument(
        "--sections",
        action="store_true",
        help="print each brief's calls: answer tokens (fixed by the schema), prompt, seconds",
    )
    parser.add_argument(
        "--judge",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the model judge of the support checker (off: words and embeddings only)",
    )
    args = parser.parse_args()
    data = args.data.resolve()
    posts = data / "reddit-localllama" / "posts.jsonl.gz"
    if not posts.is_file():
        print(f"skipped: no real data at {data}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "posts.jsonl.gz"
        with (
            gzip.open(posts, "rt", encoding="utf-8") as src,
            gzip.open(subset, "wt", encoding="utf-8") as dst,
        ):
            for n, line in enumerate(src):
                if n >= args.posts:
                    break
                dst.write(line)
        settings = Settings.load(
            env={},
            data_dir=Path(tmp) / "data",
            models_dir=str(Path.home() / ".cache" / "newsdesk" / "models"),
            llm_model=args.model,
            llm_threads=args.threads,
            llm_draft_tokens=args.draft,
            llm_parallel=args.parallel,
            grounding_judge=args.judge,
        )
        desk = Desk(settings)
        desk.import_reddit(subset)
        run = desk.cluster()
        start = time.perf_counter()
        desk.llm.count_tokens("warm up")
        load_s = time.perf_counter() - start
        # The most important stories with enough source text to fill at least half of the
        # pack budget (a one-line post makes a brief of its instructions, not of a pack).
        ranked = full_stories(desk, args.stories + 1, args.min_pack)
        targets, spare = ranked[: args.stories], ranked[args.stories :]

        # The baseline on a story that gets no brief here (so that nothing it leaves in the
        # prompt cache helps a brief), before and after the briefs.
        baseline_id = spare[0] if spare else targets[-1]
        load_before = os.getloadavg()[0]
        free = free_generation(desk, baseline_id)

        results = desk.write_briefs(story_ids=targets)
        in_turn = []
        if args.compare:
            desk.llm.parallel = 1  # type: ignore[attr-defined]
            in_turn = desk.write_briefs(story_ids=targets, force=True)
            desk.llm.parallel = args.parallel  # type: ignore[attr-defined]

        free += free_generation(desk, baseline_id)
        load_after = os.getloadavg()[0]
        rss = peak_rss_mb()
        desk.close()

    print(
        f"model: {args.model}, {args.threads} threads, {args.draft} guesses per step, "
        f"{args.parallel} sections together; "
        f"loaded in {load_s:.1f} s; "
        f"grounding judge {'on' if args.judge else 'off'}"
    )
    print(
        f"posts: {args.posts:,}; stories: {run.new_stories:,}; briefs asked: {len(targets)} "
        f"(the most important with a pack of at least {args.min_pack:.0%} of the budget)"
    )
    print(f"load average: {load_before:.2f} before, {load_after:.2f} after")
    done = [r for r in results if r.written and not r.error]
    for r in results:
        state = "ok" if r in done else f"FAILED: {r.error}"
        print(
            f"  {r.story_id[:12]}  {r.seconds:6.1f} s  {r.calls} calls  pack {r.pack_tokens:5}"
            f"  prompt {r.prompt_tokens:5} (+{r.cached_tokens} cached)"
            f"  completion {r.completion_tokens:5}  {state}"
        )
        if args.sections:
            # In the order the writer asks: headline, tldr, key_takeaways, comparison,
            # technical_deep_dive, future_implications, then the timeline's wording.
            for g in r.generations:
                print(
                    f"      answer {g.completion_tokens:4} ({g.forced_tokens:3} fixed)"
                    f"  prompt {g.prompt_tokens:5}  {g.seconds:5.1f} s"
                    f" (first token at {g.prompt_seconds:4.1f} s)"
                )
    if not done:
        print("no brief was written")
        return 1
    seconds = [r.seconds for r in done]
    gens = [g for r in done for g in r.generations]
    constrained = decode_rate(gens)
    free_rate = decode_rate(free)
    ratios = [r.prompt_tokens / r.pack_tokens for r in done if r.pack_tokens]
    print(f"complete briefs: {len(done)} of {len(results)}")
    print(
        f"seconds per brief: median {statistics.median(seconds):.1f}, p90 {p90(seconds):.1f}"
        " (goal: median <= 30)"
    )
    print(
        "free generation (baseline): "
        + ", ".join(
            f"{g.completion_tokens} tokens in {g.seconds - g.prompt_seconds:.1f} s "
            f"(prompt {g.prompt_tokens} in {g.prompt_seconds:.1f} s)"
            for g in free
        )
        + f" = {free_rate:.2f} tokens/s"
    )
    forced = sum(g.forced_tokens for g in gens)
    guessed = sum(g.guessed_tokens for g in gens)
    total = sum(g.completion_tokens for g in gens)
    print(
        f"constrained, writing briefs: {total:,} tokens in {len(gens)} calls "
        f"= {constrained:.2f} tokens/s"
    )
    chosen = constrained * (total - forced) / total if total else 0.0
    print(
        f"  of which fixed by the schema (jump-forward, no forward pass of their own): "
        f"{forced:,} ({forced / max(1, total):.0%}); tokens the model chose: {chosen:.2f}/s "
        f"= {chosen / free_rate:.2f} of free"
    )
    print(
        f"  guessed from the prompt and confirmed in one batch: {guessed:,} "
        f"({guessed / max(1, total):.0%})"
    )
    print(f"ratio constrained / free: {constrained / free_rate:.2f} (goal >= 0.8)")
    print(
        f"prompt tokens evaluated / pack tokens: median {statistics.median(ratios):.2f}, "
        f"max {max(ratios):.2f} (goal <= 1.3)"
    )
    overhead = [r.prompt_tokens - r.pack_tokens for r in done]
    first = [r.generations[0].prompt_tokens for r in done if r.generations]
    print(
        f"  pack tokens: median {statistics.median(r.pack_tokens for r in done):.0f}; "
        f"evaluated beyond the pack: median {statistics.median(overhead):.0f} per brief; "
        f"first call's prompt: median {statistics.median(first):.0f}"
    )
    if in_turn:
        alone = statistics.median(r.seconds for r in in_turn if r.written and not r.error)
        rate = decode_rate([g for r in in_turn for g in r.generations])
        print(
            f"the same briefs one section at a time (--parallel 1): median {alone:.1f} s, "
            f"{rate:.2f} tokens/s; sections together: "
            f"{alone / statistics.median(seconds):.2f}x as fast (median against median)"
        )
    print(f"peak RSS: {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
