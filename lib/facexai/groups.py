"""Group comparisons: is a model equally accurate, and equally calibrated, for every group?

Held-out predictions of several attributes are split by one or more group variables (sex, age
group, skin tone, ...):

* :func:`group_metrics` - per attribute and group: Pearson *r*, mean absolute error (MAE) and mean
  signed error (prediction - rating: does the model over- or under-rate a group?), each with a
  bootstrap interval (faces resampled within the group, seeded), and the group's mean rating offset
  (a model that shrinks its predictions towards the mean under-rates a group rated above it);
* :func:`group_gaps` - per attribute: the gap between the best and the worst group in *r* and in
  MAE with bootstrap intervals (biased upward: the two groups are chosen on the data), and tests
  of "no difference between the groups" over *all* groups, so picking the extreme pair is not a
  selection: the chi-square homogeneity test of the correlations and the ANOVA of the absolute
  errors (:mod:`facexai.group_tests`); also the range of *r* over groups expected by chance, from
  ``n_permutations`` shuffles of the group labels;
* :func:`signed_errors` - per attribute and group: the group's mean signed error against the
  other faces' (Welch's t test): calibration by group;
* :func:`fdr_verdicts` - Benjamini-Hochberg q-values over **one** family: every r test, MAE test
  and signed-error test of every variable and attribute together;
* :func:`compare_groups` - all of it for several group variables in one call, with a power
  analysis (the smallest r gap each test detects with 80 % power at the family's corrected level;
  "inconclusive" where it is above a stated gap);
The same comparison on a positive control (one group's ratings shifted by an injected rater bias)
and a negative control (group labels permuted across faces):
:func:`facexai.group_controls.bias_controls`.

A gap in *r* can come from a difference in the spread of the ratings within groups (range
restriction) rather than in how well the model predicts; ``sd_rating`` is reported beside *r* for
that reason, and MAE, which does not depend on the spread, beside both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from . import group_tests, stats

__all__ = ["GAP_COLUMNS", "SIGNED_COLUMNS", "GroupComparison", "compare_groups",
           "describe_gap", "fdr_verdicts", "group_gaps", "group_metrics",
           "signed_errors"]

#: Columns of :func:`group_gaps` (``compare_groups`` adds ``variable`` in front and
#: ``r_detectable`` before the verdict).
GAP_COLUMNS = ("attribute", "groups", "r_best_group", "r_worst_group", "r_gap", "r_gap_lo",
               "r_gap_hi", "r_gap_chance", "r_p", "r_p_range", "r_q", "mae_best_group",
               "mae_worst_group", "mae_gap", "mae_gap_lo", "mae_gap_hi", "mae_p", "mae_q",
               "signed_q", "verdict")
#: Columns of :func:`signed_errors` (``compare_groups`` adds ``variable`` in front and
#: ``detectable_shift`` before the verdict).
SIGNED_COLUMNS = ("attribute", "group", "n", "mean_error", "rating_offset", "error_offset", "t",
                  "p", "q", "mirror", "verdict")
_METRICS = ("r", "mae", "signed")


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
        ``mean_error`` (prediction - rating, + interval), ``sd_rating`` (spread of the ratings in
        the group) and ``rating_offset`` (the group's mean rating minus the mean over all faces).
    """
    _check(n_boot, level)
    t, p, g, attributes, kept = _inputs(truth, pred, groups, attributes, min_size)
    rng = np.random.default_rng(seed)
    overall = np.nanmean(t, 0)
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
                "rating_offset": float(tt.mean() - overall[k]),
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


def _range_null(t, p, codes, n_groups, n_permutations, rng) -> np.ndarray:
    """The range of r over groups under ``n_permutations`` shuffles of the labels (P, A)."""
    null = np.empty((n_permutations, t.shape[1]))
    for b in range(n_permutations):
        r_b, _ = _group_stats(t, p, rng.permutation(codes), n_groups)
        null[b] = np.nanmax(r_b, 0) - np.nanmin(r_b, 0)
    return null


