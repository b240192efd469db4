"""Rating regressors: networks that predict rated attributes from faces, trained by one of two
protocols and cached.

A regressor maps preprocessed images (:func:`facexai.ratings.to_tensor`) to the ratings of some
attributes (columns of :attr:`facexai.ratings.AttributeData.ratings`). The protocols
(:data:`PROTOCOLS`):

``"multi"``
    One network with an output per attribute, trained on ratings standardised per attribute
    (train-split mean and SD) so that every attribute weighs the same in the loss; the outputs are
    mapped back to rating units inside the model (:class:`facexai.training.Rescaled`). Early
    stopping on the mean validation r over attributes.
``"per_attribute"``
    One single-output network per attribute, trained on the raw ratings and selected on its own
    validation r; the networks side by side in one :class:`StackedNets` (output k = network k).

:func:`fit_or_load` trains with :func:`facexai.training.fit` (MSE; the caller's network and
optimiser ``options``) on ``"train"``, selects on ``"val"``, and keeps a checkpoint keyed by every
setting, the data fingerprint and the code (:func:`facexai.training.load_or_fit`). It returns a
:class:`Fitted`: :meth:`Fitted.predict` gives ratings, :meth:`Fitted.explainable` the network,
output and Grad-CAM layer of one attribute, :func:`networks` each network once.
:func:`fit_seeds` trains the same regressor from several seeds (:class:`SeedFits`), so that every
number has an interval over training seeds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import paths, training
from .compute import count, spawned_map
from .ratings import ATTRIBUTES, AttributeData, to_tensor
from .settings import PROTOCOLS

__all__ = ["CODE", "PROTOCOLS", "Fitted", "SeedFits", "StackedNets", "build", "check_attributes",
           "check_data", "fit_options", "fit_or_load", "fit_seeds", "networks", "train",
           "vgg16_net"]

#: Library sources every regressor depends on besides :data:`facexai.training.TRAINING_CODE`.
CODE = ("ratings.py", "regressors.py")
#: ``net(n_outputs, initialised)``: a fresh network; ``initialised=False`` when its weights are
#: about to be loaded from a checkpoint (no pretrained weights need reading then).
NetFactory = Callable[[int, bool], nn.Module]


class StackedNets(nn.Module):
    """The per-attribute protocol's single-output models side by side: output k = model k."""

    def __init__(self, nets: Sequence[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self.nets], dim=1)


def _no_layer(module: nn.Module) -> None:
    return None


@dataclass
class Fitted:
    """A trained regressor (see :func:`fit_or_load`).

    Attributes
    ----------
    model : nn.Module
        Eval mode; input :func:`facexai.ratings.to_tensor` images, output (N, len(attributes))
        in rating units.
    attributes : list of str
        Output order.
    history : DataFrame
        One row per epoch (and attribute, for the per-attribute protocol): ``epoch``,
        ``train_loss``, ``val_r`` (mean over the attributes trained), ``val_loss``, ``lr``,
        ``seconds``, ``best``.
    config : dict
        The settings that key the cache (with ``attributes``, ``protocol``, ``seed`` and
        ``image_size``).
    cache_file : Path or None
        The checkpoint.
    from_cache : bool
        Whether the model was loaded rather than trained.
    seconds, train_seconds : float
        Time this call took (training or loading), and the time the training took.
    cam_layer : callable
        ``cam_layer(network) -> layer name`` (or None: the explainers' default), the layer
        :meth:`explainable` names for Grad-CAM.
    """

    model: nn.Module
    attributes: list[str]
    history: pd.DataFrame
    config: dict[str, Any]
    cache_file: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0
    cam_layer: Callable[[nn.Module], str | None] = field(default=_no_layer, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, images: np.ndarray, batch_size: int = 128) -> pd.DataFrame:
        """Predicted ratings of uint8 images (N, H, W, 3): DataFrame (N, attributes)."""
        x = to_tensor(images)
        size = self.config.get("image_size")
        if size is not None and (x.shape[-1] != size or x.shape[-2] != size):
            raise ValueError(f"images are {tuple(x.shape[-2:])} pixels; this model was trained on "
                             f"image_size={size}")
        out = training.predict(self.model, x, batch_size, self.device)
        return pd.DataFrame(out.numpy(), columns=self.attributes)

    def explainable(self, attribute: str) -> tuple[nn.Module, int, str | None]:
        """``(module, output_index, cam_layer)`` to explain ``attribute``: the network that
        predicts it (maps :func:`to_tensor` input to ratings), its output, and the dotted name of
        the Grad-CAM layer inside it (:attr:`cam_layer`)."""
        if attribute not in self.attributes:
            raise ValueError(f"attribute {attribute!r} is not an output of this model; "
                             f"choose from {self.attributes}")
        k = self.attributes.index(attribute)
        if isinstance(self.model, StackedNets):
            return self.model.nets[k], 0, self.cam_layer(self.model.nets[k])
        return self.model, k, self.cam_layer(self.model)


