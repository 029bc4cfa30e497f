"""Embedding benchmark: the minilm backend on the 3,747 Reddit posts (title + selftext).

Each text is truncated to the model's 256 word pieces, as in use. Prints texts/s, peak RSS
and the ratio to tokenization alone (the same tokenizer, truncation and padding, on the same
batches), both measured in this run. ``--order`` also times the texts in input order (no
length sorting), to show what the sorting in ``embed_batches`` buys.

    .venv/bin/python bench/embed.py [--data ../shared/data] [--batch-size 32] [--threads 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from newsdesk.embeddings import MiniLMBackend, embed_batches, get_backend
from newsdesk.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def reddit_texts(data: Path) -> list[str]:
    with gzip.open(data / "reddit-localllama" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        posts = [json.loads(line)["data"] for line in f]
    return [f"{p.get('title') or ''}\n{p.get('selftext') or ''}".strip() for p in posts]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="0: onnxruntime chooses")
    parser.add_argument(
        "--order", action="store_true", help="also time the texts unsorted (input order)"
    )
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "reddit-localllama").is_dir():
        print(f"skipped: no real data at {data}", file=sys.stderr)
        return 0
    texts = reddit_texts(data)
    texts_rss = peak_rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            env={},
            data_dir=Path(tmp),
            embed_backend="minilm",
            embed_batch_size=args.batch_size,
            embed_threads=args.threads,
        )
        backend = get_backend(settings)
    assert isinstance(backend, MiniLMBackend)
    start = time.perf_counter()
    backend.embed(["warm up"])
    load_s = time.perf_counter() - start
    model_rss = peak_rss_mb()

    # The baseline: tokenize the same length-sorted batches, padded, and nothing else.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [
        [texts[i] for i in order[s : s + args.batch_size]]
        for s in range(0, len(order), args.batch_size)
    ]
    start = time.perf_counter()
    tokens = 0
    for batch in batches:
        _, mask = backend.tokenize(batch)
        tokens += int(mask.sum())
    tokenize_s = time.perf_counter() - start

    start = time.perf_counter()
    vectors = embed_batches(backend, texts, args.batch_size)
    embed_s = time.perf_counter() - start
    assert vectors.shape == (len(texts), 384)

    n = len(texts)
    print(f"texts: {n:,} Reddit posts (title + selftext)")
    print(f"model load: {load_s:.2f} s; batch size {args.batch_size}, threads {args.threads}")
    print(f"word pieces after truncation: {tokens:,} ({tokens / n:.0f} per text)")
    print(f"baseline, tokenization alone: {tokenize_s:.2f} s = {n / tokenize_s:,.0f} texts/s")
    print(f"embed_batches (length-sorted): {embed_s:.1f} s = {n / embed_s:,.0f} texts/s")
    print(f"ratio to tokenization alone : {embed_s / tokenize_s:,.0f}x")
    if args.order:
        start = time.perf_counter()
        unsorted = np.vstack(
            [backend.embed(texts[s : s + args.batch_size]) for s in range(0, n, args.batch_size)]
        )
        order_s = time.perf_counter() - start
        drift = float(np.abs(unsorted - vectors).max())
        print(
            f"input order, no sorting      : {order_s:.1f} s = {n / order_s:,.0f} texts/s "
            f"({order_s / embed_s:.2f}x the sorted time; max |diff| {drift:.1e})"
        )
    print(
        f"peak RSS: {peak_rss_mb():,.0f} MB ({texts_rss:,.0f} MB after reading the posts, "
        f"{model_rss:,.0f} MB after loading the model)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
