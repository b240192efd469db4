"""Paper 3's explanations: Grad-CAM of regression outputs, region shares and faithfulness, on models
whose answer is known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facexai.explain import hook_count
from facexai.paper3.explain import (attribute_gradcams, attribute_maps, driving_masks,
                                    explain_output, gradcam_outputs, layer_shape,
                                    faithfulness_summary, faithfulness_table, finer_layer,
                                    primary_regions,
                                    profile_correlation, region_label_maps, region_shares,
                                    region_verdicts, truth_regions, unnormalised_tensor)
from facexai.regions import REGIONS
from facexai.synth.attributes import driving_regions
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 32


class _Split(nn.Module):
    """Channel 0 keeps the pixels of a region, channel 1 the rest (fixed, not learnt)."""

    def __init__(self, mask: np.ndarray):
        super().__init__()
        m = torch.as_tensor(mask, dtype=torch.float64)
        self.register_buffer("mask", torch.stack([m, 1 - m])[None])

    def forward(self, x):
        return x.mean(1, keepdim=True) * self.mask


class _RegionModel(nn.Module):
    """Output 0 sums a 1x1 convolution of the region, output 1 of everything else."""

    def __init__(self, mask: np.ndarray):
        super().__init__()
        self.split = _Split(mask)
        self.conv = nn.Conv2d(2, 2, 1, groups=2, bias=False)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
        self.double()

    def forward(self, x):
        return self.relu(self.conv(self.split(x))).sum((2, 3))


class _Fitted:
    """The part of paper3.Fitted that attribute_maps uses."""

    def __init__(self, model):
        self.model = model
        self.attributes = ["inside", "outside"]

    def explainable(self, attribute):
        return self.model, self.attributes.index(attribute), "relu"


@pytest.fixture(scope="module")
def face():
    lms = np.stack([landmarks(sample_face(0, i), SIZE) for i in range(3)])
    labels = region_label_maps(lms, SIZE)
    mouth = labels == REGIONS.index("mouth")
    return lms, labels, mouth


def _x(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.1 + torch.rand(n, 3, SIZE, SIZE, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam"])
def test_a_model_that_reads_one_region_is_explained_there(face, method):
    lms, labels, mouth = face
    # one model per face (its own mouth), so that the region follows the landmarks
    for i in range(len(lms)):
        fitted = _Fitted(_RegionModel(mouth[i]))
        before = hook_count(fitted.model)
        x = _x(1, seed=i)
        inside = attribute_maps(fitted, x, "inside", method)
        outside = attribute_maps(fitted, x, "outside", method)
        assert hook_count(fitted.model) == before
        assert inside.shape == (1, SIZE, SIZE)
        assert (inside[0][~mouth[i]] == 0).all() and (inside[0][mouth[i]] > 0).all()
        assert (outside[0][mouth[i]] == 0).all() and (outside[0][~mouth[i]] > 0).all()
        shares, area = region_shares(inside, labels[i:i + 1])
        assert shares.loc[0, "mouth"] == pytest.approx(1.0)
        assert area.loc[0, "mouth"] == pytest.approx(mouth[i].mean())
        assert shares.sum(axis=1).iloc[0] == pytest.approx(1.0)


def test_sign_minus_one_explains_the_low_direction():
    # Output = sum of a positive feature map: nothing makes it lower, so Grad-CAM (rectified) of
    # the negative direction is empty, and of the positive direction equals the unrectified map.
    mask = np.ones((SIZE, SIZE))
    model = _RegionModel(mask)
    x = _x(2)
    high = explain_output(model, x, 0, "relu", "gradcam", sign=1)
    low = explain_output(model, x, 0, "relu", "gradcam", sign=-1)
    assert (high > 0).all() and (low == 0).all()
    with pytest.raises(ValueError, match="sign"):
        explain_output(model, x, 0, "relu", "gradcam", sign=2)
    with pytest.raises(ValueError, match="method"):
        explain_output(model, x, 0, "relu", "lrp_epsilon")


def test_faithfulness_of_a_map_on_the_drivers_and_of_one_off_them(face):
    lms, labels, _ = face
    attribute = "happy"   # AU12, AU6, AU15, AU1: mouth, cheeks, eyes, brows, forehead
    truth = driving_masks(labels, attribute)
    assert set(driving_regions(attribute)) >= {"mouth", "right_cheek", "forehead"}
    on = truth.astype(float) * np.linspace(1, 2, SIZE)[None, None, :]
    off = (~truth).astype(float)
    t_on = faithfulness_table(on, labels, attribute, method="on")
    t_off = faithfulness_table(off, labels, attribute, method="off")
    np.testing.assert_allclose(t_on["mass_accuracy"], 1.0)
    np.testing.assert_allclose(t_on["rank_accuracy"], 1.0)
    np.testing.assert_allclose(t_on["pointing"], 1.0)
    np.testing.assert_allclose(t_off["mass_accuracy"], 0.0)
    np.testing.assert_allclose(t_on["chance"], truth.reshape(3, -1).mean(1))
    assert (t_on["method"] == "on").all()
    # A uniform map scores its mask's share (the chance level) as mass accuracy
    uniform = faithfulness_table(np.ones_like(on), labels, attribute)
    np.testing.assert_allclose(uniform["mass_accuracy"], uniform["chance"])
    assert uniform["pointing"].isna().all()   # a flat map has no maximum


def test_faces_without_landmarks_are_left_out(face):
    lms, _, _ = face
    lms = lms.copy()
    lms[1] = np.nan
    labels = region_label_maps(lms, SIZE)
    assert (labels[1] == -1).all() and (labels[0] >= 0).all()
    maps = np.random.default_rng(0).random((3, SIZE, SIZE))
    table = faithfulness_table(maps, labels, "happy")
    assert table["face"].tolist() == [0, 2]
    shares, _ = region_shares(maps, labels)
    assert shares.loc[1].isna().all() and shares.loc[0].notna().all()
    with pytest.raises(ValueError, match="landmarks"):
        region_label_maps(lms[:, :10], SIZE)


def test_summary_verdicts_and_bootstrap_interval():
    rng = np.random.default_rng(0)
    n = 200
    chance = np.full(n, 0.3)
    rows = [pd.DataFrame({"mass_accuracy": chance + 0.2 + rng.normal(0, 0.05, n), "chance": chance,
                          "rank_accuracy": 0.5, "pointing": 1.0, "attribute": "a"}),
            pd.DataFrame({"mass_accuracy": chance + rng.normal(0, 0.05, n), "chance": chance,
                          "rank_accuracy": 0.3, "pointing": 0.0, "attribute": "b"}),
            pd.DataFrame({"mass_accuracy": chance - 0.2 + rng.normal(0, 0.05, n), "chance": chance,
                          "rank_accuracy": 0.1, "pointing": 0.0, "attribute": "c"})]
    summary = faithfulness_summary(pd.concat(rows), by=("attribute",), seed=1).set_index("attribute")
    assert summary.loc["a", "verdict"] == "above chance"
    assert summary.loc["c", "verdict"] == "below chance"
    # the interval of a mean lift of 0 contains 0 (in the rare other case, the verdict says so)
    assert summary.loc["b", "lift_lo"] < summary.loc["b", "lift"] < summary.loc["b", "lift_hi"]
    assert summary.loc["a", "lift"] == pytest.approx(0.2, abs=0.02)
    assert summary.loc["a", "lift_lo"] < 0.2 < summary.loc["a", "lift_hi"]
    with pytest.raises(ValueError, match="n_boot"):
        faithfulness_summary(pd.concat(rows), by=("attribute",), n_boot=1)


def test_region_verdicts_name_found_missed_and_spurious():
    cols = pd.Index(REGIONS, name="region")
    area = pd.DataFrame([np.full(len(REGIONS), 1 / len(REGIONS))], columns=cols)
    share = pd.Series(0.0, index=cols)
    share["mouth"], share["background"] = 0.7, 0.3
    v = region_verdicts(pd.DataFrame([share]), area, "happy")
    assert v["found"] == ["mouth"]
    assert "forehead" in v["missed"] and "mouth" not in v["missed"]
    assert v["spurious"] == ["background"]
    assert v["top"] == "mouth"
    assert v["per_area"]["mouth"] == pytest.approx(0.7 * len(REGIONS))


def test_primary_regions_hold_half_the_weight_with_sides_together():
    from facexai.synth.attributes import region_weights

    for attribute in ("happy", "confident", "intelligent", "unattractive", "emotional"):
        primary = primary_regions(attribute)
        w = region_weights(attribute)
        assert w[list(primary)].sum() >= 0.5
        assert set(primary) <= set(driving_regions(attribute))
        # dropping the least weighted primary region (with its tied partners) falls below half
        least = w[list(primary)].min()
        assert w[[r for r in primary if not np.isclose(w[r], least)]].sum() < 0.5
        for side in ("eye", "brow", "cheek"):
            assert (f"right_{side}" in primary) == (f"left_{side}" in primary)
    assert primary_regions("happy") == ("mouth", "right_cheek", "left_cheek")
    assert truth_regions("happy", "driving") == driving_regions("happy")
    with pytest.raises(ValueError, match="ground_truth"):
        truth_regions("happy", "all")


def test_profile_correlation_is_one_for_the_cause_density_and_negative_for_its_reverse(face):
    from facexai.synth.attributes import region_weights

    _, labels, _ = face
    w = region_weights("happy").reindex(REGIONS).to_numpy()
    _, area = region_shares(np.ones(labels.shape), labels)
    # each region's share of the relevance equals its share of the causes
    on = np.stack([(w / np.maximum(a, 1e-9))[lab] for a, lab in zip(area.to_numpy(), labels)])
    shares, area = region_shares(on, labels)
    np.testing.assert_allclose(shares.to_numpy(), np.broadcast_to(w, shares.shape), atol=1e-9)
    np.testing.assert_allclose(profile_correlation(shares, area, "happy"), 1.0)
    off = np.stack([(w.max() - w)[lab] for lab in labels])
    shares, area = region_shares(off, labels)
    assert (profile_correlation(shares, area, "happy") < -0.5).all()


def test_unnormalised_tensor_is_to_tensor():
    images = np.random.default_rng(0).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    x = unnormalised_tensor(images)
    assert x.shape == (2, 3, 5, 4)
    assert float(x[1, 2, 3, 1]) == pytest.approx(images[1, 3, 1, 2] / 255)


def test_finer_layer_of_vgg16_is_conv4_3():
    from facexai.models import vgg16

    model = vgg16(40)
    assert finer_layer(model, "features.30") == "features.22"
    assert finer_layer(model, "features.29") == "features.22"
    assert isinstance(model.features[22], nn.ReLU) and isinstance(model.features[23], nn.MaxPool2d)
    with pytest.raises(ValueError, match="no pooling"):
        finer_layer(model, "features.3")


def test_shared_forward_gradcam_equals_the_library_gradcam_for_every_output_and_sign():
    from facexai.models import tiny_cnn

    torch.manual_seed(0)
    model = tiny_cnn(4, in_channels=3, input_size=16).double()
    x = torch.rand(5, 3, 16, 16, dtype=torch.float64)
    fast = gradcam_outputs(model, x, [0, 2, 3], "4", batch_size=2)
    for i in (0, 2, 3):
        for s in (1, -1):
            ref = explain_output(model, x, i, "4", "gradcam", s)
            np.testing.assert_allclose(fast[i, s], ref, rtol=1e-10, atol=1e-12)
    assert hook_count(model) == 0

    class Stack:   # one network per attribute, as in the paper's protocol
        def explainable(self, attribute):
            return {"a": (model, 1, "4"), "b": (other, 0, "4")}[attribute]
    other = tiny_cnn(1, in_channels=3, input_size=16).double()
    maps = attribute_gradcams(Stack(), x, ["a", "b"], (1,))
    np.testing.assert_allclose(maps["a", 1], explain_output(model, x, 1, "4", "gradcam", 1))
    np.testing.assert_allclose(maps["b", 1], explain_output(other, x, 0, "4", "gradcam", 1))


def test_layer_shape_of_vgg16_features_30_at_64_px():
    from facexai.models import vgg16

    assert layer_shape(vgg16(2), torch.zeros(3, 3, 64, 64), "features.30") == (512, 2, 2)