def networks(fitted, attributes) -> list[tuple[nn.Module, str | None, list[tuple[str, int]]]]:
    """The networks that predict ``attributes``, each once: ``(network, cam_layer, [(attribute,
    output_index), ...])`` in order of first appearance.

    ``fitted`` is a :class:`Fitted` (or anything with its :meth:`Fitted.explainable`); the
    multi-output protocol gives one network for every attribute, the per-attribute one a network
    per attribute.
    """
    groups: dict[int, tuple[nn.Module, str | None, list[tuple[str, int]]]] = {}
    for attribute in attributes:
        net, index, cam_layer = fitted.explainable(attribute)
        groups.setdefault(id(net), (net, cam_layer, []))[2].append((attribute, index))
    return list(groups.values())


def check_attributes(attributes: Sequence[str] | None) -> list[str]:
    """``attributes`` as a list (None: all of :data:`facexai.ratings.ATTRIBUTES`); unknown names
    or none at all are a ValueError."""
    attributes = list(ATTRIBUTES if attributes is None else attributes)
    bad = [a for a in attributes if a not in ATTRIBUTES]
    if bad or not attributes:
        raise ValueError(f"attributes: unknown {bad} (choose from {ATTRIBUTES})" if bad
                         else "attributes must not be empty")
    return attributes


def check_data(data: AttributeData, image_size: int) -> None:
    """The data's images must be ``image_size`` square, with at least 2 training and 2 validation
    images (a ValueError says what is wrong)."""
    size = data.images.shape[1:3]
    if tuple(size) != (image_size, image_size):
        raise ValueError(f"image_size={image_size} but the data's images are {size}: "
                         "load the data with the same image_size")
    counts = data.counts()
    if counts["train"] < 2 or counts["val"] < 2:
        raise ValueError(f"need at least 2 training and 2 validation images, got {counts}")


def vgg16_net(config: Mapping[str, Any]) -> NetFactory:
    """The :func:`facexai.models.vgg16` of ``config``'s model settings (those of
    :class:`facexai.settings.RegressorSettings`: ``weights``, ``width``, ``batch_norm``,
    ``dropout``), as a :data:`NetFactory`."""
    from .models import vgg16

    def net(n_outputs: int, initialised: bool) -> nn.Module:
        return vgg16(n_outputs, weights=config["weights"] if initialised else "none",
                     width=config["width"], batch_norm=config["batch_norm"],
                     dropout=config["dropout"])
    return net


def fit_options(config: Mapping[str, Any], **fixed: Any) -> dict[str, Any]:
    """:class:`facexai.training.Options` from ``config``'s model settings (``lr``,
    ``weight_decay``, ``scheduler``, ``epochs``, ``batch_size``, ``patience``) and ``fixed`` (a
    protocol's own, e.g. ``optimizer``, ``t_max``)."""
    keys = ("lr", "weight_decay", "scheduler", "epochs", "batch_size", "patience")
    return {**{k: config[k] for k in keys}, **fixed}


def build(net: NetFactory, n_attributes: int, protocol: str) -> nn.Module:
    """The untrained regressor of ``protocol`` (the module a checkpoint loads into)."""
    def one(n: int) -> nn.Module:
        return training.Rescaled(net(n, False), torch.zeros(n), torch.ones(n))

    if protocol == "multi":
        return one(n_attributes)
    return StackedNets([one(1) for _ in range(n_attributes)])


