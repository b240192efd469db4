"""Paper-3 metrics: Pearson r per attribute, split-half noise ceilings, the paper's table, the
comparison table, and the paper-3 split as the chapter uses it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facexai import paper3
from facexai.paper3 import metrics
from facexai.synth.attributes import split_half_reliability as synth_reliability


def test_pearson_per_attribute_matches_hand_computed_values():
    pred = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0], "c": [1.0, 1.0, 1.0, 1.0]})
    obs = pd.DataFrame({"b": [4.0, 3.0, 2.0, 1.0], "a": [2.0, 4.0, 6.0, 8.0], "c": [1.0, 2.0, 3.0, 4.0]})
    r = metrics.pearson_per_attribute(pred, obs)
    assert list(r.index) == ["a", "b", "c"]  # aligned by name, not position
    assert r["a"] == pytest.approx(1.0) and r["b"] == pytest.approx(-1.0)
    assert np.isnan(r["c"])  # constant prediction
    # a hand-worked case: x = (1, 2, 3), y = (1, 3, 2): r = 0.5
    r2 = metrics.pearson_per_attribute(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [3.0], [2.0]]))
    assert r2.iloc[0] == pytest.approx(0.5)


def test_pearson_per_attribute_agrees_with_numpy_and_names_bad_shapes():
    rng = np.random.default_rng(0)
    p, o = rng.normal(size=(50, 40)), rng.normal(size=(50, 40))
    r = metrics.pearson_per_attribute(p, o)
    assert list(r.index) == paper3.ATTRIBUTES
    assert np.allclose(r.to_numpy(), [np.corrcoef(p[:, k], o[:, k])[0, 1] for k in range(40)])
    with pytest.raises(ValueError, match="same"):
        metrics.pearson_per_attribute(p, o[:, :3])
    with pytest.raises(ValueError, match="observed lacks"):
        metrics.pearson_per_attribute(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"y": [1.0, 2.0]}))


def test_noise_ceiling_is_one_for_consistent_raters_and_near_zero_for_noise():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(300, 3, 1))
    consistent = np.repeat(truth, 10, axis=2) + rng.normal(0, 0.5, size=(1, 3, 10))  # leniency only
    assert np.allclose(metrics.noise_ceiling(consistent, n_splits=10), 1.0)
    noise = rng.normal(size=(300, 3, 10))
    ceiling = metrics.noise_ceiling(noise, n_splits=20)
    assert (ceiling < 0.35).all()  # sqrt of a reliability near 0 (negative ones count as 0)
    rel = metrics.split_half_reliability(noise, n_splits=20)
    assert abs(rel.mean()) < 0.1


def _reference_reliability(raw, n_splits, seed):
    """Split-half reliability written out image by image and column by column (a reference)."""
    rng = np.random.default_rng(seed)
    n_r = raw.shape[2]
    out = np.zeros((n_splits, raw.shape[1]))
    for s in range(n_splits):
        perm = rng.permutation(n_r)
        for c in range(raw.shape[1]):
            pairs = []
            for i in range(raw.shape[0]):
                a = [v for v in raw[i, c, perm[: n_r // 2]] if np.isfinite(v)]
                b = [v for v in raw[i, c, perm[n_r // 2:]] if np.isfinite(v)]
                if a and b:
                    pairs.append((np.mean(a), np.mean(b)))
            x, y = np.array(pairs).T
            r = np.corrcoef(x, y)[0, 1]
            out[s, c] = 2 * r / (1 + r)
    return out.mean(0)


def test_reliability_is_synthfaces_and_tolerates_missing_raters():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=(60, 6, 1))
    raw = truth + rng.normal(size=(60, 6, 15))
    ours = metrics.split_half_reliability(raw, n_splits=5, seed=3, columns=list("abcdef"))
    assert list(ours.index) == list("abcdef")
    assert np.allclose(ours.to_numpy(), synth_reliability(raw, n_splits=5, seed=3).to_numpy())
    assert np.allclose(ours.to_numpy(), _reference_reliability(raw, 5, 3))
    holes = raw.copy()
    holes[rng.random(holes.shape) < 0.15] = np.nan  # raters dropped by the catch rule
    holes[0, :, :] = np.nan                          # an image nobody rated drops out
    with_holes = metrics.split_half_reliability(holes, n_splits=5, seed=3)
    assert np.allclose(with_holes.to_numpy(), _reference_reliability(holes, 5, 3))
    assert np.abs(with_holes.to_numpy() - ours.to_numpy()).max() < 0.15
    with pytest.raises(ValueError, match="must have shape"):
        metrics.split_half_reliability(raw[:, :, :1])
    with pytest.raises(ValueError, match="n_splits"):
        metrics.split_half_reliability(raw, n_splits=0)


def test_paper_table_has_the_40_attributes_and_the_published_means():
    t = metrics.paper_table()
    assert sorted(t["attribute"]) == sorted(paper3.ATTRIBUTES) and len(t) == 40
    # column means over the 40 attributes, as computed in shared/research/papers.md
    means = t[["human", "geometric", "vgg16", "vgg16_aug", "vit"]].mean().round(4)
    assert means.tolist() == [0.517, 0.6145, 0.6395, 0.6695, 0.678]
    assert t.set_index("attribute").loc["happy", "vgg16_aug"] == 0.91
    assert t.set_index("attribute").loc["emotStable", "target"] == "emotionally stable"


def test_comparison_table_columns_and_alignment():
    vgg = pd.Series(np.linspace(0, 1, 40), index=paper3.ATTRIBUTES[::-1])
    ceiling = pd.Series(0.9, index=paper3.ATTRIBUTES)
    t = metrics.comparison_table(vgg, {"hog_svr": vgg * 0.5}, ceiling)
    assert list(t.columns) == ["attribute", "paper_human", "paper_geometric", "paper_vgg16",
                               "paper_vgg16_aug", "paper_vit", "vgg16", "hist_svr", "lbp_svr",
                               "hog_svr", "landmarks", "noise_ceiling"]
    assert t["attribute"].tolist() == paper3.ATTRIBUTES
    row = t.set_index("attribute").loc["happy"]
    assert row["vgg16"] == vgg["happy"] and row["hog_svr"] == 0.5 * vgg["happy"]
    assert row["paper_vgg16"] == 0.84 and np.isnan(row["lbp_svr"])
    with pytest.raises(ValueError, match="unknown baseline"):
        metrics.comparison_table(vgg, {"sift": vgg})


def test_spearman_of_monotone_sequences():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(metrics.spearman([1, np.nan], [1, 2]))


def test_paper3_split_labels_have_the_paper_sizes_and_are_stable():
    # facexai.datasets.splits.paper3_split is checked against scikit-learn in test_datasets.py;
    # here: the labels the chapter uses, their counts on 2,222 rows, and stability across calls
    a, b = paper3.split_labels(2222), paper3.split_labels(2222)
    assert np.array_equal(a, b)
    assert {r: int((a == r).sum()) for r in ("train", "val", "test")} == {"train": 1421, "val": 356,
                                                                          "test": 445}
    assert not np.array_equal(a, paper3.split_labels(2222, seed=0))
