from __future__ import annotations

import pytest

from newsdesk.exceptions import ParseError
from newsdesk.sources.opml import read_opml, write_opml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<opml version="2.0"><head><title>&lol9;</title></head><body>
<outline text="&lol9;" title="&lol9;" xmlUrl="https://example.com/feed?x=&lol9;"/>
</body></opml>"""


def test_round_trip() -> None:
    sources = [
        ("https://blog.example/feed.xml", "A & B <blog>"),
        ("https://news.example/rss?x=1&y=2", "Nouvelles éè"),
        ("https://ctrl.example/feed", "bell\x07 name"),
    ]
    data = write_opml(sources, title="my feeds")
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"<title>my feeds</title>" in data and b'version="2.0"' in data
    assert read_opml(data) == [
        ("https://blog.example/feed.xml", "A & B <blog>"),
        ("https://news.example/rss?x=1&y=2", "Nouvelles éè"),
        ("https://ctrl.example/feed", "bell name"),
    ]
    assert read_opml(write_opml([])) == []


def test_nested_outlines() -> None:
    data = b"""<?xml version="1.0" encoding="utf-8"?>
    <opml version="1.0"><head><title>export</title></head><body>
      <outline text="Tech" title="Tech">
        <outline text="AI">
          <outline type="rss" text="Lab blog" xmlUrl="https://lab.example/rss"
                   htmlUrl="https://lab.example/"/>
        </outline>
        <outline type="rss" title="Title wins" text="text" xmlUrl="https://t.example/feed"/>
      </outline>
      <outline type="rss" XMLURL="http://caps.example/feed"/>
      <outline type="rss" text="again" xmlUrl="https://lab.example/rss"/>
      <outline type="rss" text="not web" xmlUrl="file:///etc/passwd"/>
      <outline type="link" text="no feed" url="https://x.example/"/>
    </body></opml>"""
    assert read_opml(data) == [
        ("https://lab.example/rss", "Lab blog"),
        ("https://t.example/feed", "Title wins"),
        ("http://caps.example/feed", None),
    ]


def test_junk_is_tolerated() -> None:
    truncated = b'<opml><body><outline text="a" xmlUrl="https://a.example/f"/><outline text='
    assert read_opml(truncated) == [("https://a.example/f", "a")]
    namespaced = b'<o:opml xmlns:o="urn:x"><o:body><o:outline xmlUrl="https://n.example/f"/>'
    assert read_opml(namespaced + b"</o:body></o:opml>") == [("https://n.example/f", None)]


@pytest.mark.parametrize("data", [b"", b"not xml at all", b"\xff\xfe\x00"])
def test_not_xml(data: bytes) -> None:
    with pytest.raises(ParseError):
        read_opml(data)


def test_billion_laughs_does_not_expand() -> None:
    try:
        feeds = read_opml(BILLION_LAUGHS)
    except ParseError as e:
        assert "entities" in str(e)
    else:
        assert all(len(url) < 1000 and len(title or "") < 1000 for url, title in feeds)


def test_external_entity_is_not_read() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<opml><body><outline text="&x;" xmlUrl="https://x.example/f"/></body></opml>'
    )
    try:
        feeds = read_opml(data)
    except ParseError:
        return
    assert all("root:" not in (title or "") for _, title in feeds)
