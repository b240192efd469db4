"""Paper 3's baselines: the registry of the paper's code's baselines on facexai.baselines (whose
features and fitting are tested in tests/test_baselines.py), and the landmark baseline's scores
against an independent ridge regression and scipy's Pearson r."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from facexai import baselines as core
from facexai.paper3 import baselines as p3


def test_the_papers_baselines_use_the_settings_of_its_code():
    assert list(p3.BASELINES) == ["hist_svr", "lbp_svr", "hog_svr", "landmarks", "landmarks_exact"]
    assert [v.model for v in p3.BASELINES.values()] == ["svr", "svr", "svr", "ridge", "ridge"]
    rng = np.random.default_rng(0)
    data = SimpleNamespace(images=rng.integers(0, 255, size=(2, 40, 40, 3), dtype=np.uint8),
                           landmarks=rng.uniform(0, 40, size=(2, 68, 2)))
    expected = {
        "hist_svr": [core.color_histogram(i, bins=8) for i in data.images],
        "lbp_svr": [core.lbp_histogram(i, P=24, R=3.0) for i in data.images],
        "hog_svr": [core.hog(i, orientations=8, cell=16, block=3, size=128) for i in data.images],
        "landmarks": core.landmark_geometry(core.annotator_landmarks(data.landmarks, 0.03, 0)),
        "landmarks_exact": core.landmark_geometry(data.landmarks),
    }
    for name, baseline in p3.BASELINES.items():
        np.testing.assert_allclose(baseline.features(data), np.stack(expected[name]))


def test_run_baselines_jitters_the_landmarks_as_asked(monkeypatch):
    seen = {}
    monkeypatch.setattr(core, "run_baselines", lambda data, chosen: seen.update(chosen) or {})
    lm = np.random.default_rng(2).uniform(0, 40, size=(3, 68, 2))
    data = SimpleNamespace(landmarks=lm)
    p3.run_baselines(data, ["landmarks", "landmarks_exact"], landmark_noise=0.1, seed=4)
    np.testing.assert_allclose(seen["landmarks"].features(data), core.landmark_geometry(
        core.annotator_landmarks(lm, 0.1, 4)))
    np.testing.assert_allclose(seen["landmarks_exact"].features(data), core.landmark_geometry(lm))
    p3.run_baselines(data, ["landmarks"], landmark_noise=0.0)
    np.testing.assert_allclose(seen["landmarks"].features(data), core.landmark_geometry(lm))


def test_unknown_baselines_are_named():
    with pytest.raises(ValueError, match="sift"):
        p3.run_baselines(None, ["sift"])


def test_landmark_baseline_scores_are_pearson_r_of_the_chosen_ridge():
    from scipy.stats import pearsonr
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    n = 120
    X = rng.normal(size=(n, 4))
    Y = pd.DataFrame({"happy": X @ [1.0, 0.5, 0.0, -1.0] + rng.normal(size=n),
                      "calm": X[:, 2] + 2 * rng.normal(size=n)})
    split = np.array(["train"] * 70 + ["val"] * 25 + ["test"] * 25)
    res = core.fit_baseline("landmarks", X, Y, split, model=p3.BASELINES["landmarks"].model,
                            attributes=["happy", "calm"])
    tr, va, te = (split == s for s in ("train", "val", "test"))
    Z = (X - X[tr].mean(0)) / X[tr].std(0)
    for a in ("happy", "calm"):
        model = Ridge(alpha=res.chosen[a]).fit(Z[tr], Y.loc[tr, a])
        assert res.test_r[a] == pytest.approx(pearsonr(model.predict(Z[te]), Y.loc[te, a])[0])
        assert res.val_r[a] == pytest.approx(pearsonr(model.predict(Z[va]), Y.loc[va, a])[0])


def test_the_predictive_figures_show_the_papers_columns():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from facexai.paper3 import figures

    rng = np.random.default_rng(0)
    names = ["happy", "calm", "attractive"]
    table = pd.DataFrame({"attribute": names, "vgg16": rng.random(3), "landmarks": rng.random(3),
                          "vgg16_lo": rng.random(3), "vgg16_hi": rng.random(3),
                          "oracle": rng.random(3), "reliability": rng.random(3),
                          "paper_vgg16": rng.random(3), "paper_vgg16_aug": [0.2, 0.9, 0.5],
                          "paper_human": rng.random(3), "noise_ceiling": rng.random(3)})
    fig = figures.r_per_attribute_figure(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["calm", "attractive", "happy"]
    # the models only: not the seed interval, the oracle or the reliability
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {
        "vgg16", "landmarks", "paper_vgg16", "paper_vgg16_aug", "paper_human", "noise ceiling"}
    fig = figures.r_vs_ceiling_figure(table)
    assert [ax.get_xlabel() for ax in fig.axes] == ["noise ceiling (this study's data)",
                                                    "paper's Human column"]
    plt.close("all")
