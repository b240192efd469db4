"""Heatmaps of fitted regressors (facexai.heatmaps): regression outputs explained in both directions
on models whose answer is known by construction, the shared-forward Grad-CAM of a fitted model
against the one-by-one maps, the networks of a fitted model, and the input check against numpy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facexai.explain import hook_count
from facexai.explain.cam import finer_layer, layer_shape
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
                                            "mass accuracy, b", "maps compared",
                                            "undefined Spearman"]
    assert (check["table"]["maps compared"] == 3).all()


def test_input_check_counts_undefined_similarities_instead_of_printing_nan(face):
    # A network whose output ignores the input: every Grad-CAM map is empty (constant), so no
    # Spearman similarity exists; they are counted, and the mean is NaN only then.
    _, labels, _ = face
    net = _RegionModel(np.zeros((SIZE, SIZE)))
    fitted = _Fitted({"happy": (net, 0, "relu")})
    x, other = _x(3), _x(3, seed=1)
    table = heatmaps.input_check(fitted, x, other, np.array([1.0, 2.0, 4.0]), "happy", labels,
                                 ("gradcam",))["table"]
    assert table.loc["gradcam", "undefined Spearman"] == 3
    assert np.isnan(table.loc["gradcam", "map Spearman (other vs x)"])
    assert table.loc["gradcam", "mass accuracy, x"] == 0.0      # empty maps score zero


def test_input_check_gives_the_undefined_pairs_and_the_mean_similarity(face):
    _, labels, _ = face
    torch.manual_seed(2)
    fitted = _Fitted({"happy": (tiny_cnn(2, in_channels=3, input_size=SIZE).float(), 1, "4")})
    g = torch.Generator().manual_seed(1)
    x, other = torch.rand(3, 3, SIZE, SIZE, generator=g), torch.rand(3, 3, SIZE, SIZE, generator=g)
    check = heatmaps.input_check(fitted, x, other, np.array([2.0, 5.0, 3.5]), "happy", labels,
                                 ("gradcam", "guided_gradcam"))
    table = check["table"]
    assert check["undefined"] == int(table["undefined Spearman"].sum())
    assert check["similarity"] == pytest.approx(table["map Spearman (other vs x)"].mean(),
                                                nan_ok=True)


def test_cells_text_and_describe_with_the_finer_layer():
    torch.manual_seed(0)
    net = tiny_cnn(2, in_channels=3, input_size=SIZE).float()
    x = torch.rand(2, 3, SIZE, SIZE)
    faces = heatmaps.ExplainedFaces(
        np.arange(2), np.zeros((2, SIZE, SIZE, 3), np.uint8), x, None, None, "4", (4, 4),
        pd.Series({"happy": 0.5}), 5, 2, net)
    h, w = layer_shape(net, x, finer_layer(net, "4"))[-2:]
    assert faces.cells_text() == "4 x 4" and faces.cells_text(finer=True) == f"{h} x {w}"
    assert faces.describe(finer=True) == faces.describe() + (
        f" One pooling stage finer, `{finer_layer(net, '4')}` gives **{h} x {w}** cells.")
    assert "**4 x 4** cells" in faces.describe() and "happy 0.50." in faces.describe()


def test_rating_labels_pair_each_rating_with_the_prediction():
    class _Predicts:
        def predict(self, images):
            return pd.DataFrame({"happy": images.reshape(len(images), -1).mean(1) + 0.04})

    images = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (1, 3)])
    assert heatmaps.rating_labels(_Predicts(), images, [2.0, 4.26], "happy") == [
        "happy 2.0 / pred. 1.0", "happy 4.3 / pred. 3.0"]


def test_show_grid_saves_the_grid_under_its_name_and_shows_it(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facexai import figures

    saved, shown = [], []
    monkeypatch.setattr(figures, "save", lambda fig, name: saved.append((fig, name)))
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    faces = np.random.default_rng(0).random((3, 8, 8))
    assert heatmaps.show_grid("some-grid", faces, {"a": faces, "b": list(faces)},
                              ("x", "y", "z")) is None
    (fig, name), = saved
    assert name == "some-grid" and shown == [True]
    assert len(fig.axes) == 3 * 3                        # the faces row and one row per map set
    assert [fig.axes[j].get_title() for j in range(3)] == ["x", "y", "z"]
    plt.close(fig)
