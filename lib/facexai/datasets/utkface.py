"""UTKFace: the age/gender set chosen for paper 1's base models.

Paper 1 trained its base models "on an age and gender prediction task" without naming the data
(NOT FOUND); Adience (Levi & Hassner) is plausible but unverified. UTKFace is used here because its
labels live in its file names, so one loader covers the whole set, and it gives exact ages (binned
into the Adience groups for the multiclass age model) as well as gender.

Layout (the "Aligned & Cropped Faces", 200 x 200 JPEG)::

    UTKFace/[age]_[gender]_[race]_[date&time].jpg.chip.jpg      e.g. 26_0_1_20170116174525125.jpg.chip.jpg

``age`` 0-116 years; ``gender`` **0 male, 1 female** (the opposite of SynthFace's and the 10k
database's ``sex``/``gender`` coding, 0 female); ``race`` 0 White, 1 Black, 2 Asian, 3 Indian,
4 Others; ``date&time`` yyyymmddHHMMSSFFF. The in-the-wild images (``.jpg`` without ``.chip.jpg``)
are read too. A few real file names lack a field (e.g. ``39_1_20170116174525125.jpg.chip.jpg``):
they are skipped and listed, and the twin reproduces one such name. UTKFace has no identities
and no official split: the loader offers a seeded k-fold.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..synth.attributes import adience_group
from ..synth.dataset import nuisance_config
from ..synth.generate import sample_face
from .core import DatasetSpec, FaceDataset, IncompleteDatasetError, LayoutError, check_labels, register
from .io import Reader, cached, entries, resize
from .splits import kfold_scheme
from .twins import render, save_image

FOLDER = "UTKFace"
NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)\.jpg(\.chip\.jpg)?$", re.I)
IMAGE = re.compile(r"\.jpe?g$", re.I)
GENDERS: tuple[str, ...] = ("male", "female")
RACES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")
MAX_AGE = 116
SIZE = 200

TREE = """\
UTKFace/
    1_0_0_20161219140623097.jpg.chip.jpg  ...  116_1_0_20170120134921760.jpg.chip.jpg
    ([age]_[gender 0 male / 1 female]_[race 0-4]_[date&time].jpg.chip.jpg, 200 x 200)
