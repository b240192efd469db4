"""The explanation benchmark: its metrics on inputs with known answers (ties, empty and constant
maps), its faces and subjects, the ranking statistics against published values, and its sweeps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai import benchscore, leaderboard
from facexai.benchscore import correctness, data_truth_scores, iou_from_rank


def _truth(n=3, size=8):
    t = np.zeros((n, size, size), bool)
    t[:, 2:4, 2:6] = True                      # 8 pixels
    face = np.zeros_like(t)
    face[:, 1:7, 1:7] = True                   # 36 pixels
    return t, face


def test_iou_is_rank_accuracy_transformed_and_matches_topk_iou_without_ties():
    from facexai.au_saliency import topk_iou

    assert iou_from_rank([0.0, 0.5, 1.0]) == pytest.approx([0.0, 1 / 3, 1.0])
    rng = np.random.default_rng(0)
    maps = rng.random((5, 8, 8))               # no ties
    truth, _ = _truth(5)
    rank = data_truth_scores(maps, truth, truth)["rank"]
    assert iou_from_rank(rank) == pytest.approx(topk_iou(maps, truth))


def test_data_truth_scores_of_perfect_empty_and_constant_maps():
    truth, face = _truth()
    perfect = data_truth_scores(truth.astype(float), truth, face)
    for m in ("mass", "rank", "iou", "pointing"):
        assert perfect[m] == pytest.approx(np.ones(3)), m
    assert perfect["mass_lift"] == pytest.approx(1 - 8 / 36)
    empty = data_truth_scores(np.zeros(truth.shape), truth, face)
    assert empty["mass"] == pytest.approx(np.zeros(3))              # counted as 0, not dropped
    constant = data_truth_scores(np.ones(truth.shape), truth, face)  # every pixel tied
    assert constant["rank"] == pytest.approx(8 / 64)                 # ties by expectation
    assert constant["pointing"] == pytest.approx(8 / 64)
    uniform = data_truth_scores(face.astype(float), truth, face)
    assert uniform["mass_lift"] == pytest.approx(0.0)                # chance within the face
    no_truth = data_truth_scores(truth.astype(float), np.zeros_like(truth), face)
    assert np.isnan(no_truth["mass"]).all() and np.isnan(no_truth["rank"]).all()


def _causes(areas, size=20):
    """One face, one mask per cause: a column block of ``area`` pixels each, side by side."""
    masks = np.zeros((len(areas), 1, size, size), bool)
    col = 0
    for c, a in enumerate(areas):
        rows = a // 2
        masks[c, 0, :rows, col:col + 2] = True
        col += 2
    face = np.ones((1, size, size), bool)
    return masks, face


def test_correctness_known_orders_area_and_undefined_cases():
    areas = [4, 8, 12, 16, 20]
    masks, face = _causes(areas)
    effects = np.array([[5.0], [1.0], [4.0], [2.0], [3.0]])
    active = np.ones((5, 1), bool)
    density = np.zeros((1, 20, 20))
    for c, e in enumerate(effects[:, 0]):
        density[0][masks[c, 0]] = e                # relevance per pixel ranks like the effect
    agree = correctness(density, masks, effects, active, face)
    assert agree[0] == pytest.approx(1.0)          # density ranks the AUs as their effects
    assert correctness(-density, masks, -effects, active, face)[0] == pytest.approx(agree[0])
    area_only = face.astype(float)                 # knows only where the face is
    assert np.isnan(correctness(area_only, masks, effects, active, face))[0]
    raw = correctness(area_only, masks, np.array(areas, float)[:, None], active, signed=False,
                      per_area=False)
    assert raw[0] == pytest.approx(1.0)            # the naive score rewards area alone
    few = active.copy()
    few[:3] = False
    assert np.isnan(correctness(density, masks, effects, few, face, min_causes=4))[0]
    assert np.isnan(correctness(np.zeros((1, 20, 20)), masks, effects, active, face))[0]


def test_spearman_columns_equal_scipy_per_column_with_ties_gaps_and_too_few_rows():
    """The all-columns Spearman of correctness against scipy's spearmanr column by column, on
    the rows each column keeps: ties (also ties up to rounding), left-out rows, a constant side
    and columns with fewer than min_causes rows are NaN."""
    from scipy.stats import spearmanr

    from facexai.benchscore import _spearman_columns

    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, (9, 200)).astype(float) * 0.1
    a[:, 1] *= 1 + 1e-12                  # equal up to rounding: still ties
    b = rng.normal(size=(9, 200))
    b[:4, 2] = 1.0                        # a tie in the effects
    ok = rng.random((9, 200)) < 0.7
    ok[:, 3] = False
    ok[:3, 4] = True
    ok[3:, 4] = False                     # 3 rows: fewer than 4
    a[:, 5] = 0.3                         # a constant side
    got = _spearman_columns(a, b, ok, 4)
    for j in range(a.shape[1]):
        k = ok[:, j]
        if k.sum() < 4 or np.ptp(np.round(a[k, j], 9)) == 0 or np.ptp(b[k, j]) == 0:
            assert np.isnan(got[j]), j
        else:
            assert got[j] == pytest.approx(spearmanr(np.round(a[k, j], 9), b[k, j])[0],
                                           abs=1e-12), j
    assert np.isnan(got[[3, 4, 5]]).all()
    assert np.isfinite(got).sum() > 150


def test_correctness_of_random_maps_is_centred_even_when_masks_leave_the_face():
    rng = np.random.default_rng(5)
    n, size = 300, 16
    face = np.zeros((n, size, size), bool)
    face[:, 2:14, 2:14] = True
    masks = np.zeros((5, n, size, size), bool)
    for c in range(5):                            # growing masks, the larger ones spill out
        masks[c, :, 4 + c:8 + c, max(0, 4 - 2 * c):8 + 2 * c] = True
    effects = np.arange(5, dtype=float)[:, None] * np.ones((1, n))   # bigger mask, bigger effect
    maps = rng.random((n, size, size)) * face
    rho = correctness(maps, masks, effects, np.ones((5, n), bool), face)
    assert abs(np.nanmean(rho)) < 0.05
    raw = correctness(maps, masks, effects, np.ones((5, n), bool), signed=False, per_area=False)
    assert np.nanmean(raw) > 0.8                  # the naive score: area alone


def test_contrastivity_and_randomisation_of_maps_that_ignore_the_model():
    rng = np.random.default_rng(2)
    maps = rng.random((4, 8, 8))
    assert benchscore.contrastivity(maps, maps) == pytest.approx(np.zeros(4))
    assert np.isnan(benchscore.contrastivity(np.ones((1, 8, 8)), maps[:1]))[0]
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(256, 3)).eval()
    x = torch.randn(4, 1, 8, 8)
    fixed = benchscore.randomisation(model, x, lambda m: maps, independent_layers=2)
    assert fixed["cascading"] == pytest.approx(np.zeros(4))
    assert fixed["independent"] == pytest.approx(np.zeros(4))

    def grad(m):
        xx = x.clone().requires_grad_(True)
        m(xx)[:, 0].sum().backward()
        return xx.grad[:, 0].numpy()
    moved = benchscore.randomisation(model, x, grad)
    assert (moved["cascading"] > 0.1).all()


def test_critical_difference_matches_demsar_table():
    # Demsar (2006), table 5a: q_0.05 = 2.569 for k = 4, 2.343 for k = 3
    assert leaderboard.critical_difference(4, 10) == pytest.approx(2.569 * np.sqrt(20 / 60),
                                                                   abs=2e-3)
    assert leaderboard.critical_difference(3, 6) == pytest.approx(2.343 * np.sqrt(12 / 36),
                                                                  abs=2e-3)
    with pytest.raises(ValueError, match="k >= 2"):
        leaderboard.critical_difference(1, 5)


def _table(values: dict, faces=6, seeds=(0, 1), metric="correctness", noise=0.01):
    rng = np.random.default_rng(0)
    rows = []
    for subject in ("a", "b"):
        for name, (kind, mean) in values.items():
            for s in seeds:
                for f in range(faces):
                    rows.append({"subject": subject, "seed": s, "map": name, "kind": kind,
                                 "metric": metric, "face": f,
                                 "value": mean + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_friedman_of_a_consistent_order_has_the_textbook_statistic():
    t = _table({"x": ("explainer", 0.9), "y": ("explainer", 0.5), "z": ("control", 0.1)},
               noise=0.0)
    res = leaderboard.friedman(t, "correctness")
    assert list(res["ranks"].index) == ["x", "y", "z"]
    assert res["statistic"] == pytest.approx(res["blocks"] * 2)      # n (k - 1), no ties
    assert res["blocks"] == 4


def test_summary_counts_undefined_and_beats_controls():
    t = _table({"good": ("explainer", 0.6), "weak": ("explainer", 0.01),
                "random": ("control", 0.0)})
    t.loc[(t["map"] == "weak") & (t["face"] == 0), "value"] = np.nan
    null = pd.DataFrame({"subject": "a", "seed": 0, "draw": range(20), "metric": "correctness",
                         "value": np.linspace(-0.02, 0.02, 20)})
    s = leaderboard.summarise(t, null, n_boot=200)
    row = s.set_index(["subject", "map"])
    assert bool(row.loc[("a", "good"), "beats_controls"])
    assert not bool(row.loc[("a", "weak"), "beats_controls"])
    assert row.loc[("a", "weak"), "undefined"] == 2                  # one face, two seeds
    assert row.loc[("a", "good"), "level"] == pytest.approx(1 - 0.05 / 3)
    with pytest.raises(ValueError, match="unknown metric"):
        leaderboard.summarise(t.assign(metric="nope"))


def test_precision_reports_half_widths_and_the_faces_a_goal_needs():
    """leaderboard.precision: per subject the explainers' median half-width, how many are within
    the goal, and the faces a seed the faces' part of the width needs (controls left out)."""
    from facexai import stats

    t = _table({"x": ("explainer", 0.5), "y": ("explainer", 0.2), "z": ("control", 0.0)},
               faces=30, seeds=(0, 1, 2), noise=0.3)
    summary = leaderboard.summarise(t, n_boot=200)
    table = leaderboard.precision(t, summary, "correctness", 0.04)
    assert list(table.index) == ["a", "b"]
    assert (table["seeds"] == 3).all() and (table["faces a seed"] == 30).all()
    s = summary[(summary.subject == "a") & (summary.kind == "explainer")].set_index("map")
    halves = (s["hi"] - s["lo"]) / 2
    assert table.loc["a", "half-width"] == pytest.approx(halves.median())
    assert table.loc["a", "within goal"] == "0 of 2"
    # the faces' part alone: the half-width falls as 1 / sqrt(faces)
    assert table.loc["a", "faces a seed for goal"] == pytest.approx(
        np.median(30 * (halves / 0.04) ** 2))
    parts = stats.variance_components(stats.seeds_by_faces(t[(t["subject"] == "a")
                                                               & (t["map"] == "x")]))
    assert parts["seeds"] == 3 and 0 <= table.loc["a", "seed share"] <= 1
    assert table.loc["a", "faces a seed for goal"] > 30
    # an explainer undefined on every face (too few causes): no width, no projection, no error
    t.loc[t["map"] == "y", "value"] = np.nan
    t.loc[(t["map"] == "x") & (t["subject"] == "b"), "value"] = np.nan
    gaps = leaderboard.precision(t, leaderboard.summarise(t, n_boot=50), "correctness", 0.04)
    assert np.isnan(gaps.loc["b", "half-width"]) and np.isnan(gaps.loc["b", "seed share"])
    assert np.isnan(gaps.loc["b", "faces a seed for goal"]) and gaps.loc["b", "within goal"] == \
        "0 of 2"
    assert np.isfinite(gaps.loc["a", "half-width"])
    t = _table({"x": ("explainer", 0.5), "y": ("explainer", 0.2), "z": ("control", 0.0)},
               faces=30, seeds=(0, 1, 2), noise=0.3)
    loose = leaderboard.precision(t, summary, "correctness", 1.0)
    assert (loose["within goal"] == "2 of 2").all() and (loose["faces a seed for goal"] == 30).all()
    with pytest.raises(ValueError, match="goal"):
        leaderboard.precision(t, summary, "correctness", 0.0)


