"""Group comparisons (facexai.groups) on constructed predictions whose per-group accuracy and
calibration are known, the one false-discovery family (r, MAE and signed-error tests together)
against the Benjamini-Hochberg step-up rule written out, and the power columns against
facexai.group_tests' formulas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from facexai import group_tests
from facexai.group_tests import gap_over_seeds
from facexai.groups import (GAP_COLUMNS, compare_groups, describe_gap, fdr_verdicts, group_gaps,
                            group_metrics, signed_errors)

HALF_NORMAL = np.sqrt(2 / np.pi)   # E|e| / sd for normal errors e


def _data(n=400, noise=(0.2, 1.0), seed=0, shift=(0.0, 0.0)):
    """Ratings of two groups; the predictions of group k are off by N(shift_k, noise_k)."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) < n // 2, "a", "b")
    truth = pd.DataFrame({"x": rng.normal(5, 1, n), "y": rng.normal(5, 1, n)})
    sd = np.where(group == "a", noise[0], noise[1])
    mu = np.where(group == "a", shift[0], shift[1])
    pred = truth + rng.normal(size=(n, 2)) * sd[:, None] + mu[:, None]
    return truth, pred, group


def _bh_rejections(p, alpha):
    """Benjamini-Hochberg step-up written out: reject the k smallest p, k the largest rank with
    p_(k) <= k alpha / m."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = len(p)
    k = max([i + 1 for i in range(m) if p[order[i]] <= (i + 1) * alpha / m], default=0)
    out = np.zeros(m, bool)
    out[order[:k]] = True
    return out


def test_group_metrics_match_direct_computation():
    truth, pred, group = _data()
    table = group_metrics(truth, pred, group, n_boot=100).set_index(["attribute", "group"])
    for g in ("a", "b"):
        m = group == g
        row = table.loc[("x", g)]
        assert row["n"] == m.sum()
        assert row["r"] == pytest.approx(pearsonr(truth["x"][m], pred["x"][m])[0])
        assert row["mae"] == pytest.approx(np.abs(pred["x"][m] - truth["x"][m]).mean())
        assert row["mean_error"] == pytest.approx((pred["x"][m] - truth["x"][m]).mean())
        assert row["sd_rating"] == pytest.approx(truth["x"][m].std())
        assert row["r_lo"] <= row["r"] <= row["r_hi"]
    assert table.loc[("x", "a"), "mae"] == pytest.approx(0.2 * HALF_NORMAL, rel=0.2)


def test_bootstrap_interval_covers_the_truth():
    # The true MAE of group b is 1.0 * sqrt(2/pi); its 95 % interval should cover it in about
    # 95 % of repeated experiments (at least 85 of 100 here) and its mean error interval 0.
    cover_mae = cover_me = 0
    for seed in range(100):
        truth, pred, group = _data(n=200, seed=seed)
        row = group_metrics(truth, pred, group, attributes=["x"], n_boot=300, seed=seed)
        b = row[row["group"] == "b"].iloc[0]
        cover_mae += b["mae_lo"] <= HALF_NORMAL <= b["mae_hi"]
        cover_me += b["mean_error_lo"] <= 0 <= b["mean_error_hi"]
    assert cover_mae >= 85 and cover_me >= 85


def test_a_known_gap_is_found_with_its_size():
    truth, pred, group = _data(n=600, noise=(0.2, 1.0), shift=(0.0, 0.5))
    gaps = group_gaps(truth, pred, group, n_boot=300, n_permutations=300).set_index("attribute")
    row = gaps.loc["x"]
    assert row["verdict"] == "gap"
    assert row["r_best_group"] == "a" and row["r_worst_group"] == "b"
    assert row["mae_best_group"] == "a" and row["mae_worst_group"] == "b"
    # true r of a and b: 1/sqrt(1 + noise^2); true MAE of b with its shift, by simulation
    true_r_gap = 1 / np.sqrt(1 + 0.04) - 1 / np.sqrt(2)
    e = np.random.default_rng(9).normal(0.5, 1.0, 1_000_000)
    true_mae_gap = np.abs(e).mean() - 0.2 * HALF_NORMAL
    assert row["r_gap_lo"] <= true_r_gap <= row["r_gap_hi"]
    assert row["mae_gap_lo"] <= true_mae_gap <= row["mae_gap_hi"]
    # the range of r is never as large under shuffled labels; the tests over all groups agree
    assert row["r_p_range"] == pytest.approx(1 / 301) and row["r_gap"] > row["r_gap_chance"]
    assert row["r_p"] < 1e-6 and row["mae_p"] < 1e-6
    metrics = group_metrics(truth, pred, group, n_boot=200).set_index(["attribute", "group"])
    b = metrics.loc[("x", "b")]
    assert b["mean_error_lo"] <= 0.5 <= b["mean_error_hi"]   # b is over-rated by 0.5


def test_no_gap_when_groups_are_alike():
    truth, pred, group = _data(n=400, noise=(0.6, 0.6), seed=3)
    gaps = group_gaps(truth, pred, group, n_boot=200, n_permutations=200)
    assert (gaps["verdict"] == "no gap").all()
    assert (gaps["r_p"] > 0.05).all()


def test_small_and_missing_groups_are_left_out():
    truth, pred, group = _data(n=100)
    group = group.astype(object)
    group[:5] = "tiny"
    group[5:10] = None
    table = group_metrics(truth, pred, group, n_boot=50, min_size=10)
    assert set(table["group"]) == {"a", "b"}
    assert table.loc[table["group"] == "a", "n"].iloc[0] == 40
    one = group_gaps(truth, pred, np.where(group == "a", "a", "tiny"), n_boot=50, min_size=60)
    assert one.empty and list(one.columns) == list(GAP_COLUMNS)
    with pytest.raises(ValueError, match="one row per face"):
        group_metrics(truth, pred, group[:-1])
    with pytest.raises(ValueError, match="'z'"):
        group_metrics(truth, pred, group, attributes=["z"])
    with pytest.raises(ValueError, match="min_size"):
        group_metrics(truth, pred, group, min_size=1)


def test_fdr_verdicts_are_one_step_up_family_over_rows_and_metrics():
    rng = np.random.default_rng(4)
    gaps = pd.DataFrame({"attribute": [f"a{i}" for i in range(40)],
                         "r_p": np.r_[rng.uniform(0, 0.004, 6), rng.uniform(size=34)],
                         "mae_p": rng.uniform(size=40)})
    signed = pd.DataFrame({"attribute": [f"a{i}" for i in range(40)] * 2,
                           "p": np.r_[rng.uniform(size=36), rng.uniform(0, 1e-4, 4),
                                      rng.uniform(size=40)],
                           "error_offset": rng.normal(size=80), "mirror": False})
    out, s = fdr_verdicts(gaps, signed, alpha=0.05)
    union = _bh_rejections(np.r_[gaps["r_p"], gaps["mae_p"], signed["p"]], 0.05)
    by_row = union[:40] | union[40:80] | union[80:120] | union[120:]
    assert np.array_equal(out["verdict"] == "gap", by_row)
    assert np.array_equal(s["verdict"] != "calibrated", union[80:])
    assert (s.loc[s["verdict"] == "over-rated", "error_offset"] > 0).all()
    assert (out["r_q"] >= out["r_p"] - 1e-12).all()
    only_r, none = fdr_verdicts(gaps, alpha=0.05, tested=["r"])
    assert none is None
    assert np.array_equal(only_r["verdict"] == "gap", _bh_rejections(gaps["r_p"], 0.05))
    assert only_r["mae_q"].isna().all() and only_r["signed_q"].isna().all()
    with pytest.raises(ValueError, match="tested"):
        fdr_verdicts(gaps, tested=["auc"])


def test_a_mirror_test_is_counted_once():
    gaps = pd.DataFrame({"attribute": ["x"], "r_p": [0.5], "mae_p": [0.5]})
    signed = pd.DataFrame({"attribute": ["x", "x"], "p": [0.01, 0.01], "error_offset": [1, -1],
                           "mirror": [False, True]})
    _, s = fdr_verdicts(gaps, signed, alpha=0.05)
    # a family of three tests (r, MAE, one signed): q = 0.01 * 3 / 1
    assert s["q"].tolist() == pytest.approx([0.03, 0.03])
    assert s["verdict"].tolist() == ["over-rated", "under-rated"]


def test_signed_errors_show_shrinkage_and_a_known_offset():
    rng = np.random.default_rng(6)
    n = 600
    group = np.where(np.arange(n) < n // 2, "a", "b")
    truth = pd.DataFrame({"x": rng.normal(5, 1, n) + np.where(group == "a", 0.5, -0.5)})
    pred = 5 + 0.5 * (truth - 5) + rng.normal(0, 0.3, (n, 1))   # shrunk halfway to the mean
    s = signed_errors(truth, pred, group).set_index("group")
    # group a is rated 0.5 above the mean: the model under-rates it by about half of that, so its
    # error is about 0.5 below group b's
    assert s.loc["a", "rating_offset"] == pytest.approx(0.5, abs=0.1)
    assert s.loc["a", "error_offset"] == pytest.approx(-0.5, abs=0.1)
    assert s.loc["a", "p"] < 1e-6 and s.loc["b", "mirror"] and not s.loc["a", "mirror"]


def _demographics(n, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"sex": np.where(np.arange(n) < n // 2, "a", "b"),
                         "tone": rng.choice(["light", "mid", "dark"], n),
                         "unknown": [None] * n})


def test_compare_groups_tests_every_variable_in_one_family():
    truth, pred, _ = _data(n=300, noise=(0.2, 1.0))
    demo = _demographics(300)
    kw = dict(n_boot=50, n_permutations=100, min_size=20, seed=7)
    c = compare_groups(truth, pred, demo, ["sex", "tone", "unknown", "age"], alpha=0.05, **kw)
    assert c.variables == ["sex", "tone"] and c.absent == ["unknown", "age"]
    assert list(c.gaps.columns) == ["variable", *GAP_COLUMNS[:-1], "r_detectable", "verdict"]
    assert len(c.gaps) == 4
    # each variable's numbers are those of a call on it alone (same seed)
    for v in c.variables:
        alone = group_gaps(truth, pred, demo[v], **kw).set_index("attribute")
        part = c.gaps[c.gaps["variable"] == v].set_index("attribute")
        np.testing.assert_allclose(part[["r_gap", "r_p", "mae_p"]].to_numpy(float),
                                   alone[["r_gap", "r_p", "mae_p"]].to_numpy(float))
        assert set(c.metrics.loc[c.metrics["variable"] == v, "group"]) == set(demo[v])
    own = c.signed[~c.signed["mirror"].astype(bool)]
    assert c.family_size == 8 + len(own) and len(own) == 2 + 2 * 3   # sex once, tone per group
    union = _bh_rejections(np.r_[c.gaps["r_p"], c.gaps["mae_p"], own["p"]], 0.05)
    signed_hit = own.assign(hit=union[8:]).groupby(["variable", "attribute"])["hit"].any()
    by_row = union[:4] | union[4:8] | np.array(
        [signed_hit[(v, a)] for v, a in zip(c.gaps["variable"], c.gaps["attribute"])])
    assert np.array_equal(c.gaps["verdict"] == "gap", by_row)
    assert c.n_gaps == int((c.gaps["verdict"] == "gap").sum())
    summary = c.per_variable()
    assert summary.loc["sex", "gaps"] == c.gaps.query("variable == 'sex'")["verdict"].eq("gap").sum()
    top = c.largest("r")
    assert top["r_gap"] == c.gaps["r_gap"].max()
    assert describe_gap(top) == (f"{top['attribute']} by {top['variable']} "
                                 f"({top['r_best_group']} vs {top['r_worst_group']})")
    assert c.counts.loc[("sex", "a"), "faces"] == 150


def test_compare_groups_with_nothing_to_compare():
    truth, pred, _ = _data(n=60)
    c = compare_groups(truth, pred, _demographics(60), ["unknown"], n_boot=20, n_permutations=10)
    assert c.variables == [] and c.gaps.empty and c.largest("r") is None and c.n_gaps == 0


def test_power_columns_follow_the_formulas_and_low_power_is_inconclusive():
    truth, pred, _ = _data(n=200, noise=(0.6, 0.6), seed=8)
    demo = _demographics(200)
    c = compare_groups(truth, pred, demo, ["sex", "tone"], n_boot=20, n_permutations=10,
                       min_size=20, max_detectable=0.05)
    assert c.test_level == pytest.approx(0.05 / c.family_size)
    row = c.gaps.query("variable == 'tone' and attribute == 'x'").iloc[0]
    sizes = demo["tone"].value_counts().to_numpy()
    r0 = pearsonr(truth["x"], pred["x"])[0]
    assert row["r_detectable"] == pytest.approx(
        group_tests.detectable_r_gap(sizes, r0, c.test_level))
    s = c.signed.query("variable == 'sex' and attribute == 'y' and group == 'a'").iloc[0]
    err = pred["y"] - truth["y"]
    assert s["detectable_shift"] == pytest.approx(group_tests.detectable_shift(
        100, 100, err.std(), c.test_level) / truth["y"].std())
    assert c.detectable_shift("sex", "a", ["y"]) == pytest.approx(s["detectable_shift"])
    # 200 faces cannot detect an r gap of 0.05: every row without a gap is inconclusive
    assert set(c.gaps["verdict"]) <= {"gap", "inconclusive"}
    assert c.min_detectable_gap == pytest.approx(c.gaps["r_detectable"].median())
    lax = compare_groups(truth, pred, demo, ["sex"], n_boot=20, n_permutations=10, min_size=20,
                         max_detectable=0.9)
    assert "inconclusive" not in set(lax.gaps["verdict"])


def test_gap_over_seeds_is_the_r_gap_of_each_prediction():
    truth, pred, group = _data(n=200)
    other = pred + np.random.default_rng(1).normal(0, 0.3, pred.shape)
    gaps = gap_over_seeds(truth, [pred, other], group, "x", "a", "b")
    m = group == "a"
    expect = pearsonr(truth["x"][m], other["x"][m])[0] - pearsonr(truth["x"][~m], other["x"][~m])[0]
    assert gaps.shape == (2,) and gaps[1] == pytest.approx(expect)
    with pytest.raises(ValueError, match="best/worst"):
        gap_over_seeds(truth, [pred], group, "x", "a", "zzz")
