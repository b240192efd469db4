"""The study's training loop: one :func:`fit` for classification and regression, :func:`predict`,
and the checkpoint cache of every paper's protocol.

:func:`fit` trains a module on tensors, in mini-batches drawn by a seeded permutation:
**classification** (cross-entropy) or **regression** (MSE, optionally on targets standardised
with the training mean and SD; the returned :class:`Rescaled` model answers in target units);
SGD with momentum or Adam, optionally a cosine schedule; **selection on a validation metric**
(mean Pearson r, accuracy or the negative loss) with ``patience``; an **augmentation hook**
``augment(batch, generator) -> batch`` (:func:`facexai.ratings.augment` is one); ``trainable="all"``
or ``"head"`` (the last layer only: the body stays bit-identical, as in a linear probe); tqdm bars.

Randomness: batch order and augmentation draw from a generator seeded with ``seed``; initialisation
and dropout from torch's global generator, seeded by the caller before it builds the model.

:func:`checkpoint_path` names a checkpoint by :func:`facexai.cache.key` of every setting, the data
fingerprint and the code (this module, :mod:`facexai.models` and the caller's protocol modules);
:func:`save_checkpoint` writes plain tensors and JSON (:func:`facexai.cache.save_torch`),
:func:`load_checkpoint` reads them with ``weights_only=True``; :func:`load_or_fit` combines them.
"""
from __future__ import annotations

import copy
import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import cache, stats
from .compute import channels_last, cpu_threads, resolve_device

__all__ = ["LOSSES", "METRICS", "OPTIMIZERS", "SCHEDULERS", "TRAINABLE", "TRAINING_CODE",
           "Checkpoint", "Fit", "Options", "Rescaled", "checkpoint_path", "fit", "head_module",
           "load_checkpoint", "load_or_fit", "predict", "save_checkpoint", "trainable_parameters"]

LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = ("none", "cosine")
TRAINABLE = ("all", "head")
#: Validation metrics (higher is better) -> their column in :attr:`Fit.history`.
METRICS = {"pearson": "val_r", "accuracy": "val_accuracy", "neg_loss": "val_neg_loss"}
#: Library sources (globs under ``lib/facexai``) that every trained model depends on.
TRAINING_CODE = ("training.py", "compute.py", "models.py")
_FORMAT = "facexai.training/1"


