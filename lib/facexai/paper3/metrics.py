"""Paper 3's metrics: Pearson r per attribute, noise ceilings, and the comparison with the paper.

The paper reports, per attribute, the test Pearson r between predicted and mean ratings (its
table, shipped as ``facexai/data/paper3_comparison.csv``). A model's r is bounded by how well the
rating means themselves are measured: with a panel of R raters the means correlate with the
(unobservable) consensus by sqrt(reliability), the **noise ceiling**, where the reliability is the
Spearman-Brown corrected split-half correlation of the raters (:func:`split_half_reliability`).
"""
from __future__ import annotations

from importlib import resources
from typing import Mapping

import numpy as np
import pandas as pd

from ..synth import attributes as synth_attributes
from .data import ATTRIBUTES

#: Columns of :func:`paper_table` (besides ``attribute``) and their names in the comparison.
PAPER_COLUMNS = {"human": "paper_human", "geometric": "paper_geometric", "vgg16": "paper_vgg16",
                 "vgg16_aug": "paper_vgg16_aug", "vit": "paper_vit"}
#: Column order of :func:`comparison_table` (read by the chapter's Claims page).
COMPARISON_COLUMNS = ("attribute", "paper_human", "paper_geometric", "paper_vgg16", "paper_vgg16_aug",
                      "paper_vit", "vgg16", "hist_svr", "lbp_svr", "hog_svr", "landmarks",
                      "noise_ceiling")
BASELINE_NAMES = ("hist_svr", "lbp_svr", "hog_svr", "landmarks")

__all__ = ["BASELINE_NAMES", "COMPARISON_COLUMNS", "PAPER_COLUMNS", "comparison_table", "noise_ceiling",
           "paper_table", "pearson_per_attribute", "spearman", "split_half_reliability"]


def pearson_per_attribute(predicted: pd.DataFrame | np.ndarray, observed: pd.DataFrame | np.ndarray,
                          columns: list[str] | None = None) -> pd.Series:
    """Pearson r between each predicted column and the same observed column, across images.

    Parameters
    ----------
    predicted, observed : DataFrame or array (N, C)
        Same shape; DataFrames are aligned by column name (``observed``'s columns in
        ``predicted``'s order).
    columns : list of str, optional
        Names of the columns of arrays (default :data:`ATTRIBUTES` when C == 40, else 0..C-1).

    Returns
    -------
    Series
        r per column; NaN where either side is constant.
    """
    if isinstance(predicted, pd.DataFrame):
        columns = list(predicted.columns)
        if isinstance(observed, pd.DataFrame):
            missing = [c for c in columns if c not in observed]
            if missing:
                raise ValueError(f"observed lacks the predicted column(s) {missing}")
            observed = observed[columns]
        predicted = predicted.to_numpy(float)
    p, o = np.asarray(predicted, float), np.asarray(observed, float)
    if p.ndim == 1:
        p, o = p[:, None], o.reshape(-1, 1)
    if p.shape != o.shape or p.ndim != 2:
        raise ValueError(f"predicted {p.shape} and observed {o.shape} must have the same (N, C) shape")
    if p.shape[0] < 2:
        raise ValueError(f"need at least 2 images, got {p.shape[0]}")
    if columns is None:
        columns = ATTRIBUTES if p.shape[1] == len(ATTRIBUTES) else list(range(p.shape[1]))
    pc, oc = p - p.mean(0), o - o.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (pc * oc).sum(0) / np.sqrt((pc ** 2).sum(0) * (oc ** 2).sum(0))
    r = np.where(np.isfinite(r), np.clip(r, -1, 1), np.nan)
    return pd.Series(r, index=list(columns), name="r")


