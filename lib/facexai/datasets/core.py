"""The one structure every loader returns, its split schemes, the errors and the registry.

Every real dataset format has one loader, and every loader returns a :class:`FaceDataset`; the
chapters never see a file format. A :class:`DatasetSpec` registered under a string key
(``"tenk"``, ``"kdef"``, ``"ckplus"``, ``"tfd"``, ``"utkface"``) ties a loader to the writer of
its synthetic twin, the layout it expects and where the real data can be requested, so a
parameter cell or the command line can name a dataset by its key.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import paths

# --------------------------------------------------------------------------------------------
# Errors: one class per kind of bad input, all under DatasetError
# --------------------------------------------------------------------------------------------


class DatasetError(Exception):
    """Bad or missing input data. The message names the files, fields or subjects concerned."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's folder or one of its required files is missing.

    The message shows the expected tree and where the dataset can be requested: the datasets are
    licence-restricted and facexai never downloads or redistributes them.
    """


class SchemaError(DatasetError):
    """A sheet, column or ``.mat`` field is missing or has the wrong shape: lists missing and found."""


class UnreadableFileError(DatasetError):
    """A file cannot be read or decoded (raised in ``strict`` mode; skipped and listed otherwise)."""


class LayoutError(DatasetError):
    """A file name or place does not follow the dataset's layout (strict mode), or is ambiguous."""


class LabelError(DatasetError, ValueError):
    """A label lies outside the dataset's codes; the message names the files (or rows)."""


class DuplicateIdError(DatasetError):
    """The same image id appears twice; the message names the ids and files."""


class SubjectLeakError(DatasetError):
    """A subject appears in two roles (train/valid/test) of one split; names subjects and files."""


class IncompleteDatasetError(DatasetError):
    """No usable image, labels that match no image, or too few images for the split scheme: the
    message says what was found and the likely cause (an incomplete download, a misplaced folder)."""


class NotWritableError(DatasetError, paths.NotWritableError):
    """A folder where a dataset must be written (``$FACEXAI_DATA``) cannot be written (a
    :class:`facexai.paths.NotWritableError` of the data package)."""


class UnknownDatasetError(DatasetError, KeyError):
    """No dataset is registered under that key."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def listing(items: Sequence[Any], limit: int = 8) -> str:
    """``a, b, c`` for error messages, cut after ``limit`` items with a count of the rest."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


# --------------------------------------------------------------------------------------------
# Split schemes
# --------------------------------------------------------------------------------------------

#: Role codes of :attr:`SplitScheme.roles`, TFD's own coding of its ``folds`` matrix.
ROLES: dict[int, str] = {0: "unused", 1: "train", 2: "val", 3: "test"}


@dataclass(frozen=True)
class SplitScheme:
    """How a dataset is split: ``roles[i, k]`` is the role of image ``i`` in split ``k``.

    Attributes
    ----------
    name : str
        Key of the scheme (``"paper2_folds"``, ``"tfd_folds"``, ``"paper3"``, ``"kfold"``...).
    roles : ndarray of int8, shape (N, K)
        0 unused, 1 train, 2 val, 3 test (:data:`ROLES`) for each of K splits.
    description : str
        Where the scheme comes from, in one sentence.
    groups : ndarray of int, shape (N,), optional
        The fold of each image when the scheme rotates over folds (CK+, k-fold), else None.
    """

    name: str
    roles: np.ndarray
    description: str
    groups: np.ndarray | None = None

    def __post_init__(self):
        roles = np.asarray(self.roles)
        if roles.ndim != 2 or not np.isin(roles, list(ROLES)).all():
            raise ValueError(f"split scheme {self.name!r}: roles must be (N, K) with codes {ROLES}")
        object.__setattr__(self, "roles", roles.astype(np.int8))

    @property
    def n_splits(self) -> int:
        return self.roles.shape[1]

    def split(self, k: int = 0) -> dict[str, np.ndarray]:
        """Image indices of split ``k``: ``{"train": ..., "val": ..., "test": ...}``."""
        if not 0 <= k < self.n_splits:
            raise IndexError(f"split scheme {self.name!r} has splits 0..{self.n_splits - 1}, not {k}")
        return {ROLES[c]: np.flatnonzero(self.roles[:, k] == c) for c in (1, 2, 3)}

    def subset(self, keep: np.ndarray) -> "SplitScheme":
        """The same scheme restricted to the images ``keep`` (indices or a boolean mask)."""
        groups = None if self.groups is None else self.groups[keep]
        return SplitScheme(self.name, self.roles[keep], self.description, groups)

    def counts(self) -> pd.DataFrame:
        """Images per role (columns) in each split (rows)."""
        return pd.DataFrame({ROLES[c]: (self.roles == c).sum(0) for c in ROLES},
                            index=pd.Index(range(self.n_splits), name="split"))


