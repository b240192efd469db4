"""Heatmaps of fitted regressors (facexai.heatmaps): regression outputs explained in both directions
on models whose answer is known by construction, the shared-forward Grad-CAM of a fitted model
against the one-by-one maps, the networks of a fitted model, and the input check against numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facexai.explain import hook_count
from facexai.explain.cam import finer_layer
from facexai.models import tiny_cnn
from facexai import heatmaps, regressors
from facexai.regions import REGIONS, region_label_maps
from facexai.scoring import region_shares
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
    """The part of facexai.regressors.Fitted that heatmaps use: ``explainable``."""

    def __init__(self, nets: dict):
        self.nets = nets      # attribute -> (module, output index, cam layer)

    def explainable(self, attribute):
        return self.nets[attribute]


def _x(n=3, seed=0, size=SIZE):
    g = torch.Generator().manual_seed(seed)
    return 0.1 + torch.rand(n, 3, size, size, generator=g, dtype=torch.float64)


@pytest.fixture(scope="module")
def face():
    lms = np.stack([landmarks(sample_face(0, i), SIZE) for i in range(3)])
    labels = region_label_maps(lms, SIZE)
    return lms, labels, labels == REGIONS.index("mouth")


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam"])
def test_a_model_that_reads_one_region_is_explained_there(face, method):
    lms, labels, mouth = face
    for i in range(len(lms)):     # one model per face (its own mouth)
        model = _RegionModel(mouth[i])
        fitted = _Fitted({"inside": (model, 0, "relu"), "outside": (model, 1, "relu")})
        x = _x(1, seed=i)
        inside = heatmaps.attribute_maps(fitted, x, "inside", method)
        outside = heatmaps.attribute_maps(fitted, x, "outside", method)
        assert hook_count(model) == 0
        assert (inside[0][~mouth[i]] == 0).all() and (inside[0][mouth[i]] > 0).all()
        assert (outside[0][mouth[i]] == 0).all() and (outside[0][~mouth[i]] > 0).all()
        shares, _ = region_shares(inside, labels[i:i + 1])
        assert shares.loc[0, "mouth"] == pytest.approx(1.0)


def test_sign_minus_one_explains_the_low_direction():
    # Output = sum of a positive feature map: nothing makes it lower, so Grad-CAM (rectified) of
    # the negative direction is empty.
    model = _RegionModel(np.ones((SIZE, SIZE)))
    x = _x(2)
    high = heatmaps.explain_output(model, x, 0, "relu", "gradcam", sign=1)
    low = heatmaps.explain_output(model, x, 0, "relu", "gradcam", sign=-1)
    assert (high > 0).all() and (low == 0).all()
    with pytest.raises(ValueError, match="sign"):
        heatmaps.explain_output(model, x, 0, "relu", "gradcam", sign=2)
    with pytest.raises(ValueError, match="method"):
        heatmaps.explain_output(model, x, 0, "relu", "nonsense")


def _two_networks():
    torch.manual_seed(0)
    multi = tiny_cnn(4, in_channels=3, input_size=16).double()
    single = tiny_cnn(1, in_channels=3, input_size=16).double()
    return multi, single, _Fitted({"a": (multi, 1, "4"), "b": (single, 0, "4"),
                                   "c": (multi, 3, "4")})


def test_networks_group_attributes_by_network():
    multi, single, fitted = _two_networks()
    (net1, layer1, members1), (net2, _, members2) = regressors.networks(fitted, ["a", "b", "c"])
    assert net1 is multi and layer1 == "4" and members1 == [("a", 1), ("c", 3)]
    assert net2 is single and members2 == [("b", 0)]


def test_explained_maps_are_the_one_by_one_maps_in_order():
    multi, single, fitted = _two_networks()
    x = _x(4, size=16)
    got = list(heatmaps.explained_maps(fitted, x, ["a", "b"], ("gradcam", "guided_gradcam"),
                                       (1, -1), batch_size=3))
    keys = [k for k, _ in got]
    assert keys == [(a, m, s) for a in "ab" for m in ("gradcam", "guided_gradcam") for s in (1, -1)]
    for (attribute, method, sign), maps in got:
        ref = heatmaps.attribute_maps(fitted, x, attribute, method, sign)
        np.testing.assert_allclose(maps, ref, rtol=1e-10, atol=1e-12)
    # another layer: the finer one of the same network
    fine = dict(heatmaps.explained_maps(fitted, x, ["a"], ("gradcam",), (1,), layer=finer_layer))
    ref = heatmaps.explain_output(multi, x, 1, finer_layer(multi, "4"), "gradcam", 1)
    np.testing.assert_allclose(fine["a", "gradcam", 1], ref, rtol=1e-10, atol=1e-12)
    assert finer_layer(multi, "4") == "1"
    with pytest.raises(ValueError, match="method"):
        list(heatmaps.explained_maps(fitted, x, ["a"], ("nonsense",)))


def test_explained_rows_are_test_faces_with_landmarks():
    class Data:
        split = np.array(["train", "test", "test", "val", "test", "test"])
        landmarks = np.zeros((6, 68, 2))

        def indices(self, role):
            return np.flatnonzero(self.split == role)

    data = Data()
    data.landmarks[2, 5] = np.nan
    assert heatmaps.explained_rows(data).tolist() == [1, 4, 5]
    assert heatmaps.explained_rows(data, 2).tolist() == [1, 4]


def test_a_method_without_a_layer_ignores_the_cam_layer():
    torch.manual_seed(0)
    net = tiny_cnn(2, in_channels=3, input_size=16).double()
    fitted = _Fitted({"a": (net, 1, "4")})
    x = _x(2, size=16)
    got = heatmaps.attribute_maps(fitted, x, "a", "gradient", -1)
    xg = x.clone().requires_grad_(True)
    (-net(xg)[:, 1]).sum().backward()
    np.testing.assert_allclose(got, xg.grad.sum(1).numpy(), rtol=1e-10, atol=1e-12)


def test_input_check_against_numpy(face):
    _, labels, _ = face
    torch.manual_seed(2)
    net = tiny_cnn(2, in_channels=3, input_size=SIZE).float()
    fitted = _Fitted({"happy": (net, 1, "4")})
    g = torch.Generator().manual_seed(1)
    x, other = torch.rand(3, 3, SIZE, SIZE, generator=g), torch.rand(3, 3, SIZE, SIZE, generator=g)
    ratings = np.array([2.0, 5.0, 3.5])
    check = heatmaps.input_check(fitted, x, other, ratings, "happy", labels,
                                 ("gradcam", "guided_gradcam"), names=("a", "b"))
    with torch.no_grad():
        pred, pred_other = net(x)[:, 1].numpy(), net(other)[:, 1].numpy()
    assert check["shift"] == pytest.approx(float(np.mean(pred_other - pred)), rel=1e-6)
    assert check["r"] == pytest.approx(np.corrcoef(pred, ratings)[0, 1], abs=1e-12)
    assert check["r_other"] == pytest.approx(np.corrcoef(pred_other, ratings)[0, 1], abs=1e-12)
    assert list(check["table"].index) == ["gradcam", "guided_gradcam"]
    assert list(check["table"].columns) == ["map Spearman (b vs a)", "mass accuracy, a",
                                            "mass accuracy, b"]
