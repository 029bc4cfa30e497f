"""Timeline evaluation: the news-tls protocol on Timeline17 and CovidTLS.

Gholipour Ghalandari & Ifrim (ACL 2020) score timeline summarization like this: for each
gold timeline the system gets the topic's articles published within the gold timeline's
span, the number of gold dates ``k`` and the average number of sentences per gold date, and
returns ``k`` dated summaries. The scores, after tilse (Martschat & Markert 2017, 2018):

- Date-F1: F1 of the predicted dates against the gold dates (exact days);
- alignment-based ROUGE-1/2 F (``ar1_f``, ``ar2_f``): tilse's ``align+ m:1``, the variant
  news-tls reports as AR-1/AR-2. Each predicted date is aligned to the gold date of least
  cost (date distance times content dissimilarity) for precision, each gold date to a
  predicted one for recall; a pair's ROUGE hits are weighted by 1 / (1 + days apart);
- date-agreement ROUGE-1/2 F (``agreement_r1_f``, ``agreement_r2_f``): summaries compared
  only on the dates both timelines have, tilse's ``agreement``.

ROUGE counts come from ``newsdesk.rouge`` (ROUGE-1.5.5's ``-m -s`` counts in Python).

Data layout (as in ../shared/data): Timeline17 is a folder with ``timelines/<topic>__<name>
.timeline.json`` (a list of ``{"date", "text"}``) and ``articles/<topic>.articles.json.gz``
(a list of ``{"uid", "dct", "text"}``); CovidTLS is a tilse text file (a ``YYYY-MM-DD`` line,
summary lines, a line of dashes) with no articles. ``--system FILE`` scores a timeline made
elsewhere (tilse text or the JSON list) against the gold one instead of building one.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from newsdesk.evaluate import dataset_path
from newsdesk.exceptions import NewsdeskError
from newsdesk.rouge import rouge_counts
from newsdesk.timeline import (
    DatedSentence,
    Timeline,
    TimelineConfig,
    build_timeline,
    dated_sentences,
    split_sentences,
)

# date -> the summary's sentences
DatedSummaries = dict[date, list[str]]

# The timeline benchmarks (their folders: evaluate.DATASET_FILES).
DATASETS = ("timeline17", "covidtls")


@dataclass
class Article:
    id: str
    published: date
    text: str


@dataclass
class TimelineTask:
    """One gold timeline and the articles a system gets for it (none for CovidTLS)."""

    name: str
    gold: DatedSummaries
    articles: list[Article] = field(default_factory=list)

    @property
    def span(self) -> tuple[date, date]:
        return min(self.gold), max(self.gold)

    @property
    def sentences_per_date(self) -> int:
        """The gold timeline's mean number of sentences per date, rounded (at least 1)."""
        total = sum(len(s) for s in self.gold.values())
        return max(1, round(total / len(self.gold)))


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    return json.loads(path.read_text(encoding="utf-8"))


def _gold_sentences(text: str) -> list[str]:
    return split_sentences(text)


def read_tilse(path: Path) -> DatedSummaries:
    """A timeline in tilse's text format: a date line, summary lines, a dashes line."""
    out: DatedSummaries = {}
    current: date | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if re.fullmatch(r"-{5,}", line):
            current = None
        elif current is None and re.fullmatch(r"\d{4}-\d\d-\d\d", line):
            current = date.fromisoformat(line)
            out.setdefault(current, [])
        elif current is not None:
            out[current].extend(_gold_sentences(line))
    return {d: s for d, s in out.items() if s}


def read_timeline_json(path: Path) -> DatedSummaries:
    """A timeline as a JSON list of ``{"date": "YYYY-MM-DD", "text": ...}``."""
    out: DatedSummaries = {}
    for row in _read_json(path):
        d = date.fromisoformat(str(row["date"])[:10])
        out.setdefault(d, []).extend(_gold_sentences(row["text"]))
    return {d: s for d, s in out.items() if s}


