"""Paper 3's data: the 10k US Adult Faces targets (or their synthetic twin) as arrays.

:func:`load_data` reads the database through the real loader (:func:`facexai.datasets.load`,
``"tenk"``), so the synthetic twin and the real copy go through the very same code; it adds what
paper 3 needs beside the images and the 40 rating means: the paper-3 split (1,421/356/445 of
2,222 rows, seed 42), the landmarks, demographic groups for the bias section, the per-rater
ratings for noise ceilings and, on the twin, SynthFace's ground-truth parameters.

:func:`to_tensor` is the one preprocessing used for training, prediction and explanation (the
ImageNet mean/SD normalisation of [P3] ``utils/dataset.py``), and :func:`augment` the paper's
training augmentation (horizontal flips and rotations up to 10 degrees) as batched tensor ops.
"""
from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import datasets, paths
from ..synth.attributes import ATTRIBUTE_COLUMNS, rate
from ..synth.dataset import nuisance_config
from ..synth.generate import sample_face

#: The 40 attribute columns of the "Final Values" sheet, in its order.
ATTRIBUTES: list[str] = list(ATTRIBUTE_COLUMNS)
#: ImageNet channel means and SDs (torchvision; [P3] ``transforms.Normalize``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Age codes of the demographic workbook (10k attribute README) -> group names.
AGE_GROUPS = {1: "<20", 2: "20-30", 3: "30-45", 4: "45-60", 5: "60+"}
#: Race codes of the demographic workbook.
RACES = {0: "other", 1: "white", 2: "black", 3: "East Asian", 4: "South Asian", 5: "Hispanic",
         6: "Middle Eastern"}
#: SynthFace skin tone (0 light - 1 dark) cut into three groups at these values.
SKIN_TONE_CUTS = (1 / 3, 2 / 3)
SKIN_TONES = ("light", "medium", "dark")
ROLE_NAMES = {"train": "train", "valid": "val", "test": "test"}


