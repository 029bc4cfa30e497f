"""Feeds: RSS 0.9x/1.0/2.0, RDF and Atom through feedparser, JSON Feed 1.0/1.1 by hand.

Two steps, as in miniflux's ``rss/adapter.go``: ``parse_feed`` reads a document into the
feed's own shape (``ParsedFeed``), then ``adapt`` turns that into ``Item``s (ids, canonical
URLs, sanitized HTML, text). feedparser 6.0 has no JSON Feed support, so JSON documents
are read with ``json`` into the same shape.
"""

from __future__ import annotations

import calendar
import hashlib
import html as html_lib
import io
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import feedparser

from newsdesk.exceptions import ParseError
from newsdesk.extract import normalize_language
from newsdesk.models import Item, Source
from newsdesk.sanitize import clean_text, html_to_text, sanitize_html
from newsdesk.sources import FetchResult, SourceKind, SourceSpec, conditional_get, register
from newsdesk.urls import canonicalize, discover_feeds, web_url

if TYPE_CHECKING:
    from newsdesk.fetch import Fetcher
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# A summary-only entry with less text than this gets its article fetched and extracted.
SHORT_SUMMARY_CHARS = 500
_GLOBAL_ID_PREFIXES = ("http:", "https:", "urn:", "tag:")
_HTML_TYPES = {"text/html", "application/xhtml+xml"}


@dataclass
class ParsedEntry:
    """One entry as the feed gives it; HTML fields are not yet sanitized."""

    id: str | None = None
    title: str | None = None
    link: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    content_html: str | None = None  # full content: content:encoded, atom:content, JSON
    summary_html: str | None = None  # description, atom:summary, JSON summary
    language: str | None = None


@dataclass
class ParsedFeed:
    """A feed document in its own shape. ``format`` is feedparser's version string
    (``rss20``, ``atom10``, ``rss10``...) or ``json10``/``json11``; ``bozo`` means the
    document was malformed and was read leniently."""

    title: str | None
    link: str | None
    entries: list[ParsedEntry] = field(default_factory=list)
    bozo: bool = False
    bozo_message: str | None = None
    format: str = ""
    language: str | None = None
    ttl_minutes: float | None = None  # RSS <ttl>: minutes a reader may cache the feed


# ---------------------------------------------------------------------------------------
# Parsing


