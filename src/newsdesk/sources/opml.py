"""OPML: the subscription lists feed readers import and export.

Reading is lenient (nested folders, odd attribute case, broken markup recovered) and
safe: no entity expansion, no DTD, no network, so a billion-laughs file stays small.
"""

from __future__ import annotations

import re
from email.utils import format_datetime

from lxml import etree

from newsdesk.exceptions import ParseError
from newsdesk.models import utcnow

_WHAT = "OPML document"
# XML 1.0 forbids these characters; a name that carries one would make lxml refuse to write.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def read_opml(data: bytes) -> list[tuple[str, str | None]]:
    """The feeds an OPML file lists, as (xmlUrl, title) pairs in document order.

    Outlines nested in folders are included; repeated URLs are kept once; outlines
    without an http(s) xmlUrl are skipped.

    Raises:
        ParseError: ``data`` is not XML at all, or declares entities.
    """
    # OPML has no use for entities; refusing them (as defusedxml does) is simpler than
    # trusting every parser's amplification limits. NULs dropped to see UTF-16 text too.
    if b"<!entity" in data.replace(b"\x00", b"").lower():
        raise ParseError(_WHAT, "refused: the document declares XML entities")
    try:
        root = etree.fromstring(data, parser=_parser())
    except (etree.LxmlError, ValueError) as e:
        raise ParseError(_WHAT, f"not OPML: {e}") from e
    if root is None:
        raise ParseError(_WHAT, "not OPML: no XML element found")

    feeds: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for outline in root.iter("{*}outline"):
        attributes = {str(k).lower(): str(v) for k, v in outline.attrib.items()}
        url = attributes.get("xmlurl", "").strip()
        if not url.lower().startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        title = (attributes.get("title") or attributes.get("text") or "").strip()
        feeds.append((url, title or None))
    return feeds


def write_opml(sources: list[tuple[str, str]], title: str = "newsdesk sources") -> bytes:
    """An OPML 2.0 document listing ``sources``, given as (url, name) pairs."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = _NOT_XML.sub("", title)
    etree.SubElement(head, "dateCreated").text = format_datetime(utcnow(), usegmt=True)
    body = etree.SubElement(opml, "body")
    for url, name in sources:
        name = _NOT_XML.sub("", name)
        etree.SubElement(
            body, "outline", type="rss", text=name, title=name, xmlUrl=_NOT_XML.sub("", url)
        )
    return bytes(etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True))
