"""The study's statistics, one implementation each.

Every paper uses these: Pearson r per column (:func:`pearson_columns`, :func:`pearson_along`),
Spearman's rank correlation (:func:`spearman`), split-half reliability and the noise ceiling of a
rating panel (:func:`split_half_reliability`, :func:`noise_ceiling`), bootstrap intervals
(:func:`bootstrap_indices`, :func:`bootstrap_mean_ci`, :func:`percentile_interval`),
Benjamini–Hochberg q-values (:func:`benjamini_hochberg`), permutation p-values
(:func:`permutation_p`), intervals over training seeds (:func:`seed_interval`, and over seeds and
faces at once, :func:`hierarchical_interval`; the faces an interval needs,
:func:`variance_components`, :func:`faces_for_half_width`), standardised columns
(:func:`standardize`), paired tests over attributes or antonym pairs (:func:`paired_test`,
:func:`pair_means`) and effective dimensionality (:func:`participation_ratio`). Each is tested
against an independent reference (scipy, statsmodels' formula written out, or a hand-computed
case) in ``tests/test_stats.py`` and ``tests/test_stats_paired.py``.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["benjamini_hochberg", "bootstrap_indices", "bootstrap_mean_ci", "hierarchical_interval",
           "noise_ceiling", "paired_test", "pair_means", "participation_ratio", "pearson_along",
           "pearson_columns", "percentile_interval", "permutation_p", "seed_interval",
           "seeds_by_faces", "spearman", "split_half_reliability", "standardize",
           "faces_for_half_width", "variance_components"]


def pearson_along(a, b, axis: int = -1) -> np.ndarray:
    """Pearson r of ``a`` and ``b`` along ``axis`` (other axes broadcast); NaN where either side
    is constant. The one Pearson of the library: :func:`pearson_columns` calls it."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a = a - a.mean(axis, keepdims=True)
    b = b - b.mean(axis, keepdims=True)
    den = np.sqrt((a * a).sum(axis) * (b * b).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (a * b).sum(axis) / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def pearson_columns(predicted, observed, columns: Sequence | None = None) -> pd.Series:
    """Pearson r between each predicted column and the same observed column, across rows.

    Parameters
    ----------
    predicted, observed : DataFrame or array (N, C) or (N,)
        Same shape; when ``predicted`` is a DataFrame, ``observed`` (a DataFrame) is aligned to
        its columns by name.
    columns : sequence, optional
        Names of the columns of arrays (default ``0..C-1``).

    Returns
    -------
    Series
        r per column, named ``"r"``; NaN where either side is constant.
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
        raise ValueError(f"need at least 2 rows, got {p.shape[0]}")
    if columns is None:
        columns = list(range(p.shape[1]))
    return pd.Series(pearson_along(p, o, axis=0), index=list(columns), name="r")


def spearman(a, b) -> float:
    """Spearman rank correlation of two equal-length sequences (pairs with a NaN dropped; NaN when
    fewer than 3 pairs remain)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def split_half_reliability(raters, n_splits: int = 50, seed: int = 0,
                           columns: Sequence | None = None) -> pd.Series:
    """Spearman–Brown corrected split-half reliability of the rater mean, per column.

    For each of ``n_splits`` random permutations of the R rater slots, split them into halves
    (``R // 2`` and the rest), correlate the two half-panel means across images (Pearson) and
    correct to the full panel with ``2 r / (1 + r)``; return the mean over splits. With unequal
    halves the correction slightly underestimates. Missing ratings (NaN: images with fewer raters,
    as on the real database) are left out of their half's mean, and an image whose half has no
    rating drops out of that split's correlation.

    Parameters
    ----------
    raters : array (N, C, R)
        Ratings of N images on C columns by R rater slots.
    n_splits : int
        Random splits averaged.
    seed : int
        Seed of the splits.
    columns : sequence, optional
        Column names (default ``0..C-1``).
    """
    a = np.asarray(raters, dtype=float)
    if a.ndim != 3 or a.shape[2] < 2 or a.shape[0] < 3:
        raise ValueError(f"raters must have shape (N>=3, C, R>=2), got {a.shape}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    n_raters = a.shape[2]
    rng = np.random.default_rng(seed)
    out = np.zeros((n_splits, a.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice" where all missing
        for s in range(n_splits):
            perm = rng.permutation(n_raters)
            h1 = np.nanmean(a[:, :, perm[: n_raters // 2]], axis=2)
            h2 = np.nanmean(a[:, :, perm[n_raters // 2:]], axis=2)
            ok = np.isfinite(h1) & np.isfinite(h2)
            h1, h2 = np.where(ok, h1, np.nan), np.where(ok, h2, np.nan)
            h1, h2 = h1 - np.nanmean(h1, axis=0), h2 - np.nanmean(h2, axis=0)
            r = np.nansum(h1 * h2, 0) / np.sqrt(np.nansum(h1 ** 2, 0) * np.nansum(h2 ** 2, 0))
            r[ok.sum(0) < 3] = np.nan
            out[s] = 2 * r / (1 + r)
        rel = np.nanmean(out, axis=0)
    index = list(columns) if columns is not None else list(range(a.shape[1]))
    if len(index) != a.shape[1]:
        raise ValueError(f"{len(index)} column names for {a.shape[1]} columns")
    return pd.Series(rel, index=index, name="split_half_reliability")


def noise_ceiling(raters, n_splits: int = 50, seed: int = 0,
                  columns: Sequence | None = None) -> pd.Series:
    """Highest Pearson r a predictor can expect against the panel means: sqrt(reliability).

    A perfect model predicts the consensus, which correlates with the observed means by the
    square root of their reliability (negative reliabilities count as 0); compare a model's r
    with this, not with the reliability.
    """
    rel = split_half_reliability(raters, n_splits=n_splits, seed=seed, columns=columns)
    return np.sqrt(rel.clip(lower=0)).rename("noise_ceiling")


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` row indices drawn with replacement."""
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(samples, level: float = 0.95, axis: int = 0) -> tuple:
    """The central ``level`` percentile interval of bootstrap ``samples`` (NaN ignored)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a = (1 - level) / 2
    s = np.asarray(samples, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        return np.nanquantile(s, a, axis=axis), np.nanquantile(s, 1 - a, axis=axis)


def bootstrap_mean_ci(values, n_boot: int = 1000, level: float = 0.95,
                      rng: np.random.Generator | int | None = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN dropped; NaN interval when
    fewer than 2 values remain)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan"), float("nan")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    means = v[bootstrap_indices(len(v), n_boot, rng)].mean(1)
    lo, hi = percentile_interval(means, level)
    return float(lo), float(hi)


def proportion_interval(k, n, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (e.g. a recall over ``n`` faces).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 and ``n`` hits.
    ValueError for ``n < 1``, ``k`` outside ``0..n`` or a level outside (0, 1).
    """
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"a proportion needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg q-values (false discovery rate) of one family of p-values (NaN kept)."""
    p = np.asarray(p_values, float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok):
        order = ok[np.argsort(p[ok], kind="stable")]
        ranked = p[order] * len(ok) / np.arange(1, len(ok) + 1)
        q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def permutation_p(observed, null, *, tol: float = 1e-12) -> np.ndarray | float:
    """One-sided permutation p-value ``(1 + #(null >= observed)) / (1 + n)``.

    ``null`` has the permutations along axis 0; ``observed`` broadcasts against ``null[0]``. The
    ``+1`` counts the observed labelling as one of the permutations, so p is never 0.
    """
    null = np.asarray(null, float)
    obs = np.asarray(observed, float)
    p = (1 + (null >= obs - tol).sum(0)) / (1 + null.shape[0])
    return float(p) if np.ndim(p) == 0 else p


# -- intervals over training seeds, paired comparisons, dimensionality --------------------------

def seed_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of a statistic measured once per training seed (axis 0).

    With the three seeds of the default build the interval is wide (t = 4.30 for 95 %): it is the
    honest width of what three trainings can tell. One finite value gives a NaN interval.
    Returns ``(mean, lo, hi)`` (arrays when ``values`` has more than one dimension).
    """
    from scipy.stats import t as student

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = np.asarray(values, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.isfinite(v).sum(0)
        mean = np.nanmean(v, 0)
        sd = np.nanstd(v, 0, ddof=1) if v.shape[0] > 1 else np.full_like(mean, np.nan)
        half = student.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    if np.ndim(mean) == 0:
        return float(mean), float(mean - half), float(mean + half)
    return mean, mean - half, mean + half


def seeds_by_faces(table: pd.DataFrame, value: str = "value", *,
                   dropna: bool = False) -> np.ndarray:
    """The ``value`` column of a long table (columns ``seed``, ``face``) as the seeds x faces
    array :func:`hierarchical_interval` takes: seeds and faces sorted, repeated values averaged,
    NaN where a (seed, face) has no value. ``dropna``: leave out missing values first, so a seed
    or face with none has no row or column. The same as ``table.pivot_table(index="seed",
    columns="face", values=value, aggfunc="mean", dropna=dropna)``, without pandas' cost per
    call (the summaries build thousands)."""
    if dropna:
        table = table[table[value].notna()]
    seeds, si = np.unique(table["seed"].to_numpy(), return_inverse=True)
    faces, fi = np.unique(table["face"].to_numpy(), return_inverse=True)
    x = table[value].to_numpy(float)
    ok = ~np.isnan(x)
    total, count = np.zeros((len(seeds), len(faces))), np.zeros((len(seeds), len(faces)))
    np.add.at(total, (si[ok], fi[ok]), x[ok])
    np.add.at(count, (si[ok], fi[ok]), 1)
    with np.errstate(invalid="ignore"):
        return total / count


#: Values of the resamples :func:`hierarchical_interval` holds at once (about 32 MB).
_BOOT_CELLS = 4_000_000


def hierarchical_interval(values, n_boot: int = 1000, level: float = 0.95,
                          rng: np.random.Generator | int | None = 0) -> tuple[float, float, float]:
    """Mean and two-level percentile bootstrap interval of ``values`` (seeds x faces): each
    resample draws seeds with replacement, then faces with replacement within the resample, so the
    interval covers both the training seed and the choice of faces (NaN ignored).

    Returns ``(mean, lo, hi)``; with one seed it is the bootstrap over faces.
    """
    v = np.asarray(values, float)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"values must be (seeds, faces) with >= 2 faces, got shape {v.shape}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    s, n = v.shape
    seeds = rng.integers(0, s, size=(n_boot, s)) if s > 1 else np.zeros((n_boot, 1), int)
    faces = rng.integers(0, n, size=(n_boot, n))
    means = np.empty(n_boot)
    step = max(1, _BOOT_CELLS // (s * n))     # resamples drawn at once: memory stays bounded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for a in range(0, n_boot, step):
            # resample b is v[seeds[b]][:, faces[b]]: (block, s, n) in one indexing
            draws = v[seeds[a:a + step, :, None], faces[a:a + step, None, :]]
            means[a:a + step] = np.nanmean(draws.reshape(len(draws), -1), axis=1)
        lo, hi = percentile_interval(means, level)
        return float(np.nanmean(v)), float(lo), float(hi)


def variance_components(values) -> dict[str, float]:
    """The two parts of the variance of a seeds x faces array's mean (NaN ignored), by the method
    of moments of a one-way random-effects model: ``within`` (between faces of a seed, pooled),
    ``between`` (between the seeds' true means: the variance of the seed means less what their
    faces explain, floored at 0; 0 with one seed), ``seeds`` and ``faces`` (defined values per
    seed, on average). The mean's variance is ``between / seeds + within / (seeds * faces)``."""
    v = np.asarray(values, float)
    if v.ndim == 1:
        v = v[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.isfinite(v).sum(1)
        keep = n >= 2
        if not keep.any():
            return {"seeds": int((n > 0).sum()), "faces": float(n.mean()) if len(n) else 0.0,
                    "within": np.nan, "between": np.nan}
        v, n = v[keep], n[keep]
        within = float(np.sum(np.nanvar(v, 1, ddof=1) * (n - 1)) / np.sum(n - 1))
        faces = float(n.mean())
        between = 0.0 if len(v) < 2 else max(0.0, float(np.var(np.nanmean(v, 1), ddof=1))
                                               - within * float(np.mean(1.0 / n)))
    return {"seeds": len(v), "faces": faces, "within": within, "between": between}


def faces_for_half_width(half: float, parts: dict, goal: float) -> float:
    """Faces per seed that would narrow an interval of half-width ``half`` (measured with the
    ``parts`` of :func:`variance_components`, at their ``faces``) to ``goal``: the width scaled
    like the standard deviation of one seed's mean, ``sqrt(between + within / faces)``. That is
    how the tails of :func:`hierarchical_interval` behave at a strict level with few seeds: with
    three, a ninth of the resamples draw one seed three times, far more than a Bonferroni tail
    holds. ``inf`` when the seeds' part alone is wider than ``goal`` (more seeds are needed, not
    more faces); the measured faces when the interval is already narrow enough."""
    n, w, b = parts["faces"], parts["within"], parts["between"]
    if not (np.isfinite(half) and np.isfinite(w) and np.isfinite(b)) or half <= 0 or goal <= 0:
        return np.nan
    if half <= goal:
        return float(n)
    room = (goal / half) ** 2 * (b + w / n) - b
    return float(w / room) if room > 0 and w > 0 else np.inf


def paired_test(a, b) -> dict[str, float]:
    """Paired comparison of ``a`` and ``b`` (one value per attribute, antonym pair, ...): the mean
    difference ``a - b``, the number of units where ``a`` wins, the paired t-test and the Wilcoxon
    signed-rank test (two-sided p; pairs with a missing value dropped)."""
    from scipy.stats import ttest_rel, wilcoxon

    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D of the same length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    d = x - y
    out = {"n": int(len(d)), "mean_difference": float(d.mean()) if len(d) else float("nan"),
           "wins": int((d > 0).sum()), "t": float("nan"), "p_t": float("nan"),
           "p_wilcoxon": float("nan")}
    if len(d) >= 2 and np.ptp(d) > 0:
        t = ttest_rel(x, y)
        out.update(t=float(t.statistic), p_t=float(t.pvalue))
    if len(d) >= 2 and np.any(d != 0):
        out["p_wilcoxon"] = float(wilcoxon(x, y).pvalue)
    return out


def pair_means(values, pairs: Sequence[tuple[str, str]]) -> pd.Series:
    """One value per bipolar pair: the mean of an attribute's value and its antonym's
    (``values`` indexed by attribute). The 40 attributes of the 10k database are 20 such pairs,
    about 20 independent values, so tests over attributes should be repeated over pairs."""
    s = pd.Series(values, dtype=float)
    missing = [a for p in pairs for a in p if a not in s.index]
    if missing:
        raise ValueError(f"no value for {missing[0]!r} (pairs need both poles)")
    return pd.Series({f"{a}/{b}": (s[a] + s[b]) / 2 for a, b in pairs}, dtype=float)


def standardize(features) -> np.ndarray:
    """Every column scaled to zero mean and unit (population) variance; constant columns are only
    centred."""
    x = np.asarray(features, float)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def participation_ratio(features) -> float:
    """Effective dimensionality of ``features`` (rows: samples): ``(Σλ)² / Σλ²`` over the
    eigenvalues of their covariance; 1 for one direction, the number of columns for isotropic
    features."""
    x = np.asarray(features, float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be (samples >= 2, columns), got shape {x.shape}")
    lam = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])),
                  0, None)
    total = lam.sum()
    return float(total ** 2 / (lam ** 2).sum()) if total > 0 else float("nan")
