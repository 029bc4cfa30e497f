"""Evaluation of the support checker on faithfulness benchmarks (FRANK, AggreFact).

Each (article, summary) pair becomes what a brief is: the article chunked into passages,
the summary split into sentences (claims), each claim citing the passages most similar to
it (the checker never sees a gold citation). The summary's score is its weakest claim's
support score, and the summary is predicted "fully faithful" when every claim is supported.
Printed per subset (CNN/DM and XSum, "bbc" in FRANK): Spearman correlation of the summary
score with the human Factuality score, and the balanced accuracy of "fully faithful"
(Factuality = 1).
"""

from __future__ import annotations

import csv
import gzip
import html
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from newsdesk.evaluate import pearson
from newsdesk.grounding import (
    Checker,
    Claim,
    Verdict,
    chunk_passages,
    split_sentences,
)

SUBSETS = ("cnndm", "bbc")
CITES = 2
"""Passages each claim cites: the ones most similar to it."""


@dataclass
class Pair:
    """One (article, summary) pair with its gold factuality in [0, 1]."""

    id: str
    subset: str
    article: str
    summary: str
    gold: float
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def score(self) -> float:
        return min((v.score for v in self.verdicts), default=1.0)

    @property
    def faithful(self) -> bool:
        return all(v.label == "supported" for v in self.verdicts)


# --------------------------------------------------------------------------- loaders

_PTB = [
    (re.compile(r"-lrb-|- lrb -", re.I), "("),
    (re.compile(r"-rrb-|- rrb -", re.I), ")"),
    (re.compile(r"\\'"), "'"),
    (re.compile(r"``|''"), '"'),
    (re.compile(r"` "), "'"),
    (re.compile(r" ([.,;:!?)%])"), r"\1"),
    (re.compile(r"\( "), "("),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", re.I), r"\1"),
    (re.compile(r" ' "), "' "),
    (re.compile(r"\$ (?=\d)"), "$"),
    # XSum's articles join paragraphs with no space: "the wall.One former inmate".
    (re.compile(r"(?<=[a-z0-9\"”'’)])([.!?])(?=[A-Z\"“‘][a-z])"), r"\1 "),
]


def detokenize(text: str) -> str:
    """Undo the Penn Treebank tokenization some benchmarks ship ("word , word ." ...)."""
    text = html.unescape(text)
    for pattern, repl in _PTB:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def load_frank(path: str | Path) -> list[Pair]:
    """FRANK rows (``frank_valid.jsonl``): subset ``cnndm`` or ``bbc`` (XSum)."""
    out = []
    with _open(Path(path)) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            out.append(
                Pair(
                    id=f"{row['hash']}:{row['model_name']}",
                    subset=row["dataset"],
                    article=detokenize(row["article"]),
                    summary=detokenize(row["summary"]),
                    gold=float(row["Factuality"]),
                )
            )
    return out


def load_aggrefact(path: str | Path) -> list[Pair]:
    """AggreFact's error-typed summaries with their source (CLIFF and Goyal21 files).

    ``path`` is the aggrefact-unified-errors folder or one of its ``*_error_types.csv[.gz]``
    files. A summary is faithful (1.0) when its error type is "correct", else 0.0.
    """
    path = Path(path)
    files = sorted(path.glob("*_error_types.csv*")) if path.is_dir() else [path]
    out = []
    for file in files:
        with _open(file) as f:
            for row in csv.DictReader(f):
                if not row.get("doc") or not row.get("summ"):
                    continue
                origin = row.get("origin", "")
                name = f"{row.get('dataset', file.stem)}:{row['id']}:{row.get('model_name', '')}"
                out.append(
                    Pair(
                        id=name,
                        subset="bbc" if origin == "xsum" else origin,
                        article=detokenize(row["doc"]),
                        summary=detokenize(row["summ"]),
                        gold=1.0 if row.get("error_type", "").strip() == "correct" else 0.0,
                    )
                )
    return out


LOADERS: dict[str, Callable[[str | Path], list[Pair]]] = {
    "frank": load_frank,
    "aggrefact": load_aggrefact,
}


