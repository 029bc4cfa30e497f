"""Online story clustering: each item joins the best story inside a time window, or
starts a new one.

The clusterer is pure (no store, no I/O) and decides once per item, in arrival order.
Evidence, strongest first:

1. the same canonical URL: the same article, whatever its age;
2. a near-duplicate body (MinHash over word 3-grams): syndicated copies of one article.
   Bodies reused across unrelated articles -- paywall, login and error pages a site
   serves in place of many articles -- are boilerplate, not evidence: a near-identical
   body under a clearly different title marks it so, as does one seen in several stories;
3. a shared specific link (a Reddit post and an HN post of the same GitHub repo);
4. similarity: TF-IDF cosine of title and text (document frequencies updated as items
   arrive; a term weighs the lesser of its IDF over every item and over a full window's
   items, so that the name in every post of the moment counts little), blended with a
   cosine over named entities and numbers -- two similar events (two shootings in one
   city on one weekend) differ in who, where and how many -- and, when given, with
   embeddings; members published within a day of the item score a little higher. A
   story scores as its best member inside the window (for a forum's post whose best
   member is a post too, as the mean of its two best members). A title's trailing site
   name ("- WMC Action News 5") is dropped once another title has ended with it.

Everything but the canonical URL only looks at stories with a member published within
``window_hours`` of the item; past it, up to ``follow_up_hours``, a follow-up article can
join by similarity alone, on a higher bar that also requires shared names, places and
numbers. Up to ``dated_follow_up_hours`` (a year), on the same bar, a follow-up may join
only a story of the day it names: a day one of its members names, or was published on or
the day after ("the March 3 shooting", a trial months later). Items without a date are not
constrained by time.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import numpy as np

from newsdesk.timeline import find_dates, split_sentences
from newsdesk.urls import canonicalize


@dataclass
class ClusterDoc:
    """One item as the clusterer sees it."""

    id: str
    title: str
    text: str
    published_at: datetime | None = None
    canonical_url: str | None = None
    links: Sequence[str] = ()
    embedding: np.ndarray | None = None
    #: The days it names (``named_days``), when the caller has computed them already.
    days: frozenset[int] | None = None
    #: A post on a forum whose readers vote on it (Reddit, Hacker News: it has a score);
    #: two such posts join by similarity on ``forum_threshold``.
    forum: bool = False


@dataclass
class ClusterConfig:
    """Clustering settings; the defaults are tuned on ECB+ and GVA (``newsdesk.evaluate``)."""

    #: Only stories with a member published within this many hours of an item are
    #: candidates (canonical URLs excepted). Items without a date are not constrained.
    window_hours: float = 72.0
    #: Beyond ``window_hours`` and up to this many hours, an item may still join a story
    #: without naming its day (a follow-up: charges, a funeral, a trial), but only on
    #: clearly stronger evidence: a similarity of ``follow_up_threshold`` and an entity
    #: cosine of ``follow_up_entities`` with one member, and a body of its own (not
    #: boilerplate, at least ``min_body_words``). 0 (the default) turns these off: in
    #: r/LocalLLaMA's dump 274 of 292 such joins were another post on the same subject
    #: days or weeks later, and in a lab's feed its next release; on GVA they added
    #: 0.0014 of F1 (docs/stories.md, "Follow-ups"). Dated follow-ups stay.
    follow_up_hours: float = 0.0
    #: The similarity a follow-up needs with one member (after any daily decay).
    follow_up_threshold: float = 0.25
    #: The entity cosine (names, places, numbers, ages) a follow-up needs with that
    #: member: who and where, not just what, must match across weeks.
    follow_up_entities: float = 0.3
    #: Beyond ``follow_up_hours`` and up to this many hours (a trial, a sentencing), an
    #: item may still join a story when it names the day of the story's event -- a day a
    #: member names, or the day of a member's publication or the day before -- on the
    #: follow-up bar. 0 turns it off.
    dated_follow_up_hours: float = 8760.0
    #: A story takes items by similarity only up to this many hours after its first item
    #: (dated follow-ups, near-duplicates, shared links and canonical URLs excepted): an
    #: event's reports come within days, and a window that ran from the latest member let
    #: a subject's daily posts grow one story for weeks (GLM-4.5's launch story took 60
    #: r/LocalLLaMA posts over two weeks, "Best way to spend 7k on local model" among
    #: them). It bounds ``follow_up_hours`` too, and is never shorter than
    #: ``window_hours`` (a longer window set by a user lengthens it). 0: no limit.
    story_span_hours: float = 120.0
    #: An item joins the best story when its similarity score reaches this.
    threshold: float = 0.25
    #: The same for two posts of a forum (``ClusterDoc.forum``): a post's score with a
    #: post counts on this, with an article (a lab's announcement, which the forum
    #: discusses) on ``threshold``; 0: ``threshold``. Most posts of a forum are
    #: questions and opinions on a subject, not reports of an event, and they share the
    #: subject's names: at 0.25 a launch day's opinions joined the launch's stories. On
    #: the two labelled sets of r/LocalLLaMA, clustered alone (docs/stories.md,
    #: "Forums"), events 0.807 -> 0.866 and 0.896 -> 0.926, topics 0.584 -> 0.576 and
    #: 0.800 -> 0.782; news (ECB+, GVA) has no score and is unchanged.
    forum_threshold: float = 0.3
    #: A forum's post whose best member in a story is a post too scores with the story
    #: as that member's score blended with the second best member's at this weight (0:
    #: the best alone). A post close to one post of a story only is often a question or
    #: a joke on the subject, not a report of the story's event, and joining through one
    #: post chained a launch's posts into a story of dozens (docs/stories.md, "Two
    #: members"). A post joins through an article (a lab's announcement), and news (items
    #: without a score) joins anything, through the best member alone.
    forum_second_weight: float = 0.5
    #: Share of the entity cosine in the similarity score (the rest is the text cosine).
    entity_weight: float = 0.3
    #: Share of the embedding cosine, used only when both sides have an embedding.
    embedding_weight: float = 0.0
    #: A story's score drops by this much per day between the item and a member, past
    #: the first day: the further apart, the stronger the evidence must be.
    decay_per_day: float = 0.0
    #: Members published within a day of the item score this much higher: what is
    #: reported at the same time is more likely the same event.
    same_day_bonus: float = 0.08
    #: The bonus is whole while at most this many items were published within a day of
    #: the item, and shrinks as ``same_day_items / n`` past it: where a few reports come
    #: a day (local news), sharing the day says much; in a stream of a hundred posts a
    #: day (r/LocalLLaMA on a launch day), it says little, and the whole bonus carried
    #: posts on other subjects into a day's big story by a model name they shared.
    #: 0 keeps it whole.
    same_day_items: int = 10
    #: An item whose headline names a version ("GPT-5.2", "Opus 4.1", "Qwen3", "GPT 4o")
    #: joins by similarity no story whose headlines name that name only in other
    #: versions: the system cards of two releases share their template words, and a
    #: post on GPT-4o shares GPT-5's launch day. Sizes ("20b", "7B") and years are no
    #: versions; what follows a title's separator (a site's name, "FOX19") is not read.
    version_conflicts: bool = True
    #: Terms are weighted by the lesser of two IDFs: over every item seen, and over the
    #: items of the last ``window_hours``, once those are at least this many (0: the
    #: first only). A name in every other post of the moment ("gpt-oss" on its launch
    #: days) tells little about which of the moment's stories a post belongs to, yet is
    #: rare over a month, and its weight chained a launch's questions, memes and
    #: benchmarks into one story (96 posts of r/LocalLLaMA's dump; docs/stories.md,
    #: "The moment's words").
    #: A run restored from the store's last days and a replay of a month see the same
    #: window. Sparse streams (a few reports a day) never fill it.
    window_idf_items: int = 100
    #: Title words count this many times as much as body words.
    title_weight: float = 2.0
    #: The words of a body that its text vector reads: a report names its event in its
    #: first paragraphs, and the rest of a long essay adds the general words that make two
    #: unrelated essays alike (two 4,779- and 15,533-word essays of one Hacker News day
    #: joined a 2,500-word post on another subject at 0.27 and 0.32). 0 reads it all.
    body_words_read: int = 1000
    #: Estimated Jaccard similarity of body 3-grams above which bodies are near-duplicates.
    near_duplicate: float = 0.8
    #: Bodies with fewer words never count as near-duplicate evidence.
    min_body_words: int = 25
    #: Near-identical bodies whose titles overlap less than this are boilerplate.
    boilerplate_title_overlap: float = 0.5
    #: A body or paragraph already seen in this many stories is boilerplate.
    boilerplate_stories: int = 2
    #: A link found in more stories than this is generic (a site's own pages).
    link_max_stories: int = 3


@dataclass(frozen=True)
class Assignment:
    """Where an item went and why: canonical-url, near-duplicate, shared-link, similar, new."""

    story_id: str
    doc_id: str
    new_story: bool
    reason: str


# --------------------------------------------------------------------------- features


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
STOPWORDS = _wordset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself said says say also told
    according new"""
)
_CALENDAR = _wordset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december jan feb mar apr jun jul aug sep
    sept oct nov dec am pm et est edt gmt pst pdt cst cdt"""
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# A word, or a number with an age unit glued on ("16 - year - old" in tokenized text).
_WORD = re.compile(r"[A-Za-z][A-Za-z'’&-]*|\d[\d,.:]*(?:\s*-\s*year\s*-\s*old)?")
_PARAGRAPH = re.compile(r"\n\s*\n|\n")
# A name with its version in a headline.
_VERSIONED = re.compile(
    r"\b([A-Za-z]*[A-Z][A-Za-z]*)"  # a name with a capital: GPT, Qwen, Opus
    r"(?:[-\u2010\u2011]?(\d+(?:\.\d+)*[a-z]?)"  # joined: GPT-5.1, Qwen3, GPT-4o
    r"|\s(\d+(?:\.\d+)+[a-z]?|\d+[a-z]))\b"  # spaced, with a dot or a letter: Opus 4.1, GPT 4o
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_SIZES = ("b", "k", "m", "t")  # "20b", "32k": a size or a count, not a version


def versions(title: str) -> dict[str, frozenset[str]]:
    """The versions a headline names before any separator (after one comes a site's
    name: "- FOX19-WXIX"), by name: {"gpt": {"5.1"}}. A date ("May 2"), a year, a size
    ("GPT-OSS 20b") and a one-letter name ("K2") are none."""
    out: dict[str, set[str]] = {}
    for name, joined, spaced in _VERSIONED.findall(_TITLE_PARTS.split(title)[0]):
        version = joined or spaced
        if (
            len(name) >= 2
            and name.lower() not in _CALENDAR
            and not _YEAR.fullmatch(version)
            and not version.endswith(_SIZES)
        ):
            out.setdefault(name.lower(), set()).add(version)
    return {k: frozenset(v) for k, v in out.items()}


# A web address written in a text: its words ("preview", "redd", "png", "width", "webp")
# and hashes name no event.
_ADDRESS = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Where a headline hands over to its site's name: "Teen shot - WMC Action News 5 - Memphis".
_TITLE_PARTS = re.compile(r"\s+(?:-|–|—|\||::)\s+")


_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_NUMBERS = {w: str(i) for i, w in enumerate(_NUMBER_WORDS.split(" "))}


def tokens(text: str) -> list[str]:
    """Lower-cased content words (stopwords, one-letter words and possessives dropped,
    number words as digits: "six" is "6")."""
    out = []
    for t in _TOKEN.findall(text.lower()):
        if t.endswith(("'s", "’s")):
            t = t[:-2]
        t = _NUMBERS.get(t, t)
        if t not in STOPWORDS and (len(t) > 1 or t.isdigit()):
            out.append(t)
    return out


def _sublinear(counts: Counter[str], weight: float = 1.0) -> dict[str, float]:
    return {t: weight * (1.0 + math.log(n)) for t, n in counts.items()}


def term_weights(title: str, text: str, title_weight: float) -> dict[str, float]:
    """Sublinear term frequencies, title words weighted up: a headline names the event."""
    out = _sublinear(Counter(tokens(text)))
    for t, w in _sublinear(Counter(tokens(title)), title_weight).items():
        out[t] = out.get(t, 0.0) + w
    return out


def entities(title: str, text: str) -> Counter[str]:
    """Names and numbers, cheaply: capitalized words not starting a sentence, pairs of
    them ("east flatbush"), numbers and ages ("16-year-old"). Who, where and how many is
    what tells two similar events apart.
    """
    out: Counter[str] = Counter()
    title_words = _WORD.findall(title)
    capitals = sum(1 for w in title_words if w[0].isupper())
    # A Title Case headline capitalizes every word, so its capitals say nothing.
    title_case = bool(title_words) and capitals / len(title_words) > 0.6
    for part in [text] if title_case else [title, text]:
        for sentence in _SENTENCE.split(part):
            run: list[str] = []
            for i, word in enumerate(_WORD.findall(sentence)):
                if word[0].isdigit():
                    out[re.sub(r"\s+", "", word).rstrip(",.:")] += 1
                    run = []
                    continue
                low = word.lower()
                if i > 0 and word[0].isupper() and low not in STOPWORDS | _CALENDAR:
                    out[low] += 1
                    run.append(low)
                    if len(run) >= 2:
                        out[" ".join(run[-2:])] += 1
                else:
                    run = []
    return out


# Hosts whose home and profile pages are linked from everywhere; deeper links
# (a tweet, a video) still count.
GENERIC_HOSTS = _wordset(
    """twitter.com x.com facebook.com instagram.com youtube.com linkedin.com reddit.com
    t.co bit.ly google.com apple.com tiktok.com pinterest.com wikipedia.org"""
)


def link_key(url: str) -> str | None:
    """A link normalized for matching, or None when it is too generic to mean anything."""
    try:
        parts = urlsplit(canonicalize(url))
    except ValueError:
        return None
    host = parts.netloc.lower().removeprefix("www.")
    path = parts.path.rstrip("/")
    if not host or parts.scheme not in {"http", "https"}:
        return None
    segments = [s for s in path.split("/") if s]
    if not segments and not parts.query:
        return None  # a home page
    generic = host in GENERIC_HOSTS or host.endswith(".wikipedia.org")
    if generic and len(segments) < 2 and not parts.query:
        return None  # a profile or section page
    return host + path + ("?" + parts.query if parts.query else "")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPH.split(text) if len(p.strip()) >= 20]


def _lead(text: str, words: int) -> str:
    """The first ``words`` words of ``text`` (all of it for 0)."""
    return " ".join(text.split(None, words)[:words]) if words else text


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


_PERMUTATIONS = 64
_BANDS = 16
_rng = np.random.default_rng(20240601)
_MUL = _rng.integers(1, 2**63, _PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_ADD = _rng.integers(0, 2**63, _PERMUTATIONS, dtype=np.uint64)


def minhash(words: Sequence[str]) -> np.ndarray:
    """A 64-value MinHash signature of the word 3-grams (multiply-shift hashing)."""
    shingles = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}
    hashes = np.fromiter((_digest(s) for s in shingles), np.uint64, len(shingles))
    mixed = (_MUL[:, None] * hashes[None, :] + _ADD[:, None]) >> np.uint64(32)
    return mixed.min(axis=1)


# --------------------------------------------------------------------------- index


class _Column:
    """A numpy array that grows by doubling: appends are cheap, ``values`` is a view."""

    def __init__(self, dtype: type) -> None:
        self._a: np.ndarray = np.zeros(1024, dtype)
        self.n = 0

    def append(self, value: float) -> None:
        self.extend(np.array([value]))

    def extend(self, values: np.ndarray) -> None:
        end = self.n + len(values)
        if end > len(self._a):
            grown = np.zeros(max(end, 2 * len(self._a)), self._a.dtype)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : end] = values
        self.n = end

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the values where ``mask`` (one per value) is true, in order."""
        kept = self.values[mask]
        self._a[: len(kept)] = kept
        self.n = len(kept)

    @property
    def values(self) -> np.ndarray:
        return self._a[: self.n]


