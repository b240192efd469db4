"""Attribute data: the 10k US Adult Faces ratings (or their synthetic twin) as arrays.

The study core that papers 1 and 3 read their attribute ratings from. :func:`load` reads the
database through the real loader (:func:`facexai.datasets.load`, ``"tenk"``), so the synthetic
twin and the real copy go through the very same code, and adds what the analyses need beside the
images and the 40 rating means: a split of the rows, the landmarks, demographic groups, the
per-rater ratings (for noise ceilings) and, on the twin, SynthFace's ground-truth parameters.

**One split vocabulary**: ``"train"``, ``"val"``, ``"test"`` (:data:`ROLES`). The dataset
registry codes roles as :data:`facexai.datasets.ROLES`; :data:`ROLE_OF_CODE` maps them here, once.
Rows are chosen with :meth:`AttributeData.rows` (held-out by default; rows a model was trained on
only when asked for, with an :class:`InSampleWarning`).

:func:`to_tensor` is the one preprocessing of training, prediction and explanation (ImageNet
mean/SD normalisation), and :func:`augment` the training augmentation (horizontal flips and
rotations) as batched tensor ops.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import cache as cachelib
from . import datasets, paths
from .synth.attributes import ATTRIBUTE_COLUMNS, rate
from .synth.dataset import nuisance_config
from .synth.generate import sample_face

__all__ = ["AGE_GROUPS", "ATTRIBUTES", "IMAGENET_MEAN", "IMAGENET_STD", "ROLES", "ROLE_OF_CODE",
           "SKIN_TONES", "AttributeData", "InSampleWarning", "augment", "load", "read_raters",
           "select_rows", "split_labels", "to_tensor", "twin_root"]

#: The 40 attribute columns of the "Final Values" sheet, in its order.
ATTRIBUTES: list[str] = list(ATTRIBUTE_COLUMNS)
#: ImageNet channel means and SDs (torchvision's ``transforms.Normalize``).
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
#: The split roles of a row, the one vocabulary of the study's analyses.
ROLES = ("train", "val", "test")
#: :data:`facexai.datasets.ROLES` codes -> :data:`ROLES` (0, unused, maps to ``"unused"``).
ROLE_OF_CODE = dict(datasets.ROLES)
#: What :func:`select_rows` can select: a role, the held-out roles, or every row.
SELECTIONS = {"train": ("train",), "val": ("val",), "test": ("test",), "heldout": ("val", "test"),
              "all": ROLES}
_FORMAT = "facexai.ratings/1"


class InSampleWarning(UserWarning):
    """Rows a model was trained on were selected on purpose (in-sample predictions)."""


def select_rows(split, which: str = "test", *, allow_in_sample: bool = False) -> np.ndarray:
    """Indices of the rows of ``split`` (an array of :data:`ROLES`) that ``which`` names.

    Parameters
    ----------
    split : array of str
        The role of every row.
    which : {"test", "val", "train", "heldout", "all"}
        ``"heldout"`` is validation and test; ``"all"`` every row.
    allow_in_sample : bool
        Training rows (``"train"``, ``"all"``) raise a ValueError unless this is True, and then an
        :class:`InSampleWarning`: predictions on training images describe what the network
        memorised, not what it predicts.

    Returns
    -------
    ndarray of int
        Row positions, ascending.
    """
    split = np.asarray(split).astype(str)
    bad = sorted(set(split) - set(ROLES) - {"unused"})
    if bad:
        hint = " (the role is called 'val')" if "valid" in bad else ""
        raise ValueError(f"split holds unknown labels {bad}{hint}; expected {ROLES}")
    if which not in SELECTIONS:
        hint = " (the role is called 'val')" if which == "valid" else ""
        raise ValueError(f"which must be one of {', '.join(SELECTIONS)}, got {which!r}{hint}")
    rows = np.flatnonzero(np.isin(split, SELECTIONS[which]))
    if "train" in SELECTIONS[which]:
        n_train = int((split[rows] == "train").sum())
        if not allow_in_sample:
            raise ValueError(f"which={which!r} selects {n_train} training rows: analyses are meant "
                             "for held-out predictions (pass allow_in_sample=True to reproduce an "
                             "in-sample protocol on purpose)")
        warnings.warn(f"{n_train} of {len(rows)} selected rows were used to train the model "
                      "(in-sample predictions)", InSampleWarning, stacklevel=2)
    return rows


@dataclass
class AttributeData:
    """Face images with their attribute ratings (see :func:`load`).

    Attributes
    ----------
    images : ndarray of uint8, shape (N, H, W, 3)
    ratings : DataFrame (N, 40)
        Rating means 1-9, columns :data:`ATTRIBUTES`.
    landmarks : ndarray of float, shape (N, 68, 2)
        In image pixels; NaN rows where unknown.
    split : ndarray of str, shape (N,)
        The role of each row: :data:`ROLES`.
    ids : ndarray of int
        Image numbers (``Image #``).
    files : tuple of str
        Image files, relative to ``root``.
    demographics : DataFrame
        ``sex`` (``"female"``/``"male"``), ``age_group``, ``skin_tone`` (twin only) and ``race``
        (real data only), None where unknown.
    raters : ndarray of float, shape (N, 40, R) or None
        Per-rater ratings (NaN where an image has fewer raters), for split-half noise ceilings.
    synthetic : bool
        True for the synthetic twin.
    root : Path
        The database folder read.
    twin_seed : int or None
        Seed of the twin (its SynthFace faces are ``sample_face(twin_seed, id - 1)``).
    """

    images: np.ndarray
    ratings: pd.DataFrame
    landmarks: np.ndarray
    split: np.ndarray
    ids: np.ndarray
    files: tuple[str, ...]
    demographics: pd.DataFrame
    raters: np.ndarray | None
    synthetic: bool
    root: Path
    twin_seed: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def params(self) -> list | None:
        """SynthFace ground truth (FaceParams) of every image of the twin; None for real data."""
        return (_twin_params(self.twin_seed, self.ids, self.notes.get("twin_proxies", 1.0))
                if self.synthetic else None)

    def indices(self, role: str) -> np.ndarray:
        """Row positions of one role (``"train"``, ``"val"`` or ``"test"``)."""
        if role not in ROLES:
            hint = " (the role is called 'val')" if role == "valid" else ""
            raise ValueError(f"role must be one of {ROLES}, got {role!r}{hint}")
        return np.flatnonzero(self.split == role)

    def rows(self, which: str = "test", *, allow_in_sample: bool = False) -> np.ndarray:
        """:func:`select_rows` of this data's split (held-out rows unless asked otherwise)."""
        return select_rows(self.split, which, allow_in_sample=allow_in_sample)

    def counts(self) -> dict[str, int]:
        """Number of images per role."""
        return {r: int((self.split == r).sum()) for r in ROLES}

    def fingerprint(self) -> str:
        """Hash of the images, ratings and split: a model trained on other data is never reused."""
        return cachelib.array_fingerprint(self.images, self.ratings[ATTRIBUTES].to_numpy(np.float64),
                                       self.split)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def split_labels(parts: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Row positions by registry role (``{"train", "val", "test"}``, as
    :mod:`facexai.datasets.splits` returns them) -> one :data:`ROLES` label per row."""
    out = np.full(n, "unused", dtype=object)
    codes = {name: code for code, name in datasets.ROLES.items()}
    for role, rows in parts.items():
        out[rows] = ROLE_OF_CODE[codes[role]]
    return out.astype(str)


def twin_root(*, n_targets: int = 2222, seed: int = 0, render_size: int = 128, workers: int = 2,
              proxies: float = 1.0, log=None) -> Path:
    """The folder of the 10k twin with these settings (written once, then reused; ``proxies`` is
    named in its key only when not 1, so the realistic twin keeps its folder)."""
    extra = {} if proxies == 1.0 else {"proxies": float(proxies)}
    return datasets.ensure_twin("tenk", n_targets=n_targets, seed=seed, render_size=render_size,
                                workers=workers, log=log, **extra)


def _database_root(data_dir: str | Path) -> Path:
    base = Path(data_dir).expanduser()
    base = base if base.is_absolute() else paths.data_dir() / base
    folder = datasets.get("tenk").folder
    # a missing folder is reported by the loader, with the expected layout and where the database
    # can be requested
    return base / folder if (base / folder).is_dir() else base


def load(data_dir: str | Path | None = None, *, image_size: int, n_targets: int = 2222,
         seed: int = 0, workers: int = 1, render_size: int = 128, proxies: float = 1.0,
         strict: bool = False, scheme: str = "paper3", cache: bool = True) -> AttributeData:
    """Load the 2,222 annotated targets of the 10k US Adult Faces database, or its twin.

    Parameters
    ----------
    data_dir : path or None
        None: the synthetic twin (written under ``<data>/twins`` if missing, then read back
        through the real loader). A folder: the real database, either the database folder itself
        or a data folder holding ``10k US Adult Faces Database/`` (relative paths are taken
        under ``$FACEXAI_DATA``).
    image_size : int
        Images are resized to ``image_size`` x ``image_size``.
    n_targets, seed, render_size : int
        Size, seed and rendering size of the twin (ignored for real data).
    proxies : float
        How strongly the twin's hair length and stubble follow sex (1 realistic, 0 independent;
        :func:`facexai.synth.factors.sample_identity`; ignored for real data).
    workers : int
        Processes that render the twin.
    strict : bool
        Raise on an unreadable image instead of skipping it.
    scheme : str
        Which split scheme of the ``"tenk"`` loader labels the rows (``"paper3"``: the paper-3
        code's 1,421/356/445 rows, seed 42; ``"kfold"``: its first fold).
    cache : bool
        Keep the result in ``<cache>/datasets``: one ``.npz`` (arrays and a JSON header; read
        with ``allow_pickle=False``), keyed by the options, the files under the database folder
        and the loading code.

    Returns
    -------
    AttributeData
    """
    image_size = _check_int("image_size", image_size, 16)
    workers = _check_int("workers", workers, 1)
    if data_dir is None:
        n_targets = _check_int("n_targets", n_targets, 10)
        seed = _check_int("seed", seed, 0)
        root = twin_root(n_targets=n_targets, seed=seed, render_size=render_size, workers=workers,
                         proxies=proxies)
    else:
        root = _database_root(data_dir)
    options = dict(image_size=image_size, strict=strict, synthetic=data_dir is None, seed=seed,
                   n_targets=n_targets, scheme=scheme,
                   **({"proxies": float(proxies)} if data_dir is None and proxies != 1.0 else {}))
    target = None
    if cache:
        key = cache_key(root, options)
        target = paths.datasets_cache() / f"tenk-attributes-{key}.npz"
        if target.is_file():
            try:
                return _read(target)
            except Exception:  # a damaged or outdated entry: rebuild it
                pass
    data = _load(root, options, cache)
    if target is not None:
        _write(data, target)
    return data


def cache_key(root: Path, options: dict[str, Any]) -> str:
    """Hash of the options, every file under ``root`` (path, size, mtime) and the loading code."""
    return cachelib.key(options, data=cachelib.tree_fingerprint(root),
                        code=cachelib.code_fingerprint("ratings.py", "datasets/*.py", "synth/*.py"),
                        size=20)


def _write(data: AttributeData, target: Path) -> None:
    demo = data.demographics.astype(object).where(data.demographics.notna(), None)
    header = dict(format=_FORMAT, columns=list(data.ratings.columns), files=list(data.files),
                  demographics=demo.to_dict("list"), demographic_columns=list(demo.columns),
                  synthetic=data.synthetic, root=str(data.root), twin_seed=data.twin_seed,
                  notes=data.notes, has_raters=data.raters is not None)
    arrays = dict(images=data.images, ratings=data.ratings.to_numpy(np.float64),
                  landmarks=data.landmarks, split=data.split.astype(str), ids=data.ids,
                  header=np.array(json.dumps(header)))
    if data.raters is not None:
        arrays["raters"] = data.raters
    with paths.atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _read(target: Path) -> AttributeData:
    with np.load(target, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        if header.get("format") != _FORMAT:
            raise ValueError(f"{target}: not a {_FORMAT} file")
        arrays = {k: z[k] for k in z.files if k != "header"}
    demo = pd.DataFrame(index=range(len(arrays["ids"])))
    for c in header["demographic_columns"]:  # as _demographics builds them: same dtypes
        demo[c] = header["demographics"][c]
    return AttributeData(
        images=arrays["images"], ratings=pd.DataFrame(arrays["ratings"], columns=header["columns"]),
        landmarks=arrays["landmarks"], split=arrays["split"], ids=arrays["ids"],
        files=tuple(header["files"]), demographics=demo, raters=arrays.get("raters"),
        synthetic=header["synthetic"], root=Path(header["root"]), twin_seed=header["twin_seed"],
        notes=header["notes"])


def _twin_params(seed: int, ids: np.ndarray, proxies: float = 1.0) -> list:
    cfg = nuisance_config(1.0)  # as tenk.write_twin
    return [sample_face(seed, int(i) - 1, nuisance=cfg, proxies=proxies) for i in ids]


def _load(root: Path, options: dict[str, Any], cache: bool) -> AttributeData:
    ds = datasets.load("tenk", root, size=options["image_size"], strict=options["strict"],
                       cache=cache)
    n = len(ds)
    ids = np.array([int(s) for s in ds.subjects])
    roles = ds.splits[options["scheme"]].roles[:, 0]
    split = np.array([ROLE_OF_CODE[int(c)] for c in roles])
    images = ds.images if ds.images.ndim == 4 else np.repeat(ds.images[..., None], 3, axis=-1)
    landmarks = (ds.landmarks.astype(np.float64) if ds.landmarks is not None
                 else np.full((n, 68, 2), np.nan))
    ratings = ds.labels[ATTRIBUTES].astype(float).reset_index(drop=True)
    synthetic, seed = options["synthetic"], options["seed"]
    proxies = options.get("proxies", 1.0)
    if synthetic:
        params = _twin_params(seed, ids, proxies)
        # the twin writer's panel: rate() of the same faces gives its "All Data" sheet exactly
        # (the panel and each face's draws depend on the seed and the image index only)
        raters = rate(params, seed, indices=ids - 1).raw.astype(float)
    else:
        params = None
        raters = read_raters(root / datasets.tenk.WORKBOOK, ids)
    data = AttributeData(
        images=np.ascontiguousarray(images), ratings=ratings, landmarks=landmarks, split=split,
        ids=ids, files=tuple(ds.files), demographics=_demographics(ds.labels, params),
        raters=raters, synthetic=synthetic, root=Path(root), twin_seed=seed if synthetic else None,
        notes={"skipped": len(ds.skipped), "rows_in_sheet": ds.notes.get("rows_in_sheet"),
               **({"twin_proxies": proxies} if synthetic else {})})
    if params is not None:
        data.__dict__["params"] = params  # fill the cached property: computed once
    return data


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


def _all_data_sheet(workbook: Path) -> pd.DataFrame | None:
    """The "All Data" sheet with pandas-style ``.1`` suffixes on repeated names (None if absent)."""
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
    for h in header:
        h = str(h) if h is not None else ""
        k = seen.get(h, 0)
        names.append(h if k == 0 else f"{h}.{k}")
        seen[h] = k + 1
    return pd.DataFrame(data, columns=names)


def _kept(frame: pd.DataFrame, attr: str) -> np.ndarray:
    """Rows of ``attr`` that passed their survey version's catch question: the catch fields are
    the nearest ``catch``/``catchAns`` pair to the attribute's right."""
    names = list(frame.columns)
    pos = {c: k for k, c in enumerate(names)}
    right = [c for c in names if c.split(".")[0] == "catch" and pos[c] > pos[attr]]
    if not right:
        return np.ones(len(frame), bool)
    c = min(right, key=lambda c: pos[c])
    ans = "catchAns" + c[len("catch"):]
    if ans not in frame:
        return np.ones(len(frame), bool)
    return (pd.to_numeric(frame[c], errors="coerce")
            == pd.to_numeric(frame[ans], errors="coerce")).to_numpy()


def read_raters(workbook: Path, ids: np.ndarray) -> np.ndarray | None:
    """Per-rater ratings from the "All Data" sheet: (N, 40, R), NaN-padded; None if absent.

    Rows whose ``catch`` differs from ``catchAns`` (per survey version: the second version's
    fields carry a ``.1`` suffix) are dropped, as the database's "Final Values" were computed.
    """
    frame = _all_data_sheet(workbook)
    if frame is None or "Image #" not in frame or not all(a in frame for a in ATTRIBUTES):
        return None
    img = pd.to_numeric(frame["Image #"], errors="coerce").to_numpy(float)
    row_of = {int(i): r for r, i in enumerate(ids)}
    lists = [[[] for _ in ATTRIBUTES] for _ in ids]
    for a_k, attr in enumerate(ATTRIBUTES):
        vals = pd.to_numeric(frame[attr], errors="coerce").to_numpy(float)
        ok = _kept(frame, attr) & np.isfinite(vals) & np.isfinite(img)
        for i, v in zip(img[ok], vals[ok]):
            r = row_of.get(int(i))
            if r is not None:
                lists[r][a_k].append(v)
    n_max = max((len(v) for row in lists for v in row), default=0)
    if n_max < 2:
        return None
    out = np.full((len(ids), len(ATTRIBUTES), n_max), np.nan)
    for r, row in enumerate(lists):
        for a_k, v in enumerate(row):
            out[r, a_k, :len(v)] = v
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, 3) (or one (H, W, 3)) -> float tensor (N, 3, H, W), ImageNet-normalised.

    The same preprocessing for training, prediction and explanation.
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
    """Random horizontal flips (p = 0.5) and rotations by a uniform angle in
    [-max_degrees, max_degrees] about the centre, of a normalised batch (N, C, H, W).

    Like torchvision's ``RandomRotation(10)`` the corners rotated in are filled with 0 (here in
    normalised units, i.e. the ImageNet mean colour, rather than black); bilinear interpolation.
    The signature is :func:`facexai.training.fit`'s augmentation hook.
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