def _train_group(data: AttributeData, attributes: list[str], net: NetFactory, seed: int, *,
                 standardize: bool, name: str, **run: Any) -> tuple[nn.Module, pd.DataFrame]:
    """One network with an output per attribute of ``attributes``, trained on ``"train"`` and
    selected on ``"val"``."""
    torch.manual_seed(seed)  # initialisation and dropout
    train, val = data.indices("train"), data.indices("val")
    y = data.ratings[attributes].to_numpy(np.float32)
    model = net(len(attributes), True)
    label = attributes[0] if len(attributes) == 1 else f"{len(attributes)} attributes"
    fit = training.fit(model, to_tensor(data.images[train]), y[train],
                       val=(to_tensor(data.images[val]), y[val]), desc=f"{name} {label}",
                       loss="mse", standardize=standardize, seed=seed, **run)
    return fit.model, fit.history


def train(data: AttributeData, attributes: Sequence[str], net: NetFactory, *, protocol: str,
          seed: int, name: str = "regressor", **run: Any) -> tuple[nn.Module, pd.DataFrame]:
    """Train the regressor of ``protocol`` on ``data``: the model and its history.

    ``run``: :func:`facexai.training.fit`'s keyword arguments (``augment``, ``device``,
    ``threads``, ``progress`` and the :class:`facexai.training.Options` but ``loss``,
    ``standardize`` and ``seed``). Network g of the per-attribute protocol is seeded with
    ``seed * 1000 + g``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    attributes = list(attributes)
    if protocol == "multi":
        return _train_group(data, attributes, net, seed, standardize=True, name=name, **run)
    nets, histories = [], []
    for g, attribute in enumerate(attributes):
        model, hist = _train_group(data, [attribute], net, seed * 1000 + g, standardize=False,
                                   name=name, **run)
        hist.insert(0, "attribute", attribute)
        nets.append(model)
        histories.append(hist)
    return StackedNets(nets), pd.concat(histories, ignore_index=True)


def fit_or_load(data: AttributeData, config: Mapping[str, Any], net: NetFactory, *, name: str,
                options: Mapping[str, Any], code: Sequence[str] = (),
                augment: Callable | None = None, cache: bool | str | Path = True,
                device: str = "auto", threads: int | None = 2, progress: bool = True,
                cam_layer: Callable[[nn.Module], str | None] = _no_layer,
                train_missing: bool = True) -> Fitted | None:
    """Train a regressor on ``data`` (:func:`train`), or load it from the cache.

    Parameters
    ----------
    data : AttributeData
        Trained on ``"train"``, selected on ``"val"``.
    config : dict
        Every setting that changes the model (it keys the checkpoint), with ``attributes``,
        ``protocol``, ``seed`` and ``image_size`` (checked against the data).
    net : callable
        ``net(n_outputs, initialised) -> nn.Module`` (see :data:`NetFactory`).
    name : str
        Name of the checkpoint file (before its key) and of the progress bars.
    options : dict
        :class:`facexai.training.Options` of the training (optimiser, learning rate, epochs...).
    code : sequence of str
        The caller's sources (globs under ``lib/facexai``) that key the checkpoint too.
    augment : callable, optional
        Augmentation of the training batches (e.g. :func:`facexai.ratings.augment`).
    cache : bool or path
        True: ``<cache>/models``; a folder; False: always train, save nothing.
    device, threads, progress
        As :func:`facexai.training.fit`.
    cam_layer : callable
        :attr:`Fitted.cam_layer`.
    train_missing : bool
        False: return None instead of training when the model is not in the cache.

    Returns
    -------
    Fitted, or None (``train_missing=False`` and not cached)
    """
    config = dict(config)
    check_data(data, config["image_size"])
    target = None
    if cache is not False:
        folder = paths.models_cache() if cache is True else Path(cache)
        target = training.checkpoint_path(folder, name, config, data=data.fingerprint(),
                                          code=(*CODE, *code))
    if not train_missing and (target is None or not target.is_file()):
        return None
    attributes, protocol = list(config["attributes"]), config["protocol"]
    t0 = time.time()
    ckpt = training.load_or_fit(
        target, config, build=lambda: build(net, len(attributes), protocol), device=device,
        train=lambda: train(data, attributes, net, protocol=protocol, seed=config["seed"],
                            name=name, augment=augment, device=device, threads=threads,
                            progress=progress, **options))
    return Fitted(model=ckpt.model, attributes=attributes, history=ckpt.history, config=config,
                  cache_file=ckpt.path, from_cache=ckpt.from_cache, seconds=time.time() - t0,
                  train_seconds=ckpt.train_seconds, cam_layer=cam_layer)


@dataclass
class SeedFits:
    """The same regressor trained from several seeds (:func:`fit_seeds`): every number a notebook
    reports is computed per seed and shown with its interval over them
    (:func:`facexai.stats.seed_interval`).

    Iterating gives the :class:`Fitted` models; :attr:`seeds` their seeds.
    """

    fits: list[Fitted]

    def __post_init__(self):
        if not self.fits:
            raise ValueError("SeedFits needs at least one fitted model")

    def __iter__(self):
        return iter(self.fits)

    def __len__(self) -> int:
        return len(self.fits)

    def __getitem__(self, k: int) -> Fitted:
        return self.fits[k]

    @property
    def seeds(self) -> list[int]:
        return [int(f.config["seed"]) for f in self.fits]

    @property
    def first(self) -> Fitted:
        """The model of the first seed (for figures that show one model)."""
        return self.fits[0]

    @property
    def from_cache(self) -> bool:
        return all(f.from_cache for f in self.fits)

    @property
    def train_seconds(self) -> float:
        return float(sum(f.train_seconds for f in self.fits))

    @property
    def history(self) -> pd.DataFrame:
        """Every seed's training history, with a ``seed`` column first."""
        return pd.concat([f.history.assign(seed=s) for s, f in zip(self.seeds, self.fits)],
                         ignore_index=True)[["seed", *self.fits[0].history.columns]]

    def predict(self, images: np.ndarray) -> list[pd.DataFrame]:
        """Each seed's predictions (:meth:`Fitted.predict`)."""
        return [f.predict(images) for f in self.fits]

    def describe(self) -> str:
        """How the models were obtained, in words: seeds, loaded or trained, best epochs."""
        best = [int(f.history.loc[f.history["best"], "epoch"].max()) for f in self.fits
                if "best" in f.history]
        last = [int(f.history["epoch"].max()) for f in self.fits]
        return (f"{len(self)} training seeds ({', '.join(map(str, self.seeds))}), "
                f"{'loaded from the cache' if self.from_cache else 'trained'}"
                f" (training {self.train_seconds:.0f} s in all); best epochs "
                f"{', '.join(map(str, best))} of {', '.join(map(str, last))} run")