def parse_feed(data: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Read a feed document into its own shape.

    Args:
        data: The body as downloaded.
        url: Where it came from; relative links are resolved against it.
        headers: The HTTP response headers (Content-Type gives the charset).

    Returns:
        The ParsedFeed; ``bozo`` is set when a malformed document still gave entries.

    Raises:
        ParseError: The document is not a feed, or is too broken to give any entry.
    """
    try:
        if not data or not data.strip():
            raise ParseError(url, "not a feed: empty document")
        if _looks_like_json(data):
            return _parse_json_feed(data, url)
        return _parse_xml_feed(data, url, headers or {})
    except ParseError:
        raise
    except Exception as e:  # feedparser on hostile input: never let it escape as itself
        log.warning("feed parser failed on %s: %r", url, e)
        raise ParseError(url, f"not a feed: the parser failed ({type(e).__name__}: {e})") from e


def _looks_like_json(data: bytes) -> bool:
    # Dropping NULs makes UTF-16/32 text readable enough to see the opening brace.
    head = data[:256].replace(b"\x00", b"")
    return head.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").startswith(b"{")


def _parse_xml_feed(data: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    response_headers = {str(k).lower(): str(v) for k, v in headers.items()}
    # With headers but no Content-Type feedparser assumes ISO-8859-1 and flags the feed;
    # application/xml makes it follow the document's own declaration, as with no headers.
    response_headers.setdefault("content-type", "application/xml")
    # feedparser resolves relative links against Content-Location; it must be absolute.
    response_headers["content-location"] = urljoin(
        url, response_headers.get("content-location", "")
    )
    # A BytesIO, never the bytes themselves: feedparser opens a str or bytes that names a
    # local file or URL.
    result = feedparser.parse(
        io.BytesIO(data),
        response_headers=response_headers,
        sanitize_html=False,  # sanitize_html() below is the one sanitizer
        # Relative URLs in content are resolved by sanitize_html() against the entry link;
        # feedparser's own pass re-parses every content body and costs 40% of ingest.
        resolve_relative_uris=False,
    )
    bozo = bool(result.get("bozo"))
    exc = result.get("bozo_exception")
    bozo_message = _exception_message(exc) if bozo else None
    version = result.get("version") or ""
    raw_entries = result.get("entries") or []
    # A wrong charset or media type only costs a warning; broken XML with no entry left
    # means the document is not a feed (an HTML page, an error page, truncated junk).
    fatal = bozo and not isinstance(exc, feedparser.exceptions.ThingsNobodyCaresAboutButMe)
    if not raw_entries and (fatal or not version):
        raise ParseError(url, f"not a feed: {bozo_message or 'no RSS, Atom or RDF document'}")

    feed = result.get("feed") or {}
    feed_language = normalize_language(
        _str(feed.get("language")) or _str((feed.get("title_detail") or {}).get("language"))
    )
    entries = [_entry_from_feedparser(e, feed_language) for e in raw_entries]
    return ParsedFeed(
        title=_detail_text(feed.get("title"), feed.get("title_detail")),
        link=_str(feed.get("link")),
        entries=entries,
        bozo=bozo,
        bozo_message=bozo_message,
        format=version,
        language=feed_language,
        ttl_minutes=_ttl(feed.get("ttl")),
    )


def _not_before(max_age: float | None, ttl_minutes: float | None) -> float | None:
    """Seconds the feed asks not to be polled again: the longer of max-age and <ttl>."""
    waits = [w for w in (max_age, ttl_minutes * 60 if ttl_minutes else None) if w]
    return max(waits) if waits else None


def _ttl(value: object) -> float | None:
    """An RSS <ttl> in minutes (a positive number), or None."""
    try:
        minutes = float(str(value).strip())
    except ValueError:
        return None
    return minutes if 0 < minutes < 100_000 else None


def _exception_message(exc: object) -> str:
    if exc is None:
        return "malformed document"
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def _entry_from_feedparser(entry: dict[str, Any], feed_language: str | None) -> ParsedEntry:
    content_html = None
    content_language = None
    for part in entry.get("content") or []:
        value = _str(part.get("value"))
        if value and value.strip():
            content_html = _as_html(value, part.get("type"))
            content_language = _str(part.get("language"))
            break
    summary_detail = entry.get("summary_detail") or {}
    summary = _str(entry.get("summary"))
    summary_html = _as_html(summary, summary_detail.get("type")) if summary else None
    if summary_html and summary_html == content_html:
        summary_html = None  # feedparser may offer the same text as both

    author_detail = entry.get("author_detail") or {}
    title_detail = entry.get("title_detail") or {}
    language = (
        content_language
        or _str(summary_detail.get("language"))
        or _str(title_detail.get("language"))
    )
    return ParsedEntry(
        id=_str(entry.get("id")),
        title=_detail_text(entry.get("title"), title_detail),
        link=_str(entry.get("link")),
        published=_from_struct(entry.get("published_parsed"))
        or _from_struct(entry.get("created_parsed")),
        # dict.get: FeedParserDict.get("updated_parsed") falls back to published, with a
        # DeprecationWarning.
        updated=_from_struct(dict.get(entry, "updated_parsed")),
        author=_str(author_detail.get("name")) or _str(entry.get("author")),
        content_html=content_html,
        summary_html=summary_html,
        language=normalize_language(language) or feed_language,
    )


def _detail_text(value: object, detail: Mapping[str, Any] | None) -> str | None:
    """A title as plain text, whatever type the feed declared it with."""
    text = _str(value)
    if text is None:
        return None
    if (detail or {}).get("type") in _HTML_TYPES:
        text = html_to_text(text)
    text = " ".join(text.split())
    return text or None


def _as_html(value: str, media_type: object) -> str:
    if media_type in _HTML_TYPES:
        return value
    if media_type == "text/plain":
        return _text_to_html(value)
    # Unknown or missing type: feeds put HTML everywhere, so take HTML-looking text as HTML.
    return value if "<" in value else _text_to_html(value)


def _text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html_lib.escape(p)}</p>" for p in paragraphs)


def _from_struct(value: object) -> datetime | None:
    """feedparser's ``*_parsed`` (a UTC struct_time) as an aware datetime."""
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(tuple(value)), UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return clean_text(value)  # a JSON Feed's "\u0000", feedparser's "&#0;"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


# JSON Feed (https://www.jsonfeed.org/version/1.1/)


def _parse_json_feed(data: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ParseError(url, f"not a feed: invalid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise ParseError(url, "not a feed: JSON that is not a JSON Feed object")
    version = _str(doc.get("version")) or ""
    items = doc.get("items")
    if not version.startswith("https://jsonfeed.org/version/") and not isinstance(items, list):
        raise ParseError(url, "not a feed: JSON without a JSON Feed version or items")
    problems: list[str] = []
    if not isinstance(items, list):
        problems.append("items is not a list")
        items = []
    base = web_url(_str(doc.get("home_page_url")), url) or url
    feed_language = normalize_language(_str(doc.get("language")))
    feed_author = _json_author(doc)
    entries = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            problems.append(f"item {index} is not an object")
            continue
        entries.append(_entry_from_json(raw, base, feed_language, feed_author))
    if not entries and problems:
        raise ParseError(url, f"not a feed: {'; '.join(problems)}")
    return ParsedFeed(
        title=_detail_text(doc.get("title"), None),
        link=web_url(_str(doc.get("home_page_url")), url),
        entries=entries,
        bozo=bool(problems),
        bozo_message="; ".join(problems) or None,
        format="json11" if version.endswith("/1.1") else "json10",
        language=feed_language,
    )


def _entry_from_json(
    raw: Mapping[str, Any], base: str, feed_language: str | None, feed_author: str | None
) -> ParsedEntry:
    content_html = _str(raw.get("content_html"))
    if not (content_html and content_html.strip()):
        text = _str(raw.get("content_text"))
        content_html = _text_to_html(text) if text and text.strip() else None
    summary = _str(raw.get("summary"))
    return ParsedEntry(
        id=_str(raw.get("id")),
        title=_detail_text(raw.get("title"), None),
        link=web_url(_str(raw.get("url")) or _str(raw.get("external_url")), base),
        published=_parse_iso_date(raw.get("date_published")),
        updated=_parse_iso_date(raw.get("date_modified")),
        author=_json_author(raw) or feed_author,
        content_html=content_html,
        summary_html=_text_to_html(summary) if summary and summary.strip() else None,
        language=normalize_language(_str(raw.get("language"))) or feed_language,
    )


def _json_author(obj: Mapping[str, Any]) -> str | None:
    # 1.1 has "authors" (a list), 1.0 a single "author".
    authors = obj.get("authors")
    candidates = authors if isinstance(authors, list) else [obj.get("author")]
    names = [_str(a.get("name")) for a in candidates if isinstance(a, dict)]
    joined = ", ".join(n.strip() for n in names if n and n.strip())
    return joined or None


def _parse_iso_date(value: object) -> datetime | None:
    text = _str(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        # Not RFC 3339 after all: feedparser knows the other date formats feeds use.
        return _from_struct(feedparser.datetimes._parse_date(text))
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        return None


# ---------------------------------------------------------------------------------------
# Adapting


def adapt(parsed: ParsedFeed, feed_url: str) -> list[Item]:
    """Turn a parsed feed into Items.

    Args:
        parsed: What ``parse_feed`` gave.
        feed_url: The feed's URL as the source stores it; it namespaces entry ids that
            are not global and resolves relative links.

    Raises:
        ParseError: Only for an unexpected failure (a bug): no other exception escapes.
    """
    try:
        return [_adapt_entry(entry, parsed, feed_url) for entry in parsed.entries]
    except Exception as e:
        log.exception("adapting entries of %s failed", feed_url)
        raise ParseError(feed_url, f"cannot adapt entries ({type(e).__name__}: {e})") from e


def _adapt_entry(entry: ParsedEntry, parsed: ParsedFeed, feed_url: str) -> Item:
    link = web_url(entry.link, feed_url)
    html = sanitize_html(entry.content_html or entry.summary_html or "", base_url=link or feed_url)
    text = html_to_text(html)
    published = entry.published or entry.updated
    title = entry.title or _shorten(text, 100) or link or ""
    return Item(
        external_id="feed:" + _entry_key(entry, feed_url, link, published),
        title=title,
        url=link,
        canonical_url=canonicalize(link) if link else None,
        author=entry.author.strip() if entry.author and entry.author.strip() else None,
        published_at=published,
        text=text,
        html=html,
        language=entry.language or parsed.language,
        needs_extraction=bool(link and not entry.content_html and len(text) < SHORT_SUMMARY_CHARS),
    )


def _entry_key(
    entry: ParsedEntry, feed_url: str, link: str | None, published: datetime | None
) -> str:
    guid = (entry.id or "").strip()
    if guid.lower().startswith(_GLOBAL_ID_PREFIXES):
        return guid
    if not guid and not link:
        stamp = published.isoformat() if published else ""
        guid = hashlib.sha1(f"{entry.title or ''}{stamp}".encode()).hexdigest()
    return f"{feed_url}#{guid or link}"


def _shorten(text: str, limit: int) -> str:
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + "…"


# ---------------------------------------------------------------------------------------
# The source kind


def _sniff(content: bytes, content_type: str) -> str:
    """ "feed", "html" or "unknown": what the body is, whatever the server called it."""
    head = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if re.search(rb"<(rss|feed|rdf:rdf)[\s>]", head) or head.startswith(b"{"):
        return "feed"
    if b"<html" in head or b"<!doctype html" in head:
        return "html"
    media_type = content_type.split(";")[0].strip().lower()
    return "html" if media_type in _HTML_TYPES else "unknown"


def _decode_html(content: bytes, content_type: str) -> str:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    if match:
        try:
            return content.decode(match.group(1), "replace")
        except LookupError:
            pass
    return content.decode("utf-8", "replace")


@register
class FeedKind(SourceKind):
    """RSS, Atom, RDF and JSON Feed; a web page URL works when the page links its feed."""

    kind = "feed"
    emoji = "📰"
    label = "Feed"

    @classmethod
    def parse_spec(cls, spec: str, settings: Settings) -> SourceSpec | None:
        spec = spec.strip()
        try:
            parts = urlsplit(spec)
            host = parts.hostname
        except ValueError:
            return None
        if parts.scheme.lower() not in {"http", "https"} or not host:
            return None
        return SourceSpec(kind=cls.kind, url=spec, name=host)

    async def fetch(self, source: Source, fetcher: Fetcher, settings: Settings) -> FetchResult:
        response, result = await conditional_get(fetcher, source, source.url, FEED_ACCEPT)
        if result.not_modified:
            return result
        feed_url = source.url
        content_type = response.headers.get("content-type", "")
        if _sniff(response.content, content_type) == "html":
            page = _decode_html(response.content, content_type)
            found = discover_feeds(page, response.url)
            if not found:
                raise ParseError(
                    source.url,
                    'a web page that links no feed (no <link rel="alternate" '
                    'type="application/rss+xml">): add the feed\'s own URL instead',
                )
            feed_url = found[0]
            result.warnings.append(f"discovered feed at {feed_url}")
            response = await fetcher.get(feed_url, accept=FEED_ACCEPT)
            # The feed's validators would be sent with the page's URL next time: drop them.
            result.etag = result.last_modified = None
        parsed = parse_feed(response.content, response.url, response.headers)
        if parsed.bozo:
            result.warnings.append(
                f"malformed feed, {len(parsed.entries)} entries read anyway: {parsed.bozo_message}"
            )
        result.items = adapt(parsed, feed_url)
        result.title = " ".join(parsed.title.split())[:200] if parsed.title else None
        result.not_before = _not_before(response.max_age, parsed.ttl_minutes)
        return result
