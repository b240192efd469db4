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

from ..controlmaps import CONTROLS
from ..heatmaps import FINER, input_check
from ..truthscores import VERDICTS, headline
from . import results as R

__all__ = ["METHODS", "NEGATIVE", "POSITIVE", "key_numbers", "normalisation_check",
           "unnormalised_tensor"]

#: The explainers of this section (what the paper's code used, and plain Grad-CAM).
METHODS: tuple[str, ...] = ("gradcam", "guided_gradcam")
#: The claim's measured controls: the derived truth itself (blurred) and the random map.
POSITIVE, NEGATIVE = "derived truth (blurred)", CONTROLS[-1]


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


def key_numbers(summary: pd.DataFrame, agreement: pd.DataFrame, finer: bool = True) -> dict:
    """The section's numbers that claims read, by :mod:`facexai.paper3.results` name, from
    :meth:`facexai.seedscores.SeedScores.summary` and ``agreement_summary``: Grad-CAM explaining
    high ratings at the paper's layer (and with ``finer`` one stage finer) per ground truth
    (:func:`facexai.truthscores.headline`), the claim's measured controls (:data:`POSITIVE`,
    :data:`NEGATIVE`), empty maps and the model-truth Spearman."""
    out, main = {}, headline(summary, "gradcam", "high")
    for truth, r in main.iterrows():
        out.update({R.GRADCAM_MASS.part(truth): float(r["mass"]), R.GRADCAM_ABOVE_CHANCE.part(
            truth): int(r["above"]), R.GRADCAM_FACE_CHANCE.part(truth): float(r["face_chance"])})
    for truth, r in (headline(summary, FINER, "high").iterrows() if finer else ()):
        out.update({R.FINER_MASS.part(truth): float(r["mass"]),
                    R.FINER_ABOVE_CHANCE.part(truth): int(r["above"])})
    for variant, name in (("positive", POSITIVE), ("negative", NEGATIVE)):
        r = headline(summary, name, "-").loc["derived"]
        out.update({R.GRADCAM_ABOVE_CHANCE.part("derived").control(variant): int(r["above"]),
                    R.GRADCAM_MASS.part("derived").control(variant): float(r["mass"])})
    derived = summary[summary["ground_truth"] == "derived"]
    model = derived[derived["sign"] != "-"]
    out.update({R.MAPS_ABOVE_CHANCE: int((model["verdict"] == VERDICTS[0]).sum()),
                R.MAPS_SCORED: len(model), R.N_EMPTY_MAPS: int(main.loc["derived", "empty"]),
                R.N_EMPTY_MAPS.part("all"): int(model["empty"].sum()),
                R.N_MAPS: int(derived["maps"].sum())})
    a = agreement.set_index(["map", "sign"])
    for key, result in ((("gradcam", "high"), R.GRADCAM_MODEL_TRUTH),
                        ((FINER, "high"), R.GRADCAM_MODEL_TRUTH.part("finer"))):
        out.update({result: float(a.loc[key, "spearman"])} if key in a.index else {})
    if ("gradcam", "high") in a.index:
        out.update({R.GRADCAM_MODEL_TRUTH.part(k): float(a.loc[("gradcam", "high"), k])
                    for k in ("lo", "hi", "undefined")})
    return out
