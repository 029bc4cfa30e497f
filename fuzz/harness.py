"""What the atheris harnesses share: the entry point and which exceptions are fine.

A harness is a script beside this file with a ``check(data: bytes)`` function; it calls
``main(check)``. ``check`` may raise ParseError: that is how a parser says "not a feed".
Anything else escaping, a ParseError that only hid a bug of newsdesk's own code
(``invariants.own_failure``), or an Item that breaks the invariants is a crash: atheris
prints the traceback and libFuzzer writes the input as ``crash-<sha1>``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.exceptions import ParseError

from invariants import own_failure


def guarded(check: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def one_input(data: bytes) -> None:
        try:
            check(data)
        except ParseError as e:
            cause = own_failure(e)
            if cause is not None:
                raise cause from None  # a bug that the catch-all only hid

    return one_input


def main(check: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, guarded(check))
    atheris.Fuzz()
