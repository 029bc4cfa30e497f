"""Experiment: does the generator's own likelihood tell a faithful summary sentence from an
unfaithful one on FRANK (issue 5)? Not part of newsdesk; the figures go to docs/grounding.md.

For each summary sentence, the model (Qwen2.5-Coder, in process through llama.cpp) scores
its tokens twice: after the article (``cond``) and after no article (``free``). A sentence
that the article supports should be much likelier with it (pointwise mutual information,
as in HaRiM and FFLM); an invented name or number should not. Per summary: the weakest
sentence's mean log-probability gain, and the share of tokens whose gain is below -1.
Then the balanced accuracy of "fully faithful" at the best threshold of each feature (and
of its blend with the checker's own score), per subset, and Spearman with Factuality.

    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_likelihood.py \
        [--model qwen2.5-coder-0.5b] [--limit-articles N] [--out /tmp/frank_ll.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.evaluate import dataset_path
from newsdesk.grounding_eval import balanced_accuracy, load_frank, spearman
from newsdesk.llm.files import resolve
from newsdesk.llm.llamacpp import _import_llama_cpp, _load_cpu_backends
from newsdesk.settings import Settings
from newsdesk.timeline import split_sentences


def log_softmax_at(logits: np.ndarray, token: int) -> float:
    top = float(logits.max())
    return float(logits[token] - top - math.log(float(np.exp(logits - top).sum())))


class Scorer:
    def __init__(self, model: str, threads: int) -> None:
        settings = Settings.load(llm_model=model)
        path = resolve(settings)
        self.lc = _import_llama_cpp()
        _load_cpu_backends(self.lc, path, str(settings.llm_cpu_variant))
        self.llm = self.lc.Llama(
            model_path=str(path),
            n_ctx=3072,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            verbose=False,
        )
        self.batch = self.lc.llama_batch_init(512, 0, 1)
        self.memory = self.lc.llama_get_memory(self.llm._ctx.ctx)
        self.n_vocab = self.llm.n_vocab()

    def tokens(self, text: str, special: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def _decode(self, tokens: list[int], pos: int, logits: bool) -> None:
        for at in range(0, len(tokens), 512):
            part = tokens[at : at + 512]
            self.batch.n_tokens = len(part)
            for i, t in enumerate(part):
                self.batch.token[i] = t
                self.batch.pos[i] = pos + at + i
                self.batch.n_seq_id[i] = 1
                self.batch.seq_id[i][0] = 0
                self.batch.logits[i] = logits
            if self.lc.llama_decode(self.llm._ctx.ctx, self.batch) != 0:
                raise RuntimeError("decode failed")

    def prefix(self, tokens: list[int]) -> None:
        self.lc.llama_memory_seq_rm(self.memory, 0, -1, -1)
        self._decode(tokens[:-1], 0, False)
        self.prefix_tokens = tokens

    def score(self, continuation: list[int]) -> list[float]:
        """Log-probability of each continuation token after the prefix."""
        n = len(self.prefix_tokens)
        self.lc.llama_memory_seq_rm(self.memory, 0, n - 1, -1)
        seq = [self.prefix_tokens[-1], *continuation]
        self._decode(seq[:-1], n - 1, True)
        out = []
        for i, t in enumerate(continuation):
            logits = np.ctypeslib.as_array(
                self.lc.llama_get_logits_ith(self.llm._ctx.ctx, i), shape=(self.n_vocab,)
            )
            out.append(log_softmax_at(logits, t))
        return out


def chat(system: str, user: str) -> str:
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def ba_at(scores: list[float], gold: list[bool], threshold: float) -> float:
    """Balanced accuracy of "fully faithful" predicted as a score at or above ``threshold``."""
    return balanced_accuracy([s >= threshold for s in scores], gold)


def best_ba(scores: list[float], gold: list[bool]) -> tuple[float, float]:
    return max((ba_at(scores, gold, t), t) for t in sorted(set(scores)))


def arguments(model: str, out: str) -> tuple[argparse.Namespace, list[list[Any]]]:
    """The command line of a FRANK experiment, and FRANK's summaries grouped by article."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=model)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit-articles", type=int, default=0)
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    by_article: dict[str, list] = defaultdict(list)
    for p in load_frank(dataset_path("frank")):
        by_article[p.id.split(":")[0]].append(p)
    articles = list(by_article.values())
    if args.limit_articles:
        articles = articles[: args.limit_articles]
    return args, articles


