"""Article extraction: the main text of a web page, with trafilatura.

Used for feed entries and link posts that carry only a summary. trafilatura is imported on
first use: it pulls in lxml, htmldate, justext and courlan, which ``newsdesk --help`` does
not need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newsdesk.sanitize import html_to_text, parse_html, sanitize_html
from newsdesk.urls import find_canonical_link, web_url

log = logging.getLogger(__name__)

# Less text than this is a cookie banner, a paywall teaser or an error page, not an article.
MIN_TEXT_CHARS = 50
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass
class Extracted:
    """What a page gave: its sanitized main content and what it says about itself."""

    text: str
    html: str  # sanitized
    canonical_url: str | None
    language: str | None
    title: str | None
    published_at: datetime | None  # UTC


def extract_article(html: str, url: str) -> Extracted | None:
    """The main article of an HTML page, or None when the page has none worth keeping.

    Args:
        html: The page as text (any input: garbage gives None, never an exception).
        url: Where the page was fetched from; relative links are resolved against it.

    Returns:
        An Extracted, or None when no main text of at least MIN_TEXT_CHARS was found.
    """
    if not isinstance(html, str) or not html.strip():
        return None
    try:
        document = _bare_extraction(html, url)
    except Exception as e:  # trafilatura and its helpers raise many types on odd pages
        log.debug("extraction failed for %s: %r", url, e)
        return None
    if document is None or getattr(document, "body", None) is None:
        return None
    try:
        from trafilatura.htmlprocessing import build_html_output

        raw_html = build_html_output(document)
    except Exception as e:
        log.debug("extraction output failed for %s: %r", url, e)
        return None
    clean = sanitize_html(_body_of(raw_html), base_url=url)
    text = html_to_text(clean)
    if len(text) < MIN_TEXT_CHARS:
        return None
    return Extracted(
        text=text,
        html=clean,
        canonical_url=find_canonical_link(html, url) or web_url(document.url),
        language=_page_language(html),
        title=(document.title or "").strip() or None,
        published_at=_parse_date(document.date),
    )


def _bare_extraction(html: str, url: str) -> Any:
    import trafilatura
    from trafilatura.settings import set_date_params

    date_params = set_date_params(extensive=True)
    date_params["outputformat"] = _DATE_FORMAT
    return trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=True,
        include_links=True,
        include_formatting=True,
        date_extraction_params=date_params,
    )


def _body_of(document_html: str) -> str:
    # build_html_output gives a whole <html><body>...</body></html>; keep what is inside.
    start = document_html.find("<body>")
    end = document_html.rfind("</body>")
    if start == -1 or end == -1:
        return document_html
    return document_html[start + len("<body>") : end]


def _parse_date(value: str | None) -> datetime | None:
    # htmldate gives naive datetimes in the page's own notation; taken as UTC.
    if not value:
        return None
    try:
        return datetime.strptime(value, _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _page_language(html: str) -> str | None:
    """The language the page declares: <html lang>, Content-Language, or og:locale."""
    root = parse_html(html)
    if root is None:
        return None
    candidates = [root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in root.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in {"content-language", "og:locale", "language"}:
            candidates.append(meta.get("content"))
    for value in candidates:
        language = normalize_language(value)
        if language:
            return language
    return None


def normalize_language(value: str | None) -> str | None:
    """A BCP 47 tag in lower case with hyphens (``en_US`` -> ``en-us``), or None."""
    if not value:
        return None
    tag = value.split(",")[0].strip().replace("_", "-").lower()
    if not tag or len(tag) > 35 or not all(part.isalnum() for part in tag.split("-")):
        return None
    return tag
