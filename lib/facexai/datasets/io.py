"""Reading images and small text files, content hashing, and the preprocessed-array cache.

The cache key of a loaded dataset is a hash of the *contents* of every source file it read
(streamed in 1 MiB blocks, so large files never sit in memory), the loader's options and the source
code of this package. Paths, sizes and modification times are not enough: a file rewritten in place
with the same size and an old time stamp still changes the key. The cached object is written
atomically (:func:`facexai.paths.atomic_path`) under :func:`facexai.paths.cache_dir`, never inside
a dataset's own folder, as an ``.npz`` of plain arrays and a JSON header (:mod:`.store`): the
cache folder may be shared, so nothing in it is ever unpickled.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from PIL import Image

from .. import cache as _cache, paths
from . import store
from .core import FaceDataset, IncompleteDatasetError, Skipped, UnreadableFileError

#: Bump when the stored :class:`FaceDataset` layout changes (old cache entries are then ignored).
CACHE_VERSION = 2
#: Cache entries kept per dataset root (the oldest go first).
KEEP_ENTRIES = 4

# skimage.color.rgb2gray weights (ITU-R 709), which the paper-2 code used for CK+: one grayscale
# conversion for every dataset, so that a gray image means the same thing everywhere.
_GRAY = np.array([0.2125, 0.7154, 0.0721])


def to_gray(img: np.ndarray) -> np.ndarray:
    """uint8 grayscale as the paper-2 code makes it: ``(rgb2gray(img) * 255).astype(uint8)``."""
    if img.ndim == 2:
        return img.astype(np.uint8, copy=False)
    return (img[..., :3].astype(np.float64) / 255.0 @ _GRAY * 255.0).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    """Decode an image fully (a truncated file fails here, not later): uint8 ``(H, W)`` or ``(H, W, 3)``.

    Raises :class:`UnreadableFileError` naming the path for a missing, truncated or corrupt file.
    """
    try:
        with Image.open(path) as im:
            im.load()  # forces the whole decode: PIL raises on truncated data
            if im.mode.startswith("I;16") or im.mode == "I":
                return _deep_gray(np.asarray(im), im.mode)
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB" if im.mode in ("RGBA", "P", "CMYK", "YCbCr") else "L")
            return np.asarray(im).copy()
    except (OSError, ValueError, SyntaxError) as err:  # PIL reports bad data with all three
        raise UnreadableFileError(f"cannot read image {path}: {err}") from None


def _deep_gray(values: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit (or 32-bit integer) gray image as uint8, scaled by its bit depth: 0..65535 gives
    0..255 (Pillow's own conversion to "L" clips everything above 255 to white)."""
    values = values.astype(np.float64)
    bits = 16 if mode.startswith("I;16") or values.max(initial=0) <= 65535 else 32
    return np.clip(np.rint(values * 255.0 / (2.0 ** bits - 1)), 0, 255).astype(np.uint8)


def resize(img: np.ndarray, size: int | None, grayscale: bool) -> np.ndarray:
    """Convert to gray (or to 3 channels) and resize to ``size`` x ``size`` (PIL bilinear).

    The aspect ratio is not kept, as in the papers' code (paper 3: ``Resize((224, 224))``).
    """
    img = to_gray(img) if grayscale else (np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img)
    if size is not None and img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
    return img


def scale_points(points: np.ndarray, shape: tuple[int, int], size: int | None) -> np.ndarray:
    """Landmarks ``(L, 2)`` of an image of ``shape`` (H, W) in the coordinates of its resized copy."""
    if size is None:
        return points.astype(np.float32)
    h, w = shape[:2]
    return (points * np.array([size / w, size / h])).astype(np.float32)


class Reader:
    """Decodes images one by one, skipping (default) or raising (``strict``) on unreadable ones."""

    def __init__(self, root: Path, strict: bool):
        self.root, self.strict = Path(root), strict
        self.skipped: list[Skipped] = []

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def skip(self, path: Path, reason: str, error: type[Exception] = UnreadableFileError) -> None:
        """Record a left-out file; in strict mode raise ``error`` naming it instead."""
        if self.strict:
            raise error(f"{path}: {reason} (strict mode; without strict the file is skipped "
                        "and listed)")
        self.skipped.append(Skipped(self.rel(path), reason))

    def require_any(self, n_kept: int, n_tried: int, title: str) -> None:
        """Raise :class:`IncompleteDatasetError` when none of ``n_tried`` images could be read."""
        if n_kept == 0 and n_tried > 0:
            first = f" (first: {self.skipped[0].path}: {self.skipped[0].reason})" if self.skipped \
                else ""
            raise IncompleteDatasetError(f"{title}: none of the {n_tried} image file(s) under "
                                         f"{self.root} could be read{first}")

    def image(self, path: Path) -> np.ndarray | None:
        try:
            return read_image(path)
        except UnreadableFileError as err:
            if self.strict:
                raise
            self.skipped.append(Skipped(self.rel(path), str(err).split(": ", 1)[-1]))
            return None


def read_numbers(path: Path) -> np.ndarray:
    """Whitespace- or comma-separated numbers of a small text file as a 2-D float array."""
    try:
        rows = [line.replace(",", " ").split() for line in Path(path).read_text().splitlines()]
        return np.array([[float(v) for v in r] for r in rows if r], dtype=np.float64).reshape(
            len([r for r in rows if r]), -1)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UnreadableFileError(f"cannot read numbers from {path}: {err}") from None


