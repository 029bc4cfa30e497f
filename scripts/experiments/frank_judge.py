"""Experiment: the generator as an entailment judge read as a number, not a label, on FRANK
(issue 5). Not part of newsdesk; the figures go to docs/grounding.md.

The checker's judge asks the model for a label under a JSON schema, and on a sample it
called 93% of CNN/DM claims supported. Here the same question is asked without a schema and
the answer is read from the model's next token: the log-odds of "yes" against "no". The
article is evaluated once (it is the prompt's prefix, kept in llama.cpp's KV cache) and
each summary sentence costs only its own tokens. A summary's score is its weakest
sentence's. It prints, per subset, the balanced accuracy of "fully faithful" at the best
threshold and at one threshold for both subsets, Spearman with Factuality, and blends with
the checker's own score (run with ``--report``).

    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_judge.py \
        [--model qwen2.5-coder-1.5b] [--limit-articles N] [--out /tmp/frank_judge.json]
    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_judge.py \
        --report /tmp/frank_judge.json
    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_judge.py \
        --checker      # the same search over the checker's own signals, judge on
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
from frank_likelihood import Scorer, arguments, best_ba, checker_scores, zscores  # type: ignore[import-not-found]

from newsdesk.evaluate import dataset_path
from newsdesk.grounding_eval import balanced_accuracy, load_frank, spearman
from newsdesk.timeline import split_sentences

SYSTEM = "You are a careful fact checker. You decide whether a claim is supported by an article."
QUESTION = (
    "Is every part of the claim (its names, numbers, dates, who did what) stated or directly "
    "implied by the article? Answer yes or no."
)


def log_odds(scorer: Scorer, continuation: list[int], yes: list[int], no: list[int]) -> float:
    """Decode ``continuation`` after the cached prefix and compare the next token's yes/no."""
    n = len(scorer.prefix_tokens)
    scorer.lc.llama_memory_seq_rm(scorer.memory, 0, n - 1, -1)
    scorer._decode([scorer.prefix_tokens[-1], *continuation], n - 1, True)
    logits = np.ctypeslib.as_array(
        scorer.lc.llama_get_logits_ith(scorer.llm._ctx.ctx, -1), shape=(scorer.n_vocab,)
    )
    return float(np.logaddexp.reduce(logits[yes]) - np.logaddexp.reduce(logits[no]))


def main() -> None:
    args, articles = arguments("qwen2.5-coder-1.5b", "/tmp/frank_judge.json")
    scorer = Scorer(args.model, args.threads)
    yes = [scorer.tokens(w)[0] for w in ("yes", "Yes")]
    no = [scorer.tokens(w)[0] for w in ("no", "No")]
    rows = []
    start = time.perf_counter()
    claims = 0
    for n, group in enumerate(articles, 1):
        art_tokens = scorer.tokens(group[0].article)[:2200]
        article = scorer.llm.detokenize(art_tokens).decode("utf-8", "replace")
        prefix = (
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nArticle:\n{article}\n\n"
        )
        scorer.prefix(scorer.tokens(prefix, special=True))
        for p in group:
            scores = []
            for s in split_sentences(p.summary) or [p.summary]:
                tail = f"Claim: {s}\n\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
                scores.append(log_odds(scorer, scorer.tokens(tail, special=True), yes, no))
                claims += 1
            rows.append({"id": p.id, "subset": p.subset, "gold": p.gold, "judge": scores})
        elapsed = time.perf_counter() - start
        print(f"{n}/{len(articles)} articles, {claims / elapsed:.2f} claims/s", flush=True)
        Path(args.out).write_text(json.dumps(rows))
    report(rows)


def report(rows: list[dict]) -> None:
    checker = checker_scores(Path("/tmp/frank_checker.json"))
    for subset in ("cnndm", "bbc"):
        rs = [r for r in rows if r["subset"] == subset]
        if not rs:
            continue
        gold = [r["gold"] == 1.0 for r in rs]
        judge = [min(r["judge"]) for r in rs]
        ba, t = best_ba(judge, gold)
        rho = spearman(judge, [r["gold"] for r in rs])
        print(f"{subset:6} judge (weakest sentence) BA {ba:.3f} at {t:.2f}  spearman {rho:.3f}")
        base = [checker[r["id"]] for r in rs]
        ba, t = best_ba(base, gold)
        print(f"{subset:6} checker                  BA {ba:.3f} at {t:.3f}")
        for w in (0.25, 0.5, 0.75):
            z = zip(zscores(base), zscores(judge), strict=True)
            blend = [(1 - w) * a + w * b for a, b in z]
            ba, t = best_ba(blend, gold)
            rho = spearman(blend, [r["gold"] for r in rs])
            print(f"{subset:6} checker+judge w {w:.2f}      BA {ba:.3f}  spearman {rho:.3f}")
    if {r["subset"] for r in rows} == {"cnndm", "bbc"}:
        grid(rows, json.loads(Path("/tmp/frank_checker.signals.json").read_text()))


