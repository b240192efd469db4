"""Control maps (facexai.controlmaps): shapes and cases whose answer is known by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexai import controlmaps as cm


def _labels():
    lab = np.zeros((2, 6, 8), np.int8)          # background everywhere
    lab[:, 1:5, 2:6] = 2                         # a face (forehead label) in the middle
    lab[0, 0, 2:6] = 1                           # hair above the first face
    return lab


def test_face_uniform_is_one_on_every_region_but_the_background():
    lab = _labels()
    u = cm.face_uniform(lab)
    assert u.shape == lab.shape and u.dtype == np.float64
    assert u[0].sum() == 16 + 4 and u[1].sum() == 16      # hair counts as face
    assert (u[lab == 0] == 0).all() and (u[lab > 0] == 1).all()
    assert not cm.head_mask(-np.ones((1, 3, 3), np.int8)).any()   # no landmarks: no face
    with pytest.raises(ValueError, match="labels"):
        cm.face_uniform(lab[0])


def test_input_magnitude_sums_absolute_values_over_channels():
    x = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])    # (1, 2, 1, 2)
    np.testing.assert_allclose(cm.input_magnitude(x), [[[4.0, 2.5]]])
    np.testing.assert_allclose(cm.input_magnitude(x.numpy()), [[[4.0, 2.5]]])
    with pytest.raises(ValueError, match="x must"):
        cm.input_magnitude(np.zeros((2, 3, 3)))


def test_edge_map_of_a_vertical_step():
    img = np.zeros((1, 5, 6, 3), np.uint8)
    img[:, :, 3:] = 255                          # a step between columns 2 and 3
    e = cm.edge_map(img)
    # Sobel across the step: [1, 2, 1] smoothing (sum 4) times the difference 1 -> 4 on both sides
    np.testing.assert_allclose(e[0, :, 2], 4.0)
    np.testing.assert_allclose(e[0, :, 3], 4.0)
    np.testing.assert_allclose(e[0, :, [0, 5]], 0.0)
    np.testing.assert_allclose(cm.edge_map(img[..., 0]), e)   # grey input
    with pytest.raises(ValueError, match="images"):
        cm.edge_map(np.zeros((5, 6)))


def test_random_map_is_seeded_inside_the_face_and_blocky_with_cells():
    lab = _labels()
    a, b, c = cm.random_map(lab, 3), cm.random_map(lab, 3), cm.random_map(lab, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a[lab == 0] == 0).all() and (a[lab > 0] > 0).all()
    lab = np.ones((1, 8, 8), np.int8)
    coarse = cm.random_map(lab, 0, cells=2)
    for r in (slice(0, 4), slice(4, 8)):
        for k in (slice(0, 4), slice(4, 8)):
            assert np.ptp(coarse[0, r, k]) == 0
    assert len(np.unique(coarse)) == 4
    with pytest.raises(ValueError, match="cells"):
        cm.random_map(lab, 0, cells=0)


def test_blurred_keeps_the_mass_of_an_interior_map_and_spreads_it():
    m = np.zeros((1, 21, 21))
    m[0, 10, 10] = 1.0
    b = cm.blurred(m, 2.0)
    assert b.sum() == pytest.approx(1.0, abs=1e-6) and b[0, 10, 10] < 1.0
    assert b[0, 10, 12] == pytest.approx(b[0, 12, 10])     # isotropic
    np.testing.assert_array_equal(cm.blurred(m, 0), m)
    with pytest.raises(ValueError, match="sigma"):
        cm.blurred(m, -1)


def test_control_maps_gives_every_control_of_the_same_faces():
    lab = _labels()
    images = np.zeros((2, 6, 8, 3), np.uint8)
    x = torch.ones(2, 3, 6, 8)
    maps = cm.control_maps(images, x, lab, seed=1)
    assert list(maps) == list(cm.CONTROLS)
    assert all(m.shape == (2, 6, 8) for m in maps.values())
    with pytest.raises(ValueError, match="same faces"):
        cm.control_maps(images, torch.ones(2, 3, 5, 8), lab)


def test_cell_blurred_blurs_each_set_by_half_a_cell():
    m = np.zeros((1, 21, 21))
    m[0, 10, 10] = 1.0
    got = cm.cell_blurred({"a": m, "b": 2 * m}, 7)              # sigma = 21 / 7 / 2 = 1.5 px
    assert list(got) == ["a", "b"]
    np.testing.assert_allclose(got["a"], cm.blurred(m, 1.5))
    np.testing.assert_allclose(got["b"], 2 * cm.blurred(m, 1.5))
    with pytest.raises(ValueError, match="cells"):
        cm.cell_blurred({"a": m}, 0)
