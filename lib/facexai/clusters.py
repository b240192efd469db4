"""Cluster structure judged against a null, and the effective dimensionality of a point cloud.

A picture (t-SNE, UMAP) can show groups that are not there, and a label that is separated in a
space says nothing about whether the space has clusters. Here "clusters" is a test the data can
fail:

* :func:`cluster_index` - the 2-means cluster index of a point cloud, within-cluster over total sum
  of squares (small: two compact groups), computed for many clouds at once;
* :func:`cluster_test` - that index against a **Gaussian null** of the same mean and covariance
  (a seeded parametric bootstrap; the test of SigClust, Liu, Hayes, Nobel & Marron 2008, J. Am.
  Stat. Assoc. 103:1281): a one-sided p-value, small when the cloud is more clustered than any
  Gaussian of its shape. The null's covariance includes the between-cluster spread, so the test is
  conservative; a skewed or heavy-tailed single group can look clustered;
* :func:`pair_sides`, :func:`difference_labels` - two classes of a bipolar pair from the
  **standardised difference**
  ``z(positive pole) - z(negative pole)`` split at 0, or ``None`` ("not testable") when a class has
  fewer than a stated minimum;
* :func:`pair_cluster_tests` - every pair of columns of several sets of predictions (one per
  training seed): :func:`cluster_test` per pair and seed, Benjamini-Hochberg over the testable
  pairs of a seed, and one verdict per pair over the seeds (:func:`combine_seeds`);
* :func:`control_scores` - the control variants: a pair's columns replaced by two real clusters
  (a mixture of two Gaussians) or by one Gaussian of the pair's covariance;
  :func:`controlled_tests` runs the tests on the data and on both, :func:`verdict_counts` counts
  (:func:`named_counts`, by recorded name), :func:`describe` says it in words
  (:func:`summary_text`, with the dimensionality and the label separation);
* :func:`dimensionality` - participation ratio and principal-component variance shares
  (:func:`participation_summary`: over seeds, against the ratings).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["VERDICTS", "ClusterTests", "cluster_index", "cluster_test", "combine_seeds",
           "control_scores", "controlled_tests", "describe", "difference_labels", "dimensionality",
           "gaussian_like", "named_counts", "pair_cluster_tests", "pair_sides",
           "participation_summary", "summary_text",
           "verdict_counts"]

#: Verdicts of a pair: a test of the data, a test that did not find clusters, no test possible.
VERDICTS: tuple[str, ...] = ("clusters", "no clusters", "not testable")


def _split_along_axis(x: np.ndarray) -> np.ndarray:
    """The best 2-means split of each cloud's projection on its first principal axis (exact in
    1-D): boolean labels (B, N)."""
    b, n, _ = x.shape
    cov = np.einsum("bni,bnj->bij", x, x) / n
    axis = np.linalg.eigh(cov)[1][..., -1]
    proj = np.einsum("bnd,bd->bn", x, axis)
    order = np.argsort(proj, 1)
    s = np.take_along_axis(proj, order, 1)
    c, c2 = np.cumsum(s, 1), np.cumsum(s ** 2, 1)
    k = np.arange(1, n)
    left = c2[:, :-1] - c[:, :-1] ** 2 / k
    right = (c2[:, -1:] - c2[:, :-1]) - (c[:, -1:] - c[:, :-1]) ** 2 / (n - k)
    best = np.argmin(left + right, 1)                      # last index of the left group
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None].repeat(b, 0), 1)
    return ranks > best[:, None]


def _centres(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Mean of each cloud's points where ``m`` (B, N) is true: (B, d)."""
    w = m.astype(float)
    return (w[:, None, :] @ x)[:, 0] / np.maximum(w.sum(1), 1)[:, None]


