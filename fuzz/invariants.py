"""What every adapted ``Item`` must satisfy, whatever the document it came from, and which
ParseErrors only hide a bug.

Shared by the atheris harnesses beside this file and by tests/test_fuzz.py, so that the
coverage-guided fuzzer and the hypothesis properties check the same things.

``parse_feed`` and ``adapt`` of sources/feed.py catch every exception, so that one hostile
document cannot stop an update. What these catch-alls wrap is fine when it came from inside
feedparser (which hostile input can break), and a bug when it came from newsdesk's own
code, which must handle what it is given. Other ParseErrors with a cause (``raise
ParseError(...) from e`` of a JSONDecodeError) are the parsers saying "not JSON" on purpose.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from types import TracebackType
from urllib.parse import urlsplit

from newsdesk.exceptions import ParseError
from newsdesk.models import Item
from newsdesk.sanitize import ATTRIBUTES, TAGS, URL_SCHEMES, parse_html
from newsdesk.urls import canonicalize

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# nh3 adds rel to links (sanitize.LINK_REL); lxml puts a fragment in a document.
_EXTRA_ATTRIBUTES = {"a": {"rel"}}
_DOCUMENT = {"html", "head", "body"}


def check_text(value: str, what: str) -> None:
    """Text that every store can keep and XML can hold (sanitize.clean_text): UTF-8
    encodable, no control character but tab, newline and carriage return."""
    assert isinstance(value, str), f"{what} is {type(value).__name__}, not str"
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError here
    bad = _NOT_XML.search(value)
    assert bad is None, f"{what} holds {bad.group()!r}"


def check_utc(value: datetime | None, what: str) -> None:
    if value is None:
        return
    assert isinstance(value, datetime), f"{what} is {type(value).__name__}"
    assert value.utcoffset() == timedelta(0), f"{what} is not timezone-aware UTC: {value!r}"


def check_web_url(value: str | None, what: str) -> None:
    if value is None:
        return
    check_text(value, what)
    assert value.lower().startswith(("http://", "https://")), f"{what} not http(s): {value!r}"
    assert urlsplit(value).netloc, f"{what} without a host: {value!r}"


def check_html(html: str) -> None:
    """Only the sanitizer's tags, attributes and URL schemes are left."""
    check_text(html, "html")
    if not html.strip():
        return
    root = parse_html(html)
    assert root is not None
    for el in root.iter():
        if el.tag in _DOCUMENT or not isinstance(el.tag, str):
            continue
        assert el.tag in TAGS, f"tag <{el.tag}> left in html"
        allowed = ATTRIBUTES.get(el.tag, set()) | _EXTRA_ATTRIBUTES.get(el.tag, set())
        for name, value in el.attrib.items():
            assert name in allowed, f"attribute {name} left on <{el.tag}>"
            # A browser drops tabs and newlines and trims spaces and controls before it
            # reads a scheme; a value with no scheme there (":", "1:2") is a relative URL.
            url = re.sub(r"[\t\n\r]", "", value).strip("\x00- ")
            scheme = _SCHEME.match(url)
            if name in {"href", "src"} and scheme:
                assert scheme[1].lower() in URL_SCHEMES, f"{name}={value[:40]!r} left in html"


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def check_item(item: Item) -> None:
    """Raise AssertionError when ``item`` breaks an invariant of the Item model."""
    assert isinstance(item, Item)
    check_text(item.external_id, "external_id")
    assert item.external_id, "empty external_id"
    check_text(item.title, "title")
    check_text(item.text, "text")
    check_html(item.html)
    check_web_url(item.url, "url")
    check_web_url(item.canonical_url, "canonical_url")
    if item.url is not None:
        assert item.canonical_url == canonicalize(item.url), "canonical_url is stale"
        assert canonicalize(item.canonical_url) == item.canonical_url, "not idempotent"
    if item.author is not None:
        check_text(item.author, "author")
    if item.language is not None:
        check_text(item.language, "language")
    check_utc(item.published_at, "published_at")
    for count in (item.score, item.comment_count):
        assert count is None or (isinstance(count, int) and not isinstance(count, bool))
    for comment in item.comments:
        check_text(comment["text"], "comment text")
    item.content_hash()


# The functions whose ``except Exception`` turns any failure into a ParseError.
CATCH_ALLS = {("sources/feed.py", "parse_feed"), ("sources/feed.py", "adapt")}
# Third-party code whose failures on hostile input those wrap on purpose.
WRAPPED_ON_PURPOSE = ("/feedparser/", "/sgmllib")


def _frames(tb: TracebackType | None) -> list[tuple[str, str]]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    return frames


def own_failure(error: ParseError) -> BaseException | None:
    """What a catch-all wrapped when it came from newsdesk's own code, else None."""
    cause = error.__cause__
    raised_in = _frames(error.__traceback__)
    if cause is None or not raised_in:
        return None
    path, function = raised_in[-1]
    if not any(path.endswith(f) and function == name for f, name in CATCH_ALLS):
        return None
    if any(part in f for f, _ in _frames(cause.__traceback__) for part in WRAPPED_ON_PURPOSE):
        return None
    return cause
