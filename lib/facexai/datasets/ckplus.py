"""CK+, the Extended Cohn-Kanade dataset: posed sequences from neutral to the apex of an emotion.

Layout (CK+ README)::

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Landmarks/S005/001/S005_001_00000011_landmarks.txt     68 rows "x y" (every frame)
    FACS/S005/001/S005_001_00000011_facs.txt               rows "AU intensity" (last frame)
    Emotion/S005/001/S005_001_00000011_emotion.txt         one float code 0-7 (labelled only)

Numbers in the text files are written MATLAB-style (``   3.0000000e+00``). The paper-2 scripts
expect ``Emotion_labels/`` (the name of the zip) instead of ``Emotion/``; both are accepted.

The paper-2 conventions ([KH] ``make_ck_plus_dataset.py``) are the defaults: only labelled
sequences; the first frame labelled neutral (0) plus the last three frames labelled with the
sequence's emotion; grayscale; the Haar-cascade face crop resized to 96 x 96; 10
subject-independent folds (subject i of the sorted list -> fold i mod 10) with test fold k and
validation fold (k + 1) mod 10. The FACS labels are coded at the last frame; the loader gives them
to the last three frames and none to the neutral first frame.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..synth.aus import sequence
from ..synth.dataset import nuisance_config
from ..synth.factors import AUS, EMOTIONS
from ..synth.generate import sample_face
from .core import (DatasetSpec, DuplicateIdError, FaceDataset, IncompleteDatasetError, LabelError,
                   LayoutError, UnreadableFileError, check_labels, check_subject_independent,
                   listing, register)
from .facecrop import haar_crop
from .io import Reader, cached, entries, format_row, read_numbers, resize, scale_points, to_gray
from .splits import rotating_scheme, subject_folds
from .twins import place, render, save_image

IMAGES = "cohn-kanade-images"
EMOTION_DIRS = ("Emotion", "Emotion_labels")
SUBJECT, SEQUENCE = re.compile(r"^S\d{3}$"), re.compile(r"^\d{3}$")
WIDTH, HEIGHT = 640, 490
#: FACS intensity codes: 0 = not given, 1-5 = A-E.
INTENSITIES = tuple(range(6))
#: SynthFace AU intensity at or above which the twin's FACS file lists the AU.
AU_PRESENT = 0.1

TREE = """\
cohn-kanade-images/
    S005/
        001/
            S005_001_00000001.png ... S005_001_00000011.png
Emotion/          (or Emotion_labels/)
    S005/001/S005_001_00000011_emotion.txt      one code 0-7, labelled sequences only
FACS/             (optional: AU labels)
    S005/001/S005_001_00000011_facs.txt         rows "AU intensity"
Landmarks/        (optional)
    S005/001/S005_001_00000001_landmarks.txt    68 rows "x y"