def main() -> None:
    args, articles = arguments("qwen2.5-coder-0.5b", "/tmp/frank_ll.json")
    scorer = Scorer(args.model, args.threads)
    system = "You summarize news articles in one or a few sentences."
    free_prefix = scorer.tokens(chat(system, "Summarize a news article."), special=True)
    rows = []
    start = time.perf_counter()
    done_tokens = 0
    for n, group in enumerate(articles, 1):
        article = group[0].article
        art_tokens = scorer.tokens(article)[:2200]
        article_text = scorer.llm.detokenize(art_tokens).decode("utf-8", "replace")
        cond_prefix = scorer.tokens(
            chat(system, "Summarize this article.\n\n" + article_text), special=True
        )
        sentences = {p.id: split_sentences(p.summary) or [p.summary] for p in group}
        cond: dict[str, list[list[float]]] = {}
        scorer.prefix(cond_prefix)
        done_tokens += len(cond_prefix)
        for p in group:
            cond[p.id] = []
            for s in sentences[p.id]:
                toks = scorer.tokens(s)
                cond[p.id].append(scorer.score(toks))
                done_tokens += len(toks)
        scorer.prefix(free_prefix)
        for p in group:
            free = [scorer.score(scorer.tokens(s)) for s in sentences[p.id]]
            rows.append(
                {
                    "id": p.id,
                    "subset": p.subset,
                    "gold": p.gold,
                    "cond": cond[p.id],
                    "free": free,
                }
            )
        rate = done_tokens / (time.perf_counter() - start)
        print(f"{n}/{len(articles)} articles, {rate:.0f} tokens/s", flush=True)
    Path(args.out).write_text(json.dumps(rows))
    report(rows)


def features(row: dict) -> dict[str, float]:
    per_sentence_gain = []
    neg_share = []
    cond_mean = []
    for c, f in zip(row["cond"], row["free"], strict=True):
        gains = [a - b for a, b in zip(c, f, strict=True)]
        per_sentence_gain.append(sum(gains) / max(1, len(gains)))
        neg_share.append(sum(g < -1.0 for g in gains) / max(1, len(gains)))
        cond_mean.append(sum(c) / max(1, len(c)))
    return {
        "min_gain": min(per_sentence_gain),
        "mean_gain": sum(per_sentence_gain) / len(per_sentence_gain),
        "neg_share": -max(neg_share),
        "min_cond": min(cond_mean),
        "min_token_cond": min(min(c) for c in row["cond"] if c),
    }


def checker_scores(cache: Path) -> dict[str, float]:
    """The support checker's own score of each summary (its weakest sentence), no judge."""
    if cache.exists():
        return dict(json.loads(cache.read_text()))
    from newsdesk.grounding import Checker
    from newsdesk.grounding_eval import run_grounding_eval

    pairs = load_frank(dataset_path("frank"))
    run_grounding_eval(pairs, Checker(Settings.load(), judge=False))
    scores = {p.id: p.score for p in pairs}
    cache.write_text(json.dumps(scores))
    signals = {p.id: [v.signals for v in p.verdicts] for p in pairs}
    cache.with_suffix(".signals.json").write_text(json.dumps(signals))
    return scores


def sentence_table(
    rows: list[dict], signals: dict[str, list[dict[str, float]]]
) -> list[tuple[str, bool, list[dict[str, float]]]]:
    """Per summary: its subset, whether it is fully faithful, and per sentence the checker's
    signals with ``gain``, ``cond`` and ``supported`` (the checker's own label) added."""
    from newsdesk.grounding import combine

    data = []
    for r in rows:
        sig = signals[r["id"]]
        if len(sig) != len(r["cond"]):
            continue
        sentences = []
        for v, c, f in zip(sig, r["cond"], r["free"], strict=True):
            kept = {k: v[k] for k in ("lexical", "semantic") if k in v}
            _, label = combine(kept, v.get("numbers", 0.0) == 0.0) if v else (0, "unsupported")
            gain = sum(a - b for a, b in zip(c, f, strict=True)) / max(1, len(c))
            cond = sum(c) / max(1, len(c))
            sentences.append(
                {**v, "gain": gain, "cond": cond, "supported": float(label == "supported")}
            )
        data.append((r["subset"], r["gold"] == 1.0, sentences))
    return data