def format_row(values: Iterable[float]) -> str:
    """One row of a CK+ text file: MATLAB's ``%e`` style, three spaces before every number."""
    return "".join(f"   {v:.7e}" for v in values)


# --------------------------------------------------------------------------------------------
# Content hashing and the cache
# --------------------------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes (:func:`facexai.cache.file_digest`)."""
    return _cache.file_digest(path)


def content_hash(root: Path, files: Iterable[Path], options: dict[str, Any]) -> str:
    """Key of a loaded dataset: :func:`facexai.cache.key` of the options, the files' relative paths
    and contents, and this package's code."""
    return _cache.key({"options": options, "v": CACHE_VERSION},
                     data=_cache.files_fingerprint(root, files), code=code_fingerprint(), size=40)


def code_fingerprint() -> str:
    """Hash of the source of ``facexai.datasets``: a changed loader never reuses an old cache."""
    return _cache.code_fingerprint("datasets/*.py")


def cached(key: str, root: Path, files: list[Path], options: dict[str, Any],
           build: Callable[[], FaceDataset], cache: bool | Path | str = True) -> FaceDataset:
    """Load a dataset from the cache, or ``build()`` it and store it.

    Parameters
    ----------
    key : str
        Dataset key (first part of the cache file name).
    root : Path
        Dataset root; ``files`` are hashed relative to it.
    files : list of Path
        Every source file the loader reads.
    options : dict
        Preprocessing options (part of the key).
    build : callable
        Makes the dataset when the cache has no entry.
    cache : bool or path
        ``True``: :func:`facexai.paths.cache_dir`; a path: that folder; ``False``: no cache.

    The returned dataset's ``notes["cache"]`` is ``"hit"``, ``"built"`` or ``"off"`` (``"off
    (<why>)"`` when the entry could not be written: a read-only cache folder).
    """
    if cache is False:
        ds = build()
        ds.notes["cache"] = "off"
        return ds
    folder = paths.datasets_cache() if cache is True else Path(cache) / "datasets"
    where = _cache.digest(str(Path(root).resolve()), size=8)
    try:
        target = folder / f"{key}-{where}-{content_hash(root, files, options)[:20]}.npz"
    except OSError as err:  # a source file that cannot be read (permissions)
        raise UnreadableFileError(f"cannot read {err.filename or root}: {err.strerror or err}"
                                  ) from None
    if target.is_file():
        try:
            ds = store.read(target)
            ds.notes.update(cache="hit", cache_file=str(target))
            return ds
        except store.UNREADABLE:
            pass  # an unreadable entry (other library version): rebuild and overwrite it
    ds = build()
    _store(ds, target, f"{key}-{where}-")
    return ds


def _store(ds: FaceDataset, target: Path, stem: str) -> None:
    """Write the cache entry (keeping the few most recent of this root); a cache folder that
    cannot be written, or a dataset the format cannot hold exactly, leaves the cache off."""
    try:
        older = sorted((p for p in target.parent.glob(f"{stem}*") if p.suffix in (".npz", ".pkl")),
                       key=lambda p: p.stat().st_mtime)
        for old in older[:max(0, len(older) - KEEP_ENTRIES + 1)]:
            old.unlink(missing_ok=True)
        with paths.atomic_path(target) as tmp:
            store.write(ds, tmp)
    except (OSError, TypeError) as err:
        warnings.warn(f"dataset cache not written ({target.parent}): {err}", stacklevel=3)
        ds.notes["cache"] = f"off ({err})"
        return
    ds.notes.update(cache="built", cache_file=str(target))


#: Files and folders that file managers and archivers add to a copy; never data.
SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "icon\r"})


def visible(entries: Iterable[Path]) -> list[Path]:
    """Sorted entries without hidden or system files (``.DS_Store``, ``Thumbs.db``,
    ``desktop.ini``, ``__MACOSX/`` are not data)."""
    return sorted(p for p in entries
                  if not p.name.startswith(".") and p.name.lower() not in SYSTEM_FILES)


def entries(folder: Path) -> list[Path]:
    """:func:`visible` entries of ``folder``; :class:`UnreadableFileError` naming a folder that
    cannot be listed."""
    try:
        return visible(Path(folder).iterdir())
    except PermissionError:
        raise UnreadableFileError(f"cannot list folder {folder}: permission denied (give the user "
                                  "read access to the copy, e.g. chmod -R u+rX on its folder)") from None


def tree_lines(root: Path, max_children: int = 3, depth: int = 4) -> list[str]:
    """A few lines of a folder tree: the first ``max_children`` entries per folder, then a count."""
    root = Path(root)
    lines = [f"{root.name}/"]

    def walk(folder: Path, prefix: str, level: int) -> None:
        items = entries(folder)
        for item in items[:max_children]:
            lines.append(f"{prefix}{item.name}{'/' if item.is_dir() else ''}")
            if item.is_dir() and level < depth:
                walk(item, prefix + "    ", level + 1)
        if len(items) > max_children:
            lines.append(f"{prefix}... ({len(items) - max_children} more)")

    walk(root, "    ", 1)
    return lines


def size_of(root: Path) -> int:
    """Total bytes of the files under ``root``."""
    return sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file())

