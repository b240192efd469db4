"""Paper 3, section "Post-hoc explanation": the paper's Grad-CAM protocol.

The paper's code explains one VGG16 per attribute with captum's ``GuidedGradCam`` at
``features[30]`` (:data:`facexai.paper3.CAM_LAYER`); the section explains every attribute in both
directions with :mod:`facexai.heatmaps`. The paper's own parts: :data:`METHODS`,
:func:`normalisation_check` (its explanation notebook fed the network no ImageNet normalisation)
and :func:`key_numbers` (the recorded numbers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..heatmaps import input_check
from ..scoring import GROUND_TRUTHS
from . import results as R

__all__ = ["METHODS", "key_numbers", "normalisation_check", "unnormalised_tensor"]

#: The explainers of this section (what the paper's code used, and plain Grad-CAM).
METHODS: tuple[str, ...] = ("gradcam", "guided_gradcam")


def unnormalised_tensor(images: np.ndarray) -> torch.Tensor:
    """What the paper's explanation notebook fed the network: ``ToTensor`` only, values in [0, 1]
    without the ImageNet normalisation the model was trained with, ``(N, 3, H, W)`` float32."""
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got {a.shape}")
    return torch.as_tensor(a, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0


def normalisation_check(fitted, x: torch.Tensor, images: np.ndarray, ratings, attribute: str,
                        labels, methods=METHODS, ground_truth: str = "primary") -> dict:
    """The effect of the paper's missing input normalisation on one attribute:
    :func:`facexai.heatmaps.input_check` of ``x`` (``paper3.to_tensor(images)``, as in training)
    against :func:`unnormalised_tensor` of the same uint8 ``images``; its ``r_other`` is called
    ``r_raw``, its columns ``"... raw"`` and ``"... normalised"``."""
    out = input_check(fitted, x, unnormalised_tensor(images), ratings, attribute, labels, methods,
                      names=("normalised", "raw"), ground_truth=ground_truth)
    out["r_raw"] = out.pop("r_other")
    return out


def key_numbers(summary: pd.DataFrame, method: str, sign: int,
                fine: pd.DataFrame | None = None) -> dict:
    """The section's numbers that claims read, by :mod:`facexai.paper3.results` name.

    From ``summary`` (:meth:`facexai.scoring.RegionScores.summary`): for the maps of ``method`` and
    ``sign``, the mean mass accuracy, chance and the number of attributes above chance per ground
    truth, and the mean profile r; over every method and sign, the attribute heatmaps above chance
    on the primary regions and how many were scored; with ``fine``
    (:func:`facexai.heatmaps.finer_summary`), its attributes above chance and mean lift on the
    primary regions.
    """
    main = summary[(summary["method"] == method) & (summary["sign"] == sign)]
    primary = summary[summary["ground_truth"] == "primary"]
    out = {}
    for truth in GROUND_TRUTHS:
        part = main[main["ground_truth"] == truth]
        out[R.GRADCAM_MASS.part(truth)] = float(part["mass_accuracy"].mean())
        out[R.GRADCAM_CHANCE.part(truth)] = float(part["chance"].mean())
        out[R.GRADCAM_ABOVE_CHANCE.part(truth)] = int((part["verdict"] == "above chance").sum())
    out[R.GRADCAM_PROFILE_R] = float(main[main["ground_truth"] == "primary"]["profile_r"].mean())
    out[R.MAPS_ABOVE_CHANCE_PRIMARY] = int((primary["verdict"] == "above chance").sum())
    out[R.MAPS_SCORED_PRIMARY] = int(len(primary))
    if fine is not None:
        fp = fine[fine["ground_truth"] == "primary"]
        out[R.FINER_ABOVE_CHANCE_PRIMARY] = int((fp["verdict"] == "above chance").sum())
        out[R.FINER_LIFT_PRIMARY] = float(fp["lift"].mean())
    return out
