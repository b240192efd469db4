"""facexai.predictive: r per seed, the oracle's predictions, paired comparisons and the measured
controls, against independent references (scipy, scikit-learn, facexai.synth.ceilings) and cases
with known answers; and the two figures of the predictive-power page."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as sps  # noqa: E402

from facexai import charts, predictive  # noqa: E402
from facexai.results import Result  # noqa: E402
from facexai.synth.attributes import ATTRIBUTE_COLUMNS as A  # noqa: E402
from facexai.synth.attributes import PAIRS  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _frame(values, index=None):
    return pd.DataFrame(values, columns=list(A), index=index)


def test_seed_r_is_scipy_pearson_per_seed_and_attribute():
    rng = np.random.default_rng(0)
    truth = _frame(rng.normal(size=(30, 40)), index=np.arange(100, 130))
    preds = [_frame(truth.to_numpy() + rng.normal(size=(30, 40))) for _ in range(2)]
    r = predictive.seed_r(preds, truth, seeds=[5, 6])
    assert list(r.index) == [5, 6] and list(r.columns) == list(A)
    for k, p in enumerate(preds):
        for c in ("happy", "calm"):
            assert r.iloc[k][c] == pytest.approx(sps.pearsonr(p[c], truth[c])[0])
    with pytest.raises(ValueError, match="seeds"):
        predictive.seed_r(preds, truth, seeds=[1])
    with pytest.raises(ValueError, match="predictions"):
        predictive.seed_r([], truth)


def test_oracle_predictions_match_oracle_ceiling_and_sklearn_ridge():
    from sklearn.linear_model import Ridge

    from facexai.synth import ceilings
    from facexai.synth.rating import rate_factors

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 35))
    ratings = rate_factors(x, seed=3)
    train, test = np.arange(200), np.arange(200, 300)
    pred = predictive.oracle_predictions(x, ratings.means, train, test)
    assert pred.shape == (100, 40) and list(pred.index) == list(ratings.means.index[test])
    reference = ceilings.oracle_ceiling(x, ratings, train, test, n_splits=2)["oracle"]
    ours = pd.Series([np.corrcoef(pred[c], ratings.means[c].iloc[test])[0, 1] for c in A],
                     index=list(A))
    np.testing.assert_allclose(ours, reference, atol=1e-10)
    sk = Ridge(alpha=1.0).fit(x[train], ratings.means.iloc[train]).predict(x[test])
    np.testing.assert_allclose(pred.to_numpy(), sk, atol=1e-8)
    with pytest.raises(ValueError, match="factors"):
        predictive.oracle_predictions(None, ratings.means, train, test)
    with pytest.raises(ValueError, match="alpha"):
        predictive.oracle_predictions(x, ratings.means, train, test, alpha=-1)


def test_paired_comparisons_against_scipy_over_attributes_and_pairs():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"m": rng.uniform(0.3, 0.8, 40), "b": rng.uniform(0.2, 0.7, 40)},
                         index=list(A))
    out = predictive.paired_comparisons(table, [("m", "b")], PAIRS)
    attr, pair = (out.set_index("unit").loc[u] for u in ("attributes", "pairs"))
    assert attr["n"] == 40 and pair["n"] == 20
    assert attr["p_t"] == pytest.approx(sps.ttest_rel(table.m, table.b).pvalue)
    assert attr["p_wilcoxon"] == pytest.approx(sps.wilcoxon(table.m, table.b).pvalue)
    assert attr["p_independent"] == pytest.approx(sps.ttest_ind(table.m, table.b).pvalue)
    mean_m = [(table.m[a] + table.m[b]) / 2 for a, b in PAIRS]
    mean_b = [(table.b[a] + table.b[b]) / 2 for a, b in PAIRS]
    assert pair["p_t"] == pytest.approx(sps.ttest_rel(mean_m, mean_b).pvalue)
    assert pair["wins"] == sum(x > y for x, y in zip(mean_m, mean_b))
    # one comparison per unit: its q-value is its p-value
    assert attr["q_wilcoxon"] == pytest.approx(attr["p_wilcoxon"])
    text = predictive.describe_paired(out, {"m": "Model"})
    assert text.startswith("Model - b ") and "40 attributes / 20 pairs" in text
    with pytest.raises(ValueError, match="no column"):
        predictive.paired_comparisons(table, [("m", "x")], PAIRS)


def test_controls_on_a_large_random_case_have_known_answers():
    rng = np.random.default_rng(3)
    n = 3000
    truth = _frame(rng.normal(size=(n, 40)))
    preds = [_frame(truth.to_numpy() + rng.normal(size=(n, 40))) for _ in range(3)]  # r ~ 0.71
    ceiling = pd.Series(np.linspace(0.5, 0.95, 40), index=list(A))
    # the oracle: less noise where the ceiling is higher, so its r follows the ceiling
    oracle = _frame(truth.to_numpy() + np.linspace(1, 0.1, 40) * rng.normal(size=(n, 40)))
    landmarks = pd.Series(0.2, index=list(A))
    c = predictive.predictive_controls(preds, truth, ceiling, PAIRS, oracle=oracle,
                                       landmarks=landmarks, seed=0)
    assert list(c.columns) == ["measured", "positive", "negative"]
    assert list(c.index) == list(predictive.CONTROL_MEASURES)
    # measured: the per-seed mean r and its Student-t interval, by scipy
    r = np.array([[sps.pearsonr(p[a], truth[a])[0] for a in A] for p in preds])
    per_seed = r.mean(1)
    lo, hi = sps.t.interval(0.95, 2, loc=per_seed.mean(), scale=sps.sem(per_seed))
    assert c.loc[("mean_r", ""), "measured"] == pytest.approx(per_seed.mean())
    assert c.loc[("mean_r", "lo"), "measured"] == pytest.approx(lo)
    assert c.loc[("mean_r", "hi"), "measured"] == pytest.approx(hi)
    assert c.loc[("n_above_reliability", ""), "measured"] == (r.mean(0) > ceiling ** 2).sum()
    # positive: the oracle as the model, one deterministic model (lo = hi = mean)
    r_or = np.array([sps.pearsonr(oracle[a], truth[a])[0] for a in A])
    assert c.loc[("mean_r", ""), "positive"] == pytest.approx(r_or.mean())
    assert c.loc[("mean_r", "lo"), "positive"] == c.loc[("mean_r", "hi"), "positive"]
    assert c.loc[("n_above_reliability", ""), "positive"] == (r_or > ceiling ** 2).sum()
    assert c.loc[("r_ceiling_spearman", ""), "positive"] > 0.9
    assert c.loc[("vs_landmarks", "wins"), "positive"] == 20
    # negative: permuted ratings leave nothing to predict; one seed is no better than another
    assert abs(c.loc[("mean_r", ""), "negative"]) < 0.01
    assert c.loc[("n_above_reliability", ""), "negative"] == 0
    assert abs(c.loc[("r_ceiling_spearman", ""), "negative"]) < 0.6
    assert c.loc[("vs_landmarks", "n"), "negative"] == 20
    assert abs(c.loc[("vs_landmarks", "mean_difference"), "negative"]) < 0.02


def test_controls_without_an_oracle_or_a_second_seed_leave_those_cells_empty():
    rng = np.random.default_rng(4)
    truth = _frame(rng.normal(size=(50, 40)))
    c = predictive.predictive_controls([truth * 2], truth, None, PAIRS)
    assert c["positive"].isna().all()
    assert c.loc[("vs_landmarks", "n"), "negative"] != c.loc[("vs_landmarks", "n"), "negative"]
    assert c.loc[("mean_r", ""), "measured"] == pytest.approx(1.0)
    assert np.isnan(c.loc[("mean_r", "lo"), "measured"])   # one seed: no interval
    with pytest.raises(ValueError, match="ceiling"):
        predictive.predictive_controls([truth], truth, [0.5] * 40, PAIRS)


def test_named_results_map_parts_and_variants_to_result_names():
    idx = pd.MultiIndex.from_tuples([("mean_r", ""), ("mean_r", "lo")])
    frame = pd.DataFrame({"measured": [0.5, 0.4], "positive": [0.9, np.nan],
                          "negative": [0.0, -0.1]}, index=idx)
    names = {"mean_r": Result("nb", "mean_r_vgg16")}
    out = predictive.named_results(frame, names)
    assert out == {"mean_r_vgg16": 0.5, "mean_r_vgg16@positive": 0.9,
                   "mean_r_vgg16@negative": 0.0, "mean_r_vgg16_lo": 0.4,
                   "mean_r_vgg16_lo@negative": -0.1}
    with pytest.raises(ValueError, match="names"):
        predictive.named_results(frame, {})


def test_training_figure_draws_every_seed_and_circles_each_best_epoch():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5],
                      "val_r": [0.1, 0.4, 0.3], "best": [False, True, False]})
    history = pd.concat([h.assign(seed=0), h.assign(seed=1, best=[False, False, True])])
    fig = charts.training_figure(history)
    assert [len(ax.lines) for ax in fig.axes] == [2, 4]
    circled = [line.get_xdata().tolist() for line in fig.axes[1].lines if line.get_marker() == "o"
               and line.get_markersize() == 9]
    assert circled == [[2], [3]]


def test_ceiling_figure_sorts_by_the_noise_ceiling_and_names_missing_columns():
    table = pd.DataFrame({"attribute": ["a", "b", "c"], "vgg16": [0.2, 0.3, 0.1],
                          "vgg16_lo": [0.1, 0.2, 0.0], "vgg16_hi": [0.3, 0.4, 0.2],
                          "oracle": [0.5, 0.6, 0.4], "noise_ceiling": [0.9, 0.7, 0.8],
                          "reliability": [0.81, 0.49, 0.64]})
    fig = charts.ceiling_figure(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b", "c", "a"]
    with pytest.raises(ValueError, match="vgg16_lo"):
        charts.ceiling_figure(table.drop(columns="vgg16_lo"))


# -- the page's sentences and small tables ---------------------------------------------------------

def _table():
    """A comparison table with round numbers: VGG16 0.5 everywhere, the oracle 0.8 except on three
    attributes, noise ceiling 0.9 (reliability 0.81), the paper's columns constant."""
    t = pd.DataFrame({"attribute": list(A), "vgg16": 0.5, "oracle": 0.8, "noise_ceiling": 0.9,
                      "reliability": 0.81, "paper_vgg16": 0.6, "paper_vgg16_aug": 0.7,
                      "paper_human": 0.65, "paper_geometric": 0.3, "hist_svr": 0.4,
                      "landmarks": 0.6})
    t.loc[:2, "oracle"] = [1.0, 0.95, 0.9]          # the three largest gaps: the first attributes
    t.loc[:9, "landmarks"] = 0.1                    # VGG16 beats both baselines on 10
    return t


