"""10k US Adult Faces Database: the 2,222 annotated targets and their 40 attribute ratings.

Layout (Bainbridge, Isola & Oliva 2013; see ``shared/research/papers.md``)::

    Face Annotations/Images and Annotations/{n}.jpg, {n}_landmarks.txt      n = 1..2222
    Full Attribute Scores/target-filenames.txt                               "n,original name"
    Full Attribute Scores/psychology attributes/psychology-attributes.xlsx
        sheets "All Data" (per rater), "Final Values" (means), "StDev Values"
    Full Attribute Scores/demographic & others labels/demographic-others-labels.xlsx  (optional)

Labels are the 40 columns of "Final Values" (1-9 rating means); the paper-3 split is made on the
rows of that sheet in their order, as [P3] does, so a skipped image never moves another one to a
different split.

Assumptions where the published layout is silent (the twin follows them; the loader does not
depend on them): "All Data" holds one row per (image, rater slot) with the 20 columns of survey
version 1 (the first 20 of "Final Values", an alphabetical run) then ``catch, catchAns, subage,
submale, subrace``, then version 2 likewise; the landmark files hold one ``x y`` pair per line; the
demographic workbook has a "Final Values" sheet with ``Image #`` and one column per question
(``age`` 1-5, ``gender`` 0 female / 1 male, ``emotion`` 0-6), which the loader adds as ``demo_*``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from ..synth.attributes import ATTRIBUTE_COLUMNS, rate
from ..synth.dataset import nuisance_config
from ..synth.generate import sample_face
from .core import (DatasetSpec, FaceDataset, IncompleteDatasetError, LabelError, LayoutError,
                   SchemaError, UnreadableFileError, check_labels, check_unique, listing, register)
from .io import Reader, cached, read_numbers, resize, scale_points
from .splits import kfold_scheme, paper3_scheme
from .twins import render, save_image

IMAGES = "Face Annotations/Images and Annotations"
NAMES = "Full Attribute Scores/target-filenames.txt"
WORKBOOK = "Full Attribute Scores/psychology attributes/psychology-attributes.xlsx"
DEMOGRAPHICS = "Full Attribute Scores/demographic & others labels/demographic-others-labels.xlsx"
SHEETS = ("All Data", "Final Values", "StDev Values")
RATER_FIELDS = ("catch", "catchAns", "subage", "submale", "subrace")
#: Columns the real sheets have besides the attributes (papers.md): never "unexpected".
KNOWN_COLUMNS = ("Filename",) + RATER_FIELDS
#: A standard deviation of 1-9 ratings lies in [0, 8].
SD_RANGE = (0.0, 8.0)
#: Codes of the demographic questions the loader checks (10k attribute README).
DEMOGRAPHIC_CODES = {"age": (1.0, 5.0), "gender": (0, 1), "emotion": tuple(range(7))}
#: SynthFace emotion (CK+ code) -> the demographic sheet's emotion code (0 neutral, 1 happiness,
#: 2 sadness, 3 anger, 4 fear, 5 surprise, 6 disgust). Contempt has no code there: neutral.
_EMOTION_TO_DEMO = {0: 0, 1: 3, 2: 0, 3: 6, 4: 4, 5: 1, 6: 2, 7: 5}

TREE = """\
Face Annotations/
    Images and Annotations/
        1.jpg  1_landmarks.txt  ...  2222.jpg  2222_landmarks.txt
Full Attribute Scores/
    target-filenames.txt
    psychology attributes/
        psychology-attributes.xlsx   (sheets "All Data", "Final Values", "StDev Values";
                                      "Final Values" has "Image #" and the 40 attribute columns)
    demographic & others labels/
        demographic-others-labels.xlsx   (optional)
