"""Experiment (tried, not kept; docs/reliability.md): can MiniLM similarity to the seen
injection payloads catch the fresh ones (category holdout) without leaving out real text?

Every seen payload's sentences are prototypes; a paragraph that survives the word filter is
scored by its sentences' highest cosine to any prototype. The threshold is chosen on real
text alone (the lowest that adds at most 0.4% of the words of the recorded lab feeds and
0.8% of 3,000 r/LocalLLaMA posts to what the filter leaves out), then the fresh set is read
at that threshold. No language model.

    .venv/bin/python scripts/experiments/injection_embedding.py [../shared/data]
"""

import gzip
import io
import json
import re
import sys
import tempfile
from pathlib import Path

import feedparser
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from newsdesk.briefs.injection import visible, without_injections  # noqa: E402
from newsdesk.briefs.pack import neutralize  # noqa: E402
from newsdesk.embeddings import get_backend, normalize  # noqa: E402
from newsdesk.sanitize import html_to_text  # noqa: E402
from newsdesk.settings import Settings  # noqa: E402
from newsdesk.timeline import split_sentences  # noqa: E402

data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
if not (data / "reddit-localllama").is_dir():
    sys.exit(f"skipped: no real data at {data}")
lines = (ROOT / "tests" / "hostile" / "injections.jsonl").read_text("utf-8").splitlines()
rows = [json.loads(line) for line in lines if line.strip()]
seen = [r for r in rows if r["category"] != "holdout" and r["where"] == "content"]
fresh = [r for r in rows if r["category"] == "holdout"]
emb = get_backend(Settings.load(env={}, data_dir=Path(tempfile.mkdtemp())))


def sents(text):
    return [
        s for s in split_sentences(neutralize(visible(text))) if len(s.split()) >= 4 or len(s) >= 20
    ]


P = normalize(emb.embed([s for r in seen for s in sents(r["text"])]))
print("prototypes", len(P))


def score(sentences):
    if not sentences:
        return np.zeros(0)
    V = normalize(emb.embed(sentences))
    return (V @ P.T).max(axis=1)


fs = [score(sents(r["text"])).max(initial=0.0) for r in fresh]
lex = [
    not any(c in without_injections(neutralize(visible(r["text"]))).lower() for c in r["canaries"])
    for r in fresh
]


def articles():
    for path in sorted((data / "rss-ai-feeds" / "head").glob("*.xml")):
        parsed = feedparser.parse(io.BytesIO(path.read_bytes()), sanitize_html=False)
        for entry in parsed.entries:
            content = entry.get("content") or [{"value": entry.get("summary", "")}]
            yield html_to_text(content[0]["value"])


def posts(n=3000):
    with gzip.open(data / "reddit-localllama" / "posts.jsonl.gz", "rt") as lines:
        for i, line in enumerate(lines):
            if i >= n:
                break
            post = json.loads(line)
            yield (post.get("data") or post).get("selftext") or ""


def para_scores(texts):
    out = []  # (words, max score) per paragraph after the lexical filter
    for text in texts:
        text = without_injections(neutralize(visible(text)))
        for para in re.split(r"\n\s*\n", text):
            ss = [s for s in split_sentences(para) if len(s.split()) >= 4 or len(s) >= 20]
            w = len(para.split())
            if not w:
                continue
            out.append((w, float(score(ss).max(initial=0.0))))
    return out


A = para_scores(articles())
print("article paragraphs", len(A))
Q = para_scores(posts())
print("post paragraphs", len(Q))


# The threshold from real text alone: the lowest that keeps within the filter's ceilings
# (articles 1%, posts 2.5% of words left out; the lexical filter takes 0.5% and 1.5%).
def fp(t):
    fa = sum(w for w, s in A if s >= t) / sum(w for w, _ in A)
    fq = sum(w for w, s in Q if s >= t) / sum(w for w, _ in Q)
    return fa, fq


grid = [round(0.30 + 0.01 * i, 2) for i in range(60)]
for t in grid[::5]:
    fa, fq = fp(t)
    print(f"t={t}: articles +{fa:.2%}, posts +{fq:.2%}")
tau = next(t for t in grid if fp(t)[0] <= 0.004 and fp(t)[1] <= 0.008)
fa, fq = fp(tau)
caught = sum((s >= tau) or lexical for s, lexical in zip(fs, lex, strict=True))
print(f"chosen by real text only: t={tau} (articles +{fa:.2%}, posts +{fq:.2%})")
print(
    f"fresh caught: {caught} of {len(fresh)} (words alone {sum(lex)}, "
    f"embedding alone {sum(s >= tau for s in fs)})"
)
