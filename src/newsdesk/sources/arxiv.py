"""arXiv categories through the arXiv query API (Atom).

``parse_response`` reads the Atom answer into ``ArxivEntry`` records (the arXiv extension
elements included); ``adapt`` turns one into an ``Item``. The standard library's XML parser
is enough here: the answer is well-formed Atom, and it neither fetches external entities
nor expands nested ones without limit.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from newsdesk.exceptions import ParseError
from newsdesk.models import Item, as_utc
from newsdesk.sanitize import sanitize_html
from newsdesk.sources import FetchResult, SourceKind, SourceSpec, conditional_get, register
from newsdesk.urls import canonicalize

if TYPE_CHECKING:
    from newsdesk.fetch import Fetcher
    from newsdesk.models import Source
    from newsdesk.settings import Settings

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
WEB_BASE = "https://arxiv.org"
MAX_AUTHORS = 10  # more are shown as "et al."

# cs.CL, math.AG, quant-ph, hep-th, astro-ph.CO, q-bio.NC
_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?$")
_SHORT_SPEC = re.compile(r"^arxiv:(?P<cat>\S+)$", re.IGNORECASE)
_LIST_PATH = re.compile(r"^/list/(?P<cat>[^/]+)(?:/[a-z]+)?/?$")
# new style 2401.01234v2, old style quant-ph/0210005v1 (archive.subject/NNNNNNN too); [0-9]
# because \d takes any Unicode digit, and int() refuses a version of over 4,300 of them
_ABS_ID = re.compile(
    r"/abs/(?P<id>[A-Za-z.-]+/[0-9]{7}|[0-9]{4}\.[0-9]{4,5})(?:v(?P<version>[0-9]{1,6}))?$"
)
_SPACE = re.compile(r"\s+")


@dataclass
class ArxivEntry:
    """One paper of an arXiv API answer."""

    arxiv_id: str  # without version: "2401.01234", "quant-ph/0210005"
    version: int | None
    title: str
    summary: str
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    updated: datetime | None = None
    primary_category: str | None = None
    categories: list[str] = field(default_factory=list)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    abs_url: str = ""
    pdf_url: str | None = None


def _collapse(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is in year 0
        return None


def _https(url: str) -> str:
    return "https://" + url[len("http://") :] if url.startswith("http://") else url


def _parse_entry(entry: ET.Element, url: str) -> ArxivEntry:
    raw_id = (entry.findtext(f"{ATOM}id") or "").strip()
    match = _ABS_ID.search(raw_id)
    if match is None:
        raise ParseError(url, f"entry with an id that is not an arXiv abs URL: {raw_id!r}")
    arxiv_id = match.group("id")
    version = int(match.group("version")) if match.group("version") else None
    abs_url, pdf_url = f"{WEB_BASE}/abs/{arxiv_id}", None
    for link in entry.findall(f"{ATOM}link"):
        href = link.get("href") or ""
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            pdf_url = _https(href)
    primary = entry.find(f"{ARXIV}primary_category")
    comment = _collapse(entry.findtext(f"{ARXIV}comment")) or None
    journal_ref = _collapse(entry.findtext(f"{ARXIV}journal_ref")) or None
    doi = _collapse(entry.findtext(f"{ARXIV}doi")) or None
    return ArxivEntry(
        arxiv_id=arxiv_id,
        version=version,
        title=_collapse(entry.findtext(f"{ATOM}title")),
        summary=_collapse(entry.findtext(f"{ATOM}summary")),
        authors=[
            name
            for name in (_collapse(a.findtext(f"{ATOM}name")) for a in entry.iter(f"{ATOM}author"))
            if name
        ],
        published=_date(entry.findtext(f"{ATOM}published")),
        updated=_date(entry.findtext(f"{ATOM}updated")),
        primary_category=primary.get("term") if primary is not None else None,
        categories=[c.get("term") or "" for c in entry.findall(f"{ATOM}category") if c.get("term")],
        comment=comment,
        journal_ref=journal_ref,
        doi=doi,
        abs_url=abs_url,
        pdf_url=pdf_url,
    )


def parse_response(data: bytes | str, url: str) -> list[ArxivEntry]:
    """Parse an arXiv API answer (Atom) into its entries, in the answer's order.

    Raises:
        ParseError: the answer is not Atom, is arXiv's error entry (a bad query), or an
            entry has no arXiv id.
    """
    try:
        root = ET.fromstring(data)
    # An encoding declaration that expat cannot use: LookupError for an unknown name
    # ("UTF-4"), ValueError for a multi-byte one ("shift_jis").
    except (ET.ParseError, LookupError, ValueError) as e:
        raise ParseError(url, f"not XML: {e}") from e
    if root.tag != f"{ATOM}feed":
        raise ParseError(url, f"not an Atom feed (root element {root.tag!r})")
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        # arXiv answers a bad query with 200 and a single entry whose id is an error URL.
        if "/api/errors" in (entry.findtext(f"{ATOM}id") or ""):
            message = _collapse(entry.findtext(f"{ATOM}summary")) or "error"
            raise ParseError(url, f"arXiv API error: {message}")
    return [_parse_entry(entry, url) for entry in entries]


def format_authors(authors: list[str], limit: int = MAX_AUTHORS) -> str | None:
    if not authors:
        return None
    if len(authors) > limit:
        return ", ".join(authors[:limit]) + " et al."
    return ", ".join(authors)


def adapt(entry: ArxivEntry) -> Item:
    """The Item of a paper: its abstract page, without version, and its summary."""
    return Item(
        external_id=f"arxiv:{entry.arxiv_id}",
        title=entry.title,
        url=entry.abs_url,
        canonical_url=canonicalize(entry.abs_url),
        author=format_authors(entry.authors),
        published_at=entry.published,
        text=entry.summary,
        html=sanitize_html(f"<p>{escape(entry.summary)}</p>") if entry.summary else "",
        needs_extraction=False,
    )


def _parse_target(spec: str) -> str | None:
    """The category of a spec or stored url, or None when it is not an arXiv listing."""
    match = _SHORT_SPEC.match(spec)
    category: str | None = None
    if match is not None:
        category = match.group("cat")
    elif spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if (parts.hostname or "").lower() in ("arxiv.org", "www.arxiv.org"):
            path_match = _LIST_PATH.match(parts.path)
            category = path_match.group("cat") if path_match else None
    if category is None or not _CATEGORY.match(category):
        return None
    return category


@register
class ArxivKind(SourceKind):
    kind = "arxiv"
    emoji = "📄"
    label = "arXiv"

    @classmethod
    def parse_spec(cls, spec: str, settings: Settings) -> SourceSpec | None:
        """``arxiv:CATEGORY`` (one category, e.g. cs.CL) or an arxiv.org/list/CATEGORY URL."""
        category = _parse_target(spec.strip())
        if category is None:
            return None
        return SourceSpec(
            kind=cls.kind, url=f"{WEB_BASE}/list/{category}/recent", name=f"arXiv {category}"
        )

    async def fetch(self, source: Source, fetcher: Fetcher, settings: Settings) -> FetchResult:
        category = _parse_target(source.url)
        if category is None:
            raise ParseError(source.url, "not an arXiv category: re-add it as arxiv:cs.CL")
        url = (
            f"{settings.arxiv_base_url}?search_query={quote('cat:' + category, safe=':.')}"
            f"&sortBy=submittedDate&sortOrder=descending"
            f"&max_results={int(settings.arxiv_max_results)}"
        )
        response, result = await conditional_get(fetcher, source, url, "application/atom+xml")
        if result.not_modified:
            return result
        result.items = [adapt(entry) for entry in parse_response(response.content, url)]
        return result
