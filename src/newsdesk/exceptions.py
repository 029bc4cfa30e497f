"""Every error newsdesk raises on purpose derives from NewsdeskError.

Hierarchy::

    NewsdeskError
    ├── SettingsError          a setting has a value of the wrong type
    ├── StoreError             the database cannot be opened or migrated
    ├── SourceError            a source spec or source document is unusable
    │   ├── UnknownSourceError     no source kind understands a spec
    │   ├── SourceNotFoundError    no stored source with that id or url
    │   └── ParseError             a document is not a feed / listing / API answer
    ├── StoryNotFoundError     no story (nor redirect) with that id
    ├── EmbeddingError         an embedding model is missing or its server failed (.url)
    ├── ModelError             a model file is missing, partial, corrupt or cannot load (.path)
    ├── LLMError               a model server is down or answered garbage (.url)
    ├── BriefError             a story's brief could not be written (.story_id)
    ├── RecapError             a period is malformed or its recap could not be written
    └── FetchError             anything that stopped a download (carries .url)
        ├── BlockedAddressError    the SSRF guard refused a host (private, loopback...)
        ├── TooLargeError          the (decompressed) body passed the size limit
        ├── TooManyRedirectsError
        ├── FetchTimeoutError      connect or read timeout
        ├── HTTPStatusError        a final non-2xx/304 status (carries .status)
        └── ReplayMissError        offline replay has no recording for the url
"""

from __future__ import annotations


class NewsdeskError(Exception):
    """Base of every error newsdesk raises on purpose."""


class SettingsError(NewsdeskError):
    pass


class StoreError(NewsdeskError):
    pass


class SourceError(NewsdeskError):
    pass


class UnknownSourceError(SourceError):
    def __init__(self, spec: str) -> None:
        super().__init__(
            f"Cannot tell what kind of source {spec!r} is: use reddit:NAME, hn:top, "
            "arxiv:CATEGORY, or an http(s) URL of a feed or page"
        )
        self.spec = spec


class SourceNotFoundError(SourceError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No source {ref!r}: `newsdesk sources list` shows the ids and urls")
        self.ref = ref


class ParseError(SourceError):
    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class StoryNotFoundError(NewsdeskError):
    def __init__(self, story_id: str) -> None:
        super().__init__(f"No story {story_id!r}: `newsdesk stories` lists them")
        self.story_id = story_id


class EmbeddingError(NewsdeskError):
    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(f"{url}: {message}" if url else message)
        self.url = url


class ModelError(NewsdeskError):
    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class LLMError(NewsdeskError):
    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(f"{url}: {message}" if url else message)
        self.url = url


class BriefError(NewsdeskError):
    def __init__(self, story_id: str, message: str) -> None:
        super().__init__(f"story {story_id}: {message}")
        self.story_id = story_id


class RecapError(NewsdeskError):
    pass


class FetchError(NewsdeskError):
    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class BlockedAddressError(FetchError):
    pass


class TooLargeError(FetchError):
    pass


class TooManyRedirectsError(FetchError):
    pass


class FetchTimeoutError(FetchError):
    pass


class HTTPStatusError(FetchError):
    def __init__(
        self, url: str, status: int, detail: str = "", *, retry_after: float | None = None
    ) -> None:
        super().__init__(url, f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after  # seconds the server asked to wait, if it did


class ReplayMissError(FetchError):
    pass