"""


def _one_file(folder: Path, suffix: str) -> Path | None:
    """The single ``*suffix`` file of a label folder (None if none; an error if several)."""
    if not folder.is_dir():
        return None
    found = [p for p in entries(folder) if p.name.endswith(suffix)]
    if len(found) > 1:
        raise DuplicateIdError(f"CK+: {folder} holds {len(found)} {suffix} files "
                               f"({listing(p.name for p in found)}); a sequence has one")
    return found[0] if found else None


def _emotion(path: Path) -> int:
    values = read_numbers(path).ravel()
    if values.size != 1:
        raise LabelError(f"CK+: {path} must hold one emotion code, found {values.size} numbers")
    check_labels(values, tuple(float(c) for c in range(len(EMOTIONS))), [str(path)],
                 "emotion", "CK+")
    return int(values[0])


def _facs(path: Path) -> dict[int, int]:
    rows = read_numbers(path)
    if rows.size and rows.shape[1] != 2:
        raise LabelError(f"CK+: {path}: FACS rows must be 'AU intensity', found {rows.shape[1]} columns")
    where = [f"{path} row {k + 1}" for k in range(len(rows))]
    bad = [f"{w} ({a:g})" for w, a in zip(where, rows[:, 0]) if a != round(a) or a < 1]
    if bad:
        raise LabelError(f"CK+: AU numbers must be positive integers: {listing(bad)}")
    check_labels(rows[:, 1], tuple(float(i) for i in INTENSITIES), where, "FACS intensity", "CK+")
    return {int(a): int(i) for a, i in rows}


def load(root: Path | str, *, frames: str = "paper2", crop: str | None = "haar",
         size: int | None = 96, grayscale: bool = True, n_folds: int = 10, strict: bool = False,
         cache: bool | Path | str = True) -> FaceDataset:
    """Load the labelled CK+ sequences.

    Parameters
    ----------
    root : path
        The folder holding ``cohn-kanade-images/`` and ``Emotion/`` (``FACS/``, ``Landmarks/``).
    frames : {"paper2", "peak"}
        ``"paper2"``: first frame (neutral) + last three frames (the emotion); ``"peak"``: the last
        frame only.
    crop : {"haar", None}
        ``"haar"``: the paper-2 Haar-cascade face crop to ``size`` (grayscale only); frames without a
        detection are kept whole and listed in ``notes["missed_faces"]``. None: resize the frame.
    size : int or None
        Output size (paper 2: 96).
    grayscale : bool
        Paper 2 uses gray images.
    n_folds : int
        Subject-independent folds (paper 2: 10).
    strict : bool
        Raise on an unreadable or misnamed image instead of skipping and listing it.
    """
    if frames not in ("paper2", "peak"):
        raise ValueError(f"frames must be 'paper2' or 'peak', got {frames!r}")
    if crop not in ("haar", None):
        raise ValueError(f"crop must be 'haar' or None, got {crop!r}")
    if crop == "haar" and (not grayscale or size is None):
        raise ValueError("the Haar crop (paper 2) makes grayscale images of a fixed size")
    emotion_dir = next((d for d in EMOTION_DIRS if (Path(root) / d).is_dir()), EMOTION_DIRS[0])
    root = SPEC.require(root, IMAGES, emotion_dir)
    for folder, what in ((IMAGES, "images"), (emotion_dir, "labels")):
        _not_nested(root / folder, what)
    reader = Reader(root, strict)
    records, sources, unlabelled = _scan(root, emotion_dir, frames, reader)
    if not records:
        raise IncompleteDatasetError(f"CK+: no labelled sequence with images under {root}: "
                                     + _why_empty(root, emotion_dir, reader))
    pre_skipped = list(reader.skipped)
    options = dict(frames=frames, crop=crop, size=size, grayscale=grayscale, n_folds=n_folds,
                   strict=strict)

    def build() -> FaceDataset:
        reader.skipped = list(pre_skipped)
        return _build(root, records, unlabelled, reader, crop=crop, size=size,
                      grayscale=grayscale, n_folds=n_folds)

    return cached("ckplus", root, sources, options, build, cache)


def _not_nested(folder: Path, what: str) -> None:
    """:class:`LayoutError` when the subject folders sit one level too deep (an archive unzipped
    into a folder of its own name: ``Emotion_labels/Emotion/S005/...``)."""
    subs = [p for p in entries(folder) if p.is_dir()]
    if not subs or any(SUBJECT.match(p.name) for p in subs):
        return
    for sub in subs:
        if any(SUBJECT.match(p.name) and p.is_dir() for p in entries(sub)):
            raise LayoutError(
                f"CK+: {what} look unzipped one level too deep: the subject folders (S005/...) are "
                f"in {sub}, expected directly in {folder}; move them up one level")


def _label_dirs(root: Path, emotion_dir: str) -> dict[str, Path]:
    """Every ``Snnn/nnn`` folder of the emotion labels holding an ``_emotion.txt`` file."""
    found = {}
    for subj in entries(root / emotion_dir):
        if subj.is_dir() and SUBJECT.match(subj.name):
            for seq in entries(subj):
                if seq.is_dir() and SEQUENCE.match(seq.name):
                    emo = _one_file(seq, "_emotion.txt")
                    if emo is not None:
                        found[f"{subj.name}/{seq.name}"] = emo
    return found


def _why_empty(root: Path, emotion_dir: str, reader: Reader) -> str:
    """The likely cause of a CK+ copy without a usable sequence."""
    subjects = [p for p in entries(root / IMAGES) if p.is_dir() and SUBJECT.match(p.name)]
    labels = _label_dirs(root, emotion_dir)
    if not subjects:
        return f"{IMAGES}/ holds no subject folder Snnn (an empty or incomplete copy)"
    if not labels:
        return (f"{emotion_dir}/ holds no Snnn/nnn/*_emotion.txt file (the labels come in their own "
                "archive, Emotion_labels.zip: unzip it into the copy)")
    return (f"none of the {len(labels)} emotion label(s) under {emotion_dir}/ matches a sequence "
            f"with images in {IMAGES}/ (e.g. {next(iter(labels))}): images and labels come from "
            "different copies, or the images are incomplete")


def _scan(root: Path, emotion_dir: str, frames: str, reader: Reader) -> tuple[list, list, list]:
    """The labelled sequences' chosen frames (records), every file read (sources), and the
    sequences without an emotion label; a label of a sequence without images is skipped."""
    records, sources, unlabelled = [], [], []
    orphans = _label_dirs(root, emotion_dir)
    for subj in entries(root / IMAGES):
        if not (subj.is_dir() and SUBJECT.match(subj.name)):
            reader.skip(subj, "not a subject folder Snnn", LayoutError)
            continue
        for seq in entries(subj):
            if not (seq.is_dir() and SEQUENCE.match(seq.name)):
                reader.skip(seq, "not a sequence folder nnn", LayoutError)
                continue
            rel = f"{subj.name}/{seq.name}"
            pngs = _frames(seq, subj.name, reader)
            emo_file = orphans.get(rel)
            if emo_file is None or not pngs:
                unlabelled += [] if emo_file else [rel]
                continue
            del orphans[rel]
            code = _emotion(emo_file)
            facs_file = _one_file(root / "FACS" / rel, "_facs.txt")
            facs = _facs(facs_file) if facs_file else None
            sources += [f for f in (emo_file, facs_file) if f]
            chosen = [(pngs[0], 0, "first")] + [(p, code, "last3") for p in pngs[1:][-3:]] \
                if frames == "paper2" else [(pngs[-1], code, "peak")]
            for png, label, role in chosen:
                mark = root / "Landmarks" / rel / f"{png.stem}_landmarks.txt"
                records.append(dict(path=png, mark=mark, subject=subj.name, sequence=rel,
                                    frame=int(png.stem.rsplit("_", 1)[1]), emotion=label,
                                    role=role, facs=facs if role != "first" else {}))
                sources += [png] + ([mark] if mark.is_file() else [])
    for rel, emo in orphans.items():
        reader.skip(emo, f"emotion label of sequence {rel}, which has no images in {IMAGES}/",
                    LayoutError)
    return records, sources, unlabelled


def _frames(seq: Path, subject: str, reader: Reader) -> list[Path]:
    """The well-named frames of a sequence folder (others are skipped)."""
    pattern = re.compile(rf"^{subject}_{seq.name}_(\d{{8}})\.png$")
    pngs = []
    for p in entries(seq):
        if pattern.match(p.name):
            pngs.append(p)
        else:
            reader.skip(p, f"name does not follow {subject}_{seq.name}_nnnnnnnn.png", LayoutError)
    return pngs


def _read_frame(rec: dict, reader: Reader, crop, size, grayscale):
    """One chosen frame read and cropped or resized, with its landmarks (None: unreadable)."""
    img = reader.image(rec["path"])
    if img is None:
        return None
    pts = read_numbers(rec["mark"]) if rec["mark"].is_file() else None
    if pts is not None and pts.shape != (68, 2):
        raise UnreadableFileError(f"CK+: {rec['mark']} must hold 68 rows 'x y', "
                                  f"found shape {pts.shape}")
    if crop == "haar":
        out, new_pts, found = haar_crop(to_gray(img), size, pts)
    else:
        out, found = resize(img, size, grayscale), True
        new_pts = None if pts is None else scale_points(pts, img.shape, size)
    return out, new_pts, found, pts is None


def _read_frames(records: list, reader: Reader, crop, size, grayscale) -> tuple:
    """Read, crop or resize each chosen frame and its landmarks; the frames kept, their arrays and
    points, the frames where the Haar cascade found no face, those without landmarks. (Decoding
    and the cascade run without the GIL: two threads read at once.)"""
    kept, arrays, points, missed, no_marks = [], [], [], [], []
    with ThreadPoolExecutor(2) as pool:
        frames = list(pool.map(lambda r: _read_frame(r, reader, crop, size, grayscale), records))
    reader.skipped.sort(key=lambda s: s.path)     # in file order whatever thread read them
    for rec, frame in zip(records, frames):
        if frame is None:
            continue
        out, new_pts, found, unmarked = frame
        if unmarked:
            no_marks.append(reader.rel(rec["path"]))
        if not found:
            missed.append(reader.rel(rec["path"]))
        kept.append(rec)
        arrays.append(out)
        points.append(new_pts if new_pts is not None else np.full((68, 2), np.nan, np.float32))
    return kept, arrays, points, missed, no_marks


def _build(root: Path, records: list, unlabelled: list, reader: Reader, *, crop, size,
           grayscale: bool, n_folds: int) -> FaceDataset:
    """The dataset of the chosen frames: images, labels, FACS codes, folds and notes."""
    kept, arrays, points, missed, no_marks = _read_frames(records, reader, crop, size, grayscale)
    reader.require_any(len(kept), len(records), "CK+")
    subjects = np.array([r["subject"] for r in kept], dtype=str)
    files = tuple(reader.rel(r["path"]) for r in kept)
    scheme = rotating_scheme(subject_folds(subjects, n_folds), n_folds, "paper2_folds",
                             f"paper-2 code: {n_folds} subject-independent folds (subject i of the "
                             f"sorted list -> fold i mod {n_folds}); test k, validation k+1")
    check_subject_independent(scheme, subjects, files, "CK+")
    labels = pd.DataFrame([{k: r[k] for k in ("emotion", "sequence", "frame", "role")}
                           for r in kept], columns=["emotion", "sequence", "frame", "role"])
    has_facs = any(r["facs"] is not None for r in kept)
    aus = intensity = None
    if has_facs:
        numbers = sorted({a for r in kept for a in (r["facs"] or {})})
        cols = [f"AU{a}" for a in numbers]
        intensity = pd.DataFrame([[(r["facs"] or {}).get(a, 0) for a in numbers] for r in kept],
                                 columns=cols, dtype=np.int8)
        aus = pd.DataFrame([[a in (r["facs"] or {}) for a in numbers] for r in kept],
                           columns=cols, dtype=bool)
    return FaceDataset(
        key="ckplus", images=np.stack(arrays) if arrays else np.zeros((0, 1, 1), np.uint8),
        labels=labels, target="emotion", classes=EMOTIONS, subjects=subjects, files=files,
        splits={"paper2_folds": scheme}, root=root,
        landmarks=np.stack(points) if points and len(no_marks) < len(kept) else None,
        aus=aus, au_intensity=intensity, skipped=reader.skipped,
        notes={"labelled_sequences": len({r["sequence"] for r in kept}),
               "unlabelled_sequences": len(unlabelled), "missed_faces": missed,
               "missing_landmarks": no_marks}).check()


def facs_code(intensity: float) -> int:
    """FACS intensity letter A-E (1-5) of a SynthFace AU intensity in (0, 1]."""
    return int(min(5, max(1, math.ceil(5 * intensity - 1e-9))))


def write_twin(root: Path | str, *, n_subjects: int, sequences_per_subject: int, n_frames: int,
               seed: int, render_size: int = 128, unlabelled_every: int = 3, color_every: int = 5,
               nuisance_scale: float = 0.5, workers: int = 1) -> None:
    """Write the CK+ twin: neutral-to-apex sequences (:func:`facexai.synth.aus.sequence`).

    Subjects are ``S005, S010, ...``; sequence ``q`` of subject ``k`` shows emotion
    ``1 + (k * sequences_per_subject + q) mod 7``; every ``unlabelled_every``-th sequence has no
    emotion file (as 266 of the 593 real ones); every ``color_every``-th subject is stored in RGB
    (a few real ones are). Frames are 640 x 490 PNGs; every frame has its exact landmarks, the last
    its FACS file (AUs with intensity >= 0.1, coded A-E).
    """
    root = Path(root)
    cfg = nuisance_config(nuisance_scale)
    jobs = []
    for k in range(n_subjects):
        for q in range(sequences_per_subject):
            apex = sample_face(seed, k * 1000 + q, subject=k,
                               emotion=1 + (k * sequences_per_subject + q) % 7, nuisance=cfg)
            for j, p in enumerate(sequence(apex, n_frames)):
                jobs.append((k, q, j, p))
    images, landmarks = render([j[3] for j in jobs], render_size, workers)

    def write(frame):
        img, pts, (k, q, j, p) = frame
        subj, seq = f"S{5 * (k + 1):03d}", f"{q + 1:03d}"
        stem = f"{subj}_{seq}_{j + 1:08d}"
        if color_every <= 0 or k % color_every != color_every - 1:
            img = to_gray(img)       # before scaling up: a fifth of the work
        canvas, pts = place(img, pts, WIDTH, HEIGHT, HEIGHT)
        save_image(canvas, root / IMAGES / subj / seq / f"{stem}.png", compress_level=1)
        (root / "Landmarks" / subj / seq).mkdir(parents=True, exist_ok=True)
        (root / "Landmarks" / subj / seq / f"{stem}_landmarks.txt").write_text(
            "".join(format_row(pt) + "\n" for pt in pts))
        if j == n_frames - 1:
            facs = [(a, facs_code(v)) for a, v in zip(AUS, p.au) if v >= AU_PRESENT]
            (root / "FACS" / subj / seq).mkdir(parents=True, exist_ok=True)
            (root / "FACS" / subj / seq / f"{stem}_facs.txt").write_text(
                "".join(format_row(r) + "\n" for r in facs))
            if unlabelled_every <= 0 or q % unlabelled_every != unlabelled_every - 1:
                (root / "Emotion" / subj / seq).mkdir(parents=True, exist_ok=True)
                (root / "Emotion" / subj / seq / f"{stem}_emotion.txt").write_text(
                    format_row([p.emotion]) + "\n")

    # PIL scales and PNG-encodes without the GIL: ``workers`` threads write the 640 x 490 frames
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        list(pool.map(write, zip(images, landmarks, jobs)))


SPEC = register(DatasetSpec(
    key="ckplus", title="CK+", folder="CK+", papers="paper 2", tree=TREE,
    request="It is distributed by the University of Pittsburgh (Affect Analysis Group) for "
            "non-commercial research after a signed agreement: see https://www.jeffcohn.net/Resources/.",
    load=load, write_twin=write_twin))
