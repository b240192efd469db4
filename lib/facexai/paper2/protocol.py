"""Paper 2's protocol (Khorrami, Paine & Huang 2015, from the authors' code [KH] and anna).

* Data: :func:`load_ckplus` (the CK+ loader's paper-2 conventions: labelled sequences condensed to
  the first frame, neutral, and the last three, the emotion; Haar crop to 96 x 96; 10
  subject-independent folds, test fold k, validation fold k + 1; 8 classes, or the six-class
  remap :data:`SIX_CLASS`) and :func:`load_tfd` (the 5 official folds, 7 classes), both resized to
  the network's input side and returned as :class:`Paper2Data`.
* Network: :func:`untrained_model`, the zero-bias CNN (:func:`facexai.models.zero_bias_cnn`) with
  the code's initialisation, std ``k / sqrt(fan_in)``, ``k ~ U(0.2, 1.2)`` drawn from the seed.
* Input: :func:`model_input`, ``x / 255 * 2`` then anna's Normer3
  (:func:`facexai.preprocess.local_normalise`); the "a" variants augment each training batch
  first (:func:`facexai.preprocess.random_affine_gray`), the "d" variants drop fc4's input (0.5).
* Training: :func:`fit_folds` (:func:`fit_many`: several at once, in parallel processes), one
  :func:`facexai.steps.fit_steps` run per fold (minibatches of
  64 drawn with replacement, SGD momentum 0.9, weight decay, a checkpoint every ``eval_every``
  iterations evaluated on the validation and the test fold), cached per fold
  (:func:`facexai.training.load_or_fit`). Both checkpoint selections of the code come from the same
  run: on the validation fold (2017) and on the test fold (2015): :meth:`FoldFits.selection`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .. import cache as cachelib
from .. import datasets, paths, training
from ..compute import spawned_map
from ..datasets import twins
from ..models import zero_bias_cnn
from ..preprocess import local_normalise, random_affine_gray, scaled_input
from ..steps import fit_steps, selection_table
from .schema import VARIANT_NAMES, Paper2Settings

__all__ = ["PROTOCOLS", "SIX_CLASS", "VARIANTS", "FoldFits", "Paper2Data", "fit_folds",
           "fit_many", "init_scale", "load_ckplus", "load_tfd", "model_input", "six_class", "untrained_model"]

#: Six-class CK+ ([KH] ``ck_plus_six_class``): neutral (0) and contempt (2) dropped.
SIX_CLASS = {1: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5}
SIX_NAMES = ("anger", "disgust", "fear", "happy", "sadness", "surprise")
#: Variant -> (augmentation, dropout on fc4's input).
VARIANTS = {"cnn": (False, 0.0), "cnn_a": (True, 0.0), "cnn_d": (False, 0.5),
            "cnn_ad": (True, 0.5)}
assert tuple(VARIANTS) == VARIANT_NAMES
#: Checkpoint selection protocols -> the history column they choose by.
PROTOCOLS = {"validation": "val_accuracy", "test": "test_accuracy"}
#: Code the trained models depend on (globs under ``lib/facexai``), beside training/models.
CODE = ("steps.py", "preprocess.py", "paper2/protocol.py")


@dataclass
class Paper2Data:
    """Faces of one paper-2 experiment with its folds.

    Attributes
    ----------
    name : str
        ``"ckplus8"``, ``"ckplus6"`` or ``"tfd"``.
    images : ndarray uint8 (N, S, S)
        At the network's input side.
    labels : ndarray int (N,)
        Class codes 0..len(classes) - 1.
    classes : tuple of str
    subjects : ndarray of str (N,)
    roles : ndarray int8 (N, K)
        Per split k: 1 train, 2 validation, 3 test (0 unused).
    folds : ndarray int (N,) or None
        The fold of each image (CK+: subject i of the sorted list -> fold i mod 10).
    frames : DataFrame or None
        CK+: ``sequence``, ``frame``, ``role`` (``first``/``last3``) per image.
    aus, au_intensity : DataFrame or None
        CK+ FACS labels per image (the last three frames of a sequence carry its FACS file).
    synthetic : bool
    notes : dict
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    subjects: np.ndarray
    roles: np.ndarray
    folds: np.ndarray | None = None
    frames: pd.DataFrame | None = None
    aus: pd.DataFrame | None = None
    au_intensity: pd.DataFrame | None = None
    synthetic: bool = True
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_splits(self) -> int:
        return self.roles.shape[1]

    def split(self, k: int) -> dict[str, np.ndarray]:
        """Indices of split ``k``: ``{"train", "val", "test"}``."""
        if not 0 <= k < self.n_splits:
            raise ValueError(f"k must be a split 0..{self.n_splits - 1} of {self.name}, got {k!r}")
        return {role: np.flatnonzero(self.roles[:, k] == code)
                for role, code in (("train", 1), ("val", 2), ("test", 3))}

    def fingerprint(self) -> str:
        """Digest of the images, labels and splits (keys the trained models)."""
        return cachelib.array_fingerprint(self.images, self.labels, self.roles)

    def subset(self, keep: np.ndarray, labels: np.ndarray, classes: Sequence[str],
               name: str) -> "Paper2Data":
        """The images ``keep`` (boolean mask) with new ``labels`` and ``classes``."""
        def take(v):
            return None if v is None else (v[keep].reset_index(drop=True)
                                           if isinstance(v, pd.DataFrame) else v[keep])
        return Paper2Data(name, self.images[keep], np.asarray(labels)[keep], tuple(classes),
                          self.subjects[keep], self.roles[keep], take(self.folds),
                          take(self.frames), take(self.aus), take(self.au_intensity),
                          self.synthetic, dict(self.notes))


