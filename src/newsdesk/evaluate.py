"""Evaluation of story clustering and related-story similarity on benchmark data.

Metrics (B-cubed, pairwise F1, adjusted Rand index) are implemented here with the
standard library and numpy only, so the package never needs scikit-learn.

The loaders turn each benchmark into what a news item really has -- title, text,
publication date, links inside the text -- and keep the gold label apart. They never pass
a field that only exists because of how the benchmark was built (ECB+'s topic, subtopic,
split, document name and ``source_url``, GVA's archive URI), since that would leak the
answer into the clusterer.

Run it: ``python -m newsdesk.evaluate ecbplus --path FILE --seeds 5`` or
``python -m newsdesk.evaluate gva --path FILE --threshold 0.2``.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from newsdesk.cluster import ClusterConfig, ClusterDoc, OnlineClusterer

#: Documents in stream order, each with its gold cluster.
Labelled = list[tuple[ClusterDoc, str]]
#: The same, where a document's gold may be None: streamed (the clusterer sees it), not
#: scored, as the unlabelled posts of a forum around its labelled days.
Stream = Sequence[tuple[ClusterDoc, str | None]]

# --------------------------------------------------------------------------- metrics


def bcubed(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering (one label per item).

    Each item's precision is the share of its predicted cluster that shares its gold
    cluster, its recall the share of its gold cluster that shares its predicted cluster;
    both are averaged over items.
    """
    if len(predicted) != len(gold):
        raise ValueError("predicted and gold labels differ in length")
    if not gold:
        return 0.0, 0.0, 0.0
    both = Counter(zip(predicted, gold, strict=True))
    pred_size = Counter(predicted)
    gold_size = Counter(gold)
    precision = sum(n * n / pred_size[p] for (p, _), n in both.items()) / len(gold)
    recall = sum(n * n / gold_size[g] for (_, g), n in both.items()) / len(gold)
    return precision, recall, _f1(precision, recall)


