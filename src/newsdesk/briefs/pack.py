"""The source pack: a story's items as numbered passages, the model's only material.

Each item becomes passages of a few sentences, headed by source, author and date. Items are
taken in order: a publisher's own report (an article of a feed or page: an item without a
score) before a forum's posts on it, the earliest first, then the posts most engaged first;
in a brief's new version, the items the story gained since the previous one take turns
with the rest, first. Passages round-robin over the items (every item's lead before any
item's second passage) until the token budget that the model's context allows is spent.
Citations in a brief are passage ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import zip_longest
from typing import Any

from newsdesk.briefs.injection import Provenance, is_injection, split_injections, visible

# Chat-template control strings in a source would be read as the template's own tokens (the
# prompt is tokenized with special tokens on): a source could open a system turn. They lose
# their brackets. ChatML, Llama 3 and Phi (<|im_start|>, <|eot_id|>), DeepSeek's full-width
# bars (<｜User｜>), Llama 2 and Mistral ([INST], <<SYS>>, [SYSTEM_PROMPT]), Gemma
# (<start_of_turn>), tool-call tags (<tool_call>), <s>, and the pack's own delimiters.
_CONTROL = re.compile(
    r"<\|[^|<>]{0,40}\|>|<\uff5c[^\uff5c<>]{0,40}\uff5c>"
    r"|\[/?(?:INST|SYSTEM_PROMPT|TOOL_CALLS|AVAILABLE_TOOLS|TOOL_RESULTS)\]|<</?SYS>>"
    r"|</?(?:s|start_of_turn|end_of_turn|tool_call|tool_response)>|<<<+|>>>+",
    re.IGNORECASE,
)
# A link in text: with a scheme or "www.", or a bare host with a path ("api.example.ai/join"),
# which renderers and readers take for a link as well (a planted one came through the
# scrub in that form). A host's last label is letters and not a file extension, so that
# "Node.js/Deno" and "llama.cpp/ggml" stay words.
_FILE_EXTENSIONS = (
    "c|cc|cpp|cs|cu|go|h|hpp|java|js|json|jsx|md|mjs|py|rb|rs|sh|toml|ts|tsx|txt|yaml|yml"
)
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"')\]]+"
    r"|(?<![\w.@/-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    rf"(?!(?:{_FILE_EXTENSIONS})/)[a-z]{{2,24}}(?::\d{{1,5}})?/[^\s<>\"')\]]*",
    re.IGNORECASE,
)
PASSAGE_WORDS = 70
MAX_PASSAGES = 60
# Two items that share this much of their runs of five words are copies of one text.
REPEAT_SHARE = 0.8


def scrub_urls(value: Any, allowed: set[str]) -> Any:
    """Remove every link but the ``allowed`` ones from every string of ``value`` (a string,
    or lists and dicts of them): what a model writes carries no link its sources did not
    give it as an item's own URL."""
    if isinstance(value, str):
        return URL.sub(lambda m: m.group(0) if m.group(0) in allowed else "", value).strip()
    if isinstance(value, list):
        return [scrub_urls(v, allowed) for v in value]
    if isinstance(value, dict):
        return {k: scrub_urls(v, allowed) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Passage:
    id: int
    item_id: int
    source: str
    author: str | None
    date: str | None
    url: str | None
    text: str

    def header(self) -> str:
        parts = [self.source]
        if self.author:
            parts.append(self.author)
        if self.date:
            parts.append(self.date)
        return f"[{self.id}] " + " · ".join(parts)


@dataclass(frozen=True)
class SourcePack:
    passages: tuple[Passage, ...]
    tokens: int
    # What the injection filter left out of each item, with the paragraphs next to it
    # (``split_injections``), by item id: not for the model, for ``provenance``.
    requests: tuple[tuple[int, str], ...] = ()
    # Each packed item's whole text as the filter left it, by its paragraphs (a heading
    # joins no sentence), by item id, also an item whose every passage repeats another's:
    # ``provenance`` must see a request that the token budget left out of the passages,
    # since the sentences of the item that did get in may be what it asks for.
    texts: tuple[tuple[int, str], ...] = ()

    def render(self) -> str:
        return "\n\n".join(f"{p.header()}\n{p.text}" for p in self.passages)

    def urls(self) -> set[str]:
        """The items' own URLs: the only ones a brief may contain. A URL in a source's text
        is not one of them: it may be planted there for the brief to repeat."""
        return {p.url for p in self.passages if p.url}

    def provenance(self) -> Provenance:
        """Which names the passages give only in requests
        (``newsdesk.briefs.injection.Provenance``): a brief does not carry those."""
        # An item reads as one text, the whole of it: a request at the end of one passage
        # speaks of what the next one begins with, or of a passage that did get in.
        items: dict[int, list[str]] = {}
        for p in self.passages:
            items.setdefault(p.item_id, []).append(p.text)
        whole = dict(self.texts)
        for item in whole:  # an item whose passages all repeat another's gives its names too
            items.setdefault(item, [])
        headers = [p.header() for p in self.passages]
        left_out = dict(self.requests)
        texts = headers + [whole.get(item) or " ".join(t) for item, t in items.items()]
        requests = [""] * len(headers) + [left_out.get(item, "") for item in items]
        return Provenance(texts, requests)

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.passages]


