"""Ground truth derived from counterfactual renders: where each generator factor shows, and where
each attribute's causes show on a given face.

For a factor of the rating model (:data:`facexai.synth.attributes.FACTORS`) the face is rendered at
a low and a high value of the factor, everything else (and every random draw) kept
(:mod:`facexai.synth.counterfactual`); the **factor mask** is every pixel that differs. The low and
high values are one rating-model unit either side of the factor's centre (``center -/+ scale``,
clipped to the factor's range), so the mask says where the factor *can* show on this face whatever
its current value; an Action Unit is rendered off and at full intensity, glasses off and on, the
expression (``expressiveness``) as neutral and as shown, distinctiveness as the average face shape
and as this face's shape.

The **attribute truth** of a face is the factor masks weighted by the factors' absolute weights in
the rating model (:func:`facexai.synth.attributes.drivers`): a map in [0, 1] whose value at a pixel
is the share of the attribute's driving weight whose factor changes that pixel. It replaces the
hand-written factor-to-region tables as ground truth; :func:`region_agreement` tests those tables
against it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..regions import REGIONS, region_label_maps
from .attributes import FACTOR_REGIONS, FACTORS, drivers
from .counterfactual import change_mask
from .factors import FaceParams
from .render import Draws, check_size, render_with_landmarks

__all__ = ["Agreement", "attribute_truth", "factor_masks", "factor_pair", "region_agreement"]

_FACTOR = {f.name: f for f in FACTORS}
#: Valid range of each identity field a factor sweeps (the sampler's range).
_RANGE = {"age": (18.0, 80.0), "asymmetry": (0.0, 1.0), "masculinity": (0.0, 1.0),
          "brow_thickness": (0.0, 1.0), "skin_tone": (0.0, 1.0), "hair_length": (0.0, 1.0),
          "hair_color": (0.0, 1.0), "stubble": (0.0, 1.0)}
_SHAPE = ("face_width", "face_length", "jaw_width", "eye_size", "eye_spacing", "nose_length",
          "nose_width", "lip_fullness")


def _identity(params: FaceParams, **fields) -> FaceParams:
    return replace(params, identity=replace(params.identity, **fields))


def factor_pair(params: FaceParams, factor: str) -> tuple[FaceParams, FaceParams]:
    """The face at a low and a high value of ``factor`` (see the module docstring)."""
    if factor not in _FACTOR:
        raise ValueError(f"unknown factor {factor!r}; the rating model's factors are "
                         f"{', '.join(_FACTOR)}")
    if factor.startswith("AU"):
        return params.with_aus(**{factor: 0.0}), params.with_aus(**{factor: 1.0})
    if factor == "expressiveness":
        return params.neutral(), params
    if factor == "glasses":
        return _identity(params, glasses=False), _identity(params, glasses=True)
    if factor == "distinctiveness":
        typical = 0.8 * (params.identity.masculinity - 0.5)   # the sex-typical jaw
        average = {n: (typical if n == "jaw_width" else 0.0) for n in _SHAPE}
        return _identity(params, **average), params
    f = _FACTOR[factor]
    lo, hi = _RANGE.get(factor, (-1.0, 1.0))
    return tuple(_identity(params, **{factor: float(np.clip(f.center + s * f.scale, lo, hi))})
                 for s in (-1, 1))


def factor_masks(params: FaceParams, size: int, factors: Iterable[str] | None = None, *,
                 spread: int = 0) -> dict[str, np.ndarray]:
    """``{factor: (H, W) bool}``: the pixels each factor changes on this face (all rating-model
    factors by default), rendered with the face's own draws; ``spread`` grows each mask by that
    many pixels (a model's preprocessing)."""
    size = check_size(size)
    draws = Draws.of(params)
    out = {}
    for factor in (list(factors) if factors is not None else list(_FACTOR)):
        low, high = factor_pair(params, factor)
        a = render_with_landmarks(low, size, draws=draws)[0]
        b = render_with_landmarks(high, size, draws=draws)[0]
        out[factor] = change_mask(a, b, spread=spread)
    return out


def attribute_truth(params: FaceParams, attribute: str, size: int, *, spread: int = 0,
                    masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``(H, W)`` map in [0, 1]: at each pixel, the share of ``attribute``'s absolute driving
    weight whose factor changes the pixel (pass ``masks`` from :func:`factor_masks` to reuse
    them across attributes)."""
    weights = {f: abs(w) for f, w in drivers(attribute)}
    masks = masks if masks is not None else factor_masks(params, size, weights, spread=spread)
    total = sum(weights.values())
    return sum(w * masks[f].astype(float) for f, w in weights.items()) / total


def _shares(mask: np.ndarray, labels: np.ndarray, regions: Sequence[str]) -> float:
    inside = np.isin(labels, [REGIONS.index(r) for r in regions])
    n = mask.sum()
    return float((mask & inside).sum() / n) if n else np.nan


@dataclass
class Agreement:
    """The hand-written region tables against the derived masks (:func:`region_agreement`).

    Attributes
    ----------
    factors : DataFrame
        Per factor: ``inside`` (mean share of its changed pixels in the regions
        :data:`FACTOR_REGIONS` names for it), ``changed_share`` (mean share of the image it
        changes), ``faces`` (faces on which it changes anything) and the hand-written ``regions``.
    regions : DataFrame
        Factor x region: mean share of the factor's changed pixels in each region of
        :data:`facexai.regions.REGIONS` (rows sum to 1): the derived table.
    attributes : DataFrame
        Per attribute: ``inside``, the share of the attribute truth's mass in its hand-written
        driving regions (the union over its drivers).
    """

    factors: pd.DataFrame
    regions: pd.DataFrame
    attributes: pd.DataFrame

    def derived_regions(self, min_share: float = 0.1) -> dict[str, tuple[str, ...]]:
        """Per factor, the regions holding at least ``min_share`` of its changed pixels."""
        return {f: tuple(r for r in REGIONS if row[r] >= min_share)
                for f, row in self.regions.iterrows()}


def region_agreement(params_list: Sequence[FaceParams], size: int,
                     attributes: Sequence[str] = ()) -> Agreement:
    """Test the hand-written region tables against the derived masks over ``params_list``."""
    rows, shares, attr_rows = [], [], []
    for p in params_list:
        masks = factor_masks(p, size)
        labels = region_label_maps(render_with_landmarks(p, size)[1][None], (size, size))[0]
        for f, m in masks.items():
            rows.append({"factor": f, "inside": _shares(m, labels, FACTOR_REGIONS[f]),
                         "changed_share": float(m.mean()), "changed": bool(m.any())})
            if m.any():
                counts = np.bincount(labels[m].astype(int) + 1, minlength=len(REGIONS) + 1)
                shares.append({"factor": f, **dict(zip(REGIONS, counts[1:] / m.sum()))})
        for a in attributes:
            truth = attribute_truth(p, a, size, masks=masks)
            regions = sorted({r for f, _ in drivers(a) for r in FACTOR_REGIONS[f]})
            inside = np.isin(labels, [REGIONS.index(r) for r in regions])
            attr_rows.append({"attribute": a, "inside": float((truth * inside).sum()
                                                               / max(truth.sum(), 1e-12))})
    factors = pd.DataFrame(rows).groupby("factor", sort=False).agg(
        inside=("inside", "mean"), changed_share=("changed_share", "mean"),
        faces=("changed", "sum"))
    factors["regions"] = [", ".join(FACTOR_REGIONS[f]) for f in factors.index]
    table = pd.DataFrame(shares).groupby("factor", sort=False).mean().reindex(factors.index)
    attrs = (pd.DataFrame(attr_rows).groupby("attribute", sort=False).mean() if attr_rows
             else pd.DataFrame(columns=["inside"]))
    return Agreement(factors, table, attrs)