def _gap_row(k, t, p, boots, kept, r_obs, mae_obs, level) -> dict:
    """The gap row of attribute ``k``: extreme groups, gaps and their bootstrap intervals."""
    rb, rw = int(np.nanargmax(r_obs[:, k])), int(np.nanargmin(r_obs[:, k]))
    mb, mw = int(np.argmin(mae_obs[:, k])), int(np.argmax(mae_obs[:, k]))
    r_gap_b = (stats.pearson_along(t[boots[rb], k], p[boots[rb], k])
               - stats.pearson_along(t[boots[rw], k], p[boots[rw], k]))
    mae_gap_b = (np.abs(p[boots[mw], k] - t[boots[mw], k]).mean(1)
                 - np.abs(p[boots[mb], k] - t[boots[mb], k]).mean(1))
    r_lo, r_hi = stats.percentile_interval(r_gap_b, level)
    mae_lo, mae_hi = stats.percentile_interval(mae_gap_b, level)
    return {"groups": len(kept), "r_best_group": kept[rb], "r_worst_group": kept[rw],
            "r_gap": float(r_obs[rb, k] - r_obs[rw, k]), "r_gap_lo": float(r_lo),
            "r_gap_hi": float(r_hi), "mae_best_group": kept[mb], "mae_worst_group": kept[mw],
            "mae_gap": float(mae_obs[mw, k] - mae_obs[mb, k]), "mae_gap_lo": float(mae_lo),
            "mae_gap_hi": float(mae_hi)}


def _coded(truth, pred, groups, attributes, min_size):
    """Ratings and predictions of the faces in kept groups, their integer codes, the groups."""
    t, p, g, attributes, kept = _inputs(truth, pred, groups, attributes, min_size)
    rows_in = np.flatnonzero(pd.Series(g).isin(kept).to_numpy())
    codes = np.array([kept.index(v) for v in g[rows_in]], dtype=int)
    return t[rows_in], p[rows_in], codes, attributes, kept