def neutralize(text: str) -> str:
    """The text with chat-template control strings made plain words."""
    return _CONTROL.sub(_plain_word, text)


def _plain_word(match: re.Match[str]) -> str:
    word = match.group(0).strip("<>[]|/\uff5c").replace("|", " ").replace("\uff5c", " ")
    return f" {word} "


def _header_field(value: str) -> str:
    """A source name or author for a passage's header line: visible, neutralized, on one
    line (a line break would let a source start a passage of its own), and none at all
    when it speaks to the model."""
    field = " ".join(neutralize(visible(value)).split())
    return "" if is_injection(field) else field


def chunk(text: str, words: int = PASSAGE_WORDS) -> list[str]:
    """Sentences grouped into passages of about ``words`` words (a long sentence is cut).

    The support checker cuts the articles it checks against the same way.
    """
    from newsdesk.timeline import split_sentences

    out: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in split_sentences(neutralize(text)):
        n = len(sentence.split())
        if n > words:
            if current:
                out.append(" ".join(current))
                current, count = [], 0
            tokens = sentence.split()
            out.extend(" ".join(tokens[i : i + words]) for i in range(0, n, words))
            continue
        if current and count + n > words:
            out.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        out.append(" ".join(current))
    return out


def runs(text: str, n: int = 5) -> set[str]:
    """The runs of ``n`` words in a row of ``text`` (lower case, letters and digits); none
    in a text of fewer words."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _item_text(row: Any) -> tuple[str, str]:
    """The item's title and text, without what speaks to the model (briefs.injection), and
    what was left out with the paragraphs next to it."""
    body = (getattr(row, "article_text", None) or "").strip() or _readable(row)
    body, requests = split_injections(neutralize(visible(body)))
    body = body.strip()
    title = neutralize(visible(row.title or "")).strip()
    if is_injection(title):
        title = ""
    if body.startswith(title):
        return body, requests
    # A paragraph of its own: "Building a ... factory." and the body's "tl;dr: It worked!"
    # are two sentences, not one that asks for a TL;DR.
    return (f"{title}.\n\n{body}" if body else title), requests


def _readable(row: Any) -> str:
    """The item's own text as its source kind reads it (a Reddit post's markdown as plain
    text: a link's words without its address, no "**"); as stored where the kind is not
    known."""
    from newsdesk.exceptions import UnknownSourceError
    from newsdesk.sources import get_kind

    text = (row.text or "").strip()
    try:
        return get_kind(getattr(row, "source_kind", None) or "").readable(text).strip()
    except UnknownSourceError:
        return text


def _written(row: Any) -> datetime | None:
    """When the item's text was written: the linked article's own date where the text is
    the article's and its page gives a day no later than the post's (an essay of 2019
    posted today), else the post's. A passage is dated so, and its relative dates ("last
    year") count from it."""
    when = row.published_at or row.collected_at
    article = getattr(row, "article_published_at", None)
    has_article = bool((getattr(row, "article_text", None) or "").strip())
    if article is not None and has_article and (when is None or article <= when):
        return article
    return when