def split_half_reliability(raters: np.ndarray, n_splits: int = 50, seed: int = 0,
                           columns: list[str] | None = None) -> pd.Series:
    """Spearman-Brown corrected split-half reliability of the rater means, per column.

    Each of ``n_splits`` random permutations of the rater slots splits them into halves
    (``R // 2`` and the rest); the half means are correlated across images and corrected to the
    full panel with ``2 r / (1 + r)``; the mean over splits is returned. Missing ratings (NaN:
    images with fewer raters, as on the real database after the catch rule) are left out of their
    half's mean, and an image whose half has no rating drops out of that split's correlation.
    It is :func:`facexai.synth.attributes.split_half_reliability`, with column names.

    Parameters
    ----------
    raters : array (N, C, R)
        Ratings of N images on C columns by R rater slots.
    n_splits : int
        Random splits averaged.
    seed : int
        Seed of the splits.
    columns : list of str, optional
        Column names (default :data:`ATTRIBUTES` when C == 40).
    """
    rel = synth_attributes.split_half_reliability(np.asarray(raters, dtype=float), n_splits, seed)
    if columns is None:
        columns = ATTRIBUTES if rel.size == len(ATTRIBUTES) else list(range(rel.size))
    return pd.Series(rel.to_numpy(), index=list(columns), name="split_half_reliability")


def noise_ceiling(raters: np.ndarray, n_splits: int = 50, seed: int = 0,
                  columns: list[str] | None = None) -> pd.Series:
    """The highest Pearson r a predictor can expect against the rating means: sqrt(reliability).

    A perfect model of the consensus correlates with the observed means by the square root of
    their split-half reliability (negative reliabilities count as 0). Perfectly consistent
    raters give 1; raters who agree on nothing give about 0.
    """
    rel = split_half_reliability(raters, n_splits=n_splits, seed=seed, columns=columns)
    return np.sqrt(rel.clip(lower=0)).rename("noise_ceiling")


def paper_table() -> pd.DataFrame:
    """The paper's per-attribute test r of each method (``Psychology/comparsion.xlsx``).

    Columns ``attribute`` (database column name), ``target`` (the sheet's label), ``human``,
    ``geometric``, ``vgg16``, ``vgg16_aug`` ("Our Method" = VGG16 + augmentation), ``vit``; 40 rows.
    Source: NKUShaw/Psychoinformatics, commit e6ed337 (see the file's header).
    """
    path = resources.files("facexai").joinpath("data/paper3_comparison.csv")
    with resources.as_file(path) as p:
        table = pd.read_csv(p, comment="#")
    return table


def spearman(a, b) -> float:
    """Spearman rank correlation of two equal-length sequences (pairs with a NaN dropped)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def comparison_table(vgg16: pd.Series, baselines: Mapping[str, pd.Series] | None = None,
                     ceiling: pd.Series | None = None) -> pd.DataFrame:
    """One row per attribute: the paper's five columns, this study's r of each model, the ceiling.

    Parameters
    ----------
    vgg16 : Series
        This study's test r per attribute (indexed by attribute name).
    baselines : mapping of str to Series, optional
        Test r of each baseline (keys among :data:`BASELINE_NAMES`); missing ones are NaN.
    ceiling : Series, optional
        Noise ceiling per attribute.

    Returns
    -------
    DataFrame
        Columns :data:`COMPARISON_COLUMNS`, rows in :data:`ATTRIBUTES` order.
    """
    baselines = dict(baselines or {})
    unknown = set(baselines) - set(BASELINE_NAMES)
    if unknown:
        raise ValueError(f"unknown baseline(s) {sorted(unknown)}; choose from {BASELINE_NAMES}")
    paper = paper_table().set_index("attribute").reindex(ATTRIBUTES)
    out = pd.DataFrame({"attribute": ATTRIBUTES})
    for src, dst in PAPER_COLUMNS.items():
        out[dst] = paper[src].to_numpy(float)
    out["vgg16"] = pd.Series(vgg16).reindex(ATTRIBUTES).to_numpy(float)
    for name in BASELINE_NAMES:
        col = baselines.get(name)
        out[name] = (pd.Series(col).reindex(ATTRIBUTES).to_numpy(float) if col is not None
                     else np.nan)
    out["noise_ceiling"] = (pd.Series(ceiling).reindex(ATTRIBUTES).to_numpy(float)
                            if ceiling is not None else np.nan)
    return out[list(COMPARISON_COLUMNS)]
