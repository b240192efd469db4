"""Paper 1's protocol (Arbabzadah et al. 2016; only the abstract and a review survive).

* Base models (:func:`fit_bases`): Levi & Hassner's network (:func:`facexai.models.levi_hassner`)
  trained on UTKFace (:func:`load_utkface`: its twin through the real loader) to classify the 8
  Adience age groups (multiclass) or gender (binary); cross-entropy, Adam, selection on the
  validation accuracy, cached per task and seed.
* Transfer (:func:`fit_transfers`): each base model's ``fc8`` replaced by one output per rated
  attribute of the 10k twin (:func:`load_tenk`), retrained in one of :data:`MODES` -- ``"dense"``
  (``fc8`` only; everything else bit-identical) or ``"whole"`` (every layer, after a warm-up of
  ``warmup`` epochs in which only the new ``fc8`` trains: :func:`head_warmup`) -- and the same
  network from random weights, trained the same way (``"scratch"``, the control); MSE on
  standardised ratings, selection on the validation r (:mod:`facexai.regressors`), cached per
  source, mode and seed.
* KDEF (:func:`load_kdef`, :func:`fit_kdef`): the straight-ahead images of both series, 7
  expressions, subject-independent folds; transfer as above with a 7-way classifier.

Every model uses :func:`facexai.ratings.to_tensor` (ImageNet normalisation), so base and transfer
see the same input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import datasets, paths, ratings, regressors, training
from ..datasets import twins
from ..models import last_maxpool, levi_hassner
from ..ratings import AttributeData, to_tensor
from ..synth.attributes import ADIENCE_GROUPS
from .schema import MODES, SOURCES, TASKS, Paper1Settings

__all__ = ["CODE", "MODES", "SOURCES", "TASKS", "BaseFit", "ClassData", "fit_base", "fit_bases",
           "fit_kdef", "fit_transfer", "fit_transfers", "head_warmup", "load_kdef", "load_tenk",
           "load_utkface", "network", "transfer_net"]

#: Code the trained models depend on (globs under ``lib/facexai``), beside training/models.
CODE = ("paper1/protocol.py",)
#: The KDEF subset: straight-ahead images of both series (the paper's subset is NOT FOUND).
KDEF_ANGLES = ("S",)


@dataclass
class ClassData:
    """Faces with class labels and a train / validation / test split (UTKFace, KDEF).

    ``images`` uint8 (N, S, S, 3); ``labels`` a DataFrame of label columns; ``roles`` int (N,):
    1 train, 2 validation, 3 test; ``classes`` per label column its class names. The arrays are
    not changed after loading (:meth:`fingerprint` is computed once)."""

    name: str
    images: np.ndarray
    labels: pd.DataFrame
    roles: np.ndarray
    classes: dict[str, tuple]
    synthetic: bool
    subjects: np.ndarray | None = None
    notes: dict = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def indices(self, role: str) -> np.ndarray:
        code = {"train": 1, "val": 2, "test": 3}[role]
        return np.flatnonzero(self.roles == code)

    def counts(self) -> dict[str, int]:
        return {r: len(self.indices(r)) for r in ("train", "val", "test")}

    def fingerprint(self) -> str:
        """Hash of the images, labels and split (keys the models trained on them), once."""
        if self._fingerprint is None:
            from ..cache import array_fingerprint, digest
            self._fingerprint = digest([array_fingerprint(self.images, self.roles),
                                        self.labels.to_csv()])
        return self._fingerprint


def _root(key: str, s: Mapping[str, Any], twin: dict) -> tuple[Path, bool]:
    """The real copy under ``data_dir`` or the twin (written if missing); and whether synthetic."""
    if s["data_dir"]:
        base = Path(s["data_dir"]).expanduser()
        base = base if base.is_absolute() else paths.data_dir() / base
        return base / datasets.get(key).folder, False
    return twins.ensure_twin(key, **twin), True


def _fold_roles(test: np.ndarray, val: np.ndarray) -> np.ndarray:
    return np.where(test, 3, np.where(val, 2, 1)).astype(np.int8)


def load_utkface(**settings: Any) -> ClassData:
    """UTKFace (or its twin) at ``image_size``, RGB: test on fold 0 and validate on fold 1 of the
    loader's seeded 5-fold split; labels ``age``, ``age_group`` (Adience), ``gender`` (0 male)."""
    s = Paper1Settings.checked("data", settings)
    root, synthetic = _root("utkface", s, dict(n_images=s["utkface_images"], seed=s["seed"],
                                               render_size=s["render_size"], workers=s["workers"]))
    ds = datasets.get("utkface").load(root, size=s["image_size"])
    r = ds.splits["kfold"].roles
    groups = tuple(f"{lo}-{hi}" for lo, hi in ADIENCE_GROUPS)
    return ClassData("utkface", ds.images, ds.labels[["age", "age_group", "gender"]].copy(),
                     _fold_roles(r[:, 0] == 3, r[:, 1] == 3),
                     {"age_group": groups, "gender": tuple(ds.classes)}, synthetic,
                     notes={"skipped": len(ds.skipped)})


