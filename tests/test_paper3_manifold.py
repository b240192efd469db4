"""Paper 3's manifold protocol (facexai.paper3.pair_embeddings): the paper's design, pairs embedded
with its settings and their numbers, the network's features by pair, and the in-sample rows. The
machinery is facexai.manifold's (tests/test_labelled_embeddings.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai import manifold
from facexai.models import tiny_cnn
from facexai.paper3 import pair_embeddings as pe
from facexai.synth.attributes import ATTRIBUTE_COLUMNS, PAIRS

RULES = {"k": 5, "n_permutations": 20}


def _scores(n=60, seed=0, planted="attractive"):
    """Random predicted scores; a latent factor decides ``planted``'s label (attribute > antonym)
    and moves half of the other columns, so that its pair has structure in them."""
    rng = np.random.default_rng(seed)
    scores = pd.DataFrame(rng.normal(5, 1, (n, 40)), columns=list(ATTRIBUTE_COLUMNS))
    latent = rng.normal(size=n)
    others = [c for c in scores.columns if c not in (planted, pe.antonym(planted))]
    scores[others[::2]] += 3 * latent[:, None]
    scores[planted] = scores[pe.antonym(planted)] + latent
    return scores


def test_pair_design_is_the_papers():
    scores = _scores(50)
    x, labels, columns = pe.pair_design(scores, "attractive")
    assert pe.antonym("attractive") == "unattractive" and pe.antonym("unattractive") == "attractive"
    assert pe.pair_name("unattractive") == "unattractive/attractive"
    assert x.shape == (50, 38) and "attractive" not in columns and "unattractive" not in columns
    # the label: the standardised difference of the poles, written out
    z = lambda c: (scores[c] - scores[c].mean()) / scores[c].std(ddof=0)  # noqa: E731
    np.testing.assert_array_equal(labels, z("attractive") - z("unattractive") > 0)
    # a pair the network rates on one side only: raw comparison gives one class, this one two
    shrunk = scores.assign(unattractive=scores["attractive"] - 10)
    assert (shrunk["attractive"] > shrunk["unattractive"]).all()
    assert 0 < pe.pair_design(shrunk, "attractive")[1].mean() < 1
    # a constant pole: one class, not testable
    assert not pe.pair_design(scores.assign(unattractive=1.0), "attractive")[1].any()
    np.testing.assert_allclose(x[:, 0], (scores[columns[0]] - scores[columns[0]].mean())
                               / scores[columns[0]].std(ddof=0))
    with pytest.raises(ValueError, match="unknown attribute"):
        pe.antonym("pretty")
    with pytest.raises(ValueError, match="no column"):
        pe.pair_design(scores.drop(columns="unattractive"), "attractive")


def test_original_rows_are_the_papers_2219():
    from sklearn.model_selection import train_test_split

    rows = pe.original_rows()
    assert len(rows) == 2219 and len(set(rows)) == 2219
    np.testing.assert_array_equal(rows, train_test_split(np.arange(2222), test_size=0.001,
                                                         random_state=42)[0])


def test_embed_pairs_use_the_papers_settings_seeded(monkeypatch):
    seen = {}

    def fake_umap(features, **options):
        seen.update(options)
        return np.zeros((len(features), options["n_components"]))

    monkeypatch.setitem(manifold.EMBEDDINGS, "umap", fake_umap)
    scores = _scores()
    paper = pe.embed_pairs(scores, ["attractive"], ("pca", "tsne", "umap"), seed=0, k=5,
                           n_permutations=20, settings={"tsne": {"perplexity": 5.0}})
    x, _, _ = pe.pair_design(scores, "attractive")
    points = paper.points["attractive"]
    assert points["pca"].shape == (60, 2) and points["tsne"].shape == (60, 2)
    assert points["umap"].shape == (60, 3)        # the paper's 3-D UMAP, 40 neighbours
    assert seen == {"n_components": 3, "n_neighbors": 40, "min_dist": 0.1, "seed": 0}
    np.testing.assert_array_equal(points["tsne"], manifold.embed(x, "tsne", perplexity=5.0))
    assert pe.PAPER_SETTINGS["umap"] == {"n_components": 3, "n_neighbors": 40, "min_dist": 0.1}
    with pytest.raises(ValueError, match="unknown embedding"):
        pe.embed_pairs(scores, ["attractive"], ("isomap",))


def test_embed_pairs_numbers_are_the_quality_table_of_each_pair():
    scores = _scores()
    paper = pe.embed_pairs(scores, ["attractive", "trustworthy"], ("pca",), seed=1, **RULES)
    assert list(paper.quality.index.names) == ["pair", "space"]
    for attribute in ("attractive", "trustworthy"):
        x, labels, _ = pe.pair_design(scores, attribute)
        np.testing.assert_array_equal(paper.labels[attribute], labels)
        ref = manifold.quality_table(x, {"pca": manifold.embed(x, "pca", seed=1)}, labels,
                                     seed=1, **RULES)
        got = paper.quality.loc[pe.pair_name(attribute)]
        pd.testing.assert_frame_equal(got.drop(columns="positive_share"), ref, check_names=False)
        assert (got["positive_share"] == labels.mean()).all()
    assert paper.quality.loc[("attractive/unattractive", "features"), "verdict"] == "structure"
    assert paper.n_structure(("pca",)) == int(
        (paper.quality.xs("pca", level="space")["verdict"] == "structure").sum())


class _Fitted:
    def __init__(self, nets):
        self.nets = nets

    def explainable(self, attribute):
        return self.nets[attribute]


def test_deep_embeddings_are_named_by_pair():
    torch.manual_seed(0)
    multi = tiny_cnn(3, in_channels=3, input_size=16)
    fitted = _Fitted({"happy": (multi, 0, "4"), "trustworthy": (multi, 2, "4")})
    x = torch.rand(30, 3, 16, 16)
    labels = {k: np.random.default_rng(i).random(30) < 0.5
              for i, k in enumerate(("happy", "trustworthy"))}
    deep = pe.deep_embeddings(fitted, x, labels, ("pca",), seed=0, **RULES)
    assert list(deep.quality.index.names) == ["pair", "space"]
    assert list(deep.quality.index.get_level_values("pair").unique()) == [
        pe.pair_name(a) for a in labels]
    features = manifold.standardize(manifold.penultimate_features(multi, x))
    np.testing.assert_allclose(deep.points["happy"]["pca"], manifold.embed(features, "pca"))


def test_all_pairs_finds_the_planted_pair():
    table = pe.all_pairs(_scores(), seed=0, **RULES)
    assert len(table) == len(PAIRS) and table.index[0] == f"{PAIRS[0][0]}/{PAIRS[0][1]}"
    assert table.loc["attractive/unattractive", "features_verdict"] == "structure"
    assert set(table["features_verdict"]) <= set(manifold.VERDICTS)


def test_in_sample_comparison_against_a_written_out_agreement():
    n = 50
    scores = _scores(n, seed=3)
    rng = np.random.default_rng(4)
    ratings = pd.DataFrame(rng.normal(5, 1, (n, 40)), columns=list(ATTRIBUTE_COLUMNS))

    class Data:
        split = np.array(["train"] * 30 + ["val"] * 8 + ["test"] * 12)
        images = np.arange(n)

    Data.ratings = ratings

    class Fitted:
        def predict(self, images):
            return scores.iloc[images].reset_index(drop=True)

    test = np.flatnonzero(Data.split == "test")
    out = pe.in_sample_comparison(Fitted(), Data(), test, scores.iloc[test].reset_index(drop=True),
                                  seed=0, **RULES)
    orig = pe.original_rows(n)
    assert out.n_rows == len(orig) == 49
    assert out.seen_share == pytest.approx(np.isin(Data.split[orig], ["train", "val"]).mean())
    pos, neg = "attractive", "unattractive"
    for name, rows in (("in-sample", orig), ("held-out", test)):
        def side(frame):   # standardised difference over the rows, written out
            a, b = frame[pos].to_numpy()[rows], frame[neg].to_numpy()[rows]
            return (a - a.mean()) / a.std() - (b - b.mean()) / b.std() > 0

        predicted, rated = side(scores), side(ratings)
        assert out.agreement.loc[f"{pos}/{neg}", name] == pytest.approx((predicted == rated).mean())
    assert out.verdicts.shape == (len(PAIRS), 2)


def test_pair_figure_names_both_poles_and_keeps_the_papers_view():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facexai.paper3.figures import pair_figure

    scores = _scores()
    x, labels, _ = pe.pair_design(scores, "attractive")
    points = {"pca": manifold.embed(x, "pca"), "umap": manifold.embed(x, "pca", n_components=3)}
    emb = manifold.labelled_embeddings({"attractive": (x, labels, points)}, names=pe.pair_name,
                                       level="pair", **RULES)
    fig = pair_figure(emb)
    flat, three = fig.axes
    assert flat.get_ylabel() == "attractive" and (three.elev, three.azim) == (10, 120)
    assert [t.get_text().split(" (")[0] for t in three.get_legend().get_texts()] == [
        "unattractive", "attractive"]
    plt.close(fig)