def grid(rows: list[dict], signals: dict[str, list[dict[str, float]]]) -> None:
    """The experiment's log-odds with the checker's other signals, in ``search``."""
    data = []
    for r in rows:
        sig = signals[r["id"]]
        if len(sig) == len(r["judge"]):
            sentences = [
                (x["lexical"], x["semantic"], j, x["numbers"])
                for x, j in zip(sig, r["judge"], strict=True)
            ]
            data.append((r["subset"], r["gold"] == 1.0, sentences))
    search(data)


def checker_grid() -> None:
    """The checker itself with the judge on (its own prompt; answers kept in the data
    directory's judge cache, which ``newsdesk eval grounding --judge`` reuses), then
    ``search`` over its signals."""
    from newsdesk.grounding import Checker
    from newsdesk.grounding_eval import run_grounding_eval
    from newsdesk.settings import Settings

    settings = Settings.load()
    pairs = load_frank(dataset_path("frank"))
    cache = settings.data_path / "grounding-judge.jsonl"
    run = run_grounding_eval(pairs, Checker(settings, judge=True, cache=cache))
    print(f"{run.claims} claims in {run.seconds:.0f} s")
    data = []
    for p in pairs:
        sentences = [
            (
                v.signals["lexical"],
                v.signals["semantic"],
                v.signals["judge_odds"],
                v.signals["numbers"],
            )
            for v in p.verdicts
            if "judge_odds" in v.signals
        ]
        if sentences:
            data.append((p.subset, p.gold == 1.0, sentences))
    search(data)


def search(data: list[tuple[str, bool, list[tuple[float, float, float, float]]]]) -> None:
    """One rule for both subsets, as the product needs: per sentence a weighted mean of the
    checker's lexical and semantic values and the judge's log-odds (0 at ``lo``, 1 at
    ``hi``); supported at ``t`` or more, with no number missing and the lexical value at
    least ``gate``. A summary is fully faithful when every sentence is supported."""

    def score(wl: float, ws: float, wj: float, lo: float, hi: float, t: float, gate: float):
        per: dict[str, tuple[list[bool], list[bool]]] = {"cnndm": ([], []), "bbc": ([], [])}
        for subset, gold, sentences in data:
            ok = all(
                (wl * a + ws * b + wj * min(1, max(0, (j - lo) / (hi - lo)))) / (wl + ws + wj) >= t
                and n
                and a >= gate
                for a, b, j, n in sentences
            )
            per[subset][0].append(ok)
            per[subset][1].append(gold)
        return [balanced_accuracy(*per[k]) for k in ("cnndm", "bbc")]

    found = []
    for wl, ws, wj, lo, hi, gate in itertools.product(
        (0.1, 0.15, 0.2, 0.3),
        (0.0, 0.1, 0.2, 0.3),
        (0.5, 0.6, 0.8, 1.0),
        (-1, 0, 0.5, 1),
        (2, 3, 4),
        (0.0, 0.3),
    ):
        if hi <= lo:
            continue
        for t in [i / 40 for i in range(12, 36)]:
            bas = score(wl, ws, wj, lo, hi, t, gate)
            found.append((sum(bas) / 2, bas, (wl, ws, wj, lo, hi, t, gate)))
    found.sort(key=lambda f: -f[0])
    for mean, bas, params in found[:8]:
        print(
            f"mean {mean:.3f} cnndm {bas[0]:.3f} bbc {bas[1]:.3f}  wl ws wj lo hi t gate {params}"
        )
    gated = next(f for f in found if f[2][6] >= 0.3)
    print(f"best with a lexical gate of 0.3 or more: {gated}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        report(json.loads(Path(sys.argv[2]).read_text()))
    elif len(sys.argv) > 1 and sys.argv[1] == "--checker":
        checker_grid()
    else:
        main()
