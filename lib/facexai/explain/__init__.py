"""Explanations of a model's score as relevance maps over the input: one contract, string keys.

::

    from facexai.explain import explain, Target
    R = explain(model, x, target=5, method="lrp_epsilon_plus_flat")          # class 5
    R = explain(model, x, Target.regression(sign=-1), "gradcam", layer="features.29")
    R = explain(model, x, Target.channel("conv3", 17, unit=(6, 9)), "guided_backprop")

``explain(model, x, target, method, **options)`` returns a tensor of relevance with the input's
device and dtype: ``(N, C, H, W)`` for the gradient, LRP and Guided Grad-CAM families and
``(N, 1, H, W)`` for occlusion and Grad-CAM. The model is explained in eval mode with frozen
parameters; both are restored afterwards, and every hook is removed, also when the call raises.

==========================  ============  =======================================================
key                         module        what
==========================  ============  =======================================================
``gradient``                gradient      input gradient (sensitivity)
``gradient_x_input``        gradient      gradient times input
``smoothgrad``              gradient      mean gradient of noisy copies
``integrated_gradients``    gradient      path integral of gradients from a baseline
``occlusion``               occlusion     score drop when a sliding window is hidden
``lrp_*``                   lrp           six zennit composites (see :mod:`.lrp`)
``guided_backprop``         lrp           gradient through guided-backprop ReLUs
``deconvnet``               lrp           gradient through deconvnet ReLUs
``gradcam``                 cam           Grad-CAM of any convolutional layer
``guided_gradcam``          cam           guided backprop times Grad-CAM
==========================  ============  =======================================================
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

# Each module registers its explainers on import; this order is the order of EXPLAINERS.
from . import gradient, occlusion, lrp, cam  # noqa: F401,I001
from .hooks import hook_count, prepared
from .registry import EXPLAINERS, Explainer, describe, get, options_for, register
from .targets import Target, TargetLike, as_target, resolve, scores

#: The methods a chapter shows by default: every registered key except the two helpers that
#: Guided Grad-CAM and the filter projections are built from.
METHODS: tuple[str, ...] = tuple(k for k in EXPLAINERS if k not in ("guided_backprop", "deconvnet"))


def explain(model: nn.Module, x: torch.Tensor, target: TargetLike, method: str, *,
            batch_size: int | None = None, **options) -> torch.Tensor:
    """Relevance of every input value for ``target``'s score, by ``method``.

    Parameters
    ----------
    model : torch.nn.Module
        Any model made of module layers; it stays on its device (the input must be there too).
    x : torch.Tensor
        Inputs ``(N, C, H, W)``.
    target : Target, int, sequence of int, "predicted" or None
        What to explain (see :class:`Target`): a class index, one index per sample, the predicted
        class (fixed on the clean input), a signed regression output or a unit of any layer.
    method : str
        A key of :data:`EXPLAINERS`.
    batch_size : int, optional
        Explain ``x`` in chunks of this many samples. The result is the same (a test checks every
        registered method in float64): methods that draw random numbers seed each image by its
        index in ``x``, and no method looks at the other images of a chunk.
    **options
        The method's options (see ``EXPLAINERS[method].defaults``); an unknown one is an error that
        names it.

    Returns
    -------
    torch.Tensor
        Detached relevance, ``(N, C, H, W)`` or ``(N, 1, H, W)``.
    """
    explainer = get(method)
    opts = options_for(method, options)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a tensor (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    with prepared(model):
        tgt = resolve(model, x, target)
        step = int(batch_size or len(x))
        parts = []
        for i in range(0, len(x), step):
            extra = {"start": i} if explainer.indexed else {}
            parts.append(explainer.fn(model, x[i:i + step], tgt.slice(i, i + step), **opts,
                                      **extra).detach())
    return torch.cat(parts)


def relevance_map(relevance, reduce: str = "sum") -> np.ndarray:
    """One map per sample, ``(N, H, W)`` float64, from ``(N, C, H, W)`` relevance.

    ``reduce``: ``"sum"`` over channels (keeps the sign; the convention of Arras et al. 2022),
    ``"abs"`` (sum of absolute values) or ``"max_abs"`` (largest absolute value).
    """
    r = relevance.detach().cpu().double().numpy() if isinstance(relevance, torch.Tensor) \
        else np.asarray(relevance, float)
    if r.ndim == 3:
        return r
    if reduce == "sum":
        return r.sum(1)
    if reduce == "abs":
        return np.abs(r).sum(1)
    if reduce == "max_abs":
        return np.abs(r).max(1)
    raise ValueError(f"unknown reduce {reduce!r}; choose 'sum', 'abs' or 'max_abs'")


def explain_many(model: nn.Module, x: torch.Tensor, target: TargetLike, methods: Sequence[str],
                 options: Mapping[str, Mapping] | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every method's channel-summed maps of ``x`` (:func:`relevance_map`) and its seconds per
    sample; ``options[method]`` are that method's options (library defaults otherwise; options of a
    method not in ``methods`` are not used)."""
    options = options or {}
    maps, seconds = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        maps[method] = relevance_map(explain(model, x, target, method, **options.get(method, {})))
        seconds[method] = (time.perf_counter() - t0) / len(x)
    return maps, seconds


__all__ = ["describe", "explain", "explain_many", "relevance_map", "Target", "EXPLAINERS", "METHODS", "Explainer", "register",
           "options_for", "as_target", "resolve", "scores", "hook_count", "prepared"]