def six_class(labels) -> tuple[np.ndarray, np.ndarray]:
    """The six-class remap of CK+ codes: ``(keep, new)``, a mask dropping neutral (0) and contempt
    (2), and the codes mapped by :data:`SIX_CLASS` (-1 where dropped)."""
    codes = np.asarray(labels)
    if codes.ndim != 1 or not np.isin(codes, np.arange(8)).all():
        raise ValueError("labels must be CK+ emotion codes 0-7 in a 1-D array")
    keep = np.isin(codes, list(SIX_CLASS))
    return keep, np.array([SIX_CLASS.get(int(c), -1) for c in codes], np.int64)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 images (N, H, W) resized to ``size`` (area-weighted), rounded back to uint8."""
    if images.shape[1:] == (size, size):
        return images
    x = torch.as_tensor(images, dtype=torch.float32)[:, None]
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def _root(key: str, s: dict, twin: dict) -> tuple[Path, bool]:
    """The real copy under ``data_dir`` or the twin (written if missing); and whether synthetic."""
    if s["data_dir"]:
        base = Path(s["data_dir"]).expanduser()
        base = base if base.is_absolute() else paths.data_dir() / base
        return base / datasets.get(key).folder, False
    return twins.ensure_twin(key, **twin), True


def load_ckplus(classes: int = 8, **settings: Any) -> Paper2Data:
    """CK+ as paper 2 uses it (see the module docstring), at ``image_size``.

    Parameters
    ----------
    classes : {8, 6}
        8: neutral and the seven emotions; 6: the six-class experiment (:data:`SIX_CLASS`).
    **settings
        The data settings of :class:`facexai.paper2.schema.Paper2Settings`.
    """
    if classes not in (8, 6):
        raise ValueError(f"classes must be 8 or 6, got {classes!r}")
    s = Paper2Settings.checked("data", settings)
    root, synthetic = _root("ckplus", s, dict(
        n_subjects=s["ckplus_subjects"], sequences_per_subject=s["ckplus_sequences"],
        n_frames=s["ckplus_frames"], seed=s["seed"], render_size=s["render_size"],
        workers=s["workers"]))
    ds = datasets.get("ckplus").load(root, frames="paper2", crop="haar", size=96, n_folds=10)
    scheme = ds.scheme
    data = Paper2Data("ckplus8", _resize(ds.images, s["image_size"]),
                      ds.labels["emotion"].to_numpy(np.int64), tuple(ds.classes), ds.subjects,
                      scheme.roles, scheme.groups, ds.labels[["sequence", "frame", "role"]],
                      ds.aus, ds.au_intensity, synthetic,
                      {"missed_faces": len(ds.notes.get("missed_faces", [])),
                       "labelled_sequences": ds.notes.get("labelled_sequences")})
    if classes == 8:
        return data
    keep, new = six_class(data.labels)
    return data.subset(keep, new, SIX_NAMES, "ckplus6")


def load_tfd(**settings: Any) -> Paper2Data:
    """TFD's labelled faces (96-px file) with the 5 official folds, at ``image_size``.
    ``settings``: the data settings of :class:`facexai.paper2.schema.Paper2Settings`."""
    s = Paper2Settings.checked("data", settings)
    root, synthetic = _root("tfd", s, dict(n_labelled=s["tfd_labelled"], n_unlabelled=0,
                                           seed=s["seed"], workers=s["workers"]))
    ds = datasets.get("tfd").load(root, image_size=96)
    return Paper2Data("tfd", _resize(ds.images, s["image_size"]),
                      ds.labels["expression"].to_numpy(np.int64), tuple(ds.classes), ds.subjects,
                      ds.scheme.roles, synthetic=synthetic, notes={"labelled": len(ds)})


def model_input(images, normer_power: float = 0.0) -> torch.Tensor:
    """What the network takes: uint8 faces ``(N, S, S)`` scaled to [0, 2] and normalised by
    Normer3 (``normer_power`` 0: local mean subtraction, as the code runs)."""
    return local_normalise(scaled_input(images), 5, normer_power)


def init_scale(seed: int) -> float:
    """The ``k`` of the code's initialisation, U(0.2, 1.2), drawn from ``seed``."""
    return 0.2 + float(torch.rand(1, generator=torch.Generator().manual_seed(int(seed))))


