"""Feature richness on toy features with known answers: the participation ratio of isotropic and of
exactly k-dimensional features, the bootstrap against resampled rows, linear probes of a linear and
of an independent factor, the regional spread of one-hot and uniform maps (scipy's entropy as a
second implementation), named errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy

from facexai import richness, stats


def _k_directions(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """(n, d) features whose centred covariance has exactly k equal eigenvalues and d - k zeros:
    k orthonormal, centred columns (QR of a centred random matrix) times k orthonormal directions,
    plus a constant offset per unit."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, k))
    q, _ = np.linalg.qr(q - q.mean(0))           # orthonormal columns, each orthogonal to 1
    v, _ = np.linalg.qr(rng.normal(size=(d, k)))
    return q @ v.T + rng.normal(size=d)


def test_isotropic_features_have_a_ratio_of_their_dimension():
    """For N Gaussian rows in D dims the scatter is Wishart(n = N - 1), whose moments give
    E tr(S)² / E tr(S²) = nD / (n + D + 1) (9.945 for N = 2000, D = 10); the estimate's SD there
    is 0.011 (300 simulations): 5 SD of tolerance."""
    n, d = 2000, 10
    x = np.random.default_rng(1).normal(size=(n, d))
    pr = richness.participation_ratio(x)
    assert pr == pytest.approx((n - 1) * d / (n + d), abs=0.055)
    assert pr == pytest.approx(d, rel=0.015)


@pytest.mark.parametrize("n,d,k", [(50, 12, 1), (50, 12, 3), (50, 12, 12), (8, 30, 7)])
def test_k_equal_directions_give_exactly_k(n, d, k):
    x = _k_directions(n, d, k)
    assert richness.participation_ratio(x) == pytest.approx(k, rel=1e-10)
    assert 1 - 1e-12 <= richness.participation_ratio(x) <= min(n - 1, d) + 1e-9


