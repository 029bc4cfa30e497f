from __future__ import annotations

import io
import re
from pathlib import Path

import feedparser
import pytest

from newsdesk.sanitize import html_to_text, sanitize_html

BASE = "https://blog.example/posts/1"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>Hi<script>alert(1)</script></p>", "<p>Hi</p>"),
        ("<p>Hi</p><style>p { color: red }</style>", "<p>Hi</p>"),
        ('<iframe src="https://evil.example/">inside</iframe><p>x</p>', "<p>x</p>"),
        (
            '<img src="https://i.example/a.png" onerror="alert(1)">',
            '<img src="https://i.example/a.png">',
        ),
        ('<p onclick="x()" style="color:red" class="c" id="i">t</p>', "<p>t</p>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href="data:text/html,hi">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<img src="data:image/png;base64,AAAA" alt="a">', '<img alt="a">'),
        (
            '<a href="mailto:me@example.com" title="t" target="_blank">m</a>',
            '<a href="mailto:me@example.com" title="t" rel="noopener noreferrer nofollow">m</a>',
        ),
        ("<div><span>unwrapped</span></div>", "unwrapped"),
        (
            '<table><tr><td colspan="2" width="9">c</td></tr></table>',
            '<table><tbody><tr><td colspan="2">c</td></tr></tbody></table>',
        ),
        ("<form><input value=x><button>go</button></form><p>after</p>", "go<p>after</p>"),
        ("<!-- comment --><p>x</p>", "<p>x</p>"),
        ("", ""),
    ],
)
def test_sanitize_html(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_sanitize_resolves_relative_urls() -> None:
    html = '<a href="../other">o</a><img src="/img/a.png"><a href="#top">t</a>'
    assert sanitize_html(html, base_url=BASE) == (
        '<a href="https://blog.example/other" rel="noopener noreferrer nofollow">o</a>'
        '<img src="https://blog.example/img/a.png">'
        '<a href="https://blog.example/posts/1#top" rel="noopener noreferrer nofollow">t</a>'
    )
    # a base that is not an absolute web URL leaves relative URLs alone
    for base in (None, "not a url", "ftp://x.example/", "http://[broken"):
        assert 'src="/img/a.png"' in sanitize_html(html, base_url=base)


def test_sanitize_keeps_content_tags() -> None:
    html = (
        "<h2>T</h2><p><em>e</em> <strong>s</strong> <code>c</code></p><pre>p</pre>"
        "<blockquote>q</blockquote><ul><li>u</li></ul><ol><li>o</li></ol>"
        '<figure><img src="https://i.example/x.png" alt="x"><figcaption>f</figcaption></figure>'
        "<br><hr>"
    )
    assert sanitize_html(html) == html


def test_html_to_text() -> None:
    html = """
      <h1>Title</h1>
      <p>First   paragraph
         over two lines, <b>bold</b> &amp; <a href="/x">linked</a>.</p>
      <script>var hidden = 1;</script><style>.x {}</style>
      <ul><li>one</li><li>two</li></ul>
      <p>line<br>break<br><br>new paragraph</p>
      <pre>def f():
    return 1</pre>
      <table><tr><td>a</td><td>b</td></tr></table>
    """
    assert html_to_text(html) == (
        "Title\n\nFirst paragraph over two lines, bold & linked.\n\none\ntwo\n\n"
        "line\nbreak\n\nnew paragraph\n\ndef f():\n    return 1\n\na b"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "plain text",
        "<<<>>>",
        "\x00\x01\x02",
        "<p>unclosed",
        "&#xD800; &bogus;",
        '<?xml version="1.0" encoding="latin-1"?><p>decl</p>',
        "<" * 10_000,
    ],
)
def test_html_to_text_garbage(garbage: str) -> None:
    text = html_to_text(garbage)
    assert isinstance(text, str)
    assert "\x00" not in text and "\x01" not in text


def test_real_feed_content(shared_data: Path) -> None:
    path = shared_data / "rss-ai-feeds" / "head" / "feed_anthropic_news.xml"
    parsed = feedparser.parse(io.BytesIO(path.read_bytes()), sanitize_html=False)
    for entry in parsed.entries:
        html = entry.content[0].value
        clean = sanitize_html(html, base_url=entry.link)
        text = html_to_text(clean)
        assert "<script" not in clean and not re.search(r"<[^>]*\son\w+\s*=", clean)
        assert len(text) > 200
        assert "\n\n" in text  # paragraphs survive
        # sanitizing drops markup, not the words
        assert len(text) >= 0.95 * len(html_to_text(html))
