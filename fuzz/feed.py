"""Atheris harness: the feed parser (RSS, Atom, RDF through feedparser; JSON Feed) and its
adapter on arbitrary bytes. ``fuzz/run.py`` runs it; by hand::

    .venv/bin/python fuzz/feed.py CORPUS_DIR -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["newsdesk", "feedparser"]):
    from newsdesk.sources.feed import adapt, parse_feed

from harness import main
from invariants import check_item

URL = "https://blog.example/feed.xml"


def check(data: bytes) -> None:
    for item in adapt(parse_feed(data, URL), URL):
        check_item(item)


if __name__ == "__main__":
    main(check)
