"""Ground truth derived from counterfactual renders (factor masks, attribute truth) and the test of
the hand-written region tables against it."""
from __future__ import annotations

import numpy as np
import pytest

from facexai.regions import REGIONS
from facexai.synth.attributes import FACTOR_NAMES, drivers
from facexai.synth.dataset import nuisance_config
from facexai.synth.factors import AUS
from facexai.synth.generate import sample_face
from facexai.synth.truth import attribute_truth, factor_masks, factor_pair, region_agreement

SIZE = 64


@pytest.fixture(scope="module")
def faces():
    return [sample_face(0, i, emotion=5, nuisance=nuisance_config(1.0)) for i in range(3)]


@pytest.fixture(scope="module")
def agreement(faces):
    return region_agreement(faces, SIZE, ["happy", "trustworthy"])


def test_factor_pairs_sweep_one_factor():
    p = sample_face(0, 1, emotion=5)
    low, high = factor_pair(p, "AU12")
    assert low.au[AUS.index(12)] == 0.0 and high.au[AUS.index(12)] == 1.0
    assert low.identity == high.identity == p.identity
    low, high = factor_pair(p, "age")
    assert low.identity.age < high.identity.age and low.au.tolist() == p.au.tolist()
    assert factor_pair(p, "glasses")[1].identity.glasses
    assert factor_pair(p, "expressiveness")[0].au.sum() == 0
    with pytest.raises(ValueError, match="unknown factor 'beard'"):
        factor_pair(p, "beard")


def test_factor_masks_are_where_the_factor_shows(faces):
    masks = factor_masks(faces[0], SIZE)
    assert set(masks) == set(FACTOR_NAMES)
    assert all(m.shape == (SIZE, SIZE) and m.dtype == bool for m in masks.values())
    assert masks["AU12"].any() and masks["brow_thickness"].any()
    # the upper lid and the chin are far apart
    assert not (masks["AU5"] & masks["AU17"]).any()
    grown = factor_masks(faces[0], SIZE, ["AU12"], spread=2)["AU12"]
    assert grown.sum() > masks["AU12"].sum() and (grown | masks["AU12"]).sum() == grown.sum()


def test_attribute_truth_weights_the_drivers(faces):
    masks = factor_masks(faces[0], SIZE)
    truth = attribute_truth(faces[0], "happy", SIZE, masks=masks)
    assert truth.min() >= 0 and truth.max() <= 1 + 1e-12
    weights = {f: abs(w) for f, w in drivers("happy")}
    by_hand = sum(w * masks[f] for f, w in weights.items()) / sum(weights.values())
    np.testing.assert_allclose(truth, by_hand)
    np.testing.assert_allclose(attribute_truth(faces[0], "happy", SIZE), truth)


def test_region_agreement_tables(agreement):
    assert set(agreement.factors.index) == set(FACTOR_NAMES)
    np.testing.assert_allclose(agreement.regions[list(REGIONS)].sum(axis=1), 1.0)
    # anatomy the hand-written tables get right, measured on the renders
    assert agreement.regions.loc["brow_thickness", ["right_brow", "left_brow"]].sum() > 0.8
    assert agreement.regions.loc["AU5", ["right_eye", "left_eye"]].sum() > 0.7
    assert "mouth" in agreement.derived_regions(0.1)["AU12"]
    assert 0 < agreement.attributes.loc["happy", "inside"] <= 1