def _fit_in_process(job: tuple) -> float:
    """Train (and cache) one seed's model in a worker process on one CPU thread; its seconds."""
    fit, seed = job
    torch.set_num_threads(1)
    return fit(seed=seed, threads=1, progress=False).train_seconds


def fit_seeds(fit: Callable[..., Fitted], n_seeds: int, seed: int = 0, *,
              processes: int = 1) -> SeedFits:
    """``fit(seed=seed + k)`` for k < ``n_seeds``: one model per training seed (each cached on
    its own by the caller's ``fit``, e.g. a paper's ``fit_or_load`` with its data bound).

    ``processes > 1``: the seeds missing from the cache are first trained side by side in that
    many fresh processes of one CPU thread each (even a single missing seed, so that a model
    never depends on which others were cached), then every model is read back. ``fit`` must then
    be picklable (e.g. a :func:`functools.partial` of a module-level function) and take
    ``threads``, ``progress`` and ``train_missing`` (see :func:`fit_or_load`). On two cores,
    one-thread processes train paper 3's VGG16 about 1.6x faster than one process of two threads
    (the channels-last batch norm of a narrow network barely uses a second thread, see
    :func:`facexai.compute.channels_last`), and three processes on two cores as fast as two.
    """
    n_seeds, processes = count("n_seeds", n_seeds), count("processes", processes)
    seeds = [int(seed) + k for k in range(n_seeds)]
    if processes == 1 or len(seeds) == 1:
        return SeedFits([fit(seed=s) for s in seeds])
    cached = {s: fit(seed=s, train_missing=False) for s in seeds}    # read once, kept
    missing = [s for s in seeds if cached[s] is None]
    trained = dict(zip(missing, spawned_map(_fit_in_process, [(fit, s) for s in missing], processes)))
    fits = []
    for s in seeds:
        f = cached[s] or fit(seed=s)
        if s in trained:            # trained just now, in a worker: say so
            f.from_cache, f.train_seconds = False, trained[s]
        fits.append(f)
    return SeedFits(fits)
