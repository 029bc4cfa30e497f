"""Atheris harness: Hacker News item answers (``parse_item``, ``adapt``) and story lists
(``parse_id_list``) on arbitrary bytes. By hand::

    .venv/bin/python fuzz/hackernews.py CORPUS_DIR -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.exceptions import ParseError
    from newsdesk.sources.hackernews import adapt, parse_id_list, parse_item

from harness import main
from invariants import check_item

URL = "https://hacker-news.firebaseio.com/v0/item/1.json"


def check(data: bytes) -> None:
    try:
        ids = parse_id_list(data, URL)
        assert all(type(i) is int for i in ids)
    except ParseError:
        pass
    item = parse_item(data, URL)
    if item is not None:
        check_item(adapt(item))


if __name__ == "__main__":
    main(check)
