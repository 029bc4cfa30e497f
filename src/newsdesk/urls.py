"""URLs: one canonical form per article, and the links an HTML page declares.

``canonicalize`` is deliberately conservative: it only removes what never changes the
page a URL points to (tracking parameters, fragments, default ports, AMP wrappers). It
keeps ``www.``, trailing slashes, ``index.html`` and percent-encoding as they are, because
sites differ on whether those matter.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from lxml.html import HtmlElement

from newsdesk.sanitize import parse_html

# Query parameters that only say where a click came from. Matched case-insensitively on
# the decoded name; "utm_" and friends by prefix.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "mc_cid", "mc_eid", "ref", "ref_src", "ref_url",
        "igshid", "igsh", "_hsenc", "_hsmi", "si", "spm", "scm", "_ga", "_gl", "mkt_tok",
        "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid",
        "cmpid", "wt.mc_id", "trk", "trkcampaign", "sr_share",
    }
)  # fmt: skip
# ?amp=1 or a bare ?amp asks for the AMP rendering of the same page.
AMP_PARAMS = frozenset({"amp"})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"

FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json"}
)


def canonicalize(url: str) -> str:
    """The canonical form of an http(s) URL; other URLs come back only stripped.

    Lower-cases scheme and host, drops default ports, the fragment, tracking parameters
    (other parameters keep their order and encoding) and AMP forms: an ``amp`` path
    segment, an ``amp`` parameter, an ``amp.`` host prefix and Google's AMP cache
    (``https://x.cdn.ampproject.org/c/s/host/path`` is ``https://host/path``).
    Idempotent: ``canonicalize(canonicalize(u)) == canonicalize(u)``.
    """
    url = url.strip()
    # A loop, not recursion: AMP cache URLs can nest, and dropping the fragment or the last
    # parameters can leave whitespace at the end, which a second call would strip.
    while True:
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.netloc:
            return url

        userinfo, _, hostport = parts.netloc.rpartition("@")
        host, port = _canonical_host_port(hostport, scheme)
        if not host:  # "http://:80//x": no host to make canonical
            return url
        path = _drop_amp_segments(parts.path) or "/"
        if host.endswith(_AMP_CACHE_SUFFIX):
            # The path without its amp segments: that is what the next call would see.
            unwrapped = _unwrap_amp_cache(path, parts.query)
            if unwrapped is not None:
                url = unwrapped.strip()
                continue
        netloc = (userinfo + "@" if userinfo else "") + host + (":" + port if port else "")
        query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
        canonical = urlunsplit((scheme, netloc, path, query, ""))
        if canonical == canonical.rstrip():
            return canonical
        url = canonical.rstrip()


def _canonical_host_port(hostport: str, scheme: str) -> tuple[str, str]:
    """The lower-cased host without trailing dots or ``amp.``, and the port unless default.

    Repeated until nothing changes: a malformed host such as ``a:80:`` or ``a:80.`` hides
    a port that shows only once the first is gone, and the canonical form must split the
    same way again. Every pass after the first only removes characters, so this ends.
    """
    while True:
        host, port = _split_host_port(hostport)
        host = host.lower().rstrip(".")
        while host.startswith("amp.") and host.count(".") >= 2:
            host = host[len("amp.") :]
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
        again = host + (":" + port if port else "")
        if again == hostport:
            return host, port
        hostport = again


def _split_host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end != -1:
            rest = hostport[end + 1 :]
            return hostport[: end + 1], rest[1:] if rest.startswith(":") else ""
        return hostport, ""
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit():
        return host, port
    if sep and not port:  # "host:" means the default port
        return host, ""
    return hostport, ""


def _unwrap_amp_cache(path: str, query: str) -> str | None:
    # /c/s/host/path is an https origin, /c/host/path an http one; /v/ is the viewer form.
    segments = path.split("/", 4)
    if len(segments) < 3 or segments[1] not in {"c", "v"}:
        return None
    if segments[2] == "s":
        scheme, rest = "https", "/".join(segments[3:])
    else:
        scheme, rest = "http", "/".join(segments[2:])
    if not rest or rest.startswith("/"):
        return None
    url = f"{scheme}://{rest}" + (f"?{query}" if query else "")
    try:
        host = urlsplit(url).hostname
    except ValueError:  # /c/s/[::1/ wraps no URL
        return None
    return url if host else None


def _drop_amp_segments(path: str) -> str:
    if "amp" not in path.lower():
        return path
    return "/".join(s for s in path.split("/") if s.lower() != "amp")


def _is_tracking(pair: str) -> bool:
    name = unquote(pair.partition("=")[0]).strip().lower()
    return name in TRACKING_PARAMS or name in AMP_PARAMS or name.startswith(TRACKING_PREFIXES)


def _base_of(root: HtmlElement, base_url: str) -> str:
    # A <base href> in the page changes what its relative links mean.
    for base in root.iter("base"):
        href = (base.get("href") or "").strip()
        if href:
            try:
                return urljoin(base_url, href)
            except ValueError:
                break
    return base_url


def _rels(value: str | None) -> set[str]:
    return {token.lower() for token in (value or "").split()}


# What a URL parser takes out of a URL wherever it is (the WHATWG URL standard, and
# urlsplit): a link written over two lines is one link, "htt\np://a.example/" an http URL.
_URL_BREAKS = re.compile(r"[\t\n\r]")


def without_breaks(url: str) -> str:
    """``url`` without the tabs and line breaks that parsers drop from it, so that the URL
    a source adapter keeps is the one its scheme check saw."""
    return _URL_BREAKS.sub("", url) if _URL_BREAKS.search(url) else url


def web_url(href: str | None, base: str | None = None) -> str | None:
    """``href`` as an absolute http(s) URL with a host, made absolute against ``base`` when
    it is relative; None for anything else: "", "javascript:...", "mailto:...", a relative
    link without a base, a broken IPv6 host ("http://[::1"). The one check of every link a
    source or a page gives."""
    href = without_breaks(href or "").strip()
    if not href:
        return None
    try:
        # The common cases without urljoin's cost (a third of a Reddit dump's import).
        if href[:8].lower().startswith(("https://", "http://")) or not base:
            url = href
        elif href[0] == "/" and href[:2] != "//":
            root = urlsplit(base)
            url = f"{root.scheme}://{root.netloc}{href}"
        else:
            url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in _DEFAULT_PORTS and parts.hostname else None


def find_canonical_link(html: str, base_url: str) -> str | None:
    """The absolute URL of the page's ``<link rel="canonical">``, or None."""
    root = parse_html(html)
    if root is None:
        return None
    base = _base_of(root, base_url)
    for link in root.iter("link"):
        if "canonical" in _rels(link.get("rel")):
            url = web_url(link.get("href"), base)
            if url:
                return url
    return None


def discover_feeds(html: str, base_url: str) -> list[str]:
    """The feeds a page announces with ``<link rel="alternate" type="...">``.

    RSS, Atom and JSON Feed types; absolute URLs in document order, without repeats.
    """
    root = parse_html(html)
    if root is None:
        return []
    base = _base_of(root, base_url)
    found: list[str] = []
    for link in root.iter("link"):
        media_type = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in _rels(link.get("rel")) or media_type not in FEED_TYPES:
            continue
        url = web_url(link.get("href"), base)
        if url and url not in found:
            found.append(url)
    return found
