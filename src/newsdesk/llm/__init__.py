"""Language-model backends: messages in, text (JSON that satisfies a schema) out.

A backend is a class with a ``name``, capability flags as class attributes and two methods,
``generate`` and ``stream`` (and ``generate_many``, which answers several requests at once
where the backend can), registered with ``@register``; ``get_backend(settings)`` builds
the one that ``llm_backend`` names. The built-in backends register the same way a third
party's would:

- ``llamacpp`` (the embedded default): llama-cpp-python in process, a GGUF file, decoding
  constrained by a grammar made from the JSON Schema, and the KV cache of the previous call
  reused for the shared prefix of the next one (``llm/llamacpp.py``);
- ``openai``: any OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, Ollama, a
  hosted endpoint), with the server's structured output where it has one and validation
  with a bounded retry where it does not (``llm/openai.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

from newsdesk.exceptions import LLMError

if TYPE_CHECKING:
    from newsdesk.settings import Settings


class Message(TypedDict):
    role: str
    content: str


@dataclass
class Generation:
    """One answer and what it cost."""

    text: str
    prompt_tokens: int
    """Prompt tokens the model evaluated for this call (a reused prefix is not counted)."""
    cached_tokens: int
    """Prompt tokens taken from the cache of an earlier call."""
    completion_tokens: int
    seconds: float
    prompt_seconds: float = 0.0
    """Seconds until the first generated token."""
    forced_tokens: int = 0
    """Completion tokens that the schema fixed and no forward pass chose (jump-forward)."""
    guessed_tokens: int = 0
    """Completion tokens guessed from the prompt and confirmed by the model in one batch."""
    parallel: int = 1
    """Answers decoded in the same passes as this one (``generate_many``). Then ``seconds``
    and ``prompt_seconds`` are this answer's share of those passes, each pass's time split
    evenly among the answers in it, so that the shares of one batch add up to its time."""


@dataclass
class Request:
    """One answer to ask for: what ``generate`` takes, for ``generate_many``."""

    messages: Sequence[Message]
    schema: dict[str, Any] | None = None
    max_tokens: int = 512


class LLMBackend:
    """Base of the language-model backends.

    Capability flags (class attributes): ``supports_schema``, decoding is constrained to a
    JSON Schema, so the answer always parses; ``can_stream``; ``caches_prefix``, a prompt
    prefix shared with the previous call is not evaluated again.
    """

    name: ClassVar[str]
    supports_schema: ClassVar[bool] = False
    can_stream: ClassVar[bool] = False
    caches_prefix: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def model_name(self) -> str:
        """The model's name as stored with what it wrote."""
        return str(self.settings.llm_model)

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> Generation:
        """Answer ``messages``; with ``schema``, the answer is JSON meant to satisfy it.

        Raises:
            ModelError: the model file is missing or cannot load.
            LLMError: the server is down or answered something unusable.
        """
        raise NotImplementedError

    def generate_many(self, requests: Sequence[Request]) -> list[Generation]:
        """Answer every request, in order; one after another unless the backend can do
        better (decode them together, send them at once). Raises as ``generate`` does."""
        return [
            self.generate(r.messages, schema=r.schema, max_tokens=r.max_tokens) for r in requests
        ]

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 512) -> Iterator[str]:
        """Yield the answer's text piece by piece (backends with ``can_stream``)."""
        raise LLMError(f"the {self.name} backend cannot stream")

    def yes_odds(self, messages: Sequence[Message]) -> float:
        """The log-odds of "yes" against "no" as the first word of the answer to
        ``messages`` (a yes/no question): the model's confidence, read from one forward
        pass, not a sampled word. Raises as ``generate`` does."""
        raise LLMError(f"the {self.name} backend cannot score a yes/no answer")

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes; an estimate (``estimate_tokens``) where the backend has
        no tokenizer at hand."""
        return estimate_tokens(text)

    def close(self) -> None:
        """Free the model or connection."""


# Letters that BPE vocabularies of open-weight models (Qwen's, Llama's) hold in pairs:
# Latin with diacritics and Cyrillic. Other scripts (CJK, Greek, Devanagari, Arabic) cost
# about a token a letter; ASCII about a quarter.
_HALF_TOKEN = re.compile(r"[\u0080-\u024f\u0400-\u052f]")
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` takes in a typical open-weight model's vocabulary, by script: a
    quarter a character of ASCII, half of Latin with diacritics and Cyrillic, one of any
    other. On the 278 passages of 100 characters or more of tests/hostile/injections.jsonl,
    Qwen2.5's own count was 0.56 to 1.27 times this on the 21 passages of which 30% or more
    of the characters are not ASCII (len/4: 1.29 to 3.43 times, Hindi and Greek the most),
    and 0.70 to 2.39 times on the others (as len/4: base64, digits and code cost more than
    English prose)."""
    other = len(_NOT_ASCII.findall(text))
    half = len(_HALF_TOKEN.findall(text))
    return int((len(text) - other) / 4 + half / 2 + (other - half)) + 1


BACKENDS: dict[str, type[LLMBackend]] = {}

B = TypeVar("B", bound=type[LLMBackend])


def register(cls: B) -> B:
    """Class decorator: make a backend available under ``cls.name`` (replacing any other)."""
    BACKENDS[cls.name] = cls
    return cls


def get_backend(settings: Settings) -> LLMBackend:
    """The backend that ``settings.llm_backend`` names.

    Raises:
        LLMError: no backend has that name.
    """
    _load_builtins()
    name = settings.llm_backend
    try:
        cls = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise LLMError(
            f"No model backend {name!r}: set NEWSDESK_LLM_BACKEND to one of {known}"
        ) from None
    return cls(settings)


def _load_builtins() -> None:
    # The modules register on import; llama_cpp itself loads only when a model does.
    from newsdesk.llm import llamacpp, openai  # noqa: F401
