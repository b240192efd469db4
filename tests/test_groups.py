"""Group comparisons (facexai.groups) on constructed predictions whose per-group accuracy is known,
and the one false-discovery family against the Benjamini-Hochberg step-up rule written out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from facexai.groups import (GAP_COLUMNS, compare_groups, describe_gap, fdr_verdicts, group_gaps,
                            group_metrics)

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
    assert row["r_p"] == pytest.approx(1 / 301) and row["mae_p"] == pytest.approx(1 / 301)
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
    gaps = pd.DataFrame({"r_p": np.r_[rng.uniform(0, 0.004, 6), rng.uniform(size=34)],
                         "mae_p": rng.uniform(size=40)})
    out = fdr_verdicts(gaps, alpha=0.05)
    union = _bh_rejections(np.r_[gaps["r_p"], gaps["mae_p"]], 0.05)
    assert np.array_equal(out["verdict"] == "gap", union[:40] | union[40:])
    assert (out["r_q"] >= out["r_p"] - 1e-12).all()
    only_r = fdr_verdicts(gaps, alpha=0.05, tested=["r"])
    assert np.array_equal(only_r["verdict"] == "gap", _bh_rejections(gaps["r_p"], 0.05))
    assert only_r["mae_q"].isna().all()
    with pytest.raises(ValueError, match="tested"):
        fdr_verdicts(gaps, tested=["auc"])


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
    assert list(c.gaps.columns) == ["variable", *GAP_COLUMNS] and len(c.gaps) == 4
    # each variable's numbers are those of a call on it alone (same seed)
    for v in c.variables:
        alone = group_gaps(truth, pred, demo[v], **kw).set_index("attribute")
        part = c.gaps[c.gaps["variable"] == v].set_index("attribute")
        np.testing.assert_allclose(part[["r_gap", "r_p", "mae_p"]].to_numpy(float),
                                   alone[["r_gap", "r_p", "mae_p"]].to_numpy(float))
        assert set(c.metrics.loc[c.metrics["variable"] == v, "group"]) == set(demo[v])
    union = _bh_rejections(np.r_[c.gaps["r_p"], c.gaps["mae_p"]], 0.05)
    assert np.array_equal(c.gaps["verdict"] == "gap", union[:4] | union[4:])
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
