"""The embedded default backend: llama-cpp-python in process, on the CPU.

The model is a GGUF file (``llm_model``: a known name from ``llm/files.py`` or a path). A
JSON Schema becomes a GBNF grammar (cached per schema) that constrains decoding, so the
answer always parses; whitespace between JSON tokens is cut to a single optional space so
that a small model cannot spend its budget on indentation. llama-cpp-python keeps the KV
cache of the previous call and evaluates only what differs, so calls that share a prefix
(instructions and source pack) evaluate it once. ``generate_many`` decodes several answers
in the same passes over the model, one sequence each, after their shared prefix is
evaluated once (``llm_parallel``): on a CPU a pass reads every weight whatever the number
of tokens in it, so answers decoded together cost little more than one.

The wheel that ``make`` builds carries every CPU variant of ggml; the best one that runs on
this machine is loaded (``newsdesk.llm.cpu``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from newsdesk.exceptions import LLMError, ModelError
from newsdesk.llm import Generation, LLMBackend, Message, Request, register
from newsdesk.llm.files import resolve
from newsdesk.llm.forward import JsonCursor

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


def _load_cpu_backends(llama_cpp: Any, model_path: Path, variant: str) -> None:
    """Load one of ggml's CPU variants when the wheel was built with them (GGML_BACKEND_DL).

    Such a build has no backend linked in; ``newsdesk.llm.cpu`` chooses the best variant
    that really runs on this machine (``variant``: "auto" or a name).
    """
    global _backends_loaded
    with _load_lock:
        if _backends_loaded:
            return
        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        if any(lib_dir.glob("libggml-cpu-*")):
            from platformdirs import user_cache_dir

            from newsdesk.llm import cpu

            chosen = cpu.choose_variant(
                lib_dir, model_path, Path(user_cache_dir("newsdesk")), variant
            )
            log.info("ggml CPU variant: %s", cpu.variant_name(chosen))
            cpu.load(ctypes.CDLL(str(_loaded_ggml(lib_dir))), chosen)
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
        self._constraints: dict[str, _Constraint] = {}
        self._lock = threading.Lock()
        self.path: Path | None = None
        self.draft_tokens = max(0, int(settings.llm_draft_tokens))
        self.parallel = max(1, int(settings.llm_parallel))
        self._batch: Any = None
        self._yes_no: tuple[list[int], list[int]] | None = None

    @property
    def model_name(self) -> str:
        return Path(str(self.settings.llm_model)).name

    def _model(self) -> Any:
        if self._llm is not None:
            return self._llm
        path = resolve(self.settings)
        llama_cpp = _import_llama_cpp()
        _load_cpu_backends(llama_cpp, path, str(self.settings.llm_cpu_variant))
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
            if self.parallel > 1:
                _with_sequences(llama_cpp, llm, self.parallel + 1)
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

    def _constraint(self, schema: dict[str, Any], slot: int = 0) -> _Constraint:
        """The grammar of ``schema``, reset; ``slot``: one per answer decoded together."""
        text = json.dumps(schema, sort_keys=True)
        key = f"{text}#{slot}"
        if key not in self._constraints:
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            # Properties in the order the schema declares them (the converter's default is
            # alphabetical): a claim's text before its cites, the hook before its hashtags.
            gbnf = json_schema_to_gbnf(text, prop_order=_property_order(schema))
            gbnf = _SPACE_RULE.sub('space ::= " "?', gbnf)
            # The converter's char rule lets control characters into strings; JSON does not.
            gbnf = gbnf.replace('char ::= [^"\\\\] |', 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |')
            self._constraints[key] = _Constraint(self._llm, gbnf)
        constraint = self._constraints[key]
        constraint.reset()
        return constraint

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
        return min(_common_prefix(llm._input_ids[: llm.n_tokens], tokens), len(tokens) - 1)

    def _keep_prefix(self, tokens: list[int]) -> None:
        """Keep the cached tokens that ``tokens`` starts with, and forget the rest."""
        llm = self._llm
        reuse = self._cached_prefix(tokens)
        if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
            llm.n_tokens = reuse
        else:
            llm.reset()

    def _run(
        self, tokens: list[int], max_tokens: int, schema: dict[str, Any] | None
    ) -> Iterator[tuple[int, float, str]]:
        """Greedy decoding after the cached prefix: each token, when it came, and how
        (``forced`` by the schema, ``guessed`` from the prompt and confirmed, ``chosen``).

        With a schema, the grammar checks each chosen token, and the text that the schema
        fixes (keys, brackets, quotes) is appended without a forward pass of its own: it is
        evaluated in one batch with the token before it.

        Inside a string, the next tokens are guessed from the prompt (a brief copies names,
        numbers and phrases from its sources): the last tokens written are looked up in the
        prompt and what followed them there is evaluated in the same batch. The model's own
        greedy choice at each position decides; guesses it agrees with cost no pass of
        their own, the others are dropped from the cache (prompt-lookup decoding). The
        answer is the model's greedy answer either way. Off unless ``llm_draft_tokens`` is
        set: on 2 CPU cores a batch of guesses costs more than the passes it saves.
        """
        llama_cpp = _import_llama_cpp()
        llm = self._llm
        constraint = self._constraint(schema) if schema is not None else None
        cursor = JsonCursor(schema) if schema is not None else None
        self._keep_prefix(tokens)
        vocab = llm._model.vocab
        ctx = llm._ctx.ctx
        n_vocab = llm.n_vocab()
        lookup = _Lookup(tokens, self.draft_tokens) if cursor is not None else None
        pending = list(tokens[llm.n_tokens :])
        left = max_tokens
        written: list[int] = []
        while True:
            forced: list[int] = []
            if cursor is not None and constraint is not None:
                forced = self._jump(cursor, constraint, left)
                pending += forced
                left -= len(forced)
                written += forced
            draft: list[int] = []
            if lookup is not None and cursor is not None and cursor.in_string and left > 1:
                draft = lookup.draft(written)[: left - 1]
            self._eval(pending + draft, outputs=len(draft) + 1)
            now = time.perf_counter()
            for token in forced:
                yield token, now, "forced"
            if left <= 0 or (cursor is not None and cursor.complete):
                return
            for i in range(len(draft) + 1):
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(ctx, i - len(draft) - 1), shape=(n_vocab,)
                )
                token = int(np.argmax(logits))
                if constraint is not None:
                    token = constraint.choose(token, logits)
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    self._drop(len(draft) - i)
                    return
                guessed = i < len(draft) and token == draft[i]
                yield token, time.perf_counter(), "guessed" if guessed else "chosen"
                left -= 1
                written.append(token)
                if cursor is not None:
                    cursor.feed(self._piece(token))
                    if cursor.complete:
                        self._drop(len(draft) - i)
                        return
                if guessed and left > 0 and not (cursor is not None and cursor.forced()):
                    continue  # evaluated with the guess: its logits are next in the batch
                # Drop the guesses from this position on; the token goes in the next batch.
                self._drop(len(draft) - i)
                pending = [token]
                break
            if left <= 0:
                return

    def _eval(self, batch: list[int], *, outputs: int = 1) -> None:
        """Evaluate ``batch`` after the cached tokens, with logits for its last ``outputs``."""
        llm = self._llm
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        for start in range(0, len(batch), llm.n_batch):
            part = batch[start : start + llm.n_batch]
            llm._batch.set_batch(batch=part, n_past=llm.n_tokens, logits_all=False)
            if start + len(part) == len(batch):
                for i in range(max(0, len(part) - outputs), len(part)):
                    llm._batch.batch.logits[i] = True
            llm._ctx.decode(llm._batch)
            llm.input_ids[llm.n_tokens : llm.n_tokens + len(part)] = part
            llm.n_tokens += len(part)
        llm._requires_eval = False

    def _drop(self, count: int) -> None:
        """Forget the last ``count`` evaluated tokens (guesses the model did not take)."""
        if count > 0:
            llm = self._llm
            llm.n_tokens -= count
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)

    def _piece(self, token: int) -> str:
        # Latin-1 keeps every byte as one character: JSON's structure is ASCII, and the
        # bytes of a UTF-8 character split over tokens are never mistaken for it.
        return str(self._llm.detokenize([token]).decode("latin-1"))

    def _jump(self, cursor: JsonCursor, constraint: _Constraint, left: int) -> list[int]:
        """The tokens of the text the schema fixes next, as far as the grammar agrees."""
        text = cursor.forced()
        if not text or left <= 0:
            return []
        out: list[int] = []
        for token in self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False):
            if len(out) >= left or not constraint.allows(token):
                break
            constraint.accept(token)
            cursor.feed(self._piece(token))
            out.append(token)
        return out

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> Generation:
        with self._lock:
            return self._generate(self._prompt_tokens(messages), schema, max_tokens)

    def _generate(
        self, tokens: list[int], schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        llm = self._llm
        cached = self._cached_prefix(tokens)
        start = time.perf_counter()
        first: float | None = None
        out: list[int] = []
        how: dict[str, int] = {"forced": 0, "guessed": 0, "chosen": 0}
        for token, at, kind in self._run(tokens, max_tokens, schema):
            first = first or at
            out.append(token)
            how[kind] += 1
        end = time.perf_counter()
        return Generation(
            text=llm.detokenize(out).decode("utf-8", errors="replace"),
            prompt_tokens=len(tokens) - cached,
            cached_tokens=cached,
            completion_tokens=len(out),
            seconds=end - start,
            prompt_seconds=(first or end) - start,
            forced_tokens=how["forced"],
            guessed_tokens=how["guessed"],
        )

    def generate_many(self, requests: Sequence[Request]) -> list[Generation]:
        """Decode the answers together, up to ``llm_parallel`` at once, each in its own
        sequence of the KV cache after the prefix their prompts share (evaluated once).

        Each answer is the greedy answer to its own prompt, as ``generate`` gives it (the
        sums of a batched pass may differ from a single one in their last bits, so a near
        tie can go the other way). Answers whose prompts and answer budgets do not fit the
        context together are decoded in turn.
        """
        if self.parallel <= 1 or len(requests) <= 1:
            return super().generate_many(requests)
        with self._lock:
            prompts = [self._prompt_tokens(r.messages) for r in requests]
            out: list[Generation] = []
            for group in self._groups(prompts, requests):
                if len(group) == 1:
                    r = requests[group[0]]
                    out.append(self._generate(prompts[group[0]], r.schema, r.max_tokens))
                else:
                    out += self._together([prompts[i] for i in group], [requests[i] for i in group])
            return out

    def _groups(self, prompts: list[list[int]], requests: Sequence[Request]) -> list[list[int]]:
        """Consecutive requests that fit the context together: their shared prefix once,
        then each one's own prompt tokens and answer budget."""
        n_ctx = self._llm.n_ctx()
        groups: list[list[int]] = []
        for i in range(len(prompts)):
            group = groups[-1] + [i] if groups else [i]
            shared = _shared_prefix([prompts[j] for j in group])
            cells = shared + sum(len(prompts[j]) - shared + requests[j].max_tokens for j in group)
            if groups and len(group) <= self.parallel and cells <= n_ctx:
                groups[-1] = group
            else:
                groups.append([i])
        return groups

    def _together(self, prompts: list[list[int]], requests: Sequence[Request]) -> list[Generation]:
        llama_cpp = _import_llama_cpp()
        llm = self._llm
        ctx = llm._ctx.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        shared = _shared_prefix(prompts)
        prefix = prompts[0][:shared]
        start = time.perf_counter()
        # The shared prefix in sequence 0, from the cache where the last call left it.
        reuse = _common_prefix(llm._input_ids[: llm.n_tokens], prefix)
        llama_cpp.llama_memory_seq_rm(memory, 0, reuse, -1)
        llm.n_tokens = reuse
        self._eval(prefix[reuse:], outputs=0)
        states = [
            _Sequence(
                seq=n + 1,
                pending=prompt[shared:],
                pos=shared,
                left=r.max_tokens,
                cursor=JsonCursor(r.schema) if r.schema is not None else None,
                constraint=self._constraint(r.schema, n) if r.schema is not None else None,
            )
            for n, (prompt, r) in enumerate(zip(prompts, requests, strict=True))
        ]
        states[0].prompt_seconds = states[0].seconds = time.perf_counter() - start
        try:
            for state in states:
                llama_cpp.llama_memory_seq_rm(memory, state.seq, -1, -1)
                llama_cpp.llama_memory_seq_cp(memory, 0, state.seq, -1, -1)
            active = states
            while active:
                for state in active:
                    state.jump(self)
                active = [s for s in active if not s.done]
                self._step(active)
                active = [s for s in active if not s.done]
        finally:
            for state in states:
                llama_cpp.llama_memory_seq_rm(memory, state.seq, -1, -1)
        return [
            Generation(
                text=llm.detokenize(s.out).decode("utf-8", errors="replace"),
                prompt_tokens=len(p) - shared + (len(prefix) - reuse if n == 0 else 0),
                cached_tokens=reuse if n == 0 else shared,
                completion_tokens=len(s.out),
                seconds=s.seconds,
                prompt_seconds=s.prompt_seconds,
                forced_tokens=s.forced,
                parallel=len(states),
            )
            for n, (s, p) in enumerate(zip(states, prompts, strict=True))
        ]

    def _step(self, active: list[_Sequence]) -> None:
        """One pass: every active sequence's pending tokens, in batches of ``n_batch``;
        then each sequence's next token from the logits of its last one."""
        llama_cpp = _import_llama_cpp()
        llm = self._llm
        ctx = llm._ctx.ctx
        if self._batch is None:
            self._batch = llama_cpp.llama_batch_init(llm.n_batch, 0, 1)
        batch = self._batch
        n_vocab = llm.n_vocab()
        vocab = llm._model.vocab
        items = [(state, k, token) for state in active for k, token in enumerate(state.pending)]
        for at in range(0, len(items), llm.n_batch):
            part = items[at : at + llm.n_batch]
            batch.n_tokens = len(part)
            for i, (state, k, token) in enumerate(part):
                batch.token[i] = token
                batch.pos[i] = state.pos + k
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = state.seq
                batch.logits[i] = k == len(state.pending) - 1
            began = time.perf_counter()
            code = llama_cpp.llama_decode(ctx, batch)
            if code != 0:
                raise ModelError(f"llama.cpp could not decode a batch (code {code})", self.path)
            share = time.perf_counter() - began
            in_part = {id(state): state for state, _, _ in part}
            for state in in_part.values():
                state.spend(share / len(in_part))
            for i, (state, k, _) in enumerate(part):
                if k != len(state.pending) - 1:
                    continue
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,)
                )
                token = int(np.argmax(logits))
                if state.constraint is not None:
                    token = state.constraint.choose(token, logits)
                state.pos += len(state.pending)
                state.started = True
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    state.done = True
                    continue
                state.out.append(token)
                state.left -= 1
                state.pending = [token]
                if state.cursor is not None:
                    state.cursor.feed(self._piece(token))
                    state.done = state.cursor.complete
                state.done = state.done or state.left <= 0

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 512) -> Iterator[str]:
        with self._lock:
            tokens = self._prompt_tokens(messages)
            llm = self._llm
            pending = b""
            for token, _, _ in self._run(tokens, max_tokens, None):
                pending += llm.detokenize([token])
                try:
                    piece = pending.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # a character split over tokens
                pending = b""
                yield piece

    def yes_odds(self, messages: Sequence[Message]) -> float:
        """One forward pass after the cached prefix; the next token's "yes" against "no"
        (either case, with or without a leading space)."""
        with self._lock:
            tokens = self._prompt_tokens(messages)
            llm = self._llm
            self._keep_prefix(tokens)
            self._eval(list(tokens[llm.n_tokens :]))
            llama_cpp = _import_llama_cpp()
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),)
            )
            yes, no = self._answer_tokens()
            return float(np.logaddexp.reduce(logits[yes]) - np.logaddexp.reduce(logits[no]))

    def _answer_tokens(self) -> tuple[list[int], list[int]]:
        """The tokens that open a "yes" and a "no" answer (single tokens in the vocabulary)."""
        if self._yes_no is None:
            found: list[list[int]] = []
            for word in ("yes", "no"):
                ids = set()
                for form in (word, word.capitalize(), " " + word, " " + word.capitalize()):
                    pieces = self._llm.tokenize(form.encode(), add_bos=False, special=False)
                    if len(pieces) == 1:
                        ids.add(pieces[0])
                if not ids:
                    raise LLMError(f"{self.model_name} has no single token for {word!r}")
                found.append(sorted(ids))
            self._yes_no = (found[0], found[1])
        return self._yes_no

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        for constraint in self._constraints.values():
            constraint.close()
        self._constraints.clear()
        if self._batch is not None:
            _import_llama_cpp().llama_batch_free(self._batch)
            self._batch = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def _with_sequences(llama_cpp: Any, llm: Any, sequences: int) -> None:
    """Give ``llm`` a context of ``sequences`` sequences in one unified KV cache (shared
    cells for a shared prefix). llama-cpp-python's ``Llama`` makes a context of one
    sequence and has no parameter for more, so its context is made again."""
    from llama_cpp import _internals

    params = llm.context_params
    params.n_seq_max = min(sequences, int(llama_cpp.llama_max_parallel_sequences()))
    params.kv_unified = True
    llm._ctx.close()
    llm._ctx = llm._stack.enter_context(
        contextlib.closing(_internals.LlamaContext(model=llm._model, params=params, verbose=False))
    )