class _Index:
    """Sparse vectors of the live docs in flat arrays, for cosines under the current IDF.

    Stored vectors keep raw term weights and the IDF is applied at query time, so early
    docs are not stuck with the IDF of a near-empty corpus. A second document frequency
    counts only the docs of a time window (``enter``, ``leave``); once it holds
    ``window_min`` docs, a term's IDF is the lesser of the two. Entries are kept in doc order,
    in arrays that grow by doubling; a query is a few numpy passes over the entries of the
    docs it asks about. Docs that fell out of the window are dropped now and then.
    """

    def __init__(self, window_min: int = 0) -> None:
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(1024)
        self.n = 0
        self.window_min = window_min
        self.window_df = np.zeros(1024)
        self.window_n = 0
        self._ids = _Column(np.int64)  # one entry per (doc, term), in doc order
        self._w = _Column(np.float64)
        self._doc = _Column(np.int64)

    @property
    def size(self) -> int:
        return self._doc.n

    @property
    def doc(self) -> np.ndarray:
        return self._doc.values

    def vector(self, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter(
            (self.vocab.setdefault(t, len(self.vocab)) for t in weights), np.int64, len(weights)
        )
        if len(self.vocab) > len(self.df):
            grow = np.zeros(len(self.vocab) * 2 - len(self.df))
            self.df = np.concatenate([self.df, grow])
            self.window_df = np.concatenate([self.window_df, grow])
        return ids, np.fromiter(weights.values(), np.float64, len(weights))

    def add(self, vector: tuple[np.ndarray, np.ndarray], doc: int) -> None:
        ids, w = vector
        self.df[ids] += 1
        self.n += 1
        self._ids.extend(ids)
        self._w.extend(w)
        self._doc.extend(np.full(len(ids), doc))

    def enter(self, ids: np.ndarray) -> None:
        """A doc's terms come into the time window."""
        self.window_df[ids] += 1
        self.window_n += 1

    def leave(self, ids: np.ndarray) -> None:
        """A doc's terms go out of the time window."""
        self.window_df[ids] -= 1
        self.window_n -= 1

    def drop(self, dead: np.ndarray) -> None:
        """Forget the entries of these docs (a boolean mask over doc indices)."""
        keep = ~dead[self.doc]
        for column in (self._ids, self._w, self._doc):
            column.keep(keep)

    def cosines(
        self, vector: tuple[np.ndarray, np.ndarray], ndocs: int, docs: np.ndarray | None = None
    ) -> np.ndarray:
        """The query's cosine with every doc, or only with ``docs`` (sorted doc indices;
        the others get 0). A doc's cosine is the same either way, to the last bit."""
        ids, w = vector
        df = self.df[: len(self.vocab)].copy()
        df[ids] += 1  # the query counts as a document, as it will once added
        idf = np.log((self.n + 2) / (df + 1)) + 1.0
        if self.window_min and self.window_n >= self.window_min:
            window_df = self.window_df[: len(self.vocab)].copy()
            window_df[ids] += 1
            idf = np.minimum(idf, np.log((self.window_n + 2) / (window_df + 1)) + 1.0)
        query = np.zeros(len(idf))
        query[ids] = w * idf[ids]
        # From the sparse entries: a dense BLAS norm is needlessly slow (thread spin-up).
        qnorm = math.sqrt(float(np.sum(query[ids] ** 2)))
        entry_ids, entry_w, entry_doc = self._entries(docs)
        weighted = entry_w * idf[entry_ids]
        dots = np.bincount(entry_doc, weights=weighted * query[entry_ids], minlength=ndocs)
        norms = np.sqrt(np.bincount(entry_doc, weights=weighted**2, minlength=ndocs))
        return dots / np.maximum(norms * qnorm, 1e-12)

    def _entries(self, docs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of ``docs`` (all when None), in doc order: the longest run of
        consecutive docs at the end as a slice, the others gathered."""
        ids, w, doc = self._ids.values, self._w.values, self.doc
        if docs is None:
            return ids, w, doc
        if not len(docs):
            empty = np.zeros(0, np.int64)
            return empty, np.zeros(0), empty
        gaps = np.flatnonzero(np.diff(docs) != 1)
        tail = int(gaps[-1]) + 1 if len(gaps) else 0  # docs[tail:] are consecutive
        start = int(np.searchsorted(doc, docs[tail]))
        end = int(np.searchsorted(doc, docs[-1], side="right"))
        if not tail:
            return ids[start:end], w[start:end], doc[start:end]
        before = docs[:tail]
        lo = np.searchsorted(doc, before)
        lengths = np.searchsorted(doc, before, side="right") - lo
        index = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        index = np.concatenate([index, np.arange(start, end)])
        return ids[index], w[index], doc[index]


# --------------------------------------------------------------------------- clusterer


@dataclass
class _Features:
    words: tuple[np.ndarray, np.ndarray]
    entities: tuple[np.ndarray, np.ndarray]
    title_tokens: set[str]
    signature: np.ndarray | None  # MinHash of the body; None when too short to compare
    paragraphs: list[int]
    links: set[str]
    body_words: int = 0  # words of the body once boilerplate paragraphs are left out
    days: frozenset[int] = frozenset()  # the past days it names (date.toordinal())
    versions: dict[str, frozenset[str]] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)  # earlier docs, same body
    boilerplate: bool = False


@dataclass
class _Story:
    id: str
    members: list[int] = field(default_factory=list)
    versions: dict[str, set[str]] = field(default_factory=dict)


def _first_doc_id(doc: ClusterDoc) -> str:
    return doc.id


class OnlineClusterer:
    """Assigns items to stories one at a time; deterministic for a given input order."""

    def __init__(
        self,
        config: ClusterConfig | None = None,
        new_id: Callable[[ClusterDoc], str] = _first_doc_id,
    ) -> None:
        """Args:
        config: thresholds and weights.
        new_id: gives a new story its id from its first item (default: the item's id),
            so that the store can hand out stable ids.
        """
        self.config = config or ClusterConfig()
        self._new_id = new_id
        self._words = _Index(self.config.window_idf_items)
        self._entities = _Index(self.config.window_idf_items)
        # The dated docs of the last window_hours, oldest first (a heap: hours, doc).
        self._window: list[tuple[float, int]] = []
        self._latest = -math.inf  # the latest hour of a doc seen
        self._doc_ids: list[str] = []
        self._doc_story: list[int] = []
        self._story_of = _Column(np.int64)  # the same, as an array
        self._starts = _Column(np.float64)  # per story: its first item's hours; nan: none
        self._times = _Column(np.float64)  # hours since the epoch; nan when unknown
        self._forum = _Column(np.bool_)  # a forum's post (ClusterDoc.forum)
        self._embeddings: list[np.ndarray | None] = []
        self._features: list[_Features] = []
        self._stories: list[_Story] = []
        self._story_index: dict[str, int] = {}
        self._by_url: dict[str, int] = {}  # canonical URL -> story
        self._by_link: dict[str, set[int]] = {}  # link -> stories
        self._by_band: dict[tuple[int, bytes], list[int]] = {}  # MinHash band -> docs
        self._by_day: dict[int, list[int]] = {}  # a day -> the docs naming it or of it
        self._paragraph_seen: dict[int, list[tuple[int, set[str]]]] = {}
        self._title_tails: set[str] = set()  # what earlier titles had after a separator
        self._dead = 0

    # ----------------------------------------------------------------- public API

    def add(self, doc: ClusterDoc) -> Assignment:
        """Put one item into the best story inside the window, or into a new story."""
        features = self._extract(doc)
        if doc.published_at is not None:
            self._slide(doc.published_at.timestamp() / 3600)
        story, reason = self._decide(doc, features)
        if story is None:
            story = self._story(self._new_id(doc))
        self._insert(doc, features, story)
        return Assignment(self._stories[story].id, doc.id, reason == "new", reason)

    def restore(self, story_id: str, docs: Sequence[ClusterDoc]) -> None:
        """Rebuild an existing story from its items (from the store) without re-deciding."""
        story = self._story(story_id)
        for doc in docs:
            self._insert(doc, self._extract(doc), story)

    def stories(self) -> dict[str, list[str]]:
        """Story id -> its item ids, in order of arrival."""
        return {s.id: [self._doc_ids[i] for i in s.members] for s in self._stories if s.members}

    # ----------------------------------------------------------------- internals

    def _story(self, story_id: str) -> int:
        if story_id not in self._story_index:
            self._story_index[story_id] = len(self._stories)
            self._stories.append(_Story(story_id))
            self._starts.append(math.nan)
        return self._story_index[story_id]

    def _started(self, story: int, hours: float) -> None:
        start = self._starts.values[story]
        if not hours >= start:  # nan (no start yet) or earlier
            self._starts.values[story] = hours

    def _headline(self, title: str) -> str:
        """The title without the trailing parts that earlier titles also had after a
        separator: a site's name ("- WTOC-TV: Savannah, Beaufort, SC") says nothing about
        the event, yet glued together different stories of one site. Only trailing parts
        go, so a hyphen inside the headline ("20 - 13") is safe."""
        parts = _TITLE_PARTS.split(title)
        if len(parts) == 1:
            return title
        # Sites cut long titles at different lengths: the start of a part names it.
        keys = [" ".join(tokens(p))[:12] for p in parts]
        end = len(parts)
        while end > 1 and keys[end - 1] in self._title_tails:
            end -= 1
        self._title_tails.update(k for k in keys[1:] if k)
        if end == len(parts):
            return title
        return title[: list(_TITLE_PARTS.finditer(title))[end - 1].start()]

    def _extract(self, doc: ClusterDoc) -> _Features:
        c = self.config
        title = self._headline(doc.title)
        # Paragraphs reused under a clearly different title, or already in several
        # stories, are boilerplate (a site's footer, a "sign in to read" box): they are
        # left out of every feature.
        title_tokens = set(tokens(title))
        kept: list[str] = []
        hashes: list[int] = []
        for paragraph in _paragraphs(doc.text):
            h = _digest(paragraph)
            hashes.append(h)
            seen = self._paragraph_seen.get(h, [])
            stories = {s for s, _ in seen}
            if len(stories) < c.boilerplate_stories and all(
                _overlap(title_tokens, t) >= c.boilerplate_title_overlap for _, t in seen
            ):
                kept.append(paragraph)
        text = _ADDRESS.sub(" ", "\n".join(kept) if hashes else doc.text)
        body_words = _TOKEN.findall(doc.text.lower())
        signature = minhash(body_words) if len(body_words) >= c.min_body_words else None
        features = _Features(
            words=self._words.vector(
                term_weights(title, _lead(text, c.body_words_read), c.title_weight)
            ),
            entities=self._entities.vector(_sublinear(entities(title, text))),
            title_tokens=title_tokens,
            signature=signature,
            paragraphs=hashes,
            links={k for k in (link_key(u) for u in doc.links) if k},
            body_words=len(_TOKEN.findall(text.lower())),
            days=named_days(doc, c.dated_follow_up_hours) if doc.days is None else doc.days,
            versions=versions(title),
        )
        self._check_body(features)
        return features

    def _insert(self, doc: ClusterDoc, features: _Features, story: int) -> None:
        index = len(self._doc_ids)
        self._doc_ids.append(doc.id)
        self._doc_story.append(story)
        self._story_of.append(story)
        self._times.append(doc.published_at.timestamp() / 3600 if doc.published_at else math.nan)
        self._forum.append(doc.forum)
        if doc.published_at is not None:
            self._started(story, doc.published_at.timestamp() / 3600)
        self._embeddings.append(_unit(doc.embedding))
        self._features.append(features)
        self._stories[story].members.append(index)
        for name, named in features.versions.items():
            self._stories[story].versions.setdefault(name, set()).update(named)
        self._words.add(features.words, index)
        self._entities.add(features.entities, index)
        if doc.published_at is not None:
            hours = doc.published_at.timestamp() / 3600
            heapq.heappush(self._window, (hours, index))
            self._words.enter(features.words[0])
            self._entities.enter(features.entities[0])
            self._slide(hours)
        if doc.canonical_url:
            self._by_url.setdefault(canonicalize(doc.canonical_url), story)
        for link in features.links:
            self._by_link.setdefault(link, set()).add(story)
        for h in features.paragraphs:
            seen = self._paragraph_seen.setdefault(h, [])
            if len(seen) < 8:  # enough to judge; bounds memory for site-wide boilerplate
                seen.append((story, features.title_tokens))
        if features.signature is not None:
            for band in _bands(features.signature):
                self._by_band.setdefault(band, []).append(index)
        days = set(features.days)
        if doc.published_at is not None and self.config.dated_follow_up_hours:
            published = doc.published_at.date().toordinal()
            days |= {published, published - 1}
        for day in days:
            self._by_day.setdefault(day, []).append(index)

    def _decide(self, doc: ClusterDoc, f: _Features) -> tuple[int | None, str]:
        c = self.config
        if doc.canonical_url:
            story = self._by_url.get(canonicalize(doc.canonical_url))
            if story is not None:
                return story, "canonical-url"
        if not self._doc_ids:
            return None, "new"
        live, near = self._in_window(doc, f)

        if not f.boilerplate:
            duplicate = next((i for i in f.duplicates if near[i]), None)
            if duplicate is not None:
                return self._doc_story[duplicate], "near-duplicate"

        linked = [
            s
            for link in sorted(f.links)
            if len(stories := self._by_link.get(link, set())) <= c.link_max_stories
            for s in sorted(stories)
            if self._story_live(s, near)
        ]
        if linked:
            return linked[0], "shared-link"

        scores = self._similarities(doc, f, live, near)
        counted = scores > -1.0  # the rest were ruled out: window, span, follow-up bar
        if doc.forum and c.forum_threshold:
            # Two posts of a forum join on forum_threshold: their score counts less by the
            # difference, against the one threshold.
            scores = np.where(
                self._forum.values, scores - (c.forum_threshold - c.threshold), scores
            )
        best = np.full(len(self._stories), -1.0)
        np.maximum.at(best, self._story_of.values[live], scores[live])  # the rest score -1
        if doc.forum and c.forum_second_weight:
            for k in np.flatnonzero(best >= c.threshold):
                best[k] = self._two_members(self._stories[k], scores, counted)
        if c.version_conflicts and f.versions:
            for k in np.flatnonzero(best >= c.threshold):
                if self._other_version(self._stories[k], f):
                    best[k] = -1.0
        story = int(np.argmax(best))  # ties go to the older story
        if best[story] >= c.threshold:
            return story, "similar"
        return None, "new"

    def _two_members(self, story: _Story, scores: np.ndarray, counted: np.ndarray) -> float:
        """A story's score for a forum's post: where its best member is a post too, that
        member's score blended with the second best's (of the members ``counted``: not
        ruled out by the window, the story's span or the follow-up bar); where it is an
        article (a lab's announcement, which the forum discusses), the article's alone."""
        members = np.asarray(story.members)
        members = members[counted[members]]
        if not len(members):
            return -1.0
        ranked = members[np.argsort(-scores[members], kind="stable")]
        first = float(scores[ranked[0]])
        if len(ranked) < 2 or not self._forum.values[ranked[0]]:
            return first
        w = self.config.forum_second_weight
        return (1 - w) * first + w * float(scores[ranked[1]])

    @staticmethod
    def _other_version(story: _Story, f: _Features) -> bool:
        """Whether the story's headlines name another version of a name that the item's
        headline names with a version, and never the item's ("GPT-5.1" against
        "GPT-5.2", "GPT 4o" against "GPT-5"): another release, whatever words they share."""
        return any(
            story.versions.get(name) and not story.versions[name] & named
            for name, named in f.versions.items()
        )

    def _in_window(self, doc: ClusterDoc, f: _Features) -> tuple[np.ndarray, np.ndarray]:
        """Which docs are close enough in time to count at all (follow-ups included),
        and which are inside the normal window (all of them when undated)."""
        times = self._times.values
        if doc.published_at is None:
            return np.ones(len(times), bool), np.ones(len(times), bool)
        c = self.config
        gap = np.abs(times - doc.published_at.timestamp() / 3600)
        near = ~(gap > c.window_hours)  # nan (undated) stays live
        live = ~(gap > max(c.window_hours, c.follow_up_hours))
        if c.dated_follow_up_hours:
            live |= ~(gap > c.dated_follow_up_hours) & self._naming(f.days)
        self._forget_old(times, doc.published_at.timestamp() / 3600)
        return live, near

    def _slide(self, hours: float) -> None:
        """Move the time window on to end at ``hours`` (or the latest doc, if later)."""
        self._latest = max(self._latest, hours)
        while self._window and self._window[0][0] < self._latest - self.config.window_hours:
            _, index = heapq.heappop(self._window)
            self._words.leave(self._features[index].words[0])
            self._entities.leave(self._features[index].entities[0])

    def _forget_old(self, times: np.ndarray, now: float) -> None:
        # Docs far older than the newest item can only match again by canonical URL:
        # drop them from the vector indexes once they are many, to bound query cost.
        c = self.config
        dead = times < now - 2 * max(c.window_hours, c.follow_up_hours, c.dated_follow_up_hours)
        if int(dead.sum()) - self._dead > max(256, len(times) // 2):
            self._words.drop(dead)
            self._entities.drop(dead)
            self._dead = int(dead.sum())

    def _naming(self, days: frozenset[int]) -> np.ndarray:
        """Which docs name one of these days, or were published on it or the day after."""
        out = np.zeros(len(self._doc_ids), bool)
        for day in days:
            out[self._by_day.get(day, [])] = True
        return out

    def _story_live(self, story: int, live: np.ndarray) -> bool:
        return any(live[m] for m in self._stories[story].members)

    def _check_body(self, f: _Features) -> None:
        """Find the earlier docs whose body near-duplicates this one, and mark the body
        as boilerplate (no evidence at all) when it is reused under a clearly different
        title, or across several stories."""
        c = self.config
        if f.signature is None:
            return
        candidates = {i for band in _bands(f.signature) for i in self._by_band.get(band, [])}
        f.duplicates = [
            i
            for i in sorted(candidates)
            if float(np.mean(self._features[i].signature == f.signature)) >= c.near_duplicate
        ]
        if not f.duplicates:
            return
        stories = {self._doc_story[i] for i in f.duplicates}
        different_title = any(
            _overlap(f.title_tokens, self._features[i].title_tokens) < c.boilerplate_title_overlap
            for i in f.duplicates
        )
        if (
            different_title
            or len(stories) >= c.boilerplate_stories
            or any(self._features[i].boilerplate for i in f.duplicates)
        ):
            f.boilerplate = True
            for i in f.duplicates:
                self._features[i].boilerplate = True
            self._drop_body(f)

    def _drop_body(self, f: _Features) -> None:
        # The body is a reused page, not the article: keep only what the title says.
        # (The title's words were weighted into the vector; rebuild from the title alone.)
        title = " ".join(sorted(f.title_tokens))
        f.words = self._words.vector(term_weights(title, "", self.config.title_weight))
        f.entities = self._entities.vector({})

    def _similarities(
        self, doc: ClusterDoc, f: _Features, live: np.ndarray, near: np.ndarray
    ) -> np.ndarray:
        c = self.config
        n = len(self._doc_ids)
        far = live & ~near
        entity = self._entities.cosines(f.entities, n, np.flatnonzero(live))
        # Text cosines only where a score can count: the docs of the window, and the
        # follow-ups that pass the entity bar (the others are ruled out below).
        counted = near.copy()
        if not (f.boilerplate or f.body_words < c.min_body_words):
            counted |= far & (entity >= c.follow_up_entities)
        scores = self._words.cosines(f.words, n, np.flatnonzero(counted))
        if c.entity_weight:
            scores = (1 - c.entity_weight) * scores + c.entity_weight * entity
        query = _unit(doc.embedding)
        if c.embedding_weight and query is not None:
            for i, vector in enumerate(self._embeddings):
                if vector is not None:
                    scores[i] = (1 - c.embedding_weight) * scores[i] + c.embedding_weight * float(
                        vector @ query
                    )
        if doc.published_at is not None and c.decay_per_day:
            gap = np.abs(self._times.values - doc.published_at.timestamp() / 3600) / 24
            scores -= c.decay_per_day * np.nan_to_num(np.maximum(gap - 1, 0))
        if doc.published_at is not None and c.same_day_bonus:
            gap = np.abs(self._times.values - doc.published_at.timestamp() / 3600)
            same = gap <= 24
            crowd = int(same.sum())  # the items published within a day of this one
            bonus = c.same_day_bonus
            if c.same_day_items and crowd > c.same_day_items:
                bonus *= c.same_day_items / crowd
            scores += bonus * same
        scores[~live] = -1.0
        if doc.published_at is not None and c.story_span_hours:
            # Stories past their span take only dated follow-ups.
            age = doc.published_at.timestamp() / 3600 - self._starts.values[self._story_of.values]
            span = max(c.story_span_hours, c.window_hours)
            scores[(age > span) & ~self._naming(f.days)] = -1.0
        # Follow-ups (outside the normal window) need clearly stronger evidence.
        if far.any() and (f.boilerplate or f.body_words < c.min_body_words):
            scores[far] = -1.0  # a title alone is too thin for a follow-up
        elif far.any():
            weak = (scores < c.follow_up_threshold) | (entity < c.follow_up_entities)
            scores[far & weak] = -1.0
        return scores


# What a sentence needs to name a day: a digit, a weekday, "yesterday" and the like, "ago".
_DAY_CUE = re.compile(
    r"\d|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|"
    r"tonight|tomorrow|last night|this (?:morning|afternoon|evening)|ago)\b",
    re.IGNORECASE,
)


def named_days(doc: ClusterDoc, horizon_hours: float) -> frozenset[int]:
    """The days (``date.toordinal()``) up to ``horizon_hours`` before its publication that
    an item names ("on Saturday", "the March 3 shooting"): the day of the event that a
    follow-up reports on. Empty for an undated item, or with no horizon."""
    if doc.published_at is None or not horizon_hours:
        return frozenset()
    published = doc.published_at.date().toordinal()
    earliest = published - math.ceil(horizon_hours / 24)
    return frozenset(
        d
        for sentence in split_sentences(f"{doc.title}\n\n{doc.text}")
        if _DAY_CUE.search(sentence)
        for m in find_dates(sentence, doc.published_at)
        if m.granularity == "day" and earliest <= (d := m.date.toordinal()) <= published
    )


def _bands(signature: np.ndarray) -> Iterable[tuple[int, bytes]]:
    rows = len(signature) // _BANDS
    for b in range(_BANDS):
        yield b, signature[b * rows : (b + 1) * rows].tobytes()


def _overlap(a: set[str], b: set[str]) -> float:
    """Overlap coefficient of two title word sets; 1.0 when either is empty (no evidence)."""
    if not a or not b:
        return 1.0
    return len(a & b) / min(len(a), len(b))


def _unit(vector: np.ndarray | None) -> np.ndarray | None:
    if vector is None:
        return None
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm else None
