"""Paper 3's metrics: the paper's table and this study's comparison with it.

The paper reports, per attribute, the test Pearson r between predicted and mean ratings (its
table, shipped as ``facexai/data/paper3_comparison.csv``). A model's r is bounded by how well the
rating means themselves are measured: with a panel of R raters the means correlate with the
(unobservable) consensus by sqrt(reliability), the **noise ceiling**, where the reliability is the
Spearman-Brown corrected split-half correlation of the raters (:func:`facexai.stats.noise_ceiling`).
"""
from __future__ import annotations

from importlib import resources
from typing import Mapping

import numpy as np
import pandas as pd

from ..ratings import ATTRIBUTES

#: Columns of :func:`paper_table` (besides ``attribute``) and their names in the comparison.
PAPER_COLUMNS = {"human": "paper_human", "geometric": "paper_geometric", "vgg16": "paper_vgg16",
                 "vgg16_aug": "paper_vgg16_aug", "vit": "paper_vit"}
#: Column order of :func:`comparison_table` (read by the chapter's Claims page).
COMPARISON_COLUMNS = ("attribute", "paper_human", "paper_geometric", "paper_vgg16", "paper_vgg16_aug",
                      "paper_vit", "vgg16", "hist_svr", "lbp_svr", "hog_svr", "landmarks",
                      "noise_ceiling")
BASELINE_NAMES = ("hist_svr", "lbp_svr", "hog_svr", "landmarks")

__all__ = ["BASELINE_NAMES", "COMPARISON_COLUMNS", "PAPER_COLUMNS", "comparison_table", "paper_table"]


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
