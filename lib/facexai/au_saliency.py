"""Saliency maps against Action-Unit masks: the score of Gaya-Morey et al. (2024) with its baselines.

* :func:`saliency_maps` - each explainer's map of a class score (:mod:`facexai.explain`);
* :func:`topk_iou` - IoU of a map's top-k pixels (k = the mask's size) with the mask;
* :func:`uniform_topk_iou` - its chance level for a map that knows only where the face is;
* :func:`iou_table` - every map of a dict (explainers, baselines, control maps) scored on the same
  faces, mean with a bootstrap interval over faces (and over training seeds, for maps of several).

The masks come from counterfactual rendering (:func:`facexai.au_response.expression_pairs`: the
pixels the face's expression changes), so they are the AUs' own pixels, not regions drawn by hand.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .stats import bootstrap_mean_ci, hierarchical_interval

__all__ = ["iou_table", "saliency_maps", "topk_iou", "uniform_topk_iou"]


def saliency_maps(model: nn.Module, x: torch.Tensor, targets, methods: Sequence[str],
                  absolute: Sequence[str] = ("gradient",)) -> dict[str, np.ndarray]:
    """Each method's ``(N, H, W)`` relevance map (channels summed, :func:`facexai.explain.relevance_map`)
    of ``targets``' scores; the methods in ``absolute`` (plain gradients, whose sign says which
    way a pixel moves the score, not whether it matters) as absolute values."""
    from .explain import explain, relevance_map

    if not methods:
        raise ValueError("methods must name at least one explainer")
    return {m: relevance_map(explain(model, x, targets, m),
                             reduce="abs" if m in absolute else "sum") for m in methods}


def topk_iou(maps, masks, k=None) -> np.ndarray:
    """IoU of each map's top-``k`` pixels with its mask (Gaya-Morey et al. 2024's score):
    ``k`` defaults to the mask's own size, so a perfect map scores 1. ``(N,)``; NaN for an empty
    mask. Ties are broken by pixel order (a constant map picks the first pixels)."""
    maps, masks = np.asarray(maps, float), np.asarray(masks, bool)
    if maps.shape != masks.shape or maps.ndim != 3:
        raise ValueError(f"maps and masks must both be (N, H, W), got {maps.shape} and "
                         f"{masks.shape}")
    flat, truth = maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)
    sizes = truth.sum(1) if k is None else np.full(len(maps), int(k))
    out = np.full(len(maps), np.nan)
    for i, (m, t, s) in enumerate(zip(flat, truth, sizes)):
        if t.any() and s > 0:
            top = np.zeros_like(t)
            top[np.argsort(-np.nan_to_num(m, nan=-np.inf), kind="stable")[:s]] = True
            out[i] = (top & t).sum() / (top | t).sum()
    return out


def uniform_topk_iou(masks, face) -> np.ndarray:
    """Expected :func:`topk_iou` (k = mask size) of a map uniform over the face with ties broken at
    random: of k face pixels drawn at random, ``k |M & F| / |F|`` are expected in the mask."""
    masks, face = np.asarray(masks, bool), np.asarray(face, bool)
    if masks.shape != face.shape or masks.ndim != 3:
        raise ValueError(f"masks and face must both be (N, H, W), got {masks.shape} and "
                         f"{face.shape}")
    k = masks.sum((1, 2)).astype(float)
    inter = k * (masks & face).sum((1, 2)) / np.maximum(face.sum((1, 2)), 1)
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, inter / (2 * k - inter), np.nan)


def iou_table(maps: Mapping[str, np.ndarray], masks, face, *, n_boot: int = 1000,
              level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Each map's :func:`topk_iou` with ``masks`` (mean over faces, bootstrap interval), with a
    row ``"face-uniform (chance)"`` from :func:`uniform_topk_iou`; ``lift`` = IoU / chance.

    A map ``(S, N, H, W)`` holds the maps of S models (training seeds) of the same faces: its IoU
    is the mean over seeds and faces, its interval resamples both
    (:func:`facexai.stats.hierarchical_interval`)."""
    rows = {}
    chance = uniform_topk_iou(masks, face)
    for name, m in {**maps, "face-uniform (chance)": None}.items():
        if m is not None and np.ndim(m) == 4:
            iou = np.stack([topk_iou(s, masks) for s in m])
            mean, lo, hi = hierarchical_interval(iou, n_boot=n_boot, level=level, rng=seed)
            rows[name] = {"iou": mean, "lo": lo, "hi": hi, "faces": int(np.isfinite(iou[0]).sum())}
            continue
        iou = chance if m is None else topk_iou(m, masks)
        ok = iou[np.isfinite(iou)]
        lo, hi = bootstrap_mean_ci(ok, n_boot=n_boot, level=level, rng=seed)
        rows[name] = {"iou": ok.mean() if len(ok) else np.nan, "lo": lo, "hi": hi,
                      "faces": len(ok)}
    table = pd.DataFrame(rows).T
    table["lift"] = table["iou"] / table.loc["face-uniform (chance)", "iou"]
    return table