@pytest.mark.parametrize("n,d", [(40, 6), (100, 5), (12, 30), (60, 10)])
def test_the_bootstrap_ratios_are_those_of_the_resampled_rows(n, d):
    """The trace-formula ratios (D x D scatter for N >= D², N x N Gram matrix below) equal
    :func:`facexai.stats.participation_ratio` (an eigendecomposition) of the resampled rows and
    of all rows."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, d)) * np.linspace(1, 3, d) + 5.0
    rows = np.vstack([stats.bootstrap_indices(n, 5, rng), np.arange(n)])
    expected = [stats.participation_ratio(x[r]) for r in rows]
    np.testing.assert_allclose(richness._resampled_ratios(x, rows), expected, rtol=1e-9)
    assert richness.participation_ratio(x) == pytest.approx(stats.participation_ratio(x), rel=1e-9)


def test_bootstrap_interval_covers_a_decaying_spectrum_and_is_seeded():
    x = np.random.default_rng(3).normal(size=(400, 20)) * np.arange(1, 21) ** -1.0
    out = richness.bootstrap_ratio(x, n_boot=300, seed=4)
    assert set(out) == {"estimate", "low", "high"}
    assert out["estimate"] == pytest.approx(richness.participation_ratio(x))
    assert out["low"] < out["estimate"] < out["high"]
    assert out == richness.bootstrap_ratio(x, n_boot=300, seed=4)
    assert out != richness.bootstrap_ratio(x, n_boot=300, seed=5)
    narrow = richness.bootstrap_ratio(x, n_boot=300, seed=4, alpha=0.5)
    assert out["low"] < narrow["low"] < narrow["high"] < out["high"]


def test_bootstrap_of_a_high_ratio_lies_below_it():
    """The documented caveat: resamples repeat faces, so near-isotropic features in 50 dims on
    200 faces (ratio 40) give resampled ratios all below the estimate."""
    x = np.random.default_rng(5).normal(size=(200, 50))
    out = richness.bootstrap_ratio(x, n_boot=200, seed=0)
    assert out["high"] < out["estimate"]


def _probe_data(n=400, d=20, seed=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    signal = x @ w
    factors = pd.DataFrame({
        "linear": signal + 0.1 * signal.std() * rng.normal(size=n),
        "independent": rng.normal(size=n),
        "positive": signal > 0,
        "sex": np.where(signal > 0, "m", "f"),
    })
    train = np.arange(n) < 300
    return x, factors, train, ~train


def test_probe_recovers_a_linear_factor_and_not_an_independent_one():
    x, factors, train, test = _probe_data()
    table = richness.factor_probe(x, factors, train, test).set_index("factor")
    assert list(table.columns) == ["r2", "recovered", "alpha"]
    assert table.loc["linear", "r2"] > 0.9 and table.loc["linear", "recovered"]
    assert table.loc["independent", "r2"] < 0.1 and not table.loc["independent", "recovered"]
    assert table.attrs["skipped"] == []
    # a boolean and a two-level category are the same 0/1 factor
    assert table.loc["positive", "r2"] == pytest.approx(table.loc["sex", "r2"], rel=1e-12)
    assert table.loc["positive", "alpha"] in (0.1, 1, 10, 100, 1000)


def test_probe_takes_positions_and_skips_factors_constant_on_training_rows():
    x, factors, train, test = _probe_data()
    factors["only_in_test"] = np.where(test, np.arange(len(x)), 0.0)
    by_mask = richness.factor_probe(x, factors, train, test)
    by_rows = richness.factor_probe(x, factors, np.flatnonzero(train), np.flatnonzero(test))
    pd.testing.assert_frame_equal(by_mask, by_rows)
    assert by_mask.attrs["skipped"] == ["only_in_test"]
    assert "only_in_test" not in set(by_mask["factor"])
    strict = richness.factor_probe(x, factors[["linear"]], train, test, threshold=0.9999)
    assert not strict["recovered"].iloc[0]


def test_relevance_spread_of_one_hot_uniform_and_empty_rows():
    r = np.array([[0.0, 3.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0], [np.nan] * 4])
    spread = richness.relevance_spread(r)
    np.testing.assert_allclose(spread[:3], [0.25, 1.0, 0.5], rtol=1e-12)
    assert np.isnan(spread[3:]).all() and spread.shape == (5,)
    rows = np.random.default_rng(7).random((6, 9))
    np.testing.assert_allclose(richness.relevance_spread(pd.DataFrame(rows)),
                               np.exp(entropy(rows, axis=1)) / 9, rtol=1e-12)


def test_seed_summary_is_the_seed_interval():
    values = [0.4, 0.5, 0.9]
    out = richness.seed_summary(values)
    assert (out["estimate"], out["low"], out["high"]) == stats.seed_interval(values)
    assert np.isnan(richness.seed_summary([0.3])["low"])


@pytest.mark.parametrize("call,name", [
    (lambda: richness.participation_ratio(np.ones((5, 3))), "features"),
    (lambda: richness.participation_ratio(np.array([[0.0, np.nan], [1.0, 2.0]])), "features"),
    (lambda: richness.participation_ratio(np.ones(5)), "features"),
    (lambda: richness.bootstrap_ratio(np.eye(4), n_boot=1), "n_boot"),
    (lambda: richness.bootstrap_ratio(np.eye(4), alpha=1.5), "alpha"),
    (lambda: richness.relevance_spread(np.array([[1.0, -0.1]])), "negative"),
    (lambda: richness.relevance_spread(np.array([[1.0, np.inf]])), "region_relevance"),
    (lambda: richness.relevance_spread(np.ones(3)), "region_relevance"),
    (lambda: richness.seed_summary([[1.0, 2.0]]), "values"),
])
def test_bad_inputs_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("change,name", [
    ({"train": np.arange(5)}, "train"),
    ({"test": np.arange(290, 320)}, "test"),
    ({"test": np.array([0.5, 1.5])}, "test"),
    ({"train": np.ones(7, bool)}, "train"),
    ({"alphas": (1.0, -1.0)}, "alphas"),
    ({"threshold": float("nan")}, "threshold"),
    ({"factors": pd.DataFrame({"a": np.arange(3)})}, "factors"),
    ({"factors": pd.DataFrame({"hair": list("abc") * 133 + ["a"]})}, "'hair'"),
    ({"factors": pd.DataFrame({"age": [np.nan] + [1.0] * 399})}, "'age'"),
])
def test_bad_probe_inputs_are_named(change, name):
    x, factors, train, test = _probe_data()
    args = {"features": x, "factors": factors, "train": train, "test": test} | change
    with pytest.raises(ValueError, match=name):
        richness.factor_probe(args.pop("features"), args.pop("factors"), args.pop("train"),
                              args.pop("test"), **args)


# -- the fast probe against sklearn, paired ratios, rank association ---------------------------

def test_probe_makes_sklearn_ridgecvs_choice_with_the_same_folds():
    """A second implementation: sklearn's RidgeCV (GridSearchCV over the same shuffled folds, mean
    R², refit on every training row) per factor gives the same penalty and test R²."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    x, factors, _, _ = _probe_data(n=200, d=30, seed=11)
    train = np.arange(200) < 150
    test = ~train
    factors["weak"] = factors["linear"] + 8 * factors["linear"].std() * \
        np.random.default_rng(12).normal(size=len(x))
    alphas = (0.01, 1.0, 30.0, 1000.0, 1e5)
    table = richness.factor_probe(x, factors, train, test, alphas=alphas).set_index("factor")
    scaler = StandardScaler().fit(x[train])
    for name in factors.columns:
        column = factors[name]
        y = (column == "m" if name == "sex" else column).to_numpy(float)
        ref = RidgeCV(alphas=alphas, cv=KFold(5, shuffle=True, random_state=0)).fit(
            scaler.transform(x[train]), y[train])
        assert table.loc[name, "alpha"] == ref.alpha_, name
        assert table.loc[name, "r2"] == pytest.approx(
            r2_score(y[test], ref.predict(scaler.transform(x[test]))), rel=1e-7, abs=1e-9)
    assert len(set(table["alpha"])) > 1          # the choice differs between factors


