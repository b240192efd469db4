"""KDEF, the Karolinska Directed Emotional Faces: 70 people, 7 expressions, 5 angles, 2 series.

Layout: ``KDEF/<ID>/<ID><EX><ANGLE>.JPG``, e.g. ``KDEF/AF01/AF01ANS.JPG`` = series A, female,
person 01, afraid, straight. ``<ID>`` is series (A/B) + sex (F/M) + two digits; the same person
is photographed in both series, so the *subject* is sex + number (``F01``). Images are 562 x 762
JPEG. KDEF has no landmarks, no AU labels and no official split; paper 1 used "a subset of KDEF
images" without saying which (NOT FOUND), so the loader offers subject-independent folds
(:func:`facexai.datasets.splits.subject_folds`) and an ``angles`` filter.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..synth.dataset import nuisance_config
from ..synth.factors import sample_identity
from ..synth.generate import sample_face
from .core import (DatasetSpec, DuplicateIdError, FaceDataset, IncompleteDatasetError, LayoutError,
                   check_subject_independent, listing, register)
from .io import Reader, cached, entries, resize
from .splits import rotating_scheme, subject_folds
from .twins import place, render, save_image

#: Expression codes in file names, with their names and CK+ emotion codes.
EXPRESSIONS: dict[str, tuple[str, int]] = {
    "AF": ("afraid", 4), "AN": ("angry", 1), "DI": ("disgusted", 3), "HA": ("happy", 5),
    "NE": ("neutral", 0), "SA": ("sad", 6), "SU": ("surprised", 7),
}
#: Camera angles: full left, half left, straight, half right, full right.
ANGLES: tuple[str, ...] = ("FL", "HL", "S", "HR", "FR")
NAME = re.compile(r"^([AB])([FM])(\d\d)(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.(jpe?g|png)$", re.I)
FOLDER = re.compile(r"^[AB][FM]\d\d$", re.I)
WIDTH, HEIGHT = 562, 762
# SynthFace's yaw (-1..1, a fake out-of-plane turn) stands in for the camera angle in the twin
_YAW = {"FL": -1.0, "HL": -0.5, "S": 0.0, "HR": 0.5, "FR": 1.0}

TREE = """\
KDEF/
    AF01/
        AF01AFFL.JPG  AF01AFHL.JPG  AF01AFS.JPG  ...  AF01SUFR.JPG   (7 expressions x 5 angles)
    AF02/ ... AM01/ ... BF01/ ... BM35/