def _importance(row: Any) -> tuple[int, float, float]:
    """An article (no score: a lab's post in its feed, a news page) before a forum's posts,
    which it reports first-hand and they discuss (by engagement they would bury it: a
    lab's announcement behind a launch day's forty posts, beyond the budget); then the most
    engaged, then the earliest report."""
    when = row.published_at or row.collected_at
    engagement = (row.score or 0) + 2 * (row.comment_count or 0)
    return (row.score is not None, -engagement, when.timestamp() if when else 0.0)


def _turns(ordered: Sequence[Any], new: Collection[int]) -> list[int]:
    """Indices of ``ordered`` in the order their passages are taken: as they are, with the
    ``new`` ones (by id) in turn with the rest, first: a new report is seldom engaged yet,
    and a new version written without it could say nothing of it."""
    fresh = [i for i, row in enumerate(ordered) if row.id in new]
    if not fresh:
        return list(range(len(ordered)))
    rest = [i for i, row in enumerate(ordered) if row.id not in new]
    return [i for pair in zip_longest(fresh, rest) for i in pair if i is not None]


def build_pack(
    rows: Sequence[Any],
    budget: int,
    count_tokens: Callable[[str], int],
    new: Collection[int] = frozenset(),
) -> SourcePack:
    """The pack of a story's item rows, within ``budget`` tokens.

    Args:
        rows: the story's items (``Store.story_items``), in any order.
        budget: tokens the rendered pack may take.
        count_tokens: the model's token counter.
        new: ids of the items the story gained since its brief's previous version.
    """
    ordered = sorted(rows, key=_importance)
    texts = [_item_text(row) for row in ordered]
    chunks = [chunk(text) for text, _ in texts]
    # Two posts of one article (an HN and a Reddit post of one link, or a lab's post in its
    # feed and on HN) carry the same text, cut at other places, and would fill the pack
    # twice. An item is a copy of one before it when each holds most of the other's runs
    # of five words; its passages that the other holds are left out. A post that only
    # quotes another, or that the other only quotes, is no copy: the words it shares may
    # read otherwise there, beside a request or a table (tests/test_hostile.py). The copy
    # is the one later by importance, whatever the turns: a forum's post that carries a
    # lab's article is the copy, though the story gained it last.
    item_runs = [runs(text) for text, _ in texts]
    repeats: set[tuple[int, int]] = set()
    for i, item_chunks in enumerate(chunks):
        mine = item_runs[i]
        copied = [
            theirs
            for theirs in item_runs[:i]
            if mine and len(mine & theirs) >= REPEAT_SHARE * max(len(mine), len(theirs))
        ]
        for j, part in enumerate(item_chunks):
            own = runs(part)
            if own and any(len(own & other) >= REPEAT_SHARE * len(own) for other in copied):
                repeats.add((i, j))
    chosen: list[tuple[int, int]] = []  # (item index, chunk index)
    used = 0
    depth = 0
    turns = _turns(ordered, new)
    while len(chosen) < MAX_PASSAGES and any(depth < len(c) for c in chunks):
        for i in turns:
            item_chunks = chunks[i]
            if depth >= len(item_chunks) or len(chosen) >= MAX_PASSAGES:
                continue
            cost = count_tokens(item_chunks[depth]) + 16  # and its header line
            if (i, depth) in repeats or used + cost > budget:
                continue
            chosen.append((i, depth))
            used += cost
        depth += 1
    chosen.sort()
    passages = []
    for number, (i, j) in enumerate(chosen, start=1):
        row = ordered[i]
        when = _written(row)
        passages.append(
            Passage(
                id=number,
                item_id=row.id,
                source=_header_field(getattr(row, "source_name", None) or "") or "source",
                author=_header_field(row.author or "") or None,
                date=when.date().isoformat() if when else None,
                url=row.url or None,
                text=chunks[i][j],
            )
        )
    # An item is in the pack when a passage of it is, or when its passages were left out
    # as repeats of another's: either way the pack holds what it says.
    packed = sorted({i for i, _ in chosen} | {i for i, _ in repeats})
    requests = tuple((ordered[i].id, texts[i][1]) for i in packed if texts[i][1])
    # By its paragraphs: a heading, a code block or a footer without a full stop is no part
    # of the sentence beside it (tests/test_hostile.py).
    whole = tuple((ordered[i].id, texts[i][0]) for i in packed)
    return SourcePack(tuple(passages), used, requests, whole)