"""


def _read_workbook(path: Path, required: dict[str, tuple[str, ...]], body: tuple[str, ...]
                   ) -> dict[str, pd.DataFrame]:
    """Check sheets and columns of a workbook; read the rows of the sheets in ``body``.

    Raises :class:`SchemaError` listing what is missing and what was found.
    """
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a damaged file
        raise UnreadableFileError(f"cannot read workbook {path}: {err}") from None
    try:
        missing = [s for s in required if s not in wb.sheetnames]
        if missing:
            raise SchemaError(f"{path.name}: missing sheet(s) {listing(missing)}; found sheets: "
                              f"{listing(wb.sheetnames)}")
        out = {}
        for sheet, columns in required.items():
            rows = wb[sheet].iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            _no_duplicate_columns(path, sheet, header, columns)
            lost = [c for c in columns if c not in header]
            if lost:
                extra = [h for h in header if h and h not in columns and h not in KNOWN_COLUMNS]
                raise SchemaError(f"{path.name}, sheet {sheet!r}: missing column(s) {listing(lost)}; "
                                  f"found columns: {listing(header, 12)}"
                                  + (f" (unexpected: {listing(extra)})" if extra else ""))
            if sheet in body:
                data = [r for r in rows if any(v is not None for v in r)]
                first = {h: k for k, h in reversed(list(enumerate(header))) if h}
                out[sheet] = pd.DataFrame({h: [r[k] if k < len(r) else None for r in data]
                                           for h, k in first.items()})
        return out
    finally:
        wb.close()


def _no_duplicate_columns(path: Path, sheet: str, header: list[str], columns: tuple[str, ...]
                          ) -> None:
    """:class:`SchemaError` naming a required column whose header appears more than once."""
    places: dict[str, list[str]] = {}
    for k, h in enumerate(header):
        if h in columns:
            places.setdefault(h, []).append(get_column_letter(k + 1))
    dups = [f"{h!r} (columns {' and '.join(ls)})" for h, ls in places.items() if len(ls) > 1]
    if dups:
        raise SchemaError(f"{path.name}, sheet {sheet!r}: duplicate column header(s) "
                          f"{listing(dups)}: which one holds the values is ambiguous; rename or "
                          "delete the extra column")


def _image_numbers(frame: pd.DataFrame, sheet: str) -> np.ndarray:
    """The ``Image #`` column as positive integers; :class:`LabelError` naming bad rows."""
    raw = frame["Image #"].tolist()
    ids = pd.to_numeric(frame["Image #"], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(ids) & (ids == np.round(ids)) & (ids >= 1)
    if not ok.all():
        bad = [f"row {r + 2} ({raw[r]!r})" for r in np.flatnonzero(~ok)]
        raise LabelError(f"10k US Adult Faces: sheet {sheet!r}: 'Image #' must be a positive "
                         f"integer: {listing(bad)}")
    return ids.astype(np.int64)


def load(root: Path | str, *, size: int | None = 96, grayscale: bool = False, n_folds: int = 5,
         split_seed: int = 42, strict: bool = False, cache: bool | Path | str = True) -> FaceDataset:
    """Load the 2,222 annotated targets of the 10k US Adult Faces Database.

    Parameters
    ----------
    root : path
        The folder holding ``Face Annotations/`` and ``Full Attribute Scores/``.
    size : int or None
        Images are resized to ``size`` x ``size`` (None: keep their size, which must then agree).
    grayscale : bool
        Convert to gray (else RGB).
    n_folds, split_seed : int
        The k-fold scheme offered next to the paper-3 split (which always uses seed 42).
    strict : bool
        Raise on an unreadable or missing image instead of skipping and listing it.
    cache : bool or path
        See :func:`facexai.datasets.io.cached`.

    Returns
    -------
    FaceDataset
        ``labels``: the 40 attribute means, ``sd_<attribute>`` from "StDev Values", the original
        file name and ``demo_*`` demographic labels when that workbook is there; splits
        ``paper3`` (1,421/356/445 of 2,222 rows, seed 42) and ``kfold``.
    """
    root = SPEC.require(root, IMAGES, WORKBOOK)
    labels, ids, sources = _labels(root)
    if len(ids) < max(n_folds, 3):
        raise IncompleteDatasetError(
            f"10k US Adult Faces: sheet 'Final Values' of {root / WORKBOOK} lists {len(ids)} "
            f"image(s), too few for the paper-3 split and {n_folds} folds (the database has "
            "2,222): the workbook looks truncated")
    folder = root / IMAGES
    images = [folder / f"{i}.jpg" for i in ids]
    marks = [folder / f"{i}_landmarks.txt" for i in ids]
    sources += [p for p in images + marks if p.is_file()]
    options = dict(size=size, grayscale=grayscale, n_folds=n_folds, split_seed=split_seed,
                   strict=strict)

    def build() -> FaceDataset:
        return _build(root, labels, ids, images, marks, size=size, grayscale=grayscale,
                      n_folds=n_folds, split_seed=split_seed, strict=strict)

    return cached("tenk", root, sources, options, build, cache)


def _labels(root: Path) -> tuple[pd.DataFrame, np.ndarray, list[Path]]:
    """The workbook's means and SDs (checked), file names and demographics when present: the
    labels by image number, the image numbers, and the label files read."""
    cols = ("Image #",) + ATTRIBUTE_COLUMNS
    sheets = _read_workbook(root / WORKBOOK, {s: cols for s in SHEETS}, SHEETS[1:])
    final, sd = sheets["Final Values"], sheets["StDev Values"]
    ids = _image_numbers(final, "Final Values")
    check_unique(ids.tolist(), [f"'Final Values' row {r + 2}" for r in range(len(ids))],
                 "'Image #'", "10k US Adult Faces")
    values = _numbers(final, ids, "Final Values", (1.0, 9.0), "rating")
    sd_ids = _image_numbers(sd, "StDev Values")
    if set(sd_ids.tolist()) != set(ids.tolist()):
        raise LayoutError(f"{WORKBOOK}: 'StDev Values' and 'Final Values' list different images: "
                          f"{listing(sorted(set(sd_ids.tolist()) ^ set(ids.tolist())))}")
    sds = pd.DataFrame(_numbers(sd, sd_ids, "StDev Values", SD_RANGE, "standard deviation"),
                       index=sd_ids, columns=list(ATTRIBUTE_COLUMNS))
    labels = pd.DataFrame(values, columns=list(ATTRIBUTE_COLUMNS), index=pd.Index(ids, name="image"))
    labels = labels.join(sds.add_prefix("sd_"))
    if (root / NAMES).is_file():
        labels["filename"] = labels.index.map(_target_names(root / NAMES))
    sources = [root / WORKBOOK] + [p for p in (root / NAMES, root / DEMOGRAPHICS) if p.is_file()]
    if (root / DEMOGRAPHICS).is_file():
        labels = labels.join(_demographics(root / DEMOGRAPHICS, ids))
    return labels, ids, sources


def _numbers(frame: pd.DataFrame, ids: np.ndarray, sheet: str, bounds: tuple[float, float],
             what: str) -> np.ndarray:
    """The attribute columns of a sheet as floats in ``bounds``; :class:`LabelError` naming the
    sheet, row, image and column of every other cell (text, blank, out of range) with its value."""
    raw = frame[list(ATTRIBUTE_COLUMNS)]
    values = raw.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        ok = (values >= bounds[0]) & (values <= bounds[1])
    if not ok.all():
        bad = [f"'{sheet}' row {r + 2}, Image # {ids[r]}, column {ATTRIBUTE_COLUMNS[c]!r} "
               f"({_cell(raw.iat[r, c])!r})" for r, c in zip(*np.nonzero(~ok))]
        raise LabelError(f"10k US Adult Faces: {len(bad)} {what} value(s) of sheet {sheet!r} are "
                         f"not numbers in [{bounds[0]:g}, {bounds[1]:g}]: {listing(bad)}")
    return values


def _build(root: Path, labels: pd.DataFrame, ids: np.ndarray, images: list[Path],
           marks: list[Path], *, size, grayscale: bool, n_folds: int, split_seed: int,
           strict: bool) -> FaceDataset:
    """Read every target's image and landmarks; the dataset with the paper-3 and k-fold splits."""
    reader = Reader(root, strict)
    keep, arrays, points = [], [], []
    for r, (img_path, mark_path) in enumerate(zip(images, marks)):
        if not img_path.is_file():
            reader.skip(img_path, "missing image file")
            continue
        img = reader.image(img_path)
        if img is None:
            continue
        keep.append(r)
        arrays.append(resize(img, size, grayscale))
        pts = read_numbers(mark_path) if mark_path.is_file() else None
        points.append(None if pts is None or pts.shape[1] != 2
                      else scale_points(pts, img.shape, size))
    if not keep and not any(p.is_file() for p in images):
        raise IncompleteDatasetError(
            f"10k US Adult Faces: none of the {len(ids)} images listed in 'Final Values' "
            f"({images[0].name} ... {images[-1].name}) is in {root / IMAGES}: the images are "
            "missing or in another folder")
    reader.require_any(len(keep), len(images), "10k US Adult Faces")
    if len({a.shape for a in arrays}) > 1:
        raise LayoutError(f"{root}: images differ in size; load with size=<int>")
    keep_idx = np.array(keep, dtype=np.int64)
    n_marks = {p.shape[0] for p in points if p is not None}
    landmarks = None
    if len(n_marks) == 1:
        n_l = n_marks.pop()
        landmarks = np.stack([p if p is not None else np.full((n_l, 2), np.nan, np.float32)
                              for p in points]).astype(np.float32)
    splits = {"paper3": paper3_scheme(len(ids)).subset(keep_idx),
              "kfold": kfold_scheme(len(ids), n_folds, split_seed).subset(keep_idx)}
    return FaceDataset(
        key="tenk", images=np.stack(arrays) if arrays else np.zeros((0, 1, 1), np.uint8),
        labels=labels.iloc[keep_idx], target=None, classes=None,
        subjects=ids[keep_idx].astype(str), files=tuple(reader.rel(images[r]) for r in keep),
        splits=splits, root=root, landmarks=landmarks, skipped=reader.skipped,
        notes={"rows_in_sheet": len(ids)}).check()



def _target_names(path: Path) -> dict[int, str]:
    """``target-filenames.txt``: lines ``n,name`` (or just ``name``, numbered by line)."""
    out: dict[int, str] = {}
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    numbers = []
    for k, line in enumerate(lines, 1):
        num, sep, name = line.partition(",")
        n = int(num) if sep and num.strip().isdigit() else k
        out[n] = name.strip() if sep and num.strip().isdigit() else line
        numbers.append(n)
    check_unique(numbers, [f"{path.name} line {k}" for k in range(1, len(lines) + 1)], "image number",
                 "10k US Adult Faces")
    return out


def _demographics(path: Path, ids: np.ndarray) -> pd.DataFrame:
    frame = _read_workbook(path, {"Final Values": ("Image #",)}, ("Final Values",))["Final Values"]
    nums = _image_numbers(frame, "Final Values")
    check_unique(nums.tolist(), [f"{path.name} row {r + 2}" for r in range(len(nums))],
                 "'Image #'", "10k US Adult Faces demographics")
    frame = frame.drop(columns=[c for c in ("Image #", "Filename") if c in frame]).set_index(nums)
    for col, codes in DEMOGRAPHIC_CODES.items():
        if col in frame:
            vals = pd.to_numeric(frame[col], errors="coerce").to_numpy()
            check_labels(vals, codes, [f"{path.name} Image # {i}" for i in nums], repr(col),
                         "10k US Adult Faces demographics")
    return frame.add_prefix("demo_").reindex(ids)


# --------------------------------------------------------------------------------------------
# The synthetic twin
# --------------------------------------------------------------------------------------------


def write_twin(root: Path | str, *, n_targets: int, seed: int, render_size: int = 128,
               n_raters: int = 15, nuisance_scale: float = 1.0, workers: int = 1,
               proxies: float = 1.0) -> None:
    """Write the 10k twin: SynthFace faces ``0..n_targets-1`` of ``seed`` rated by simulated panels.

    The faces are those of :func:`facexai.synth.dataset.sample_population` (one identity per
    image) and the ratings those of :func:`facexai.synth.attributes.rate`, so "Final Values"
    equals ``Ratings.means`` and "StDev Values" ``Ratings.sds``. ``proxies`` says how strongly
    hair length and stubble follow sex (1 realistic; :func:`facexai.synth.factors.sample_identity`).
    """
    root = Path(root)
    cfg = nuisance_config(nuisance_scale)
    params = [sample_face(seed, i, nuisance=cfg, proxies=proxies) for i in range(n_targets)]
    images, landmarks = render(params, render_size, workers)
    ratings = rate(params, seed, n_raters=n_raters)
    ids = np.arange(1, n_targets + 1)
    names = [f"SynthFace_{n:04d}_oval.jpg" for n in ids]
    folder = root / IMAGES
    folder.mkdir(parents=True)
    for n, img, pts in zip(ids, images, landmarks):
        save_image(img, folder / f"{n}.jpg")
        (folder / f"{n}_landmarks.txt").write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in pts))
    (root / NAMES).parent.mkdir(parents=True, exist_ok=True)
    (root / NAMES).write_text("".join(f"{n},{name}\n" for n, name in zip(ids, names)))
    _write_workbook(root / WORKBOOK, ids, names, ratings.raw, ratings.means, ratings.sds, seed)
    demo = pd.DataFrame({"Image #": ids, "Filename": names,
                         "age": [1 + int(np.searchsorted([20, 30, 45, 60], p.identity.age, "right"))
                                 for p in params],
                         "gender": [p.identity.sex for p in params],
                         "emotion": [_EMOTION_TO_DEMO[p.emotion] for p in params]})
    wb = openpyxl.Workbook(write_only=True)
    for name, frame in (("Final Values", demo),
                        ("Operations", pd.DataFrame([["", "", "m", "m", "m"]], columns=demo.columns))):
        ws = wb.create_sheet(name)
        ws.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            ws.append([_cell(v) for v in row])
    (root / DEMOGRAPHICS).parent.mkdir(parents=True, exist_ok=True)
    wb.save(root / DEMOGRAPHICS)


