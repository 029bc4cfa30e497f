"""HTML from the outside world: sanitized before it is stored or shown, flattened to text.

Every piece of HTML newsdesk keeps (feed content, extracted articles) goes through
``sanitize_html``: a small allow-list of content tags, no scripts, styles, frames, event
handlers or non-http(s)/mailto URLs. ``html_to_text`` gives the readable text with its
paragraph breaks, for search, clustering and the model. ``clean_text`` takes out what no
store or XML document can hold (NUL and the other control characters, lone surrogates); the
source parsers pass the strings of JSON and XML documents through it.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
import nh3

TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl",
        "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "strong",
        "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Dropped with everything inside them, not just unwrapped: their content is code or chrome.
DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "noscript", "noembed", "noframes",
        "template", "object", "embed", "applet", "svg", "math", "title", "textarea", "select",
    }
)  # fmt: skip

_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes=ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
)


# What no store or XML document can hold: the C0 controls but tab, newline and carriage
# return (PostgreSQL refuses NUL, XML 1.0 all of them, and newsdesk writes feeds), U+FFFE and
# U+FFFF, and lone surrogates, which JSON's "\ud800" escapes make and UTF-8 cannot encode.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` fit to store and to write into XML: without control characters (tab,
    newline and carriage return stay) or noncharacters, lone surrogates made U+FFFD."""
    if _NOT_TEXT.search(value) is None:
        return value
    return _NOT_TEXT.sub("", _SURROGATE.sub("\ufffd", value))


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Keep the content tags of ``html`` and nothing that can run, load or track.

    Args:
        html: An HTML fragment or document from an untrusted source.
        base_url: When an absolute http(s) URL, relative links and image sources are
            resolved against it; otherwise they are kept as they are.

    Returns:
        A sanitized HTML fragment ("" for empty input).
    """
    if not html or not html.strip():
        return ""
    html = clean_text(html)  # nh3 refuses lone surrogates
    cleaned = None
    if base_url and _is_web_url(base_url):
        # ValueError: a base nh3 cannot parse; then relative URLs are left alone.
        with contextlib.suppress(ValueError):
            cleaned = nh3.clean(
                html,
                tags=set(TAGS),
                clean_content_tags=set(DROP_WITH_CONTENT),
                attributes=ATTRIBUTES,
                url_schemes=set(URL_SCHEMES),
                link_rel=LINK_REL,
                url_relative=("rewrite_with_base", base_url),
            )
    if cleaned is None:
        cleaned = _CLEANER.clean(html)
    # A character reference ("&#1;", "&#65534;") comes out as the character itself.
    return clean_text(cleaned).strip()


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.netloc)


def parse_html(html: str) -> lxml.html.HtmlElement | None:
    """Parse an HTML document or fragment leniently; None when there is nothing to parse.

    The text is handed to libxml2 as UTF-8 bytes so that an ``<?xml encoding=...?>``
    declaration inside a str cannot make lxml refuse it.
    """
    if not html or not html.strip():
        return None
    parser = lxml.html.HTMLParser(
        encoding="utf-8", recover=True, no_network=True, remove_comments=True, remove_pis=True
    )
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.LxmlError, ValueError):
        return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


# Elements that start a new paragraph in the text, and those that only start a new line.
_PARAGRAPH = frozenset(
    {
        "address", "article", "aside", "blockquote", "dl", "div", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre",
        "section", "table", "ul", "details", "fieldset",
    }
)  # fmt: skip
_LINE = frozenset({"li", "tr", "dt", "dd", "figcaption", "caption", "summary"})
_CELL = frozenset({"td", "th"})
_SKIP = DROP_WITH_CONTENT | {"head"}

# Markers while building the text: a paragraph break, the end of a line-level element, a <br>
# (two in a row make a paragraph break), a line break inside <pre> (after which the
# indentation is kept), and a space and a tab inside <pre> (which survive the collapse of
# whitespace). They are private-use characters, which libxml2 accepts in text; any in the
# input are removed first, with the control characters, so that none can pass for a marker.
_PARA, _NL, _BR, _PRE_NL, _PRE_SPACE, _PRE_TAB = (
    "\ue000",
    "\ue001",
    "\ue002",
    "\ue003",
    "\ue004",
    "\ue005",
)
_UNWANTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000-\ue005]")
_BREAKS = re.compile(r"[ \t]*([\ue000-\ue003][ \t\ue000-\ue003]*)")


def html_to_text(html: str) -> str:
    """The readable text of ``html``: paragraphs separated by a blank line, lines by one
    newline, runs of spaces collapsed, scripts and styles left out."""
    root = parse_html(_UNWANTED.sub("", html))
    if root is None:
        return ""
    # The markers go into the tree itself and the text comes out in one itertext() pass:
    # visiting every node from Python was most of the cost of ingesting full-content feeds.
    lxml.etree.strip_elements(root, *_SKIP, with_tail=False)
    for el in root.iter(*_PARAGRAPH):
        _mark(el, _PARA, _PARA)
    for el in root.iter(*_LINE):
        _mark(el, _NL, _NL)
    for el in root.iter(*_CELL):
        _mark(el, "", " ")
    for el in root.iter("br"):
        _mark(el, "", _BR)
    for pre in root.iter("pre"):
        for node in pre.iter():
            if node.text:
                node.text = _keep_pre(node.text)
            if node is not pre and node.tail:
                node.tail = _keep_pre(node.tail)
                if node.tag == "br":  # its tail starts with the _BR marked above
                    node.tail = _PRE_NL + node.tail[1:]
    text = " ".join("".join(root.itertext()).split())  # collapses whitespace, much faster than re
    text = _BREAKS.sub(_join_breaks, text)
    # clean_text: what character references ("&#65534;") gave in elements left unmarked.
    return clean_text(text.replace(_PRE_SPACE, " ").replace(_PRE_TAB, "\t")).strip()


def _mark(el: lxml.html.HtmlElement, start: str, end: str) -> None:
    # clean_text: libxml2 decodes "&#1;" to a control character that lxml then refuses to
    # set (ValueError); _UNWANTED ran before the references were decoded.
    if start:
        el.text = start + clean_text(el.text or "")
    el.tail = end + clean_text(el.tail or "")


def _keep_pre(text: str) -> str:
    """Text inside <pre>: its spaces, tabs and newlines survive the final collapse."""
    return (
        clean_text(text)
        .replace("\r\n", "\n")
        .replace("\n", _PRE_NL)
        .replace(" ", _PRE_SPACE)
        .replace("\t", _PRE_TAB)
    )


def _join_breaks(match: re.Match[str]) -> str:
    marks = match.group(1)
    if _PARA in marks or marks.count(_BR) + marks.count(_PRE_NL) > 1:
        # Keep the indentation that follows a line break inside <pre>.
        return "\n\n" + _trailing_indent(marks)
    return "\n" + _trailing_indent(marks)


def _trailing_indent(marks: str) -> str:
    if marks.rstrip(" \t").endswith(_PRE_NL):
        return marks[len(marks.rstrip(" \t")) :]
    return ""
