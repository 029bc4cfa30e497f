"""Which of ggml's CPU variants the llamacpp backend loads.

The wheel that ``make`` builds carries every CPU variant of ggml (x86-64 baseline up to
AVX-512 and AMX). ggml alone would load the one with the best score for the CPU's feature
flags, but a flag is not proof: in some virtual machines the CPU reports AMX, the kernel
grants it, and the first AMX instruction still dies with SIGILL, taking the process with it.
So the best-scoring variant is first run in a child process on the model for a few tokens
(``python -m newsdesk.llm.cpu VARIANT MODEL``); the first one that survives is loaded, and
the verdict is kept in the cache folder, so each machine probes once.

``llm_cpu_variant`` names a variant (``haswell``, ``zen4``...) to skip all of this.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

from newsdesk.exceptions import ModelError

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 180.0
PROBE_TEXT = b"The quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 4


def variant_name(path: Path) -> str:
    """``libggml-cpu-zen4.so`` -> ``zen4``."""
    return path.name.split(".")[0].removeprefix("libggml-cpu-")


def ranked_variants(lib_dir: Path) -> list[Path]:
    """The CPU variants in ``lib_dir`` that claim to run here, best score first."""
    scored: list[tuple[int, str, Path]] = []
    for path in sorted(lib_dir.glob("libggml-cpu-*")):
        if path.is_symlink():
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        score_fn = getattr(lib, "ggml_backend_score", None)
        if score_fn is None:
            continue
        score_fn.restype = ctypes.c_int
        score = int(score_fn())
        if score > 0:
            scored.append((score, path.name, path))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [path for _, _, path in scored]


def _cache_file(cache_dir: Path, lib_dir: Path) -> tuple[Path, str]:
    """Where the verdict is kept, and the key it is kept under: this CPU and this wheel."""
    digest = hashlib.sha256()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("model name", "flags")):
                digest.update(line.encode())
                break
    for path in sorted(lib_dir.glob("libggml-cpu-*")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir / "ggml-cpu-variant.json", digest.hexdigest()[:16]


def choose_variant(lib_dir: Path, model_path: Path, cache_dir: Path, wanted: str) -> Path:
    """The variant to load: ``wanted`` if named, else the best one that ran the model in a
    probe (remembered in ``cache_dir``).

    Raises:
        ModelError: the named variant is not there, or no variant ran the model.
    """
    variants = ranked_variants(lib_dir)
    if wanted and wanted != "auto":
        for path in sorted(lib_dir.glob("libggml-cpu-*")):
            if variant_name(path) == wanted and not path.is_symlink():
                return path
        names = ", ".join(variant_name(p) for p in variants)
        raise ModelError(f"no ggml CPU variant {wanted!r} here; this CPU runs: {names}")
    if not variants:
        raise ModelError(f"no ggml CPU variant in {lib_dir} runs on this CPU")
    cache, key = _cache_file(cache_dir, lib_dir)
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    remembered = known.get(key)
    for path in variants:
        if remembered == path.name:
            return path
    for path in variants:
        if probe(path, model_path):
            known[key] = path.name
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps(known, indent=1))
            except OSError as e:
                log.warning("cannot remember the CPU variant in %s: %s", cache, e)
            return path
        log.warning("ggml CPU variant %s crashed on this machine; trying the next", path.name)
    raise ModelError(f"no ggml CPU variant in {lib_dir} ran {model_path} on this machine")


def probe(variant: Path, model_path: Path) -> bool:
    """Whether ``variant`` evaluates a few tokens of the model, in a child process."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "newsdesk.llm.cpu", str(variant), str(model_path)],
            capture_output=True,
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False
    if done.returncode != 0:
        log.info("probe of %s: exit %s %s", variant.name, done.returncode, done.stderr[-300:])
    return done.returncode == 0


def load(ggml: ctypes.CDLL, variant: Path) -> None:
    """Register ``variant`` with ggml (the libggml that libllama uses)."""
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    if not ggml.ggml_backend_load(str(variant).encode()):
        raise ModelError(f"ggml could not load its CPU variant {variant}")


def _main(argv: list[str]) -> int:
    """The probe, in its own process: load one variant, evaluate a few tokens."""
    import llama_cpp

    from newsdesk.llm.llamacpp import _loaded_ggml

    variant, model_path = Path(argv[0]), Path(argv[1])
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    load(ctypes.CDLL(str(_loaded_ggml(lib_dir))), variant)
    llm = llama_cpp.Llama(
        model_path=str(model_path), n_ctx=256, n_threads=1, n_batch=64, verbose=False
    )
    llm.eval(llm.tokenize(PROBE_TEXT))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
