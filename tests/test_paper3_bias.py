"""Paper 3's bias analysis on constructed predictions whose per-group accuracy is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from facexai.paper3.bias import benjamini_hochberg, group_gaps, group_metrics

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


def test_group_metrics_match_direct_computation():
    truth, pred, group = _data()
    table = group_metrics(truth, pred, group, n_boot=100).set_index(["attribute", "group"])
    for g in ("a", "b"):
        m = group == g
        row = table.loc[("x", g)]
        assert row["n"] == m.sum()
        assert row["r"] == pytest.approx(pearsonr(truth["x"][m], pred["x"][m])[0])
        assert row["mae"] == pytest.approx(np.abs(pred["x"][m] - truth["x"][m]).mean())
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
    assert one.empty and "verdict" in one.columns
    with pytest.raises(ValueError, match="one row per face"):
        group_metrics(truth, pred, group[:-1])
    with pytest.raises(ValueError, match="'z'"):
        group_metrics(truth, pred, group, attributes=["z"])
    with pytest.raises(ValueError, match="min_size"):
        group_metrics(truth, pred, group, min_size=1)


def test_benjamini_hochberg_against_a_hand_computed_case():
    p = [0.01, 0.04, 0.03, np.nan, 0.5]
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533, 0.5 -> monotone from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.04, 0.0533333, 0.0533333, np.nan, 0.5],
                               rtol=1e-5)
