"""Paper 3's VGG16 regressions: training, the checkpoint cache, and the fitted model.

Two protocols (see the chapter's "Predictive power" section):

``"per_attribute"``
    [P3] ``Psychology/main.py``: one VGG16 per attribute with one output, MSE on the raw 1-9
    ratings, Adam (lr 5e-4, weight decay 5e-4), batch 40, early stopping after ``patience``
    epochs without a better validation Pearson r, the best-by-validation weights kept;
    optionally the code's ``CosineAnnealingLR(T_max=200)`` stepped per epoch.
``"multi"``
    One VGG16 with 40 outputs trained on ratings standardised per attribute (train-split mean and
    SD) so that every attribute weighs the same in the loss; the outputs are mapped back to rating
    units inside the model. Early stopping on the mean validation r over attributes.

:func:`fit_or_load` trains, or loads from ``<cache>/paper3/``: a ``torch.save``'d checkpoint
(plain tensors, lists and numbers; read back with ``torch.load(weights_only=True)``) whose name
hashes every setting, the data (:meth:`Paper3Data.fingerprint`) and this module's code.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import paths
from ..models import vgg16
from .data import ATTRIBUTES, Paper3Data, to_tensor, augment as augment_batch
from .metrics import pearson_per_attribute

PROTOCOLS = ("multi", "per_attribute")
SCHEDULERS = ("none", "cosine")
#: Grad-CAM layer of the paper (``model.vgg16.features[30]``: VGG16's last max-pool), as a dotted
#: name inside the modules :meth:`Fitted.explainable` returns (``net.features.43`` with batch norm).
CAM_LAYER = "net.features.30"
#: Names of the model settings of :func:`fit_or_load` that a notebook's parameters carry.
MODEL_SETTINGS = ("protocol", "weights", "width", "batch_norm", "dropout", "image_size", "epochs",
                  "batch_size", "lr", "weight_decay", "patience", "augment", "scheduler", "seed")
#: Names of the :func:`facexai.paper3.load_data` settings that a notebook's parameters carry.
DATA_SETTINGS = ("data_dir", "image_size", "n_targets", "seed", "workers", "render_size")


class RatingNet(nn.Module):
    """A network whose outputs are mapped to rating units: ``net(x) * scale + shift``.

    ``scale``/``shift`` are the train-split SD/mean of each attribute (multi-output protocol) or
    1/0 (the paper's protocol, trained on raw ratings). The scale is positive, so gradients and
    Grad-CAM maps of an output keep their sign and differ from those of ``net`` by a constant.
    """

    def __init__(self, net: nn.Module, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("shift", shift.detach().clone().float())
        self.register_buffer("scale", scale.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale + self.shift


class StackedNets(nn.Module):
    """The per-attribute protocol's single-output models side by side: output k = model k."""

    def __init__(self, nets: Sequence[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self.nets], dim=1)


@dataclass
class Fitted:
    """A trained paper-3 model (see :func:`fit_or_load`).

    Attributes
    ----------
    model : nn.Module
        Eval mode; input :func:`facexai.paper3.to_tensor` images, output (N, len(attributes))
        in rating units.
    attributes : list of str
        Output order.
    history : DataFrame
        One row per epoch (and attribute, for the per-attribute protocol): ``epoch``,
        ``train_loss``, ``val_r`` (mean over the attributes trained), ``seconds``, ``best``.
    config : dict
        The settings (those that key the cache).
    cache_file : Path or None
        The checkpoint.
    from_cache : bool
        Whether the model was loaded rather than trained.
    seconds, train_seconds : float
        Time this call took (training or loading), and the time the training took.
    """

    model: nn.Module
    attributes: list[str]
    history: pd.DataFrame
    config: dict[str, Any]
    cache_file: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = 128) -> pd.DataFrame:
        """Predicted ratings of uint8 images (N, H, W, 3): DataFrame (N, attributes)."""
        x = to_tensor(images)
        if x.shape[-1] != self.config["image_size"] or x.shape[-2] != self.config["image_size"]:
            raise ValueError(f"images are {tuple(x.shape[-2:])} pixels; this model was trained on "
                             f"image_size={self.config['image_size']}")
        return pd.DataFrame(_predict(self.model, x, batch_size, self.device), columns=self.attributes)

    def explainable(self, attribute: str) -> tuple[nn.Module, int, str]:
        """``(module, output_index, cam_layer)`` to explain ``attribute``.

        ``module`` maps :func:`to_tensor` input to ratings; ``cam_layer`` is the dotted name, inside
        it, of the layer of the paper's Grad-CAM (``features[30]``, VGG16's last max-pool).
        """
        if attribute not in self.attributes:
            raise ValueError(f"attribute {attribute!r} is not an output of this model; "
                             f"choose from {self.attributes}")
        k = self.attributes.index(attribute)
        if isinstance(self.model, StackedNets):
            return self.model.nets[k], 0, cam_layer(self.model.nets[k])
        return self.model, k, cam_layer(self.model)