def read_timeline(path: Path) -> DatedSummaries:
    if path.name.endswith((".json", ".json.gz")):
        return read_timeline_json(path)
    return read_tilse(path)


def load_articles(path: Path) -> list[Article]:
    """Timeline17 articles: ``uid``, ``dct`` (the publication date) and ``text``."""
    return [
        Article(str(row["uid"]), date.fromisoformat(str(row["dct"])[:10]), row["text"])
        for row in _read_json(path)
    ]


def load_tasks(path: Path) -> list[TimelineTask]:
    """Every gold timeline under ``path`` (a file or a dataset folder) with its articles.

    A Timeline17-style folder pairs ``timelines/<topic>__*.timeline.json`` with
    ``articles/<topic>.articles.json(.gz)``; a gold timeline whose articles are missing
    comes with none.
    """
    if path.is_file():
        return [TimelineTask(path.name, read_timeline(path))]
    gold_files = sorted(path.glob("timelines/*.timeline.json")) or sorted(
        p for p in path.glob("*.txt") if p.name.lower() != "readme.txt"
    )
    tasks = []
    for gold_file in gold_files:
        topic = gold_file.name.split("__")[0]
        articles: list[Article] = []
        for candidate in (f"{topic}.articles.json.gz", f"{topic}.articles.json"):
            if (path / "articles" / candidate).exists():
                articles = load_articles(path / "articles" / candidate)
                break
        name = gold_file.name.removesuffix(".timeline.json").removesuffix(".txt")
        tasks.append(TimelineTask(name, read_timeline(gold_file), articles))
    return tasks


# --------------------------------------------------------------------------- metrics


def date_f1(predicted: Sequence[date], gold: Sequence[date]) -> float:
    """F1 of the predicted dates against the gold dates (exact days)."""
    shared = len(set(predicted) & set(gold))
    if not shared:
        return 0.0
    precision, recall = shared / len(set(predicted)), shared / len(set(gold))
    return 2 * precision * recall / (precision + recall)


def _f(hits_p: float, peer: float, hits_r: float, model: float) -> float:
    precision = hits_p / peer if peer else 0.0
    recall = hits_r / model if model else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def agreement_rouge(predicted: DatedSummaries, gold: DatedSummaries, n: int) -> float:
    """tilse's date-agreement ROUGE-N F: summaries compared on shared dates only."""
    hits = peer = model = 0
    for d, summary in predicted.items():
        c = rouge_counts(summary, gold.get(d, []), n)
        hits += c.hits
        peer += c.peer
    for reference in gold.values():
        model += rouge_counts([], reference, n).model
    return _f(hits, peer, hits, model)


def _unigram_f1(a: Sequence[str], b: Sequence[str]) -> float:
    """tilse's approximate ROUGE-1 F1 (whitespace tokens, no stemming) for alignment costs."""
    from collections import Counter

    ca = Counter(w for s in a for w in s.split())
    cb = Counter(w for s in b for w in s.split())
    match = sum(min(c, cb[w]) for w, c in ca.items())
    if not match:
        return 0.0
    p, r = match / sum(ca.values()), match / sum(cb.values())
    return 2 * p * r / (p + r)


def _cost(pred_day: date, pred: list[str], gold_day: date, gold: list[str]) -> float:
    date_factor = 1 - 1 / (abs(pred_day.toordinal() - gold_day.toordinal()) + 1)
    return date_factor * (1 - _unigram_f1(pred, gold))