def pairwise_f1(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """F1 over item pairs: a pair is positive when both items share a cluster."""
    both = Counter(zip(predicted, gold, strict=True))
    tp = sum(_pairs(n) for n in both.values())
    pred_pairs = sum(_pairs(n) for n in Counter(predicted).values())
    gold_pairs = sum(_pairs(n) for n in Counter(gold).values())
    if tp == 0:
        return 1.0 if pred_pairs == gold_pairs == 0 else 0.0
    return _f1(tp / pred_pairs, tp / gold_pairs)


def adjusted_rand_index(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Hubert and Arabie's adjusted Rand index (1 = identical, about 0 = chance)."""
    n = len(gold)
    index = sum(_pairs(c) for c in Counter(zip(predicted, gold, strict=True)).values())
    sum_pred = sum(_pairs(c) for c in Counter(predicted).values())
    sum_gold = sum(_pairs(c) for c in Counter(gold).values())
    expected = sum_pred * sum_gold / _pairs(n) if n > 1 else 0.0
    maximum = (sum_pred + sum_gold) / 2
    if maximum == expected:  # both all-singletons or both one cluster: nothing to adjust
        return 1.0
    return (index - expected) / (maximum - expected)


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom else 0.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# --------------------------------------------------------------------------- loaders

_URL_SENTENCE = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def links_in(text: str) -> list[str]:
    """The http(s) URLs written in a text, trailing punctuation removed."""
    return [u.rstrip(".,;:!?") for u in _URL_IN_TEXT.findall(text)]


def load_ecbplus(path: str | Path) -> Labelled:
    """ECB+ documents with their gold event cluster, in file order.

    ECB+ has no titles and no dates: the first sentence stands in for the title and the
    publication time is unknown. Some releases put the page URL in sentence 0; a leading
    URL-looking sentence is dropped (and its presence is not used at all).
    """
    out: Labelled = []
    for row in _jsonl(Path(path)):
        sentences = [s for s in row["sentences"] if s.strip()]
        if sentences and _URL_SENTENCE.match(sentences[0]):
            sentences = sentences[1:]
        title = sentences[0] if sentences else ""
        text = "\n".join(sentences[1:])
        doc = ClusterDoc(id=str(row["doc_id"]), title=title, text=text, links=links_in(text))
        out.append((doc, str(row["gold_event_cluster"])))
    return out


def load_gva(path: str | Path) -> Labelled:
    """GVA incident news with the gold incident id, sorted by date then doc id.

    The date (``dct``) becomes a UTC midnight publication time. The web.archive.org URI is
    left out: it is the archive's address, not the article's, and the original URL inside
    it is shared by articles the GVA cites for several incidents.
    """
    out: Labelled = []
    for row in _jsonl(Path(path)):
        published = datetime.strptime(row["dct"], "%Y-%m-%d").replace(tzinfo=UTC)
        text = row.get("content") or ""
        doc = ClusterDoc(
            id=str(row["doc_id"]),
            title=row.get("title") or "",
            text=text,
            published_at=published,
            links=links_in(text),
        )
        out.append((doc, str(row["incident_id"])))
    return _by_time(out)


def _time_then_id(pair: tuple[ClusterDoc, str | None]) -> tuple[datetime, str]:
    """Publication order, the undated first, ties by doc id."""
    return pair[0].published_at or datetime.min.replace(tzinfo=UTC), pair[0].id


def _by_time(labelled: Labelled) -> Labelled:
    return sorted(labelled, key=_time_then_id)


#: Our own labels of the r/LocalLLaMA posts of 7 and 8 August 2025 (GPT-5's launch, two
#: days after gpt-oss's): post id, event, topic. Labelled by reading each post, without
#: the clusterer's output in sight; see docs/stories.md.
LOCALLLAMA_LABELS = Path(__file__).parent / "data" / "localllama_events.csv"
"""r/LocalLLaMA, 7–8 August 2025 (202 posts): GPT-5's launch day."""
LOCALLLAMA_LAUNCH_LABELS = Path(__file__).parent / "data" / "localllama_launch.csv"
"""r/LocalLLaMA, 5–6 August 2025 (389 posts): gpt-oss's launch."""


def load_localllama(
    path: str | Path, level: str = "event", labels: Path = LOCALLLAMA_LABELS
) -> list[tuple[ClusterDoc, str | None]]:
    """The posts of an r/LocalLLaMA dump as the store would give them to the clusterer
    (title, self text, time, link), by time then id, up to the last labelled one: each
    labelled post with its gold ``event`` (one specific happening: a release, a launch, a
    result) or coarser ``topic`` (one subject: a model, a tool), as ``labels`` gives them,
    and the others with None. The others are clustered, not scored: the labelled days are
    read as part of the weeks before them, as a deployment reads them (their words set
    the IDF, their stories are there to join)."""
    import csv

    from newsdesk.sources.reddit import RedditPost, adapt_post, iter_dump
    from newsdesk.stories import cluster_doc

    with labels.open(encoding="utf-8", newline="") as f:
        gold = {row["id"]: row[level] for row in csv.DictReader(f)}
    out: list[tuple[ClusterDoc, str | None]] = []
    for post in iter_dump(Path(path)):
        if not isinstance(post, RedditPost):
            continue
        item = adapt_post(post)
        out.append((cluster_doc(item), gold.get(item.external_id)))
    out.sort(key=_time_then_id)
    labelled = [i for i, (_, g) in enumerate(out) if g is not None]
    return out[: labelled[-1] + 1] if labelled else []


LOADERS: dict[str, Callable[[str | Path], Stream]] = {
    "ecbplus": load_ecbplus,
    "gva": load_gva,
    "localllama": load_localllama,
    "localllama-topics": lambda path: load_localllama(path, "topic"),
    "localllama-launch": lambda path: load_localllama(path, labels=LOCALLLAMA_LAUNCH_LABELS),
    "localllama-launch-topics": lambda path: load_localllama(
        path, "topic", LOCALLLAMA_LAUNCH_LABELS
    ),
}

# Where each benchmark lies under ../shared/data (or NEWSDESK_SHARED_DATA).
DATASET_FILES = {
    "ecbplus": "ecbplus/ecbplus_docs_train_dev.jsonl",
    "gva": "gva-incident-news/gva_incident_docs_dev.jsonl.gz",
    "lee": "lee-news-similarity",
    "frank": "frank/frank_valid.jsonl",
    "aggrefact": "aggrefact-unified-errors",
    "timeline17": "timeline17",
    "covidtls": "covidtls",
    "localllama": "reddit-localllama/posts.jsonl.gz",
    "localllama-topics": "reddit-localllama/posts.jsonl.gz",
    "localllama-launch": "reddit-localllama/posts.jsonl.gz",
    "localllama-launch-topics": "reddit-localllama/posts.jsonl.gz",
}


def dataset_path(name: str, path: str | Path | None = None) -> Path:
    """The file of a named benchmark: ``path`` when given, else its place in the shared data.

    Raises:
        NewsdeskError: the file is not there, with where it was looked for.
    """
    import os

    from newsdesk.exceptions import NewsdeskError

    if path is not None:
        found = Path(path)
    else:
        root = Path(os.environ.get("NEWSDESK_SHARED_DATA", "../shared/data"))
        found = root / DATASET_FILES[name]
    if not found.exists():
        raise NewsdeskError(
            f"No {name} data at {found}: pass --path, or set NEWSDESK_SHARED_DATA to "
            "the folder holding the benchmark sets"
        )
    return found


def run_cluster_eval(
    dataset: str, path: str | Path | None = None, seeds: int = 0
) -> list[tuple[str, dict[str, float]]]:
    """Score the clusterer on a benchmark: the stream in file order, then ``seeds`` shuffles
    (ECB+ has no dates, so its file order groups each topic; shuffles are the realistic
    stream). GVA streams by date.

    Raises:
        NewsdeskError: the file holds no labelled document (for ``localllama``, none of
            the labelled posts).
    """
    from newsdesk.exceptions import NewsdeskError

    found = dataset_path(dataset, path)
    docs = LOADERS[dataset](found)
    if not any(g is not None for _, g in docs):
        days = "5-6" if dataset.startswith("localllama-launch") else "7-8"
        which = f"the labelled r/LocalLLaMA posts ({days} August 2025)"
        raise NewsdeskError(
            f"No labelled documents in {found}"
            + (f": it holds none of {which}" if dataset.startswith("localllama") else "")
        )
    runs = [("file order", evaluate_clustering(docs))]
    runs += [(f"seed {s}", evaluate_clustering(docs, order_seed=s)) for s in range(seeds)]
    return runs


def load_lee(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Lee et al. (2005): the 50 documents and the 50x50 human similarity matrix.

    ``path`` is the folder holding ``lee.cor`` and ``similarities0-1.txt``.
    """
    folder = Path(path)
    texts = [t.strip() for t in (folder / "lee.cor").read_text(encoding="latin-1").splitlines()]
    texts = [t for t in texts if t]
    rows = (folder / "similarities0-1.txt").read_text(encoding="utf-8").splitlines()
    matrix = np.array([[float(v) for v in r.split()] for r in rows if r.strip()])
    return texts, matrix


def evaluate_related(embed_fn: Callable[[list[str]], np.ndarray], path: str | Path) -> float:
    """Pearson r between cosine similarities of ``embed_fn``'s vectors and human ratings.

    Uses the 1,225 upper-triangle pairs of the Lee matrix.
    """
    texts, human = load_lee(path)
    vectors = np.asarray(embed_fn(texts), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1.0, norms)
    cosine = vectors @ vectors.T
    upper = np.triu_indices(len(texts), k=1)
    return pearson(cosine[upper], human[upper])


def evaluate_related_links(
    embed_fn: Callable[[list[str]], np.ndarray], path: str | Path
) -> dict[str, float]:
    """The related-stories rule (``stories.nearest``) scored on ECB+'s topics.

    Each gold event is a story whose centroid is the mean of its documents' vectors
    (embedded as items are: ``stories.embedding_text``). ECB+ gives each topic two
    different but similar events (two celebrities entering rehab, two earthquakes): a link
    is right when it joins the two events of one topic. Precision is over the links the
    rule makes (each story's, so a pair linked both ways counts twice); recall over the
    topics' pairs of events, a pair found when either links the other.
    """
    from types import SimpleNamespace

    from newsdesk.stories import embedding_text, nearest

    topic_of: dict[str, str] = {}
    for row in _jsonl(Path(path)):
        topic_of[str(row["gold_event_cluster"])] = str(row["topic"])
    members: dict[str, list[str]] = {}
    for doc, gold in load_ecbplus(path):
        body = SimpleNamespace(title=doc.title, text=doc.text, article_text=None)
        members.setdefault(gold, []).append(embedding_text(body))
    events = sorted(members)
    vectors = np.asarray(embed_fn([t for e in events for t in members[e]]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bounds = np.cumsum([0] + [len(members[e]) for e in events])
    centroids = np.stack([vectors[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    links = right = 0
    found: set[frozenset[int]] = set()
    for i in range(len(events)):
        for j in nearest(centroids, i):
            links += 1
            if topic_of[events[i]] == topic_of[events[j]]:
                right += 1
                found.add(frozenset((i, j)))
    topics = Counter(topic_of[e] for e in events)
    pairs = sum(n * (n - 1) // 2 for n in topics.values())
    precision = right / links if links else 0.0
    recall = len(found) / pairs if pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "links_precision": precision,
        "links_recall": recall,
        "links_f1": f1,
        "links": float(links),
        "events": float(len(events)),
    }


# --------------------------------------------------------------------------- runs


def cluster_stream(
    docs: Sequence[ClusterDoc], config: ClusterConfig | None = None
) -> tuple[list[str], float]:
    """Cluster the documents online, one at a time, in this order: each one's story id,
    and the seconds it took."""
    clusterer = OnlineClusterer(config or ClusterConfig())
    started = time.perf_counter()
    predicted = [clusterer.add(doc).story_id for doc in docs]
    return predicted, time.perf_counter() - started


def score_clustering(
    predicted: Sequence[str], gold: Sequence[str | None], seconds: float = 0.0
) -> dict[str, float]:
    """Score story ids against the gold clusters, over the documents that have one.

    Returns:
        bcubed_precision, bcubed_recall, bcubed_f1, pairwise_f1, ari, docs_per_s (of the
        whole stream), docs (those scored), clusters (the stories they fell into).
    """
    scored = [(p, g) for p, g in zip(predicted, gold, strict=True) if g is not None]
    ours, theirs = [p for p, _ in scored], [g for _, g in scored]
    precision, recall, f1 = bcubed(ours, theirs)
    return {
        "bcubed_precision": precision,
        "bcubed_recall": recall,
        "bcubed_f1": f1,
        "pairwise_f1": pairwise_f1(ours, theirs),
        "ari": adjusted_rand_index(ours, theirs),
        "docs_per_s": len(predicted) / seconds if seconds else float("inf"),
        "docs": float(len(scored)),
        "clusters": float(len(set(ours))),
    }


def evaluate_clustering(
    docs_with_gold: Stream,
    config: ClusterConfig | None = None,
    order_seed: int | None = None,
) -> dict[str, float]:
    """Cluster the documents online, one at a time, and score against the gold labels.

    Args:
        docs_with_gold: documents in stream order, each with its gold cluster (None: in
            the stream, not scored).
        config: the clusterer's configuration (default: ``ClusterConfig()``).
        order_seed: when given, the stream is a seeded random shuffle of the documents.

    Returns:
        What ``score_clustering`` gives.
    """
    stream = list(docs_with_gold)
    if order_seed is not None:
        random.Random(order_seed).shuffle(stream)
    predicted, seconds = cluster_stream([doc for doc, _ in stream], config)
    return score_clustering(predicted, [g for _, g in stream], seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", choices=sorted(LOADERS))
    parser.add_argument("--path", required=True, help="the dataset's .jsonl or .jsonl.gz file")
    parser.add_argument("--seeds", type=int, default=0, help="also score N shuffled orders")
    parser.add_argument("--threshold", type=float, help="override ClusterConfig.threshold")
    parser.add_argument("--window-hours", type=float, help="override the window")
    parser.add_argument(
        "--follow-up-hours", type=float, help="override the follow-up horizon (0: off)"
    )
    args = parser.parse_args(argv)
    config = ClusterConfig()
    if args.threshold is not None:
        config.threshold = args.threshold
    if args.window_hours is not None:
        config.window_hours = args.window_hours
    if args.follow_up_hours is not None:
        config.follow_up_hours = args.follow_up_hours
    docs = LOADERS[args.dataset](args.path)
    runs: list[tuple[str, dict[str, float]]] = [("file order", evaluate_clustering(docs, config))]
    for seed in range(args.seeds):
        runs.append((f"seed {seed}", evaluate_clustering(docs, config, order_seed=seed)))
    for name, r in runs:
        print(
            f"{name:>10}: B3 P {r['bcubed_precision']:.3f} R {r['bcubed_recall']:.3f} "
            f"F1 {r['bcubed_f1']:.3f}  pairwise F1 {r['pairwise_f1']:.3f}  ARI {r['ari']:.3f}  "
            f"{int(r['clusters'])} stories, {r['docs_per_s']:.0f} docs/s"
        )
    if args.seeds:
        f1s = [r["bcubed_f1"] for name, r in runs[1:]]
        print(f"shuffled: B3 F1 mean {sum(f1s) / len(f1s):.3f} min {min(f1s):.3f}")


if __name__ == "__main__":
    main()