def grid(rows: list[dict], signals: dict[str, list[dict[str, float]]]) -> None:
    """Per sentence: the checker's lexical and semantic values and the likelihood gain
    (mapped to [0, 1] between ``lo`` and ``hi``) in one weighted mean; a summary is
    fully faithful when every sentence reaches the threshold and no number is missing.
    The objective is the checker's: the mean of the two subsets' balanced accuracy."""
    data = [
        (
            subset,
            gold,
            [
                (
                    x.get("lexical", 0.0),
                    x.get("semantic", 0.0),
                    x["gain"],
                    x["cond"],
                    x.get("numbers", 0.0),
                )
                for x in sentences
            ],
        )
        for subset, gold, sentences in sentence_table(rows, signals)
    ]
    best = []
    for wl, ws, wg, lo, hi, feat in itertools.product(
        (0.0, 0.15, 0.3),
        (0.2, 0.4, 0.7),
        (0.0, 0.2, 0.4, 0.6),
        (-1.0, 0.0, 0.5),
        (1.0, 2.0, 3.0),
        (2, 3),
    ):
        if wl + ws + wg == 0:
            continue
        if feat == 3:
            lo2, hi2 = lo - 3.0, hi - 3.0
        else:
            lo2, hi2 = lo, hi
        per_subset: dict[str, tuple[list[float], list[bool]]] = {"cnndm": ([], []), "bbc": ([], [])}
        for subset, gold, sentences in data:
            worst = min(
                (wl * x[0] + ws * x[1] + wg * min(1.0, max(0.0, (x[feat] - lo2) / (hi2 - lo2))))
                / (wl + ws + wg)
                - (0.0 if x[4] else 1.0)
                for x in sentences
            )
            per_subset[subset][0].append(worst)
            per_subset[subset][1].append(gold)
        ts = [i / 40 for i in range(10, 40)]
        for t in ts:
            bas = [ba_at(*per_subset[k], t) for k in ("cnndm", "bbc") if per_subset[k][0]]
            bas += [0.0] * (2 - len(bas))
            best.append((sum(bas) / 2, bas, (wl, ws, wg, lo2, hi2, feat, t)))
    best.sort(key=lambda b: -b[0])
    for mean, bas, params in best[:12]:
        print(f"mean {mean:.3f}  cnndm {bas[0]:.3f}  bbc {bas[1]:.3f}  {params}")
    base = [b for b in best if b[2][2] == 0.0]
    mean, bas, params = base[0]
    print(f"without likelihood: mean {mean:.3f} cnndm {bas[0]:.3f} bbc {bas[1]:.3f} {params}")


def rules(rows: list[dict], signals: dict[str, list[dict[str, float]]]) -> None:
    """One threshold for both subsets, as the product needs: a sentence is supported when
    the checker supports it (its own rule) AND / OR its likelihood feature passes ``t``."""
    data = [
        (subset, gold, [(x["supported"] == 1.0, x["gain"], x["cond"]) for x in sentences])
        for subset, gold, sentences in sentence_table(rows, signals)
    ]

    def score(pred: Any) -> tuple[float, float]:
        out = []
        for subset in ("cnndm", "bbc"):
            got = [pred(s) for sub, _, s in data if sub == subset]
            gold = [g for sub, g, _ in data if sub == subset]
            out.append(balanced_accuracy(got, gold))
        return out[0], out[1]

    found = []
    for mode, feat, t in itertools.product(("and", "or"), (1, 2), [x / 4 for x in range(-20, 16)]):
        if mode == "and":
            pred = lambda s, f=feat, t=t: all(x[0] and x[f] >= t for x in s)  # noqa: E731
        else:
            pred = lambda s, f=feat, t=t: all(x[0] or x[f] >= t for x in s)  # noqa: E731
        cnndm, bbc = score(pred)
        found.append(((cnndm + bbc) / 2, cnndm, bbc, mode, ("gain", "cond")[feat - 1], t))
    found.sort(key=lambda f: -f[0])
    for mean, cnndm, bbc, mode, name, t in found[:5]:
        print(
            f"rule: checker {mode} {name} >= {t}: cnndm {cnndm:.3f} bbc {bbc:.3f} mean {mean:.3f}"
        )
    cnndm, bbc = score(lambda s: all(x[0] for x in s))
    print(f"rule: checker alone: cnndm {cnndm:.3f} bbc {bbc:.3f}")


def zscores(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
    return [(v - mean) / sd for v in values]


def report(rows: list[dict], checker: dict[str, float] | None = None) -> None:
    for subset in ("cnndm", "bbc"):
        rs = [r for r in rows if r["subset"] == subset]
        gold = [r["gold"] == 1.0 for r in rs]
        feats = [features(r) for r in rs]
        if not feats:
            continue
        for name in feats[0]:
            values = [f[name] for f in feats]
            ba, t = best_ba(values, gold)
            rho = spearman(values, [r["gold"] for r in rs])
            print(f"{subset:6} {name:15} BA {ba:.3f} at {t:.3f}  spearman {rho:.3f}")
        if checker is None:
            continue
        base = [checker[r["id"]] for r in rs]
        ba, t = best_ba(base, gold)
        print(f"{subset:6} {'checker':15} BA {ba:.3f} at {t:.3f}")
        for name in ("min_gain", "mean_gain", "min_cond"):
            for w in (0.25, 0.5, 0.75):
                blend = [
                    (1 - w) * a + w * b
                    for a, b in zip(zscores(base), zscores([f[name] for f in feats]), strict=True)
                ]
                ba, t = best_ba(blend, gold)
                rho = spearman(blend, [r["gold"] for r in rs])
                print(f"{subset:6} checker+{name:9} w {w:.2f} BA {ba:.3f}  spearman {rho:.3f}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        scores = checker_scores(Path("/tmp/frank_checker.json"))
        rows = json.loads(Path(sys.argv[2]).read_text())
        report(rows, scores)
        signals = json.loads(Path("/tmp/frank_checker.signals.json").read_text())
        grid(rows, signals)
        rules(rows, signals)
    else:
        main()
