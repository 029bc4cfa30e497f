"""The support checker: does a claim say only what the passages it cites say?

Three signals, each in [0, 1]:

1. lexical: the numbers, dates and names of the claim must occur in its passages, compared
   after normalization ("1.5B" = "1.5 billion" = "1,500,000,000", "Sept." = "September",
   "%" = "percent", "two" = "2"); a rounded number matches the exact one it rounds. The
   score is the share of these key terms found, times the share of the claim's other
   content words found (stems), since a claim may also invent a plain word ("resigned").
2. semantic: the cosine of the claim's MiniLM embedding with its best passage sentence,
   rescaled from [``SEMANTIC_FLOOR``, ``SEMANTIC_CEILING``] to [0, 1].
3. judge (optional, ``grounding_judge``): the model backend's log-odds of "yes" against
   "no" when asked whether the passages (all of the pack, as one article) state the claim,
   read from one forward pass and rescaled from [``JUDGE_FLOOR``, ``JUDGE_CEILING``]. The
   passages come first in the prompt and the claim last, so that checking many claims
   against the same passages evaluates them once (the llamacpp backend reuses the KV
   cache of a shared prefix).

The support score is a weighted mean of the signals; the label follows from two
thresholds, with the judge or without it. Weights and thresholds were chosen on the FRANK
validation split (docs/grounding.md). A claim is never "supported" while one of its
numbers or dates is missing from its passages, whatever the other signals say; with the
judge, which reads the whole pack, a claim whose words are mostly missing from the
passages it cites is "unsupported". A claim that copies a cited sentence (most of its word
pairs are the sentence's) is "supported" exactly when it keeps most of that wording.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from newsdesk.timeline import MONTHS, split_sentences

if TYPE_CHECKING:
    from newsdesk.embeddings import EmbeddingBackend
    from newsdesk.llm import LLMBackend, Message
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

Label = Literal["supported", "partial", "unsupported"]
LABELS: tuple[Label, ...] = ("supported", "partial", "unsupported")
# What a reader reads for each label, on pages and in feeds.
SAID: dict[str, str] = {
    "supported": "supported",
    "partial": "partly supported",
    "unsupported": "unverified",
}

# Chosen on the FRANK validation split (docs/grounding.md).
SEMANTIC_FLOOR = 0.2
SEMANTIC_CEILING = 0.8
WEIGHTS = {"lexical": 0.3, "semantic": 0.7}
SUPPORTED = 0.825
PARTIAL = 0.5
# With the judge: its yes/no log-odds count from 0 at JUDGE_FLOOR to 1 at JUDGE_CEILING.
JUDGE_FLOOR = 1.0
JUDGE_CEILING = 2.0
WEIGHTS_WITH_JUDGE = {"lexical": 0.1, "semantic": 0.2, "judge": 0.5}
SUPPORTED_WITH_JUDGE = 0.35
PARTIAL_WITH_JUDGE = 0.2  # set, not fitted: FRANK has no three-way label
# The judge reads the whole pack, so its "yes" cannot vouch for the passages a claim cites:
# with the judge, a claim with less than this share of its words in them is unsupported.
LEXICAL_GATE = 0.3
# A claim that takes at least COPY_FLOOR of its word pairs from one sentence of its cited
# passages copies that sentence, and a copy is supported exactly when it keeps COPY_KEPT of
# them: one that changes more says something else in the sentence's words (a subject
# swapped, two sentences spliced), which the word and similarity signals cannot see.
COPY_FLOOR = 0.6
COPY_KEPT = 0.75
# Citing by the checker (``Checker.nearest``): the weight of the claim's word pairs that a
# passage holds against the embedding cosine; and the most passages a claim is cited again
# with (``Checker.recite``) where its own cites do not support it. A claim is cited again
# only where it copies a sentence of them (COPY_KEPT of its word pairs): the checker chose
# them for being like the claim, so their likeness alone is weak evidence, and a copy shows
# where the claim came from (docs/grounding.md, "Citing again").
CITE_WORDS = 0.5
RECITE_MOST = 2
# The most vectors (and judge answers) a checker keeps between calls: 30 MB of MiniLM's.
_VECTORS_KEPT = 20_000

# --------------------------------------------------------------------------- normalization

_WEEKDAYS = {
    "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2, "wed": 3, "wednesday": 3,
    "thu": 4, "thur": 4, "thurs": 4, "thursday": 4, "fri": 5, "friday": 5, "sat": 6,
    "saturday": 6, "sun": 7, "sunday": 7,
}  # fmt: skip
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 1e6, "billion": 1e9, "dozen": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "twice": 2,
}  # fmt: skip
_SCALES = {"k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9, "t": 1e12, "tn": 1e12}
_MULTIPLIERS = {
    "hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
    "dozen": 12, "bn": 1e9, "mn": 1e6, "tn": 1e12, "mln": 1e6, "bln": 1e9,
}  # fmt: skip
# Words that a claim may carry without its sources: function words, and words so vague
# that finding them proves nothing either way.
_STOPWORD_TEXT = """a about above after again against all also am an and any are as at be
    because been before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how i
    if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves said says say told tell according also new one ones
    s t ve ll re d m said will would may might must shall us mr mrs ms dr st per cent
    percent year years day days week weeks month months time times people"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_TOKEN = re.compile(
    r"\d+(?:,\d{3})*(?:\.\d+)?(?:[A-Za-z]{1,2}\b)?|[A-Za-z][A-Za-z0-9'’\-]*\.?|[%$£€]",
)
_SCALE_WORD = re.compile(r"^(\d+(?:,\d{3})*(?:\.\d+)?)(k|m|mn|bn|b|tn|t)$", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """A number as written: its value, and how far off a rounded mention of it may be."""

    value: float
    tolerance: float
    text: str

    def matches(self, other: Quantity) -> bool:
        """True when ``other`` is this number, or this number is ``other`` rounded."""
        return abs(self.value - other.value) <= max(self.tolerance, 1e-9 * abs(self.value))


# An initialism written with stops ("U.S.", "U. S.", "E.U."): one word, "US", wherever it
# stands ("Canada-U.S." is "Canada-US"). Sentences are split before, so its last stop may go.
_INITIALISM = re.compile(r"\b[A-Z]\.(?:\s?[A-Z]\.)+")


def _words(text: str) -> list[str]:
    text = _INITIALISM.sub(lambda m: re.sub(r"[.\s]", "", m.group()), text)
    return [m.group(0) for m in _TOKEN.finditer(text)]


def initials(text: str) -> dict[str, set[str]]:
    """The initials of each stretch of two or more capitalized words, with the stretch's
    names: what an initialism of it would be ("United States" gives "us", "the European
    Central Bank" "ecb", "Bank of England" "boe" and "be")."""
    out: dict[str, set[str]] = {}
    run: list[tuple[str, str]] = []  # each word, and its initial ("" for a small word's)

    def stretches() -> None:
        for i, j in itertools.combinations(range(len(run) + 1), 2):
            part = run[i:j]
            if len(part) >= 2 and part[0][1] and part[-1][1]:
                words = {w for w, c in part if c}
                out.setdefault("".join(c for _, c in part), set()).update(words)
                out.setdefault("".join(c or w[0] for w, c in part), set()).update(words)
        run.clear()

    for word in _words(text):
        if word[0].isupper() and not word.isupper():
            run.append((_plain(word), word[0].lower()))
            if word.endswith("."):  # the end of a sentence
                stretches()
        elif run and word in ("of", "and", "for"):
            run.append((word, ""))
        else:
            stretches()
    stretches()
    return out


def _plain(word: str) -> str:
    w = word.lower().strip(".-'’")
    for suffix in ("'s", "’s"):
        if w.endswith(suffix):
            w = w[: -len(suffix)]
    return w


def stem(word: str) -> str:
    """A crude English stem: enough to match "reported" with "reports"."""
    w = _plain(word)
    for suffix in ("ies", "ied"):
        if w.endswith(suffix) and len(w) > 4:
            return w[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    return w.rstrip("e") if len(w) > 3 else w


def _number(text: str) -> tuple[float, float] | None:
    """Value and rounding tolerance of a digit string ("1,500", "2.75", "26th", "1990s")."""
    digits = re.sub(r"[a-z]+$", "", text.lower()).replace(",", "")
    try:
        value = float(digits)
    except ValueError:
        return None
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return value, 0.5 * 10.0**-decimals


def quantities(text: str) -> list[Quantity]:
    """The numbers of a text, scales applied: "1.5B", "1.5 billion" and "1,500,000,000"
    are all 1.5e9, "two" is 2. Years and days of the month are numbers too."""
    words = _words(text)
    out: list[Quantity] = []
    i = 0
    while i < len(words):
        word = words[i]
        low = _plain(word)
        found: tuple[float, float] | None = None
        if m := _SCALE_WORD.match(word.rstrip(".")):
            base = _number(m.group(1))
            if base:
                scale = _SCALES[m.group(2).lower()]
                found = (base[0] * scale, base[1] * scale)
        elif word[0].isdigit():
            found = _number(word)
        elif low in _NUMBER_WORDS:
            found = (float(_NUMBER_WORDS[low]), 0.0)
        if found is None:
            i += 1
            continue
        value, tolerance = found
        # "1.5 billion", "three million", "two dozen": a multiplier word scales the number.
        while i + 1 < len(words) and _plain(words[i + 1]) in _MULTIPLIERS:
            scale = _MULTIPLIERS[_plain(words[i + 1])]
            value, tolerance = value * scale, tolerance * scale
            i += 1
        out.append(Quantity(value, tolerance, word))
        i += 1
    return out


def dates(text: str) -> set[str]:
    """Months and weekdays named in a text, normalized ("Sept." -> "month:9")."""
    out: set[str] = set()
    for word in _words(text):
        low = _plain(word)
        if low in MONTHS and (low != "may" or word[0].isupper()) and len(low) > 2:
            # "mar", "jan"... as bare lowercase words are rare; "may" needs its capital.
            if low in {"mar", "sat", "sun"} and not word[0].isupper():
                continue
            out.add(f"month:{MONTHS[low]}")
        elif low in _WEEKDAYS and (len(low) > 3 or word[0].isupper()):
            if low in {"sat", "sun", "wed"} and not word[0].isupper():
                continue
            out.add(f"weekday:{_WEEKDAYS[low]}")
    return out


def names(text: str) -> set[str]:
    """Names in a text: capitalized words that do not open a sentence, and acronyms.

    A text written all in lower case (as some benchmarks ship) yields none.
    """
    out: set[str] = set()
    for sentence in split_sentences(text):
        shouted = sentence.isupper()
        for index, word in enumerate(_words(sentence)):
            low = _plain(word)
            if not word[0].isalpha() or low in MONTHS or low in _WEEKDAYS:
                continue
            acronym = word.isupper() and len(word) > 1
            if acronym and low == "us" and not shouted:
                out.add(low)  # "US", "U.S.", not the pronoun
                continue
            capital = acronym or (index > 0 and word[0].isupper())
            if capital and low not in _STOPWORDS and low not in _NUMBER_WORDS:
                out.add(low)
    return out


_PAIR_WORD = re.compile(r"[a-z0-9]+")


def word_pairs(text: str) -> list[tuple[str, str]]:
    """The text's pairs of adjacent words, lower-cased, function words kept: word order."""
    words = _PAIR_WORD.findall(text.lower())
    return list(itertools.pairwise(words))


def pair_share(pairs: Sequence[tuple[str, str]], held: set[tuple[str, str]]) -> float:
    """The share of ``pairs`` (a claim's ``word_pairs``) found in ``held`` (0 for none)."""
    return sum(p in held for p in pairs) / len(pairs) if pairs else 0.0


def copied_share(claim: str, sentences: Sequence[str]) -> float:
    """The largest share of the claim's word pairs that one of ``sentences`` holds (0 for a
    claim of one word)."""
    pairs = word_pairs(claim)
    return max((pair_share(pairs, set(word_pairs(s))) for s in sentences), default=0.0)


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning (no function words, no numbers)."""
    out = set()
    for word in _words(text):
        low = _plain(word)
        if not word[0].isalpha() or low in _STOPWORDS or low in _NUMBER_WORDS or len(low) < 2:
            continue
        if low in MONTHS or low in _WEEKDAYS:
            continue
        out.add(stem(low))
    return out


def chunk_passages(text: str, words: int = 70) -> list[str]:
    """A document as passages of about ``words`` words, whole sentences each (a sentence
    longer than that is cut): the brief's source packs' passages."""
    from newsdesk.briefs.pack import chunk

    return chunk(text, words)


# --------------------------------------------------------------------------- lexical


@dataclass(frozen=True)
class Lexical:
    score: float
    missing: list[str]
    """Key terms of the claim (numbers, dates, names) that the passages lack."""
    missing_words: list[str]
    content_found: float
    key_found: float
    numbers_missing: bool


def lexical_support(claim: str, passages: Sequence[str]) -> Lexical:
    """How much of the claim's wording occurs in the passages (see the module docstring)."""
    source = " ".join(passages)
    source_numbers = quantities(source)
    source_dates = dates(source)
    plain = [_plain(w) for w in _words(source)]
    # "Qwen 3" and "Qwen-3" also stand for "Qwen3".
    source_tokens = set(plain) | {a + b for a, b in itertools.pairwise(plain)}
    source_tokens |= {t.replace("-", "") for t in source_tokens}
    source_stems = {stem(w) for w in source_tokens}
    missing: list[str] = []
    numbers_missing = False
    keys = 0
    for q in quantities(claim):
        keys += 1
        if not any(q.matches(s) for s in source_numbers):
            missing.append(q.text)
            numbers_missing = True
    for d in sorted(dates(claim)):
        keys += 1
        if d not in source_dates:
            missing.append(d)
            numbers_missing = True

    def as_written(name: str) -> bool:
        return (
            name in source_tokens
            or name.replace("-", "") in source_tokens
            or stem(name) in source_stems
        )

    claim_names = names(claim)
    # An initialism stands for the capitalized words it abbreviates, either way round:
    # "U.S." in a claim for "United States" in a source, "European Union" for "EU". Read
    # only where a name is not found as written.
    abbreviated: set[str] = set()
    if not all(map(as_written, claim_names)):
        acronyms = {_plain(w) for w in _words(source) if w.isupper() and len(w) > 1}
        abbreviated = set(initials(source)) | {
            w for short, words in initials(claim).items() if short in acronyms for w in words
        }

    def found(name: str) -> bool:
        return as_written(name) or name in abbreviated

    for name in sorted(claim_names):
        keys += 1
        parts = [p for p in name.split("-") if p]
        # "Canada-U.S." names Canada and the U.S.
        if not found(name) and not (len(parts) > 1 and all(map(found, parts))):
            missing.append(name)
    key_found = 1.0 - len(missing) / keys if keys else 1.0
    words = content_words(claim) - {stem(n) for n in claim_names}
    missing_words = sorted(w for w in words if w not in source_stems)
    content_found = 1.0 - len(missing_words) / len(words) if words else 1.0
    return Lexical(
        score=key_found * content_found,
        missing=missing,
        missing_words=missing_words,
        content_found=content_found,
        key_found=key_found,
        numbers_missing=numbers_missing,
    )


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The checker's answer for one claim."""

    label: Label
    score: float
    """Support in [0, 1]: the weighted mean of the signals."""
    reasons: list[str] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    """Each signal's value: ``lexical``, ``semantic``, ``judge`` when it ran; and what they
    are made of: ``terms`` and ``words`` (shares found), ``cosine`` (raw similarity),
    ``numbers`` (1.0 when every number and date was found), ``copied`` (the largest share
    of its word pairs in one cited sentence)."""
    recited: tuple[int, ...] | None = None
    """The passages that support the claim where the ones it cited do not (``recite``)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "score": round(self.score, 4),
            "reasons": self.reasons,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
        }
        if self.recited is not None:
            out["recited"] = list(self.recited)
        return out


def grounding_score(verdicts: Iterable[Verdict]) -> float:
    """The share of claims that are supported (1.0 when there are none)."""
    labels = [v.label for v in verdicts]
    return sum(label == "supported" for label in labels) / len(labels) if labels else 1.0


def combine(signals: dict[str, float], numbers_missing: bool = False) -> tuple[float, Label]:
    """The support score and label of a claim from its signals."""
    judged = "judge" in signals
    weights = WEIGHTS_WITH_JUDGE if judged else WEIGHTS
    supported, partial = (
        (SUPPORTED_WITH_JUDGE, PARTIAL_WITH_JUDGE) if judged else (SUPPORTED, PARTIAL)
    )
    used = [k for k in weights if k in signals]
    total = sum(weights[k] for k in used)
    score = sum(weights[k] * signals[k] for k in used) / total if total else 0.0
    label: Label = (
        "supported" if score >= supported else "partial" if score >= partial else ("unsupported")
    )
    copied = signals.get("copied", 0.0)
    if copied >= COPY_FLOOR:
        label = "supported" if copied >= COPY_KEPT else "partial" if label == "supported" else label
    if judged and signals.get("lexical", 0.0) < LEXICAL_GATE:
        label = "unsupported"
    if numbers_missing and label == "supported":
        label = "partial"
    return score, label


def semantic_value(cosine: float) -> float:
    """A cosine rescaled to [0, 1] between the floor and the ceiling."""
    span = SEMANTIC_CEILING - SEMANTIC_FLOOR
    return min(1.0, max(0.0, (cosine - SEMANTIC_FLOOR) / span))


# --------------------------------------------------------------------------- judge

JUDGE_SYSTEM = (
    "You are a careful fact checker. You decide whether a claim is supported by an article."
)
JUDGE_QUESTION = (
    "Is every part of the claim (its names, numbers, dates, who did what) stated or directly "
    "implied by the article? Answer yes or no."
)
# Room left in the context for the claim, the question and the answer.
_JUDGE_ROOM = 256


def judge_messages(passages: Sequence[str], claim: str) -> list[Message]:
    """The judge's prompt: the passages as one article, then the claim and the question, so
    that the prefix up to the claim is the same for every claim checked against them."""
    article = "\n\n".join(passages)
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Article:\n{article}\n\nClaim: {claim}\n\n{JUDGE_QUESTION}"},
    ]


def judge_value(odds: float) -> float:
    """The judge's log-odds of "yes" rescaled to [0, 1] between the floor and the ceiling."""
    return min(1.0, max(0.0, (odds - JUDGE_FLOOR) / (JUDGE_CEILING - JUDGE_FLOOR)))


class JudgeCache:
    """Judge answers (log-odds) kept in a JSON Lines file, keyed by a hash of the model and
    prompt."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._answers: dict[str, float] = {}
        if path.exists():
            for line in path.read_text("utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._answers[row["key"]] = float(row["odds"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash, or a label of an older judge

    @staticmethod
    def key(model: str, messages: Sequence[Message]) -> str:
        raw = json.dumps([model, list(messages)], sort_keys=True).encode("utf-8")
        return hashlib.sha256(raw).hexdigest()

    def get(self, key: str) -> float | None:
        return self._answers.get(key)

    def put(self, key: str, odds: float) -> None:
        with self._lock:
            self._answers[key] = odds
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "odds": round(odds, 4)}) + "\n")


# --------------------------------------------------------------------------- checker


@dataclass(frozen=True)
class Claim:
    """A claim and the 1-based numbers of the passages it cites."""

    text: str
    cites: tuple[int, ...]


class Checker:
    """Checks claims against the passages they cite.

    Args:
        settings: newsdesk settings (``grounding_judge``, ``grounding_judge_model`` and the
            backends' settings).
        embedder: the embedding backend (default: the one ``embed_backend`` names).
        llm: the model backend for the judge (default: ``llm_backend``, with
            ``grounding_judge_model`` when set); built only when the judge runs.
        judge: run the LLM judge (default: ``grounding_judge``).
        cache: a file of judge answers to reuse and extend.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: EmbeddingBackend | None = None,
        llm: LLMBackend | None = None,
        judge: bool | None = None,
        cache: Path | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._llm = llm
        self.judge = bool(settings.grounding_judge) if judge is None else judge
        self.cache = JudgeCache(cache) if cache is not None else None
        self.judge_calls = 0
        # The judge reads the whole pack, not the cites: a claim checked again (``recite``)
        # is not asked again.
        self._asked: dict[str, float] = {}
        # Vectors of the texts embedded last: a pack's sentences are checked again by
        # ``recite``, and cited by ``nearest``.
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def embedder(self) -> EmbeddingBackend:
        if self._embedder is None:
            from newsdesk.embeddings import get_backend

            self._embedder = get_backend(self.settings)
        return self._embedder

    @property
    def llm(self) -> LLMBackend:
        if self._llm is None:
            from newsdesk.llm import get_backend

            settings = self.settings
            if settings.grounding_judge_model:
                settings = settings.with_(llm_model=settings.grounding_judge_model)
            self._llm = get_backend(settings)
        return self._llm

    def check(self, claim: str, passages: Sequence[str]) -> Verdict:
        """Check one claim against the passages it cites (all of ``passages``)."""
        return self.check_all(passages, [Claim(claim, tuple(range(1, len(passages) + 1)))])[0]

    def check_all(
        self,
        passages: Sequence[str],
        claims: Sequence[Claim],
        progress: Callable[[int], None] | None = None,
    ) -> list[Verdict]:
        """Check claims that cite passages of one source pack.

        Args:
            passages: the pack's passages; a claim's cites are 1-based numbers into it.
            claims: the claims, each with its cites (one without cites is unsupported).
            progress: called with the number of claims checked so far.

        Returns:
            one verdict per claim, in order.
        """
        sentences = [split_sentences(p) or [p] for p in passages]
        flat = [s for group in sentences for s in group]
        vectors = self._embed(flat + [c.text for c in claims]) if flat or claims else None
        owner = [i for i, group in enumerate(sentences) for _ in group]
        judged_passages = self._fitting(passages) if self.judge and claims else []
        out: list[Verdict] = []
        for index, claim in enumerate(claims):
            cites = [c for c in claim.cites if 1 <= c <= len(passages)]
            if not cites:
                out.append(Verdict("unsupported", 0.0, ["cites no passage"], {}))
                continue
            cited = [passages[c - 1] for c in cites]
            lex = lexical_support(claim.text, cited)
            assert vectors is not None
            rows = [j for j, o in enumerate(owner) if o + 1 in cites]
            cosine = float(np.max(vectors[rows] @ vectors[len(flat) + index])) if rows else 0.0
            copied = copied_share(claim.text, [flat[j] for j in rows])
            signals = {
                "lexical": lex.score,
                "semantic": semantic_value(cosine),
                "terms": lex.key_found,
                "words": lex.content_found,
                "cosine": cosine,
                "numbers": 0.0 if lex.numbers_missing else 1.0,
                "copied": copied,
            }
            reasons = []
            if lex.missing:
                reasons.append("not in the cited passages: " + ", ".join(lex.missing))
            if lex.missing_words:
                reasons.append("words not in the cited passages: " + ", ".join(lex.missing_words))
            reasons.append(f"best sentence similarity {cosine:.2f}")
            if COPY_FLOOR <= copied < COPY_KEPT:
                reasons.append(f"rewords a cited sentence ({copied:.0%} of its word pairs kept)")
            if self.judge:
                odds = self._judge(judged_passages, claim.text)
                signals["judge"] = judge_value(odds)
                signals["judge_odds"] = odds
                reasons.append(f"judge: log-odds of yes {odds:+.2f}")
            score, verdict = combine(signals, lex.numbers_missing)
            out.append(Verdict(verdict, score, reasons, signals))
            if progress:
                progress(index + 1)
        return out

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """``texts`` embedded, each once: the vectors of the last texts asked are kept (up
        to ``_VECTORS_KEPT``; what another thread clears meanwhile is not needed here)."""
        found = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
        new = list(dict.fromkeys(t for t in texts if t not in found))
        if new:
            fresh = dict(zip(new, self.embedder.embed(new), strict=True))
            found.update(fresh)
            if len(self._vectors) + len(fresh) > _VECTORS_KEPT:
                self._vectors.clear()
            self._vectors.update(fresh)
        return np.stack([found[t] for t in texts])

    def nearest(
        self, passages: Sequence[str], claims: Sequence[str], k: int
    ) -> list[tuple[int, ...]]:
        """For each claim the ``k`` passages most like it, in passage order (1-based): the
        embedding cosine plus ``CITE_WORDS`` times the share of the claim's word pairs that
        the passage holds, as a writer cites the passages whose words it took."""
        if not passages or not claims:
            return [() for _ in claims]
        vectors = self._embed(list(passages) + list(claims))
        matrix = vectors[: len(passages)]
        held = [set(word_pairs(p)) for p in passages]
        out = []
        for i, claim in enumerate(claims):
            pairs = word_pairs(claim)
            words = np.array([pair_share(pairs, h) for h in held])
            scores = matrix @ vectors[len(passages) + i] + CITE_WORDS * words
            top = np.argsort(-scores, kind="stable")[:k]
            out.append(tuple(sorted(int(t) + 1 for t in top)))
        return out

    def recite(
        self, passages: Sequence[str], claims: Sequence[Claim], verdicts: Sequence[Verdict]
    ) -> list[Verdict]:
        """The verdicts again, where the passages a claim cites do not support it but
        others of the pack do: the one passage most like the claim (``nearest``), then the
        two, checked as any cites are. A claim they support, and that copies one of their
        sentences (keeps ``COPY_KEPT`` of its word pairs), gets their verdict, with the
        passages in ``Verdict.recited`` and its first reason naming both sets of cites; the
        others keep theirs. A claim citing the wrong passage is still caught: it copies no
        sentence of its pack, or its verdict says which passages it copies."""
        out = list(verdicts)
        todo = [i for i, v in enumerate(verdicts) if v.label != "supported"]
        for k in range(1, RECITE_MOST + 1):
            if not todo:
                break
            cites = self.nearest(passages, [claims[i].text for i in todo], k)
            trial = self.check_all(
                passages, [Claim(claims[i].text, c) for i, c in zip(todo, cites, strict=True)]
            )
            left = []
            for i, c, v in zip(todo, cites, trial, strict=True):
                if v.label != "supported" or v.signals["copied"] < COPY_KEPT:
                    left.append(i)
                    continue
                said = f"cites corrected: it cited {list(claims[i].cites)}; {list(c)} supports it"
                out[i] = replace(v, reasons=[said, *v.reasons], recited=c)
            todo = left
        return out

    def _judge(self, passages: Sequence[str], claim: str) -> float:
        messages = judge_messages(passages, claim)
        key = JudgeCache.key(self.llm.model_name, messages)
        if (hit := self._asked.get(key)) is not None:
            return hit
        if self.cache and (hit := self.cache.get(key)) is not None:
            return hit
        self.judge_calls += 1
        odds = self.llm.yes_odds(messages)
        if len(self._asked) >= _VECTORS_KEPT:
            self._asked.clear()
        self._asked[key] = odds
        if self.cache:
            self.cache.put(key, odds)
        return odds

    def _fitting(self, passages: Sequence[str]) -> list[str]:
        """The passages, in order, that fit the judge's context with room for a claim."""
        budget = int(self.settings.llm_context) - _JUDGE_ROOM
        budget -= self.llm.count_tokens(JUDGE_SYSTEM + JUDGE_QUESTION)
        kept: list[str] = []
        for passage in passages:
            budget -= self.llm.count_tokens(passage) + 2
            if budget < 0:
                break
            kept.append(passage)
        return kept

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
