"""Every seed's maps scored fairly (facexai.seedscores), on two tiny networks standing for two
training seeds: the maps are explained_maps' of each seed, the scores truthscores' of each set,
the control maps' scores do not depend on a seed, the model truth is output_effects' of each
network."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from facexai import causemaps, heatmaps, seedscores, truthscores
from facexai.explain.cam import finer_layer
from facexai.models import tiny_cnn
from facexai.ratings import to_tensor
from facexai.regions import region_label_maps
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 48


class _Fitted:
    def __init__(self, net, seed):
        self.net, self.config = net, {"seed": seed}

    def explainable(self, attribute):
        return self.net, {"a": 0, "b": 1, "happy": 0, "intelligent": 1}[attribute], "4"


@pytest.fixture(scope="module")
def setup():
    params = [sample_face(0, i) for i in range(3)]
    labels = region_label_maps(np.stack([landmarks(p, SIZE) for p in params]), SIZE)
    fits = []
    for seed in (5, 6):
        torch.manual_seed(seed)
        fits.append(_Fitted(tiny_cnn(2, in_channels=3, input_size=SIZE), seed))
    x = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return params, labels, fits, x


def test_seed_maps_are_each_seeds_explained_maps(setup):
    _, _, fits, x = setup
    got = list(seedscores.seed_maps(fits, x, ["a"], ("gradcam",), (1,)))
    assert [(s, k) for s, k, _ in got] == [(5, ("a", "gradcam", 1)),
                                           (5, ("a", heatmaps.FINER, 1)),
                                           (6, ("a", "gradcam", 1)),
                                           (6, ("a", heatmaps.FINER, 1))]
    ref = heatmaps.explain_output(fits[1].net, x, 0, finer_layer(fits[1].net, "4"))
    np.testing.assert_allclose(got[3][2], ref, rtol=1e-6, atol=1e-9)


def test_score_seeds_scores_every_seed_and_the_controls(setup):
    params, labels, fits, x = setup
    faces = types.SimpleNamespace(labels=labels)
    truths = {"derived": {"happy": np.full(labels.shape, 0.5) * (labels > 0),
                          "intelligent": (labels == 8).astype(float)}}
    controls = {"face-uniform": (labels > 0).astype(float)}
    masks = np.stack([(labels == r).astype(float) for r in (5, 7, 8)])      # eye, nose, mouth
    effects = {(s, a): np.arange(9.0).reshape(3, 3) * (1 if a == "happy" else -1)
               for s in (5, 6) for a in ("happy", "intelligent")}
    model = seedscores.ModelTruth(causemaps.CausePairs(["e", "n", "m"], None, None, masks),
                                  effects, 0.0)
    maps = list(seedscores.seed_maps(fits, x, ["happy", "intelligent"], ("gradcam",), (1, -1),
                                        finer=False))
    scores = seedscores.score_seeds(iter(maps), faces, truths, controls, model=model, keep=2)
    f = scores.faces
    assert len(f) == (2 * 2 * 2 + 2) * 3                    # seeds x attributes x signs + controls
    assert set(f["seed"]) == {5, 6, -1}
    np.testing.assert_allclose(f.loc[f["map"] == "face-uniform", "lift"], 0.0, atol=1e-12)
    for seed, (attribute, method, sign), m in maps:
        row = f[(f["seed"] == seed) & (f["attribute"] == attribute) &
                (f["sign"] == heatmaps.SIGNS[sign])]
        mass, empty = truthscores.truth_mass(m, truths["derived"][attribute])
        np.testing.assert_allclose(row["mass"], mass)
        assert row["empty"].tolist() == empty.tolist()
        got = scores.agreement[(scores.agreement["seed"] == seed) &
                               (scores.agreement["attribute"] == attribute) &
                               (scores.agreement["sign"] == heatmaps.SIGNS[sign])]["spearman"]
        ref = truthscores.cause_agreement(m, masks, effects[seed, attribute], sign)
        np.testing.assert_allclose(got, ref)
    # controls are compared with every seed's effects
    assert set(scores.agreement.loc[scores.agreement["map"] == "face-uniform", "seed"]) == {5, 6}
    # the first seed's maps
    assert set(k[0] for k in scores.regions.examples) == {"happy", "intelligent"}
    summary = scores.summary(n_boot=50)
    assert set(summary["verdict"]) <= set(truthscores.VERDICTS)
    assert (summary.loc[summary["map"] == "gradcam", "seeds"] == 2).all()
    table = scores.agreement_summary(n_boot=50)
    assert {"spearman", "lo", "hi", "defined", "undefined"} <= set(table.columns)


def test_model_truth_is_output_effects_of_each_seed(setup):
    params, _, fits, _ = setup
    got = seedscores.model_truth(fits, params, ["happy", "intelligent"], SIZE, SIZE, k=1)
    assert got.pairs.causes == ["AU12", "glasses"]       # each attribute's strongest cause
    for f in fits:
        ref = causemaps.output_effects(f.net, [0, 1], got.pairs, to_tensor)
        np.testing.assert_allclose(got.effects[f.config["seed"], "intelligent"], ref[1],
                                   atol=1e-10)


def test_lift_figure_draws_a_panel_per_truth_with_the_face_uniform_tick():
    import matplotlib

    matplotlib.use("Agg")
    from facexai import charts

    rows = [dict(ground_truth=t, map=m, sign=s, attribute=a, mass=0.4, face_chance=0.3,
                 lift_lo=0.05, lift_hi=0.15)
            for t in ("derived", "primary") for m, s in (("gradcam", "high"), ("gradcam", "low"),
                                                         ("random", "-"))
            for a in ("happy", "calm")]
    import pandas as pd

    fig = charts.lift_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel().endswith("(derived)")
    labels = sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert labels == ["face-uniform map", "gradcam, high", "random"]       # "low" not drawn
    with pytest.raises(ValueError, match="no rows"):
        charts.lift_figure(pd.DataFrame(rows), maps=["nonsense"])


def test_truth_table_adds_the_face_uniform_mass_of_each_truth(setup):
    _, labels, _, _ = setup
    face = labels > 0
    truths = {"derived": {"happy": face * 0.25, "intelligent": face * 1.0},
              "primary": {"happy": (labels == 8).astype(float),
                          "intelligent": np.zeros(labels.shape)}}
    table = seedscores.truth_table(truths, labels, ["happy", "intelligent"])
    assert list(table.index) == ["happy", "intelligent"]
    assert table.loc["happy", "face-uniform mass, derived"] == "25%"
    assert table.loc["intelligent", "face-uniform mass, derived"] == "100%"
    assert table.loc["intelligent", "face-uniform mass, primary"] == "0%"
    share = (labels == 8)[face].mean()
    assert table.loc["happy", "face-uniform mass, primary"] == f"{share:.0%}"
    assert "driving regions" in table.columns           # scoring.ground_truth_table's columns


def test_example_and_average_grids_pick_the_kept_maps():
    m = {(a, meth, s): np.full((3, 2, 2), 10 * i + j)
         for i, a in enumerate(("happy", "calm"))
         for j, (meth, s) in enumerate((("gradcam", 1), ("gradcam", -1), ("guided_gradcam", 1)))}
    regions = types.SimpleNamespace(examples=m, averages={k: v[0] for k, v in m.items()})
    extra = {"truth": {"calm": np.ones((3, 2, 2))}, "edge": np.zeros((3, 2, 2))}
    grid = seedscores.example_grid(regions, "calm", ["gradcam", "guided_gradcam"], [1], 2, extra)
    assert list(grid) == ["gradcam, high", "guided gradcam, high", "truth", "edge"]
    assert [int(v[0, 0, 0]) for v in grid.values()] == [10, 12, 1, 0]
    assert all(len(v) == 2 for v in grid.values())
    avg = seedscores.average_grid(regions, ["happy", "calm"], ["gradcam"], -1)
    assert list(avg) == ["gradcam"] and [int(a[0, 0]) for a in avg["gradcam"]] == [1, 11]


def _summary():
    import pandas as pd

    rows = []
    for t in ("derived", "primary"):
        for name, sign, mass, verdicts in (
                ("gradcam", "high", (0.4, 0.6), truthscores.VERDICTS[:2]),
                ("blurred", "-", (0.9, 0.9), truthscores.VERDICTS[:1] * 2),
                ("random", "-", (0.3, 0.3), truthscores.VERDICTS[2:3] * 2)):
            for a, m, v in zip(("happy", "calm"), mass, verdicts):
                rows.append(dict(ground_truth=t, map=name, sign=sign, attribute=a, seeds=2,
                                 faces=3, maps=6, empty=1, mass=m, face_chance=0.3, lift=m - 0.3,
                                 lift_lo=m - 0.4, lift_hi=m - 0.2, level=0.975, verdict=v))
    return pd.DataFrame(rows)


def test_summary_tables_and_sentences_on_a_constructed_summary():
    import pandas as pd

    summary = _summary()
    lifts = seedscores.lift_overview(summary)
    assert list(lifts.columns) == ["happy", "calm"]
    assert lifts.loc[("derived", "gradcam", "high"), "calm"] == pytest.approx(0.3)
    detail = seedscores.detail_table(summary, "primary")
    assert len(detail) == 6 and detail.index.names == ["map", "sign", "attribute"]
    assert detail.loc[("random", "-", "calm"), "verdict"] == truthscores.VERDICTS[2]
    assert seedscores.correction_text(summary) == (
        "Bonferroni over the 2 attributes of each map, direction and truth (intervals at 97.50%)")
    agreement = pd.DataFrame([dict(map="gradcam", sign="high", spearman=0.123)])
    text = seedscores.summary_text(summary, agreement, (7, 7), "blurred")
    assert text.startswith("On these synthetic faces, Grad-CAM explaining high ratings at the "
                           "paper's layer (7 x 7 cells) puts on average 50% of its positive "
                           "relevance on the derived truth, against 30% for the face-uniform map;")
    assert "above the face-uniform map for 1 of 2 attributes (the blurred truth itself: 2, the " \
           "random map: 0). 2 of its maps were empty." in text
    assert "Spearman correlation is 0.12 (mean" in text and "(intervals at 97.50%)." in text
    assert "correlation is nan" in seedscores.summary_text(summary, agreement.iloc[:0], (7, 7),
                                                           "blurred")


def test_describe_counts_the_maps_and_seeds_scored():
    import pandas as pd

    faces = pd.DataFrame({"seed": [5, 5, 6, 6, -1, -1] * 2,
                          "ground_truth": ["derived"] * 6 + ["primary"] * 6})
    scores = seedscores.SeedScores(faces, pd.DataFrame(), None, 0.0)
    assert scores.describe(12.34, 5.0, 1.26) == (
        "6 maps of 2 seeds and the control maps scored in 12.3 s (the model truth's renders "
        "included: 5.0 s); the derived truths took 1.3 s.")
