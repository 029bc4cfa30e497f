"""Experiment: does the generator, reading the article, prefer another of the article's names
or numbers where a summary sentence puts one (issue 5)? Not part of newsdesk; the figures
go to docs/grounding.md.

FRANK's summaries are lower-cased, so the article is given in lower case too. The checker
misses a swap of two names that both occur in the article ("A beat B" where B
beat A): every word is in the passages. Here the model (Qwen2.5-Coder, in process through
llama.cpp) reads the article, then the summary sentence token by token; at each token that
begins one of the article's names or numbers, the contrast is the log-probability of the
likeliest *other* such token minus that of the token written. A sentence's contrast is its
largest; a summary's, its sentences' largest. Then the balanced accuracy of "fully
faithful" per subset: the contrast alone, and the checker's own label (no judge) AND a
contrast under one threshold for both subsets.

    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_contrast.py \
        [--model qwen2.5-coder-0.5b] [--limit-articles N] [--out /tmp/frank_contrast.json]
    .venv/bin/python scripts/experiments/frank_contrast.py --report /tmp/frank_contrast.json
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.grounding_eval import balanced_accuracy, spearman
from newsdesk.timeline import split_sentences

sys.path.insert(0, str(Path(__file__).parent))
from frank_likelihood import (
    Scorer,
    arguments,
    best_ba,
    chat,
    checker_scores,
    sentence_table,
)

NAME = re.compile(r"\b(?:[A-Z][\w'-]*|\d[\d,.]*)")


def candidates(scorer: Scorer, article: str) -> np.ndarray:
    """The first token of each name or number of the article, with and without a space."""
    firsts: set[int] = set()
    for word in set(NAME.findall(article)):
        # FRANK's summaries are lower-cased (its articles are not), and so is the prompt.
        for form in (" " + word.lower(), word.lower()):
            toks = scorer.tokens(form)
            if toks:
                firsts.add(toks[0])
    return np.array(sorted(firsts), dtype=np.int64)


def contrasts(scorer: Scorer, continuation: list[int], cands: np.ndarray) -> list[float]:
    """Per token of the continuation that is a candidate: best other candidate's log-prob
    minus the written token's (after the prefix and the tokens before it)."""
    n = len(scorer.prefix_tokens)
    scorer.lc.llama_memory_seq_rm(scorer.memory, 0, n - 1, -1)
    seq = [scorer.prefix_tokens[-1], *continuation]
    scorer._decode(seq[:-1], n - 1, True)
    cand_set = set(cands.tolist())
    out = []
    for i, t in enumerate(continuation):
        if t not in cand_set:
            continue
        logits = np.ctypeslib.as_array(
            scorer.lc.llama_get_logits_ith(scorer.llm._ctx.ctx, i), shape=(scorer.n_vocab,)
        )
        others = logits[cands[cands != t]]
        if others.size == 0:
            continue
        # Log-probabilities share the normalizer, so the difference of logits is enough.
        out.append(float(others.max() - logits[t]))
    return out


def main() -> None:
    args, articles = arguments("qwen2.5-coder-0.5b", "/tmp/frank_contrast.json")
    scorer = Scorer(args.model, args.threads)
    system = "You summarize news articles in one or a few sentences."
    rows = []
    start = time.perf_counter()
    for n, group in enumerate(articles, 1):
        article = group[0].article
        art_tokens = scorer.tokens(article)[:2200]
        article_text = scorer.llm.detokenize(art_tokens).decode("utf-8", "replace")
        cands = candidates(scorer, article_text)
        prompt = chat(system, "Summarize this article.\n\n" + article_text.lower())
        scorer.prefix(scorer.tokens(prompt, special=True))
        for p in group:
            sentences = split_sentences(p.summary) or [p.summary]
            per = [contrasts(scorer, scorer.tokens(s), cands) for s in sentences]
            rows.append({"id": p.id, "subset": p.subset, "gold": p.gold, "contrast": per})
        rate = len(rows) / (time.perf_counter() - start)
        print(f"{n}/{len(articles)} articles, {rate:.2f} summaries/s", flush=True)
    Path(args.out).write_text(json.dumps(rows))
    report(rows)


def sentence_max(values: list[float]) -> float:
    return max(values, default=-99.0)


def report(rows: list[dict[str, Any]]) -> None:
    for subset in ("cnndm", "bbc"):
        rs = [r for r in rows if r["subset"] == subset]
        if not rs:
            continue
        gold = [r["gold"] == 1.0 for r in rs]
        worst = [-max(sentence_max(c) for c in r["contrast"]) for r in rs]
        ba, t = best_ba(worst, gold)
        rho = spearman(worst, [r["gold"] for r in rs])
        print(f"{subset:6} contrast alone: BA {ba:.3f} at {-t:.2f}  spearman {rho:.3f}")
    signals = json.loads(Path("/tmp/frank_checker.signals.json").read_text())
    # sentence_table wants the likelihood rows' shape: one entry per sentence.
    shaped = [
        {**r, "cond": [[0.0]] * len(r["contrast"]), "free": [[0.0]] * len(r["contrast"])}
        for r in rows
    ]
    table = {r["id"]: r for r in rows}
    data = []
    for (subset, gold, sentences), r in zip(
        sentence_table(shaped, signals),
        [r for r in shaped if len(signals[r["id"]]) == len(r["contrast"])],
        strict=True,
    ):
        per = [sentence_max(c) for c in table[r["id"]]["contrast"]]
        data.append(
            (
                subset,
                gold,
                [(x["supported"] == 1.0, m) for x, m in zip(sentences, per, strict=True)],
            )
        )
    for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 99.0):
        out = []
        for subset in ("cnndm", "bbc"):
            got = [all(s and m < t for s, m in x) for sub, _, x in data if sub == subset]
            gold = [g for sub, g, _ in data if sub == subset]
            out.append(balanced_accuracy(got, gold) if gold else float("nan"))
        print(f"checker and contrast < {t}: cnndm {out[0]:.3f} bbc {out[1]:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        checker_scores(Path("/tmp/frank_checker.json"))
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
