"""Atheris harness: Reddit listings and threads (``parse_listing``, ``parse_thread``, hence
``parse_post`` and ``parse_comment``), ``adapt_post`` and ``markdown_text`` (a post's text
as a brief reads it) on arbitrary bytes. By hand::

    .venv/bin/python fuzz/reddit.py CORPUS_DIR -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.exceptions import ParseError
    from newsdesk.sources.reddit import adapt_post, markdown_text, parse_listing, parse_thread

from harness import main
from invariants import check_item

URL = "https://www.reddit.com/r/x/new.json"


def check(data: bytes) -> None:
    # The seeds are listings and threads; each is tried as both.
    assert isinstance(markdown_text(data.decode("utf-8", "replace")), str)
    try:
        for post in parse_listing(data, URL).posts:
            check_item(adapt_post(post))
            assert isinstance(markdown_text(post.selftext), str)
    except ParseError:
        pass
    post, comments = parse_thread(data, URL, limit=5)
    check_item(adapt_post(post, comments))
    assert isinstance(markdown_text(post.selftext), str)


if __name__ == "__main__":
    main(check)
