"""Timelines from evidence: dated sentences in, dated entries that cite them out.

Two stages:

1. ``dated_sentences(text, published, source)`` finds the sentences of a text that name a
   date and resolves each date: absolute ones ("Sept. 3", "3 September 2024",
   "2024-09-03", "June 2009") and relative ones ("yesterday", "on Monday", "last Tuesday",
   "two weeks ago", "next month") against the text's publication date. A careful set of
   regular expressions does this, not a general date parser: dateparser's
   ``search_dates`` took about 14 times as long on Timeline17 articles and read "we",
   "now", "may" and "a second" as dates (docs/timelines.md).
2. ``build_timeline(evidence, k, span)`` ranks the candidate dates by how many distinct
   sources mention them (Tran et al. 2013 and news-tls found date reference counts the
   strongest signal), picks ``k`` of them, and gives each the sentence(s) most central
   among those that mention it (TF-IDF cosine to their centroid).

The rule (docs/timelines.md): an entry's date is always the date of at least one piece of
its evidence, and its summary sentences are evidence sentences for that very date. No entry
is made without evidence, and no date is made up.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np

from newsdesk.models import Item, as_utc

Granularity = Literal["day", "month", "year"]
# How a sentence got its date: a date written out, one resolved against the publication
# date, (for a sentence that names no date) the publication date of its source, or (a
# story of the archive, its title as the sentence) the day of the story's first item.
Basis = Literal["absolute", "relative", "published", "story"]

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DatedSentence:
    """One sentence of a source with one date it names.

    ``date`` is the first day of the month or year for those granularities. ``source`` is
    the item or story id the sentence came from; ``mention`` the words that gave the date;
    ``published`` the day the text was written, which its relative dates count from: its
    source's publication date, or the earlier day of a dateline it opens with.
    """

    date: dt.date
    granularity: Granularity
    sentence: str
    source: str
    basis: Basis = "absolute"
    mention: str = ""
    published: dt.date | None = None


@dataclass
class TimelineEntry:
    """A dated entry: its summary sentences and every piece of evidence for its date."""

    date: dt.date
    summary: list[DatedSentence]
    evidence: list[DatedSentence]
    score: float = 0.0

    @property
    def sources(self) -> list[str]:
        """The ids of the sources behind the entry, most mentioned first."""
        return [s for s, _ in Counter(e.source for e in self.evidence).most_common()]

    @property
    def text(self) -> str:
        return " ".join(s.sentence for s in self.summary)


@dataclass
class Timeline:
    entries: list[TimelineEntry] = field(default_factory=list)

    def dates(self) -> list[date]:
        return [e.date for e in self.entries]


# --------------------------------------------------------------------------- sentences

# Words after which a full stop does not end a sentence.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt gen col lt sgt capt cmdr gov sen rep rev hon pres jan feb
    mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun inc
    ltd co corp vs etc no nos fig al approx est dept univ ave blvd
    """.split()  # noqa: SIM905
)
_BOUNDARY = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s+[\"'‘“(\[`]*[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•])")
# Lower-cased corpora (tokenized news sets) have no capital to start a sentence with.
_BOUNDARY_LOWER = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s+[\"'‘“(\[`]*[a-z0-9])|\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """Sentences of plain or tokenized English text, whitespace collapsed.

    A full stop after a known abbreviation ("Dr.", "Sept.") or a single capital letter
    (an initial) does not end a sentence; a blank line does. In a text without capitals
    (a lower-cased corpus), a sentence may start with a lower-case letter. The one splitter
    of newsdesk: timelines, the support checker and their evaluations use it.
    """
    boundary = _BOUNDARY if text != text.lower() else _BOUNDARY_LOWER
    out: list[str] = []
    start = 0
    for m in boundary.finditer(text):
        if m.group().startswith("."):
            before = text[start : m.start()].rstrip()
            word = before.rsplit(None, 1)[-1] if before else ""
            word = word.lstrip("\"'‘“([")
            if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # U.S. / e.g.
                continue
        piece = " ".join(text[start : m.end()].split())
        if piece:
            out.append(piece)
        start = m.end()
    tail = " ".join(text[start:].split())
    if tail:
        out.append(tail)
    return out


# --------------------------------------------------------------------------- dates

# Month names and abbreviations (lower case) to their number; the checker uses them too.
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a few": 3,
    "several": 3, "couple of": 2, "a couple of": 2,
}  # fmt: skip

# Month names are matched case-sensitively (capitalized) so "may" and "march" the verbs
# stay out; abbreviations may carry a full stop ("Sept.").
_MONTH = (
    r"\b(?P<month>January|February|March|April|May|June|July|August|September|October|"
    r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b\.?"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b"
# Any four-digit year, so "19 August 1851" is that day and not a yearless "19 August".
_YEAR = r"(?P<year>[12]\d\d\d)\b"
# A weekday followed by a date ("Thursday, June 25") is left to the date.
_WEEKDAY = (
    r"(?P<weekday>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"(?!\s*,?\s*(?:[0-3]?\d\b|the\s+[0-3]?\d|January|February|March|April|May|June|July|"
    r"August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|"
    r"Dec)\b)"
)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>[01]\d)-(?P<day>[0-3]\d)\b")),
    # "June 25, 2009" / "June 25 , 2009" (tokenized) / "Sept. 3" / "Thursday, June 25"
    ("month_day", re.compile(_MONTH + r"\s+" + _DAY + r"(?:\s*,?\s*" + _YEAR + r")?")),
    # "25 June 2009" / "3rd of September" / "25 June"
    (
        "day_month",
        re.compile(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r"(?:\s*,?\s*" + _YEAR + r")?"),
    ),
    # "June 2009" / "September of 2024"
    ("month_year", re.compile(_MONTH + r"\s*,?\s+(?:of\s+)?" + _YEAR)),
    # "in June", "since March", "early September": a bare month needs such a word before it.
    (
        "month",
        re.compile(
            r"\b(?P<lead>in|since|during|until|till|by|from|of|early|late|mid|end of|"
            r"beginning of|last|next|this|before|after|through)[\s-]+"
            r"(?P<month>January|February|March|April|May|June|July|August|September|"
            r"October|November|December)\b(?!\s*[0-3]?\d\b)"
        ),
    ),
    (
        "year",
        re.compile(
            r"\b(?P<lead>in|since|during|until|by|of|from|early|late|mid)[\s-]+"
            + _YEAR
            + r"(?!\s*[-/]\s*\d)"
        ),
    ),
    (
        "ago",
        re.compile(
            r"\b(?P<num>\d+|a few|several|a couple of|couple of|an?|one|two|three|four|five|"
            r"six|seven|eight|nine|ten|eleven|twelve)\s+(?P<unit>day|week|month|year)s?\s+ago\b",
            re.IGNORECASE,
        ),
    ),
    (
        "rel_unit",
        re.compile(
            r"\b(?P<which>last|next|this|earlier this|later this)\s+(?P<unit>week|month|year)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "deictic",
        re.compile(
            r"\b(?P<word>yesterday|today|tonight|tomorrow|last night|this morning|"
            r"this afternoon|this evening)\b",
            re.IGNORECASE,
        ),
    ),
    ("weekday", re.compile(r"\b(?:(?P<which>last|next|this|on|since|until|by)\s+)?" + _WEEKDAY)),
]

# Words that put a date without a year, a bare weekday or a bare month in the future...
# A future verb phrase is matched whole, so "will be sentenced" is not read as past.
_FUTURE = re.compile(
    r"\b(?:(?:will|shall|'ll|would)(?:\s+not)?(?:\s+(?:be|have\s+been))?(?:\s+[a-z]+)?|"
    r"is due|are due|is expected|are expected|is set to|are set to|"
    r"is scheduled|are scheduled|is to|are to|plans? to|planned for|to be held|upcoming|"
    r"going to|would be held|next|(?:has|have)\s+been\s+scheduled|scheduled\s+for|set\s+for|"
    r"takes?\s+place)\b",
    re.IGNORECASE,
)
# ... or in the past.
_PAST = re.compile(
    r"\b(?:was|were|had|did|died|said|began|took|came|went|gave|told|ago|since|last|"
    r"[a-z]{3,}ed)\b",
    re.IGNORECASE,
)

_MARKER = re.compile(rf"(?P<future>{_FUTURE.pattern})|(?P<past>{_PAST.pattern})", re.IGNORECASE)

Tense = Literal["past", "future"] | None

# A date next to a clock time or "last updated" is a page's or a comment's time stamp
# ("Page last updated at 10:39 GMT, Wednesday, 28 September 2011", "8th November 2011 -
# 17:42", "At 01:20 24th Mar 2010, Tanya wrote", a blog's "11.44, Friday 21 Aug 2026"):
# when something was written, not an event.
_STAMP_BEFORE = re.compile(
    r"(?:\b\d{1,2}:\d\d\s*(?:GMT|BST|UTC|UK|[AP]M|[ECMP][SD]?T)?|\b\d{1,2}\.\d\d\s*,|updated"
    r"(?:\s+at)?|posted(?:\s+on)?|published(?:\s+on)?)\s*[,|]?\s*"
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\s*,?\s*)?$",
    re.IGNORECASE,
)
_STAMP_AFTER = re.compile(
    r"\s*(?:[-–|,]\s*)?(?:\d{1,2}:\d\d\b|(?:last\s+)?updated\b)", re.IGNORECASE
)


# "Today" that means nowadays, not the day: "Word Perfect survives today", "still divide
# musicians today", "what it is today", "one of today's most admired tenors". Not "is
# available today" or "is released today", a launch's day.
_NOWADAYS_BEFORE = re.compile(
    r"(?:\b(?:still|even|largely|hardly|no longer)\b[^.;:!?]{0,60}|\b(?:survives?|exists?"
    r"|remains?|endures?|lives on|resonates?)\s+|\b(?:than|what|as)\s+(?:\w+\s+){0,2}"
    r"(?:is|are)\s+)$",
    re.IGNORECASE,
)
_NOWADAYS_AFTER = re.compile(r"\s*'\s*s\s+(?:most|best|leading|greatest)\b", re.IGNORECASE)


def _nowadays(text: str, start: int, end: int) -> bool:
    """Whether "today" at ``text[start:end]`` means nowadays (``_NOWADAYS_BEFORE``)."""
    return bool(
        _NOWADAYS_BEFORE.search(text, max(0, start - 80), start) or _NOWADAYS_AFTER.match(text, end)
    )


# A photo's caption, in the agencies' style: a present-tense sentence, then ", July 15,
# 2026, in Washington." ("The Pentagon is seen from the air, July 15, 2026, in
# Washington."). The day the photo was taken, not an event of the story.
_CAPTION_AFTER = re.compile(r",\s+(?:in|at|near|outside)\s+(?:the\s+)?[A-Z]")


def _caption(text: str, start: int, end: int) -> bool:
    """Whether the date at ``text[start:end]`` dates a photo's caption (``_CAPTION_AFTER``):
    a comma before it, a place after it, and no past tense before it in its sentence."""
    before = text[max(0, start - 150) : start]
    clause = re.split(r"[.!?]\s", before)[-1]
    return (
        before.rstrip().endswith(",")
        and bool(_CAPTION_AFTER.match(text, end))
        and not _PAST.search(clause)
    )


def _tense(text: str, start: int, end: int) -> Tense:
    """The tense around an expression: the nearest marker in the words just before it, else
    in the words just after it ("said on Monday that it will vote on Friday" has one past
    and one future day; "Saturday's concert will raise" is future)."""
    before = [
        (m.end(), "future" if m.lastgroup == "future" else "past")
        for m in _MARKER.finditer(text, max(0, start - 80), start)
    ]
    if before:
        return before[-1][1]  # type: ignore[return-value]
    after = _MARKER.search(text, end, end + 25)
    if after:
        return "future" if after.lastgroup == "future" else "past"
    return None


def _month_number(name: str) -> int:
    return MONTHS[name.rstrip(".").lower()]


def _year_for(month: int, day: int, ref: date, tense: Tense) -> date | None:
    """The date of a day without a year: the last one up to ``ref`` in the past tense, the
    first one from ``ref`` on in the future tense, else the nearest one."""
    options = []
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            options.append(date(year, month, day))
        except ValueError:
            continue
    if tense == "past":
        options = [d for d in options if d <= ref] or options
        return max(options, default=None)
    if tense == "future":
        options = [d for d in options if d >= ref] or options
        return min(options, default=None)
    return min(options, key=lambda d: abs((d - ref).days), default=None)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class DateMention:
    """A date expression found in a text: where it is, what it says, what it resolves to."""

    start: int
    end: int
    text: str
    date: dt.date
    granularity: Granularity
    basis: Basis


def find_dates(text: str, published: date | datetime | None = None) -> list[DateMention]:
    """The date expressions of one sentence, resolved; relative ones need ``published``.

    A date without a year ("June 25") takes the year that puts it nearest the publication
    date; a bare weekday is the last such day up to the publication date, or the next one
    when the words before it speak of the future ("will", "is due to"). Expressions that cannot
    be resolved (no publication date, February 30) are left out.
    """
    ref = _as_date(published)
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            if (
                _STAMP_BEFORE.search(text, max(0, m.start() - 40), m.start())
                or _STAMP_AFTER.match(text, m.end(), m.end() + 20)
                or _caption(text, m.start(), m.end())
            ):
                taken.append((m.start(), m.end()))
                continue
            try:
                resolved = _resolve(kind, m, ref, _tense(text, m.start(), m.end()))
            except (ValueError, OverflowError):  # "2,350 years ago", "31 June": no date
                resolved = None
            if resolved is None:
                continue
            d, granularity, basis = resolved
            taken.append((m.start(), m.end()))
            found.append(DateMention(m.start(), m.end(), m.group(), d, granularity, basis))
    found.sort(key=lambda x: x.start)
    return found


def _resolve(
    kind: str, m: re.Match[str], ref: date | None, tense: Tense
) -> tuple[date, Granularity, Basis] | None:
    g = m.groupdict()
    try:
        if kind == "iso":
            return date(int(g["year"]), int(g["mnum"]), int(g["day"])), "day", "absolute"
        if kind in ("month_day", "day_month"):
            month, day = _month_number(g["month"]), int(g["day"])
            if g.get("year"):
                return date(int(g["year"]), month, day), "day", "absolute"
            if ref is None:
                return None
            d = _year_for(month, day, ref, tense)
            return (d, "day", "relative") if d else None
        if kind == "month_year":
            return date(int(g["year"]), _month_number(g["month"]), 1), "month", "absolute"
        if kind == "year":
            return date(int(g["year"]), 1, 1), "year", "absolute"
    except ValueError:  # 31 June, 0 May
        return None
    if ref is None:
        return None
    if kind == "month":
        month = _month_number(g["month"])
        lead = g["lead"].lower()
        year = ref.year
        if lead == "next" or (tense == "future" and lead != "last"):
            if month < ref.month or (lead == "next" and month == ref.month):
                year += 1
        elif month > ref.month or (lead == "last" and month == ref.month):
            year -= 1
        return date(year, month, 1), "month", "relative"
    if kind == "ago":
        raw = g["num"].lower()
        n = int(raw) if raw.isdigit() else _NUMBERS.get(raw, 1)
        unit = g["unit"].lower()
        if unit == "day":
            return ref - timedelta(days=n), "day", "relative"
        if unit == "week":
            return ref - timedelta(weeks=n), "day", "relative"
        if unit == "month":
            return _add_months(ref, -n), "month", "relative"
        return date(ref.year - n, 1, 1), "year", "relative"
    if kind == "rel_unit":
        which, unit = g["which"].lower(), g["unit"].lower()
        if unit == "week":
            return None  # a week is no day, month or year
        step = {"last": -1, "next": 1}.get(which, 0)
        if unit == "month":
            return _add_months(ref, step), "month", "relative"
        return date(ref.year + step, 1, 1), "year", "relative"
    if kind == "deictic":
        word = " ".join(g["word"].lower().split())
        if word == "today" and _nowadays(m.string, m.start(), m.end()):
            return None
        offset = {"yesterday": -1, "last night": -1, "tomorrow": 1}.get(word, 0)
        return ref + timedelta(days=offset), "day", "relative"
    if kind == "weekday":
        target = _WEEKDAYS[g["weekday"].lower()]
        which = (g["which"] or "").lower()
        back = (ref.weekday() - target) % 7  # days since the last such weekday (0: today)
        if which == "last":
            back = back or 7
            return ref - timedelta(days=back), "day", "relative"
        if which == "next" or (tense == "future" and which != "since"):
            ahead = (target - ref.weekday()) % 7 or 7
            if which == "next" or back != 0:
                return ref + timedelta(days=ahead), "day", "relative"
        return ref - timedelta(days=back), "day", "relative"
    return None


def _as_date(value: date | datetime | None) -> date | None:
    """A publication date: a datetime's UTC calendar day, a date as it is."""
    if isinstance(value, datetime):
        utc = as_utc(value)
        return utc.date() if utc else None
    return value


# A text that opens with its own day (a statement's or an article's dateline: "August 21,
# 2026 Ottawa, Ontario") was written that day, which may be days before the post that
# carries it: its relative dates ("this evening", "yesterday") count from the dateline.
DATELINE_WORDS = 40
DATELINE_DAYS = 30


# A day after one of these is an event's ("shipped on July 3, 2026"), not the text's own.
_EVENT_DAY = frozenset((
    "on", "since", "by", "until", "till", "from", "before", "after", "of", "to", "through",
    "as", "at", "in", "for",
))  # fmt: skip


def dateline(text: str, published: date | None) -> date | None:
    """The day a text's first ``DATELINE_WORDS`` words give as written out in full, after no
    preposition ("on July 3, 2026" is the day of an event), when it is at most
    ``DATELINE_DAYS`` before ``published`` (or there is no publication date)."""
    found = _dateline(text, published)
    return found.date if found else None


def _dateline(text: str, published: date | None) -> DateMention | None:
    head = " ".join(text.split()[:DATELINE_WORDS])
    for m in find_dates(head, published):
        if m.basis != "absolute" or m.granularity != "day":
            continue
        before = head[: m.start].split()[-1:]
        if before and before[0].lower() in _EVENT_DAY:
            return None
        if published is None or timedelta(0) < published - m.date <= timedelta(DATELINE_DAYS):
            return m
        return None
    return None


def dated_sentences(
    text: str,
    published: date | datetime | None,
    source: str,
    *,
    undated: bool = False,
    written: date | None = None,
) -> list[DatedSentence]:
    """The dated evidence of one text: a ``DatedSentence`` per (sentence, date) it names.

    Args:
        text: plain or tokenized text.
        published: the text's publication date (UTC), the reference for relative dates
            unless the text opens with an earlier day of its own (``dateline``).
        source: the item or story id each sentence is credited to.
        undated: also give each sentence that names no date its publication date
            (basis ``published``): the evidence of "a source published that day".
        written: the day relative dates count from where the caller knows it (a later
            part of a text whose opening gave its ``dateline``); by default the text's
            own dateline, else ``published``.

    Returns:
        The dated sentences in text order, several per sentence when it names several
        dates (a date named twice in a sentence counts once).
    """
    pub = _as_date(published)
    # A dateline is the opening's: a later part (``written`` given) that begins with a day
    # reports that day as an event.
    own = None if written else _dateline(text, pub)
    written = written or (own.date if own else None) or pub
    out: list[DatedSentence] = []
    for sentence in split_sentences(text):
        seen: set[tuple[date, str]] = set()
        for m in find_dates(sentence, written):
            if own is not None and (m.text, m.date) == (own.text, own.date):
                # The dateline dates the text, as a page's stamp does: no event of its own
                # ("Go to the translated article August 21, 2026 Ottawa, Ontario").
                own = None
                continue
            if (m.date, m.granularity) in seen:
                continue
            seen.add((m.date, m.granularity))
            out.append(
                DatedSentence(m.date, m.granularity, sentence, source, m.basis, m.text, written)
            )
        if not seen and undated and written is not None:
            out.append(DatedSentence(written, "day", sentence, source, "published", "", written))
    return out


def item_evidence(
    item: Item, source: str | None = None, *, undated: bool = False
) -> list[DatedSentence]:
    """The dated evidence of a stored item (its title, then its text), credited to
    ``source`` (a story id, say) or else the item's ``external_id``."""
    text = f"{item.title.strip()}\n\n{item.text}" if item.title.strip() else item.text
    return dated_sentences(text, item.published_at, source or item.external_id, undated=undated)


def archive_evidence(
    stories: Iterable[tuple[str, str]], dates: Mapping[str, date | datetime]
) -> list[DatedSentence]:
    """The dated stories of the archive as evidence: one ``DatedSentence`` per story of
    ``stories`` (id, title) that ``dates`` dates (its first item's day, UTC), the title as
    its sentence, the story id as its source, basis ``story``, in date order (ties: the
    order given). A story without a date or a title gives nothing."""
    out = []
    for story_id, title in stories:
        day = _as_date(dates.get(story_id))
        if day is not None and title.strip():
            out.append(DatedSentence(day, "day", title.strip(), story_id, "story", "", day))
    return sorted(out, key=lambda e: e.date)


# --------------------------------------------------------------------------- ranking

_WORD = re.compile(r"[a-z0-9]+")
# Function words left out of the TF-IDF vectors (ROUGE's own stop list is larger).
_STOP = frozenset(
    """
    a an and are as at be been but by for from had has have he her his in is it its of on or
    that the their there they this to was were which who will with would s said says lrb rrb
    not after before also
    """.split()  # noqa: SIM905
)


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def _tfidf(sentences: Sequence[str]) -> np.ndarray:
    """Rows of unit-length log-TF x IDF vectors, the IDF computed over ``sentences``."""
    docs = [Counter(_tokens(s)) for s in sentences]
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    vocab = {w: i for i, w in enumerate(df)}
    n = len(docs)
    matrix = np.zeros((n, len(vocab)), dtype=np.float32)
    for row, d in enumerate(docs):
        for w, c in d.items():
            matrix[row, vocab[w]] = (1 + math.log(c)) * math.log((n + 1) / (df[w] + 0.5))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@dataclass
class TimelineConfig:
    """How candidate dates are scored, and how long each entry's summary is.

    A candidate is a day that some evidence names. Its score is the number of distinct
    sources that name it (a source counts once, however often it repeats the date), plus
    ``same_day_weight`` for each source published that day and ``next_day_weight`` for each
    source published the day after: news reports an event the day it happens or the next
    (news-tls's date features count both). Month- and year-precise evidence does not
    compete for days.
    """

    same_day_weight: float = 0.5
    next_day_weight: float = 0.5
    summary_sentences: int = 1


def rank_dates(
    evidence: Iterable[DatedSentence],
    span: tuple[date, date] | None = None,
    config: TimelineConfig | None = None,
) -> list[tuple[date, float]]:
    """Candidate days with their scores, best first (ties: earlier date first)."""
    config = config or TimelineConfig()
    named: dict[date, set[str]] = defaultdict(set)
    published: dict[date, set[str]] = defaultdict(set)
    for e in evidence:
        if e.published is not None:
            published[e.published].add(e.source)
        if e.granularity != "day" or e.basis == "published":
            continue
        if span and not span[0] <= e.date <= span[1]:
            continue
        named[e.date].add(e.source)
    scores: dict[date, float] = {}
    for d, sources in named.items():
        score = float(len(sources))
        score += config.same_day_weight * len(published.get(d, ()))
        score += config.next_day_weight * len(published.get(d + timedelta(days=1), ()))
        scores[d] = score
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def build_timeline(
    evidence: Iterable[DatedSentence],
    k: int,
    span: tuple[date, date] | None = None,
    config: TimelineConfig | None = None,
) -> Timeline:
    """A timeline of at most ``k`` dates, each with its summary and its evidence.

    Args:
        evidence: dated sentences from ``dated_sentences`` (any number of sources).
        k: how many dates to pick.
        span: the first and last day a date may have (inclusive), or None.
        config: scoring and summary length.

    Returns:
        Entries in date order. Each entry's date is the date of every one of its evidence
        sentences, and its summary is chosen among them: the sentences most central (TF-IDF
        cosine to their centroid), without near-repeats, preferring a sentence that gives
        the date in full over one that gives it relatively.
    """
    config = config or TimelineConfig()
    pool = list(evidence)
    ranked = rank_dates(pool, span, config)[: max(k, 0)]
    chosen = {d for d, _ in ranked}
    by_date: dict[date, list[DatedSentence]] = defaultdict(list)
    seen: set[tuple[date, str, str]] = set()
    for e in pool:
        if e.date in chosen and e.granularity == "day" and e.basis != "published":
            key = (e.date, e.source, e.sentence)
            if key not in seen:  # a syndicated sentence counts once per source
                seen.add(key)
                by_date[e.date].append(e)
    entries = []
    for d, score in ranked:
        candidates = by_date[d]
        entries.append(
            TimelineEntry(d, _summarize(candidates, config.summary_sentences), candidates, score)
        )
    entries.sort(key=lambda e: e.date)
    return Timeline(entries)


def _summarize(candidates: Sequence[DatedSentence], n: int) -> list[DatedSentence]:
    """The ``n`` most central distinct sentences among ``candidates``."""
    unique: dict[str, DatedSentence] = {}
    for c in candidates:
        unique.setdefault(c.sentence, c)
    items = list(unique.values())
    if len(items) <= 1 or n <= 0:
        return items[: max(n, 0)]
    vectors = _tfidf([c.sentence for c in items])
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    central = vectors @ (centroid / norm if norm else centroid)
    # A sentence that writes the date out ("On 25 June") tells the reader what happened
    # that day more surely than one that got its date from "on Thursday".
    bonus = np.array([0.05 if c.basis == "absolute" else 0.0 for c in items])
    order = np.argsort(-(central + bonus), kind="stable")
    picked: list[int] = []
    for i in order:
        if len(picked) == n:
            break
        if any(float(vectors[i] @ vectors[j]) > 0.7 for j in picked):
            continue
        picked.append(int(i))
    return [items[i] for i in picked]