def test_findings_read_clear_cases():
    rows = []
    for metric, values in {"mass": {"lrp_epsilon_plus_flat": 0.8, "integrated_gradients": 0.3},
                           "cascading": {"guided_backprop": 0.1, "gradient": 0.9,
                                         "guided_gradcam": 0.1, "gradcam": 0.9}}.items():
        t = _table({k: ("explainer", v) for k, v in values.items()}, metric=metric)
        rows.append(t)
    faces = pd.concat(rows, ignore_index=True)
    summary = leaderboard.summarise(faces, n_boot=100)
    found = leaderboard.findings(summary, faces).set_index("source")
    assert found.loc["CLEVR-XAI (Arras et al. 2022)", "verdict"] == "holds"
    adebayo = found.loc["Adebayo et al. 2018", "verdict"]
    assert list(adebayo) == ["holds", "holds"]
    assert found.loc["BAM (Yang & Kim 2019)", "verdict"] == "not testable here"


def test_a_new_method_joins_the_grid_by_registering_it():
    """The chapter's recipe: register an explainer, name it, and it is scored like the others."""
    from facexai.benchsubjects import build_subject
    from facexai.explain import EXPLAINERS, register
    from facexai.explain.gradient import input_gradient

    settings = dict(image_size=48, n_train=160, n_test=64, nuisance_scale=1.0, workers=1,
                    widths=[4, 8, 8], hidden=16, init_scale=1.2, epochs=4, batch_size=64,
                    learning_rate=0.02)        # a network that learned little is explained too
    subject = build_subject("expression", seed=0, n_faces=6, settings=settings)
    try:
        @register("gradient_squared", "gradient")
        def gradient_squared(model, x, target):
            """Squared input gradient."""
            return input_gradient(model, x, target) ** 2

        scores = benchscore.score_subject(subject, ["gradient_squared", "gradient"],
                                          perturbation_faces=3, perturbation_steps=2,
                                          randomization_faces=2, independent_layers=1, n_null=2)
    finally:
        EXPLAINERS.pop("gradient_squared", None)
    table = scores.faces
    assert set(table["map"]) >= {"gradient_squared", "gradient", "random", "edge (Sobel)"}
    assert set(table["metric"]) == set(benchscore.METRICS)
    sq = table[(table["map"] == "gradient_squared") & (table["metric"] == "rank")]["value"]
    g = table[(table["map"] == "gradient") & (table["metric"] == "rank")]["value"]
    assert np.allclose(sq.to_numpy(), g.to_numpy())   # |g| and g^2 order the pixels alike


def test_point_scores_are_keyed_by_the_profile_naming_the_papers_networks(tmp_path, monkeypatch):
    from facexai import benchmark, params

    profile = tmp_path / "some.yml"
    monkeypatch.setattr(params, "profile_path", lambda name: profile)
    profile.write_text("paper2_accuracy: {iterations: 800}\n")
    first = benchmark._key({"subject": "paper2_cnn", "paper_profile": "some"})
    assert benchmark._key({"subject": "paper2_cnn", "paper_profile": "some"}) == first
    profile.write_text("paper2_accuracy: {iterations: 900}\n")   # other networks: other scores
    assert benchmark._key({"subject": "paper2_cnn", "paper_profile": "some"}) != first