def _controls(measured):
    index = pd.MultiIndex.from_tuples(predictive.CONTROL_MEASURES, names=["measure", "part"])
    c = pd.DataFrame({"measured": np.nan, "positive": np.nan, "negative": np.nan}, index=index)
    for (k, part), v in measured.items():
        c.loc[(k, part), "measured"] = v
    return c


def test_best_and_last_epochs_per_seed_in_order_of_appearance():
    h = pd.DataFrame({"seed": [5, 5, 5, 2, 2], "epoch": [1, 2, 3, 1, 2],
                      "best": [False, True, False, False, True]})
    assert predictive.best_and_last_epochs(h) == ([2, 2], [3, 2])
    assert predictive.best_and_last_epochs(h[h["seed"] == 5].drop(columns="seed")) == ([2], [3])


def test_epochs_text_names_the_seeds_still_improving():
    text = predictive.epochs_text([0, 1], [4, 9], [9, 9])
    assert text.startswith("Best epoch / last epoch run: seed 0: **4 / 9**, seed 1: **9 / 9**. ")
    assert "For seed(s) 1 the best epoch is the last one run" in text
    assert "stopped rising" in predictive.epochs_text([0], [3], [8])


def test_data_and_settings_texts_fill_in_their_values():
    text = predictive.data_text(120, True, 32, {"train": 76, "val": 20, "test": 24}, "2 seeds")
    assert text == ("**120 faces** (synthetic twin) at 32 px; paper-3 split: **76 train / 20 "
                    "validation / 24 test** (the code's two `train_test_split` calls, seed 42). "
                    "Models: 2 seeds.")
    s = dict(protocol="multi", width=8, batch_norm=False, weights="none", image_size=64, epochs=60,
             patience=15, batch_size=32, lr=0.0005, weight_decay=0.0005, augment=True)
    text = predictive.settings_text(s, 3)
    assert text == ("This build: protocol **multi**, VGG16 of width 8 (torchvision: 64), weights "
                    "`none`, 64 px, at most 60 epochs (patience 15), batch 32, Adam lr 0.0005, "
                    "weight decay 0.0005, augmentation on; **3 training seeds**.")
    assert "width 8 (torchvision: 64) with batch normalisation," in predictive.settings_text(
        {**s, "batch_norm": True}, 3)


