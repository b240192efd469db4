"""One content hash for every cache of the study: settings + data fingerprint + code.

Datasets, SynthFace populations, trained models, sweep points and executed notebooks are all
reused when, and only when, their key is unchanged. A key is :func:`key` of three parts:

- the **settings** (any JSON-able mapping; keys sorted, so order never matters);
- a **data fingerprint** (:func:`files_fingerprint`, :func:`tree_fingerprint`,
  :func:`array_fingerprint`, or a string another cache already made);
- the **code** (:func:`code_fingerprint` of the library sources the result depends on).

Writes are atomic (:func:`facexai.paths.atomic_path`): a crash leaves the previous entry or none.
Model checkpoints are written with :func:`torch.save` and read back with ``weights_only=True``
(:func:`save_torch`, :func:`load_torch`), so a cache file cannot run code when it is read.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .paths import atomic_path, write_text_atomic  # noqa: F401  (re-exported: one home for writes)

#: The installed library's folder (``lib/facexai``); code globs are relative to it.
PACKAGE = Path(__file__).resolve().parent
_BLOCK = 1 << 20

__all__ = ["PACKAGE", "array_fingerprint", "atomic_path", "code_fingerprint", "digest",
           "file_digest", "files_fingerprint", "key", "load_torch", "save_torch", "tree_fingerprint",
           "write_text_atomic"]


def digest(value: Any, size: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``value`` (keys sorted, non-JSON values by ``str``),
    ``size`` hex digits."""
    blob = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:size]


def code_fingerprint(*patterns: str, size: int = 16) -> str:
    """Hash of the library's source files matching ``patterns`` (globs relative to the package,
    e.g. ``"synth/*.py"``; default: every ``**/*.py``): names and contents.

    Any edit of a matching file changes the fingerprint, so no cache built by other code is reused.
    """
    patterns = patterns or ("**/*.py",)
    files = sorted({p for pat in patterns for p in PACKAGE.glob(pat)
                    if p.is_file() and "__pycache__" not in p.parts})
    if not files:
        raise ValueError(f"no library file matches {patterns} under {PACKAGE}")
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:size]


def file_digest(path: Path | str) -> str:
    """BLAKE2b of a file's bytes, read in 1 MiB blocks (40 hex digits)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def files_fingerprint(root: Path | str, files: Iterable[Path | str], size: int = 40) -> str:
    """Hash of files' paths relative to ``root`` and their contents (a missing file counts too)."""
    root = Path(root)
    h = hashlib.blake2b(digest_size=20)
    for path in sorted(Path(p) for p in files):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(file_digest(path).encode() if path.is_file() else b"<missing>")
    return h.hexdigest()[:size]


def tree_fingerprint(root: Path | str, size: int = 20) -> str:
    """Cheap fingerprint of every file under ``root``: relative path, size and modification time.

    For large trees (a real database) where reading every byte on each load would be slow; a copy
    that is touched or replaced gets a new fingerprint.
    """
    root = Path(root)
    h = hashlib.sha256(str(root.resolve()).encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:size]


def array_fingerprint(*arrays: Any, size: int = 20) -> str:
    """Hash of arrays' dtypes, shapes and bytes (strings and lists via ``np.asarray``)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        if a.dtype == object:
            a = np.asarray([str(v) for v in a.ravel()]).reshape(a.shape)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:size]


def key(settings: Mapping[str, Any] | None = None, *, data: str | None = None,
        code: str | None = None, size: int = 16) -> str:
    """The cache key of a result: a hash of its settings, its data fingerprint and its code."""
    return digest({"settings": dict(settings or {}), "data": data, "code": code}, size=size)


def save_torch(obj: Any, target: Path | str) -> Path:
    """``torch.save`` atomically (tensors, numbers, strings, lists and dicts only, so that
    :func:`load_torch` can read it with ``weights_only=True``)."""
    import torch

    target = Path(target)
    with atomic_path(target) as tmp:
        torch.save(obj, tmp)
    return target


def load_torch(path: Path | str, device: Any = "cpu") -> Any:
    """Read what :func:`save_torch` wrote, with ``weights_only=True`` (no code runs on load)."""
    import torch

    return torch.load(Path(path), map_location=device, weights_only=True)
