"""Paper 3's Claims table and Deviations list, from constructed results."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_ind

from facexai.paper3.claims import STATUSES, claims_table, deviations, gather, table
from facexai.run import _plain


def _comparison(n=40, seed=0, ours_shift=0.0):
    rng = np.random.default_rng(seed)
    human = rng.uniform(0.2, 0.8, n)
    frame = pd.DataFrame({
        "attribute": [f"a{i}" for i in range(n)],
        "paper_human": human, "paper_geometric": human + 0.1, "paper_vgg16": human + 0.12,
        "paper_vgg16_aug": human + 0.15, "paper_vit": human + 0.16,
        "vgg16": human + 0.1 + ours_shift, "hist_svr": human - 0.2, "noise_ceiling": human + 0.05,
    })
    return frame


def _results(**over):
    comp = _comparison()
    res = {
        "paper3_predictive": {"comparison": _plain(comp, "comparison"),
                              "mean_r_vgg16": float(comp["vgg16"].mean()),
                              "mean_r_hist_svr": 0.2, "mean_r_lbp_svr": 0.25,
                              "mean_r_hog_svr": 0.3, "mean_r_landmarks": 0.35,
                              "mean_noise_ceiling": 0.55, "r_ceiling_spearman": 0.8,
                              "paper_r_human_spearman": 0.9},
        "paper3_explanations": {"gradcam_above_chance_primary": 6, "gradcam_above_chance_driving": 7,
                                "n_attributes": 8, "gradcam_mass_primary": 0.3,
                                "gradcam_chance_primary": 0.15, "gradcam_profile_r": 0.4},
        "paper3_manifolds": {"n_pairs_structure_features": 12, "n_pairs_none_features": 5,
                             "n_tsne_umap_structure": 4, "n_pairs_shown": 6},
        "paper3_bias": {"n_gaps": 3, "n_tests": 120, "largest_r_gap": 0.2,
                        "largest_r_gap_where": "happy by sex", "variables": "sex"},
    }
    for key, value in over.items():
        nb, name = key.split("__")
        if value is None:
            res[nb].pop(name, None)
        else:
            res[nb][name] = value
    return res


def test_recorded_tables_round_trip():
    comp = _comparison()
    back = table(_plain(comp, "comparison"))
    pd.testing.assert_frame_equal(back, comp)
    assert table(0.5) is None and table(None) is None


def test_claims_from_complete_results():
    t = claims_table(_results(), data="synthetic twin").set_index("claim")
    assert set(t["status"]) <= set(STATUSES)
    assert (t["data"] == "synthetic twin").all()
    rows = {c.split(" (")[0]: r for c, r in t.iterrows()}
    predict = rows["VGG16 predicts the 40 attribute ratings"]
    assert predict["status"] == "holds"      # ours = paper - 0.02 >= paper - 0.1
    assert f"mean test r {_comparison()['vgg16'].mean():.2f}" in predict["this study"]
    human = rows["VGG16 exceeds human consistency"]
    assert human["status"] == "holds"        # vgg16 = human + 0.1 > ceiling = human + 0.05
    comp = _comparison()
    t_ref, _ = ttest_ind(comp["paper_human"], comp["paper_vgg16"])
    assert f"t = {t_ref:.2f}" in human["the paper"]
    assert rows["VGG16 beats the geometric-feature baseline"]["status"] == "holds"
    assert rows["ViT-B/16 is on par with or above VGG16"]["status"] == "not tested"
    assert rows["Grad-CAM highlights the facial regions relevant to an attribute"]["status"] == "holds"
    manif = [r for c, r in rows.items() if c.startswith("t-SNE")][0]
    assert manif["status"] == "holds"
    assert [r for c, r in rows.items() if "bias" in c][0]["status"] == "holds"


def test_a_missing_result_names_what_is_missing_and_never_raises():
    t = claims_table(_results(paper3_explanations__gradcam_above_chance_primary=None),
                     data="synthetic twin")
    row = t[t["claim"].str.startswith("Grad-CAM")].iloc[0]
    assert row["status"] == "not tested"
    assert "paper3_explanations.gradcam_above_chance_primary" in row["this study"]
    empty = claims_table({}, data="synthetic twin")
    assert (empty["status"] == "not tested").all()
    assert empty["this study"].str.contains("missing").sum() >= 6


def test_status_rules_turn():
    t = claims_table(_results(paper3_predictive__mean_r_vgg16=0.05,
                              paper3_manifolds__n_pairs_none_features=0,
                              paper3_explanations__gradcam_above_chance_primary=0,
                              paper3_bias__n_gaps=0), data="x").set_index("claim")
    status = {c.split(" (")[0]: s for c, s in t["status"].items()}
    assert status["VGG16 predicts the 40 attribute ratings"] == "partly holds"
    assert status["VGG16 beats the geometric-feature baseline"] == "does not hold"
    assert status["Grad-CAM highlights the facial regions relevant to an attribute"] == \
        "does not hold"
    assert [s for c, s in status.items() if c.startswith("t-SNE")][0] == "partly holds"
    assert [s for c, s in status.items() if "bias" in c][0] == "does not hold"


def test_gather_lists_missing_notebooks():
    def reader(name):
        if name == "b":
            raise FileNotFoundError(name)
        return {"x": 1}
    found, missing = gather(["a", "b"], reader)
    assert found == {"a": {"x": 1}, "b": {}} and missing == ["b"]


def test_deviations_are_read_from_the_section(tmp_path):
    md = tmp_path / "nb.md"
    md.write_text("# Title\n\n## Deviations from the paper\n\n* **One.** first\n  continued "
                  "{cite:t}`xiao2024`\n"
                  "* Two.\n\n```{code-cell} ipython3\n* not a bullet\n```\n\n## Summary\n\n"
                  "* not a deviation\n", encoding="utf-8")
    assert deviations(md) == ["**One.** first continued xiao2024", "Two."]
    assert deviations(md, strip_roles=False)[0].endswith("{cite:t}`xiao2024`")
    assert deviations(tmp_path / "missing.md") == []


def test_a_landmark_model_above_vgg16_makes_the_baseline_claim_partial():
    # VGG16 beats the best SVR (0.3) but not the landmark geometry (0.35)
    t = claims_table(_results(paper3_predictive__mean_r_vgg16=0.32), data="x")
    row = t[t["claim"] == "VGG16 beats the geometric-feature baseline"].iloc[0]
    assert row["status"] == "partly holds"
    assert "landmark geometry 0.35" in row["this study"]
