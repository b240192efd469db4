"""Group comparisons: is a model equally accurate for every group of people?

Held-out predictions of several attributes are split by one or more group variables (sex, age
group, skin tone, ...):

* :func:`group_metrics` - per attribute and group: Pearson *r*, mean absolute error (MAE) and mean
  signed error (prediction - rating: does the model over- or under-rate a group?), each with a
  bootstrap interval (faces resampled within the group, seeded);
* :func:`group_gaps` - per attribute: the gap between the best and the worst group in *r* and in
  MAE, a bootstrap interval of that gap, and a permutation p-value for "no difference between the
  groups" (group labels shuffled, the range over all groups as statistic, which accounts for
  picking the best and worst of several groups);
* :func:`fdr_verdicts` - Benjamini-Hochberg q-values over **one** family: every row (attribute,
  variable) and every tested metric together, so the false discovery rate of the "gap" verdicts is
  controlled at ``alpha`` (two families OR-ed together would not be);
* :func:`compare_groups` - all of it for several group variables in one call.

A gap in *r* can come from a difference in the spread of the ratings within groups (range
restriction: *r* is lower where the ratings vary less) rather than from a difference in how well the
model predicts; ``sd_rating`` is reported beside *r* for that reason, and MAE, which does not depend
on the spread, beside both. The statistics are :mod:`facexai.stats`'.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["GAP_COLUMNS", "GroupComparison", "compare_groups", "describe_gap", "fdr_verdicts",
           "group_gaps", "group_metrics"]

#: Columns of :func:`group_gaps` (``compare_groups`` adds ``variable`` in front).
GAP_COLUMNS = ("attribute", "groups", "r_best_group", "r_worst_group", "r_gap", "r_gap_lo",
               "r_gap_hi", "r_p", "r_q", "mae_best_group", "mae_worst_group", "mae_gap",
               "mae_gap_lo", "mae_gap_hi", "mae_p", "mae_q", "verdict")
_METRICS = ("r", "mae")


def _inputs(truth, pred, groups, attributes, min_size):
    """Arrays of the ratings and predictions, the group labels, and the groups kept."""
    truth = pd.DataFrame(truth)
    pred = pd.DataFrame(pred)
    attributes = list(attributes) if attributes is not None else list(truth.columns)
    missing = [a for a in attributes if a not in truth.columns or a not in pred.columns]
    if missing:
        raise ValueError(f"attribute {missing[0]!r} is not a column of both the ratings and the "
                         "predictions")
    if len(truth) != len(pred) or len(truth) != len(groups):
        raise ValueError(f"ratings ({len(truth)}), predictions ({len(pred)}) and groups "
                         f"({len(groups)}) must have one row per face")
    if min_size < 3:
        raise ValueError(f"min_size must be at least 3 (a correlation needs 3 faces), got {min_size}")
    g = pd.Series(np.asarray(groups, dtype=object))
    counts = g.value_counts()   # missing values are not a group
    kept = sorted(counts[counts >= min_size].index, key=str)
    return (truth[attributes].to_numpy(float), pred[attributes].to_numpy(float), g.to_numpy(),
            attributes, kept)


def _check(n_boot: int, level: float) -> None:
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def group_metrics(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
                  n_boot: int = 1000, level: float = 0.95, min_size: int = 10,
                  seed: int = 0) -> pd.DataFrame:
    """Accuracy of the predictions per attribute and group, with bootstrap intervals.

    Parameters
    ----------
    truth, pred : DataFrame (N, attributes)
        Rating means and predictions of the same faces, same columns.
    groups : array-like (N,)
        Group of every face (missing values: the face is left out).
    attributes : list of str, optional
        Columns to score (default: all columns of ``truth``).
    n_boot : int
        Bootstrap resamples of each group's faces (percentile intervals at ``level``).
    min_size : int
        Groups with fewer faces are left out (their row is absent).
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per (attribute, group): ``n``, ``r`` (+ ``r_lo``, ``r_hi``), ``mae`` (+ interval),
        ``mean_error`` (prediction - rating, + interval) and ``sd_rating`` (spread of the ratings in
        the group).
    """
    _check(n_boot, level)
    t, p, g, attributes, kept = _inputs(truth, pred, groups, attributes, min_size)
    rng = np.random.default_rng(seed)
    rows = []
    for group in kept:
        idx = np.flatnonzero(g == group)
        boot = idx[stats.bootstrap_indices(len(idx), n_boot, rng)]          # (B, n)
        for k, attribute in enumerate(attributes):
            tt, pp = t[idx, k], p[idx, k]
            err = pp - tt
            bt, bp = t[boot, k], p[boot, k]
            r_lo, r_hi = stats.percentile_interval(stats.pearson_along(bt, bp), level)
            mae_lo, mae_hi = stats.percentile_interval(np.abs(bp - bt).mean(1), level)
            me_lo, me_hi = stats.percentile_interval((bp - bt).mean(1), level)
            rows.append({
                "attribute": attribute, "group": group, "n": len(idx),
                "r": float(stats.pearson_along(tt, pp)), "r_lo": float(r_lo), "r_hi": float(r_hi),
                "mae": float(np.abs(err).mean()), "mae_lo": float(mae_lo), "mae_hi": float(mae_hi),
                "mean_error": float(err.mean()), "mean_error_lo": float(me_lo),
                "mean_error_hi": float(me_hi), "sd_rating": float(tt.std(ddof=1)),
            })
    return pd.DataFrame(rows)


def _group_stats(t: np.ndarray, p: np.ndarray, codes: np.ndarray, n_groups: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """r and MAE of every group (rows) and attribute (columns) for integer group codes."""
    r = np.empty((n_groups, t.shape[1]))
    mae = np.empty((n_groups, t.shape[1]))
    for c in range(n_groups):
        m = codes == c
        r[c] = stats.pearson_along(t[m], p[m], axis=0)
        mae[c] = np.abs(p[m] - t[m]).mean(0)
    return r, mae


def _permutation_null(t, p, codes, n_groups, n_permutations, rng):
    """The range over groups of r and of MAE under ``n_permutations`` shuffles of the labels."""
    r_null = np.empty((n_permutations, t.shape[1]))
    mae_null = np.empty((n_permutations, t.shape[1]))
    for b in range(n_permutations):
        r_b, mae_b = _group_stats(t, p, rng.permutation(codes), n_groups)
        r_null[b] = np.nanmax(r_b, 0) - np.nanmin(r_b, 0)
        mae_null[b] = mae_b.max(0) - mae_b.min(0)
    return r_null, mae_null


def _gap_row(k, t, p, boots, kept, r_obs, mae_obs, r_null, mae_null, level) -> dict:
    """The gap row of attribute ``k``: extreme groups, gaps, bootstrap intervals, p-values."""
    rb, rw = int(np.nanargmax(r_obs[:, k])), int(np.nanargmin(r_obs[:, k]))
    mb, mw = int(np.argmin(mae_obs[:, k])), int(np.argmax(mae_obs[:, k]))
    r_gap_b = (stats.pearson_along(t[boots[rb], k], p[boots[rb], k])
               - stats.pearson_along(t[boots[rw], k], p[boots[rw], k]))
    mae_gap_b = (np.abs(p[boots[mw], k] - t[boots[mw], k]).mean(1)
                 - np.abs(p[boots[mb], k] - t[boots[mb], k]).mean(1))
    r_gap = r_obs[rb, k] - r_obs[rw, k]
    mae_gap = mae_obs[mw, k] - mae_obs[mb, k]
    r_lo, r_hi = stats.percentile_interval(r_gap_b, level)
    mae_lo, mae_hi = stats.percentile_interval(mae_gap_b, level)
    return {"groups": len(kept), "r_best_group": kept[rb], "r_worst_group": kept[rw],
            "r_gap": float(r_gap), "r_gap_lo": float(r_lo), "r_gap_hi": float(r_hi),
            "r_p": stats.permutation_p(r_gap, r_null[:, k]),
            "mae_best_group": kept[mb], "mae_worst_group": kept[mw], "mae_gap": float(mae_gap),
            "mae_gap_lo": float(mae_lo), "mae_gap_hi": float(mae_hi),
            "mae_p": stats.permutation_p(mae_gap, mae_null[:, k])}


def group_gaps(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
               n_boot: int = 1000, n_permutations: int = 1000, level: float = 0.95,
               min_size: int = 10, alpha: float = 0.05, seed: int = 0,
               tested: Sequence[str] = _METRICS) -> pd.DataFrame:
    """Per attribute: the gap between the best and the worst group, its interval and a test.

    For *r* the gap is ``r(best) - r(worst)`` and for MAE ``MAE(worst) - MAE(best)`` (both >= 0),
    with best and worst chosen on the data; the interval comes from bootstrapping the faces within
    each of the two groups (``n_boot``, ``level``); the p-value from ``n_permutations`` shuffles of
    the group labels over the faces, with the range over *all* kept groups as statistic (so that
    choosing the extreme pair is part of the null). ``r_q``, ``mae_q`` and ``verdict`` come from
    :func:`fdr_verdicts` over this one variable's attributes and ``tested`` metrics; for several
    variables, use :func:`compare_groups` (one family over all of them).

    Returns
    -------
    pandas.DataFrame
        One row per attribute, columns :data:`GAP_COLUMNS`. Empty (with these columns) when fewer
        than two groups have ``min_size`` faces.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    _check(n_boot, level)
    t, p, g, attributes, kept = _inputs(truth, pred, groups, attributes, min_size)
    if len(kept) < 2:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    rows_in = np.flatnonzero(pd.Series(g).isin(kept).to_numpy())
    t, p = t[rows_in], p[rows_in]
    codes = np.array([kept.index(v) for v in g[rows_in]])
    r_obs, mae_obs = _group_stats(t, p, codes, len(kept))
    rng = np.random.default_rng(seed)
    r_null, mae_null = _permutation_null(t, p, codes, len(kept), n_permutations, rng)
    boots = [m[stats.bootstrap_indices(len(m), n_boot, rng)]
             for m in (np.flatnonzero(codes == c) for c in range(len(kept)))]
    out = pd.DataFrame([{"attribute": a, **_gap_row(k, t, p, boots, kept, r_obs, mae_obs, r_null,
                                                    mae_null, level)}
                        for k, a in enumerate(attributes)])
    return fdr_verdicts(out, alpha=alpha, tested=tested)[list(GAP_COLUMNS)]


