"""facexai.stats' paired tests, antonym-pair means and intervals over training seeds, against
scipy and hand-computed cases."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from facexai import stats


def test_paired_test_matches_scipy_and_drops_missing_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 0.1, 25), rng.normal(0.45, 0.1, 25)
    a[3] = np.nan
    out = stats.paired_test(a, b)
    ok = np.isfinite(a)
    assert out["n"] == 24
    assert out["mean_difference"] == pytest.approx(np.mean(a[ok] - b[ok]))
    assert out["wins"] == int((a[ok] > b[ok]).sum())
    t = sps.ttest_rel(a[ok], b[ok])
    assert out["t"] == pytest.approx(t.statistic) and out["p_t"] == pytest.approx(t.pvalue)
    assert out["p_wilcoxon"] == pytest.approx(sps.wilcoxon(a[ok], b[ok]).pvalue)


def test_paired_test_of_identical_columns_has_no_p_and_bad_shapes_are_named():
    x = np.arange(5.0)
    out = stats.paired_test(x, x)
    assert out["mean_difference"] == 0 and out["wins"] == 0
    assert np.isnan(out["p_t"]) and np.isnan(out["p_wilcoxon"])
    with pytest.raises(ValueError, match="a and b"):
        stats.paired_test(x, x[:3])


def test_pair_means_average_each_pole_with_its_antonym():
    values = pd.Series({"happy": 0.8, "unhappy": 0.6, "calm": 0.2, "excitable": 0.4})
    out = stats.pair_means(values, [("happy", "unhappy"), ("calm", "excitable")])
    assert out.to_dict() == pytest.approx({"happy/unhappy": 0.7, "calm/excitable": 0.3})
    with pytest.raises(ValueError, match="'kind'"):
        stats.pair_means(values, [("kind", "mean")])


def test_seed_interval_is_the_student_t_interval_of_the_seeds():
    v = np.array([0.41, 0.45, 0.38])
    mean, lo, hi = stats.seed_interval(v)
    ref = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sps.sem(v))
    assert mean == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(ref)
    # per column (seeds x attributes), and one seed gives no interval
    m, lo2, hi2 = stats.seed_interval(np.column_stack([v, 2 * v]))
    assert hi2[1] - lo2[1] == pytest.approx(2 * (hi - lo))
    assert np.isnan(stats.seed_interval([0.4])[1])
    with pytest.raises(ValueError, match="level"):
        stats.seed_interval(v, level=1.5)


def test_hierarchical_interval_covers_seed_and_face_variation():
    rng = np.random.default_rng(1)
    faces = rng.normal(0.3, 1.0, size=(1, 400))
    mean, lo, hi = stats.hierarchical_interval(faces, n_boot=2000, rng=0)
    # one seed: the percentile bootstrap of the mean over faces (SE 1/sqrt(400) = 0.05)
    assert mean == pytest.approx(faces.mean())
    assert hi - lo == pytest.approx(2 * 1.96 * faces.std() / 20, rel=0.15)
    # seeds whose means differ widen the interval beyond the faces' share
    shifted = faces + np.array([[-0.3], [0.0], [0.3]])
    _, lo3, hi3 = stats.hierarchical_interval(shifted, n_boot=2000, rng=0)
    assert hi3 - lo3 > 2 * (hi - lo)
    with pytest.raises(ValueError, match="seeds, faces"):
        stats.hierarchical_interval(np.zeros((2, 1)))


def _hierarchical_by_definition(v, n_boot, level, seed):
    """Resample b: seeds with replacement, then faces with replacement, one at a time."""
    rng = np.random.default_rng(seed)
    s, n = v.shape
    seeds = rng.integers(0, s, size=(n_boot, s)) if s > 1 else np.zeros((n_boot, 1), int)
    faces = rng.integers(0, n, size=(n_boot, n))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = [np.nanmean(v[seeds[b]][:, faces[b]]) for b in range(n_boot)]
        lo, hi = np.nanquantile(means, [(1 - level) / 2, (1 + level) / 2])
    return np.nanmean(v), lo, hi


@pytest.mark.parametrize("shape", [(1, 30), (3, 40), (2, 7)])
def test_hierarchical_interval_is_its_definition_with_missing_values_and_in_blocks(
        shape, monkeypatch):
    rng = np.random.default_rng(sum(shape))
    v = rng.normal(size=shape)
    v[rng.random(shape) < 0.3] = np.nan       # undefined scores, some resamples all-NaN
    want = _hierarchical_by_definition(v, 300, 0.99, 5)
    assert stats.hierarchical_interval(v, 300, 0.99, 5) == pytest.approx(want, abs=1e-12)
    monkeypatch.setattr(stats, "_BOOT_CELLS", 7)   # a few resamples at a time: the same draws
    assert stats.hierarchical_interval(v, 300, 0.99, 5) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("dropna", [False, True])
def test_seeds_by_faces_is_the_pivot_table_with_repeats_gaps_and_missing_values(dropna):
    rng = np.random.default_rng(3)
    g = pd.DataFrame({"seed": rng.integers(0, 3, 60), "face": rng.choice([4, 1, 9, 2, 7], 60),
                      "value": rng.normal(size=60)})
    g.loc[rng.random(60) < 0.3, "value"] = np.nan
    g = pd.concat([g, pd.DataFrame({"seed": [5, 1], "face": [3, 8], "value": [np.nan] * 2})])
    want = g.pivot_table(index="seed", columns="face", values="value", aggfunc="mean",
                         dropna=dropna).to_numpy(float)
    np.testing.assert_allclose(stats.seeds_by_faces(g, dropna=dropna), want, rtol=0, atol=1e-12)
    renamed = g.rename(columns={"value": "lift"})
    np.testing.assert_allclose(stats.seeds_by_faces(renamed, "lift", dropna=dropna), want,
                               rtol=0, atol=1e-12)


def test_variance_components_recover_known_parts_with_gaps_and_one_seed():
    """Within: the pooled variance of each seed's faces; between: the variance of the seed means
    less what their faces explain (method of moments), 0 with one seed; values written out."""
    d = np.array([-1.0, 0.0, 1.0, 2.0, -2.0])              # mean 0, variance (ddof 1) 2.5
    v = np.stack([m + d for m in (0.0, 0.3, 0.6)])
    parts = stats.variance_components(v)
    assert parts["seeds"] == 3 and parts["faces"] == 5
    assert parts["within"] == pytest.approx(2.5)
    assert parts["between"] == 0.0                           # 0.09 - 2.5 / 5 < 0: floored
    wide = np.stack([m + d for m in (0.0, 3.0, 6.0)])
    assert stats.variance_components(wide)["between"] == pytest.approx(9.0 - 0.5)
    gappy = wide.copy()
    gappy[1, :2] = np.nan                                    # seed 1: faces 1, 2, -2
    p = stats.variance_components(gappy)
    w1 = np.var([4.0, 5.0, 1.0], ddof=1)
    within = (4 * 2.5 + 2 * w1 + 4 * 2.5) / 10
    means = [0.0, 10.0 / 3, 6.0]
    assert p["within"] == pytest.approx(within)
    assert p["between"] == pytest.approx(np.var(means, ddof=1) - within * np.mean([.2, 1 / 3, .2]))
    assert p["faces"] == pytest.approx(13 / 3)
    one = stats.variance_components(d)
    assert one["seeds"] == 1 and one["between"] == 0.0 and one["within"] == pytest.approx(2.5)
    assert np.isnan(stats.variance_components(np.array([[1.0, np.nan]]))["within"])


def test_faces_for_half_width_scales_the_face_part_and_names_a_seed_limit():
    parts = {"seeds": 3, "faces": 40.0, "within": 0.2, "between": 0.0}
    # faces only: the half-width falls as 1 / sqrt(faces)
    assert stats.faces_for_half_width(0.2, parts, 0.1) == pytest.approx(160.0)
    assert stats.faces_for_half_width(0.05, parts, 0.1) == 40.0          # already narrow
    # with a seeds' part b: goal^2 / half^2 (b + w / n) = b + w / n'
    b = 0.001
    want = 0.2 / ((0.1 / 0.2) ** 2 * (b + 0.2 / 40) - b)
    assert stats.faces_for_half_width(0.2, dict(parts, between=b), 0.1) == pytest.approx(want)
    assert stats.faces_for_half_width(0.2, dict(parts, between=0.01), 0.1) == np.inf
    assert np.isnan(stats.faces_for_half_width(np.nan, parts, 0.1))


def test_participation_ratio_counts_the_dimensions_used():
    rng = np.random.default_rng(2)
    assert stats.participation_ratio(rng.normal(size=(20000, 5))) == pytest.approx(5, rel=0.02)
    line = np.outer(rng.normal(size=500), [1.0, -2.0, 0.5])
    assert stats.participation_ratio(line) == pytest.approx(1.0)
    # two equal directions and one weak one: (2 + e)^2 / (2 + e^2) with e the weak variance
    x = rng.normal(size=(50000, 3)) * np.array([1.0, 1.0, 0.1])
    assert stats.participation_ratio(x) == pytest.approx(2.01 ** 2 / 2.0001, rel=0.02)
    with pytest.raises(ValueError, match="features"):
        stats.participation_ratio(np.zeros(5))
