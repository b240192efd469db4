"""Real datasets: one loader per published format, and a synthetic twin of each in that format.

==============  =========================  ==============================  ======================
key             dataset                    split scheme (first = paper's)  used by
==============  =========================  ==============================  ======================
``"tenk"``      10k US Adult Faces (2,222  paper-3 1,421/356/445 (seed     papers 1 and 3
                annotated targets)         42), k-fold
``"kdef"``      KDEF                       subject-independent folds       paper 1
``"ckplus"``    CK+                        paper-2 10 subject folds        paper 2
``"tfd"``       TFD (``.mat``)             5 official folds                paper 2
``"utkface"``   UTKFace (age, gender)      k-fold                          paper 1 (base models)
==============  =========================  ==============================  ======================

Every loader returns a :class:`FaceDataset`; bad input raises a subclass of
:class:`DatasetError` that names the files, columns, fields or subjects concerned. Loading is
cached (:func:`facexai.datasets.io.cached`) by a content hash of the source files and the options.

Modules: :mod:`.core` (structure, errors, registry), :mod:`.splits`, :mod:`.io` (images, hashing,
cache), :mod:`.facecrop` (Haar crop, optional dlib landmarks), :mod:`.twins` (writing twins),
:mod:`.report` (tables for the chapter and the CLI), one module per format.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import ckplus, kdef, tenk, tfd, utkface  # noqa: F401  (each registers its format)
from .core import (DATASETS, ROLES, DatasetError, DatasetNotFoundError, DatasetSpec, DuplicateIdError,
                   FaceDataset, IncompleteDatasetError, LabelError, LayoutError, NotWritableError,
                   SchemaError, Skipped, SplitScheme, SubjectLeakError, UnknownDatasetError,
                   UnreadableFileError, get)
from .twins import TWIN_KEYS, dataset_roots, ensure_twin, load_options, twin_settings


def load(key: str, root: Path | str, **options: Any) -> FaceDataset:
    """Load dataset ``key`` from ``root`` with its loader (see each format module for options)."""
    return get(key).load(root, **options)


def locate(key: str, data_dir: Path | str) -> Path:
    """Default root of dataset ``key`` under a data folder: ``data_dir / spec.folder``."""
    return Path(data_dir).expanduser() / get(key).folder


__all__ = [
    "DATASETS", "ROLES", "TWIN_KEYS", "DatasetError", "DatasetNotFoundError", "DatasetSpec",
    "DuplicateIdError", "FaceDataset", "IncompleteDatasetError", "LabelError", "LayoutError",
    "NotWritableError", "SchemaError", "Skipped",
    "SplitScheme", "SubjectLeakError", "UnknownDatasetError", "UnreadableFileError", "dataset_roots",
    "ensure_twin", "get", "load", "load_options", "locate", "twin_settings",
]
