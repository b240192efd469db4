"""How feature-rich a network's representation is, measured with intervals.

"Model A is more feature-rich than model B" can mean three measurable things, one function each:

* :func:`participation_ratio` - how many directions the features of a set of faces spread over
  (the effective dimensionality ``(Σλ)² / Σλ²`` of their covariance), with a percentile bootstrap
  over faces (:func:`bootstrap_ratio`); :func:`leading_shares`, the spectrum it summarises;
* :func:`factor_probe` - which known generator factors (SynthFace's, or any table of per-face
  variables) a linear read-out of the features recovers on held-out faces (ridge, test R²);
* :func:`relevance_spread` - over how many face regions an explanation spreads, per face: the
  exponential of the Shannon entropy of its regional relevance, as a share of the regions.

Two networks are compared on the same faces with :func:`ratio_comparison` (paired intervals over
faces and over training seeds). A statistic measured once per training seed is summarised with
:func:`seed_summary` (the mean and Student-t interval of :func:`facexai.stats.seed_interval`).
:func:`rank_association` asks whether one per-unit quantity follows another (Spearman rho with a
permutation p that can move dependent units, such as antonym pairs, together). Nothing here knows
a paper: features are any ``(faces, units)`` array (a layer's activations, flattened), factors any
DataFrame.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["bootstrap_ratio", "factor_probe", "leading_shares", "participation_ratio",
           "rank_association", "ratio_comparison", "relevance_spread", "seed_summary"]


def _one_blas_thread():
    """One BLAS thread for the small matrix products here: on a busy machine, threads that
    spin-wait for each other made a 128 x 128 eigendecomposition 100 times slower (measured)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _features(features, name: str = "features") -> np.ndarray:
    """``features`` as a finite float array (N >= 2, D >= 1), or a ValueError naming it."""
    x = np.asarray(features, float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be (samples >= 2, columns >= 1), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has {int((~np.isfinite(x)).sum())} NaN or infinite values")
    return x


# -- effective dimensionality -------------------------------------------------------------------

def participation_ratio(features) -> float:
    """Effective dimensionality of ``features``: ``(Σλ)² / Σλ²`` over the covariance eigenvalues.

    Parameters
    ----------
    features : array (N, D)
        One row per face (a layer's activations, flattened); centred here. Units are used as they
        are, so high-variance units weigh more; pass :func:`facexai.stats.standardize` of them for
        the dimensionality of the correlation structure.

    Returns
    -------
    float
        Between 1 (one direction) and ``min(N - 1, D)`` (isotropic in every direction the faces
        span); ``k`` for ``k`` equal-variance directions. The same number as
        :func:`facexai.stats.participation_ratio` (a test checks it), computed as
        ``tr(S)² / ||S||²_F`` from the smaller of the ``(N, N)`` and ``(D, D)`` Gram matrices
        instead of a ``(D, D)`` eigendecomposition, so layers of thousands of units stay cheap.

    Raises
    ------
    ValueError
        When ``features`` is not 2-D with >= 2 rows, holds NaN or infinity, or is constant over
        the faces (every eigenvalue is 0: the ratio is undefined).
    """
    x = _features(features)
    if not np.ptp(x, axis=0).any():
        raise ValueError("features are the same on every face (all covariance eigenvalues are 0): "
                         "the participation ratio is undefined")
    return float(_resampled_ratios(x, np.arange(len(x))[None])[0])


def leading_shares(features, k: int = 5) -> np.ndarray:
    """The ``k`` largest covariance eigenvalues of ``features`` (N, D) as shares of their sum,
    largest first (zeros beyond the rank): the spectrum :func:`participation_ratio` summarises."""
    x = _features(features)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    x = x - x.mean(0)
    with _one_blas_thread():
        s = np.linalg.svd(x, compute_uv=False) ** 2
    if not s.sum() > 0:
        raise ValueError("features are the same on every face: no spectrum")
    return np.pad(s / s.sum(), (0, max(0, k - len(s))))[:k]


def _resampled_ratios(x: np.ndarray, resamples: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The participation ratio of ``x[rows]`` for every row of ``resamples``, without an
    eigendecomposition and without a loop over resamples.

    With ``w`` the count of each face in a resample (``n = Σw``), ``m = Σ w_i x_i / n`` and
    ``A = Σ w_i x_i x_iᵀ``, the scatter is ``S = A - n m mᵀ``, so ``tr S = Σ w_i |x_i|² - n|m|²``
    and ``||S||²_F = ||A||²_F - 2n Σ w_i (x_i·m)² + n²|m|⁴``; ``||A||²_F = wᵀ (G∘G) w`` from the
    ``(N, N)`` Gram matrix ``G`` for N < D² (O(N²) per resample), else from the ``(D, D)``
    matrices ``A`` (O(N D²) each). Rows are centred first, so the differences lose no precision.
    """
    n, d = x.shape
    x = x - x.mean(0)
    sq = (x * x).sum(1)
    tiny, out = 1e-12 * max(float(sq.mean()), np.finfo(float).tiny), np.empty(len(resamples))
    with _one_blas_thread():
        squared_gram = (x @ x.T) ** 2 if n < d * d else None
        for start in range(0, len(resamples), chunk):
            rows = np.asarray(resamples[start:start + chunk])
            c = len(rows)
            w = np.bincount((rows + n * np.arange(c)[:, None]).ravel(),
                            minlength=c * n).reshape(c, n).astype(float)
            total = w.sum(1)
            m = (w @ x) / total[:, None]
            m2 = (m * m).sum(1)
            trace = w @ sq - total * m2
            mam = (w * (x @ m.T).T ** 2).sum(1)
            if squared_gram is not None:
                frob_a = ((w @ squared_gram) * w).sum(1)
            else:
                a = np.einsum("bn,ni,nj->bij", w, x, x, optimize=True)
                frob_a = (a * a).sum((1, 2))
            frob = frob_a - 2 * total * mam + total ** 2 * m2 ** 2
            ok = (trace > tiny * total) & (frob > 0)
            out[start:start + c] = np.where(ok, trace ** 2 / np.where(ok, frob, 1.0), np.nan)
    return out


def _check_boot(n_boot, alpha) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not isinstance(alpha, (int, float, np.number)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def bootstrap_ratio(features, n_boot: int = 1000, seed: int | None = 0,
                    alpha: float = 0.05) -> dict[str, float]:
    """:func:`participation_ratio` with a percentile bootstrap interval over faces (rows).

    Parameters
    ----------
    features : array (N, D)
        As for :func:`participation_ratio`.
    n_boot : int
        Resamples of the N faces, drawn with replacement (:func:`facexai.stats.bootstrap_indices`).
    seed : int or None
        Seed of the resampling.
    alpha : float
        The interval covers ``1 - alpha`` (:func:`facexai.stats.percentile_interval`).

    Returns
    -------
    dict
        ``estimate`` (the ratio of all faces), ``low``, ``high``.

    Notes
    -----
    A resample holds only about 63 % of the distinct faces (the rest are repeats), and fewer
    distinct faces give a lower ratio, so the resampled ratios sit below the estimate. When the
    ratio is small against N (fast-decaying spectra) the shift is small; when it is not
    (near-isotropic features, few faces) the whole interval can lie below the estimate (a test
    shows it for a ratio of 40 on 200 faces). Compare networks on the same faces and the same N.
    """
    x = _features(features)
    estimate = participation_ratio(x)
    _check_boot(n_boot, alpha)
    rows = stats.bootstrap_indices(len(x), int(n_boot), np.random.default_rng(seed))
    samples = _resampled_ratios(x, rows)
    low, high = stats.percentile_interval(samples, level=1 - alpha)
    return {"estimate": estimate, "low": float(low), "high": float(high)}


def ratio_comparison(a, b, n_boot: int = 1000, seed: int | None = 0, alpha: float = 0.05,
                     seeds: Sequence | None = None) -> pd.DataFrame:
    """The participation ratios of two networks on the same faces, and their difference, with
    intervals over faces and over training seeds.

    Parameters
    ----------
    a, b : sequences of arrays (N, D_a) and (N, D_b)
        One per training seed (paired by position), each holding the same N faces in order.
    n_boot, seed, alpha
        As for :func:`bootstrap_ratio`; one set of resampled faces serves every seed and both
        networks, so each difference is paired.
    seeds : sequence, optional
        Labels of the seeds (default 0, 1, ...).

    Returns
    -------
    DataFrame
        Index ``(quantity, seed)``: quantity ``"a"``, ``"b"``, ``"a - b"``; seed each label and
        ``"mean"``. ``estimate``: the ratio of all N faces (``"mean"``: mean over seeds); ``low``,
        ``high``: per seed the percentile bootstrap over faces, for ``"mean"`` a two-level one
        (each resample draws seeds with replacement, then faces, and averages the drawn seeds'
        ratios); ``seed_low``, ``seed_high``: for ``"mean"``, the Student-t interval over seeds
        (:func:`seed_summary`; NaN with one seed).
    """
    if any(isinstance(v, np.ndarray) or not len(v) for v in (a, b)):
        raise ValueError("a and b must be sequences of (faces, units) arrays, one per seed")
    fa, fb = [_features(x, "a") for x in a], [_features(x, "b") for x in b]
    n, k = len(fa[0]), len(fa)
    if len(fb) != k or any(len(x) != n for x in fa + fb):
        raise ValueError(f"a and b must hold the same number of seeds and faces, got "
                         f"{[len(x) for x in fa]} and {[len(x) for x in fb]}")
    labels = list(range(k)) if seeds is None else list(seeds)
    if len(labels) != k:
        raise ValueError(f"seeds names {len(labels)} seeds for {k} arrays")
    _check_boot(n_boot, alpha)
    rng = np.random.default_rng(seed)
    faces, picks = stats.bootstrap_indices(n, int(n_boot), rng), rng.integers(0, k, (n_boot, k))
    est = {q: np.array([participation_ratio(x) for x in f]) for q, f in (("a", fa), ("b", fb))}
    boot = {q: np.stack([_resampled_ratios(x, faces) for x in f]) for q, f in (("a", fa),
                                                                             ("b", fb))}
    est["a - b"], boot["a - b"] = est["a"] - est["b"], boot["a"] - boot["b"]
    level, rows = 1 - alpha, []
    for q in est:
        for s, label in enumerate(labels):
            lo, hi = stats.percentile_interval(boot[q][s], level)
            rows.append((q, label, est[q][s], float(lo), float(hi), np.nan, np.nan))
        lo, hi = stats.percentile_interval(boot[q][picks, np.arange(n_boot)[:, None]].mean(1),
                                           level)
        _, s_lo, s_hi = stats.seed_interval(est[q], level)
        rows.append((q, "mean", float(est[q].mean()), float(lo), float(hi), s_lo, s_hi))
    table = pd.DataFrame(rows, columns=["quantity", "seed", "estimate", "low", "high",
                                        "seed_low", "seed_high"])
    return table.set_index(["quantity", "seed"])


# -- linear probes of known factors -------------------------------------------------------------

def _rows(name: str, rows, n: int) -> np.ndarray:
    """Row positions from integer positions or a boolean mask of length ``n``."""
    r = np.asarray(rows)
    if r.dtype == bool:
        if r.shape != (n,):
            raise ValueError(f"{name} as a boolean mask must have one value per row ({n}), got "
                             f"shape {r.shape}")
        return np.flatnonzero(r)
    if r.ndim != 1 or (r.size and not np.issubdtype(r.dtype, np.integer)):
        raise ValueError(f"{name} must be integer row positions or a boolean mask, got "
                         f"{r.dtype} of shape {r.shape}")
    if r.size and (r.min() < 0 or r.max() >= n):
        raise ValueError(f"{name} has row positions outside 0..{n - 1}")
    if len(np.unique(r)) != len(r):
        raise ValueError(f"{name} repeats row positions")
    return r.astype(np.intp)


def _numeric_factor(name, column: pd.Series) -> np.ndarray:
    """A factor as floats: numbers as they are, booleans and two-level categories as 0/1."""
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(float)
    if pd.api.types.is_numeric_dtype(column):
        y = column.to_numpy(float)
    else:
        values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) \
            else sorted(column.dropna().unique())
        present = [v for v in values if (column == v).any()]
        if len(present) > 2:
            raise ValueError(f"factor {name!r} has {len(present)} categories; pass one 0/1 column "
                             "per category (pandas.get_dummies)")
        y = np.where(column.isna(), np.nan, (column == present[-1]).to_numpy(float))
    if not np.isfinite(y).all():
        raise ValueError(f"factor {name!r} has missing or infinite values")
    return y


def _check_probe(x, factors, train, test, alphas, threshold):
    if not isinstance(factors, pd.DataFrame) or len(factors) != len(x):
        got = f"{len(factors)} rows" if isinstance(factors, pd.DataFrame) else type(factors).__name__
        raise ValueError(f"factors must be a DataFrame with one row per row of features "
                         f"({len(x)}), got {got}")
    tr, te = _rows("train", train, len(x)), _rows("test", test, len(x))
    if len(tr) < 10:
        raise ValueError(f"train needs >= 10 rows for 5-fold cross-validation, got {len(tr)}")
    if len(te) < 2:
        raise ValueError(f"test needs >= 2 rows for an R², got {len(te)}")
    if np.intersect1d(tr, te).size:
        raise ValueError(f"test shares {np.intersect1d(tr, te).size} rows with train")
    a = np.asarray(alphas, float).ravel()
    if a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise ValueError(f"alphas must be positive finite numbers, got {alphas!r}")
    if not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return tr, te, a


def factor_probe(features, factors: pd.DataFrame, train, test, *,
                 alphas: Sequence[float] = (0.1, 1, 10, 100, 1000),
                 threshold: float = 0.5) -> pd.DataFrame:
    """Which factors a linear read-out of ``features`` recovers on held-out faces.

    Per column of ``factors``: the features are standardised with the training rows' means and
    standard deviations (a unit constant there is only centred), a ridge regression with an
    intercept is fitted on the training rows with its penalty chosen among ``alphas`` by 5-fold
    cross-validation on them (sklearn's ``KFold``, shuffled with a fixed seed; the mean R² over
    the folds, the first penalty on ties: sklearn ``RidgeCV``'s choice with these folds, which a
    test checks), and scored by R² on the test rows. Every factor and penalty is solved at once
    from one eigendecomposition per fold, so many factors cost about as much as one.

    Parameters
    ----------
    features : array (N, D)
        One row per face.
    factors : DataFrame, N rows
        The generator's factors, one column each, in the rows' order (the index is not used).
        Numbers are used as they are; booleans, and categories with two levels, become 0/1 (the
        later level, in category order or sorted, is 1), so their R² is that of a linear
        probability model. More levels are an error: pass one 0/1 column per level.
    train, test : integer row positions or boolean masks of length N
        Disjoint; ``train`` needs >= 10 rows, ``test`` >= 2.
    alphas : sequence of float
        Candidate ridge penalties (on standardised features).
    threshold : float
        The test R² from which a factor counts as recovered.

    Returns
    -------
    DataFrame
        One row per factor that varies on the training rows: ``factor``, ``r2`` (test R²; NaN when
        the factor is constant on the test rows), ``recovered`` (``r2 >= threshold``) and
        ``alpha`` (the penalty chosen). ``.attrs["skipped"]`` lists the factors constant on the
        training rows, which no probe can learn.
    """
    x = _features(features)
    tr, te, a = _check_probe(x, factors, train, test, alphas, threshold)
    with _one_blas_thread():
        return _probe(x, factors, tr, te, a, threshold)


def _probe(x, factors, tr, te, a, threshold) -> pd.DataFrame:
    """:func:`factor_probe` on checked inputs."""
    from sklearn.model_selection import KFold

    mean, sd = x[tr].mean(0), x[tr].std(0)
    z = (x - mean) / np.where(sd > 0, sd, 1.0)
    ys = {name: _numeric_factor(name, factors[name]) for name in factors.columns}
    skipped = [name for name, y in ys.items() if not np.ptp(y[tr])]
    names = [name for name in ys if name not in skipped]
    y = np.stack([ys[name] for name in names], 1) if names else np.empty((len(x), 0))
    scores = np.zeros((len(a), len(names)))
    for fit, held in KFold(5, shuffle=True, random_state=0).split(tr):
        predict = _ridge_fits(z[tr[fit]], y[tr[fit]], a)
        scores += _r2(y[tr[held]], predict(z[tr[held]]))
    best = scores.argmax(0)                                 # the first of tied penalties
    predicted = _ridge_fits(z[tr], y[tr], a)(z[te])[best, :, np.arange(len(names))].T
    r2 = _r2(y[te], predicted)
    r2 = np.where(np.ptp(y[te], axis=0) > 0, r2, np.nan) if names else r2
    table = pd.DataFrame({"factor": names, "r2": r2, "recovered": r2 >= threshold,
                          "alpha": a[best]}, columns=["factor", "r2", "recovered", "alpha"])
    table.attrs["skipped"] = skipped
    return table


def _ridge_fits(x: np.ndarray, y: np.ndarray, alphas: np.ndarray):
    """Ridge regressions with an intercept of every column of ``y`` on ``x``, for every penalty,
    from one eigendecomposition of the centred scatter: ``predict(x_new) -> (alphas, n, columns)``.
    """
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    lam, v = np.linalg.eigh(xc.T @ xc)
    proj = v.T @ (xc.T @ (y - my))
    coefs = np.stack([v @ (proj / (lam.clip(min=0) + alpha)[:, None]) for alpha in alphas])
    return lambda new: np.einsum("nd,adf->anf", new - mx, coefs) + my


def _r2(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R² of each column of ``y`` (n, F) for predictions (..., n, F), as sklearn's ``r2_score``
    (a constant column: 1 if predicted exactly, else 0)."""
    res = ((y - predicted) ** 2).sum(-2)
    tot = ((y - y.mean(0)) ** 2).sum(0)
    return np.where(tot > 0, 1 - res / np.where(tot > 0, tot, 1.0), np.where(res == 0, 1.0, 0.0))


# -- spread of explanations over face regions ---------------------------------------------------

def relevance_spread(region_relevance) -> np.ndarray:
    """The effective number of face regions an explanation uses, per face, as a share of them.

    Each row is normalised to sum 1 (``p``) and the effective number of regions is
    ``exp(-Σ p log p)`` (the exponential of the Shannon entropy: ``k`` for relevance spread
    evenly over ``k`` regions); divided by the number of regions R it lies in ``[1/R, 1]``.

    Parameters
    ----------
    region_relevance : array or DataFrame (N, R)
        Non-negative relevance per face (rows) and region (columns). Use the positive part of the
        pixel relevance summed per region - the shares of :func:`facexai.scoring.region_shares`,
        whose columns can be cut to :data:`facexai.regions.FACE_REGIONS` - so that evidence
        against the score in a region neither cancels nor counts as evidence for it.

    Returns
    -------
    ndarray (N,)
        The share per face. NaN for a row summing to 0 (an empty map) or entirely NaN (a face
        :func:`~facexai.scoring.region_shares` could not score); they are kept, not dropped, so
        the caller counts them.

    Raises
    ------
    ValueError
        When ``region_relevance`` is not 2-D, has negative values, or NaN / infinity outside
        all-NaN rows.
    """
    r = np.asarray(region_relevance, float)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"region_relevance must be (faces, regions >= 1), got shape {r.shape}")
    unscored = np.isnan(r).all(axis=1)
    if not np.isfinite(r[~unscored]).all():
        raise ValueError("region_relevance has NaN or infinite values outside all-NaN rows")
    r = np.where(unscored[:, None], 0.0, r)
    if (r < 0).any():
        raise ValueError("region_relevance has negative values; pass the positive part of the "
                         "relevance per region (see the docstring)")
    total = r.sum(axis=1)
    p = r / np.where(total > 0, total, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return np.where((total > 0) & ~unscored, np.exp(entropy) / r.shape[1], np.nan)


# -- over training seeds ------------------------------------------------------------------------

def seed_summary(values, level: float = 0.95) -> dict[str, float]:
    """One statistic measured once per training seed as ``estimate``, ``low``, ``high`` (the keys
    of :func:`bootstrap_ratio`): the mean and Student-t interval of
    :func:`facexai.stats.seed_interval` (NaN interval with one seed; NaN values ignored)."""
    v = np.asarray(values, float)
    if v.ndim != 1 or not np.isfinite(v).any():
        raise ValueError(f"values must be one number per seed (1-D, at least one finite), got "
                         f"shape {v.shape}")
    mean, low, high = stats.seed_interval(v, level)
    return {"estimate": mean, "low": low, "high": high}


# -- does one per-unit quantity follow another ---------------------------------------------------

def _block_index(groups, n: int) -> np.ndarray:
    """``(G, k)`` positions of each group's members, in order; every group must have k members."""
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must give one label per unit ({n}), got shape {g.shape}")
    blocks = [np.flatnonzero(g == label) for label in dict.fromkeys(g.tolist())]
    if len({len(b) for b in blocks}) != 1:
        raise ValueError("groups must all have the same number of members (e.g. pairs)")
    return np.stack(blocks)


def rank_association(x, y, n_permutations: int = 1000, seed: int | None = 0,
                     groups=None) -> dict:
    """Spearman rho of ``x`` and ``y`` and a one-sided permutation p-value (rho > 0).

    Parameters
    ----------
    x, y : 1-D arrays, one value per unit (e.g. per attribute)
        Units with a NaN in either are left out (with ``groups``: their whole group).
    n_permutations : int
        Permutations of ``x`` over the units (``y`` fixed); seeded by ``seed``.
    groups : 1-D array of labels, optional
        Dependent units (an attribute and its antonym): a permutation then moves whole groups,
        each member to the same place in another group. Every group needs the same size.

    Returns
    -------
    dict
        ``rho``, ``p`` (:func:`facexai.stats.permutation_p`, counting the observed labelling),
        ``null_mean``, ``null`` (the permutations' rho), ``n`` (units used).
    """
    from scipy.stats import rankdata

    xv, yv = np.asarray(x, float), np.asarray(y, float)
    if xv.ndim != 1 or xv.shape != yv.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {xv.shape} and {yv.shape}")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    ok = np.isfinite(xv) & np.isfinite(yv)
    blocks = _block_index(groups, len(xv)) if groups is not None else np.arange(len(xv))[:, None]
    blocks = blocks[ok[blocks].all(1)]
    if blocks.size < 3:
        raise ValueError(f"x and y need >= 3 units with both values, got {blocks.size}")
    used = blocks.ravel()
    rx, ry = rankdata(xv[used]), rankdata(yv[used])
    rho = float(stats.pearson_along(rx, ry))
    if not np.isfinite(rho):
        raise ValueError("x or y is constant over the units: rho is undefined")
    # position j of the permuted x takes the same member of another group (units used in order)
    local, rng = np.arange(used.size).reshape(blocks.shape), np.random.default_rng(seed)
    perm = np.stack([local[rng.permutation(len(local))].ravel() for _ in range(n_permutations)])
    null = stats.pearson_along(rx[perm], ry[None], axis=1)
    return {"rho": rho, "p": stats.permutation_p(rho, null), "null_mean": float(null.mean()),
            "null": null, "n": int(used.size)}
