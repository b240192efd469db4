"""TFD, the Toronto Face Database: aligned grayscale faces in one MATLAB file per size.

Layout: ``TFD_48x48.mat`` and ``TFD_96x96.mat`` (``TFD_info.mat`` is not read), each with

=============  ===================  =========================================================
field          shape                meaning
=============  ===================  =========================================================
``images``     (N, S, S) uint8      the faces (S = 48 or 96)
``folds``      (N, 5) uint8         per official fold: 0 unlabelled, 1 train, 2 valid, 3 test
``labs_ex``    (N, 1)               expression: -1 unlabelled, 1..7
``labs_id``    (N, 1)               identity (-1 or 0 where unknown)
=============  ===================  =========================================================

Real TFD: 102,236 images, 4,178 labelled in each fold (papers.md). The dtypes of ``labs_ex`` and
``labs_id`` are not documented; the twin writes int32 and the loader accepts any integral values.
The names of the expression codes 1-7 were NOT FOUND in primary material: :data:`CLASSES` is the
order commonly assumed (anger, disgust, fear, happy, sad, surprise, neutral) and the twin follows it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from ..synth.generate import sample_face
from ..synth.factors import NuisanceConfig
from .core import (DatasetSpec, FaceDataset, IncompleteDatasetError, SchemaError, SplitScheme,
                   SubjectLeakError, UnreadableFileError, check_labels, check_subject_independent,
                   listing, register)
from .io import cached
from .splits import rotating_scheme
from .twins import render

FIELDS = ("images", "folds", "labs_ex", "labs_id")
N_FOLDS = 5
#: Assumed names of ``labs_ex`` 1..7 (NOT FOUND in primary material), and their CK+ codes.
CLASSES: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CKPLUS_CODES: tuple[int, ...] = (1, 3, 4, 5, 6, 7, 0)

TREE = """\
TFD_48x48.mat     fields images (N,48,48) uint8, folds (N,5) uint8, labs_ex (N,1), labs_id (N,1)
TFD_96x96.mat     the same at 96 x 96
TFD_info.mat      (not read)
"""


def _column(data: dict, name: str, n: int, path: Path) -> np.ndarray:
    """A ``(N,)`` or ``(N, 1)`` field as integers; :class:`SchemaError` if shaped otherwise."""
    arr = np.asarray(data[name])
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.shape != (n,):
        raise SchemaError(f"{path.name}: field {name!r} has shape {np.asarray(data[name]).shape}, "
                          f"expected ({n}, 1) for {n} images")
    if not np.all(arr == np.round(arr)):
        raise SchemaError(f"{path.name}: field {name!r} must hold integers")
    return arr.astype(np.int64)


def load(root: Path | str, *, image_size: int = 96, labelled_only: bool = True,
         check_leaks: bool = True, allow_identity_leak: bool = False, strict: bool = False,
         cache: bool | Path | str = True) -> FaceDataset:
    """Load ``TFD_{S}x{S}.mat`` with its five official folds.

    Parameters
    ----------
    root : path
        The folder holding the ``.mat`` files.
    image_size : {48, 96}
        Which file (paper 2 uses 96).
    labelled_only : bool
        Keep only images with an expression label (paper 2 trains on those).
    check_leaks : bool
        Check that no identity is in two roles of one fold (False: no check at all).
    allow_identity_leak : bool
        A leak is a problem of the copy: by default it raises :class:`SubjectLeakError`; True
        loads the copy anyway and reports the leak in ``notes["identity_leaks"]``
        (``facexai data check --allow-identity-leak``, profile parameter
        ``tfd_allow_identity_leak``).
    strict : bool
        Accepted for a uniform interface; a ``.mat`` file is read whole or not at all.
    """
    if image_size not in (48, 96):
        raise ValueError(f"TFD comes at 48 or 96 px, not {image_size}")
    name = f"TFD_{image_size}x{image_size}.mat"
    root = SPEC.require(root, name)
    path = root / name
    options = dict(image_size=image_size, labelled_only=labelled_only, check_leaks=check_leaks,
                   allow_identity_leak=allow_identity_leak)

    def build() -> FaceDataset:
        images, folds, ex, ids, rows = _read_mat(path, image_size)
        n = len(images)
        labelled = ex > 0
        _check_rows(path, folds, labelled, rows, labelled_only)
        keep = np.flatnonzero(labelled) if labelled_only else np.arange(n)
        subjects = np.where(ids > 0, ids.astype(str), "unknown")[keep]
        files = tuple(rows[r] for r in keep)
        scheme = SplitScheme("tfd_folds", folds[keep].astype(np.int8),
                             "the 5 official TFD folds (the file's 'folds' field)")
        leaks = _leaks(scheme, subjects, files, allow_identity_leak) if check_leaks else None
        labels = pd.DataFrame({"expression": ex[keep] - 1, "labs_ex": ex[keep], "labs_id": ids[keep],
                               "row": keep})
        zero = int((images.reshape(n, -1).max(axis=1) == 0).sum())
        return FaceDataset(
            key="tfd", images=images[keep].astype(np.uint8), labels=labels, target="expression",
            classes=CLASSES, subjects=subjects, files=files, splits={"tfd_folds": scheme},
            root=root, notes={"rows_in_file": n, "labelled": int(labelled.sum()),
                              "unlabelled": int((~labelled).sum()), "all_black_images": zero,
                              **({"identity_leaks": [leaks]} if leaks else {})}).check()

    return cached("tfd", root, [path], options, build, cache)


def _check_rows(path: Path, folds: np.ndarray, labelled: np.ndarray, rows: list[str],
                labelled_only: bool) -> None:
    """:class:`IncompleteDatasetError` for a file without (labelled) images; :class:`SchemaError`
    for a labelled image left out of a fold."""
    n = len(labelled)
    if n == 0 or (labelled_only and not labelled.any()):
        raise IncompleteDatasetError(
            f"TFD: {path} holds no {'labelled ' if n else ''}image ({n} rows): the file is "
            "incomplete" + (" (load with labelled_only=False to use the unlabelled ones)"
                            if n else ""))
    both = (folds[labelled] == 0).any(axis=1)
    if both.any():
        bad = np.flatnonzero(labelled)[both]
        raise SchemaError(f"TFD: labelled image(s) marked unlabelled (0) in some fold: "
                          f"{listing(rows[r] for r in bad)}")


def _leaks(scheme: SplitScheme, subjects: np.ndarray, files: tuple, allow: bool) -> str | None:
    """The identity leak of the official folds (a problem of the copy): raised, or returned as
    text when ``allow``."""
    try:
        check_subject_independent(scheme, subjects, files, "TFD", unknown=("unknown",))
    except SubjectLeakError as err:
        if allow:
            return str(err)
        raise SubjectLeakError(
            f"{err} -- a problem of this copy's 'folds' field; to proceed anyway load with "
            "allow_identity_leak=True (`facexai data check --allow-identity-leak`, profile "
            "parameter tfd_allow_identity_leak: true), which reports the leak instead") from None
    return None


#: The first bytes of an HDF5 file, at offset 512 of a MATLAB v7.3 file.
_HDF5 = b"\x89HDF\r\n\x1a\n"


def _loadmat(path: Path) -> dict:
    """:func:`scipy.io.loadmat` with a one-line :class:`UnreadableFileError` naming the file and
    the likely cause (an empty or truncated download, a MATLAB v7.3 file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(520)
    except OSError as err:
        raise UnreadableFileError(f"TFD: cannot read {path}: {err.strerror or err}") from None
    if not head:
        raise UnreadableFileError(f"TFD: {path} is an empty file (0 bytes): the download or copy "
                                  "is incomplete; copy it again")
    if head[:10] == b"MATLAB 7.3" or head[512:520] == _HDF5:
        raise UnreadableFileError(
            f"TFD: {path} was saved as MATLAB v7.3 (HDF5), which scipy cannot read; re-save it "
            f"in MATLAB with -v7: S = load('{path.name}'); save('{path.name}', '-struct', 'S', '-v7')")
    try:
        return scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001 - scipy reports a damaged file with many types
        raise UnreadableFileError(f"TFD: cannot read {path}: {err} (a truncated download, or not "
                                  "a MATLAB file?)") from None


def _read_mat(path: Path, image_size: int) -> tuple:
    """The checked fields of a TFD ``.mat`` file: images, folds, expression and identity labels,
    and a name for each row (for error messages)."""
    name = path.name
    data = _loadmat(path)
    found = sorted(k for k in data if not k.startswith("__"))
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise SchemaError(f"{name}: missing field(s) {listing(missing)}; found fields: "
                          f"{listing(found) or 'none'}")
    images = np.asarray(data["images"])
    if images.ndim != 3 or images.shape[1:] != (image_size, image_size):
        raise SchemaError(f"{name}: field 'images' has shape {images.shape}, expected "
                          f"(N, {image_size}, {image_size})")
    n = len(images)
    folds = np.asarray(data["folds"])
    if folds.shape != (n, N_FOLDS):
        raise SchemaError(f"{name}: field 'folds' has shape {folds.shape}, expected ({n}, {N_FOLDS})")
    rows = [f"{name} row {r}" for r in range(n)]
    check_labels(folds.ravel(), (0, 1, 2, 3), [rows[r] for r in range(n) for _ in range(N_FOLDS)],
                 "'folds'", "TFD")
    ex = _column(data, "labs_ex", n, path)
    ids = _column(data, "labs_id", n, path)
    check_labels(ex, (-1,) + tuple(range(1, 8)), rows, "'labs_ex'", "TFD")
    return images, folds, ex, ids, rows


def write_twin(root: Path | str, *, n_labelled: int, n_unlabelled: int, seed: int,
               workers: int = 1) -> None:
    """Write ``TFD_48x48.mat`` and ``TFD_96x96.mat`` of SynthFace faces.

    Labelled image ``i`` is identity ``i // 7`` showing class ``i mod 7`` (:data:`CLASSES`);
    identity ``j`` is in group ``j mod 5``, and official fold ``k`` tests on group ``k``, validates
    on group ``k + 1`` and trains on the rest (identity-independent, like the real folds).
    Unlabelled faces (``labs_ex`` = ``labs_id`` = -1, fold code 0 everywhere) come after them.
    Faces are rendered aligned (no nuisance) in gray at 96 px; the 48 px file is their
    downscaled copy.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean = NuisanceConfig.none()
    params = [sample_face(seed, i, subject=i // 7, emotion=CKPLUS_CODES[i % 7], nuisance=clean)
              for i in range(n_labelled)]
    base = math.ceil(n_labelled / 7) + 1
    params += [sample_face(seed, n_labelled + u, subject=base + u, nuisance=clean)
               for u in range(n_unlabelled)]
    images96, _ = render(params, 96, workers, grayscale=True)
    identity = np.arange(n_labelled) // 7
    labs_ex = np.r_[np.arange(n_labelled) % 7 + 1, -np.ones(n_unlabelled)].astype(np.int32)
    labs_id = np.r_[identity + 1, -np.ones(n_unlabelled)].astype(np.int32)
    group = identity % N_FOLDS
    folds = np.zeros((n_labelled + n_unlabelled, N_FOLDS), np.uint8)
    folds[:n_labelled] = rotating_scheme(group, N_FOLDS, "tfd", "").roles
    images48 = np.stack([np.asarray(Image.fromarray(im).resize((48, 48), Image.BILINEAR))
                         for im in images96]) if len(images96) else np.zeros((0, 48, 48), np.uint8)
    for size, images in ((48, images48), (96, images96)):
        scipy.io.savemat(root / f"TFD_{size}x{size}.mat",
                         {"images": images.astype(np.uint8), "folds": folds,
                          "labs_ex": labs_ex[:, None], "labs_id": labs_id[:, None]})


SPEC = register(DatasetSpec(
    key="tfd", title="TFD", folder="TFD", papers="paper 2", tree=TREE,
    request="It has no public download: access is requested from its authors (J. Susskind, "
            "University of Toronto).",
    load=load, write_twin=write_twin))