# --------------------------------------------------------------------------------------------
# The common structure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A file the loader left out, and why."""

    path: str
    reason: str


@dataclass
class FaceDataset:
    """A loaded dataset, whatever its file format.

    Attributes
    ----------
    key : str
        Registry key of the format (``"ckplus"``...).
    images : ndarray of uint8, shape (N, H, W) or (N, H, W, 3)
        Preprocessed images (grayscale or RGB) at the size the loader was asked for.
    labels : DataFrame
        One row per image (same order as ``images``): the dataset's labels, one column each.
    target : str or None
        The column of ``labels`` that is the dataset's main class label (None: regression only).
    classes : tuple of str or None
        Name of each code of ``labels[target]``.
    subjects : ndarray of str, shape (N,)
        Who is in each image (the image id where a dataset has no identities).
    files : tuple of str
        Source of each image, relative to ``root`` (for ``.mat`` files: ``file[row]``).
    splits : dict of str to SplitScheme
        The split schemes; the first is the one of the paper that uses the dataset.
    root : Path
        The dataset root the loader read.
    landmarks : ndarray of float32, shape (N, L, 2), optional
        Landmarks in pixel coordinates of ``images`` (NaN where a file lacked them).
    aus : DataFrame of bool, optional
        FACS Action Units present in each image, one column per AU (``AU1``...).
    au_intensity : DataFrame of int8, optional
        FACS intensity 1-5 (A-E) of each AU; 0 where absent or not coded.
    skipped : list of Skipped
        Files left out (unreadable, misnamed, missing), with the reason.
    notes : dict
        Dataset-specific facts worth reporting (missed face detections, unlabelled sequences...).
    """

    key: str
    images: np.ndarray
    labels: pd.DataFrame
    target: str | None
    classes: tuple[str, ...] | None
    subjects: np.ndarray
    files: tuple[str, ...]
    splits: dict[str, SplitScheme]
    root: Path
    landmarks: np.ndarray | None = None
    aus: pd.DataFrame | None = None
    au_intensity: pd.DataFrame | None = None
    skipped: list[Skipped] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def scheme(self) -> SplitScheme:
        """The split scheme of the paper that uses the dataset (the first of :attr:`splits`)."""
        return next(iter(self.splits.values()))

    def class_names(self) -> pd.Series:
        """The class name of every image (``"all"`` for a dataset without classes)."""
        if self.target is None:
            return pd.Series(["all"] * len(self), index=self.labels.index, name="class")
        codes = self.labels[self.target].to_numpy()
        names = [self.classes[c] if c >= 0 else "unlabelled" for c in codes] if self.classes \
            else codes
        return pd.Series(names, index=self.labels.index, name="class")

    def check(self) -> "FaceDataset":
        """Check the lengths agree and that no subject leaks across roles; return self."""
        n = len(self.images)
        sizes = {"labels": len(self.labels), "subjects": len(self.subjects), "files": len(self.files)}
        sizes.update({f"split {k}": len(s.roles) for k, s in self.splits.items()})
        for name, arr in (("landmarks", self.landmarks), ("aus", self.aus)):
            if arr is not None:
                sizes[name] = len(arr)
        bad = {k: v for k, v in sizes.items() if v != n}
        if bad:
            raise ValueError(f"{self.key}: {n} images but {bad}")
        return self


def check_labels(values: np.ndarray, allowed: Sequence[Any] | tuple[float, float], where: Sequence[str],
                 what: str, dataset: str) -> None:
    """Raise :class:`LabelError` naming every ``where`` whose value is not allowed.

    ``allowed`` is a collection of codes, or a ``(lo, hi)`` float range given as a tuple of two
    floats (NaN is never allowed).
    """
    values = np.asarray(values)
    if isinstance(allowed, tuple) and len(allowed) == 2 and all(isinstance(a, float) for a in allowed):
        with np.errstate(invalid="ignore"):
            ok = (values >= allowed[0]) & (values <= allowed[1])
        expected = f"in [{allowed[0]:g}, {allowed[1]:g}]"
    else:
        ok = np.isin(values, list(allowed))
        expected = f"one of {listing(list(allowed), 12)}"
    if not ok.all():
        bad = [f"{w} ({v!r})" for w, v, g in zip(where, values.tolist(), ok) if not g]
        raise LabelError(f"{dataset}: {len(bad)} {what} value(s) outside the dataset's codes "
                         f"(expected {expected}): {listing(bad)}")


def check_unique(ids: Sequence[Any], where: Sequence[str], what: str, dataset: str) -> None:
    """Raise :class:`DuplicateIdError` naming every id that appears more than once, with its files."""
    seen: dict[Any, list[str]] = {}
    for i, w in zip(ids, where):
        seen.setdefault(i, []).append(w)
    dups = {i: ws for i, ws in seen.items() if len(ws) > 1}
    if dups:
        text = [f"{i} ({' and '.join(ws[:3])})" for i, ws in dups.items()]
        raise DuplicateIdError(f"{dataset}: {len(dups)} duplicate {what}(s): {listing(text)}")


