"""What the atheris harnesses share: which exceptions are fine, and the entry point.

A harness is a script beside this file with a ``check(data: bytes)`` function; it calls
``main(check)``. ``check`` may raise ParseError: that is how a parser says "not a feed".
Anything else escaping, or an Item that breaks fuzz/invariants.py, is a crash: atheris
prints the traceback and libFuzzer writes the input as ``crash-<sha1>``.

A ParseError can hide a bug, though: ``parse_feed`` and ``adapt`` of sources/feed.py catch
every exception, so that one hostile document cannot stop an update. What these catch-alls
wrap is fine when it came from inside feedparser (which hostile input can break), and a
crash when it came from newsdesk's own code, which must handle what it is given. Other
ParseErrors with a cause (``raise ParseError(...) from e`` of a JSONDecodeError) are the
parsers saying "not JSON" on purpose.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType

import atheris

with atheris.instrument_imports(include=["newsdesk"]):
    from newsdesk.exceptions import ParseError

# The functions whose ``except Exception`` turns any failure into a ParseError.
CATCH_ALLS = {("sources/feed.py", "parse_feed"), ("sources/feed.py", "adapt")}
# Third-party code whose failures on hostile input those wrap on purpose.
WRAPPED_ON_PURPOSE = ("/feedparser/", "/sgmllib")


def _frames(tb: TracebackType | None) -> list[tuple[str, str]]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    return frames


def own_failure(error: ParseError) -> BaseException | None:
    """What a catch-all wrapped when it came from newsdesk's own code, else None."""
    cause = error.__cause__
    raised_in = _frames(error.__traceback__)
    if cause is None or not raised_in:
        return None
    path, function = raised_in[-1]
    if not any(path.endswith(f) and function == name for f, name in CATCH_ALLS):
        return None
    if any(part in f for f, _ in _frames(cause.__traceback__) for part in WRAPPED_ON_PURPOSE):
        return None
    return cause


def guarded(check: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def one_input(data: bytes) -> None:
        try:
            check(data)
        except ParseError as e:
            cause = own_failure(e)
            if cause is not None:
                raise cause  # a bug that the catch-all in the parser only hid

    return one_input


def main(check: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, guarded(check))
    atheris.Fuzz()