def untrained_model(n_outputs: int = 8, variant: str = "cnn", **settings: Any) -> nn.Module:
    """The zero-bias CNN as initialised by the code (eval mode): weights N(0, (k / sqrt(fan_in))^2)
    with ``k = init_scale(seed)``, fc4 bias 1, output bias 0; with ``fc4_batch_fan_in`` fc4's std
    is further divided by sqrt(batch_size). ``settings``: model settings of
    :class:`facexai.paper2.schema.Paper2Settings`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANT_NAMES}, got {variant!r}")
    s = Paper2Settings.checked("model", settings)
    torch.manual_seed(s["seed"])
    model = zero_bias_cnn(n_outputs, input_size=s["image_size"], widths=tuple(s["widths"]),
                          hidden=s["hidden"], dropout=VARIANTS[variant][1],
                          init_scale=init_scale(s["seed"]))
    if s["fc4_batch_fan_in"]:
        with torch.no_grad():
            model.fc4.weight /= math.sqrt(s["batch_size"])
    return model.eval()


@dataclass
class FoldFits:
    """The networks of one variant on the folds of one data set.

    ``models`` are the checkpoints chosen on the validation fold (the corrected protocol), one
    per fold in ``folds``; :meth:`model` gives the others (``"test"``: chosen on the test fold,
    the 2015 code; ``"last"``; ``"iter_<n>"`` where kept).
    """

    data_name: str
    variant: str
    folds: list[int]
    bundles: list[nn.ModuleDict] = field(repr=False)
    histories: dict[int, pd.DataFrame] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    from_cache: list[bool] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.folds)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.models)

    @property
    def models(self) -> list[nn.Module]:
        return [b["validation"] for b in self.bundles]

    def model(self, fold: int, which: str = "validation") -> nn.Module:
        """The checkpoint ``which`` of fold ``fold``."""
        if fold not in self.folds:
            raise ValueError(f"fold must be one of {self.folds}, got {fold!r}")
        bundle = self.bundles[self.folds.index(fold)]
        if which not in bundle:
            raise ValueError(f"which must be one of {list(bundle)}, got {which!r}")
        return bundle[which]

    @property
    def history(self) -> pd.DataFrame:
        """Every fold's history, with a ``fold`` column."""
        return pd.concat([h.assign(fold=k) for k, h in self.histories.items()], ignore_index=True)

    def selection(self) -> pd.DataFrame:
        """Per fold, the test accuracy of the checkpoint chosen on the validation fold and of the
        one chosen on the test fold, and the iterations chosen (:func:`facexai.steps.selection_table`)."""
        table = selection_table(self.histories, PROTOCOLS, "test_accuracy")
        table.index.name = "fold"
        return table

    def predict(self, data: Paper2Data, fold: int, which: str = "validation") -> np.ndarray:
        """Predicted classes of the test fold of ``fold``."""
        x = model_input(data.images[data.split(fold)["test"]], self.settings["normer_power"])
        return training.predict(self.model(fold, which), x).argmax(1).numpy()