def _shared_prefix(prompts: Sequence[list[int]]) -> int:
    """Tokens at the start of every prompt, leaving each at least one of its own (the one
    whose logits give its first answer token)."""
    shared = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        shared = _common_prefix(prompts[0][:shared], p)
    return max(0, shared)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share at their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class _Sequence:
    """One answer decoded with others (``generate_many``): its place in the KV cache, what
    it has still to evaluate, what it wrote, and its share of the time."""

    seq: int
    pending: list[int]
    pos: int
    left: int
    cursor: JsonCursor | None
    constraint: _Constraint | None
    out: list[int] = field(default_factory=list)
    forced: int = 0
    done: bool = False
    started: bool = False
    seconds: float = 0.0
    prompt_seconds: float = 0.0

    def jump(self, backend: LlamaCppBackend) -> None:
        """Append the text the schema fixes next (jump-forward); done if it completes."""
        if self.cursor is None or self.constraint is None:
            return
        forced = backend._jump(self.cursor, self.constraint, self.left)
        self.pending += forced
        self.out += forced
        self.forced += len(forced)
        self.left -= len(forced)
        self.done = self.left <= 0 or self.cursor.complete

    def spend(self, seconds: float) -> None:
        self.seconds += seconds
        if not self.started:
            self.prompt_seconds += seconds


