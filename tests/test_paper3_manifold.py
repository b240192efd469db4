"""Paper 3's manifold protocol: held-out rows only, the paper's design, and a verdict that says
"structure" for separable labels and "none" for shuffled ones."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from facexai.models import tiny_cnn
from facexai.paper3.manifold import (InSampleWarning, antonym, embed_pair, knn_balanced_accuracy,
                                     original_rows, pair_design, pair_quality, penultimate_features,
                                     select_rows, separation_test)
from facexai.synth.attributes import ATTRIBUTE_COLUMNS


def _two_blobs(n=160, gap=6.0, seed=0, dims=5, minority=0.5):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < minority
    points = rng.normal(size=(n, dims))
    points[labels, 0] += gap
    return points, labels


def test_select_rows_refuses_training_rows_unless_asked():
    split = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 3)
    assert select_rows(split).tolist() == [8, 9, 10]
    assert select_rows(split, "heldout").tolist() == [6, 7, 8, 9, 10]
    with pytest.raises(ValueError, match="training rows"):
        select_rows(split, "all")
    with pytest.raises(ValueError, match="training rows"):
        select_rows(split, "train")
    with pytest.warns(InSampleWarning, match="6 of 11"):
        assert len(select_rows(split, "all", allow_in_sample=True)) == 11
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # held-out rows never warn
        select_rows(split, "test", allow_in_sample=True)
    with pytest.raises(ValueError, match="which"):
        select_rows(split, "testing")
    with pytest.raises(ValueError, match="unknown labels"):
        select_rows(np.array(["train", "holdout"]))


def test_original_rows_are_the_papers_2219():
    rows = original_rows()
    assert len(rows) == 2219 and len(set(rows)) == 2219
    assert set(range(2222)) - set(rows.tolist()) == set(range(2222)) - set(original_rows().tolist())


def test_pair_design_is_the_papers():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.normal(5, 1, (50, 40)), columns=list(ATTRIBUTE_COLUMNS))
    x, labels, columns = pair_design(scores, "attractive")
    assert antonym("attractive") == "unattractive" and antonym("unattractive") == "attractive"
    assert x.shape == (50, 38) and "attractive" not in columns and "unattractive" not in columns
    np.testing.assert_array_equal(labels, scores["attractive"] > scores["unattractive"])
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-12)
    np.testing.assert_allclose(x[:, 0], (scores[columns[0]] - scores[columns[0]].mean())
                               / scores[columns[0]].std(ddof=0))
    with pytest.raises(ValueError, match="unknown attribute"):
        antonym("pretty")


def test_knn_accuracy_is_one_for_separated_blobs_and_half_for_noise():
    points, labels = _two_blobs(gap=20)
    assert knn_balanced_accuracy(points, labels, k=5) == 1.0
    rng = np.random.default_rng(1)
    noise = [knn_balanced_accuracy(rng.normal(size=(200, 3)), rng.random(200) < 0.5, k=15)
             for _ in range(20)]
    assert abs(np.mean(noise) - 0.5) < 0.03


def test_prior_corrected_vote_does_not_reward_the_majority_class():
    # 10 % minority, no information: a plain majority vote is 90 % accurate, the balanced one ~0.5
    rng = np.random.default_rng(2)
    points, labels = rng.normal(size=(300, 2)), rng.random(300) < 0.1
    assert abs(knn_balanced_accuracy(points, labels, k=15) - 0.5) < 0.12


@pytest.mark.parametrize("minority", [0.5, 0.2])
def test_verdict_structure_for_separable_and_none_for_shuffled(minority):
    points, labels = _two_blobs(gap=5, minority=minority)
    found = separation_test(points, labels, n_permutations=200, seed=0)
    assert found["verdict"] == "structure"
    assert found["p_value"] == pytest.approx(1 / 201)
    assert found["knn_balanced_accuracy"] > 0.9 and abs(found["null_mean"] - 0.5) < 0.05
    shuffled = np.random.default_rng(3).permutation(labels)
    gone = separation_test(points, shuffled, n_permutations=200, seed=0)
    assert gone["verdict"] == "none" and gone["p_value"] > 0.05


def test_weak_verdict_when_significant_but_small():
    points, labels = _two_blobs(n=2000, gap=0.5, seed=4)
    out = separation_test(points, labels, n_permutations=200, seed=0, min_gain=0.2)
    assert out["verdict"] == "weak" and 0 < out["gain"] < 0.2


def test_one_class_labels_have_no_structure():
    out = separation_test(np.random.default_rng(0).normal(size=(20, 2)), np.ones(20, bool))
    assert out["verdict"] == "none" and np.isnan(out["p_value"])


def test_pair_quality_and_seeded_embeddings():
    points, labels = _two_blobs(n=90, gap=8, dims=6)
    emb = embed_pair(points, ("pca", "umap"), seed=0)
    assert emb["pca"].shape == (90, 2) and emb["umap"].shape == (90, 3)   # the paper's 3-D UMAP
    again = embed_pair(points, ("umap",), seed=0)
    np.testing.assert_allclose(emb["umap"], again["umap"])
    table = pair_quality(points, emb, labels, n_permutations=100)
    assert list(table.index) == ["features", "pca", "umap"]
    assert (table["verdict"] == "structure").all()
    assert table.loc["pca", "trustworthiness"] > 0.7 and table.loc["features", "trustworthiness"] == 1
    with pytest.raises(ValueError, match="unknown embedding"):
        embed_pair(points, ("isomap",))


def test_penultimate_features_are_the_input_of_the_last_dense_layer():
    torch.manual_seed(0)
    model = tiny_cnn(2, in_channels=3, input_size=16).train()
    x = torch.rand(5, 3, 16, 16)
    f = penultimate_features(model, x, batch_size=2)
    assert f.shape == (5, 32)
    assert model.training   # the mode is restored
    with torch.no_grad():
        np.testing.assert_allclose(f, model[:-1](x).numpy(), rtol=1e-5, atol=1e-6)
    assert all(len(m._forward_pre_hooks) == 0 for m in model.modules())
