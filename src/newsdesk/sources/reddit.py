"""Reddit subreddits through Reddit's public JSON API.

Parsing is pure: ``parse_listing``, ``parse_thread`` and ``parse_post`` turn API answers into
``RedditPost`` / ``RedditComment``; ``adapt_post`` turns a post into an ``Item``;
``iter_dump`` reads archive dumps (one t3 object per line). ``RedditKind.fetch`` does the I/O.

Reddit answers in two encodings. With ``raw_json=1`` (what ``fetch`` asks for) strings are
plain. Without it, the legacy encoding HTML-escapes ``&``, ``<`` and ``>`` in every string
(titles, markdown, urls) and double-escapes ``selftext_html``. Archives scraped without
``raw_json`` carry the legacy form, so the parsers detect it and undo it.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from newsdesk.exceptions import FetchError, ParseError
from newsdesk.models import Item
from newsdesk.sanitize import clean_text, sanitize_html
from newsdesk.sources import FetchResult, SourceKind, SourceSpec, conditional_get, register
from newsdesk.urls import canonicalize, web_url

if TYPE_CHECKING:
    from newsdesk.fetch import Fetcher
    from newsdesk.models import Source
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

WEB_BASE = "https://www.reddit.com"
LISTINGS = ("new", "hot", "top")
DEFAULT_LISTING = "new"
PAGE_SIZE = 100

_NAME = r"[A-Za-z0-9][A-Za-z0-9_]{1,20}"
_SHORT_SPEC = re.compile(rf"^(?:reddit:|/?r/)(?P<name>{_NAME})(?:/(?P<listing>[a-z]+))?/?$")
_URL_PATH = re.compile(rf"^/r/(?P<name>{_NAME})(?:/(?P<listing>[a-z]+)(?:\.json)?)?/?$")
_REDDIT_HOSTS = (
    "reddit.com", "www.reddit.com", "old.reddit.com", "new.reddit.com", "np.reddit.com",
)  # fmt: skip

# Link posts whose target is media or a page that renders only with JavaScript: article
# extraction would get nothing useful out of them.
_NO_ARTICLE_HOSTS = (
    "reddit.com", "redd.it", "redditmedia.com", "imgur.com", "youtube.com", "youtu.be", "x.com",
    "twitter.com", "streamable.com", "gfycat.com", "giphy.com", "tiktok.com", "instagram.com",
)  # fmt: skip
_MEDIA_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".svg", ".mp4", ".webm", ".mov", ".mp3",
    ".wav", ".pdf",
)  # fmt: skip
_MEDIA_HINTS = ("image", "hosted:video", "rich:video")
_GONE = ("[deleted]", "[removed]")


@dataclass
class RedditComment:
    """A top-level comment (t1) of a thread."""

    id: str
    author: str | None
    score: int
    body: str  # markdown, unescaped
    created: datetime | None
    stickied: bool = False


@dataclass
class RedditPost:
    """The fields of a t3 object that newsdesk uses."""

    id: str
    name: str  # "t3_<id>", Reddit's global id
    subreddit: str
    title: str
    author: str | None
    created: datetime | None
    permalink: str  # absolute https://www.reddit.com/r/.../comments/...
    url: str  # the linked URL; the permalink for self posts
    domain: str
    is_self: bool
    selftext: str = ""
    selftext_html: str = ""  # unescaped HTML, not yet sanitized
    score: int = 0
    num_comments: int = 0
    flair: str | None = None
    post_hint: str | None = None
    is_video: bool = False
    is_gallery: bool = False
    over_18: bool = False
    stickied: bool = False
    comments: list[RedditComment] = field(default_factory=list)

    @property
    def is_article_link(self) -> bool:
        """A link post whose target is an article worth extracting."""
        if self.is_self or self.is_video or self.is_gallery or self.post_hint in _MEDIA_HINTS:
            return False
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        host = parts.hostname.lower()
        if any(host == h or host.endswith("." + h) for h in _NO_ARTICLE_HOSTS):
            return False
        return not parts.path.lower().endswith(_MEDIA_SUFFIXES)


@dataclass
class Listing:
    """One page of a subreddit listing; ``after`` is the cursor of the next page."""

    posts: list[RedditPost]
    after: str | None
    warnings: list[str] = field(default_factory=list)


# --- parsing -----------------------------------------------------------------------------


def _load_json(data: bytes | str | Any, url: str) -> Any:
    if not isinstance(data, bytes | str):
        return data
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:  # ValueError: also a 5,000-digit number
        raise ParseError(url, f"not JSON: {e}") from e


def _unwrap(obj: Any, kind: str) -> Mapping[str, Any] | None:
    """The data dict of a ``{"kind": kind, "data": {...}}`` thing, or a bare data dict."""
    if not isinstance(obj, Mapping):
        return None
    if "kind" in obj and "data" in obj:
        data = obj["data"]
        return data if obj["kind"] == kind and isinstance(data, Mapping) else None
    return obj


def looks_escaped(data: Mapping[str, Any]) -> bool:
    """Whether a post or comment came in the legacy (non-``raw_json``) encoding."""
    for key in ("selftext_html", "body_html"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value.startswith("&lt;")
    # Link posts have no selftext_html; preview image URLs always carry a query string.
    preview = data.get("preview")
    if isinstance(preview, Mapping) and isinstance(preview.get("images"), list):
        for image in preview["images"]:
            source = image.get("source") if isinstance(image, Mapping) else None
            if isinstance(source, Mapping) and "&amp;" in str(source.get("url", "")):
                return True
    thumbnail = data.get("thumbnail")
    return isinstance(thumbnail, str) and "&amp;" in thumbnail


def _text(data: Mapping[str, Any], key: str, escaped: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    return clean_text(html.unescape(value) if escaped else value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    return 0


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # NaN, inf, past the year 9999
            return None
    return None


def _author(data: Mapping[str, Any]) -> str | None:
    author = _text(data, "author")
    return author if author and author not in _GONE else None


def parse_post(obj: Mapping[str, Any], *, escaped: bool | None = None) -> RedditPost:
    """Parse one t3 object (``{"kind": "t3", "data": {...}}`` or the bare data dict).

    Args:
        obj: the t3 thing.
        escaped: whether strings are in the legacy encoding; None detects it from the post.

    Raises:
        ParseError: the object is not a t3 or lacks its id.
    """
    data = _unwrap(obj, "t3")
    if data is None:
        raise ParseError("reddit post", "not a t3 object")
    post_id = _text(data, "id")
    if not post_id:
        raise ParseError("reddit post", "t3 object without an id")
    if escaped is None:
        escaped = looks_escaped(data)
    permalink = (
        web_url(_text(data, "permalink", escaped), WEB_BASE) or f"{WEB_BASE}/comments/{post_id}/"
    )
    is_self = bool(data.get("is_self"))
    # Crossposts and some link posts carry a relative url ("/r/x/comments/...").
    url = web_url(_text(data, "url", escaped), WEB_BASE) or permalink
    selftext = _text(data, "selftext", escaped)
    body_html = _text(data, "selftext_html")
    if body_html.startswith("&lt;"):
        # Legacy encoding: the HTML itself is escaped once (its text twice).
        body_html = html.unescape(body_html)
    flair = _text(data, "link_flair_text", escaped) or None
    return RedditPost(
        id=post_id,
        name=_text(data, "name") or f"t3_{post_id}",
        subreddit=_text(data, "subreddit"),
        title=_text(data, "title", escaped).strip(),
        author=_author(data),
        created=_time(data.get("created_utc")),
        permalink=permalink,
        url=permalink if is_self else url,
        domain=_text(data, "domain"),
        is_self=is_self,
        selftext="" if selftext in _GONE else selftext,
        selftext_html="" if selftext in _GONE else body_html,
        score=_int(data.get("score")),
        num_comments=_int(data.get("num_comments")),
        flair=flair,
        post_hint=_text(data, "post_hint") or None,
        is_video=bool(data.get("is_video")),
        is_gallery=bool(data.get("is_gallery")),
        over_18=bool(data.get("over_18")),
        stickied=bool(data.get("stickied")),
    )


def parse_listing(data: bytes | str | Mapping[str, Any], url: str) -> Listing:
    """Parse a Listing answer (``/r/NAME/new.json``).

    Children that are not t3 are ignored; a malformed t3 is skipped with a warning.

    Raises:
        ParseError: the document is not JSON or not a Listing.
    """
    doc = _load_json(data, url)
    body = _unwrap(doc, "Listing")
    if body is None or not isinstance(body.get("children"), list):
        raise ParseError(url, "not a Reddit Listing (no data.children)")
    children = [c for c in body["children"] if isinstance(c, Mapping) and c.get("kind") == "t3"]
    # One scrape uses one encoding: decide for the page, so link posts (which carry few
    # signals of their own) follow their self-post neighbours.
    escaped = any(looks_escaped(_unwrap(c, "t3") or {}) for c in children)
    posts: list[RedditPost] = []
    warnings: list[str] = []
    for index, child in enumerate(children):
        try:
            posts.append(parse_post(child, escaped=escaped))
        except ParseError as e:
            warnings.append(f"{url}: child {index}: {e}")
    after = body.get("after")
    return Listing(posts, after if isinstance(after, str) and after else None, warnings)


def parse_comment(obj: Mapping[str, Any], *, escaped: bool | None = None) -> RedditComment | None:
    """Parse one t1 object; None for a "more" stub, a non-t1 thing or a comment without id."""
    data = _unwrap(obj, "t1")
    if data is None or not _text(data, "id"):
        return None
    if escaped is None:
        escaped = looks_escaped(data)
    return RedditComment(
        id=_text(data, "id"),
        author=_author(data),
        score=_int(data.get("score")),
        body=_text(data, "body", escaped).strip(),
        created=_time(data.get("created_utc")),
        stickied=bool(data.get("stickied")),
    )


def parse_thread(
    data: bytes | str | Sequence[Any], url: str, *, limit: int | None = None
) -> tuple[RedditPost, list[RedditComment]]:
    """Parse a thread answer (``/comments/ID.json``): the post and its top-level comments.

    Comments come highest score first; "more" stubs, deleted or removed comments and
    stickied ones (moderator notices) are left out.

    Args:
        data: the JSON answer, a list of two Listings (post, comments).
        url: where it came from, for error messages.
        limit: keep at most this many comments (None: all).

    Raises:
        ParseError: the document is not a thread answer.
    """
    doc = _load_json(data, url)
    if not isinstance(doc, list) or len(doc) < 2:
        raise ParseError(url, "not a Reddit thread (expected [post listing, comment listing])")
    listing = parse_listing(doc[0], url)
    if not listing.posts:
        raise ParseError(url, "thread without its post")
    body = _unwrap(doc[1], "Listing")
    children = body.get("children") if body is not None else None
    if not isinstance(children, list):
        raise ParseError(url, "thread without a comment listing")
    things = [c for c in children if isinstance(c, Mapping) and c.get("kind") == "t1"]
    escaped = any(looks_escaped(_unwrap(c, "t1") or {}) for c in things)
    comments = [
        c
        for c in (parse_comment(thing, escaped=escaped) for thing in things)
        if c is not None and c.body and c.body not in _GONE and not c.stickied
    ]
    comments.sort(key=lambda c: c.score, reverse=True)
    return listing.posts[0], comments if limit is None else comments[:limit]


def iter_dump(path: Path) -> Iterator[RedditPost | ParseError]:
    """Read an archive dump: one t3 object per line, ``.jsonl`` or ``.jsonl.gz``.

    Yields a ``RedditPost`` per good line and a ``ParseError`` (url ``PATH:LINE``) per bad
    one, so one malformed line does not cost the rest of the file. Blank lines are skipped.

    Raises:
        ParseError: the file cannot be opened or read (missing, corrupt gzip, not UTF-8).
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    escaped: bool | None = None
    lineno = 0
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for lineno, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    obj = json.loads(line)
                except ValueError as e:  # JSONDecodeError, or a 5,000-digit number
                    yield ParseError(where, f"not JSON: {e}")
                    continue
                if not isinstance(obj, Mapping):
                    yield ParseError(where, "not a t3 object")
                    continue
                # A dump comes from one scraper: once a line shows the legacy encoding,
                # later link posts without signals of their own are taken to share it.
                data = _unwrap(obj, "t3") or {}
                if not escaped and looks_escaped(data):
                    escaped = True
                try:
                    yield parse_post(obj, escaped=escaped or None)
                except ParseError as e:
                    yield ParseError(where, str(e))
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ParseError(str(path), f"unreadable after line {lineno}: {e}") from e