def group_gaps(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
               n_boot: int = 1000, n_permutations: int = 1000, level: float = 0.95,
               min_size: int = 10, alpha: float = 0.05, seed: int = 0,
               tested: Sequence[str] = ("r", "mae")) -> pd.DataFrame:
    """Per attribute: the gap between the best and the worst group, its interval and tests.

    For *r* the gap is ``r(best) - r(worst)`` and for MAE ``MAE(worst) - MAE(best)`` (both >= 0),
    with best and worst chosen on the data; the interval comes from bootstrapping the faces within
    each of the two groups (``n_boot``, ``level``) and is biased upward by that choice. The tests
    compare all kept groups, so the choice is no selection: ``r_p`` is
    :func:`facexai.group_tests.correlation_homogeneity`'s, ``mae_p`` the ANOVA of the absolute
    errors (:func:`facexai.group_tests.anova_p`). ``r_p_range`` is the permutation p-value of the
    range of r over groups (``n_permutations`` shuffles of the labels) and ``r_gap_chance`` the
    95th percentile of that range under the shuffles: the gap that chance alone gives. ``r_q``,
    ``mae_q`` and ``verdict`` come from :func:`fdr_verdicts` over this one variable's attributes
    and ``tested`` metrics; for several variables, use :func:`compare_groups` (one family).

    Returns
    -------
    pandas.DataFrame
        One row per attribute, columns :data:`GAP_COLUMNS`. Empty (with these columns) when fewer
        than two groups have ``min_size`` faces.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    _check(n_boot, level)
    t, p, codes, attributes, kept = _coded(truth, pred, groups, attributes, min_size)
    if len(kept) < 2:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    r_obs, mae_obs = _group_stats(t, p, codes, len(kept))
    rng = np.random.default_rng(seed)
    r_null = _range_null(t, p, codes, len(kept), n_permutations, rng)
    boots = [m[stats.bootstrap_indices(len(m), n_boot, rng)]
             for m in (np.flatnonzero(codes == c) for c in range(len(kept)))]
    out = pd.DataFrame([{"attribute": a, **_gap_row(k, t, p, boots, kept, r_obs, mae_obs, level)}
                        for k, a in enumerate(attributes)])
    sizes = np.bincount(codes)
    big = sizes > 3                     # Fisher's z needs more than 3 faces per group
    out["r_p"] = (group_tests.correlation_homogeneity(r_obs[big], sizes[big])[1]
                  if big.sum() >= 2 else np.nan)
    out["r_p_range"] = stats.permutation_p(out["r_gap"].to_numpy(float), r_null)
    out["r_gap_chance"] = np.nanquantile(r_null, 0.95, axis=0)
    out["mae_p"] = group_tests.anova_p(np.abs(p - t), codes, len(kept))
    return fdr_verdicts(out, alpha=alpha, tested=tested)[0][list(GAP_COLUMNS)]


def signed_errors(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
                  min_size: int = 10) -> pd.DataFrame:
    """Calibration by group: per attribute and kept group, the mean signed error (prediction -
    rating), the group's mean rating offset (its mean rating minus all kept faces' mean), the
    offset of its mean error from the other faces' (``error_offset``) and Welch's t test of that
    offset (:func:`facexai.group_tests.welch_vs_rest`; ``t``, two-sided ``p``). A model that
    shrinks towards the mean gives a negative ``error_offset`` to a group with a positive
    ``rating_offset``. With two groups the second group's test is the first's (``mirror``: not
    counted again in the family). Columns :data:`SIGNED_COLUMNS` (``q`` and ``verdict`` empty
    until :func:`fdr_verdicts`); empty when fewer than two groups have ``min_size`` faces."""
    t, p, codes, attributes, kept = _coded(truth, pred, groups, attributes, min_size)
    if len(kept) < 2:
        return pd.DataFrame(columns=list(SIGNED_COLUMNS))
    err = p - t
    tstat, pval = group_tests.welch_vs_rest(err, codes, len(kept))
    rows = []
    for c, group in enumerate(kept):
        m = codes == c
        for k, a in enumerate(attributes):
            rows.append({"attribute": a, "group": group, "n": int(m.sum()),
                         "mean_error": float(err[m, k].mean()),
                         "rating_offset": float(t[m, k].mean() - t[:, k].mean()),
                         "error_offset": float(err[m, k].mean() - err[~m, k].mean()),
                         "t": float(tstat[c, k]), "p": float(pval[c, k]), "q": np.nan,
                         "mirror": len(kept) == 2 and c == 1, "verdict": ""})
    return pd.DataFrame(rows)[list(SIGNED_COLUMNS)]


def fdr_verdicts(gaps: pd.DataFrame, signed: pd.DataFrame | None = None, *, alpha: float = 0.05,
                 tested: Sequence[str] = _METRICS) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Benjamini-Hochberg q-values over one family: every row of ``gaps`` for each metric of
    ``tested`` among ``"r"`` and ``"mae"``, and, if ``"signed"`` is tested, every row of
    ``signed`` (:func:`signed_errors`), all together.

    Returns copies ``(gaps, signed)``: ``<metric>_q`` (NaN for a metric not tested), ``signed_q``
    (the smallest q of the row's groups, matched on ``variable`` and ``attribute``) and
    ``verdict``: ``"gap"`` when any q of the row is below ``alpha``, else ``"no gap"``; in
    ``signed``, ``q`` and ``verdict`` (``"over-rated"``, ``"under-rated"`` or ``"calibrated"``).
    """
    tested = tuple(tested)
    if not tested or set(tested) - set(_METRICS):
        raise ValueError(f"tested must be a non-empty subset of {_METRICS}, got {tested}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    out = gaps.copy()
    use_signed = "signed" in tested and signed is not None and len(signed) > 0
    parts = [out[f"{m}_p"].to_numpy(float) for m in ("r", "mae") if m in tested]
    if use_signed:
        own = ~signed["mirror"].astype(bool).to_numpy() if "mirror" in signed else \
            np.ones(len(signed), bool)
        parts.append(signed["p"].to_numpy(float)[own])
    q = stats.benjamini_hochberg(np.concatenate(parts)) if parts else np.array([])
    start = 0
    for m in ("r", "mae"):
        out[f"{m}_q"] = np.nan
        if m in tested:
            out[f"{m}_q"] = q[start:start + len(out)]
            start += len(out)
    out["signed_q"] = np.nan
    signed = None if signed is None else signed.copy()
    if use_signed:
        signed["q"] = np.nan
        signed.loc[own, "q"] = q[start:]
        keys = [c for c in ("variable", "attribute") if c in signed.columns]
        partner = signed.groupby(keys)["q"].transform("min")     # a mirror's one partner
        signed.loc[~own, "q"] = partner[~own]
        signed["verdict"] = np.where(signed["q"] < alpha, np.where(
            signed["error_offset"] > 0, "over-rated", "under-rated"), "calibrated")
        keys = [c for c in ("variable", "attribute") if c in out.columns and c in signed.columns]
        best = signed.groupby(keys)["q"].min().to_dict()
        out["signed_q"] = [best.get(k if len(keys) > 1 else k[0], np.nan)
                           for k in out[keys].itertuples(index=False, name=None)]
    qs = out[["r_q", "mae_q", "signed_q"]].to_numpy(float)
    out["verdict"] = np.where((np.nan_to_num(qs, nan=1.0) < alpha).any(1), "gap", "no gap")
    return out, signed


@dataclass
class GroupComparison:
    """The result of :func:`compare_groups`.

    Attributes
    ----------
    metrics : DataFrame
        :func:`group_metrics` of every variable, with a ``variable`` column.
    gaps : DataFrame
        :func:`group_gaps` of every variable, with a ``variable`` column, q-values from one
        false-discovery family over every test, ``r_detectable`` (the smallest r gap the row's
        test detects with :attr:`power` at :attr:`test_level`) and the verdict: "gap", "no gap",
        or "inconclusive" (no gap found where ``r_detectable`` exceeds :attr:`max_detectable`).
    signed : DataFrame
        :func:`signed_errors` of every variable, with ``variable``, ``q``, ``detectable_shift``
        (the smallest offset of the group's mean error its test detects, in SDs of the ratings)
        and the verdict.
    variables, absent : list of str
        The variables compared (given, and known for some faces), and those unknown for every face.
    counts : DataFrame
        Faces per (variable, group).
    alpha : float
        The false discovery rate of the verdicts.
    family_size : int
        Tests in the one false-discovery family.
    test_level : float
        ``alpha / family_size``: the level a lone true difference must reach under
        Benjamini-Hochberg (its first step), used by the power analysis.
    power : float
    max_detectable : float or None
    """

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    variables: list[str]
    absent: list[str] = field(default_factory=list)
    counts: pd.DataFrame | None = None
    alpha: float = 0.05
    signed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SIGNED_COLUMNS)))
    family_size: int = 0
    test_level: float = float("nan")
    power: float = 0.8
    max_detectable: float | None = None

    @property
    def n_gaps(self) -> int:
        """Rows (variable, attribute) whose verdict is "gap" (r, MAE or a signed error)."""
        return int((self.gaps["verdict"] == "gap").sum())

    @property
    def n_signed_gaps(self) -> int:
        """Group mean signed errors that differ from the other faces' at the FDR level (a
        two-group variable's test counted once)."""
        found = self.signed["verdict"].isin(["over-rated", "under-rated"])
        return int((found & ~self.signed["mirror"].astype(bool)).sum())

    @property
    def min_detectable_gap(self) -> float:
        """Median over the rows of the smallest detectable r gap (NaN when nothing was tested)."""
        v = pd.to_numeric(self.gaps.get("r_detectable", pd.Series(dtype=float)), errors="coerce")
        return float(v.median()) if v.notna().any() else float("nan")

    def per_variable(self) -> pd.DataFrame:
        """Per variable: attributes tested, gaps found, inconclusive rows, the largest r and MAE
        gaps, the median detectable r gap."""
        return self.gaps.groupby("variable").agg(
            attributes=("attribute", "size"), gaps=("verdict", lambda v: int((v == "gap").sum())),
            inconclusive=("verdict", lambda v: int((v == "inconclusive").sum())),
            largest_r_gap=("r_gap", "max"), largest_mae_gap=("mae_gap", "max"),
            detectable_r_gap=("r_detectable", "median"))

    def largest(self, metric: str = "r") -> pd.Series | None:
        """The gap row with the largest ``metric`` gap (``"r"`` or ``"mae"``); None when no gap
        was tested."""
        if metric not in ("r", "mae"):
            raise ValueError(f"metric must be 'r' or 'mae', got {metric!r}")
        if self.gaps.empty:
            return None
        return self.gaps.loc[pd.to_numeric(self.gaps[f"{metric}_gap"]).idxmax()]

    def detectable_shift(self, variable: str, group, attributes=None) -> float:
        """Median smallest detectable offset of ``group``'s mean error (SDs of the ratings) over
        ``attributes`` (default all): the size an injected rater bias needs to be found."""
        s = self.signed[(self.signed["variable"] == variable) & (self.signed["group"] == group)]
        if attributes is not None:
            s = s[s["attribute"].isin(list(attributes))]
        if s.empty:
            raise ValueError(f"group: no signed-error test of {group!r} by {variable!r}")
        return float(s["detectable_shift"].median())