"""


def _kdef_folder(root: Path) -> Path:
    """``root/KDEF``, or ``root`` itself when it directly holds the ``AF01``-style folders."""
    if (root / "KDEF").is_dir():
        return root / "KDEF"
    if root.is_dir() and any(FOLDER.match(p.name) for p in entries(root) if p.is_dir()):
        return root
    raise SPEC.not_found(root, root / "KDEF")


def load(root: Path | str, *, size: int | None = 96, grayscale: bool = False,
         angles: tuple[str, ...] = ANGLES, square: bool = True, n_folds: int = 5,
         strict: bool = False, cache: bool | Path | str = True) -> FaceDataset:
    """Load KDEF images of the given ``angles``.

    Parameters
    ----------
    root : path
        The folder holding ``KDEF/`` (or the ``KDEF`` folder itself).
    size, grayscale : see :func:`facexai.datasets.tenk.load`.
    angles : tuple of str
        Angle codes to keep (``"S"`` = straight only); images of other angles are not read.
    square : bool
        Cut the centred square (562 x 562) out of the 562 x 762 portrait before resizing, so a
        square ``size`` does not squash the face (paper 1's preprocessing is NOT FOUND).
    n_folds : int
        Subject-independent folds (test fold k, validation fold k+1 mod n, as for CK+).
    strict : bool
        Raise on an unreadable or misnamed file instead of skipping and listing it.
    """
    root = SPEC.require(root)
    unknown = sorted(set(angles) - set(ANGLES))
    if unknown:
        raise ValueError(f"unknown KDEF angle code(s) {unknown}; codes: {ANGLES}")
    folder = _kdef_folder(root)
    reader = Reader(root, strict)
    records, n_named = _scan(folder, angles, reader)
    if not records:
        raise IncompleteDatasetError(f"KDEF: no image to load in {folder}: " + (
            f"none of its {n_named} image(s) has angle(s) {', '.join(angles)}" if n_named else
            "no file named <ID><EX><ANGLE>.JPG in an <ID> folder (e.g. AF01/AF01AFS.JPG)"
            + (f"; {len(reader.skipped)} misnamed file(s) skipped, e.g. {reader.skipped[0].path}"
               if reader.skipped else "; the folder is empty")))
    pre_skipped = list(reader.skipped)
    options = dict(size=size, grayscale=grayscale, angles=list(angles), square=square,
                   n_folds=n_folds, strict=strict)

    def build() -> FaceDataset:
        reader.skipped = list(pre_skipped)
        return _build(root, records, reader, size=size, grayscale=grayscale, angles=angles,
                      square=square, n_folds=n_folds)

    return cached("kdef", root, [r[0] for r in records], options, build, cache)


def _scan(folder: Path, angles, reader: Reader) -> tuple[list[tuple], int]:
    """Every well-named image of the kept ``angles``: (path, series, sex, identity, expression,
    angle), and the number of well-named images of any angle; misnamed files are skipped, an
    image code present twice is an error."""
    records, seen = [], {}
    for sub in entries(folder):
        if not sub.is_dir():
            continue
        for path in entries(sub):
            m = NAME.match(path.name)
            if not m:
                reader.skip(path, "name does not follow <ID><EX><ANGLE>.JPG", LayoutError)
                continue
            series, sex, num, ex, angle = (g.upper() for g in m.groups()[:5])
            if f"{series}{sex}{num}" != sub.name.upper():
                reader.skip(path, f"image of {series}{sex}{num} in folder {sub.name}", LayoutError)
                continue
            code = f"{series}{sex}{num}{ex}{angle}"
            seen.setdefault(code, []).append(reader.rel(path))
            if angle in angles:
                records.append((path, series, sex, f"{sex}{num}", ex, angle))
    dups = {c: ps for c, ps in seen.items() if len(ps) > 1}
    if dups:
        raise DuplicateIdError(f"KDEF: {len(dups)} image code(s) present twice: " + listing(
            [f"{c} ({' and '.join(ps)})" for c, ps in dups.items()]))
    return records, len(seen)


def _build(root: Path, records: list[tuple], reader: Reader, *, size, grayscale: bool, angles,
           square: bool, n_folds: int) -> FaceDataset:
    """Read (and square-crop) the images; the dataset with its subject-independent folds."""
    rows, arrays = [], []
    for rec in records:
        img = reader.image(rec[0])
        if img is not None:
            if square:
                h, w = img.shape[:2]
                side = min(h, w)
                top, left = (h - side) // 2, (w - side) // 2
                img = img[top:top + side, left:left + side]
            rows.append(rec)
            arrays.append(resize(img, size, grayscale))
    reader.require_any(len(rows), len(records), "KDEF")
    if len({a.shape for a in arrays}) > 1:
        raise LayoutError(f"{root}: images differ in size; load with size=<int>")
    names = list(EXPRESSIONS)
    labels = pd.DataFrame(
        [{"series": s, "sex": x, "identity": i, "expression": e, "label": names.index(e),
          "emotion": EXPRESSIONS[e][1], "angle": a} for _, s, x, i, e, a in rows])
    subjects = np.array([r[3] for r in rows], dtype=str)
    files = tuple(reader.rel(r[0]) for r in rows)
    scheme = rotating_scheme(subject_folds(subjects, n_folds), n_folds, "subject_folds",
                             f"{n_folds} subject-independent folds (subject i of the sorted list "
                             f"-> fold i mod {n_folds}); test k, validation k+1")
    check_subject_independent(scheme, subjects, files, "KDEF")
    return FaceDataset(
        key="kdef", images=np.stack(arrays) if arrays else np.zeros((0, 1, 1), np.uint8),
        labels=labels, target="label", classes=tuple(EXPRESSIONS[e][0] for e in names),
        subjects=subjects, files=files, splits={"subject_folds": scheme}, root=root,
        skipped=reader.skipped, notes={"angles": list(angles)}).check()


def twin_params(n_identities: int, seed: int, *, angles: tuple[str, ...] = ANGLES,
                nuisance_scale: float = 0.5) -> tuple[list, pd.DataFrame]:
    """The FaceParams of every image of the KDEF twin (what :func:`write_twin` renders) and a
    table of them: ``file`` (``KDEF/AF01/AF01AFS.JPG``), ``subject`` (``F01``), ``series``,
    ``expression`` (code), ``label`` (its index in :data:`EXPRESSIONS`) and ``angle``.

    ``n_identities`` SynthFace people, alternately female and male: subject ``k`` of each sex is
    the ``k``-th SynthFace identity of that sex (scanning subject numbers of ``seed`` upwards);
    both series, all 7 expressions, the ``angles`` (SynthFace's yaw stands in for the angle).
    """
    unknown = sorted(set(angles) - set(ANGLES))
    if unknown or not angles:
        raise ValueError(f"angles: unknown KDEF angle code(s) {unknown}; codes: {ANGLES}")
    people, counts, s = [], {"F": 0, "M": 0}, 0
    while len(people) < n_identities:
        sex = "FM"[len(people) % 2]
        while "FM"[sample_identity(seed, s).sex] != sex:
            s += 1
        counts[sex] += 1
        people.append((s, f"{sex}{counts[sex]:02d}"))
        s += 1
    cfg, params, rows = nuisance_config(nuisance_scale), [], []
    for k, (subject, name) in enumerate(people):
        for b, series in enumerate("AB"):
            for e, ex in enumerate(EXPRESSIONS):
                for a, angle in enumerate(ANGLES):
                    if angle not in angles:
                        continue
                    p = sample_face(seed, ((k * 2 + b) * 7 + e) * 5 + a, subject=subject,
                                    emotion=EXPRESSIONS[ex][1], nuisance=cfg)
                    params.append(replace(p, nuisance=replace(p.nuisance, yaw=_YAW[angle])))
                    rows.append({"file": f"KDEF/{series}{name}/{series}{name}{ex}{angle}.JPG",
                                 "subject": name, "series": series, "expression": ex, "label": e,
                                 "angle": angle})
    return params, pd.DataFrame(rows, columns=["file", "subject", "series", "expression",
                                               "label", "angle"])


def write_twin(root: Path | str, *, n_identities: int, seed: int, render_size: int = 128,
               nuisance_scale: float = 0.5, workers: int = 1,
               angles: tuple[str, ...] = ANGLES) -> None:
    """Write the KDEF twin: the faces of :func:`twin_params` (``n_identities`` SynthFace people,
    alternately F and M, both series, all 7 expressions at the ``angles``, default all 5), as
    562 x 762 JPEGs in ``KDEF/<ID>/``."""
    params, table = twin_params(n_identities, seed, angles=angles, nuisance_scale=nuisance_scale)
    images, landmarks = render(params, render_size, workers)
    for img, pts, file in zip(images, landmarks, table["file"]):
        canvas, _ = place(img, pts, WIDTH, HEIGHT, WIDTH)
        save_image(canvas, Path(root) / file)


SPEC = register(DatasetSpec(
    key="kdef", title="KDEF", folder="KDEF_and_AKDEF", papers="paper 1", tree=TREE,
    request="It is distributed by Karolinska Institutet for non-commercial research on request: "
            "see https://kdef.se/.",
    load=load, write_twin=write_twin))