class _Lookup:
    """Guesses of the next tokens: what followed the last few written tokens in the prompt."""

    def __init__(self, prompt: list[int], size: int, ngram: int = 2) -> None:
        self.size = size
        self.ngram = ngram
        self.prompt = prompt
        self._at: dict[tuple[int, ...], int] = {}
        if size > 0:
            for i in range(len(prompt) - ngram):
                # The latest occurrence wins: the pack comes last in the prompt.
                self._at[tuple(prompt[i : i + ngram])] = i + ngram

    def draft(self, written: list[int]) -> list[int]:
        if self.size <= 0 or len(written) < self.ngram:
            return []
        at = self._at.get(tuple(written[-self.ngram :]))
        return [] if at is None else self.prompt[at : at + self.size]


class _Constraint:
    """A GBNF grammar over greedy decoding, checked on one token first (llama.cpp's fast path).

    Applying a grammar to every token of the vocabulary (152k for Qwen) costs more than a
    forward pass of a small model. The greedy choice is almost always valid, so only that
    token is checked; the whole vocabulary is filtered only when the grammar rejects it.
    The result is the same as filtering first: the best token that the grammar allows.
    """

    def __init__(self, llm: Any, gbnf: str) -> None:
        llama_cpp = _import_llama_cpp()
        self._api = llama_cpp
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, gbnf.encode("utf-8"), b"root"
        )
        if not self._sampler:
            raise ModelError("llama.cpp rejected the grammar made from the JSON schema")
        self._eog = [t for t in (llm.token_eos(), llm._model.token_eot()) if t >= 0]
        n_vocab = llm.n_vocab()
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(
            data=self._one, size=1, selected=-1, sorted=False
        )
        self._all = (llama_cpp.llama_token_data * n_vocab)()
        self._all_array = llama_cpp.llama_token_data_array(
            data=self._all, size=n_vocab, selected=-1, sorted=False
        )
        self._all_view = np.ctypeslib.as_array(self._all)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self.rejections = 0

    def reset(self) -> None:
        self._api.llama_sampler_reset(self._sampler)
        self.rejections = 0

    def allows(self, token: int) -> bool:
        self._one[0].id = token
        self._one[0].logit = 0.0
        self._one_array.size = 1
        self._api.llama_sampler_apply(self._sampler, ctypes.byref(self._one_array))
        return not math.isinf(self._one[0].logit)

    def accept(self, token: int) -> None:
        self._api.llama_sampler_accept(self._sampler, token)

    def choose(self, token: int, logits: Any) -> int:
        """The greedy ``token`` if the grammar allows it, else the best token it allows.

        Where the answer may end, it ends: a complete value is never followed by more.
        """
        if not self.allows(token):
            self.rejections += 1
            token = next((t for t in self._eog if self.allows(t)), -1)
            if token < 0:
                token = self._best(logits)
        self.accept(token)
        return token

    def _best(self, logits: Any) -> int:
        view = self._all_view
        view["id"] = self._ids
        view["logit"] = logits
        self._all_array.size = len(view)
        self._all_array.selected = -1
        self._all_array.sorted = False
        self._api.llama_sampler_apply(self._sampler, ctypes.byref(self._all_array))
        # The grammar sets the logits of the tokens it rejects to -inf, in place.
        best = int(np.argmax(view["logit"]))
        if math.isinf(view["logit"][best]):
            raise ModelError("the grammar allows no token here: the schema cannot be completed")
        return int(view["id"][best])

    def close(self) -> None:
        if self._sampler:
            self._api.llama_sampler_free(self._sampler)
            self._sampler = None


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
