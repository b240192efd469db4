"""Features from a layer, seeded embeddings, and their quality numbers on known structures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexai.manifold import embed, embedding_quality, layer_features
from facexai.models import tiny_cnn


def _blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n // 3)
    centres = rng.normal(scale=8, size=(3, 10))
    return centres[labels] + rng.normal(size=(n, 10)), labels


def test_layer_features_match_a_manual_forward():
    torch.manual_seed(0)
    model = tiny_cnn(3, input_size=16)
    x = torch.rand(5, 1, 16, 16)
    f = layer_features(model, x, "4", batch_size=2)
    np.testing.assert_allclose(f, model[:5](x).flatten(1).detach().numpy(), rtol=1e-5)
    pooled = layer_features(model, x, "4", pool="mean")
    assert pooled.shape == (5, 8)
    np.testing.assert_allclose(layer_features(model, x), model(x).detach().numpy(), rtol=1e-5)


def test_pca_of_planar_data_is_perfectly_trustworthy():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 6))
    emb = embed(plane, "pca")
    assert embedding_quality(plane, emb)["trustworthiness"] == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_seeded_embeddings_repeat_and_separate_blobs(method):
    x, labels = _blobs()
    a = embed(x, method, seed=3)
    b = embed(x, method, seed=3)
    np.testing.assert_array_equal(a, b)
    q = embedding_quality(x, a, labels)
    assert q["knn_accuracy"] == 1.0 and q["silhouette"] > 0.5 and q["trustworthiness"] > 0.8
    assert q["chance"] == pytest.approx(1 / 3)


def test_random_labels_score_at_chance():
    x, _ = _blobs()
    labels = np.random.default_rng(2).integers(0, 2, len(x))
    q = embedding_quality(x, embed(x, "pca"), labels)
    assert q["knn_accuracy"] < 0.7 and abs(q["silhouette"]) < 0.1


def test_unknown_embedding_is_named():
    with pytest.raises(ValueError, match="unknown embedding 'tnse'.*did you mean 'tsne'"):
        embed(np.zeros((5, 2)), "tnse")
