"""Counterfactual truths at a model's input size (facexai.causemaps): the resizing, the choice of
causes, the derived truth against facexai.synth.truth, and the output effects against
facexai.interventions.cause_effects (an independent implementation, one output at a time)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexai import causemaps as cmaps
from facexai.interventions import cause_effects
from facexai.models import tiny_cnn
from facexai.ratings import to_tensor
from facexai.synth.attributes import drivers
from facexai.synth.generate import sample_face
from facexai.synth.truth import attribute_truth

SIZE = 48


def test_resize_maps_averages_each_block():
    m = np.arange(16, dtype=float).reshape(1, 4, 4)
    got = cmaps.resize_maps(m, 2)
    np.testing.assert_allclose(got[0], [[2.5, 4.5], [10.5, 12.5]], rtol=1e-6)
    mask = np.zeros((1, 4, 4))
    mask[0, 0, 0] = 1.0
    assert cmaps.resize_maps(mask, 2)[0, 0, 0] == pytest.approx(0.25)   # share of the pixel
    np.testing.assert_array_equal(cmaps.resize_maps(m, 4), m)
    with pytest.raises(ValueError, match="size"):
        cmaps.resize_maps(m, 0)


def test_truth_render_size_is_the_input_size_within_the_renderer_and_the_data():
    assert cmaps.truth_render_size(64, 128) == 64
    assert cmaps.truth_render_size(32, 64) == 48          # the renderer's minimum
    assert cmaps.truth_render_size(224, 128) == 128       # never finer than the data
    with pytest.raises(ValueError, match="image_size"):
        cmaps.truth_render_size(0, 128)


def test_attribute_causes_follow_the_rating_model():
    got = cmaps.attribute_causes("aggressive", 4)
    ranked = sorted(drivers("aggressive"), key=lambda fw: -abs(fw[1]))
    expected = ["expression" if f == "expressiveness" else f for f, _ in ranked][:4]
    assert got == expected and "expression" in got
    assert "distinctiveness" not in cmaps.attribute_causes("attractive", 9)
    with pytest.raises(ValueError, match="k must"):
        cmaps.attribute_causes("happy", 0)


def test_derived_truth_is_attribute_truth_of_each_face():
    params = [sample_face(0, i) for i in range(2)]
    got = cmaps.derived_truth(params, ["happy", "trustworthy"], SIZE, SIZE)
    for a in ("happy", "trustworthy"):
        ref = np.stack([attribute_truth(p, a, SIZE) for p in params])
        np.testing.assert_allclose(got[a], ref, atol=1e-6)
    half = cmaps.derived_truth(params, ["happy"], SIZE // 2, SIZE)["happy"]
    np.testing.assert_allclose(half.mean(), got["happy"].mean(), atol=1e-6)   # box mean


def test_output_effects_are_cause_effects_of_each_output():
    params = [sample_face(0, i) for i in range(3)]
    causes = ["AU12", "expression", "glasses"]
    torch.manual_seed(0)
    net = tiny_cnn(3, in_channels=3, input_size=SIZE)
    pairs = cmaps.cause_pairs(params, causes, SIZE, SIZE)
    assert pairs.changed.shape == (3, 3, SIZE, SIZE, 3) and pairs.masks.shape == (3, 3, SIZE, SIZE)
    got = cmaps.output_effects(net, [2, 0], pairs, to_tensor)
    for j, index in enumerate([2, 0]):
        ref = cause_effects(net, params, causes, SIZE, preprocess=to_tensor, output=index)
        np.testing.assert_allclose(got[j], ref["effect"].to_numpy().reshape(3, 3), atol=1e-5)
        np.testing.assert_allclose(pairs.masks.mean((2, 3)),
                                   ref["changed_share"].to_numpy().reshape(3, 3), atol=1e-12)
    with pytest.raises(ValueError, match="outputs"):
        cmaps.output_effects(net, [], pairs, to_tensor)
