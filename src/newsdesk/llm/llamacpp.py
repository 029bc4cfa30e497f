"""The embedded default backend: llama-cpp-python in process, on the CPU.

The model is a GGUF file (``llm_model``: a known name from ``llm/files.py`` or a path). A
JSON Schema becomes a GBNF grammar (cached per schema) that constrains decoding, so the
answer always parses; whitespace between JSON tokens is cut to a single optional space so
that a small model cannot spend its budget on indentation. llama-cpp-python keeps the KV
cache of the previous call and evaluates only what differs, so calls that share a prefix
(instructions and source pack) evaluate it once.

The wheel that ``make`` builds carries every CPU variant of ggml and loads the best one for
the running CPU (``_load_cpu_backends``).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from newsdesk.exceptions import ModelError
from newsdesk.llm import Generation, LLMBackend, Message, register
from newsdesk.llm.files import resolve

if TYPE_CHECKING:
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

_SPACE_RULE = re.compile(r"^space ::= .*$", re.MULTILINE)
_backends_loaded = False
_load_lock = threading.Lock()


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as e:
        raise ModelError(
            "llama-cpp-python is not installed: `make install` builds it, or "
            "`pip install llama-cpp-python`"
        ) from e
    return llama_cpp


def _load_cpu_backends(llama_cpp: Any) -> None:
    """Load ggml's CPU variants when the wheel was built with them (GGML_BACKEND_DL).

    Such a build has no backend linked in; ggml picks the best variant for this CPU from
    the libraries beside libggml.
    """
    global _backends_loaded
    with _load_lock:
        if _backends_loaded:
            return
        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        if any(lib_dir.glob("libggml-cpu-*")):
            ggml = ctypes.CDLL(str(_loaded_ggml(lib_dir)))
            ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
            ggml.ggml_backend_load_all_from_path(str(lib_dir).encode())
            ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
            if ggml.ggml_backend_dev_count() == 0:
                raise ModelError(f"no ggml CPU backend in {lib_dir} runs on this CPU")
        _backends_loaded = True


def _loaded_ggml(lib_dir: Path) -> Path:
    """The libggml that libllama was linked against: the registry of backends lives there.

    A wheel holds copies, not links (libggml.so, libggml.so.0...); loading another copy
    would fill another registry, which llama.cpp never sees.
    """
    maps = Path("/proc/self/maps")
    if maps.exists():
        for line in maps.read_text().splitlines():
            path = line.split(maxsplit=5)[-1]
            if path.startswith(str(lib_dir)) and Path(path).name.startswith("libggml.so"):
                return Path(path)
    for name in ("libggml.so.0", "libggml.so", "libggml.dylib", "ggml.dll"):
        if (lib_dir / name).exists():
            return lib_dir / name
    raise ModelError(f"no libggml in {lib_dir}: reinstall llama-cpp-python")


def _property_order(schema: Any) -> list[str]:
    order: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if name not in order:
                    order.append(name)
                walk(sub)
            for key, sub in node.items():
                if key != "properties":
                    walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    walk(schema)
    return order


def _threads(settings: Settings) -> int:
    configured = int(settings.llm_threads)
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


@register
class LlamaCppBackend(LLMBackend):
    name: ClassVar[str] = "llamacpp"
    supports_schema: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True
    caches_prefix: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._llm: Any = None
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.path: Path | None = None

    @property
    def model_name(self) -> str:
        return Path(str(self.settings.llm_model)).name

    def _model(self) -> Any:
        if self._llm is not None:
            return self._llm
        path = resolve(self.settings)
        llama_cpp = _import_llama_cpp()
        _load_cpu_backends(llama_cpp)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        threads = _threads(self.settings)
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=int(self.settings.llm_context),
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=512,
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(f"llama.cpp cannot load {path}: {e}", path) from e
        template = llm.metadata.get("tokenizer.chat_template") or _CHATML
        eos = llm.token_eos()
        bos = llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        )
        self._llm, self.path = llm, path
        log.info("loaded %s (%d threads, context %d)", path, threads, llm.n_ctx())
        return llm

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

            # Properties in the order the schema declares them (the converter's default is
            # alphabetical): a claim's text before its cites, the hook before its hashtags.
            gbnf = json_schema_to_gbnf(key, prop_order=_property_order(schema))
            gbnf = _SPACE_RULE.sub('space ::= " "?', gbnf)
            # The converter's char rule lets control characters into strings; JSON does not.
            gbnf = gbnf.replace('char ::= [^"\\\\] |', 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |')
            self._grammars[key] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[key]

    def _prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        llm = self._model()
        prompt = self._formatter(messages=list(messages)).prompt
        tokens: list[int] = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= llm.n_ctx():
            raise ModelError(
                f"the prompt has {len(tokens)} tokens, the context {llm.n_ctx()}: "
                "raise NEWSDESK_LLM_CONTEXT or lower NEWSDESK_BRIEF_PACK_TOKENS",
                self.path,
            )
        return tokens

    def _cached_prefix(self, tokens: list[int]) -> int:
        llm = self._llm
        n = 0
        for a, b in zip(llm._input_ids[: llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            n += 1
        return min(n, len(tokens) - 1)

    def _run(self, tokens: list[int], max_tokens: int, grammar: Any) -> Iterator[tuple[int, float]]:
        llm = self._llm
        is_eog = _import_llama_cpp().llama_vocab_is_eog
        vocab = llm._model.vocab
        for token in llm.generate(
            tokens, temp=0.0, top_k=1, repeat_penalty=1.0, grammar=grammar, reset=True
        ):
            if is_eog(vocab, token):
                return
            yield token, time.perf_counter()
            max_tokens -= 1
            if max_tokens <= 0:
                return

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> Generation:
        with self._lock:
            tokens = self._prompt_tokens(messages)
            llm = self._llm
            grammar = self._grammar(schema) if schema is not None else None
            cached = self._cached_prefix(tokens)
            start = time.perf_counter()
            first: float | None = None
            out: list[int] = []
            for token, at in self._run(tokens, max_tokens, grammar):
                first = first or at
                out.append(token)
            end = time.perf_counter()
            text = llm.detokenize(out).decode("utf-8", errors="replace")
        return Generation(
            text=text,
            prompt_tokens=len(tokens) - cached,
            cached_tokens=cached,
            completion_tokens=len(out),
            seconds=end - start,
            prompt_seconds=(first or end) - start,
        )

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 512) -> Iterator[str]:
        with self._lock:
            tokens = self._prompt_tokens(messages)
            llm = self._llm
            pending = b""
            for token, _ in self._run(tokens, max_tokens, None):
                pending += llm.detokenize([token])
                try:
                    piece = pending.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # a character split over tokens
                pending = b""
                yield piece

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
