"""Labelled designs embedded with their numbers (facexai.manifold.embed_many,
labelled_embeddings, network_embeddings): settings merged and seeded, the quality table of each
design, and each network of a fitted regressor run and embedded once."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai import manifold
from facexai.models import tiny_cnn

RULES = {"k": 5, "n_permutations": 20}


def _design(n=60, seed=0, planted=True):
    """Features with a label that half of them separate when ``planted``."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.5
    x = rng.normal(size=(n, 10))
    if planted:
        x[:, :5] += 3 * labels[:, None]
    return x, labels


def test_embed_many_merges_defaults_and_settings_seeded(monkeypatch):
    x, _ = _design()
    emb = manifold.embed_many(x, ("pca", "tsne"), seed=0, defaults={"pca": {"n_components": 3}},
                              settings={"tsne": {"perplexity": 5.0}})
    assert emb["pca"].shape == (60, 3) and emb["tsne"].shape == (60, 2)
    np.testing.assert_array_equal(emb["tsne"], manifold.embed(x, "tsne", perplexity=5.0))
    np.testing.assert_allclose(emb["pca"], manifold.embed(x, "pca", n_components=3))
    seen = {}
    monkeypatch.setitem(manifold.EMBEDDINGS, "umap", lambda f, **kw: seen.update(kw))
    manifold.embed_many(x[:8], ("umap",), seed=4, defaults={"umap": {"n_neighbors": 40}},
                        settings={"umap": {"min_dist": 0.5}})
    # neighbours capped at the points minus one; the seed and every option passed on
    assert seen == {"n_neighbors": 7, "min_dist": 0.5, "seed": 4, "n_components": 2}
    with pytest.raises(ValueError, match="unknown embedding"):
        manifold.embed_many(x, ("isomap",))


def test_labelled_embeddings_are_the_quality_table_of_each_design():
    designs = {}
    for key, planted in (("a", True), ("b", False)):
        x, labels = _design(planted=planted, seed=len(designs))
        designs[key] = (x, labels, {"pca": manifold.embed(x, "pca", seed=1)})
    out = manifold.labelled_embeddings(designs, names=str.upper, level="pair", seed=1, **RULES)
    assert list(out.quality.index.names) == ["pair", "space"] and out.names == {"a": "A", "b": "B"}
    for key, (x, labels, points) in designs.items():
        ref = manifold.quality_table(x, points, labels, seed=1, **RULES)
        got = out.quality.loc[key.upper()]
        pd.testing.assert_frame_equal(got.drop(columns="positive_share"), ref, check_names=False)
        assert (got["positive_share"] == labels.mean()).all()
        assert out.points[key] is points and out.labels[key] is labels
    assert out.quality.loc[("A", "features"), "verdict"] == "structure"
    assert out.n_structure(("pca", "features")) == int(
        (out.quality.groupby(level="pair")["verdict"]
         .apply(lambda v: (v == "structure").any())).sum())


class _Fitted:
    def __init__(self, nets):
        self.nets = nets

    def explainable(self, attribute):
        return self.nets[attribute]


def test_network_embeddings_run_each_network_once():
    torch.manual_seed(0)
    multi, single = tiny_cnn(3, in_channels=3, input_size=16), tiny_cnn(1, in_channels=3,
                                                                        input_size=16)
    fitted = _Fitted({"happy": (multi, 0, "4"), "attractive": (single, 0, "4"),
                      "trustworthy": (multi, 2, "4")})
    x = torch.rand(30, 3, 16, 16)
    labels = {k: np.random.default_rng(i).random(30) < 0.5
              for i, k in enumerate(("happy", "attractive", "trustworthy"))}
    deep = manifold.network_embeddings(fitted, x, labels, ("pca",), seed=0, **RULES)
    assert deep.points["happy"] is deep.points["trustworthy"]
    assert deep.points["attractive"] is not deep.points["happy"]
    features = manifold.standardize(manifold.penultimate_features(multi, x))
    np.testing.assert_allclose(deep.points["happy"]["pca"], manifold.embed(features, "pca"))
    assert list(deep.quality.index.get_level_values("design").unique()) == list(labels)
    dims = deep.quality.xs("features", level="space")["dims"]
    assert (dims == features.shape[1]).all()
