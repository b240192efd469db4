"""Features from a layer, seeded embeddings, and their numbers (facexai.manifold) on known
structures: separated blobs say "structure", shuffled labels "none"; references written out."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexai.manifold import (embed, knn_balanced_accuracy, layer_features,
                              penultimate_features, penultimate_layer, quality_table,
                              separation_test, silhouette, standardize, trustworthiness)
from facexai.models import tiny_cnn, vgg16


def _blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n // 3)
    centres = rng.normal(scale=8, size=(3, 10))
    return centres[labels] + rng.normal(size=(n, 10)), labels


def _two_blobs(n=160, gap=6.0, seed=0, dims=5, minority=0.5):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < minority
    points = rng.normal(size=(n, dims))
    points[labels, 0] += gap
    return points, labels


def test_layer_features_match_a_manual_forward():
    torch.manual_seed(0)
    model = tiny_cnn(3, input_size=16)
    x = torch.rand(5, 1, 16, 16)
    f = layer_features(model, x, "4", batch_size=2)
    np.testing.assert_allclose(f, model[:5](x).flatten(1).detach().numpy(), rtol=1e-5)
    pooled = layer_features(model, x, "4", pool="mean")
    assert pooled.shape == (5, 8)
    np.testing.assert_allclose(layer_features(model, x), model(x).detach().numpy(), rtol=1e-5)


def test_penultimate_features_are_the_input_of_the_last_dense_layer():
    torch.manual_seed(0)
    model = tiny_cnn(2, in_channels=3, input_size=16).train()
    x = torch.rand(5, 3, 16, 16)
    # the reference: what a forward pre-hook on the last nn.Linear receives, in eval mode
    seen = []
    handle = model[-1].register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        handle.remove()
        model.train()
    f = penultimate_features(model, x)
    assert f.shape == (5, 32) and f.dtype == np.float64
    np.testing.assert_array_equal(f, seen[0].double().numpy())
    # in batches (float32 sums may round differently with the batch's size)
    np.testing.assert_allclose(penultimate_features(model, x, batch_size=2), f, rtol=1e-5,
                               atol=1e-6)
    assert model.training and all(len(m._forward_hooks) == 0 for m in model.modules())
    assert penultimate_layer(model) == "8"
    assert penultimate_layer(vgg16(1, width=8)) == "classifier.5"
    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate_layer(model[:5])


def test_standardize_is_sklearns_scaler_and_centres_constant_columns():
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).normal(3, 2, size=(20, 4))
    np.testing.assert_allclose(standardize(x), StandardScaler().fit_transform(x), atol=1e-12)
    x[:, 1] = 5.0
    assert (standardize(x)[:, 1] == 0).all()
    np.testing.assert_allclose(embed(x, "pca", standardize=True), embed(standardize(x), "pca"))


def test_pca_of_planar_data_is_perfectly_trustworthy():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 6))
    emb = embed(plane, "pca")
    assert trustworthiness(plane, emb) == pytest.approx(1.0)
    assert quality_table(plane, {"pca": emb}, np.arange(60) % 2,
                         n_permutations=10).loc["pca", "trustworthiness"] == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_seeded_embeddings_repeat_and_separate_blobs(method):
    x, labels = _blobs()
    a = embed(x, method, seed=3)
    b = embed(x, method, seed=3)
    np.testing.assert_array_equal(a, b)
    q = quality_table(x, {method: a}, labels, n_permutations=50).loc[method]
    assert q["knn_balanced_accuracy"] == 1.0 and q["silhouette"] > 0.5
    assert q["trustworthiness"] > 0.8 and q["verdict"] == "structure"
    assert q["null_mean"] == pytest.approx(1 / 3, abs=0.1)


def test_random_labels_score_at_chance():
    x, _ = _blobs()
    labels = np.random.default_rng(2).integers(0, 2, len(x))
    q = quality_table(x, {"pca": embed(x, "pca")}, labels, n_permutations=50).loc["pca"]
    assert q["knn_balanced_accuracy"] < 0.7 and abs(q["silhouette"]) < 0.1
    assert q["verdict"] != "structure"


def test_unknown_embedding_is_named():
    with pytest.raises(ValueError, match="unknown embedding 'tnse'.*did you mean 'tsne'"):
        embed(np.zeros((5, 2)), "tnse")


def test_knn_accuracy_is_one_for_separated_blobs_and_half_for_noise():
    points, labels = _two_blobs(gap=20)
    assert knn_balanced_accuracy(points, labels, k=5) == 1.0
    rng = np.random.default_rng(1)
    noise = [knn_balanced_accuracy(rng.normal(size=(200, 3)), rng.random(200) < 0.5, k=15)
             for _ in range(20)]
    assert abs(np.mean(noise) - 0.5) < 0.03
    three = knn_balanced_accuracy(*_blobs(), k=5)
    assert three == 1.0


def test_knn_balanced_accuracy_equals_a_written_out_vote():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(5)
    points, labels = rng.normal(size=(60, 3)), rng.random(60) < 0.3
    k = 7
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    prior = np.array([np.mean(~labels), np.mean(labels)])
    predicted = []
    for i, row in enumerate(idx):
        others = [j for j in row if j != i][:k]
        share = np.array([np.mean(~labels[others]), np.mean(labels[others])])
        predicted.append(bool(np.argmax(share / prior)))
    predicted = np.array(predicted)
    recall = [np.mean(predicted[labels == c] == c) for c in (False, True)]
    assert knn_balanced_accuracy(points, labels, k=k) == pytest.approx(np.mean(recall))


def test_prior_corrected_vote_does_not_reward_the_majority_class():
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


def test_one_class_labels_are_not_testable():
    out = separation_test(np.random.default_rng(0).normal(size=(20, 2)), np.ones(20, bool))
    assert out["verdict"] == "not testable" and np.isnan(out["p_value"])
    one = np.r_[np.ones(19, bool), False]                  # a class of one point: no test either
    assert separation_test(np.random.default_rng(0).normal(size=(20, 2)), one)["verdict"] == \
        "not testable"
    assert np.isnan(silhouette(np.zeros((20, 2)), np.ones(20)))


def test_quality_table_has_a_row_per_space():
    from sklearn.manifold import trustworthiness as sk_trust
    from sklearn.metrics import silhouette_score

    points, labels = _two_blobs(n=90, gap=8, dims=6)
    emb = {"pca": embed(points, "pca")}
    table = quality_table(points, emb, labels, n_permutations=50)
    assert list(table.index) == ["features", "pca"] and table.index.name == "space"
    assert (table["verdict"] == "structure").all()
    assert table.loc["features", "trustworthiness"] == 1 and table.loc["pca", "dims"] == 2
    assert table.loc["pca", "trustworthiness"] == pytest.approx(sk_trust(points, emb["pca"],
                                                                          n_neighbors=10))
    assert table.loc["pca", "silhouette"] == pytest.approx(silhouette_score(emb["pca"], labels))
    test = separation_test(emb["pca"], labels, n_permutations=50)
    assert table.loc["pca", "p_value"] == test["p_value"]
    assert table["knn_balanced_accuracy"].dtype == float


def test_embedding_settings_are_the_keywords_per_method():
    from facexai.manifold import embedding_settings

    assert embedding_settings(20.0, 40, 0.1) == {"tsne": {"perplexity": 20.0},
                                                  "umap": {"n_neighbors": 40, "min_dist": 0.1}}


def test_in_sample_numbers_text_and_table_on_a_constructed_comparison():
    from types import SimpleNamespace

    import pandas as pd

    from facexai.manifold import in_sample_numbers, in_sample_table, in_sample_text

    agree = pd.DataFrame({"in-sample": [0.9, 0.7], "held-out": [0.6, 0.5]}, index=["a", "b"])
    verdicts = pd.DataFrame({"in-sample": ["structure", "none"], "held-out": ["none", "none"]},
                            index=["a", "b"])
    c = SimpleNamespace(agreement=agree, verdicts=verdicts, seen_share=0.8, n_rows=100)
    assert in_sample_numbers(c) == pytest.approx((0.8, 0.8, 0.55)) and in_sample_numbers(None) == ()
    assert in_sample_text(c) == ("100 rows, of which **80%** were used for training or model "
                                 "selection. The predicted side agrees with the raters' side for "
                                 "80.0% of the in-sample rows and 55.0% of the held-out rows "
                                 "(mean over pairs).")
    assert "switched off" in in_sample_text(None) and in_sample_table(None) is None
    table = in_sample_table(c)
    assert list(table.columns) == [("agreement with raters", "in-sample"),
                                   ("agreement with raters", "held-out"),
                                   ("separation", "in-sample"), ("separation", "held-out")]
    assert table.loc["b", ("separation", "in-sample")] == "none"


def test_cache_numba_keeps_a_packages_compiled_functions_on_disk(tmp_path, monkeypatch):
    import importlib
    import sys

    from facexai.manifold import cache_numba

    pkg = tmp_path / "jitpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import numba\n\n@numba.njit\ndef twice(x):\n    return 2 * x\n"
                                     "\nimported = twice\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jitpkg", raising=False)
    mod = importlib.import_module("jitpkg")
    assert cache_numba("jitpkg") == 1          # once, though it is bound to two names
    assert cache_numba("jitpkg") == 0          # already caching
    assert cache_numba("no_such_package") == 0
    assert mod.twice(21) == 42
    cached = list((pkg / "__pycache__").glob("*.nbi"))    # numba's index of the compiled code
    assert len(cached) == 1 and "twice" in cached[0].name


def test_cache_numba_skips_functions_it_has_nowhere_to_cache(tmp_path, monkeypatch):
    import importlib
    import sys

    from numba.core.registry import CPUDispatcher

    from facexai.manifold import cache_numba

    pkg = tmp_path / "jitpkg2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import numba\n\n@numba.njit\ndef inc(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jitpkg2", raising=False)
    mod = importlib.import_module("jitpkg2")

    def no_locator(self):
        raise RuntimeError("cannot cache function: no locator available")

    monkeypatch.setattr(CPUDispatcher, "enable_caching", no_locator)
    assert cache_numba("jitpkg2") == 0
    assert mod.inc(1) == 2                     # compiled as before, kept nowhere
    assert not list((pkg / "__pycache__").glob("*.nbi"))
