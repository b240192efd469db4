"""The study's statistics (facexai.stats) against independent references: scipy, formulas written
out element by element, and hand-computed cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr

from facexai import stats


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- Pearson -------------------------------------------------------------------------------------

def test_pearson_columns_agrees_with_scipy_per_column(rng):
    p, o = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    o[:, 1] = 2 * p[:, 1] + 0.1 * o[:, 1]                  # a strong positive column
    r = stats.pearson_columns(p, o, columns=list("abcde"))
    assert list(r.index) == list("abcde") and r.name == "r"
    np.testing.assert_allclose(r.to_numpy(), [pearsonr(p[:, k], o[:, k])[0] for k in range(5)])


def test_pearson_columns_aligns_frames_by_name_and_gives_nan_for_constants():
    pred = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": [1.0, 1.0, 1.0, 1.0]})
    obs = pd.DataFrame({"c": [1.0, 2.0, 3.0, 4.0], "a": [8.0, 6.0, 4.0, 2.0]})
    r = stats.pearson_columns(pred, obs)
    assert list(r.index) == ["a", "c"]
    assert r["a"] == pytest.approx(-1.0) and np.isnan(r["c"])
    # hand-worked: x = (1, 2, 3), y = (1, 3, 2): r = 0.5
    assert stats.pearson_columns(np.array([1.0, 2, 3]), np.array([1.0, 3, 2])).iloc[0] == \
        pytest.approx(0.5)
    with pytest.raises(ValueError, match="observed lacks"):
        stats.pearson_columns(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"y": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="same"):
        stats.pearson_columns(np.zeros((5, 2)), np.zeros((5, 3)))


def test_pearson_along_broadcasts_over_other_axes(rng):
    a, b = rng.normal(size=(4, 3, 20)), rng.normal(size=(4, 3, 20))
    r = stats.pearson_along(a, b, axis=-1)
    assert r.shape == (4, 3)
    assert r[2, 1] == pytest.approx(pearsonr(a[2, 1], b[2, 1])[0])
    np.testing.assert_allclose(stats.pearson_along(a, b, axis=-1),
                               stats.pearson_along(np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0),
                                                   axis=0))


# -- Spearman ------------------------------------------------------------------------------------

def test_spearman_agrees_with_scipy_and_drops_nan_pairs(rng):
    x, y = rng.normal(size=25), rng.normal(size=25)
    assert stats.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    x[3], y[7] = np.nan, np.nan
    keep = np.isfinite(x) & np.isfinite(y)
    assert stats.spearman(x, y) == pytest.approx(spearmanr(x[keep], y[keep]).statistic)
    assert stats.spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert np.isnan(stats.spearman([1, np.nan, 3], [1, 2, 3]))   # fewer than 3 pairs
    with pytest.raises(ValueError, match="shapes"):
        stats.spearman([1, 2, 3], [1, 2])


# -- split-half reliability and noise ceiling ----------------------------------------------------

def _reference_reliability(raw, n_splits, seed):
    """Split-half reliability written out image by image and column by column."""
    rng = np.random.default_rng(seed)
    n_r = raw.shape[2]
    out = np.zeros((n_splits, raw.shape[1]))
    for s in range(n_splits):
        perm = rng.permutation(n_r)
        for c in range(raw.shape[1]):
            pairs = []
            for i in range(raw.shape[0]):
                a = [v for v in raw[i, c, perm[: n_r // 2]] if np.isfinite(v)]
                b = [v for v in raw[i, c, perm[n_r // 2:]] if np.isfinite(v)]
                if a and b:
                    pairs.append((np.mean(a), np.mean(b)))
            x, y = np.array(pairs).T
            r = np.corrcoef(x, y)[0, 1]
            out[s, c] = 2 * r / (1 + r)
    return out.mean(0)


def test_split_half_reliability_matches_a_written_out_reference(rng):
    truth = rng.normal(size=(60, 4, 1))
    raw = truth + rng.normal(size=(60, 4, 15))
    ours = stats.split_half_reliability(raw, n_splits=5, seed=3, columns=list("abcd"))
    assert list(ours.index) == list("abcd")
    np.testing.assert_allclose(ours.to_numpy(), _reference_reliability(raw, 5, 3))
    holes = raw.copy()
    holes[rng.random(holes.shape) < 0.15] = np.nan   # missing ratings
    holes[0] = np.nan                                # an image nobody rated drops out
    np.testing.assert_allclose(stats.split_half_reliability(holes, n_splits=5, seed=3).to_numpy(),
                               _reference_reliability(holes, 5, 3))
    with pytest.raises(ValueError, match="must have shape"):
        stats.split_half_reliability(raw[:, :, :1])
    with pytest.raises(ValueError, match="n_splits"):
        stats.split_half_reliability(raw, n_splits=0)


def test_reliability_recovers_the_spearman_brown_value(rng):
    # R raters = truth + unit noise, truth variance v: the panel mean's reliability is
    # R v / (R v + 1) (Spearman-Brown of the single-rater reliability v / (v + 1))
    v, n_r = 0.25, 16
    raw = rng.normal(0, np.sqrt(v), size=(4000, 2, 1)) + rng.normal(size=(4000, 2, n_r))
    rel = stats.split_half_reliability(raw, n_splits=10)
    np.testing.assert_allclose(rel.to_numpy(), n_r * v / (n_r * v + 1), atol=0.03)


def test_noise_ceiling_is_the_square_root_of_the_clipped_reliability(rng):
    consistent = np.repeat(rng.normal(size=(200, 3, 1)), 8, axis=2) + rng.normal(size=(1, 3, 8))
    assert np.allclose(stats.noise_ceiling(consistent, n_splits=5), 1.0)
    noise = rng.normal(size=(200, 3, 8))
    rel = stats.split_half_reliability(noise, n_splits=7, seed=2)
    ceil = stats.noise_ceiling(noise, n_splits=7, seed=2)
    np.testing.assert_allclose(ceil.to_numpy(), np.sqrt(np.maximum(rel.to_numpy(), 0)))
    assert ceil.name == "noise_ceiling"


# -- bootstrap -----------------------------------------------------------------------------------

def test_bootstrap_indices_and_percentile_interval(rng):
    idx = stats.bootstrap_indices(7, 50, np.random.default_rng(1))
    assert idx.shape == (50, 7) and idx.min() >= 0 and idx.max() < 7
    assert np.array_equal(idx, stats.bootstrap_indices(7, 50, np.random.default_rng(1)))
    s = rng.normal(size=(1000, 3))
    lo, hi = stats.percentile_interval(s, 0.9)
    np.testing.assert_allclose(lo, np.percentile(s, 5, axis=0))
    np.testing.assert_allclose(hi, np.percentile(s, 95, axis=0))
    s[:10, 0] = np.nan                                  # NaN ignored
    np.testing.assert_allclose(stats.percentile_interval(s, 0.9)[0][0],
                               np.percentile(s[10:, 0], 5))
    with pytest.raises(ValueError, match="level"):
        stats.percentile_interval(s, 1.5)


def test_bootstrap_mean_interval_covers_the_mean_about_as_often_as_stated():
    covered = sum(lo <= 0 <= hi for lo, hi in
                  (stats.bootstrap_mean_ci(np.random.default_rng(s).normal(size=40), n_boot=400,
                                           rng=s) for s in range(200)))
    assert 170 <= covered <= 200   # nominal 95 % of 200 = 190
    assert all(np.isnan(stats.bootstrap_mean_ci([1.0, np.nan])))


# -- Benjamini-Hochberg --------------------------------------------------------------------------

def _bh_rejections(p, alpha):
    """The Benjamini-Hochberg step-up rule written out: reject the k smallest p-values, k the
    largest rank with p_(k) <= k alpha / m."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p)
    k = max([i + 1 for i in range(m) if p[order[i]] <= (i + 1) * alpha / m], default=0)
    out = np.zeros(m, bool)
    out[order[:k]] = True
    return out