def cam_layer(model: nn.Module) -> str:
    """Dotted name of the last max-pool of ``model.net.features``: ``features[30]`` of VGG16 (the
    paper's Grad-CAM layer), ``features[43]`` of VGG16 with batch normalisation."""
    last = [i for i, m in enumerate(model.net.features) if isinstance(m, nn.MaxPool2d)][-1]
    return f"net.features.{last}"


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int, device) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for a in range(0, len(x), batch_size):
            out.append(model(x[a:a + batch_size].to(device)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def pearson_columns(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``pred`` with the same column of ``true`` (NaN if constant):
    :func:`facexai.paper3.metrics.pearson_per_attribute` as an array."""
    return pearson_per_attribute(np.asarray(pred, float), np.asarray(true, float)).to_numpy()


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda if available, else cpu; other strings as torch reads them."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device!r}: {err}") from None


def _check(config: dict[str, Any], data: Paper3Data) -> None:
    def positive_int(name):
        v = config[name]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")

    if config["protocol"] not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {config['protocol']!r}")
    if config["scheduler"] not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {config['scheduler']!r}")
    for name in ("width", "image_size", "epochs", "batch_size", "patience"):
        positive_int(name)
    d = config["dropout"]
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {d!r}")
    for name in ("lr", "weight_decay"):
        v = config[name]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0 \
                or (name == "lr" and v == 0):
            raise ValueError(f"{name} must be a {'positive' if name == 'lr' else 'non-negative'} "
                             f"number, got {v!r}")
    unknown = [a for a in config["attributes"] if a not in ATTRIBUTES]
    if unknown or not config["attributes"]:
        raise ValueError(f"attributes: unknown {unknown} (choose from {ATTRIBUTES})" if unknown
                         else "attributes must not be empty")
    size = data.images.shape[1:3]
    if tuple(size) != (config["image_size"], config["image_size"]):
        raise ValueError(f"image_size={config['image_size']} but the data's images are {size}: "
                         "load the data with the same image_size")
    counts = data.counts()
    if counts["train"] < 2 or counts["val"] < 2:
        raise ValueError(f"need at least 2 training and 2 validation images, got {counts}")


def _code_hash() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("train.py", "data.py"):
        h.update((here / name).read_bytes())
    h.update((here.parent / "models.py").read_bytes())
    return h.hexdigest()[:12]


def cache_key(config: Mapping[str, Any], data: Paper3Data) -> str:
    """Hash of the settings, the data and the training code."""
    blob = json.dumps({"config": dict(config), "data": data.fingerprint(), "code": _code_hash()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fit_or_load(data: Paper3Data, *, protocol: str = "multi", attributes: Sequence[str] | None = None,
                weights: str = "none", width: int = 8, batch_norm: bool = False,
                dropout: float = 0.5, image_size: int = 64, epochs: int = 20,
                batch_size: int = 32, lr: float = 5e-4, weight_decay: float = 5e-4, patience: int = 10,
                augment: bool = True, scheduler: str = "none", seed: int = 0, device: str = "auto",
                progress: bool = True, cache: bool | str | Path = True,
                threads: int | None = 2) -> Fitted:
    """Train paper 3's VGG16 regression(s) on ``data``, or load them from the cache.

    Parameters
    ----------
    data : Paper3Data
        From :func:`facexai.paper3.load_data` (trained on ``"train"``, selected on ``"val"``).
    protocol : {"multi", "per_attribute"}
        One 40-output model, or the paper's one model per attribute.
    attributes : list of str, optional
        Attributes to model (default all 40, in :data:`ATTRIBUTES` order).
    weights : str
        ``"none"``, ``"imagenet"`` (needs ``width=64``) or a state_dict file
        (:func:`facexai.models.vgg16`).
    width : int
        Channels of VGG16's first block (64 = torchvision's VGG16; smaller widths divide every
        layer alike, keeping its structure).
    batch_norm : bool
        torchvision's ``vgg16_bn`` structure (batch normalisation after every convolution): the
        plain VGG16 does not learn from random weights in a few CPU epochs.
    dropout : float
        Dropout of the two hidden dense layers (0.5 in torchvision and the paper; with random
        weights and narrow dense layers it stalls training for many epochs).
    image_size : int
        Must equal the data's image size (the paper: 224).
    epochs, patience : int
        Maximum epochs; stop after ``patience`` epochs without a better validation r.
    batch_size : int
        The paper: 40.
    lr, weight_decay : float
        Adam's settings (the paper: 5e-4 and 5e-4).
    augment : bool
        Random horizontal flips and rotations up to 10 degrees during training.
    scheduler : {"none", "cosine"}
        ``"cosine"``: the code's ``CosineAnnealingLR(T_max=200)``, stepped per epoch.
    seed : int
        Seeds initialisation, batch order, dropout and augmentation.
    device : str
        ``"auto"`` (cuda if available), ``"cpu"``, ``"cuda"``...
    progress : bool
        Show tqdm progress bars.
    cache : bool or path
        True: ``<cache>/paper3``; a folder; False: always train, save nothing.
    threads : int or None
        ``torch.set_num_threads`` while training on CPU (None: leave it).

    Returns
    -------
    Fitted
    """
    attributes = list(ATTRIBUTES if attributes is None else attributes)
    config = dict(protocol=protocol, attributes=attributes, weights=str(weights), width=width,
                  batch_norm=bool(batch_norm), dropout=dropout, image_size=image_size, epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, patience=patience, augment=bool(augment),
                  scheduler=scheduler, seed=seed)
    _check(config, data)
    dev = resolve_device(device)
    target = None
    if cache is not False:
        folder = paths.cache_dir() / "paper3" if cache is True else Path(cache)
        target = folder / f"vgg16-{protocol}-{cache_key(config, data)}.pt"
        if target.is_file():
            t0 = time.time()
            fitted = load_checkpoint(target, device=dev)
            fitted.seconds = time.time() - t0
            return fitted
    old_threads = torch.get_num_threads()
    if threads and dev.type == "cpu":
        torch.set_num_threads(min(threads, old_threads))
    try:
        t0 = time.time()
        nets, histories = [], []
        groups = [attributes] if protocol == "multi" else [[a] for a in attributes]
        for g, group in enumerate(groups):
            net, hist = _train_one(data, group, config, dev, progress,
                                   seed=seed if protocol == "multi" else seed * 1000 + g)
            nets.append(net)
            if protocol == "per_attribute":
                hist.insert(0, "attribute", group[0])
            histories.append(hist)
        model = nets[0] if protocol == "multi" else StackedNets(nets)
        model.eval()
        fitted = Fitted(model=model, attributes=attributes, history=pd.concat(histories, ignore_index=True),
                        config=config, cache_file=target, from_cache=False, seconds=time.time() - t0,
                        train_seconds=time.time() - t0)
    finally:
        torch.set_num_threads(old_threads)
    if target is not None:
        save_checkpoint(fitted, target)
    return fitted


def _train_one(data: Paper3Data, attributes: list[str], config: dict, device: torch.device,
               progress: bool, seed: int) -> tuple[RatingNet, pd.DataFrame]:
    if progress:  # tqdm.auto warns on import where ipywidgets is missing: only when asked for
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train, val = data.indices("train"), data.indices("val")
    y_all = data.ratings[attributes].to_numpy(np.float32)
    if config["protocol"] == "multi":
        shift = y_all[train].mean(0)
        scale = y_all[train].std(0)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    else:  # the paper's: MSE on raw ratings
        shift, scale = np.zeros(len(attributes), np.float32), np.ones(len(attributes), np.float32)
    net = vgg16(len(attributes), weights=config["weights"], width=config["width"],
                batch_norm=config["batch_norm"], dropout=config["dropout"])
    model = RatingNet(net, torch.from_numpy(shift), torch.from_numpy(scale)).to(device)
    x_train, x_val = to_tensor(data.images[train]), to_tensor(data.images[val])
    z_train = torch.from_numpy((y_all[train] - shift) / scale)
    y_val = y_all[val]
    opt = torch.optim.Adam(model.net.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200)
             if config["scheduler"] == "cosine" else None)
    loss_fn = nn.MSELoss()
    bs = config["batch_size"]
    best_r, best_state, best_epoch, rows = -np.inf, None, 0, []
    label = attributes[0] if len(attributes) == 1 else f"{len(attributes)} attributes"
    bar = tqdm(range(1, config["epochs"] + 1), desc=f"VGG16 {label}", disable=not progress,
               leave=False)
    for epoch in bar:
        t0 = time.time()
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total, count = 0.0, 0
        for a in range(0, len(order), bs):
            idx = order[a:a + bs]
            if len(idx) < 2 and len(order) > 1:  # a batch of one: skip (as drop_last would)
                continue
            xb = x_train[idx]
            if config["augment"]:
                xb = augment_batch(xb, gen)
            xb, zb = xb.to(device), z_train[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model.net(xb), zb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if sched is not None:
            sched.step()
        pred = _predict(model, x_val, 256, device)
        r = pearson_columns(pred, y_val)
        val_r = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
        improved = np.isfinite(val_r) and val_r > best_r
        if improved or best_state is None:
            best_r, best_epoch = (val_r if np.isfinite(val_r) else best_r), epoch
            best_state = copy.deepcopy(model.state_dict())
        rows.append(dict(epoch=epoch, train_loss=total / max(count, 1), val_r=val_r,
                         val_loss=float(np.mean(((pred - y_val) / scale) ** 2)),
                         lr=opt.param_groups[0]["lr"], seconds=time.time() - t0))
        bar.set_postfix(loss=f"{rows[-1]['train_loss']:.3f}", val_r=f"{val_r:.3f}")
        if epoch - best_epoch >= config["patience"]:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    hist = pd.DataFrame(rows)
    hist["best"] = hist["epoch"] == best_epoch
    return model, hist


def _build(config: Mapping[str, Any], attributes: list[str]) -> nn.Module:
    """The untrained module of ``config`` (for loading a checkpoint into)."""
    def one(n):
        return RatingNet(vgg16(n, weights="none", width=config["width"],
                               batch_norm=config.get("batch_norm", False),
                               dropout=config.get("dropout", 0.5)),
                         torch.zeros(n), torch.ones(n))

    if config["protocol"] == "multi":
        return one(len(attributes))
    return StackedNets([one(1) for _ in attributes])


def save_checkpoint(fitted: Fitted, target: Path) -> Path:
    """``torch.save`` the weights, history and settings (plain types only) atomically."""
    state = {k: v.detach().cpu() for k, v in fitted.model.state_dict().items()}
    blob = {"format": "facexai.paper3/1", "state_dict": state, "attributes": list(fitted.attributes),
            "config_json": json.dumps(fitted.config, sort_keys=True),
            "history_json": fitted.history.to_json(orient="split"),
            "train_seconds": float(fitted.train_seconds)}
    with paths.atomic_path(target) as tmp:
        torch.save(blob, tmp)
    return Path(target)


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> Fitted:
    """A :class:`Fitted` from a checkpoint of :func:`save_checkpoint` (``weights_only=True``)."""
    from io import StringIO

    blob = torch.load(path, map_location="cpu", weights_only=True)
    config = json.loads(blob["config_json"])
    attributes = list(blob["attributes"])
    model = _build(config, attributes)
    model.load_state_dict(blob["state_dict"])
    model.to(resolve_device(device) if isinstance(device, str) else device).eval()
    history = pd.read_json(StringIO(blob["history_json"]), orient="split")
    fitted = Fitted(model=model, attributes=attributes, history=history, config=config,
                    cache_file=Path(path), from_cache=True)
    fitted.train_seconds = float(blob.get("train_seconds", 0.0))
    return fitted


def data_settings(params: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The :func:`load_data` keyword arguments among a notebook's parameters (a run or a dict)."""
    p = getattr(params, "params", params)
    return {k: p[k] for k in DATA_SETTINGS if k in p}


def model_settings(params: Mapping[str, Any] | Any, **overrides: Any) -> dict[str, Any]:
    """The :func:`fit_or_load` keyword arguments among a notebook's parameters (a run or a dict)."""
    p = getattr(params, "params", params)
    out = {k: p[k] for k in MODEL_SETTINGS if k in p}
    out.update(overrides)
    return out
