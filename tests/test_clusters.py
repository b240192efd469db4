"""Cluster structure against a Gaussian null (facexai.clusters): the 2-means index against its
known value for a Gaussian, two real clusters found and one Gaussian not, one-class labels not
testable, the seed rule, the control variants and the dimensionality."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facexai import clusters as C

PAIRS = [("a", "not_a"), ("b", "not_b"), ("c", "not_c"), ("d", "not_d")]


def _mixture(n, gap, rng, dims=2):
    x = rng.normal(size=(n, dims))
    x[rng.random(n) < 0.5, 0] += gap
    return x


def test_cluster_index_of_a_gaussian_is_one_minus_two_over_pi():
    # the optimal 2-means split of N(0, 1) is at 0, the halves' means are +-sqrt(2/pi), so the
    # within share of the variance is 1 - 2/pi
    x = np.random.default_rng(0).normal(size=(200_000, 1))
    assert C.cluster_index(x) == pytest.approx(1 - 2 / np.pi, abs=0.003)
    # two points masses: a perfect partition
    y = np.r_[np.zeros((10, 2)), np.ones((10, 2))] + 1e-9 * np.arange(20)[:, None]
    assert C.cluster_index(y) == pytest.approx(0.0, abs=1e-9)
    # batched equals one by one
    many = np.random.default_rng(1).normal(size=(5, 30, 3))
    np.testing.assert_allclose(C.cluster_index(many), [C.cluster_index(m) for m in many])
    with pytest.raises(ValueError, match="points"):
        C.cluster_index(np.zeros((3, 2)))


def test_gaussian_like_keeps_mean_and_covariance():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 2)) @ np.array([[2.0, 1.5], [0.0, 0.2]]) + [5, -1]
    draws = C.gaussian_like(x, 200, 3)
    assert draws.shape == (200, 400, 2)
    np.testing.assert_allclose(draws.reshape(-1, 2).mean(0), x.mean(0), atol=0.02)
    np.testing.assert_allclose(np.cov(draws.reshape(-1, 2), rowvar=False),
                               np.cov(x, rowvar=False, bias=True), rtol=0.02, atol=0.01)
    with pytest.raises(ValueError, match="n_draws"):
        C.gaussian_like(x, 0)


def test_cluster_test_separates_a_two_cluster_mixture_from_a_gaussian():
    rng = np.random.default_rng(4)
    found = [C.cluster_test(_mixture(200, 5.0, rng), n_null=99, seed=s)["p_value"]
             for s in range(5)]
    assert max(found) <= 0.02
    plain = [C.cluster_test(rng.normal(size=(200, 2)) @ [[1, 0.8], [0, 0.4]], n_null=99,
                            seed=s)["p_value"] for s in range(20)]
    # under the null the p-value is about uniform: few below 0.05, mean about 0.5
    assert sum(p < 0.05 for p in plain) <= 3 and 0.3 < np.mean(plain) < 0.7


def test_difference_labels_standardise_each_pole_and_flag_one_class():
    a = np.array([1.0, 2, 3, 4, 5, 6])
    b = 10 * np.array([1.0, 1, 1, 2, 2, 2])       # another scale: z-scores, not raw values
    za, zb = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    np.testing.assert_array_equal(C.difference_labels(a, b, 1), za - zb > 0)
    # raw values would give one class (b > a everywhere): standardised they give two
    assert (b > a).all() and C.difference_labels(a, b, 1).any()
    assert C.difference_labels(a, np.full(6, 3.0), 1) is None             # constant pole
    assert C.difference_labels(a, a[::-1], 4) is None                      # classes of 3 < 4
    with pytest.raises(ValueError, match="min_class"):
        C.difference_labels(a, b, 0)


def test_combine_seeds_is_a_stated_majority():
    assert C.combine_seeds(["clusters", "clusters", "no clusters"]) == "clusters"
    assert C.combine_seeds(["clusters", "no clusters"]) == "no clusters"
    assert C.combine_seeds(["not testable", "not testable", "clusters"]) == "not testable"
    assert C.combine_seeds(["not testable", "clusters", "clusters"]) == "clusters"
    with pytest.raises(ValueError, match="verdicts"):
        C.combine_seeds(["maybe"])


def _scores(n=150, seed=0):
    rng = np.random.default_rng(seed)
    cols = [c for p in PAIRS for c in p]
    frame = pd.DataFrame(rng.normal(size=(n, len(cols))), columns=cols)
    frame["not_a"] = -0.7 * frame["a"] + 0.3 * frame["not_a"]
    return frame


def test_pair_cluster_tests_count_verdicts_and_not_testable_pairs():
    base = _scores()
    clustered = base.copy()
    lab = np.random.default_rng(9).random(len(base)) < 0.5
    clustered.loc[lab, "b"] += 6                       # pair b: two real clusters
    clustered["c"] = 1.0                               # pair c: a constant pole
    tests = C.pair_cluster_tests([clustered, clustered], PAIRS, n_null=99, seed=1)
    assert tests.verdicts["b/not_b"] == "clusters"
    assert tests.verdicts["c/not_c"] == "not testable"
    assert tests.count("clusters") + tests.count("no clusters") + tests.count("not testable") == 4
    assert set(tests.per_seed["set"]) == {0, 1} and len(tests.per_seed) == 8
    assert tests.table().loc["b/not_b", "seeds_clustered"] == 2
    with pytest.raises(ValueError, match="no column"):
        C.pair_cluster_tests([base.drop(columns="d")], PAIRS)


def test_controls_give_clusters_for_half_the_pairs_and_none_for_the_gaussian():
    base = _scores(200)
    positive = C.control_scores(base, PAIRS, "positive", separation=5.0, seed=2)
    negative = C.control_scores(base, PAIRS, "negative", seed=2)
    np.testing.assert_allclose(negative.mean(), base.mean(), atol=0.3)
    pos = C.pair_cluster_tests([positive], PAIRS, n_null=99, seed=3).verdicts
    neg = C.pair_cluster_tests([negative], PAIRS, n_null=99, seed=3).verdicts
    assert list(pos) == ["clusters", "no clusters", "clusters", "no clusters"]
    assert (neg == "no clusters").all()
    with pytest.raises(ValueError, match="variant"):
        C.control_scores(base, PAIRS, "neutral")


def test_dimensionality_of_isotropic_and_one_dimensional_data():
    rng = np.random.default_rng(5)
    iso = rng.normal(size=(5000, 4))
    line = np.outer(rng.normal(size=300), [1, 2, 3]) + 1e-6 * rng.normal(size=(300, 3))
    d = C.dimensionality([iso, line], n_components=3)
    assert d.loc[0, "participation_ratio"] == pytest.approx(4, rel=0.02)
    assert d.loc[1, "participation_ratio"] == pytest.approx(1, abs=1e-3)
    assert d.loc[1, "pc1"] == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(d.loc[0, ["pc1", "pc2", "pc3"]].astype(float), 0.25, atol=0.02)


def test_controlled_tests_count_and_describe_the_data_and_both_controls():
    base = _scores(200)
    tests = C.controlled_tests([base, base], PAIRS, separation=6.0, n_null=99, seed=4)
    counts = C.verdict_counts(tests)
    assert list(counts.index) == ["data", "positive", "negative"]
    assert (counts.sum(axis=1) == len(PAIRS)).all()
    assert counts.loc["positive", "clusters"] == 2 and counts.loc["negative", "clusters"] == 0
    text = C.describe(tests)
    assert "The controls separate" in text and f"none for {counts.loc['data', 'no clusters']}" \
        in text
    with pytest.raises(ValueError, match="controlled_tests"):
        C.describe({"data": tests["data"]})


def test_cluster_null_figure_has_a_panel_per_variant_and_a_dot_per_pair():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facexai import charts

    tests = C.controlled_tests([_scores(60)], PAIRS, n_null=20, seed=1)
    fig = charts.cluster_null_figure({k: t.table() for k, t in tests.items()})
    assert [ax.get_title() for ax in fig.axes] == ["data", "positive", "negative"]
    dots = [c for c in fig.axes[1].collections if c.get_offsets().shape[1] == 2
            and len(c.get_offsets()) and not hasattr(c, "get_segments")]
    assert sum(len(c.get_offsets()) for c in dots) == len(PAIRS)
    plt.close(fig)


def _tests(verdicts):
    return C.ClusterTests(per_seed=pd.DataFrame(), verdicts=pd.Series(verdicts, name="verdict"))


def test_named_counts_record_each_variant_under_its_result_name():
    from facexai.results import Result

    tests = {"data": _tests({"a": "clusters", "b": "no clusters", "c": "no clusters"}),
             "positive": _tests({"a": "clusters", "b": "clusters", "c": "not testable"})}
    names = {"clusters": Result("nb", "n_clustered"), "no clusters": Result("nb", "n_flat")}
    assert C.named_counts(tests, names) == {"n_clustered": 1, "n_flat": 2,
                                            "n_clustered@positive": 2, "n_flat@positive": 0}
    assert list(C.named_counts(tests, names)) == ["n_clustered", "n_flat", "n_clustered@positive",
                                                  "n_flat@positive"]
    with pytest.raises(ValueError, match="verdict"):
        C.named_counts(tests, {"lumps": Result("nb", "x")})


def test_participation_summary_and_summary_text_on_a_constructed_case():
    dims = pd.DataFrame({"participation_ratio": [2.0, 4.0, 10.0], "pc1": [0.5, 0.3, 0.2]})
    mean, lo, hi, ratings = C.participation_summary(dims)
    half = 12.706204736174707 * 1.0          # t(0.975, 1) x the standard error of (2, 4)
    assert (mean, ratings) == (3.0, 10.0) and (lo, hi) == pytest.approx((3 - half, 3 + half))
    with pytest.raises(ValueError, match="dims"):
        C.participation_summary(dims.iloc[:1])
    tests = {"data": _tests({"a": "clusters", "b": "no clusters"}),
             "positive": _tests({"a": "clusters", "b": "no clusters"}),
             "negative": _tests({"a": "no clusters", "b": "no clusters"})}
    separation = pd.DataFrame({"features_verdict": ["structure", "none"]}, index=["a", "b"])
    text = C.summary_text(tests, dims, separation, 2)
    assert text.startswith("On the held-out predictions of 2 training seeds (synthetic faces), the "
                           f"clustering test finds {C.describe(tests)} The predictions")
    assert "dimensionality of 3.0 against 10.0 for the ratings" in text
    assert "(first principal component 40% of the variance against 20%)" in text
    assert "for 1 of 2 pairs:" in text