def load_tenk(**settings: Any) -> AttributeData:
    """The 2,222 rated targets of the 10k database (or its twin, the same as paper 3's) at
    ``image_size`` with the paper-3 code's split (paper 1's split is NOT FOUND)."""
    s = Paper1Settings.checked("data", settings)
    return ratings.load(s["data_dir"], image_size=s["image_size"], n_targets=s["n_targets"],
                        seed=s["seed"], workers=s["workers"], render_size=s["render_size"],
                        proxies=s["proxies"], scheme="paper3")


def load_kdef(**settings: Any) -> ClassData:
    """KDEF's straight-ahead images (:data:`KDEF_ANGLES`, both series) at ``image_size``, 7
    expressions, subject-independent folds (test fold 0, validation fold 1)."""
    s = Paper1Settings.checked("data", settings)
    root, synthetic = _root("kdef", s, dict(n_identities=s["kdef_identities"], seed=s["seed"],
                                            render_size=s["render_size"], workers=s["workers"],
                                            angles=KDEF_ANGLES))
    ds = datasets.get("kdef").load(root, size=s["image_size"], angles=KDEF_ANGLES)
    r = ds.splits["subject_folds"].roles
    return ClassData("kdef", ds.images, ds.labels[["label", "expression", "emotion",
                                                   "identity", "series"]].copy(),
                     _fold_roles(r[:, 0] == 3, r[:, 0] == 2), {"label": tuple(ds.classes)},
                     synthetic, subjects=ds.subjects)


def network(n_outputs: int, **model: Any) -> nn.Sequential:
    """The Levi & Hassner network of the model settings ``model``, with ``n_outputs`` outputs."""
    return levi_hassner(n_outputs, input_size=model["image_size"], widths=tuple(model["widths"]),
                        hidden=model["hidden"], stride=model["stride"], lrn=model["lrn"],
                        dropout=model["dropout"])


def _options(c: Mapping[str, Any], **fixed: Any) -> dict[str, Any]:
    keys = ("lr", "weight_decay", "epochs", "batch_size", "patience")
    return {**{k: c[k] for k in keys}, "optimizer": "adam", **fixed}


def head_warmup(model: nn.Module, x: torch.Tensor, y, *, loss: str,
                config: Mapping[str, Any], threads: int | None = 2) -> nn.Module:
    """``model`` (trained in place and returned) after ``config["warmup"]`` epochs in which only
    its output layer trains, the rest frozen and in eval mode, with ``config``'s optimiser
    settings and no selection; the whole network then starts training from a fitted head rather
    than a random one. ``loss``: ``"mse"`` (on standardised targets, as the regressors train) or
    ``"cross_entropy"``."""
    if config["warmup"] > 0:
        training.fit(model, x, y, loss=loss, standardize=loss == "mse", seed=config["seed"],
                     threads=threads, **_options(config, trainable="head",
                                                 epochs=config["warmup"], patience=None))
    return model


@dataclass
class BaseFit:
    """A trained classifier: its ``model`` (eval mode, logits), ``history``, ``config`` (what
    keyed its cache), ``cache_file``, ``from_cache`` and ``train_seconds``."""

    task: str
    model: nn.Module
    history: pd.DataFrame
    config: dict
    cache_file: Path | None
    from_cache: bool
    train_seconds: float

    @property
    def key(self) -> str:
        """The checkpoint's file stem (what a transferred model's cache key names)."""
        return self.cache_file.stem if self.cache_file else f"{self.task}-{self.config['seed']}"

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities of uint8 images (N, S, S, 3)."""
        return torch.softmax(training.predict(self.model, to_tensor(images)), 1).numpy()


def _fit_classifier(data: ClassData, column: str, task: str, config: dict, name: str, *,
                    net, trainable: str = "all", cache=True, threads: int | None = 2,
                    progress: bool = False) -> BaseFit:
    """Train (or load) a classifier of ``data``'s ``column``; with ``config["warmup"]`` (whole
    network only), :func:`head_warmup` first."""
    y = data.labels[column].to_numpy(np.int64)
    train, val = data.indices("train"), data.indices("val")
    target = None
    if cache is not False:
        folder = paths.models_cache() if cache is True else Path(cache)
        target = training.checkpoint_path(folder, name, config, data=data.fingerprint(),
                                          code=CODE)

    def fit():
        torch.manual_seed(config["seed"])
        model = net(True)
        x = to_tensor(data.images)
        if trainable == "all" and config.get("warmup"):
            head_warmup(model, x[train], y[train], loss="cross_entropy", config=config,
                        threads=threads)
        f = training.fit(model, x[train], y[train], val=(x[val], y[val]), loss="cross_entropy",
                         seed=config["seed"], trainable=trainable, threads=threads,
                         progress=progress, desc=name, **_options(config))
        return f.model, f.history

    ckpt = training.load_or_fit(target, config, build=lambda: net(False), train=fit)
    return BaseFit(task, ckpt.model, ckpt.history, config, ckpt.path, ckpt.from_cache,
                   ckpt.train_seconds)


def fit_base(data: ClassData, task: str, *, cache=True, progress: bool = False,
             **settings: Any) -> BaseFit:
    """The base model of ``task`` (:data:`TASKS`: ``"age"`` or ``"gender"``) trained on
    ``data`` (:func:`load_utkface`), or loaded from the cache. ``settings``: model settings."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {tuple(TASKS)}, got {task!r}")
    c = dict(Paper1Settings.checked("model", settings), task=task)
    c.pop("warmup")                       # a base model has no new output layer to warm up
    column, n = TASKS[task]
    return _fit_classifier(data, column, task, c, f"paper1-base-{task}",
                           net=lambda init: network(n, **c), cache=cache, progress=progress)