def test_benjamini_hochberg_rejects_what_the_step_up_rule_rejects(rng):
    for trial in range(50):
        p = np.concatenate([rng.uniform(size=30), rng.uniform(0, 0.01, size=trial % 10)])
        q = stats.benjamini_hochberg(p)
        for alpha in (0.01, 0.05, 0.2):
            assert np.array_equal(q <= alpha, _bh_rejections(p, alpha))
        assert (q >= p - 1e-15).all() and (q <= 1).all()


def test_benjamini_hochberg_hand_computed_case_keeps_nan():
    p = [0.01, 0.04, 0.03, np.nan, 0.5]
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533, 0.5 -> monotone from the top
    np.testing.assert_allclose(stats.benjamini_hochberg(p),
                               [0.04, 0.0533333, 0.0533333, np.nan, 0.5], rtol=1e-5)


# -- permutation p -------------------------------------------------------------------------------

def test_permutation_p_counts_the_observed_labelling(rng):
    null = rng.normal(size=(99, 4))
    obs = np.array([0.0, 10.0, -10.0, null[5, 3]])
    p = stats.permutation_p(obs, null)
    expected = [(1 + sum(null[b, k] >= obs[k] for b in range(99))) / 100 for k in range(4)]
    np.testing.assert_allclose(p, expected)
    assert p[1] == pytest.approx(1 / 100) and p[2] == pytest.approx(1.0)
    assert isinstance(stats.permutation_p(0.0, null[:, 0]), float)


def test_permutation_p_of_an_exact_test_matches_scipy():
    from itertools import combinations

    from scipy.stats import permutation_test

    a, b = np.array([3.1, 4.0, 5.2, 6.3]), np.array([1.0, 2.2, 2.9, 3.5])
    x = np.concatenate([a, b])
    null = np.array([x[list(c)].mean() - np.delete(x, list(c)).mean()
                     for c in combinations(range(8), 4)])
    ours = stats.permutation_p(a.mean() - b.mean(), null[:, None])
    ref = permutation_test((a, b), lambda u, v: u.mean() - v.mean(), alternative="greater",
                           permutation_type="independent", n_resamples=np.inf).pvalue
    # the exact test counts the observed labelling among the 70 once; ours adds it once more
    assert ours == pytest.approx((1 + ref * len(null)) / (1 + len(null)))


# -- proportions ---------------------------------------------------------------------------------

def test_proportion_interval_is_scipys_wilson_interval():
    from scipy.stats import binomtest

    for k, n, level in [(0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.9), (82, 150, 0.95), (1, 1, 0.99)]:
        ref = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
        assert stats.proportion_interval(k, n, level) == pytest.approx((ref.low, ref.high), abs=1e-12)
    for bad in [dict(k=1, n=0), dict(k=-1, n=5), dict(k=6, n=5), dict(k=1, n=5, level=1.0)]:
        with pytest.raises(ValueError, match="k=|level"):
            stats.proportion_interval(**bad)