"""


def _folder(root: Path) -> Path:
    """``root/UTKFace``, or ``root`` itself when it holds the images directly."""
    if (root / FOLDER).is_dir():
        return root / FOLDER
    if any(IMAGE.search(p.name) for p in entries(root)):
        return root
    raise SPEC.not_found(root, root / FOLDER)


def load(root: Path | str, *, size: int | None = 96, grayscale: bool = False, n_folds: int = 5,
         split_seed: int = 0, strict: bool = False, cache: bool | Path | str = True) -> FaceDataset:
    """Load UTKFace; the target is gender (0 male, 1 female); ``age``, ``age_group`` (Adience) and
    ``race`` are further label columns.

    Parameters
    ----------
    root : path
        The folder holding ``UTKFace/`` (or that folder itself).
    size, grayscale, strict, cache : see :func:`facexai.datasets.tenk.load`.
    n_folds, split_seed : int
        The k-fold scheme (``KFold(shuffle=True, random_state=split_seed)`` over the sorted files).
    """
    root = SPEC.require(root)
    folder = _folder(root)
    reader = Reader(root, strict)
    records = []
    for path in entries(folder):
        m = NAME.match(path.name)
        if not m:
            reader.skip(path, "name does not follow [age]_[gender]_[race]_[date&time].jpg", LayoutError)
            continue
        records.append((path, int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)))
    where = [reader.rel(r[0]) for r in records]
    _enough(folder, len(records), n_folds, reader)
    check_labels([r[1] for r in records], tuple(range(MAX_AGE + 1)), where, "age", "UTKFace")
    check_labels([r[2] for r in records], (0, 1), where, "gender", "UTKFace")
    check_labels([r[3] for r in records], tuple(range(len(RACES))), where, "race", "UTKFace")
    pre_skipped = list(reader.skipped)
    options = dict(size=size, grayscale=grayscale, n_folds=n_folds, split_seed=split_seed,
                   strict=strict)

    def build() -> FaceDataset:
        reader.skipped = list(pre_skipped)
        kept, arrays = [], []
        for r, rec in enumerate(records):
            img = reader.image(rec[0])
            if img is not None:
                kept.append(r)
                arrays.append(resize(img, size, grayscale))
        reader.require_any(len(kept), len(records), "UTKFace")
        if len({a.shape for a in arrays}) > 1:
            raise LayoutError(f"{root}: images differ in size; load with size=<int>")
        rows = [records[r] for r in kept]
        labels = pd.DataFrame({"gender": [r[2] for r in rows], "age": [r[1] for r in rows],
                               "age_group": [adience_group(r[1]) for r in rows],
                               "race": [r[3] for r in rows], "datetime": [r[4] for r in rows]})
        # the folds are drawn over every well-named file, so a skipped image moves no other one
        scheme = kfold_scheme(len(records), n_folds, split_seed).subset(np.array(kept, np.int64))
        files = tuple(reader.rel(r[0]) for r in rows)
        return FaceDataset(
            key="utkface", images=np.stack(arrays) if arrays else np.zeros((0, 1, 1), np.uint8),
            labels=labels, target="gender", classes=GENDERS,
            subjects=np.array([Path(f).name for f in files], dtype=str), files=files,
            splits={"kfold": scheme}, root=root, skipped=reader.skipped).check()

    return cached("utkface", root, [r[0] for r in records], options, build, cache)


def _enough(folder: Path, n: int, n_folds: int, reader: Reader) -> None:
    """:class:`IncompleteDatasetError` for no well-named image, or fewer than the folds."""
    if n == 0:
        raise IncompleteDatasetError(
            f"UTKFace: no image to load in {folder}: no file named "
            "[age]_[gender]_[race]_[date&time].jpg(.chip.jpg)" +
            (f"; {len(reader.skipped)} misnamed file(s) skipped, e.g. {reader.skipped[0].path}"
             if reader.skipped else "; the folder is empty"))
    if n < n_folds:
        raise IncompleteDatasetError(
            f"UTKFace: only {n} well-named image(s) in {folder}, fewer than the {n_folds} folds "
            f"(n_folds={n_folds}): the copy looks incomplete (UTKFace has 23,708 images); load "
            f"with n_folds <= {n} to use it anyway" if n >= 2 else
            f"UTKFace: only {n} well-named image in {folder}: the copy looks incomplete "
            "(UTKFace has 23,708 images)")


def write_twin(root: Path | str, *, n_images: int, seed: int, render_size: int = 128,
               nuisance_scale: float = 1.0, malformed: int = 1, workers: int = 1) -> None:
    """Write the UTKFace twin: ``n_images`` SynthFace people as 200 x 200 ``.jpg.chip.jpg`` files.

    The age is the identity's age in whole years (SynthFace makes adults of 18-80 only), the
    gender its sex in UTKFace's coding (``1 - sex``: 0 male). SynthFace does not model race, so
    every twin image is coded 4 ("Others") rather than given a made-up race. The last
    ``malformed`` images get a name without the race field, as three real files have.
    """
    root = Path(root)
    params = [sample_face(seed, i, nuisance=nuisance_config(nuisance_scale)) for i in range(n_images)]
    images, _ = render(params, render_size, workers)
    for i, (img, p) in enumerate(zip(images, params)):
        if img.shape[0] != SIZE:
            img = resize(img, SIZE, grayscale=False)
        stamp = f"201701{1 + i % 28:02d}{(i * 7919) % 10**9:09d}"  # yyyymmdd + HHMMSSFFF-like
        age, gender = int(p.identity.age), 1 - p.identity.sex
        name = (f"{age}_{gender}_{stamp}.jpg.chip.jpg" if i >= n_images - malformed
                else f"{age}_{gender}_4_{stamp}.jpg.chip.jpg")
        save_image(img, root / FOLDER / name)


SPEC = register(DatasetSpec(
    key="utkface", title="UTKFace", folder="UTKFace", papers="paper 1 (base models)", tree=TREE,
    request="It is released for non-commercial research by its authors (Zhang, Song & Qi): see "
            "https://susanqq.github.io/UTKFace/.",
    load=load, write_twin=write_twin))