def fit_bases(data: ClassData, n_seeds: int = 3, **settings: Any) -> dict[tuple[str, int], BaseFit]:
    """Both base models for each training seed: ``{(task, seed): BaseFit}``."""
    seed = settings.pop("seed", Paper1Settings.seed)
    return {(t, seed + k): fit_base(data, t, seed=seed + k, **settings)
            for k in range(n_seeds) for t in TASKS}


def transfer_net(base: BaseFit | None, n_outputs: int, warm=None, **model: Any):
    """:data:`facexai.regressors.NetFactory` of a transferred network: the base model's weights
    (random ones for ``base=None``) with a fresh ``fc8`` of ``n_outputs`` outputs; ``warm(m)``,
    if given, trains a fresh network's head first (:func:`head_warmup`)."""
    def net(n: int, initialised: bool) -> nn.Module:
        m = network(TASKS[base.task][1] if base is not None else n, **model)
        if base is not None:
            if initialised:
                m.load_state_dict(base.model.state_dict())
            m.fc8 = nn.Linear(m.fc8.in_features, n)
        return warm(m) if initialised and warm is not None else m
    return net


def fit_transfer(tenk: AttributeData, base: BaseFit | None, mode: str, *, cache=True,
                 progress: bool = False, **settings: Any) -> regressors.Fitted:
    """A base model (or, with ``base=None``, random weights: the control) transferred to every
    attribute of ``tenk`` in ``mode`` (:data:`MODES`), or loaded from the cache."""
    if mode not in MODES or (base is None and mode != "whole"):
        raise ValueError(f"mode must be one of {MODES} ('whole' from scratch), got {mode!r}")
    c = dict(Paper1Settings.checked("model", settings), protocol="multi", mode=mode,
             source=base.key if base is not None else "scratch",
             attributes=list(ratings.ATTRIBUTES))
    if mode == "dense":
        c.pop("warmup")                   # the dense layer is all that trains anyway
    source = base.task if base is not None else "scratch"
    train = tenk.indices("train")

    def warm(m: nn.Module) -> nn.Module:
        y = tenk.ratings[c["attributes"]].to_numpy(np.float32)[train]
        return head_warmup(m, to_tensor(tenk.images[train]), y, loss="mse", config=c)

    return regressors.fit_or_load(
        tenk, c, transfer_net(base, len(c["attributes"]), warm if mode == "whole" else None, **c),
        name=f"paper1-{source}-{mode}", code=CODE, cache=cache, progress=progress,
        options=_options(c, trainable="head" if mode == "dense" else "all"),
        cam_layer=last_maxpool)


def fit_transfers(tenk: AttributeData, bases: Mapping[tuple[str, int], BaseFit],
                  **settings: Any) -> dict[tuple[str, str], regressors.SeedFits]:
    """Every source (:data:`SOURCES`) and mode, one model per seed of ``bases``:
    ``{(source, mode): SeedFits}`` (scratch: ``"whole"`` only)."""
    seeds = sorted({s for _, s in bases})
    settings.pop("seed", None)
    out = {}
    for source in SOURCES:
        for mode in (MODES if source != "scratch" else ("whole",)):
            out[source, mode] = regressors.SeedFits([
                fit_transfer(tenk, bases.get((source, s)), mode, seed=s, **settings)
                for s in seeds])
    return out


def fit_kdef(kdef: ClassData, base: BaseFit | None, mode: str, *, cache=True,
             **settings: Any) -> BaseFit:
    """A base model (or random weights) transferred to KDEF's 7 expressions in ``mode``."""
    if mode not in MODES or (base is None and mode != "whole"):
        raise ValueError(f"mode must be one of {MODES} ('whole' from scratch), got {mode!r}")
    c = dict(Paper1Settings.checked("model", settings), mode=mode,
             source=base.key if base is not None else "scratch")
    if mode == "dense":
        c.pop("warmup")
    n = len(kdef.classes["label"])
    factory = transfer_net(base, n, **c)
    source = base.task if base is not None else "scratch"
    return _fit_classifier(kdef, "label", f"kdef-{source}-{mode}", c,
                           f"paper1-kdef-{source}-{mode}",
                           net=lambda init: factory(n, init),
                           trainable="head" if mode == "dense" else "all", cache=cache)