def _cell(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _write_workbook(path: Path, ids, names, raw: np.ndarray, means: pd.DataFrame, sds: pd.DataFrame,
                    seed: int) -> None:
    """psychology-attributes.xlsx with its three sheets (write-only mode: fast for big sheets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    v1, v2 = list(ATTRIBUTE_COLUMNS[:20]), list(ATTRIBUTE_COLUMNS[20:])
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("All Data")
    ws.append(["Image #", "Filename"] + v1 + list(RATER_FIELDS) + v2 + list(RATER_FIELDS))
    n_raters = raw.shape[2]
    # who the raters are (version, slot): age, male, race code; every kept rater passed the catch
    rng = np.random.default_rng([seed, 7, n_raters])
    people = [[[int(rng.integers(18, 70)), int(rng.integers(0, 2)), int(rng.integers(1, 7))]
               for _ in range(n_raters)] for _ in range(2)]
    for i, (n, name) in enumerate(zip(ids, names)):
        catch = int(1 + (n * 7 + 3) % 9)
        for j in range(n_raters):
            ws.append([int(n), name] + raw[i, :20, j].tolist() + [catch, catch] + people[0][j]
                      + raw[i, 20:, j].tolist() + [catch, catch] + people[1][j])
    for sheet, frame in (("Final Values", means), ("StDev Values", sds)):
        ws = wb.create_sheet(sheet)
        ws.append(["Image #", "Filename"] + list(ATTRIBUTE_COLUMNS))
        for n, name, row in zip(ids, names, frame[list(ATTRIBUTE_COLUMNS)].to_numpy(float)):
            ws.append([int(n), name] + row.tolist())
    wb.save(path)


SPEC = register(DatasetSpec(
    key="tenk", title="10k US Adult Faces Database", folder="10k US Adult Faces Database",
    papers="papers 1 and 3", tree=TREE,
    request="It is distributed by its authors (Bainbridge, Isola & Oliva) on request with a "
            "signed agreement: see https://www.wilmabainbridge.com/facememorability2.html.",
    load=load, write_twin=write_twin))