@dataclass(frozen=True)
class Options:
    """The settings of :func:`fit`; each one changes the trained weights.

    Attributes
    ----------
    loss : {"cross_entropy", "mse"}
    standardize : bool
        MSE on targets standardised per column with the training mean and SD (an SD of 0 counts
        as 1); :class:`Rescaled` maps the outputs back.
    metric : {"auto", "pearson", "accuracy", "neg_loss"}
        Selection metric; ``"auto"``: Pearson for ``"mse"``, accuracy for ``"cross_entropy"``.
    optimizer, lr, momentum, weight_decay : {"sgd", "adam"}, float, float, float
        ``momentum`` applies to SGD only.
    scheduler, t_max : {"none", "cosine"}, int
        ``"cosine"``: ``CosineAnnealingLR(T_max=t_max)`` stepped once per epoch.
    epochs, batch_size, patience : int (patience: or None, never stop early)
    trainable : {"all", "head"}
        Which parameters are trained (:func:`trainable_parameters`).
    seed : int
        Seeds the batch order and the augmentation.
    """

    loss: str = "cross_entropy"
    standardize: bool = False
    metric: str = "auto"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    t_max: int = 200
    epochs: int = 10
    batch_size: int = 64
    patience: int | None = None
    trainable: str = "all"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS),
                              ("trainable", TRAINABLE), ("metric", ("auto", *METRICS))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name, low in (("t_max", 1), ("epochs", 1), ("batch_size", 1), ("patience", 1),
                          ("seed", 0)):
            v = getattr(self, name)
            if not (v is None and name == "patience") and (
                    isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        for name, v in (("lr", self.lr), ("momentum", self.momentum), ("weight_decay",
                                                                       self.weight_decay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (name == "lr" and v == 0):
                raise ValueError(f"{name} must be a non-negative (lr: positive) number, got {v!r}")
        if self.standardize and self.loss != "mse":
            raise ValueError("standardize=True needs loss='mse'")

    @property
    def selection_metric(self) -> str:
        if self.metric != "auto":
            return self.metric
        return "pearson" if self.loss == "mse" else "accuracy"


class Rescaled(nn.Module):
    """A regression network whose outputs are mapped to target units: ``net(x) * scale + shift``.

    ``scale``/``shift`` are the training SD/mean of each target (``standardize=True``) or 1/0.
    The scale is positive, so gradients and Grad-CAM maps of an output keep their sign and differ
    from those of ``net`` by a constant factor.
    """

    def __init__(self, net: nn.Module, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("shift", torch.as_tensor(shift).detach().clone().float())
        self.register_buffer("scale", torch.as_tensor(scale).detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale + self.shift


@dataclass
class Fit:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : nn.Module
        Eval mode, holding the selected weights; :class:`Rescaled` for a regression.
    history : DataFrame
        One row per epoch: ``epoch``, ``train_loss`` and, with validation data, the metric's
        column (:data:`METRICS`) and ``val_loss``; then ``lr``, ``seconds`` and ``best`` (the
        epoch whose weights were kept).
    best_epoch : int
    state : dict
        The selected weights (``model.state_dict()``).
    seconds : float
    """

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    state: dict[str, torch.Tensor] = field(repr=False)
    seconds: float = 0.0


def head_module(model: nn.Module) -> nn.Module:
    """The last module (in registration order) that owns parameters: the output layer."""
    owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    if not owners:
        raise ValueError("the model has no parameters")
    return owners[-1]


def trainable_parameters(model: nn.Module, trainable: str = "all") -> list[nn.Parameter]:
    """The parameters :func:`fit` trains: all of them, or those of :func:`head_module`."""
    if trainable == "all":
        return list(model.parameters())
    if trainable == "head":
        return list(head_module(model).parameters())
    raise ValueError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256,
            device: str | torch.device | None = None) -> torch.Tensor:
    """Outputs of ``model`` for ``x`` in eval mode, in batches, on the CPU (the mode is restored).

    ``device``: where the batches go (default: where the model's parameters are).
    """
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        out = [model(x[a:a + batch_size].to(device)).float().cpu()
               for a in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, 0))


def _targets(y, opts: Options) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None]:
    """Training targets as fit uses them, and the shift/scale of a regression."""
    if opts.loss == "cross_entropy":
        return torch.as_tensor(y).long(), None, None
    y = np.asarray(y.numpy() if isinstance(y, torch.Tensor) else y, np.float32)
    y = y.reshape(len(y), -1)
    if opts.standardize:
        shift = y.mean(0)
        scale = y.std(0)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    else:
        shift, scale = np.zeros(y.shape[1], np.float32), np.ones(y.shape[1], np.float32)
    return torch.from_numpy((y - shift) / scale), shift, scale


@contextmanager
def _training_context(model: nn.Module, params: Sequence[nn.Parameter], threads: int | None,
                      device: torch.device) -> Iterator[None]:
    """Freeze the parameters not trained, cap CPU threads and use the channels-last layout
    (:func:`channels_last`) for the block; restore all three after."""
    keep = {id(p) for p in params}
    for p in (frozen := [p for p in model.parameters() if id(p) not in keep and p.requires_grad]):
        p.requires_grad_(False)
    try:
        with cpu_threads(threads, device), channels_last(model, device):
            yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _train_mode(out: nn.Module, model: nn.Module, trainable: str) -> None:
    """Train mode for ``out``; with ``trainable="head"`` only the head of ``model`` is in it."""
    out.train()
    if trainable == "head":
        model.eval()
        head_module(model).train()


def _train_epoch(model, x, y, opt, loss_fn, gen, augment, batch_size, device) -> float:
    """One pass over the training data in a seeded order; returns the mean training loss.

    A batch of one is skipped (as ``drop_last`` would): batch normalisation cannot train on it.
    """
    order = torch.randperm(len(x), generator=gen)
    total, count = 0.0, 0
    for a in range(0, len(order), batch_size):
        idx = order[a:a + batch_size]
        if len(idx) < 2 and len(order) > 1:
            continue
        xb = x[idx]
        if augment is not None:
            xb = augment(xb, gen)
        xb, yb = xb.to(device), y[idx].to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / max(count, 1)


def _validate(model: nn.Module, val, opts: Options, scale, device) -> dict[str, float]:
    """The validation metric and loss (in training units) of ``model`` on ``val = (x, y)``."""
    x, y = val
    pred = predict(model, x, 256, device)
    if opts.loss == "mse":
        pred = pred.numpy()
        y = np.asarray(y.numpy() if isinstance(y, torch.Tensor) else y, np.float32)
        y = y.reshape(len(y), -1)
        r = stats.pearson_columns(pred, y).to_numpy()
        loss = float(np.mean(((pred - y) / scale) ** 2))
        scores = {"pearson": float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")}
    else:
        y = torch.as_tensor(y).long()
        loss = float(nn.functional.cross_entropy(pred, y))
        scores = {"accuracy": float((pred.argmax(1) == y).float().mean())}
    scores["neg_loss"] = -loss
    metric = opts.selection_metric
    if metric not in scores:
        raise ValueError(f"metric {metric!r} does not apply to loss {opts.loss!r}")
    return {METRICS[metric]: scores[metric], "val_loss": loss}


def _optimizer(params: Sequence[nn.Parameter], opts: Options):
    if opts.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=opts.lr, momentum=opts.momentum,
                              weight_decay=opts.weight_decay)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=opts.t_max)
             if opts.scheduler == "cosine" else None)
    return opt, sched


def _bar(epochs: int, desc: str, progress: bool):
    if progress:  # tqdm.auto warns on import where ipywidgets is missing: only when asked for
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False)


class _Best:
    """The epoch whose weights are kept: the best validation score so far (a tie is no
    improvement), or, without validation data, the last epoch."""

    def __init__(self, column: str, selects: bool):
        self.column, self.selects = column, selects
        self.score, self.epoch, self.state = -np.inf, 0, None

    def update(self, epoch: int, row: dict, module: nn.Module) -> None:
        if not self.selects:
            self.epoch = epoch
            return
        score = row[self.column]
        if (np.isfinite(score) and score > self.score) or self.state is None:
            self.score = score if np.isfinite(score) else self.score
            self.epoch = epoch
            self.state = copy.deepcopy(module.state_dict())

    def patience_over(self, epoch: int, patience: int | None) -> bool:
        return self.selects and bool(patience) and epoch - self.epoch >= patience


def fit(model: nn.Module, x: torch.Tensor, y, *, val: tuple[torch.Tensor, Any] | None = None,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        device: str | torch.device = "cpu", threads: int | None = None, progress: bool = False,
        desc: str = "training", **options: Any) -> Fit:
    """Train ``model`` on ``(x, y)``; select the best epoch on ``val`` (see the module docstring).

    Parameters
    ----------
    model : nn.Module
        Trained in place (built after ``torch.manual_seed`` for a reproducible initialisation).
    x, y : Tensor (N, ...), Tensor or array
        Preprocessed inputs; class labels (N,) or regression targets (N, K) or (N,).
    val : (x, y), optional
        Validation data, in the units of ``y``; without it the last epoch's weights are kept.
    augment : callable, optional
        ``augment(batch, generator) -> batch``, applied to every training batch.
    device, threads, progress, desc
        ``"auto"``: cuda if available; CPU threads while training (None: as is); a tqdm bar.
    **options
        :class:`Options`.

    Returns
    -------
    Fit
    """
    opts = Options(**options)
    t0, dev = time.time(), resolve_device(device)
    y_train, shift, scale = _targets(y, opts)
    out = Rescaled(model, torch.from_numpy(shift), torch.from_numpy(scale)) \
        if opts.loss == "mse" else model
    out.to(dev)
    params = trainable_parameters(model, opts.trainable)
    opt, sched = _optimizer(params, opts)
    loss_fn = nn.MSELoss() if opts.loss == "mse" else nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(opts.seed)
    best, rows = _Best(METRICS[opts.selection_metric], selects=val is not None), []
    bar = _bar(opts.epochs, desc, progress)
    with _training_context(model, params, threads, dev):
        for epoch in bar:
            t_epoch = time.time()
            _train_mode(out, model, opts.trainable)
            row = dict(epoch=epoch, train_loss=_train_epoch(model, x, y_train, opt, loss_fn, gen,
                                                            augment, opts.batch_size, dev))
            if sched is not None:
                sched.step()
            if val is not None:
                row.update(_validate(out, val, opts, scale, dev))
            rows.append(dict(row, lr=opt.param_groups[0]["lr"], seconds=time.time() - t_epoch))
            best.update(epoch, row, out)
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", best.column) if k in row})
            if best.patience_over(epoch, opts.patience):
                break
    bar.close()
    if best.state is not None:
        out.load_state_dict(best.state)
    out.eval()
    history = pd.DataFrame(rows)
    history["best"] = history["epoch"] == best.epoch
    return Fit(model=out, history=history, best_epoch=best.epoch, state=out.state_dict(),
               seconds=time.time() - t0)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """A model trained by :func:`load_or_fit` or read by :func:`load_checkpoint`.

    ``model`` is in eval mode (None from :func:`load_checkpoint`, which reads ``state`` only);
    ``settings`` is everything that keyed it, ``extra`` plain values stored beside the weights;
    ``seconds`` the time this call took (training or loading), ``train_seconds`` the training's.
    """

    model: nn.Module | None
    history: pd.DataFrame
    settings: dict[str, Any]
    state: dict[str, torch.Tensor] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0


def checkpoint_path(folder: Path | str, name: str, settings: Mapping[str, Any], *, data: str,
                    code: Sequence[str] = ()) -> Path:
    """``<folder>/<name>-<key>.pt``: the key hashes every setting, the data fingerprint and the
    code of :data:`TRAINING_CODE` plus ``code`` (globs under ``lib/facexai``, e.g. the caller's
    protocol module)."""
    key = cache.key(dict(settings), data=data,
                    code=cache.code_fingerprint(*TRAINING_CODE, *code))
    return Path(folder) / f"{name}-{key}.pt"


def save_checkpoint(target: Path | str, model: nn.Module, *, settings: Mapping[str, Any],
                    history: pd.DataFrame, train_seconds: float = 0.0,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """``torch.save`` the weights, settings, history and ``extra`` (plain types only) atomically."""
    blob = {"format": _FORMAT, "state_dict": {k: v.detach().cpu() for k, v in
                                              model.state_dict().items()},
            "settings_json": json.dumps(dict(settings), sort_keys=True, default=str),
            "history_json": history.to_json(orient="split"),
            "extra_json": json.dumps(dict(extra or {}), sort_keys=True, default=str),
            "train_seconds": float(train_seconds)}
    return cache.save_torch(blob, target)


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Read what :func:`save_checkpoint` wrote (``weights_only=True``: no code runs on load)."""
    blob = cache.load_torch(path)
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a {_FORMAT} checkpoint")
    return Checkpoint(model=None, history=pd.read_json(StringIO(blob["history_json"]), orient="split"),
                      settings=json.loads(blob["settings_json"]), state=blob["state_dict"],
                      extra=json.loads(blob["extra_json"]), path=Path(path), from_cache=True,
                      train_seconds=float(blob["train_seconds"]))


def load_or_fit(target: Path | str | None, settings: Mapping[str, Any], *,
                build: Callable[[], nn.Module],
                train: Callable[[], tuple[nn.Module, pd.DataFrame]],
                device: str | torch.device = "cpu", extra: Mapping[str, Any] | None = None) -> Checkpoint:
    """Load the checkpoint ``target`` into ``build()``, or ``train()`` and save it there.

    ``build`` makes the untrained module the weights load into; ``train`` returns the trained
    module and its history. A damaged or incompatible entry is retrained; ``target=None``
    always trains and saves nothing.
    """
    dev = resolve_device(device)
    t0 = time.time()
    if target is not None and Path(target).is_file():
        try:
            ckpt = load_checkpoint(target)
            model = build()
            model.load_state_dict(ckpt.state)
        except Exception:  # damaged, or from other code: train again
            pass
        else:
            ckpt.model = model.to(dev).eval()
            ckpt.seconds = time.time() - t0
            return ckpt
    model, history = train()
    model.eval()
    seconds = time.time() - t0
    if target is not None:
        save_checkpoint(target, model, settings=settings, history=history, train_seconds=seconds,
                        extra=extra)
    return Checkpoint(model=model, history=history, settings=dict(settings),
                      state=model.state_dict(), extra=dict(extra or {}),
                      path=Path(target) if target is not None else None, from_cache=False,
                      seconds=seconds, train_seconds=seconds)

