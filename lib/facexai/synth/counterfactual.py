"""Counterfactual rendering: the same face again with exactly one cause changed.

A SynthFace image is a function of its parameters (:class:`facexai.synth.factors.FaceParams`) and
of its draws (:class:`facexai.synth.render.Draws`: the sensor noise and the minor looks). A
counterfactual renders the changed parameters **with the original's draws**, so a pixel differs
only where the change itself shows: switching an Action Unit off does not re-draw the noise over the
whole image, taking glasses off does not change the eye colour.

Causes (:func:`causes`):

* ``"AU<n>"`` - Action Unit *n* on both sides (default value 0: the AU removed);
* ``"expression"`` - every Action Unit off (:meth:`FaceParams.neutral`);
* an identity factor of :data:`FACTORS` (``"glasses"``, ``"hair_length"``, ``"skin_tone"``, ...) -
  set to ``value``, by default to its reference value, the average person of
  :class:`facexai.synth.factors.Identity` (no glasses, no stubble, average shape, ...).

The **pixels a cause changes** are derived from the pair (:func:`change_mask`): every pixel that
differs (threshold 0 by default, so sub-threshold shading counts too), grown by the spread of
whatever preprocessing a model applies (``spread`` pixels, e.g. the radius of a local mean
subtraction). :func:`outside_share` measures how much of the change a mask misses.

::

    original, changed, landmarks = render_pair(params, "AU12", 96)
    mask = change_mask(original, changed)
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import numpy as np

from .factors import AUS, FaceParams, Identity
from .render import Draws, check_size, render_with_landmarks

__all__ = ["FACTORS", "causes", "change_mask", "intervene", "outside_share", "render_pair"]

#: Identity factors a counterfactual can change (``sex`` is a label, drawn only through
#: ``masculinity`` and the receding temples; ``asym_pattern`` says where an asymmetry shows).
FACTORS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Identity)
                                 if f.name not in ("asym_pattern",))
_REFERENCE = Identity()


def causes() -> list[str]:
    """Every cause :func:`intervene` accepts: the AUs, ``"expression"``, then :data:`FACTORS`."""
    return [f"AU{a}" for a in AUS] + ["expression", *FACTORS]


def intervene(params: FaceParams, cause: str, value: Any = None) -> FaceParams:
    """``params`` with one cause set to ``value`` (default: removed, see the module docstring).

    An unknown cause is an error naming the known ones; the value is checked as the factor's
    type (a bool for ``glasses``, an int for ``sex`` and ``hair_style``, a number otherwise).
    """
    if cause == "expression":
        if value is not None:
            raise ValueError("the cause 'expression' takes no value (it switches every AU off)")
        return params.neutral()
    if cause.startswith("AU") and cause[2:].isdigit():
        if int(cause[2:]) not in AUS:
            raise ValueError(f"unknown Action Unit {cause!r}; SynthFace renders "
                             f"{', '.join(f'AU{a}' for a in AUS)}")
        level = 0.0 if value is None else float(value)
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"an AU intensity lies in [0, 1], got {cause}={value!r}")
        return params.with_aus(**{cause: level})
    if cause not in FACTORS:
        raise ValueError(f"unknown cause {cause!r}; choose one of {', '.join(causes())}")
    reference = getattr(_REFERENCE, cause)
    new = reference if value is None else value
    if isinstance(reference, bool) and not isinstance(new, (bool, np.bool_)):
        raise ValueError(f"{cause} is a bool, got {value!r}")
    if not isinstance(reference, bool) and isinstance(new, (bool, np.bool_)):
        raise ValueError(f"{cause} is a number, got {value!r}")
    new = type(reference)(new)
    return replace(params, identity=replace(params.identity, **{cause: new}))


def render_pair(params: FaceParams, cause: str, size: int = 96, *, value: Any = None,
                grayscale: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face and its counterfactual (``cause`` set to ``value``) rendered with the same draws:
    ``(original, changed, landmarks of the original)``."""
    size = check_size(size)
    draws = Draws.of(params)
    original, landmarks = render_with_landmarks(params, size, grayscale, draws=draws)
    changed, _ = render_with_landmarks(intervene(params, cause, value), size, grayscale,
                                       draws=draws)
    return original, changed, landmarks


def _difference(original: np.ndarray, changed: np.ndarray) -> np.ndarray:
    a, b = np.asarray(original), np.asarray(changed)
    if a.shape != b.shape:
        raise ValueError(f"the two images differ in shape: {a.shape} and {b.shape}")
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return d.max(-1) if a.ndim >= 3 and a.shape[-1] == 3 else d


def change_mask(original: np.ndarray, changed: np.ndarray, *, threshold: float = 0.0,
                spread: int = 0) -> np.ndarray:
    """Pixels where ``changed`` differs from ``original`` by more than ``threshold`` (fraction of
    the intensity range, in any channel), grown by ``spread`` pixels (a square neighbourhood:
    the reach of a model's preprocessing). ``(H, W)`` or ``(N, H, W)`` bool."""
    if threshold < 0 or spread < 0 or int(spread) != spread:
        raise ValueError(f"threshold must be >= 0 and spread a non-negative integer, got "
                         f"threshold={threshold!r}, spread={spread!r}")
    mask = _difference(original, changed) > threshold * 255.0
    if spread:
        from scipy.ndimage import maximum_filter

        size = [1] * (mask.ndim - 2) + [2 * int(spread) + 1] * 2
        mask = maximum_filter(mask, size=size)
    return mask


def outside_share(original: np.ndarray, changed: np.ndarray, mask: np.ndarray) -> float:
    """Share of the total absolute change (summed over pixels) that lies outside ``mask``; 0 when
    nothing changed."""
    d = _difference(original, changed).astype(float)
    total = d.sum()
    return float(d[~np.asarray(mask, bool)].sum() / total) if total > 0 else 0.0

