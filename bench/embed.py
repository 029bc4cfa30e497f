"""Embedding benchmark: the minilm backend on the 3,747 Reddit posts (title + selftext).

Each text is truncated to the model's 256 word pieces, as in use. Prints texts/s, peak RSS
and the ratio to tokenization alone (the same tokenizer and truncation on the same texts),
both measured in this run. ``--compare`` also times, on the same texts and in the same run,
the backend with float MatMuls (the export as shipped) and the way newsdesk ran the model
before: one run at a time on onnxruntime's default threads, texts padded into runs of up
to 2,048 word pieces.

    .venv/bin/python bench/embed.py [--data ../shared/data] [--batch-size 32] [--threads 0]
                                    [--compare]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from newsdesk import embeddings
from newsdesk.embeddings import EmbeddingBackend, MiniLMBackend, embed_batches, get_backend
from newsdesk.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def reddit_texts(data: Path) -> list[str]:
    with gzip.open(data / "reddit-localllama" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        posts = [json.loads(line)["data"] for line in f]
    return [f"{p.get('title') or ''}\n{p.get('selftext') or ''}".strip() for p in posts]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PaddedRuns(EmbeddingBackend):
    """The minilm backend as it ran before: the model as shipped on onnxruntime's default
    threads, one run at a time, a call's texts sorted by length and padded into runs of up
    to 2,048 word pieces."""

    name = "minilm-padded-runs"
    dimensions = 384
    budget = 2048

    def __init__(self, settings: Settings) -> None:
        import onnxruntime

        super().__init__(settings)
        onnx_path, _ = embeddings.minilm_files()
        self.session = onnxruntime.InferenceSession(
            str(onnx_path), providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        _, tokenizer = embeddings._load_minilm(int8=False)
        encodings = tokenizer.encode_batch(list(texts))
        out = np.empty((len(texts), 384), dtype=np.float32)
        runs: list[list[int]] = [[]]
        for i in sorted(range(len(texts)), key=lambda i: len(encodings[i].ids)):
            if runs[-1] and (len(runs[-1]) + 1) * len(encodings[i].ids) > self.budget:
                runs.append([])
            runs[-1].append(i)
        for run in runs:
            ids, mask = embeddings._pad([encodings[i] for i in run])
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            (hidden,) = self.session.run(["last_hidden_state"], feed)
            weights = mask[:, :, None].astype(np.float32)
            out[run] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return embeddings.normalize(out)


def timed(backend: EmbeddingBackend, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    backend.embed(["warm up"])
    start = time.perf_counter()
    vectors = embed_batches(backend, texts, batch_size)
    return time.perf_counter() - start, vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="0: one per CPU")
    parser.add_argument(
        "--compare", action="store_true", help="also time float MatMuls and the earlier way"
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
    backend.embed(["load"])
    load_s = time.perf_counter() - start
    model_rss = peak_rss_mb()
    load_before = os.getloadavg()[0]

    # The baseline: tokenize the same texts in the same batches, and nothing else.
    batches = [texts[s : s + args.batch_size] for s in range(0, len(texts), args.batch_size)]
    start = time.perf_counter()
    tokens = sum(int(mask.sum()) for _, mask in map(backend.tokenize, batches))
    tokenize_s = time.perf_counter() - start

    embed_s, vectors = timed(backend, texts, args.batch_size)
    assert vectors.shape == (len(texts), 384)
    embed_rss = peak_rss_mb()

    n = len(texts)
    matmuls = "int8" if backend.int8 else "float (no VNNI)"
    print(f"texts: {n:,} Reddit posts (title + selftext)")
    print(
        f"model load: {load_s:.2f} s; batch size {args.batch_size}, {backend.threads} threads, "
        f"{matmuls} MatMuls; load average {load_before:.2f} before"
    )
    print(f"word pieces after truncation: {tokens:,} ({tokens / n:.0f} per text)")
    print(f"baseline, tokenization alone: {tokenize_s:.2f} s = {n / tokenize_s:,.0f} texts/s")
    print(f"embed_batches                : {embed_s:.1f} s = {n / embed_s:,.0f} texts/s")
    print(f"ratio to tokenization alone  : {embed_s / tokenize_s:,.0f}x")
    if args.compare:
        plain = MiniLMBackend(backend.settings)
        plain.int8 = False
        plain_s, plain_vectors = timed(plain, texts, args.batch_size)
        cosines = (vectors * plain_vectors).sum(axis=1)
        print(
            f"float MatMuls, same threads  : {plain_s:.1f} s = {n / plain_s:,.0f} texts/s "
            f"({plain_s / embed_s:.2f}x the time; cosine to its vectors: mean "
            f"{cosines.mean():.4f}, min {cosines.min():.4f})"
        )
        before_s, _ = timed(PaddedRuns(backend.settings), texts, args.batch_size)
        print(
            f"before: padded runs, 1 at once: {before_s:.1f} s = {n / before_s:,.0f} texts/s "
            f"({before_s / embed_s:.2f}x the time)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        f"peak RSS: {embed_rss:,.0f} MB after embed_batches ({texts_rss:,.0f} MB after reading "
        f"the posts, {model_rss:,.0f} MB after loading the model; {peak_rss_mb():,.0f} MB at "
        "the end)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