def test_summary_reliability_paired_and_gap_texts_on_a_constructed_table():
    t = _table()
    c = _controls({("mean_r", ""): 0.5, ("mean_r", "lo"): 0.4, ("mean_r", "hi"): 0.6,
                   ("n_above_reliability", ""): 0, ("r_ceiling_spearman", ""): 0.25,
                   ("vs_landmarks", "mean_difference"): 0.1, ("vs_landmarks", "wins"): 15,
                   ("vs_landmarks", "n"): 20, ("vs_landmarks", "p_wilcoxon"): 0.012})
    c.loc[("n_above_reliability", ""), "positive"] = 7
    r_seeds = pd.DataFrame([[0.4] * 40, [0.6] * 40], columns=list(A))
    text = predictive.summary_text(t, c, r_seeds, 0.33, 12.4)
    oracle = t["oracle"].mean()
    assert "**VGG16 0.50** (95 % interval over 2 seeds 0.40 to 0.60; per seed 0.40, 0.60)" in text
    assert f"Achievable ceiling (oracle) **{oracle:.2f}**, mean noise ceiling **0.90**" in text
    assert f"reaches {0.5 / oracle:.0%} of" in text and "ρ = 0.25" in text and "ρ = 0.33" in text
    assert "the paper: 0.60, with augmentation 0.70" in text and text.endswith("in 12 s.")
    text = predictive.reliability_text(t, c, 38)
    assert "on **0 of 38** attributes (the oracle's: 7), above the noise ceiling on 0." in text
    assert "VGG16 + aug is above Human on 40 of 40" in text and "Human value 0.65." in text
    text = predictive.paired_text("A - B +0.100", c)
    assert text.startswith("On the paper's own table: A - B +0.100. This study")
    assert "**+0.100**, VGG16 ahead on 15 of 20, Wilcoxon p = 0.012." in text
    text = predictive.gap_text(t, ["hist_svr", "landmarks"])
    assert "landmarks on **10 of 40** attributes" in text
    assert f"**{(t['oracle'] - 0.5).mean():.2f}** (largest for {', '.join(A[:3])})" in text
    assert f"oracle {0.9 - oracle:.2f}, the part" in text


