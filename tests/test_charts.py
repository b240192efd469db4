"""The core's general figures (facexai.charts), drawn from constructed tables: what each panel
shows, its labels and colours."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from facexai import charts, manifold  # noqa: E402

ATTRS = ["happy", "calm", "attractive", "trustworthy", "friendly", "typical"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _table(seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"attribute": ATTRS, "ours": rng.uniform(0, 1, 6),
                         "paper_a": rng.uniform(0, 1, 6), "paper_b": rng.uniform(0, 1, 6),
                         "noise_ceiling": rng.uniform(0.5, 1, 6)})


def test_training_figure_circles_the_kept_epoch_of_one_model_only():
    history = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [3.0, 2.0, 1.5],
                            "val_r": [0.1, 0.4, 0.3], "best": [False, True, False]})
    fig = charts.training_figure(history)
    assert [len(ax.lines) for ax in fig.axes] == [1, 2]
    np.testing.assert_array_equal(fig.axes[1].lines[1].get_xdata(), [1])
    per_attribute = pd.concat([history.assign(attribute=a) for a in ("happy", "calm")])
    assert [len(ax.lines) for ax in charts.training_figure(per_attribute).axes] == [1, 1]


def test_r_per_attribute_figure_sorts_rows_and_greys_the_references():
    table = _table()
    fig = charts.r_per_attribute_figure(table, order_by="paper_a", references=["paper_a",
                                                                                "paper_b"])
    ax = fig.axes[0]
    order = table.sort_values("paper_a", ascending=False)["attribute"].tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == order
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"ours", "paper_a", "paper_b",
                                                                  "noise ceiling"}
    palette = charts._model_palette(["ours", "paper_a", "paper_b"], {"paper_a", "paper_b"})
    for name in ("paper_a", "paper_b"):       # greys: equal red, green and blue
        assert np.allclose(palette[name], palette[name][0])
    assert not np.allclose(palette["ours"], palette["ours"][0])


def test_reference_figure_labels_the_extremes_and_says_when_the_table_is_missing():
    table = _table()
    labels = {"paper_a": "the paper's r", "ours": "this study", "paper_b": "other",
              "noise_ceiling": "ceiling"}
    fig = charts.reference_figure(table, "paper_a", "ours", colour="noise_ceiling",
                                  also="paper_b", labels=labels)
    ax = fig.axes[0]
    assert len(ax.collections) == 2 and ax.get_xlabel() == "the paper's r"
    assert len(ax.texts) == 5           # the 3 farthest from the identity and the 2 closest
    empty = charts.reference_figure(None, "paper_a", "ours", colour="noise_ceiling",
                                    labels=labels, missing="nothing recorded")
    assert empty.axes[0].texts[0].get_text() == "nothing recorded"
    partial = charts.reference_figure(table.drop(columns="ours"), "paper_a", "ours",
                                      colour="noise_ceiling", labels=labels)
    assert partial.axes[0].texts[0].get_text() == "no table"


def test_scatter_panels_give_the_spearman_rho_in_the_title():
    from facexai.stats import spearman

    table = _table()
    fig = charts.scatter_panels(table, (("noise_ceiling", "ours", "x", "y", "C0"),
                                        ("paper_a", "paper_b", "a", "b", "0.4")))
    assert len(fig.axes) == 2
    rho = spearman(table["paper_b"], table["paper_a"])
    assert fig.axes[1].get_title() == f"Spearman ρ = {rho:.2f}"


def test_region_profile_figure():
    per_area = pd.DataFrame(1.0, index=ATTRS[:2], columns=["mouth", "eyes", "hair"])
    fig = charts.region_profile_figure(per_area, ATTRS[:2])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mouth", "eyes", "hair"]


def test_embedding_grid_draws_a_row_per_design_and_3d_from_the_view():
    rng = np.random.default_rng(0)
    designs = {}
    for key in ("a", "b"):
        x, labels = rng.normal(size=(40, 5)), rng.random(40) < 0.5
        designs[key] = (x, labels, {"pca": manifold.embed(x, "pca"),
                                    "pca3": manifold.embed(x, "pca", n_components=3)})
    emb = manifold.labelled_embeddings(designs, names=str.upper, k=5, n_permutations=10)
    fig = charts.embedding_grid(emb, ["b"], sides=lambda k: (f"not {k}", k), view=(20, 30))
    assert len(fig.axes) == 2
    flat, three = fig.axes
    assert flat.get_ylabel() == "b" and flat.get_title().startswith("pca: ")
    assert (three.elev, three.azim) == (20, 30)
    legend = [t.get_text() for t in three.get_legend().get_texts()]
    assert legend == [f"not b ({(~designs['b'][1]).sum()})", f"b ({designs['b'][1].sum()})"]