def _nearer_first(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One Lloyd step: True where a point is nearer the centre of the True group."""
    c1, c0 = _centres(x, labels), _centres(x, ~labels)
    # |x - c1|^2 < |x - c0|^2  <=>  2 x.(c1 - c0) > |c1|^2 - |c0|^2
    return 2 * (x @ (c1 - c0)[..., None])[..., 0] > ((c1 ** 2).sum(1) - (c0 ** 2).sum(1))[:, None]


def cluster_index(points, n_iter: int = 50) -> np.ndarray:
    """2-means cluster index of one cloud ``(N, d)`` or many ``(B, N, d)``: the within-cluster sum
    of squares of a 2-means partition over the total sum of squares (0..1; a Gaussian in 1-D gives
    about 0.36, two well separated groups much less).

    The partition starts from the best split along the cloud's first principal axis (exact for
    1-D data) and is refined by at most ``n_iter`` Lloyd iterations; the same algorithm scores the
    data and its null, so the test does not depend on it finding the global optimum.
    """
    x = np.asarray(points, float)
    single = x.ndim == 2
    x = x[None] if single else x
    if x.ndim != 3 or x.shape[1] < 4:
        raise ValueError(f"points must be (N >= 4, d) or (B, N >= 4, d), got shape "
                         f"{np.shape(points)}")
    if not np.isfinite(x).all():
        raise ValueError("points hold missing or infinite values")
    x = x - x.mean(1, keepdims=True)
    total = (x ** 2).sum((1, 2))
    labels = _split_along_axis(x)
    active = np.arange(len(x))
    for _ in range(n_iter):
        xa, la = x[active], labels[active]
        new = _nearer_first(xa, la)
        ok = (new.sum(1) % x.shape[1]) != 0          # a step that empties a group is not taken
        changed = ok & (new != la).any(1)
        labels[active[changed]] = new[changed]
        active = active[changed]
        if not len(active):
            break
    within = np.zeros(len(x))
    for m in (labels, ~labels):
        within += (((x - _centres(x, m)[:, None]) ** 2).sum(-1) * m).sum(1)
    index = np.where(total > 0, within / np.where(total > 0, total, 1), np.nan)
    return index[0] if single else index


def gaussian_like(points, n_draws: int, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """``n_draws`` Gaussian clouds ``(n_draws, N, d)`` of the same size, mean and (population)
    covariance as ``points`` ``(N, d)``; a singular covariance is drawn along its non-zero
    directions only."""
    x = np.asarray(points, float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"points must be (N >= 2, d), got shape {x.shape}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    lam, vec = np.linalg.eigh(np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1]))
    root = vec * np.sqrt(np.clip(lam, 0, None))
    z = rng.standard_normal((n_draws, *x.shape))
    return x.mean(0) + z @ root.T


def cluster_test(points, n_null: int = 200, seed: int = 0) -> dict:
    """Is the cloud ``points`` ``(N, d)`` more clustered than a Gaussian of its mean and covariance?

    Returns
    -------
    dict
        ``index`` (:func:`cluster_index` of the data), ``null_mean`` and ``null_q05`` (of the
        index over ``n_null`` Gaussian clouds, seeded by ``seed``), ``p_value`` (one-sided,
        ``(1 + #(null <= index)) / (1 + n_null)``) and ``silhouette`` of the data's 2-means
        partition (descriptive).
    """
    x = np.asarray(points, float)
    if n_null < 1:
        raise ValueError(f"n_null must be >= 1, got {n_null}")
    observed = float(cluster_index(x))
    null = cluster_index(gaussian_like(x, n_null, seed))
    labels = _split_along_axis((x - x.mean(0))[None])[0]
    sil = float("nan")
    if 1 < labels.sum() < len(labels) - 1:
        from sklearn.metrics import silhouette_score
        sil = float(silhouette_score(x, labels))
    return {"index": observed, "null_mean": float(np.nanmean(null)),
            "null_q05": float(np.nanquantile(null, 0.05)),
            "p_value": stats.permutation_p(-observed, -null), "silhouette": sil}


def pair_sides(positive, negative) -> np.ndarray:
    """Each face's side of a bipolar pair: ``z(positive) - z(negative) > 0``, each column
    standardised over the faces; all False (one class) when a column is constant."""
    a, b = np.asarray(positive, float), np.asarray(negative, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"positive and negative must be 1-D of one length, got {a.shape}, "
                         f"{b.shape}")
    sa, sb = a.std(), b.std()
    if not (np.isfinite(sa) and np.isfinite(sb)) or sa <= 1e-12 * max(1, abs(a.mean())) \
            or sb <= 1e-12 * max(1, abs(b.mean())):
        return np.zeros(len(a), bool)
    return (a - a.mean()) / sa - (b - b.mean()) / sb > 0


def difference_labels(positive, negative, min_class: int = 5) -> np.ndarray | None:
    """:func:`pair_sides` of a pair, or ``None`` (not testable) when a side has fewer than
    ``min_class`` faces (a constant column puts every face on one side)."""
    if min_class < 1:
        raise ValueError(f"min_class must be >= 1, got {min_class}")
    labels = pair_sides(positive, negative)
    return labels if min(labels.sum(), (~labels).sum()) >= min_class else None


def combine_seeds(verdicts: Sequence[str]) -> str:
    """One verdict from a pair's verdicts over training seeds: ``"not testable"`` if it is not
    testable on at least half of the seeds; else ``"clusters"`` if clusters are found on more than
    half of the seeds where it is testable; else ``"no clusters"``."""
    v = list(verdicts)
    if not v or set(v) - set(VERDICTS):
        raise ValueError(f"verdicts must be a non-empty list of {VERDICTS}, got {v}")
    testable = [x for x in v if x != "not testable"]
    if len(testable) <= len(v) / 2:
        return "not testable"
    return "clusters" if sum(x == "clusters" for x in testable) > len(testable) / 2 \
        else "no clusters"


def _standardised_pair(scores: pd.DataFrame, pos: str, neg: str) -> np.ndarray:
    return stats.standardize(scores[[pos, neg]].to_numpy(float))


@dataclass
class ClusterTests:
    """:func:`pair_cluster_tests`' result.

    Attributes
    ----------
    per_seed : DataFrame
        One row per (pair, seed): ``positive_share`` of the labels, ``index``, ``null_mean``,
        ``null_q05``, ``p_value``, ``q_value`` (over the testable pairs of the seed),
        ``silhouette`` and ``verdict``.
    verdicts : Series
        One verdict per pair over the seeds (:func:`combine_seeds`), index ``pair``.
    """

    per_seed: pd.DataFrame
    verdicts: pd.Series

    def count(self, verdict: str) -> int:
        """Pairs with ``verdict`` (one of :data:`VERDICTS`)."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        return int((self.verdicts == verdict).sum())

    def table(self) -> pd.DataFrame:
        """Per pair: the verdict, how many seeds found clusters, and the mean over seeds of the
        index, the null's mean and 5th percentile, the p-value and the silhouette."""
        g = self.per_seed.groupby("pair", sort=False)
        return pd.DataFrame({"verdict": self.verdicts,
                             "seeds_clustered": g["verdict"].apply(lambda v: int((v == "clusters")
                                                                                 .sum())),
                             "index": g["index"].mean(), "null_mean": g["null_mean"].mean(),
                             "null_q05": g["null_q05"].mean(), "p_value": g["p_value"].mean(),
                             "silhouette": g["silhouette"].mean()})


def pair_cluster_tests(scores: Sequence[pd.DataFrame], pairs: Sequence[tuple[str, str]], *,
                       n_null: int = 200, alpha: float = 0.05, min_class: int = 5,
                       seed: int = 0) -> ClusterTests:
    """:func:`cluster_test` of every pair's two standardised columns in each of ``scores`` (one
    DataFrame per training seed), with labels from :func:`difference_labels` (a pair with too
    small a class is "not testable"); per seed, Benjamini-Hochberg q-values over the testable
    pairs, "clusters" where q < ``alpha``; one verdict per pair by :func:`combine_seeds`. The null
    of pair ``i`` in seed set ``s`` is seeded by ``(seed, s, i)``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not len(scores):
        raise ValueError("scores must hold at least one set of predictions")
    rows = []
    for s, frame in enumerate(scores):
        block = []
        for i, (pos, neg) in enumerate(pairs):
            if pos not in frame.columns or neg not in frame.columns:
                raise ValueError(f"scores have no column {pos if pos not in frame else neg!r}")
            labels = difference_labels(frame[pos], frame[neg], min_class)
            row = {"pair": f"{pos}/{neg}", "set": s, "positive_share": np.nan, "index": np.nan,
                   "null_mean": np.nan, "null_q05": np.nan, "p_value": np.nan, "silhouette": np.nan}
            if labels is not None:
                state = int(np.random.SeedSequence([seed, s, i]).generate_state(1)[0])
                row.update(positive_share=float(labels.mean()),
                           **cluster_test(_standardised_pair(frame, pos, neg), n_null, state))
            block.append(row)
        q = stats.benjamini_hochberg([r["p_value"] for r in block])
        for r, qq in zip(block, q):
            r["q_value"] = float(qq)
            r["verdict"] = ("not testable" if not np.isfinite(r["p_value"]) else
                            "clusters" if qq < alpha else "no clusters")
        rows += block
    per_seed = pd.DataFrame(rows)
    verdicts = per_seed.groupby("pair", sort=False)["verdict"].apply(combine_seeds)
    return ClusterTests(per_seed=per_seed, verdicts=verdicts.rename("verdict"))


def control_scores(scores: pd.DataFrame, pairs: Sequence[tuple[str, str]], variant: str, *,
                   separation: float = 4.0, seed: int = 0) -> pd.DataFrame:
    """A control variant of ``scores``: every pair's two columns replaced by synthetic draws of
    the same mean and covariance.

    ``variant="negative"``: one Gaussian for every pair. ``"positive"``: for the pairs at even
    positions of ``pairs`` (half of them), a mixture of two equal Gaussians of the pair's
    covariance whose means lie ``separation`` standard deviations apart along its first principal
    axis (two real clusters); one Gaussian for the others. Seeded by ``seed``.
    """
    if variant not in ("positive", "negative"):
        raise ValueError(f"variant must be 'positive' or 'negative', got {variant!r}")
    if separation <= 0:
        raise ValueError(f"separation must be positive, got {separation}")
    rng = np.random.default_rng(seed)
    out = scores.copy()
    for i, (pos, neg) in enumerate(pairs):
        x = scores[[pos, neg]].to_numpy(float)
        draw = gaussian_like(x, 1, rng)[0]
        if variant == "positive" and i % 2 == 0:
            lam, vec = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
            side = np.where(rng.random(len(x)) < 0.5, -0.5, 0.5)
            draw = draw + side[:, None] * separation * np.sqrt(max(lam[-1], 0.0)) * vec[:, -1]
        out[[pos, neg]] = draw
    return out


def controlled_tests(scores: Sequence[pd.DataFrame], pairs: Sequence[tuple[str, str]], *,
                     separation: float = 4.0, seed: int = 0, **rules) -> dict[str, ClusterTests]:
    """:func:`pair_cluster_tests` (``rules``: ``n_null``, ``alpha``, ``min_class``) of the data
    ``scores`` (one set per training seed) and of its two control variants
    (:func:`control_scores` of every set, seeded by ``seed`` plus the set's position):
    ``{"data": ..., "positive": ..., "negative": ...}``."""
    out = {"data": pair_cluster_tests(scores, pairs, seed=seed, **rules)}
    for variant in ("positive", "negative"):
        variants = [control_scores(s, pairs, variant, separation=separation, seed=seed + k)
                    for k, s in enumerate(scores)]
        out[variant] = pair_cluster_tests(variants, pairs, seed=seed, **rules)
    return out


def verdict_counts(tests: dict[str, ClusterTests]) -> pd.DataFrame:
    """Pairs per verdict (columns :data:`VERDICTS`) for each of ``tests`` (rows, e.g. the data
    and its controls from :func:`controlled_tests`)."""
    return pd.DataFrame({k: {v: t.count(v) for v in VERDICTS} for k, t in tests.items()}).T

def describe(tests: dict[str, ClusterTests]) -> str:
    """:func:`controlled_tests`' outcome in words: the data's verdicts (naming the clustered
    pairs), and whether the controls separate (clusters for some and not all pairs of the positive
    variant, none in the negative one)."""
    if set(tests) != {"data", "positive", "negative"}:
        raise ValueError(f"tests must be controlled_tests' result, got keys {sorted(tests)}")
    data, pos, neg = (tests[k] for k in ("data", "positive", "negative"))
    found = list(data.verdicts.index[data.verdicts == "clusters"])
    separated = pos.count("clusters") > 0 and pos.count("no clusters") > 0 \
        and neg.count("clusters") == 0
    return (f"clusters for {data.count('clusters')} of {len(data.verdicts)} pairs"
            + (f" ({', '.join(found)})" if found else "")
            + f", none for {data.count('no clusters')}, {data.count('not testable')} not "
            f"testable. The controls {'separate' if separated else 'do not separate'}: clusters "
            f"for {pos.count('clusters')} pairs of the positive control and "
            f"{neg.count('clusters')} of the negative control.")

def named_counts(tests: dict[str, ClusterTests], names: dict) -> dict:
    """Pairs per verdict of each of ``tests`` by the names to record them under.

    Parameters
    ----------
    tests : dict of str to ClusterTests
        :func:`controlled_tests`' result (``"data"`` and control variants).
    names : mapping of str to Result
        A :class:`facexai.results.Result` per verdict counted (``"clusters"``, ...); a control
        variant ``v`` is recorded as ``name.control(v)``.

    Returns
    -------
    dict
        Result name -> count, variant by variant, in the order of ``tests`` and ``names``.
    """
    unknown = set(names) - set(VERDICTS)
    if unknown:
        raise ValueError(f"names: no verdict {sorted(unknown)}; verdicts are {VERDICTS}")
    return {(name if variant == "data" else name.control(variant)): t.count(verdict)
            for variant, t in tests.items() for verdict, name in names.items()}


def participation_summary(dims: pd.DataFrame) -> tuple[float, float, float, float]:
    """The participation ratio of :func:`dimensionality`'s rows, the ratings' last: the mean over
    the other rows (one per training seed) with its 95 % interval
    (:func:`facexai.stats.seed_interval`), and the last row's: ``(mean, lo, hi, ratings)``."""
    pr = dims["participation_ratio"]
    if len(pr) < 2:
        raise ValueError(f"dims: need a row per seed and the ratings' row, got {len(pr)} rows")
    return (*stats.seed_interval(pr.iloc[:-1].to_numpy()), float(pr.iloc[-1]))


def summary_text(tests: dict[str, ClusterTests], dims: pd.DataFrame, separation: pd.DataFrame,
                 n_seeds: int) -> str:
    """The manifold page's summary in words: the clustering test (:func:`describe`), the effective
    dimensionality of the predictions against the ratings, and the pairs whose side is separated.

    Parameters
    ----------
    tests : dict of str to ClusterTests
        :func:`controlled_tests`' result.
    dims : DataFrame
        :func:`dimensionality` of each seed's predictions, the ratings' last.
    separation : DataFrame
        One row per pair with its ``features_verdict`` (the secondary kNN separation rule).
    n_seeds : int
        Training seeds.
    """
    mean, _, _, ratings = participation_summary(dims)
    n_separated = int((separation["features_verdict"] == "structure").sum())
    return (f"On the held-out predictions of {n_seeds} training seeds (synthetic faces), the "
            f"clustering test finds {describe(tests)} The predictions have an effective "
            f"dimensionality of {mean:.1f} against {ratings:.1f} for the ratings (first "
            f"principal component {dims['pc1'].iloc[:-1].mean():.0%} of the variance against "
            f"{dims['pc1'].iloc[-1]:.0%}). A pair's side is separated in the 38 other predictions "
            f"(secondary kNN rule) for {n_separated} of {len(separation)} pairs: the other columns "
            "are outputs of the same network from the same image, so separation says the outputs "
            "are correlated across attributes, not that faces fall into groups.")


def dimensionality(features: Sequence, n_components: int = 5) -> pd.DataFrame:
    """Effective dimensionality of each of ``features`` (arrays or DataFrames, rows: samples),
    each column standardised first (the correlation structure, whatever the columns' spread):
    ``participation_ratio`` (:func:`facexai.stats.participation_ratio`) and the variance shares of
    the first ``n_components`` principal components (``pc1``, ...). One row per set."""
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    rows = []
    for f in features:
        x = np.asarray(f, float)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"features must be (samples >= 2, columns), got shape {x.shape}")
        z = stats.standardize(x)
        lam = np.sort(np.clip(np.linalg.eigvalsh(np.cov(z, rowvar=False)), 0, None))[::-1]
        shares = lam / lam.sum() if lam.sum() > 0 else np.full_like(lam, np.nan)
        row = {"participation_ratio": stats.participation_ratio(z)}
        row.update({f"pc{k + 1}": float(shares[k]) if k < len(shares) else np.nan
                    for k in range(n_components)})
        rows.append(row)
    return pd.DataFrame(rows)
