"""The library steps the Methods and explanation chapters call instead of inline code: each checked
against the functions it composes (computed here independently) or a hand-made case."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai import expression, faithfulness, filters
from facexai.explain import EXPLAINERS, describe, explain, explain_many, relevance_map
from facexai.models import tiny_cnn
from facexai.scoring import region_relevance_many, region_relevance_methods


@pytest.fixture(scope="module")
def model_x():
    torch.manual_seed(0)
    return tiny_cnn(3, input_size=16).double(), torch.rand(4, 1, 16, 16, dtype=torch.float64)


def test_explain_many_is_explain_per_method_with_its_options(model_x):
    model, x = model_x
    options = {"occlusion": {"window": 4, "stride": 2}, "smoothgrad": {"n_samples": 3}}
    maps, seconds = explain_many(model, x, [0, 1, 2, 0], ["gradient", "occlusion"], options)
    assert list(maps) == ["gradient", "occlusion"] and all(s >= 0 for s in seconds.values())
    np.testing.assert_array_equal(maps["occlusion"], relevance_map(
        explain(model, x, [0, 1, 2, 0], "occlusion", window=4, stride=2)))
    np.testing.assert_array_equal(maps["gradient"],
                                  relevance_map(explain(model, x, [0, 1, 2, 0], "gradient")))


def test_describe_lists_each_method_with_its_defaults():
    table = describe(["gradient", "occlusion"])
    assert list(table.index) == ["gradient", "occlusion"]
    assert table.loc["occlusion", "family"] == EXPLAINERS["occlusion"].family
    for option, value in EXPLAINERS["occlusion"].defaults.items():
        assert f"{option}={value!r}" in table.loc["occlusion", "options"]


def test_ground_truth_scores_table_has_the_metrics_and_chance():
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2, :2] = True
    uniform, inside = np.ones((2, 4, 4)), np.where(masks, 1.0, 0.0)
    scores = faithfulness.ground_truth_scores({"uniform": uniform, "inside": inside}, masks)
    table = scores.table({"uniform": 0.001, "inside": 0.002})
    assert list(table.columns) == ["mass accuracy", "rank accuracy", "pointing game",
                                   "ms per face"]
    # a uniform map scores chance (a quarter of the image) on every metric; the mask itself 1
    np.testing.assert_allclose(table.loc["uniform"].iloc[:3], 0.25)
    np.testing.assert_allclose(table.loc["inside"].iloc[:3], 1.0)
    np.testing.assert_allclose(table.loc["chance (uniform map)"].iloc[:3], 0.25)
    assert table.loc["inside", "ms per face"] == pytest.approx(2.0)
    assert np.isnan(table.loc["chance (uniform map)", "ms per face"])
    assert scores.table().shape[1] == 3
    assert scores.notes(1)["inside"] == ["mass 1.00 · rank 1.00 · pointing 1.00"]


def test_perturbation_and_randomization_tables_compose_the_single_functions(model_x):
    model, x = model_x
    maps, _ = explain_many(model, x, 0, ["gradient", "gradient_x_input"])
    curves, table = faithfulness.perturbation_table(model, x, maps, 0, patch=4, steps=4, seed=1)
    morf = faithfulness.perturbation_curve(model, x, maps["gradient"], 0, order="morf", patch=4,
                                           steps=4, seed=1)
    assert table.loc["gradient", "AOPC MoRF (high is good)"] == pytest.approx(
        faithfulness.aopc(morf).mean())
    np.testing.assert_allclose(table["MoRF - LeRF"], table.iloc[:, 0] - table.iloc[:, 1])
    sanity = faithfulness.randomization_table(model, x, 0, ["gradient", "gradcam"], seed=2)
    pivot = faithfulness.randomization_pivot(sanity)
    assert list(pivot.index) == ["gradient", "gradcam"]
    assert list(pivot.columns)[0] == "none"
    np.testing.assert_allclose(pivot["none"], 1.0)
    lines = faithfulness.summary_lines(
        faithfulness.ground_truth_scores(maps, np.ones((4, 16, 16), bool) & (np.arange(16) < 8)
                                         ).table(), table, sanity, truth_name="the left half")
    assert len(lines) == 3 and "the left half" in lines[0]


def test_scored_faces_show_one_correct_face_per_emotion_then_the_expressive_ones():
    labels = np.array([0, 5, 5, 7, 1, 0, 3, 1])
    predicted = np.array([0, 1, 5, 7, 2, 0, 3, 1])
    show, scored = expression.scored_faces(labels, predicted, n_show=3, n_eval=5)
    assert show == [2, 3, 7]                  # happy (the correct one), surprise, anger
    assert scored == [2, 3, 7, 1, 4]          # then the other non-neutral faces, in order
    # an emotion never predicted right still shows a face of it
    assert expression.scored_faces(labels, np.zeros(8, int), n_show=1, n_eval=1)[0] == [1]


def test_settings_name_what_is_missing():
    with pytest.raises(KeyError, match="hidden"):
        expression.settings({k: 1 for k in expression.SETTINGS if k != "hidden"})


def test_strongest_au_keeps_each_channels_best():
    assoc = pd.DataFrame({"channel": [0, 0, 1, 1], "au": ["AU1", "AU2", "AU1", "AU2"],
                          "r": [0.1, 0.5, 0.3, -0.9]})
    best = filters.strongest_au(assoc)
    assert list(zip(best["channel"], best["au"])) == [(0, "AU2"), (1, "AU1")]


def test_region_relevance_methods_stacks_each_method():
    from facexai.synth.generate import render_batch, sample_face

    images, marks = render_batch([sample_face(0, i) for i in range(2)], 48, grayscale=True)
    maps = {"a": np.random.default_rng(0).random((2, 48, 48)), "b": np.ones((2, 48, 48))}
    table = region_relevance_methods(maps, marks)
    pd.testing.assert_frame_equal(
        table[table["method"] == "a"].drop(columns="method").reset_index(drop=True),
        region_relevance_many(maps["a"], marks))


def test_a_trained_expression_classifier_is_read_back_from_the_cache(tmp_path):
    from facexai import paths

    settings = dict(seed=1, image_size=48, n_train=16, n_test=8, nuisance_scale=0.5, workers=1,
                    widths=[2, 2, 2], hidden=4, init_scale=1.2, epochs=1, batch_size=8,
                    learning_rate=0.02)
    with paths.environment({"FACEXAI_DATA": str(tmp_path)}):
        first = expression.train_classifier(**settings)
        again = expression.train_classifier(**settings)
        fresh = expression.train_classifier(**settings, cache=False)
    assert not first.from_cache and again.from_cache and not fresh.from_cache
    for other in (again, fresh):
        for a, b in zip(first.model.state_dict().values(), other.model.state_dict().values()):
            assert torch.equal(a, b)
        np.testing.assert_array_equal(other.pred_test, first.pred_test)
    assert again.losses == pytest.approx(first.losses)
    assert "read back from the cache" in again.describe()


def test_train_seeds_trains_the_missing_seeds_once_and_shares_their_weights(tmp_path):
    """train_seeds: the seeds already cached are read back (no face rendered), the missing ones
    trained - in spawned one-thread processes too - into the cache that train_classifier and
    trained_network (the Benchmark's subjects) read; rows agree with train_classifier's."""
    from facexai import paths

    settings = dict(seed=3, image_size=48, n_train=16, n_test=8, nuisance_scale=0.5, workers=1,
                    widths=[2, 2, 2], hidden=4, init_scale=1.2, epochs=2, batch_size=8,
                    learning_rate=0.02)
    with paths.environment({"FACEXAI_DATA": str(tmp_path)}):
        first = expression.train_classifier(**settings)          # seed 3 cached beforehand
        rows = expression.train_seeds(settings, 3, processes=2)  # 4 and 5 in two processes
        weights = sorted(paths.models_cache().glob("expression-*.pt"))
        again = expression.train_seeds(settings, 3, processes=2)
        assert sorted(paths.models_cache().glob("expression-*.pt")) == weights
        model, test = expression.trained_network(**dict(settings, seed=5))
        fifth = expression.train_classifier(**dict(settings, seed=5))
        with pytest.raises(ValueError, match="n_seeds"):
            expression.train_seeds(settings, 0)
    assert len(weights) == 3
    assert rows["seed"].tolist() == [3, 4, 5]
    assert rows["from cache"].tolist() == [True, False, False]
    assert again["from cache"].all()
    pd.testing.assert_frame_equal(again.drop(columns="from cache"),
                                  rows.drop(columns="from cache"))
    assert rows.loc[0, "test accuracy"] == first.acc_test
    assert rows.loc[0, "train accuracy"] == first.acc_train
    assert rows.loc[0, "epochs"] == len(first.losses) == 2
    # the worker's network is the one the other chapters read back
    assert fifth.from_cache and rows.loc[2, "test accuracy"] == fifth.acc_test
    assert rows.loc[2, "final loss"] == pytest.approx(fifth.losses[-1])
    for a, b in zip(model.state_dict().values(), fifth.model.state_dict().values()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(test.images, fifth.test.images)


def test_count_accepts_integers_from_one_and_names_anything_else():
    """compute.count: the seeds and processes of train_seeds and fit_seeds."""
    from facexai.compute import count

    assert count("n", 3) == 3 and count("n", np.int64(2)) == 2
    assert isinstance(count("n", np.int64(2)), int)
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"^n_seeds must be an integer >= 1"):
            count("n_seeds", bad)
