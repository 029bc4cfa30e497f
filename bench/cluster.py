"""Clustering benchmark: embed and cluster the 3,747 Reddit posts plus the GVA dev set.

Through the real path (`Desk.cluster` on a fresh SQLite store): embeddings of every item,
online clustering, story fields. Prints items/s including embeddings, peak RSS, and the
ratio to embedding the same texts alone (the baseline, measured in the same run).

    .venv/bin/python bench/cluster.py [--data ../shared/data]
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
from datetime import UTC, datetime
from pathlib import Path

from newsdesk.desk import Desk
from newsdesk.models import Item
from newsdesk.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def gva_items(data: Path) -> list[Item]:
    out = []
    path = data / "gva-incident-news" / "gva_incident_docs_dev.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            day = datetime.fromisoformat(doc["dct"]).replace(tzinfo=UTC) if doc.get("dct") else None
            out.append(
                Item(
                    external_id=f"gva:{doc['doc_id']}",
                    title=doc.get("title") or "",
                    url=doc.get("uri"),
                    published_at=day,
                    text=doc.get("content") or "",
                )
            )
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "gva-incident-news").is_dir():
        print(f"skipped: no real data at {data}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        desk = Desk(Settings.load(env={}, data_dir=Path(tmp)))
        desk.import_reddit(data / "reddit-localllama" / "posts.jsonl.gz")
        source = desk.store.add_source("feed", "https://gva.invalid/", "GVA dev", "📰")
        desk.store.upsert_items(source.id, gva_items(data))
        total = desk.stats()["items"]

        from newsdesk.embeddings import embed_batches, get_backend
        from newsdesk.stories import embedding_text

        rows = desk.store.items_without_embedding("baseline")
        backend = get_backend(desk.settings)
        backend.embed(["warm up"])
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        embed_batches(backend, [embedding_text(r) for r in rows], desk.settings.embed_batch_size)
        embed_s = time.perf_counter() - start

        start = time.perf_counter()
        run = desk.cluster()
        cluster_s = time.perf_counter() - start
        desk.close()
    print(f"items: {total:,} (3,747 Reddit posts + GVA dev)")
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores)")
    print(f"baseline, embedding alone : {embed_s:.1f} s = {total / embed_s:,.0f} items/s")
    print(
        f"embed + cluster + fields  : {cluster_s:.1f} s = {total / cluster_s:,.0f} items/s "
        "(goal >= 100)"
    )
    print(f"ratio to embedding alone  : {cluster_s / embed_s:.2f}x")
    print(f"stories: {run.new_stories:,}; items that joined a story: {run.joined:,}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (goal < 1,536)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
