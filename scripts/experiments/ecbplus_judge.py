"""Experiment: can the generator tell two similar events apart where the clusterer cannot
(issue 3)? Not part of newsdesk; the figures go to docs/stories.md.

ECB+ puts two similar events in each topic, and the clusterer's errors are articles of a
topic's second event joining the story of the first. This samples same-topic pairs of
documents (as many of the same event as of different ones), shows the model the lead of
each and asks whether they report the same specific event; the score is the log-odds of
"yes" against "no" in its next token (Qwen's chat template, no sampling). It prints the
area under the ROC curve of that score and of the TF-IDF cosine of the same pairs, of their
blends, and of both inside the band of cosines where the clusterer decides (0.15 to 0.5).

    NEWSDESK_SHARED_DATA=../shared/data .venv/bin/python scripts/experiments/ecbplus_judge.py \
        [--pairs 45] [--model qwen2.5-coder-1.5b] [--words 50] [--out /tmp/ecb_judge.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from newsdesk.evaluate import dataset_path, load_ecbplus
from newsdesk.llm import get_backend
from newsdesk.settings import Settings
from newsdesk.timeline import _tfidf

SYSTEM = "You are a careful news editor. You decide whether two articles report the same event."
QUESTION = (
    "Do A and B report the same specific event (the same incident, with the same people, "
    "place and date), not just two similar events? Answer yes or no."
)


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    y = np.asarray(labels)
    s = np.asarray(scores, float)
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=45, help="pairs of each label")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--words", type=int, default=50, help="words of each article shown")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    docs = load_ecbplus(dataset_path("ecbplus", None))
    texts = [f"{d.title} {d.text}" for d, _ in docs]
    vectors = _tfidf(texts)  # unit rows: a dot product is the cosine
    # Topics are the gold clusters' number ("1ecb" and "1ecbplus" are topic 1).
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, (_, gold) in enumerate(docs):
        by_topic[gold.rstrip("abcdefghijklmnopqrstuvwxyz")].append(i)
    same, different = [], []
    for members in by_topic.values():
        for a, i in enumerate(members):
            for j in members[a + 1 :]:
                (same if docs[i][1] == docs[j][1] else different).append((i, j))
    rnd = random.Random(0)
    rnd.shuffle(same)
    rnd.shuffle(different)
    sample = [(p, 1) for p in same[: args.pairs]] + [(p, 0) for p in different[: args.pairs]]

    backend = get_backend(Settings.load(llm_model=args.model, llm_context=1024))
    llm = backend._model()
    yes = [llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in ("yes", "Yes")]
    no = [llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in ("no", "No")]

    def lead(i: int) -> str:
        return " ".join(texts[i].split()[: args.words])

    labels, judged, cosines = [], [], []
    started = time.perf_counter()
    for n, ((i, j), label) in enumerate(sample):
        question = f"Article A:\n{lead(i)}\n\nArticle B:\n{lead(j)}\n\n{QUESTION}"
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        llm.reset()
        llm.eval(backend._prompt_tokens(messages))
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()
        judged.append(float(np.logaddexp.reduce(logits[yes]) - np.logaddexp.reduce(logits[no])))
        cosines.append(float(vectors[i] @ vectors[j]))
        labels.append(label)
        if n % 10 == 0:
            print(f"{n} pairs, {time.perf_counter() - started:.0f} s", flush=True)
    seconds = time.perf_counter() - started

    report: dict[str, float] = {
        "pairs": len(labels),
        "seconds_per_pair": round(seconds / len(labels), 2),
        "auc_model": auc(labels, judged),
        "auc_tfidf": auc(labels, cosines),
    }
    z_model = (np.array(judged) - np.mean(judged)) / (np.std(judged) or 1.0)
    z_tfidf = (np.array(cosines) - np.mean(cosines)) / (np.std(cosines) or 1.0)
    for weight in (0.25, 0.5, 0.75):
        report[f"auc_blend_{weight}"] = auc(labels, weight * z_model + (1 - weight) * z_tfidf)
    band = [k for k, c in enumerate(cosines) if 0.15 <= c <= 0.5]
    in_band = [labels[k] for k in band]
    if 0 < sum(in_band) < len(in_band):
        report["band_pairs"] = len(band)
        report["band_auc_model"] = auc(in_band, [judged[k] for k in band])
        report["band_auc_tfidf"] = auc(in_band, [cosines[k] for k in band])
    print(json.dumps({k: round(v, 3) for k, v in report.items()}, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"report": report, "labels": labels, "model": judged, "tfidf": cosines}, f)


if __name__ == "__main__":
    main()