def fdr_verdicts(gaps: pd.DataFrame, *, alpha: float = 0.05,
                 tested: Sequence[str] = _METRICS) -> pd.DataFrame:
    """Benjamini-Hochberg q-values over one family: every row of ``gaps`` and every metric in
    ``tested`` (``"r"``, ``"mae"``) together.

    Returns a copy with ``<metric>_q`` (NaN for a metric not tested) and ``verdict``: ``"gap"``
    when any tested q-value of the row is below ``alpha``, else ``"no gap"``. The rows' false
    discovery rate is then controlled at ``alpha`` over every variable, attribute and metric.
    """
    tested = tuple(tested)
    if not tested or set(tested) - set(_METRICS):
        raise ValueError(f"tested must be a non-empty subset of {_METRICS}, got {tested}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    out = gaps.copy()
    p = np.concatenate([out[f"{m}_p"].to_numpy(float) for m in tested])
    q = stats.benjamini_hochberg(p).reshape(len(tested), len(out))
    gap = np.zeros(len(out), bool)
    for m in _METRICS:
        out[f"{m}_q"] = q[tested.index(m)] if m in tested else np.nan
    for i in range(len(tested)):
        gap |= q[i] < alpha
    out["verdict"] = np.where(gap, "gap", "no gap")
    return out


@dataclass
class GroupComparison:
    """The result of :func:`compare_groups`.

    Attributes
    ----------
    metrics : DataFrame
        :func:`group_metrics` of every variable, with a ``variable`` column.
    gaps : DataFrame
        :func:`group_gaps` of every variable, with a ``variable`` column, q-values and verdicts
        from one false-discovery family over all rows.
    variables : list of str
        The variables compared (given, and known for some faces).
    absent : list of str
        The variables asked for but unknown for every face.
    counts : DataFrame
        Faces per (variable, group).
    alpha : float
        The false discovery rate of the verdicts.
    """

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    variables: list[str]
    absent: list[str] = field(default_factory=list)
    counts: pd.DataFrame | None = None
    alpha: float = 0.05

    @property
    def n_gaps(self) -> int:
        """Rows whose verdict is "gap"."""
        return int((self.gaps["verdict"] == "gap").sum())

    def per_variable(self) -> pd.DataFrame:
        """Per variable: attributes tested, gaps found, the largest r and MAE gaps."""
        return self.gaps.groupby("variable").agg(
            attributes=("attribute", "size"), gaps=("verdict", lambda v: int((v == "gap").sum())),
            largest_r_gap=("r_gap", "max"), largest_mae_gap=("mae_gap", "max"))

    def largest(self, metric: str = "r") -> pd.Series | None:
        """The gap row with the largest ``metric`` gap (``"r"`` or ``"mae"``); None when no gap
        was tested."""
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
        if self.gaps.empty:
            return None
        return self.gaps.loc[pd.to_numeric(self.gaps[f"{metric}_gap"]).idxmax()]


def describe_gap(row: pd.Series, metric: str = "r") -> str:
    """``"<attribute> by <variable> (<best> vs <worst>)"`` for a row of
    :attr:`GroupComparison.gaps`."""
    return (f"{row['attribute']} by {row['variable']} ({row[f'{metric}_best_group']} vs "
            f"{row[f'{metric}_worst_group']})")


def compare_groups(truth: pd.DataFrame, pred: pd.DataFrame, demographics: pd.DataFrame,
                   variables: Sequence[str], *, attributes=None, n_boot: int = 1000,
                   n_permutations: int = 1000, level: float = 0.95, min_size: int = 10,
                   alpha: float = 0.05, seed: int = 0,
                   tested: Sequence[str] = _METRICS) -> GroupComparison:
    """:func:`group_metrics` and :func:`group_gaps` for several group variables, with one
    false-discovery family over every variable, attribute and tested metric (:func:`fdr_verdicts`).

    ``demographics`` has one row per face (aligned with ``truth`` and ``pred``) and a column per
    variable; a variable that is not a column or is missing for every face is listed in
    :attr:`GroupComparison.absent`. Each variable is resampled and permuted with the same
    ``seed``, so its numbers do not depend on which other variables are compared.
    """
    demographics = pd.DataFrame(demographics).reset_index(drop=True)
    present = [v for v in variables if v in demographics.columns and demographics[v].notna().any()]
    absent = [v for v in variables if v not in present]
    kw = dict(attributes=attributes, n_boot=n_boot, level=level, min_size=min_size, seed=seed)
    metrics = [group_metrics(truth, pred, demographics[v], **kw).assign(variable=v)
               for v in present]
    gaps = [group_gaps(truth, pred, demographics[v], n_permutations=n_permutations, alpha=alpha,
                       tested=tested, **kw).assign(variable=v) for v in present]
    metrics = pd.concat(metrics, ignore_index=True) if metrics else pd.DataFrame()
    gaps = (pd.concat([g for g in gaps if len(g)] or [pd.DataFrame(columns=list(GAP_COLUMNS))],
                      ignore_index=True))
    if "variable" not in gaps:
        gaps["variable"] = pd.Series(dtype=object)
    gaps = fdr_verdicts(gaps, alpha=alpha, tested=tested)[["variable", *GAP_COLUMNS]]
    counts = (pd.concat({v: demographics[v].value_counts(dropna=True) for v in present},
                        names=["variable", "group"]).rename("faces").to_frame()
              if present else pd.DataFrame(columns=["faces"]))
    return GroupComparison(metrics=metrics, gaps=gaps, variables=present, absent=absent,
                           counts=counts, alpha=alpha)