def alignment_rouge(predicted: DatedSummaries, gold: DatedSummaries, n: int) -> float:
    """tilse's ``align+ m:1`` ROUGE-N F, the AR-N of news-tls.

    For precision each predicted date goes to its cheapest gold date, for recall each gold
    date to its cheapest predicted date (cost: date distance factor times one minus an
    approximate ROUGE-1 F1; ties to the earliest); a pair's hits count
    1 / (1 + days between them).
    """
    if not predicted or not gold:
        return 0.0
    pred_days, gold_days = sorted(predicted), sorted(gold)
    hits_p = peer = 0.0
    for p in pred_days:
        g = min(gold_days, key=lambda g: _cost(p, predicted[p], g, gold[g]))
        c = rouge_counts(predicted[p], gold[g], n)
        hits_p += c.hits / (abs(p.toordinal() - g.toordinal()) + 1)
        peer += c.peer
    hits_r = model = 0.0
    for g in gold_days:
        p = min(pred_days, key=lambda p: _cost(p, predicted[p], g, gold[g]))
        c = rouge_counts(predicted[p], gold[g], n)
        hits_r += c.hits / (abs(p.toordinal() - g.toordinal()) + 1)
        model += c.model
    return _f(hits_p, peer, hits_r, model)


def score_timeline(predicted: DatedSummaries, gold: DatedSummaries) -> dict[str, float]:
    """Date-F1, AR-1/2 F and agreement ROUGE-1/2 F of one predicted timeline."""
    return {
        "date_f1": date_f1(list(predicted), list(gold)),
        "ar1_f": alignment_rouge(predicted, gold, 1),
        "ar2_f": alignment_rouge(predicted, gold, 2),
        "agreement_r1_f": agreement_rouge(predicted, gold, 1),
        "agreement_r2_f": agreement_rouge(predicted, gold, 2),
    }


# --------------------------------------------------------------------------- runs


def task_evidence(task: TimelineTask) -> list[DatedSentence]:
    """The dated sentences of the articles published within the gold span."""
    start, end = task.span
    evidence: list[DatedSentence] = []
    for a in task.articles:
        if start <= a.published <= end:
            evidence.extend(dated_sentences(a.text, a.published, a.id, undated=True))
    return evidence


def predict(task: TimelineTask, config: TimelineConfig | None = None) -> Timeline:
    """newsdesk's timeline for a task: k = gold dates, within the gold span."""
    config = config or TimelineConfig()
    config = TimelineConfig(**{**vars(config), "summary_sentences": task.sentences_per_date})
    return build_timeline(task_evidence(task), len(task.gold), task.span, config)


def as_summaries(timeline: Timeline) -> DatedSummaries:
    return {e.date: [s.sentence for s in e.summary] for e in timeline.entries}


@dataclass
class TaskResult:
    name: str
    gold_dates: int
    predicted_dates: int
    scores: dict[str, float]


METRICS = ("date_f1", "ar1_f", "ar2_f", "agreement_r1_f", "agreement_r2_f")


def run_timeline_eval(
    dataset: str,
    path: str | Path | None = None,
    system: str | Path | None = None,
    config: TimelineConfig | None = None,
) -> tuple[list[TaskResult], dict[str, float]]:
    """Score newsdesk's timelines (or the ``system`` timeline file) on a benchmark.

    Returns:
        A result per gold timeline and the mean of each metric over them.

    Raises:
        NewsdeskError: no data, or a gold timeline without articles and no ``system``.
    """
    tasks = load_tasks(dataset_path(dataset, path))
    if not tasks:
        raise NewsdeskError(f"No gold timelines found for {dataset}")
    results = []
    for task in tasks:
        if system is not None:
            predicted = read_timeline(Path(system))
        elif task.articles:
            predicted = as_summaries(predict(task, config))
        else:
            raise NewsdeskError(
                f"{task.name} has a gold timeline but no source articles to build one from: "
                "pass --system FILE to score a timeline made elsewhere (tilse text or JSON), "
                "or --path to a folder that holds articles/<topic>.articles.json.gz"
            )
        results.append(
            TaskResult(
                task.name, len(task.gold), len(predicted), score_timeline(predicted, task.gold)
            )
        )
    means = {m: sum(r.scores[m] for r in results) / len(results) for m in METRICS}
    return results, means