# --- adapting ----------------------------------------------------------------------------


def adapt_post(post: RedditPost, comments: Sequence[RedditComment] | None = None) -> Item:
    """The Item of a post; ``comments`` default to those attached to the post."""
    kept = post.comments if comments is None else comments
    return Item(
        external_id=f"reddit:{post.name}",
        title=post.title,
        url=post.url,
        canonical_url=canonicalize(post.url),
        author=post.author,
        published_at=post.created,
        text=post.selftext,
        html=sanitize_html(post.selftext_html, base_url=post.permalink)
        if post.selftext_html
        else "",
        score=post.score,
        comment_count=post.num_comments,
        comments=[{"id": c.id, "author": c.author, "score": c.score, "text": c.body} for c in kept],
        needs_extraction=post.is_article_link,
    )


# --- reading a post's markdown -----------------------------------------------------------

# Addresses of Reddit's own media, which a post's text carries for its images and videos
# ("https://preview.redd.it/....png?width=1920&format=png&auto=webp&s=a95279..."): a
# reader follows the post's link to see them; as words they say nothing.
_MEDIA = re.compile(
    r"https?://(?:(?:preview|i|v|external-preview)\.redd\.it|(?:www\.)?reddit\.com/link)/[^\s)\]]*"
)


_SPACES = re.compile(r"[ \t]+")


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # No reference definitions: "[EDIT]: fixed" is a line of the post (none of the 3,300
    # recorded posts defines a reference). Nesting deeper than the preset's 20 is read too.
    return (
        MarkdownIt("commonmark", {"html": False, "maxNesting": 100})
        .enable(["table", "strikethrough"])
        .disable("reference")
    )


