"""Experiment: does the generator's own likelihood tell a faithful summary sentence from an
unfaithful one on FRANK (issue 5)? Not part of newsdesk; the figures go to docs/grounding.md.

For each summary sentence, the model (Qwen2.5-Coder, in process through llama.cpp) scores
its tokens twice: after the article (``cond``) and after no article (``free``). A sentence
that the article supports should be much likelier with it (pointwise mutual information,
as in HaRiM and FFLM); an invented name or number should not. Per summary: the weakest
sentence's mean log-probability gain, and the share of tokens whose gain is below zero.
Then the balanced accuracy of "fully faithful" at the best threshold of each feature (and
of its blend with the checker's own score), per subset, and Spearman with Factuality.

    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/frank_likelihood.py \
        [--model qwen2.5-coder-0.5b] [--limit-articles N] [--out /tmp/frank_ll.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from newsdesk.grounding_eval import load_frank, spearman
from newsdesk.llm.files import resolve
from newsdesk.llm.llamacpp import _import_llama_cpp, _load_cpu_backends
from newsdesk.settings import Settings
from newsdesk.timeline import split_sentences

ROOT = Path(__file__).resolve().parents[2]


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


def balanced_accuracy(scores: list[float], gold: list[bool], threshold: float) -> float:
    pos = [s >= threshold for s, g in zip(scores, gold, strict=True) if g]
    neg = [s < threshold for s, g in zip(scores, gold, strict=True) if not g]
    return (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2 if pos and neg else 0.0


def best_ba(scores: list[float], gold: list[bool]) -> tuple[float, float]:
    return max((balanced_accuracy(scores, gold, t), t) for t in sorted(set(scores)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit-articles", type=int, default=0)
    parser.add_argument("--out", default="/tmp/frank_ll.json")
    args = parser.parse_args()
    data = Path(os.environ.get("NEWSDESK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    pairs = load_frank(data / "frank" / "frank_valid.jsonl")
    by_article: dict[str, list] = defaultdict(list)
    for p in pairs:
        by_article[p.id.split(":")[0]].append(p)
    articles = list(by_article.values())
    if args.limit_articles:
        articles = articles[: args.limit_articles]
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


def report(rows: list[dict]) -> None:
    for subset in ("cnndm", "bbc"):
        rs = [r for r in rows if r["subset"] == subset]
        gold = [r["gold"] == 1.0 for r in rs]
        feats = [features(r) for r in rs]
        for name in feats[0]:
            values = [f[name] for f in feats]
            ba, t = best_ba(values, gold)
            rho = spearman(values, [r["gold"] for r in rs])
            print(f"{subset:6} {name:15} BA {ba:.3f} at {t:.3f}  spearman {rho:.3f}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
