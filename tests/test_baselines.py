"""The core's baselines (facexai.baselines): colour histogram, LBP and HOG features on hand-built
images (values worked out by hand from scikit-image's definitions, with the settings of paper 3's
code: LBP P = 24, R = 3; HOG 8 orientations, 16-px cells), landmark geometry, and the
fit/select/test protocol."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facexai import baselines as b


def test_color_histogram_counts_pure_colours():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:, :2, 0] = 255  # red half
    img[:, 2:, 2] = 255  # blue half
    h = b.color_histogram(img, bins=8)
    assert h.shape == (512,) and h.sum() == pytest.approx(1.0)
    assert h[7 * 64] == pytest.approx(0.5) and h[7] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="color_histogram"):
        b.color_histogram(np.zeros((4, 4)))


def test_lbp_codes_of_hand_built_images():
    flat = np.full((15, 15), 50, np.uint8)
    assert (b.lbp(flat, P=24, R=3.0)[4:-4, 4:-4] == 24).all()  # every neighbour >= centre: 24 ones
    spot = np.zeros((15, 15), np.uint8)
    spot[7, 7] = 200
    assert b.lbp(spot, P=24, R=3.0)[7, 7] == 0  # every neighbour darker
    step = np.zeros((15, 15), np.uint8)
    step[:, 8:] = 100
    # on the first bright column the 11 neighbours to the right and the 2 straight up/down are
    # bright (>= centre); the 11 to the left read interpolated values below 100: one arc of 13 ones
    assert b.lbp(step, P=24, R=3.0)[7, 8] == 13
    star = np.zeros((15, 15), np.uint8)
    star[7, 7] = 100
    star[7, 10] = star[4, 7] = star[7, 4] = star[10, 7] = 200  # the 4 neighbours on the axes
    # only those 4 of the 24 read >= 100 (their neighbours interpolate at most 0.2 x 200):
    # 8 transitions around the circle, the non-uniform code P + 1
    assert b.lbp(star, P=24, R=3.0)[7, 7] == 25
    h = b.lbp_histogram(flat, P=24, R=3.0)
    assert h.shape == (26,) and h.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="P >= 1"):
        b.lbp(flat, P=0)


def test_hog_of_a_step_edge():
    img = np.zeros((128, 128), np.uint8)
    img[:, 64:] = 255
    f = b.hog(img, orientations=8, cell=16).reshape(6, 6, 3, 3, 8)  # blocks (y, x), cells in block, bins
    assert f.shape[0] * f.shape[1] * 72 == 2592
    # the edge lies in cell columns 3 and 4 (gradients on pixel columns 63 and 64), bin 0 (0 deg);
    # a block holding one such column has 3 equal cells: 1/sqrt(3) each after L2-Hys
    assert np.allclose(f[0, 1, :, 2, 0], 1 / np.sqrt(3))
    assert np.allclose(f[0, 1, :, :2], 0) and np.allclose(f[0, 1, :, 2, 1:], 0)
    assert np.allclose(f[:, 0], 0)  # blocks of cell columns 0-2: no gradient
    # a block with both edge columns: 6 equal cells, 1/sqrt(6) each
    assert np.allclose(f[0, 2, :, 1:, 0], 1 / np.sqrt(6))
    horizontal = b.hog(img.T, orientations=8, cell=16).reshape(6, 6, 3, 3, 8)
    assert np.allclose(horizontal[1, 0, 2, :, 4], 1 / np.sqrt(3))  # 90 deg: bin 4 of 8
    assert np.allclose(b.hog(np.full((128, 128), 9, np.uint8), orientations=8, cell=16), 0)
    with pytest.raises(ValueError, match="too small"):
        b.hog(np.zeros((20, 20)), orientations=8, cell=16)


def test_landmark_geometry_is_scale_and_translation_invariant():
    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 50, size=(3, 68, 2))
    g = b.landmark_geometry(lm)
    assert g.shape == (3, 68 * 67 // 2)
    assert np.allclose(b.landmark_geometry(lm * 3 + 7), g)
    iu = np.triu_indices(68, 1)
    k = np.flatnonzero((iu[0] == 36) & (iu[1] == 45))[0]
    assert np.allclose(g[:, k], 1.0)  # the inter-ocular distance in its own unit
    lm[1] = np.nan
    assert np.isnan(b.landmark_geometry(lm)[1]).all()
    with pytest.raises(ValueError, match="landmarks"):
        b.landmark_geometry(np.zeros((3, 10, 2)))


def test_fit_baseline_selects_on_validation_and_scores_test():
    rng = np.random.default_rng(0)
    n = 150
    X = rng.normal(size=(n, 5))
    Y = pd.DataFrame({"happy": X @ [1.0, -2.0, 0.5, 0.0, 0.0] + 0.1 * rng.normal(size=n),
                      "calm": rng.normal(size=n)})
    split = np.array(["train"] * 90 + ["val"] * 30 + ["test"] * 30)
    ridge = b.fit_baseline("landmarks", X, Y, split, attributes=["happy", "calm"])
    assert ridge.test_r["happy"] > 0.95 and abs(ridge.test_r["calm"]) < 0.5
    assert ridge.chosen.name == "alpha" and ridge.notes == {"n_train": 90, "n_val": 30, "n_test": 30}
    svr = b.fit_baseline("hog_svr", X, Y, split, model="svr", attributes=["happy", "calm"],
                         grid=[1.0, 10.0])
    assert svr.test_r["happy"] > 0.8 and set(svr.chosen) <= {1.0, 10.0}
    X[:95] = np.nan  # too few images with features left for training
    with pytest.raises(ValueError, match="too few images"):
        b.fit_baseline("landmarks", X, Y, split, attributes=["happy"])


def test_fit_baseline_names_an_unknown_model():
    X, Y = np.zeros((9, 2)), pd.DataFrame({"happy": np.arange(9.0)})
    with pytest.raises(ValueError, match="model must be one of"):
        b.fit_baseline("x", X, Y, np.array(["train"] * 9), model="knn", attributes=["happy"])


class _Data:
    """The part of an AttributeData the baselines read."""

    def __init__(self, n=60, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.landmarks = rng.uniform(0, 32, (n, 68, 2))
        self.split = np.array(["train"] * 30 + ["val"] * 15 + ["test"] * (n - 45))
        self.ratings = pd.DataFrame({"happy": self.images[..., 0].mean((1, 2)) + rng.normal(size=n),
                                     "calm": rng.normal(size=n)})


def test_run_baselines_fits_each_feature_function_with_its_model(monkeypatch):
    data = _Data()
    monkeypatch.setattr(b, "ATTRIBUTES", ["happy", "calm"])
    res = b.run_baselines(data, {
        "hist": b.Baseline(b.image_features(b.color_histogram, bins=4), "svr", grid=[1.0]),
        "geometry": b.Baseline(b.landmark_features)})
    assert list(res) == ["hist", "geometry"]
    assert res["hist"].chosen.name == "C" and set(res["hist"].chosen) == {1.0}
    # constant features are dropped: the inter-ocular distance is 1 in its own unit
    assert res["geometry"].chosen.name == "alpha" and res["geometry"].n_features == 68 * 67 // 2 - 1
    ref = b.fit_baseline("hist", np.stack([b.color_histogram(i, bins=4) for i in data.images]),
                         data.ratings, data.split, model="svr", grid=[1.0])
    np.testing.assert_array_equal(res["hist"].test_r, ref.test_r)
    assert res["hist"].seconds >= res["hist"].notes["fit_seconds"]


def test_annotator_landmarks_with_sd_0_are_the_exact_ones():
    lm = np.random.default_rng(1).uniform(0, 64, (4, 68, 2))
    lm[2] = np.nan
    np.testing.assert_array_equal(b.annotator_landmarks(lm, 0.0, seed=5), lm)
    data = _Data(n=4)
    np.testing.assert_array_equal(b.landmark_features(data, noise=0.0),
                                  b.landmark_geometry(data.landmarks))


def test_annotator_landmarks_jitter_in_units_of_the_inter_ocular_distance():
    n = 400
    lm = np.zeros((n, 68, 2))
    lm[:, 45, 0] = np.repeat([10.0, 40.0], n // 2)  # outer eye corners 10 and 40 px apart
    noisy = b.annotator_landmarks(lm, 0.05, seed=0)
    moved = noisy - lm
    # per-coordinate SD = 0.05 x IOD: 0.5 px and 2 px (68 x 2 x 200 draws each)
    assert moved[: n // 2].std() == pytest.approx(0.5, rel=0.02)
    assert moved[n // 2:].std() == pytest.approx(2.0, rel=0.02)
    # the mean point-to-point error is sd * sqrt(pi / 2) inter-ocular distances
    err = np.linalg.norm(moved[: n // 2], axis=-1).mean() / 10
    assert err == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.02)
    np.testing.assert_array_equal(noisy, b.annotator_landmarks(lm, 0.05, seed=0))  # seeded
    assert not np.array_equal(noisy, b.annotator_landmarks(lm, 0.05, seed=1))
    with pytest.raises(ValueError, match="sd"):
        b.annotator_landmarks(lm, -0.1)
    with pytest.raises(ValueError, match="landmarks"):
        b.annotator_landmarks(lm[:, :10], 0.05)


def test_lbp_matches_scikit_image_reference():
    """An independent reference: scikit-image's own uniform LBP on integer images."""
    from skimage.feature import local_binary_pattern

    rng = np.random.default_rng(3)
    for shape, P, R in (((40, 48), 24, 3.0), ((33, 29), 8, 1.0), ((20, 20), 16, 2.0)):
        img = rng.integers(0, 256, shape).astype(np.uint8)
        ref = local_binary_pattern(img, P, R, method="uniform")
        np.testing.assert_array_equal(b.lbp(img, P=P, R=R), ref)
