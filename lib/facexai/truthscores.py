"""Explanations scored fairly: mass on a (soft) ground truth, against the face-uniform map, over
training seeds and faces, with intervals corrected for the number of comparisons.

* :func:`truth_mass` - the share of a map's positive relevance on a ground truth ``t`` in [0, 1]:
  ``sum(r+ * t) / sum(r+)``. For a binary ``t`` it is the relevance mass accuracy (Arras et al.
  2022); for a soft ``t`` (SynthFace's derived truth, weighted by the rating model) it equals the
  mass accuracy averaged over every threshold of ``t`` (``t = integral of [t >= tau] d tau``), so
  no binarisation is needed. A map with no positive relevance (Grad-CAM's ReLU can leave nothing)
  is **empty**: it scores 0, and is counted, never dropped.
* :func:`face_chance` - the same score of the face-uniform map (uniform relevance on the face's
  pixels, :func:`facexai.controlmaps.face_uniform`): the mean of ``t`` over the face, the chance
  level of a map that only knows where the face is.
* :func:`lift_table` - per face: mass, face chance, lift (their difference), empty.
* :func:`corrected_summary` - per group, the mean lift and its interval over seeds and faces
  (:func:`facexai.stats.hierarchical_interval`) at the Bonferroni-adjusted level ``1 - alpha / m``,
  ``m`` the groups of its family (e.g. the attributes scored for one map and ground truth); the
  verdict is "above the face-uniform map" when the whole interval lies above 0.
* :func:`relevance_per_area`, :func:`cause_agreement` - against the model's own counterfactual
  effects: per face, the Spearman correlation over causes between the map's relevance per area
  on each cause's pixels and the output change when the cause is removed.
* :func:`defined_spearman` - Spearman similarity of map pairs with the undefined ones (a constant
  or empty map) counted.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["VERDICTS", "cause_agreement", "corrected_summary", "defined_spearman", "face_chance",
           "headline", "lift_table", "relevance_per_area", "truth_mass"]

#: The verdicts of :func:`corrected_summary`.
VERDICTS: tuple[str, ...] = ("above the face-uniform map", "below the face-uniform map",
                             "not different", "not enough faces")


def _pair(maps, truth) -> tuple[np.ndarray, np.ndarray]:
    r, t = np.asarray(maps, float), np.asarray(truth, float)
    if r.shape != t.shape or r.ndim != 3:
        raise ValueError(f"maps {r.shape} and truth {t.shape} must both be (N, H, W)")
    if t.size and (np.nanmin(t) < 0 or np.nanmax(t) > 1):
        raise ValueError("truth must lie in [0, 1] (a mask or a weighted map)")
    return r, t


def truth_mass(maps, truth) -> tuple[np.ndarray, np.ndarray]:
    """Share of each map's positive relevance on ``truth``, and which maps are empty.

    Parameters
    ----------
    maps : (N, H, W)
        Relevance maps (negative relevance is left out).
    truth : (N, H, W) in [0, 1]
        A mask, or a weighted map (see the module docstring).

    Returns
    -------
    (mass, empty) : two (N,) arrays
        ``sum(r+ * t) / sum(r+)``, 0 for an empty map; ``empty`` True where the map has no
        positive relevance.
    """
    from .faithfulness import relevance_mass_accuracy

    mass = relevance_mass_accuracy(*_pair(maps, truth))
    empty = np.isnan(mass)
    return np.where(empty, 0.0, mass), empty


def face_chance(truth, face) -> np.ndarray:
    """Per face, the :func:`truth_mass` of the face-uniform map: the mean of ``truth`` over the
    pixels of ``face`` (``(N, H, W)`` bool; NaN for a face without pixels)."""
    f = np.asarray(face, bool)
    mass, empty = truth_mass(f.astype(float), truth)
    return np.where(empty, np.nan, mass)


def lift_table(maps, truths: Mapping[str, np.ndarray], face, **columns) -> pd.DataFrame:
    """Per face and ground truth: ``mass`` (:func:`truth_mass`), ``face_chance``
    (:func:`face_chance`), ``lift`` (mass - face chance) and ``empty``.

    ``truths``: ``{name: (N, H, W) truth}`` of the same faces as ``maps``; faces without pixels in
    ``face`` (no landmarks) are left out. ``columns`` are added as constant columns (``seed=...,
    attribute=..., map=..., sign=...``).
    """
    f = np.asarray(face, bool)
    if f.shape != np.shape(maps):
        raise ValueError(f"face {f.shape} must have the maps' shape {np.shape(maps)}")
    known = np.flatnonzero(f.reshape(len(f), -1).any(1))
    frames = []
    for name, truth in truths.items():
        mass, empty = truth_mass(np.asarray(maps)[known], np.asarray(truth)[known])
        chance = face_chance(np.asarray(truth)[known], f[known])
        frames.append(pd.DataFrame({"face": known, "ground_truth": name, "mass": mass,
                                    "face_chance": chance, "lift": mass - chance,
                                    "empty": empty}))
    table = pd.concat(frames, ignore_index=True)
    for name, value in columns.items():
        table[name] = value
    return table


def _verdict(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return VERDICTS[3]
    return VERDICTS[0] if lo > 0 else VERDICTS[1] if hi < 0 else VERDICTS[2]


def corrected_summary(table: pd.DataFrame, by: Sequence[str] = ("ground_truth", "map", "sign",
                                                                 "attribute"),
                      family: Sequence[str] = ("ground_truth", "map", "sign"), *,
                      n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per group of ``by``: mean mass, face chance and lift, empty maps, and the lift's interval
    over seeds and faces at the Bonferroni-adjusted level.

    Parameters
    ----------
    table : DataFrame
        :func:`lift_table` rows with ``seed`` and ``face`` columns (and the ``by`` columns).
    by : sequence of str
        The groups scored (one verdict each).
    family : sequence of str
        A subset of ``by``: groups that share these values form one family of comparisons; each
        interval's level is ``1 - alpha / m``, ``m`` the number of groups in its family.
    n_boot, alpha, seed
        Bootstrap resamples, family-wise error rate, seed of the one generator drawn group after
        group.

    Returns
    -------
    DataFrame
        ``by`` columns, ``seeds``, ``faces`` (scored per seed), ``maps``, ``empty``, ``mass``,
        ``face_chance``, ``lift``, ``lift_lo``, ``lift_hi``, ``level`` and ``verdict`` (one of
        :data:`VERDICTS`).
    """
    by, family = list(by), list(family)
    if not set(family) <= set(by):
        raise ValueError(f"family {family} must be a subset of by {by}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    missing = {"seed", "face", "lift", "mass", "face_chance", "empty", *by} - set(table)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}")
    sizes = table.groupby(family, sort=False)[by].apply(lambda g: len(g.drop_duplicates()))
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in table.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        fam = tuple(key[by.index(c)] for c in family)
        m = int(sizes.loc[fam if len(fam) > 1 else fam[0]])
        level = 1 - alpha / m
        values = stats.seeds_by_faces(g, "lift", dropna=True)
        if values.shape[1] >= 2:
            _, lo, hi = stats.hierarchical_interval(values, n_boot, level, rng)
        else:
            lo = hi = np.nan
        rows.append({**dict(zip(by, key)), "seeds": int(values.shape[0]),
                     "faces": int(values.shape[1]), "maps": int(len(g)),
                     "empty": int(g["empty"].sum()), "mass": float(g["mass"].mean()),
                     "face_chance": float(g["face_chance"].mean()),
                     "lift": float(g["lift"].mean()), "lift_lo": lo, "lift_hi": hi,
                     "level": level, "verdict": _verdict(lo, hi)})
    return pd.DataFrame(rows)