@dataclass
class Paper3Data:
    """The 10k targets as paper 3 uses them (see :func:`load_data`).

    Attributes
    ----------
    images : ndarray of uint8, shape (N, H, W, 3)
    ratings : DataFrame (N, 40)
        Rating means 1-9, columns :data:`ATTRIBUTES`.
    landmarks : ndarray of float, shape (N, 68, 2)
        In image pixels; NaN rows where unknown.
    split : ndarray of str, shape (N,)
        ``"train"``, ``"val"`` or ``"test"``: the paper-3 split.
    ids : ndarray of int
        Image numbers (``Image #``).
    files : tuple of str
        Image files, relative to ``root``.
    demographics : DataFrame
        ``sex`` (``"female"``/``"male"``), ``age_group``, ``skin_tone`` (twin only) and ``race``
        (real data only), missing where unknown.
    params : list of FaceParams or None
        SynthFace ground truth of every image (twin only).
    raters : ndarray of float, shape (N, 40, R) or None
        Per-rater ratings (NaN where an image has fewer raters), for split-half noise ceilings.
    synthetic : bool
        True for the synthetic twin.
    root : Path
        The database folder read.
    """

    images: np.ndarray
    ratings: pd.DataFrame
    landmarks: np.ndarray
    split: np.ndarray
    ids: np.ndarray
    files: tuple[str, ...]
    demographics: pd.DataFrame
    params: list | None
    raters: np.ndarray | None
    synthetic: bool
    root: Path
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def indices(self, role: str) -> np.ndarray:
        """Row positions of ``role`` (``"train"``, ``"val"`` or ``"test"``)."""
        if role not in ("train", "val", "test"):
            raise ValueError(f"role must be 'train', 'val' or 'test', got {role!r}")
        return np.flatnonzero(self.split == role)

    def counts(self) -> dict[str, int]:
        """Number of images per split role."""
        return {r: int((self.split == r).sum()) for r in ("train", "val", "test")}

    def fingerprint(self) -> str:
        """Hash of the images, ratings and split: a model trained on other data is never reused."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.ratings[ATTRIBUTES].to_numpy(np.float64)).tobytes())
        h.update("|".join(self.split.tolist()).encode())
        return h.hexdigest()[:20]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def split_labels(n: int, seed: int = 42) -> np.ndarray:
    """The paper-3 split of ``n`` rows as labels ``"train"``/``"val"``/``"test"``
    (:func:`facexai.datasets.splits.paper3_split`; 2,222 rows give 1,421/356/445)."""
    parts = datasets.splits.paper3_split(_check_int("n", n, 3), seed)
    out = np.empty(n, dtype=object)
    for role, rows in parts.items():
        out[rows] = ROLE_NAMES[role]
    return out.astype(str)


def twin_root(*, n_targets: int = 2222, seed: int = 0, render_size: int = 128, workers: int = 2,
              log=None) -> Path:
    """The folder of the 10k twin with these settings (written once, then reused)."""
    return datasets.ensure_twin("tenk", n_targets=n_targets, seed=seed, render_size=render_size,
                                workers=workers, log=log)


def load_data(data_dir: str | Path | None = None, *, image_size: int = 64, n_targets: int = 2222,
              seed: int = 0, workers: int = 2, strict: bool = False, render_size: int = 128,
              cache: bool = True) -> Paper3Data:
    """Load the 2,222 annotated targets of the 10k US Adult Faces database, or its twin.

    Parameters
    ----------
    data_dir : path or None
        None: the synthetic twin (written under ``<data>/twins`` if missing, then read back
        through the real loader). A folder: the real database, either the database folder itself
        or a data folder holding ``10k US Adult Faces Database/`` (relative paths are taken
        under ``$FACEXAI_DATA``).
    image_size : int
        Images are resized to ``image_size`` x ``image_size`` (the paper: 224).
    n_targets, seed, render_size : int
        Size, seed and rendering size of the twin (ignored for real data).
    workers : int
        Processes that render the twin.
    strict : bool
        Raise on an unreadable image instead of skipping it.
    cache : bool
        Keep the result (and the loader's) in the cache folder: the next call with the same
        options and unchanged files under the database folder reads one pickle.

    Returns
    -------
    Paper3Data
    """
    image_size = _check_int("image_size", image_size, 16)
    workers = _check_int("workers", workers, 1)
    if data_dir is None:
        n_targets = _check_int("n_targets", n_targets, 10)
        seed = _check_int("seed", seed, 0)
        root = twin_root(n_targets=n_targets, seed=seed, render_size=render_size, workers=workers)
    else:
        base = Path(data_dir).expanduser()
        base = base if base.is_absolute() else paths.data_dir() / base
        folder = datasets.get("tenk").folder
        # a missing folder is reported by the loader, with the expected layout and where the
        # database can be requested
        root = base / folder if (base / folder).is_dir() else base
    options = dict(image_size=image_size, strict=strict, synthetic=data_dir is None, seed=seed,
                   n_targets=n_targets)
    target = None
    if cache:
        target = paths.cache_dir() / "paper3" / f"data-{_data_key(root, options)}.pkl"
        if target.is_file():
            try:
                with open(target, "rb") as fh:
                    return pickle.load(fh)
            except Exception:  # a damaged or outdated entry: rebuild it
                pass
    data = _load(root, data_dir, options, cache)
    if target is not None:
        with paths.atomic_path(target) as tmp, open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def _data_key(root: Path, options: dict[str, Any]) -> str:
    """Hash of the options, the loading code and every file under ``root`` (path, size, mtime)."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    h.update(str(root.resolve()).encode())
    h.update(Path(__file__).read_bytes())
    h.update(datasets.io.code_fingerprint().encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _load(root: Path, data_dir, options: dict[str, Any], cache: bool) -> Paper3Data:
    image_size, strict, seed = options["image_size"], options["strict"], options["seed"]
    ds = datasets.load("tenk", root, size=image_size, strict=strict, cache=cache)
    n = len(ds)
    ids = np.array([int(s) for s in ds.subjects])
    roles = ds.splits["paper3"].roles[:, 0]
    split = np.array([ROLE_NAMES[datasets.ROLES[int(c)]] if c else "unused" for c in roles])
    images = ds.images if ds.images.ndim == 4 else np.repeat(ds.images[..., None], 3, axis=-1)
    landmarks = (ds.landmarks.astype(np.float64) if ds.landmarks is not None
                 else np.full((n, 68, 2), np.nan))
    ratings = ds.labels[ATTRIBUTES].astype(float).reset_index(drop=True)
    synthetic = data_dir is None
    if synthetic:
        cfg = nuisance_config(1.0)  # as tenk.write_twin
        params = [sample_face(seed, int(i) - 1, nuisance=cfg) for i in ids]
        # the twin writer's panel: rate() of the same faces gives its "All Data" sheet exactly
        # (the panel and each face's draws depend on the seed and the image index only)
        raters = rate(params, seed, indices=ids - 1).raw.astype(float)
    else:
        params = None
        raters = read_raters(root / datasets.tenk.WORKBOOK, ids)
    demographics = _demographics(ds.labels, params)
    return Paper3Data(images=np.ascontiguousarray(images), ratings=ratings, landmarks=landmarks,
                      split=split, ids=ids, files=tuple(ds.files), demographics=demographics,
                      params=params, raters=raters, synthetic=synthetic, root=Path(root),
                      notes={"skipped": len(ds.skipped), "rows_in_sheet": ds.notes.get("rows_in_sheet")})


def _demographics(labels: pd.DataFrame, params: Sequence | None) -> pd.DataFrame:
    n = len(labels)
    out = pd.DataFrame(index=range(n))
    if params is not None:
        out["sex"] = ["male" if p.identity.sex == 1 else "female" for p in params]
        ages = np.array([p.identity.age for p in params])
        codes = 1 + np.searchsorted([20, 30, 45, 60], ages, "right")
        out["age_group"] = [AGE_GROUPS[int(c)] for c in codes]
        tones = np.array([p.identity.skin_tone for p in params])
        out["skin_tone"] = [SKIN_TONES[int(k)] for k in np.searchsorted(SKIN_TONE_CUTS, tones, "right")]
        return out

    def coded(col: str, names: dict) -> list:
        if col not in labels:
            return [None] * n
        vals = pd.to_numeric(labels[col], errors="coerce").to_numpy()
        return [names.get(int(round(v))) if np.isfinite(v) else None for v in vals]

    out["sex"] = coded("demo_gender", {0: "female", 1: "male"})
    out["age_group"] = coded("demo_age", AGE_GROUPS)
    out["skin_tone"] = [None] * n
    out["race"] = coded("demo_race", RACES)
    return out


def read_raters(workbook: Path, ids: np.ndarray) -> np.ndarray | None:
    """Per-rater ratings from the "All Data" sheet: (N, 40, R), NaN-padded; None if absent.

    Rows whose ``catch`` differs from ``catchAns`` (per survey version: the second version's
    fields carry a ``.1`` suffix) are dropped, as the database's "Final Values" were computed.
    """
    import openpyxl

    wb = openpyxl.load_workbook(workbook, read_only=True, data_only=True)
    try:
        if "All Data" not in wb.sheetnames:
            return None
        rows = wb["All Data"].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return None
        data = list(rows)
    finally:
        wb.close()
    names, seen = [], {}
    for h in header:  # pandas-style ".1" suffixes on repeated names
        h = str(h) if h is not None else ""
        k = seen.get(h, 0)
        names.append(h if k == 0 else f"{h}.{k}")
        seen[h] = k + 1
    frame = pd.DataFrame(data, columns=names)
    if "Image #" not in frame or not all(a in frame for a in ATTRIBUTES):
        return None
    frame["Image #"] = pd.to_numeric(frame["Image #"], errors="coerce")
    # which version each attribute belongs to: its catch fields are the next ones to its right
    catch_cols = [c for c in names if c.split(".")[0] == "catch"]
    answer_cols = [c for c in names if c.split(".")[0] == "catchAns"]
    pos = {c: k for k, c in enumerate(names)}
    row_of = {int(i): r for r, i in enumerate(ids)}
    out_lists = [[[] for _ in ATTRIBUTES] for _ in ids]
    for a_k, attr in enumerate(ATTRIBUTES):
        right = [c for c in catch_cols if pos[c] > pos[attr]]
        keep = np.ones(len(frame), bool)
        if right:
            c = min(right, key=lambda c: pos[c])
            ans = "catchAns" + c[len("catch"):]
            if ans in answer_cols:
                keep = (pd.to_numeric(frame[c], errors="coerce")
                        == pd.to_numeric(frame[ans], errors="coerce")).to_numpy()
        vals = pd.to_numeric(frame[attr], errors="coerce").to_numpy(float)
        img = frame["Image #"].to_numpy(float)
        ok = keep & np.isfinite(vals) & np.isfinite(img)
        for i, v in zip(img[ok], vals[ok]):
            r = row_of.get(int(i))
            if r is not None:
                out_lists[r][a_k].append(v)
    n_max = max((len(v) for row in out_lists for v in row), default=0)
    if n_max < 2:
        return None
    out = np.full((len(ids), len(ATTRIBUTES), n_max), np.nan)
    for r, row in enumerate(out_lists):
        for a_k, v in enumerate(row):
            out[r, a_k, :len(v)] = v
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, 3) (or one (H, W, 3)) -> float tensor (N, 3, H, W), ImageNet-normalised.

    The same preprocessing for training, prediction and explanation (the paper's explanation
    notebook left the normalisation out).
    """
    a = np.asarray(images)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(x: torch.Tensor, generator: torch.Generator, *, max_degrees: float = 10.0,
            flip: bool = True) -> torch.Tensor:
    """The paper's training augmentation on a normalised batch: random horizontal flips (p = 0.5)
    and rotations by a uniform angle in [-max_degrees, max_degrees] about the centre.

    Like torchvision's ``RandomRotation(10)`` the corners rotated in are filled with 0 (here in
    normalised units, i.e. the ImageNet mean colour, rather than black); bilinear interpolation.
    """
    n = x.shape[0]
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flips.view(n, 1, 1, 1), x.flip(-1), x)
    if max_degrees > 0:
        theta = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
        cos, sin = torch.cos(theta), torch.sin(theta)
        zero = torch.zeros_like(cos)
        mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(mat.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x
