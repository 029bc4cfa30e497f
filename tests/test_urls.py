from __future__ import annotations

import pytest

from newsdesk.urls import canonicalize, discover_feeds, find_canonical_link


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # case, default ports, fragments
        ("HTTPS://Example.COM/Path/Page", "https://example.com/Path/Page"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com./a", "https://example.com/a"),
        ("http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"),
        # tracking parameters go, the others keep their order and encoding
        (
            "https://example.com/a?utm_source=x&id=3&UTM_Medium=y&fbclid=z&b=a+b%20c",
            "https://example.com/a?id=3&b=a+b%20c",
        ),
        ("https://example.com/a?gclid=1&mc_cid=2&mc_eid=3", "https://example.com/a"),
        ("https://example.com/a?ref=hn&ref_src=twsrc&igshid=1&si=abc", "https://example.com/a"),
        ("https://example.com/a?_hsenc=1&_hsmi=2&spm=a.b&page=2", "https://example.com/a?page=2"),
        ("https://example.com/a?%75tm_campaign=x&q=1", "https://example.com/a?q=1"),
        ("https://example.com/a?q=&&x", "https://example.com/a?q=&x"),
        # AMP forms
        ("https://example.com/amp/news/story", "https://example.com/news/story"),
        ("https://example.com/news/story/amp", "https://example.com/news/story"),
        ("https://example.com/2024/01/story/amp/", "https://example.com/2024/01/story/"),
        ("https://example.com/news/story?amp=1", "https://example.com/news/story"),
        ("https://example.com/news/story?amp&id=4", "https://example.com/news/story?id=4"),
        ("https://amp.example.com/news/story", "https://example.com/news/story"),
        ("https://amp.com/news", "https://amp.com/news"),
        ("https://example.com/amplify/ampere", "https://example.com/amplify/ampere"),
        (
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story?id=1",
            "https://www.example.com/news/story?id=1",
        ),
        (
            "https://example-com.cdn.ampproject.org/c/example.com/amp/story",
            "http://example.com/story",
        ),
        # conservative: www, trailing slashes and index.html stay
        ("https://www.example.com/blog/", "https://www.example.com/blog/"),
        ("https://example.com/index.html", "https://example.com/index.html"),
        # not http(s), or not a URL: only stripped
        ("  mailto:someone@example.com ", "mailto:someone@example.com"),
        ("http://[broken", "http://[broken"),
        ("not a url", "not a url"),
    ],
)
def test_canonicalize(url: str, canonical: str) -> None:
    assert canonicalize(url) == canonical
    assert canonicalize(canonical) == canonical  # idempotent


def test_find_canonical_link() -> None:
    page = (
        '<html><head><link rel="stylesheet" href="/s.css">'
        '<link rel="Canonical" href="/news/1?x=1"></head><body></body></html>'
    )
    assert find_canonical_link(page, "https://example.com/amp/news/1") == (
        "https://example.com/news/1?x=1"
    )
    base = '<head><base href="https://cdn.example/"><link rel=canonical href="p/2"></head>'
    assert find_canonical_link(base, "https://example.com/") == "https://cdn.example/p/2"
    assert (
        find_canonical_link('<link rel="canonical" href="javascript:x">', "https://e.com/") is None
    )
    assert find_canonical_link("<p>no head</p>", "https://example.com/") is None
    assert find_canonical_link("", "https://example.com/") is None


def test_discover_feeds() -> None:
    page = """<!doctype html><html><head>
      <link rel="alternate" type="application/rss+xml" href="/feed.xml">
      <link rel="alternate" hreflang="fr" href="/fr/">
      <link rel="stylesheet" type="text/css" href="/style.css">
      <link rel="alternate" type="application/atom+xml; charset=utf-8" href="atom.xml">
      <link rel="alternate" type="application/feed+json" href="https://feeds.example/f.json">
      <link rel="ALTERNATE" type="APPLICATION/JSON" href="/feed.json">
      <link rel="alternate" type="application/rss+xml" href="/feed.xml">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body><link rel="alternate" type="application/rss+xml" href="/comments.xml">
    </body></html>"""
    assert discover_feeds(page, "https://blog.example/posts/") == [
        "https://blog.example/feed.xml",
        "https://blog.example/posts/atom.xml",
        "https://feeds.example/f.json",
        "https://blog.example/feed.json",
        "https://blog.example/comments.xml",
    ]
    assert discover_feeds("<html><head></head></html>", "https://blog.example/") == []
    assert discover_feeds("\x00garbage<<", "https://blog.example/") == []
