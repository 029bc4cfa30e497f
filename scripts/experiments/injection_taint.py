"""Experiment (docs/reliability.md): how far may a request's reach go? Rules for the names
a brief may not carry, compared without a model on what they keep out and what they cost.
Every rule uses the library's sense of "asks something" (``asks_something``).

- ``sentence``: a name that the sources give only in sentences that ask something (the
  rule of the twelfth session).
- ``window``: the same, a sentence next to an asking one (in one item's text) counting as
  asking too.
- ``item``: a name that an asking sentence of an item gives is that item's request's,
  whatever the item's other sentences say; only a plain sentence of another item, which
  no request of its own names it in, gives it back.
- ``withheld``: ``sentence``, and a name in what the filter left out of an item is barred
  from that whole item.
- ``near-withheld``: ``sentence``, the paragraphs next to what the filter left out counting
  as asking (``split_injections``).
- ``addressed``: ``sentence``, a sentence next to an asking one that speaks to someone
  counting as asking (the library's ``_ADDRESSED``).
- ``near-withheld+addressed``: the two together, the rule the library keeps.

Kept out: each holdout payload of tests/hostile/injections.jsonl put into five real
articles, as the injection test does; a canary is kept out when a brief could carry it
neither as a word nor as a hashtag. Cost: the share of the name-like words of real text
(the recorded lab feeds and r/LocalLLaMA posts, each with its title) that a brief could
not carry.

    .venv/bin/python scripts/experiments/injection_taint.py [--posts N] [data]
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
import test_hostile as th  # noqa: E402
from newsdesk.briefs.injection import (  # noqa: E402
    _ADDRESSED,
    _SCRIPT_STOPS,
    _name_like,
    asks_something,
    is_injection,
    names,
    visible,
    without_injections,
)
from newsdesk.briefs.pack import neutralize  # noqa: E402
from newsdesk.sanitize import html_to_text  # noqa: E402
from newsdesk.timeline import split_sentences  # noqa: E402

RULES = (
    "sentence",
    "window",
    "item",
    "withheld",
    "near-withheld",
    "addressed",
    "near-withheld+addressed",
)
SETS = ("older", "hv", "hu", "ht", "hs")


def units(title: str, author: str, body: str) -> list[tuple[str, str, bool]]:
    """(part, lower-cased sentence, asks) of one item, as its pack would hold it; what the
    filter leaves out is part "withheld"."""
    out = []
    title = neutralize(visible(title)).strip()
    if title and not is_injection(title):
        out.append(("title", title, asks_something(title)))
    author = " ".join(neutralize(visible(author)).split())
    if author and not is_injection(author):
        out.append(("author", author, asks_something(author)))
    body = neutralize(visible(body))
    kept = without_injections(body)
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    withheld = [p.strip() not in kept for p in paragraphs]
    for i, paragraph in enumerate(paragraphs):
        if withheld[i]:
            out.append(("withheld", paragraph, True))
            continue
        near = any(withheld[max(0, i - 1) : i + 2])
        for sentence in split_sentences(paragraph):
            for piece in _SCRIPT_STOPS.split(sentence):
                if piece.strip():
                    part = "near" if near else "body"
                    out.append((part, piece, asks_something(piece)))
    return out


class Rule:
    def __init__(self, rule: str, items: list[list[tuple[str, str, bool]]]) -> None:
        self.rule = rule
        self.items = []
        for item in items:
            if "withheld" not in rule:
                item = [u for u in item if u[0] != "withheld"]
            if "near-withheld" not in rule:
                item = [("body" if p == "near" else p, s, a) for p, s, a in item]
            asks = [a or p == "near" for p, _, a in item]
            if rule == "window" or "addressed" in rule:
                body = [i for i, (part, _, _) in enumerate(item) if part in ("body", "near")]
                near = set()
                for k, i in enumerate(body):
                    near_too = rule == "window" or _ADDRESSED.search(item[i][1])
                    if asks[i] and near_too:
                        near.update(body[max(0, k - 1) : k + 2])
                asks = [a or i in near for i, a in enumerate(asks)]
            # (part, sentence, asks, taints the item)
            self.items.append(
                [
                    (
                        p,
                        s.lower(),
                        a,
                        (p == "withheld" and "near-withheld" not in rule) or (rule == "item" and a),
                    )
                    for (p, s, _), a in zip(item, asks, strict=True)
                ]
            )

    def _borrowed_word(self, low: str) -> bool:
        tainted = [any(low in s for _, s, _, t in item if t) for item in self.items]
        asking = any(low in s for item in self.items for _, s, a, _ in item if a)
        if not asking:
            return False
        for item, taint in zip(self.items, tainted, strict=True):
            for _, s, a, _ in item:
                if a or low not in s:
                    continue
                if not taint:
                    return False
        return True

    def borrowed(self, text: str, *, tag: bool = False) -> list[str]:
        out = []
        for word in names(text, tag=tag):
            parts = [p for p in word.replace(".", "-").split("-") if p != word]
            parts = [p for p in parts if _name_like(p, tag=True)]
            if any(self._borrowed_word(p.lower()) for p in [word, *parts]):
                out.append(word)
        return out


def kept_out() -> dict[str, Counter]:
    """Per rule, (set, kept out) counts over the holdout payloads in five articles: the
    sets hv, hu, ht and hs, and the older ones."""
    counts = {rule: Counter() for rule in RULES}
    missed = {rule: set() for rule in RULES}
    for title, article in th._articles()[:5]:
        for row in th._jsonl("injections.jsonl"):
            if not row["category"].startswith("holdout"):
                continue
            where = row["where"]
            body = (
                html_to_text(th._with_payload(article, th._payload_html(row)))
                if where == "content"
                else article
            )
            item = units(
                row["text"] if where == "title" else title,
                row["text"] if where == "author" else "Staff",
                body,
            )
            text = " ".join(s for p, s, _ in item if p != "withheld")
            for canary in row["canaries"]:
                if not th._contains(text, canary) or th._inside_links(text, canary):
                    continue
                for rule in RULES:
                    r = Rule(rule, [item])
                    out = bool(
                        r.borrowed(f"The news is that {canary.capitalize()} did.")
                        and r.borrowed(f"#{canary}", tag=True)
                    )
                    group = row["id"][:2] if row["id"][:2] in SETS else "older"
                    counts[rule][group, out] += 1
                    if not out:
                        missed[rule].add(row["id"])
    for rule in RULES:
        print(f"{rule:11} missed: {' '.join(sorted(missed[rule]))}")
    return counts


def cost(texts) -> dict[str, float]:
    found = Counter()
    total = 0
    for title, body in texts:
        item = units(title, "", body)
        words = set(names(title + "\n\n" + body))
        total += len(words)
        for rule in RULES:
            r = Rule(rule, [item])
            found[rule] += sum(bool(r.borrowed(w)) for w in words)
    return {rule: found[rule] / total for rule in RULES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--posts", type=int, default=3000)
    args = parser.parse_args()
    data = Path(args.data)
    counts = kept_out()
    articles = [t.split("\n\n", 1) for t in th._real_articles(data, titles=True)]
    posts = [t.split("\n\n", 1) for t in th._real_posts(data, limit=args.posts, titles=True)]
    in_articles = cost([(t[0], t[1] if len(t) > 1 else "") for t in articles])
    in_posts = cost([(t[0], t[1] if len(t) > 1 else "") for t in posts])
    print("| rule | " + " | ".join(f"{name} kept out" for name in SETS) + " | lab feeds | posts |")
    print("| --- " * (len(SETS) + 3) + "|")
    for rule in RULES:
        c = counts[rule]
        kept = [f"{c[name, True]} of {c[name, True] + c[name, False]}" for name in SETS]
        print(f"| {rule} | {' | '.join(kept)} | {in_articles[rule]:.2%} | {in_posts[rule]:.2%} |")


if __name__ == "__main__":
    main()