def headline(summary: pd.DataFrame, map_name: str, sign: str) -> pd.DataFrame:
    """Per ground truth, for one map and sign of a :func:`corrected_summary`: the mean ``mass`` and
    ``face_chance`` over attributes, the attributes ``above`` the face-uniform map, ``empty`` maps
    and ``maps`` scored (an empty frame when the map is absent)."""
    rows = summary[(summary["map"] == map_name) & (summary["sign"] == sign)]
    g = rows.groupby("ground_truth", sort=False)
    return pd.DataFrame({"mass": g["mass"].mean(), "face_chance": g["face_chance"].mean(),
                         "above": g["verdict"].apply(lambda v: int((v == VERDICTS[0]).sum())),
                         "empty": g["empty"].sum(), "maps": g["maps"].sum()})


def relevance_per_area(maps, masks) -> np.ndarray:
    """Per cause and face: the share of the map's positive relevance on the cause's pixels divided
    by their share of the image (1: what a uniform map gives).

    ``maps`` ``(N, H, W)``; ``masks`` ``(C, N, H, W)`` in [0, 1] (one per cause). Returns
    ``(C, N)``; NaN where the map is empty or the cause changes no pixel.
    """
    r = np.clip(np.asarray(maps, float), 0.0, None)
    m = np.asarray(masks, float)
    if m.ndim != 4 or m.shape[1:] != r.shape:
        raise ValueError(f"masks must be (causes, N, H, W) with the maps' (N, H, W) = {r.shape}, "
                         f"got {m.shape}")
    flat_r, flat_m = r.reshape(len(r), -1), m.reshape(len(m), len(r), -1)
    total, area = flat_r.sum(1), flat_m.mean(2)
    share = np.einsum("cnp,np->cn", flat_m, flat_r, optimize=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total > 0) & (area > 0), share / total / area, np.nan)


def cause_agreement(maps, masks, effects, sign: int = 1, min_causes: int = 3) -> np.ndarray:
    """Per face, Spearman correlation over causes between :func:`relevance_per_area` and the
    model's output change when each cause is removed (``effects`` ``(C, N)``: original - changed;
    multiplied by ``sign``, so that a map explaining low ratings is compared with what lowers the
    output).

    Causes that change no pixel of the face are left out; NaN where fewer than ``min_causes``
    remain, the map is empty, or either side is constant (the Spearman correlation is undefined).
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    rel = relevance_per_area(maps, masks)
    eff = sign * np.asarray(effects, float)
    if eff.shape != rel.shape:
        raise ValueError(f"effects must be (causes, N) = {rel.shape}, got {eff.shape}")
    from scipy.stats import rankdata

    ok = np.isfinite(rel) & np.isfinite(eff)
    # Spearman = Pearson of the average ranks among each face's usable causes, all faces at once
    ra, rb = (rankdata(np.where(ok, v, np.nan), axis=0, nan_policy="omit") for v in (rel, eff))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # faces without a usable cause
        ra, rb = ra - np.nanmean(ra, 0), rb - np.nanmean(rb, 0)
        den = np.sqrt(np.nansum(ra * ra, 0) * np.nansum(rb * rb, 0))
        rho = np.nansum(ra * rb, 0) / den
    return np.where((ok.sum(0) >= min_causes) & (den > 0), rho, np.nan)


def defined_spearman(a, b) -> tuple[np.ndarray, int]:
    """Spearman similarity of each pair of maps (:func:`facexai.faithfulness.spearman`) and the
    number of pairs for which it is undefined (a constant or empty map: NaN)."""
    from .faithfulness import spearman

    rho = spearman(a, b)
    return rho, int(np.isnan(rho).sum())
