"""Tests of differences between groups of faces, their power, and the data's control variants.

The pieces :mod:`facexai.groups` assembles into one false-discovery family:

* :func:`correlation_homogeneity` - do the groups' Pearson *r* differ? The chi-square test of
  homogeneity of correlations on Fisher's z (Snedecor & Cochran): ``Q = sum (n_i - 3)(z_i - z_w)^2``
  with ``G - 1`` degrees of freedom; for two groups it is the two-sided Fisher z test;
* :func:`anova_p` - one-way F test over groups (used on absolute errors: do the MAEs differ?);
* :func:`welch_vs_rest` - Welch's t test of each group against all other faces (used on signed
  errors: is a group over- or under-rated compared with the others?);
* :func:`detectable_r_gap` and :func:`detectable_shift` - the smallest *r* gap, and the smallest
  shift of a group's mean error, that those tests detect with a given power at a given level, from
  the tests' distributions under the alternative (noncentral chi-square, noncentral t);
* :func:`inject_bias` and :func:`permute_groups` - a positive control (one group's ratings shifted
  by a rater bias) and a negative control (group labels permuted across faces);
  :func:`facexai.group_controls.bias_controls` runs :func:`facexai.groups.compare_groups` on both;
* :func:`gap_over_seeds` - a gap's spread over training seeds (:func:`row_gap_over_seeds`, of a
  gap row);
* a comparison in words: :func:`comparison_text`, :func:`power_text`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["anova_p", "comparison_text",
           "correlation_homogeneity", "detectable_r_gap", "detectable_shift", "gap_over_seeds",
           "inject_bias", "permute_groups", "power_text", "row_gap_over_seeds",
           "welch_vs_rest"]


def _fisher_z(r) -> np.ndarray:
    return np.arctanh(np.clip(np.asarray(r, float), -0.999999, 0.999999))


def correlation_homogeneity(r, n) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square test that the correlations ``r`` ``(G, ...)`` of ``G`` groups of sizes ``n``
    ``(G,)`` are equal: ``(Q, p)`` over the remaining axes (NaN where a group's r is NaN)."""
    from scipy.stats import chi2

    r = np.asarray(r, float)
    w = np.asarray(n, float) - 3
    if r.shape[0] != len(w) or len(w) < 2:
        raise ValueError(f"r must have one row per group (>= 2), got {r.shape} for {len(w)} sizes")
    if (w <= 0).any():
        raise ValueError(f"n must exceed 3 in every group, got {list(n)}")
    w = w.reshape(-1, *([1] * (r.ndim - 1)))
    z = _fisher_z(r)
    zbar = (w * z).sum(0) / w.sum(0)
    q = (w * (z - zbar) ** 2).sum(0)
    return q, chi2.sf(q, len(w) - 1)


def anova_p(values, codes, n_groups: int) -> np.ndarray:
    """One-way ANOVA F test p-value per column of ``values`` ``(N, A)`` over integer group
    ``codes`` ``(N,)`` in ``0 .. n_groups - 1``."""
    from scipy.stats import f_oneway

    v = np.asarray(values, float)
    codes = np.asarray(codes)
    if len(codes) != len(v):
        raise ValueError(f"codes must have one entry per row of values ({len(v)}), got "
                         f"{len(codes)}")
    return np.asarray(f_oneway(*[v[codes == c] for c in range(n_groups)], axis=0).pvalue, float)


