"""Paper 3's metrics: the paper's table (``facexai/data/paper3_comparison.csv``: test Pearson r per
attribute) and this study's comparison with it, beside the noise ceiling
(:func:`facexai.stats.noise_ceiling`) and the oracle's achievable ceiling
(:func:`facexai.predictive.oracle_predictions`)."""
from __future__ import annotations

from importlib import resources
from typing import Mapping

import numpy as np
import pandas as pd

from .. import stats
from ..ratings import ATTRIBUTES

#: Columns of :func:`paper_table` (besides ``attribute``) and their names in the comparison.
PAPER_COLUMNS = {"human": "paper_human", "geometric": "paper_geometric", "vgg16": "paper_vgg16",
                 "vgg16_aug": "paper_vgg16_aug", "vit": "paper_vit"}
BASELINE_NAMES = ("hist_svr", "lbp_svr", "hog_svr", "landmarks", "landmarks_exact")
#: Column order of :func:`comparison_table` (read by the chapter's Claims page).
COMPARISON_COLUMNS = ("attribute", *PAPER_COLUMNS.values(), "vgg16", "vgg16_lo", "vgg16_hi",
                      *BASELINE_NAMES, "oracle", "noise_ceiling", "reliability")

__all__ = ["BASELINE_NAMES", "COMPARISON_COLUMNS", "PAPER_COLUMNS", "comparison_table",
           "paper_table"]


def paper_table() -> pd.DataFrame:
    """The paper's per-attribute test r of each method (``Psychology/comparsion.xlsx`` of
    NKUShaw/Psychoinformatics, commit e6ed337): columns ``attribute``, ``target`` (the sheet's
    label), ``human``, ``geometric``, ``vgg16``, ``vgg16_aug`` ("Our Method"), ``vit``; 40 rows."""
    path = resources.files("facexai").joinpath("data/paper3_comparison.csv")
    with resources.as_file(path) as p:
        return pd.read_csv(p, comment="#")


def comparison_table(vgg16: pd.Series | pd.DataFrame,
                     baselines: Mapping[str, pd.Series] | None = None,
                     ceiling: pd.Series | None = None, oracle: pd.Series | None = None
                     ) -> pd.DataFrame:
    """One row per attribute: the paper's five columns, this study's r of each model, the ceilings.

    Parameters
    ----------
    vgg16 : Series, or DataFrame (seeds x attributes)
        This study's test r per attribute; per seed, the table gets the mean and the seed interval
        (``vgg16_lo``/``vgg16_hi``, :func:`facexai.stats.seed_interval`; NaN for one model).
    baselines : mapping of str to Series, optional
        Test r of each baseline (keys among :data:`BASELINE_NAMES`); missing ones are NaN.
    ceiling, oracle : Series, optional
        Noise ceiling (its square is the ``reliability`` column) and the oracle's test r.

    Returns
    -------
    DataFrame
        Columns :data:`COMPARISON_COLUMNS`, rows in :data:`ATTRIBUTES` order.
    """
    baselines = dict(baselines or {})
    unknown = set(baselines) - set(BASELINE_NAMES)
    if unknown:
        raise ValueError(f"unknown baseline(s) {sorted(unknown)}; choose from {BASELINE_NAMES}")
    if isinstance(vgg16, pd.DataFrame):
        mean, lo, hi = (pd.Series(v, index=vgg16.columns) for v in stats.seed_interval(vgg16))
    else:
        mean, lo, hi = vgg16, None, None
    paper = paper_table().set_index("attribute").reindex(ATTRIBUTES)
    out = pd.DataFrame({"attribute": ATTRIBUTES})
    for src, dst in PAPER_COLUMNS.items():
        out[dst] = paper[src].to_numpy(float)
    ours = {"vgg16": mean, "vgg16_lo": lo, "vgg16_hi": hi, **baselines, "oracle": oracle,
            "noise_ceiling": ceiling, "reliability": None if ceiling is None else ceiling ** 2}
    for name in COMPARISON_COLUMNS[len(PAPER_COLUMNS) + 1:]:
        col = ours.get(name)
        out[name] = np.nan if col is None else pd.Series(col).reindex(ATTRIBUTES).to_numpy(float)
    return out[list(COMPARISON_COLUMNS)]