def markdown_text(markdown: str) -> str:
    """A post's markdown as plain text, as ``sanitize.html_to_text`` gives other sources'
    HTML: a link's text without its address ("[llama.cpp](https://...)" reads "llama.cpp"),
    no images, emphasis marks or escapes, a table's rows as lines of cells between "|", a
    list's items as lines that start with "- " (or their number), paragraphs apart by a
    blank line, code as written; addresses of Reddit's own images and videos left out
    (from code too). Markdown-it parses it (without HTML: a post's "<b>" stays text)."""
    blocks: list[str] = []
    lines: list[str] = []  # of the table or list being read: one block, a line each
    depth = 0  # of tables and lists
    row: list[str] | None = None
    bullet = ""
    for token in _markdown().parse(markdown):
        kind = token.type
        if kind in ("table_open", "bullet_list_open", "ordered_list_open"):
            depth += 1
        elif kind in ("table_close", "bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0 and lines:
                blocks.append("\n".join(lines))
                lines = []
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            lines.append("| " + " | ".join(row) + " |")
            row = None
        elif kind == "list_item_open":  # "1." or "1)" in an ordered list
            bullet = f"{token.info}{token.markup} " if token.info else "- "
        elif kind == "list_item_close":  # an item without text leaves no bullet behind
            bullet = ""
        elif kind == "inline":
            text = _MEDIA.sub("", _inline_text(token.children or []))
            text = _SPACES.sub(" ", text).strip(" \n\u200b")
            if row is not None:
                row.append(" ".join(text.split()))
            elif text:
                (lines if depth else blocks).append(bullet + text)
            bullet = ""
        elif kind in ("fence", "code_block") and token.content.strip():
            (lines if depth else blocks).append(_MEDIA.sub("", token.content).rstrip("\n"))
    return "\n\n".join(blocks)


def _inline_text(children: Sequence[Any]) -> str:
    out: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif child.type == "softbreak":  # a line's end in a paragraph: a space, as in HTML
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
    return "".join(out)


# --- the source kind ---------------------------------------------------------------------


def _parse_target(spec: str) -> tuple[str, str] | None:
    """(subreddit, listing) of a spec or stored url, or None when it is not a subreddit."""
    match = _SHORT_SPEC.match(spec)
    if match is None and spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if (parts.hostname or "").lower() in _REDDIT_HOSTS:
            match = _URL_PATH.match(parts.path)
    if match is None:
        return None
    listing = match.group("listing") or DEFAULT_LISTING
    if listing not in LISTINGS:
        return None
    return match.group("name"), listing


@register
class RedditKind(SourceKind):
    kind = "reddit"
    emoji = "👽"
    label = "Reddit"

    @staticmethod
    def readable(text: str) -> str:
        """A post's text is its markdown: read as plain text."""
        return markdown_text(text)

    @classmethod
    def parse_spec(cls, spec: str, settings: Settings) -> SourceSpec | None:
        """``reddit:NAME``, ``reddit:NAME/top``, ``r/NAME`` or a reddit.com/r/NAME URL."""
        target = _parse_target(spec.strip())
        if target is None:
            return None
        name, listing = target
        return SourceSpec(kind=cls.kind, url=f"{WEB_BASE}/r/{name}/{listing}", name=f"r/{name}")

    async def fetch(self, source: Source, fetcher: Fetcher, settings: Settings) -> FetchResult:
        target = _parse_target(source.url)
        if target is None:
            raise ParseError(source.url, "not a subreddit URL: re-add it as reddit:NAME")
        name, listing = target
        base = str(settings.reddit_base_url).rstrip("/")
        first = f"{base}/r/{name}/{listing}.json?limit={PAGE_SIZE}&raw_json=1"
        if listing == "top":
            first += "&t=day"

        # Only the first page is conditional: the later ones exist only when it changed.
        response, result = await conditional_get(fetcher, source, first, "application/json")
        if result.not_modified:
            return result
        posts: dict[str, RedditPost] = {}
        seen_cursors: set[str] = set()
        url = first
        for page in range(max(1, int(settings.reddit_pages))):
            if page:
                response = await fetcher.get(url, accept="application/json")
            parsed = parse_listing(response.content, url)
            result.warnings.extend(parsed.warnings)
            for post in parsed.posts:
                posts.setdefault(post.name, post)  # pages shift while we read them
            cursor = parsed.after
            if not parsed.posts or cursor is None or cursor in seen_cursors:
                break
            seen_cursors.add(cursor)
            url = f"{first}&after={cursor}"

        threads = int(settings.reddit_comment_threads)
        if threads > 0 and posts:
            top = sorted(posts.values(), key=lambda p: p.score, reverse=True)[:threads]
            keep = int(settings.reddit_top_comments)
            for post in top:
                thread_url = (
                    f"{base}/comments/{post.id}.json?limit={max(keep * 2, 10)}"
                    "&depth=1&sort=top&raw_json=1"
                )
                try:
                    response = await fetcher.get(thread_url, accept="application/json")
                    _, post.comments = parse_thread(response.content, thread_url, limit=keep)
                except (FetchError, ParseError) as e:
                    log.warning(
                        "comments of %s not fetched: %s",
                        post.name,
                        e,
                        extra={"source_id": source.id, "url": thread_url},
                    )
                    result.warnings.append(f"comments of {post.permalink}: {e}")

        result.items = [adapt_post(post) for post in posts.values()]
        return result