def check_subject_independent(scheme: SplitScheme, subjects: np.ndarray, files: Sequence[str],
                              dataset: str, unknown: Sequence[str] = ()) -> None:
    """Raise :class:`SubjectLeakError` if a subject has images in two roles of one split.

    Subjects listed in ``unknown`` (e.g. TFD's unlabelled identity -1) are not checked.
    """
    subjects = np.asarray(subjects).astype(str)
    known = ~np.isin(subjects, [str(u) for u in unknown])
    for k in range(scheme.n_splits):
        role = scheme.roles[:, k]
        used = known & (role > 0)
        frame = pd.DataFrame({"s": subjects[used], "r": role[used], "i": np.flatnonzero(used)})
        n_roles = frame.groupby("s")["r"].nunique()
        leaked = n_roles.index[n_roles > 1].tolist()
        if leaked:
            text = []
            for s in leaked[:8]:
                rows = frame[frame.s == s].drop_duplicates("r")
                text.append(f"{s} (" + ", ".join(f"{ROLES[r]}: {files[i]}" for r, i in
                                                 zip(rows.r, rows.i)) + ")")
            raise SubjectLeakError(
                f"{dataset}: split scheme {scheme.name!r}, split {k}: {len(leaked)} subject(s) in more "
                f"than one of train/valid/test: {listing(text)}"
                + (f" ... ({len(leaked) - 8} more)" if len(leaked) > 8 else ""))


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the project knows about one real dataset format.

    Attributes
    ----------
    key : str
        Registry key.
    title : str
        The dataset's name.
    folder : str
        Default name of its root folder under the data folder (``$FACEXAI_DATA``).
    papers : str
        Which of the three papers use it.
    tree : str
        The expected layout under the root, shown when it is missing.
    request : str
        Who distributes it and how to request it.
    load : callable
        ``load(root, **options) -> FaceDataset``.
    write_twin : callable
        ``write_twin(root, **settings)``: writes the synthetic twin in the same layout.
    """

    key: str
    title: str
    folder: str
    papers: str
    tree: str
    request: str
    load: Callable[..., FaceDataset]
    write_twin: Callable[..., None]

    def not_found(self, root: Path, missing: Path) -> DatasetNotFoundError:
        """The error for a missing root or required file, with the tree and where to ask."""
        tree = "\n".join("    " + line for line in self.tree.strip("\n").splitlines())
        return DatasetNotFoundError(
            f"{self.title}: {missing} not found. Expected this layout under {root}:\n{tree}\n"
            f"{self.title} is licence-restricted; facexai never downloads or redistributes it. "
            f"{self.request}")

    def require(self, root: Path | str, *relative: str) -> Path:
        """``root`` as a Path if it and every ``relative`` path under it exist; else :meth:`not_found`."""
        root = Path(root).expanduser()
        if not root.is_dir():
            raise self.not_found(root, root)
        for rel in relative:
            if not (root / rel).exists():
                raise self.not_found(root, root / rel)
        return root


DATASETS: dict[str, DatasetSpec] = {}


def _guarded(title: str, load: Callable[..., FaceDataset]) -> Callable[..., FaceDataset]:
    """``load`` with a folder or file it may not read reported as one :class:`UnreadableFileError`
    naming it, instead of a ``PermissionError`` traceback."""
    @functools.wraps(load)
    def guarded(*args: Any, **kwargs: Any) -> FaceDataset:
        try:
            return load(*args, **kwargs)
        except PermissionError as err:
            if isinstance(err, DatasetError):
                raise
            raise UnreadableFileError(
                f"{title}: cannot read {err.filename or 'a file of the copy'}: permission denied "
                "(give the user read access to the copy, e.g. chmod -R u+rX on its folder)") from None
    return guarded


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset format to :data:`DATASETS` under its key (its loader reports unreadable
    files and folders as :class:`UnreadableFileError`)."""
    if spec.key in DATASETS:
        raise ValueError(f"a dataset is already registered under {spec.key!r}")
    spec = replace(spec, load=_guarded(spec.title, spec.load))
    DATASETS[spec.key] = spec
    return spec


def get(key: str) -> DatasetSpec:
    """The spec registered under ``key``; the error names the known keys (and the nearest one)."""
    try:
        return DATASETS[key]
    except KeyError:
        near = difflib.get_close_matches(str(key), list(DATASETS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UnknownDatasetError(f"unknown dataset {key!r}{hint}; known datasets: "
                                  f"{', '.join(DATASETS)}") from None