def test_ratio_comparison_is_paired_and_its_seed_rows_are_the_bootstrap():
    rng = np.random.default_rng(8)
    a = [rng.normal(size=(150, 12)) * np.linspace(1, 3, 12) for _ in range(3)]
    b = [x[:, :4] + 0.1 * rng.normal(size=(150, 4)) for x in a]
    table = richness.ratio_comparison(a, b, n_boot=200, seed=3, seeds=[5, 6, 7])
    assert list(table.index.get_level_values("quantity").unique()) == ["a", "b", "a - b"]
    one = richness.bootstrap_ratio(a[1], n_boot=200, seed=3)
    assert table.loc[("a", 6), ["estimate", "low", "high"]].tolist() == pytest.approx(
        [one["estimate"], one["low"], one["high"]])
    diff = table.loc[("a - b", "mean")]
    assert diff["estimate"] == pytest.approx(table.loc[("a", "mean"), "estimate"]
                                             - table.loc[("b", "mean"), "estimate"])
    assert 0 < diff["low"] < diff["estimate"] < diff["high"]
    _, lo, hi = stats.seed_interval([richness.participation_ratio(x) for x in a])
    assert (table.loc[("a", "mean"), "seed_low"], table.loc[("a", "mean"), "seed_high"]) == \
        pytest.approx((lo, hi))
    single = richness.ratio_comparison(a[:1], b[:1], n_boot=200, seed=3)
    # one seed: the two-level bootstrap is the bootstrap over faces
    assert single.loc[("a - b", "mean"), ["low", "high"]].tolist() == pytest.approx(
        single.loc[("a - b", 0), ["low", "high"]].tolist())
    assert np.isnan(single.loc[("a", "mean"), "seed_low"])


def test_rank_association_is_spearmans_rho_with_a_permutation_p():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(9)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    y[3] = np.nan
    out = richness.rank_association(x, y, n_permutations=400, seed=1)
    ok = np.isfinite(y)
    assert out["rho"] == pytest.approx(spearmanr(x[ok], y[ok]).statistic, rel=1e-12)
    assert out["n"] == 29 and out["null"].shape == (400,)
    assert out["p"] == pytest.approx((1 + (out["null"] >= out["rho"] - 1e-12).sum()) / 401)
    assert richness.rank_association(x, -x, n_permutations=200)["p"] > 0.9


def test_grouped_permutations_move_whole_groups():
    """Four pairs with identical members: every grouped permutation is one of the 4! block
    orders, whose rho values are computed here by brute force."""
    from itertools import permutations
    from scipy.stats import spearmanr

    base_x, base_y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 3.0])
    x, y, groups = np.repeat(base_x, 2), np.repeat(base_y, 2), np.repeat(np.arange(4), 2)
    possible = {round(spearmanr(np.repeat(base_x[list(p)], 2), y).statistic, 10)
                for p in permutations(range(4))}
    out = richness.rank_association(x, y, n_permutations=300, seed=0, groups=groups)
    assert {round(v, 10) for v in out["null"]} <= possible
    free = richness.rank_association(x, y, n_permutations=300, seed=0)
    assert not {round(v, 10) for v in free["null"]} <= possible   # free ones split pairs


@pytest.mark.parametrize("call,name", [
    (lambda: richness.rank_association([1, 2, 3], [1, 2]), "x and y"),
    (lambda: richness.rank_association([1, 2, 3, 4], [1, 1, 1, 1]), "constant"),
    (lambda: richness.rank_association([1, 2, 3], [3, 1, 2], n_permutations=0),
     "n_permutations"),
    (lambda: richness.rank_association(np.arange(5.0), np.arange(5.0), groups=[0, 0, 1, 1, 1]),
     "groups"),
    (lambda: richness.rank_association([1.0, np.nan, 2.0], [1.0, 2.0, 3.0]), "x and y"),
    (lambda: richness.ratio_comparison([np.eye(4)], [np.eye(4), np.eye(4)]), "a and b"),
    (lambda: richness.ratio_comparison(np.eye(4), [np.eye(4)]), "sequences"),
    (lambda: richness.ratio_comparison([np.eye(4)], [np.eye(4)], n_boot=1), "n_boot"),
])
def test_bad_comparison_inputs_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_leading_shares_of_k_equal_directions():
    x = _k_directions(60, 12, 3)
    np.testing.assert_allclose(richness.leading_shares(x, 5), [1 / 3] * 3 + [0, 0], atol=1e-12)
    shares = richness.leading_shares(np.random.default_rng(4).normal(size=(50, 6)), 10)
    assert shares.shape == (10,) and shares.sum() == pytest.approx(1.0)
    assert (np.diff(shares) <= 1e-15).all() and (shares[6:] == 0).all()
    with pytest.raises(ValueError, match="k must"):
        richness.leading_shares(x, 0)