# --------------------------------------------------------------------------- metrics


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    a = np.asarray(values, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a))
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank)."""
    return pearson(_ranks(x), _ranks(y))


def balanced_accuracy(predicted: Sequence[bool], gold: Sequence[bool]) -> float:
    """The mean of the recall of the positive class and that of the negative class."""
    pos = [p for p, g in zip(predicted, gold, strict=True) if g]
    neg = [not p for p, g in zip(predicted, gold, strict=True) if not g]
    recalls = [sum(group) / len(group) for group in (pos, neg) if group]
    return sum(recalls) / len(recalls) if recalls else 0.0


# --------------------------------------------------------------------------- run


@dataclass
class GroundingRun:
    pairs: list[Pair]
    claims: int
    seconds: float
    judge_calls: int

    def metrics(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for subset in SUBSETS:
            pairs = [p for p in self.pairs if p.subset == subset]
            if not pairs:
                continue
            out[subset] = {
                "spearman": spearman([p.score for p in pairs], [p.gold for p in pairs]),
                "balanced_accuracy": balanced_accuracy(
                    [p.faithful for p in pairs], [p.gold == 1.0 for p in pairs]
                ),
                "pairs": float(len(pairs)),
                "faithful": float(sum(p.gold == 1.0 for p in pairs)),
            }
        return out


def first_of_each(pairs: Sequence[Pair], limit: int) -> list[Pair]:
    """The first ``limit`` pairs of each subset, in file order (all when ``limit`` is 0)."""
    if limit <= 0:
        return list(pairs)
    seen: dict[str, int] = defaultdict(int)
    out = []
    for pair in pairs:
        seen[pair.subset] += 1
        if seen[pair.subset] <= limit:
            out.append(pair)
    return out


def _by_article(pairs: Sequence[Pair]) -> Iterator[list[Pair]]:
    groups: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        groups[pair.article].append(pair)
    yield from groups.values()


def run_grounding_eval(
    pairs: Sequence[Pair],
    checker: Checker,
    cites: int = CITES,
    progress: Callable[[int], None] | None = None,
) -> GroundingRun:
    """Check every summary sentence of ``pairs``; each article's claims in one batch.

    All the claims made against one article are checked together, so that its passages are
    embedded once and, with the judge, its prompt prefix is evaluated once.
    """
    started = time.perf_counter()
    claims_done = 0
    pairs_done = 0
    for group in _by_article(pairs):
        passages = chunk_passages(group[0].article) or [group[0].article]
        sentences = [split_sentences(p.summary) or [p.summary] for p in group]
        texts = [s for ss in sentences for s in ss]
        cited = checker.nearest(passages, texts, cites)
        verdicts = checker.check_all(
            passages, [Claim(t, c) for t, c in zip(texts, cited, strict=True)]
        )
        at = 0
        for pair, ss in zip(group, sentences, strict=True):
            pair.verdicts = verdicts[at : at + len(ss)]
            at += len(ss)
        claims_done += len(texts)
        pairs_done += len(group)
        if progress:
            progress(pairs_done)
    return GroundingRun(
        list(pairs), claims_done, time.perf_counter() - started, checker.judge_calls
    )


def report(run: GroundingRun, out: IO[str] = sys.stdout) -> None:
    for subset, m in run.metrics().items():
        name = "CNN/DM" if subset == "cnndm" else "XSum (bbc)"
        out.write(
            f"{name:>10}: Spearman {m['spearman']:.3f}  balanced accuracy "
            f"{m['balanced_accuracy']:.3f}  ({int(m['pairs'])} summaries, "
            f"{int(m['faithful'])} fully faithful)\n"
        )


def to_json(run: GroundingRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        subset: {k: round(v, 4) for k, v in m.items()} for subset, m in run.metrics().items()
    }
    out["claims"] = run.claims
    out["claims_per_s"] = round(run.claims / run.seconds, 2) if run.seconds else None
    out["judge_calls"] = run.judge_calls
    return out