def describe_gap(row: pd.Series, metric: str = "r") -> str:
    """``"<attribute> by <variable> (<best> vs <worst>)"`` for a row of
    :attr:`GroupComparison.gaps`."""
    return (f"{row['attribute']} by {row['variable']} ({row[f'{metric}_best_group']} vs "
            f"{row[f'{metric}_worst_group']})")


def _power_columns(gaps, signed, truth, pred, demographics, min_size, level, power):
    """``r_detectable`` of every gap row and ``detectable_shift`` of every signed row."""
    t, p = pd.DataFrame(truth).reset_index(drop=True), pd.DataFrame(pred).reset_index(drop=True)
    sizes = {v: (c := demographics[v].value_counts())[c >= min_size].to_numpy()
             for v in demographics.columns}
    big = {v: n[n > 3] for v, n in sizes.items()}   # the r test's groups (Fisher's z)
    r_gap = (lambda v, a: group_tests.detectable_r_gap(big[v], r0[a], level, power)
             if len(big[v]) >= 2 else np.nan)
    r0 = {a: float(stats.pearson_along(t[a].to_numpy(float), p[a].to_numpy(float)))
          for a in set(gaps["attribute"]) | set(signed["attribute"])}
    gaps["r_detectable"] = [r_gap(v, a) for v, a in zip(gaps["variable"], gaps["attribute"])]
    sd_err, sd_rating = (p - t).std(ddof=1), t.std(ddof=1)
    signed["detectable_shift"] = [
        group_tests.detectable_shift(n, sizes[v].sum() - n, sd_err[a], level, power) / sd_rating[a]
        for v, a, n in zip(signed["variable"], signed["attribute"], signed["n"])]
    return gaps, signed


