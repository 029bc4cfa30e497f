"""Atheris harness: Reddit listings and threads (``parse_listing``, ``parse_thread``, hence
``parse_post`` and ``parse_comment``) and ``adapt_post`` on arbitrary bytes. By hand::

    .venv/bin/python fuzz/reddit.py CORPUS_DIR -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.exceptions import ParseError
    from newsdesk.sources.reddit import adapt_post, parse_listing, parse_thread

from harness import main
from invariants import check_item

URL = "https://www.reddit.com/r/x/new.json"


def check(data: bytes) -> None:
    # The seeds are listings and threads; each is tried as both.
    try:
        for post in parse_listing(data, URL).posts:
            check_item(adapt_post(post))
    except ParseError:
        pass
    post, comments = parse_thread(data, URL, limit=5)
    check_item(adapt_post(post, comments))


if __name__ == "__main__":
    main(check)