def welch_vs_rest(values, codes, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t test of each group's mean against the other faces' mean, per column of
    ``values`` ``(N, A)``: ``(t, p)``, each ``(n_groups, A)`` (two-sided)."""
    from scipy.stats import ttest_ind

    v = np.asarray(values, float)
    codes = np.asarray(codes)
    if len(codes) != len(v):
        raise ValueError(f"codes must have one entry per row of values ({len(v)}), got "
                         f"{len(codes)}")
    t, p = np.empty((n_groups, v.shape[1])), np.empty((n_groups, v.shape[1]))
    for c in range(n_groups):
        res = ttest_ind(v[codes == c], v[codes != c], equal_var=False, axis=0)
        t[c], p[c] = res.statistic, res.pvalue
    return t, p


def _check_level(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not alpha < power < 1:
        raise ValueError(f"power must be in (alpha, 1), got {power}")


def detectable_r_gap(sizes, r0: float, alpha: float, power: float = 0.8) -> float:
    """The smallest gap in Pearson *r* between two groups that :func:`correlation_homogeneity`
    detects at level ``alpha`` with probability ``power``.

    The gap is placed between the two smallest of the groups of ``sizes`` (the hardest pair), at
    ``r0`` plus and minus half of it on Fisher's z scale, the other groups at ``r0``; the power is
    that of the large-sample test (noncentral chi-square with ``G - 1`` degrees of freedom and
    noncentrality ``sum (n_i - 3)(z_i - z_w)^2``). Returns ``tanh(z0 + d/2) - tanh(z0 - d/2)`` for
    the smallest such ``d`` on the z scale (NaN when ``r0`` is not finite).
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2, ncx2

    _check_level(alpha, power)
    n = np.sort(np.asarray(sizes, float))
    if len(n) < 2 or (n <= 3).any():
        raise ValueError(f"sizes must hold >= 2 groups of more than 3 faces, got {list(sizes)}")
    if not np.isfinite(r0):
        return float("nan")
    w = n - 3
    crit = chi2.isf(alpha, len(n) - 1)

    def shortfall(d: float) -> float:
        z = np.zeros(len(n))
        z[:2] = (d / 2, -d / 2)
        lam = float((w * (z - (w * z).sum() / w.sum()) ** 2).sum())
        return ncx2.sf(crit, len(n) - 1, lam) - power

    d = brentq(shortfall, 1e-9, 20.0)
    z0 = float(_fisher_z(r0))
    return float(np.tanh(z0 + d / 2) - np.tanh(z0 - d / 2))


def detectable_shift(n_group: float, n_rest: float, sd: float, alpha: float,
                     power: float = 0.8) -> float:
    """The smallest difference between a group's mean and the other faces' mean that a two-sided
    t test (:func:`welch_vs_rest`) detects at level ``alpha`` with probability ``power``, in the
    units of ``sd`` (the spread of the values within the groups): the shift whose noncentral t
    distribution (``n_group + n_rest - 2`` degrees of freedom, noncentrality
    ``shift / (sd sqrt(1/n_group + 1/n_rest))``) exceeds the test's critical value with that
    probability. For large groups it is ``(z(1 - alpha/2) + z(power)) sd sqrt(1/n_group +
    1/n_rest)``."""
    from scipy.optimize import brentq
    from scipy.stats import nct, norm, t as student

    _check_level(alpha, power)
    if n_group < 2 or n_rest < 2:
        raise ValueError(f"n_group and n_rest must be >= 2, got {n_group}, {n_rest}")
    if not sd >= 0:
        raise ValueError(f"sd must be >= 0, got {sd}")
    df = n_group + n_rest - 2
    crit = student.isf(alpha / 2, df)
    top = 2 * (norm.isf(alpha / 2) + norm.ppf(power)) + 5      # the large-sample value, doubled
    # the far tail's probability is negligible where scipy returns NaN for it
    nc = brentq(lambda d: nct.sf(crit, df, d) + np.nan_to_num(nct.cdf(-crit, df, d)) - power,
                0.0, top)
    return float(nc * sd * np.sqrt(1 / n_group + 1 / n_rest))


def inject_bias(truth: pd.DataFrame, members, attributes, shift: float) -> pd.DataFrame:
    """A positive control: the ratings of the faces ``members`` (boolean, one per row of
    ``truth``) raised by ``shift`` standard deviations (each attribute's SD over all faces) on
    ``attributes``, as raters biased for that group would give them; other cells unchanged."""
    truth = pd.DataFrame(truth)
    m = np.asarray(members, bool)
    if len(m) != len(truth):
        raise ValueError(f"members must have one entry per face ({len(truth)}), got {len(m)}")
    missing = [a for a in attributes if a not in truth.columns]
    if missing:
        raise ValueError(f"attributes: {missing[0]!r} is not a column of truth")
    out = truth.copy()
    cols = list(attributes)
    out.loc[m, cols] = truth.loc[m, cols] + shift * truth[cols].std(ddof=1)
    return out


def permute_groups(demographics: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A negative control: the rows of ``demographics`` permuted across faces (seeded), so every
    variable keeps its groups and their sizes but loses any link with the faces."""
    demographics = pd.DataFrame(demographics)
    order = np.random.default_rng(seed).permutation(len(demographics))
    return demographics.iloc[order].set_axis(demographics.index)


def gap_over_seeds(truth: pd.DataFrame, preds: Sequence[pd.DataFrame], groups, attribute: str,
                   best, worst) -> np.ndarray:
    """``r(best) - r(worst)`` of ``attribute`` for each of ``preds`` (one per training seed): the
    spread over seeds of a gap chosen on their mean."""
    g = np.asarray(groups, dtype=object)
    t = pd.DataFrame(truth)[attribute].to_numpy(float)
    masks = [g == best, g == worst]
    if min(m.sum() for m in masks) < 3:
        raise ValueError(f"best/worst: groups {best!r} and {worst!r} need 3 faces each")
    out = []
    for p in preds:
        y = pd.DataFrame(p)[attribute].to_numpy(float)
        out.append(stats.pearson_along(t[masks[0]], y[masks[0]])
                   - stats.pearson_along(t[masks[1]], y[masks[1]]))
    return np.asarray(out, float)


# -- the bias page's numbers and sentences ----------------------------------------------------------

def row_gap_over_seeds(truth: pd.DataFrame, preds: Sequence[pd.DataFrame],
                       demographics: pd.DataFrame, row: pd.Series | None) -> tuple:
    """:func:`gap_over_seeds` of a gap row (``variable``, ``attribute``, ``r_best_group``,
    ``r_worst_group``; e.g. :meth:`facexai.groups.GroupComparison.largest`) as
    ``(mean, lo, hi)`` over the seeds (:func:`facexai.stats.seed_interval`); NaNs for None."""
    if row is None:
        return (float("nan"),) * 3
    return stats.seed_interval(gap_over_seeds(
        truth, preds, demographics[row["variable"]], row["attribute"], row["r_best_group"],
        row["r_worst_group"]))


def comparison_text(comparison, seconds: float) -> str:
    """The variables compared (and those unknown), the family's size and the time taken, in
    words (``comparison``: a :class:`facexai.groups.GroupComparison`)."""
    c = comparison
    return (f"Group variables found: {', '.join(c.variables) or 'none'}"
            + (f"; not known for this data: {', '.join(c.absent)}" if c.absent else "")
            + f". {c.family_size} tests in one family, computed in {seconds:.1f} s.")


def power_text(comparison, over_seeds: Sequence[float]) -> str:
    """The power analysis in words: the family's level, the median smallest detectable r gap
    against the stated bound, the inconclusive rows, and the largest r gap's ``over_seeds``
    ``(mean, lo, hi)`` (:func:`row_gap_over_seeds`)."""
    c, (mean, lo, hi) = comparison, over_seeds
    return (f"Family of {c.family_size} tests at level {c.test_level:.2g} each: median smallest "
            f"detectable r gap **{c.min_detectable_gap:.2f}** (stated bound "
            f"{c.max_detectable}); {int((c.gaps['verdict'] == 'inconclusive').sum())} of "
            f"{len(c.gaps)} rows are inconclusive. The largest r gap, per seed: mean {mean:.2f}, "
            f"95 % interval over seeds {lo:.2f} to {hi:.2f}.")