def _stack(frames, columns):
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if "variable" not in out:
        out["variable"] = pd.Series(dtype=object)
    return out


def compare_groups(truth: pd.DataFrame, pred: pd.DataFrame, demographics: pd.DataFrame,
                   variables: Sequence[str], *, attributes=None, n_boot: int = 1000,
                   n_permutations: int = 1000, level: float = 0.95, min_size: int = 10,
                   alpha: float = 0.05, seed: int = 0, tested: Sequence[str] = _METRICS,
                   power: float = 0.8, max_detectable: float | None = None) -> GroupComparison:
    """:func:`group_metrics`, :func:`group_gaps` and :func:`signed_errors` for several group
    variables, with one false-discovery family over every variable, attribute and tested metric
    (:func:`fdr_verdicts`) and a power analysis: each row's smallest detectable r gap
    (:func:`facexai.group_tests.detectable_r_gap`) and each group's smallest detectable error
    offset (:func:`facexai.group_tests.detectable_shift`) with probability ``power`` at the level
    ``alpha / family size``. With ``max_detectable``, a row without a gap whose detectable r gap
    exceeds it is "inconclusive".

    ``demographics`` has one row per face (aligned with ``truth`` and ``pred``) and a column per
    variable; a variable that is not a column or is missing for every face is listed in
    :attr:`GroupComparison.absent`. Each variable is resampled and permuted with the same
    ``seed``, so its numbers do not depend on which other variables are compared.
    """
    demographics = pd.DataFrame(demographics).reset_index(drop=True)
    present = [v for v in variables if v in demographics.columns and demographics[v].notna().any()]
    kw = dict(attributes=attributes, min_size=min_size)
    metrics = [group_metrics(truth, pred, demographics[v], n_boot=n_boot, level=level, seed=seed,
                             **kw).assign(variable=v) for v in present]
    gaps = _stack([group_gaps(truth, pred, demographics[v], n_permutations=n_permutations,
                              alpha=alpha, tested=tested, n_boot=n_boot, level=level, seed=seed,
                              **kw).assign(variable=v) for v in present], list(GAP_COLUMNS))
    signed = _stack([signed_errors(truth, pred, demographics[v], **kw).assign(variable=v)
                     for v in present], list(SIGNED_COLUMNS))
    gaps, signed = fdr_verdicts(gaps, signed, alpha=alpha, tested=tested)
    family = sum(int(np.isfinite(pd.to_numeric(gaps[f"{m}_p"], errors="coerce")).sum())
                 for m in ("r", "mae") if m in tested)
    own = ~signed["mirror"].astype(bool) if len(signed) else signed["p"].notna()
    family += int(np.isfinite(pd.to_numeric(signed["p"][own], errors="coerce")).sum()) \
        if "signed" in tested else 0
    test_level = alpha / family if family else float("nan")
    gaps["r_detectable"], signed["detectable_shift"] = np.nan, np.nan
    if family:
        gaps, signed = _power_columns(gaps, signed, truth, pred, demographics[present], min_size,
                                      test_level, power)
    if max_detectable is not None:
        low = (gaps["verdict"] == "no gap") & ~(gaps["r_detectable"] <= max_detectable)
        gaps.loc[low, "verdict"] = "inconclusive"
    counts = (pd.concat({v: demographics[v].value_counts(dropna=True) for v in present},
                        names=["variable", "group"]).rename("faces").to_frame()
              if present else pd.DataFrame(columns=["faces"]))
    cols = list(GAP_COLUMNS)
    return GroupComparison(
        metrics=pd.concat(metrics, ignore_index=True) if metrics else pd.DataFrame(),
        gaps=gaps[["variable", *cols[:-1], "r_detectable", cols[-1]]],
        signed=signed[["variable", *SIGNED_COLUMNS[:-1], "detectable_shift", "verdict"]],
        variables=present, absent=[v for v in variables if v not in present], counts=counts,
        alpha=alpha, family_size=family, test_level=test_level, power=power,
        max_detectable=max_detectable)