def test_paired_and_baseline_tables_on_constructed_inputs():
    from types import SimpleNamespace

    t = _table().set_index("attribute")
    t[t.columns] = t.to_numpy() + np.random.default_rng(6).normal(0, 0.05, t.shape)
    paper = predictive.paired_comparisons(t, predictive.PAPER_COMPARISONS, PAIRS)
    ours = predictive.paired_comparisons(t, [("vgg16", "landmarks")], PAIRS)
    shown = predictive.paired_table({"paper": paper, "ours": ours})
    assert len(shown) == 2 * 3 + 2 and "t" not in shown.columns
    assert shown.index.names[1:] == ["a", "b", "unit"]
    assert shown.loc[("ours", "vgg16", "landmarks", "attributes"), "mean_difference"] == \
        f"{(t['vgg16'] - t['landmarks']).mean():.3g}"
    assert set(predictive.PAPER_NAMES) == {c for ab in predictive.PAPER_COMPARISONS for c in ab}
    base = {"hog": SimpleNamespace(n_features=10, test_r=pd.Series([0.2, 0.4]),
                                   val_r=pd.Series([0.1, 0.3]), seconds=1.5)}
    table = predictive.baseline_table(base)
    assert table.loc["hog"].to_dict() == pytest.approx(
        {"features": 10, "mean test r": 0.3, "mean validation r": 0.2, "seconds": 1.5})


def test_ceilings_are_the_noise_ceiling_and_the_oracle_or_none():
    rng = np.random.default_rng(5)
    ratings = _frame(rng.normal(size=(30, 40)))
    factors = rng.normal(size=(30, 4))
    train, test = np.arange(20), np.arange(20, 30)
    assert predictive.ceilings(None, None, ratings, train, test) == (None, None)
    _, oracle = predictive.ceilings(None, factors, ratings, train, test)
    pd.testing.assert_frame_equal(oracle, predictive.oracle_predictions(factors, ratings, train,
                                                                        test))