def _augmented(power: float):
    """The minibatch transform of the augmented variants: the code's random affine, then Normer3."""
    def transform(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return local_normalise(random_affine_gray(batch, gen), 5, power)
    return transform


def _fit_one(data: Paper2Data, fold: int, variant: str, s: dict, keep: Sequence[int], cache,
             device: str, threads: int | None) -> training.Checkpoint:
    names = ["validation", "test", "last", *(f"iter_{k}" for k in keep)]
    n_out = len(data.classes)

    def build() -> nn.ModuleDict:
        return nn.ModuleDict({n: untrained_model(n_out, variant, **s) for n in names})

    def train():
        part = data.split(fold)
        model = untrained_model(n_out, variant, **s)
        evals = {r: (model_input(data.images[part[r]], s["normer_power"]),
                     torch.as_tensor(data.labels[part[r]])) for r in ("val", "test")}
        augment = VARIANTS[variant][0]
        # Without augmentation Normer3 gives every image the same input at every draw: it is
        # applied once to the training set (per image, so identical to doing it per minibatch).
        train_x = scaled_input(data.images[part["train"]]) if augment else \
            model_input(data.images[part["train"]], s["normer_power"])
        fitted = fit_steps(model, train_x, data.labels[part["train"]], iterations=s["iterations"],
                           eval_every=s["eval_every"], evals=evals, batch_size=s["batch_size"],
                           lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"],
                           seed=s["seed"],
                           transform=_augmented(s["normer_power"]) if augment else None,
                           keep=keep, device=device, threads=threads)
        bundle = build()
        for name, key in zip(names, ["best_val", "best_test", "last",
                                     *(f"iter_{k}" for k in keep)]):
            bundle[name].load_state_dict(fitted.states[key])
        return bundle, fitted.history

    key, target = _target(data, fold, variant, s, keep, cache)
    return training.load_or_fit(target, key, build=build, train=train, device=device)


def _target(data: Paper2Data, fold: int, variant: str, s: dict, keep: Sequence[int], cache):
    """The cache key and file of one fold's network (None: not cached)."""
    key = dict(s, data=data.name, fold=fold, variant=variant, keep=list(keep))
    target = None if cache is False else training.checkpoint_path(
        paths.models_cache() if cache is True else Path(cache), f"paper2-{data.name}-{variant}",
        key, data=data.fingerprint(), code=CODE)
    return key, target


def _train_job(job: tuple) -> float:
    """Train (and cache) one fold's network in a worker process, on one CPU thread; its seconds."""
    data, fold, variant, s, keep, cache, device = job
    return _fit_one(data, fold, variant, s, keep, cache, device, threads=1).train_seconds


def fit_folds(data: Paper2Data, variant: str = "cnn_ad", folds: Sequence[int] | None = None, *,
              keep: Sequence[int] = (), cache: bool | str | Path = True, device: str = "auto",
              threads: int | None = 2, **settings: Any) -> FoldFits:
    """Train (or load from the cache) one network of ``variant`` per fold of ``data``.

    Parameters
    ----------
    data : Paper2Data
        From :func:`load_ckplus` or :func:`load_tfd`.
    variant : {"cnn", "cnn_a", "cnn_d", "cnn_ad"}
    folds : sequence of int, optional
        The splits trained (default all: 10 for CK+, 5 for TFD).
    keep : sequence of int
        Evaluated iterations whose weights are kept too (``model(fold, "iter_<n>")``).
    cache, device, threads
        ``True``: the models cache; a folder; ``False``: always train. ``"auto"``: CUDA if there.
        CPU threads while training: two by default (on two idle cores a fold trains in about 9 s
        against 13 s on one; pass 1 when other processes share the cores; ``None``: torch's
        default).
    **settings
        The model settings of :class:`facexai.paper2.schema.Paper2Settings`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANT_NAMES}, got {variant!r}")
    s = Paper2Settings.checked("model", settings)
    folds = list(range(data.n_splits)) if folds is None else [int(k) for k in folds]
    for k in folds:
        data.split(k)
    ckpts = [_fit_one(data, k, variant, s, sorted(set(keep)), cache, device, threads)
             for k in folds]
    return FoldFits(data.name, variant, folds, [c.model for c in ckpts],
                    {k: c.history for k, c in zip(folds, ckpts)}, s,
                    [c.from_cache for c in ckpts], [c.train_seconds for c in ckpts])


def fit_many(jobs: Sequence[tuple], *, processes: int = 2, keep: Sequence[int] = (),
             cache: bool | str | Path = True, device: str = "auto", **settings: Any
             ) -> list[FoldFits]:
    """:func:`fit_folds` of each ``(data, variant, folds)`` of ``jobs``, the networks missing from
    the cache trained first, ``processes`` at a time in fresh processes of one CPU thread each (a
    fold's training is small enough that a second thread gains little: on two cores two folds at
    once take about the time of one); then every network is read back. Networks trained here are
    reported as such (``from_cache``, ``train_seconds``). Without a cache, as :func:`fit_folds`."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}")
    s, keep = Paper2Settings.checked("model", settings), sorted(set(keep))
    jobs = [(d, v, list(range(d.n_splits)) if f is None else [int(k) for k in f])
            for d, v, f in jobs]
    todo = [(d, k, v, s, keep, cache, device) for d, v, folds in jobs for k in folds
            if cache is not False and not _target(d, k, v, s, keep, cache)[1].is_file()]
    seconds = {}
    if processes > 1 and todo:      # even one: a network never depends on which were cached
        seconds = {(j[0].name, j[2], j[1]): t
                   for j, t in zip(todo, spawned_map(_train_job, todo, processes))}
    out = []
    for d, v, folds in jobs:
        fits = fit_folds(d, v, folds, keep=keep, cache=cache, device=device, **s)
        for i, k in enumerate(fits.folds):
            if (d.name, v, k) in seconds:
                fits.from_cache[i], fits.train_seconds[i] = False, seconds[d.name, v, k]
        out.append(fits)
    return out
