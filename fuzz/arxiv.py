"""Atheris harness: arXiv API answers (Atom, ``parse_response``) and ``adapt`` on arbitrary
bytes. By hand::

    .venv/bin/python fuzz/arxiv.py CORPUS_DIR -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.sources.arxiv import adapt, parse_response

from harness import main
from invariants import check_item

URL = "https://export.arxiv.org/api/query?search_query=cat:cs.CL"


def check(data: bytes) -> None:
    for entry in parse_response(data, URL):
        check_item(adapt(entry))


if __name__ == "__main__":
    main(check)
