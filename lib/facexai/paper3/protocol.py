"""Paper 3's training protocol: VGG16 regressions of the 40 attributes (:mod:`facexai.regressors`).

[P3] ``Psychology/main.py`` trains one VGG16 per attribute (``protocol="per_attribute"``): MSE on
the raw ratings, Adam (lr and weight decay 5e-4), batch 40, early stopping on the validation r
(best weights kept), optionally ``CosineAnnealingLR(T_max=200)``. The default build trains one
40-output VGG16 (``"multi"``), from several seeds (:func:`fit_seeds`). Settings:
:class:`facexai.paper3.schema.Paper3Settings`; data: :func:`load_data` with the code's split.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import datasets, ratings, regressors
from ..compute import resolve_device
from ..models import last_maxpool
from ..ratings import AttributeData
from .schema import Paper3Settings

__all__ = ["CAM_LAYER", "fit_or_load", "fit_seeds", "load_data", "split_labels"]

#: Grad-CAM layer of the paper (``model.vgg16.features[30]``: VGG16's last max-pool), as a dotted
#: name inside the modules ``Fitted.explainable`` returns (``net.features.43`` with batch norm).
CAM_LAYER = "net.features.30"


def fit_or_load(data: AttributeData, *, attributes: Sequence[str] | None = None,
                device: str = "auto", progress: bool = True, cache: bool | str | Path = True,
                threads: int | None = 2, train_missing: bool = True,
                **settings: Any) -> regressors.Fitted | None:
    """Train paper 3's VGG16 regression(s) on ``data``, or load them from the cache.

    Parameters
    ----------
    data : AttributeData
        From :func:`facexai.paper3.load_data` (trained on ``"train"``, selected on ``"val"``).
    attributes : list of str, optional
        Attributes to model (default all 40, in :data:`facexai.ratings.ATTRIBUTES` order).
    device, progress, cache, threads, train_missing
        As :func:`facexai.regressors.fit_or_load`.
    **settings
        The model settings of :class:`Paper3Settings` (those not given: its defaults).

    Returns
    -------
    facexai.regressors.Fitted
        Its ``explainable`` names VGG16's last max-pool (:data:`CAM_LAYER`).
    """
    if isinstance(settings.get("weights"), Path):
        settings = dict(settings, weights=str(settings["weights"]))
    c = dict(Paper3Settings.checked("model", settings),
             attributes=regressors.check_attributes(attributes))
    return regressors.fit_or_load(
        data, c, regressors.vgg16_net(c), name=f"paper3-vgg16-{c['protocol']}",
        options=regressors.fit_options(c, optimizer="adam", t_max=200),
        code=("paper3/protocol.py",), augment=ratings.augment if c["augment"] else None,
        cache=cache, device=device, threads=threads, progress=progress, cam_layer=last_maxpool,
        train_missing=train_missing)


def fit_seeds(data: AttributeData, n_seeds: int = 3, **settings: Any) -> regressors.SeedFits:
    """:func:`fit_or_load` once per training seed (``seed``, ``seed + 1``, ...; each model cached
    on its own): :class:`facexai.regressors.SeedFits`. ``settings``: as :func:`fit_or_load`.

    On the CPU the seeds missing from the cache train side by side, one process of one thread
    per seed (:func:`facexai.regressors.fit_seeds`); on a GPU one after another."""
    seed = settings.pop("seed", Paper3Settings.seed)
    cpu = resolve_device(settings.get("device", "auto")).type == "cpu"
    parallel = cpu and settings.get("cache", True) is not False and \
        isinstance(n_seeds, (int, np.integer)) and not isinstance(n_seeds, bool) and n_seeds > 1
    return regressors.fit_seeds(partial(fit_or_load, data, **settings), n_seeds, seed,
                                processes=int(n_seeds) if parallel else 1)


def split_labels(n: int, seed: int = 42) -> np.ndarray:
    """The paper-3 split of ``n`` rows as :data:`facexai.ratings.ROLES` labels
    (:func:`facexai.datasets.splits.paper3_split`; 2,222 rows give 1,421/356/445)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    return ratings.split_labels(datasets.splits.paper3_split(int(n), seed), int(n))


def load_data(data_dir: str | Path | None = None, *, strict: bool = False, cache: bool = True,
              **settings: Any) -> AttributeData:
    """The 10k targets (or their twin) with the paper-3 split.

    Parameters
    ----------
    data_dir : path or None
        None: the synthetic twin; a folder: the real database (see :func:`facexai.ratings.load`).
    strict, cache
        As :func:`facexai.ratings.load`.
    **settings
        The data settings of :class:`Paper3Settings` (``image_size``, ``n_targets``, ``seed``,
        ``workers``, ``render_size``); those not given take its defaults.

    Returns
    -------
    AttributeData
    """
    s = Paper3Settings.checked("data", dict(settings, data_dir=None if data_dir is None
                                            else str(data_dir)))
    return ratings.load(**s, strict=strict, scheme="paper3", cache=cache)
