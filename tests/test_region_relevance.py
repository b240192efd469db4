"""Relevance per face region (facexai.scoring) and heatmaps averaged over faces aligned to a landmark
template (facexai.regions)."""
from __future__ import annotations

import numpy as np
import pytest

from facexai.regions import (REGIONS, TemplateWarp, average_heatmap, mean_template, region_labels,
                             similarity_transform)
from facexai.scoring import region_relevance, region_relevance_many
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 64


@pytest.fixture(scope="module")
def faces():
    return np.stack([landmarks(sample_face(5, i), SIZE) for i in range(4)])


def test_relevance_inside_one_region_is_all_there(faces):
    lab = region_labels(faces[0], SIZE)
    nose = REGIONS.index("nose")
    rel = np.where(lab == nose, 2.0, -1.0)                     # negative relevance is ignored
    table = region_relevance(rel, faces[0])
    assert table.loc["nose", "relevance_share"] == pytest.approx(1.0)
    assert table["relevance_share"].drop("nose").abs().max() == 0
    area = (lab == nose).mean()
    assert table.loc["nose", "area_share"] == pytest.approx(area)
    assert table.loc["nose", "relevance_per_area"] == pytest.approx(1 / area)
    uniform = region_relevance(np.ones((SIZE, SIZE)), faces[0])
    np.testing.assert_allclose(uniform["relevance_share"], uniform["area_share"])
    np.testing.assert_allclose(uniform["relevance_per_area"].dropna(), 1.0)
    many = region_relevance_many(np.ones((2, SIZE, SIZE)), faces[:2], regions=("mouth", "nose"))
    assert len(many) == 4 and set(many["face"]) == {0, 1}


def test_similarity_transform_recovers_a_known_one(faces):
    angle, scale, shift = 0.3, 1.4, np.array([5.0, -2.0])
    a = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = faces[0] @ a.T + shift
    a_hat, t_hat = similarity_transform(faces[0], moved)
    np.testing.assert_allclose(a_hat, a, atol=1e-10)
    np.testing.assert_allclose(t_hat, shift, atol=1e-8)


def test_warp_is_the_identity_onto_the_faces_own_landmarks(faces):
    img = np.random.default_rng(0).random((SIZE, SIZE))
    for method in ("piecewise_affine", "similarity"):
        out = TemplateWarp(faces[0], SIZE, method)(img, faces[0])
        np.testing.assert_allclose(out, img, atol=1e-9)


def test_warp_undoes_a_similarity_transform_of_the_face(faces):
    # move a smooth image and its landmarks by a known similarity (scipy, independently of
    # TemplateWarp), then warp it back onto the original landmarks
    from scipy.ndimage import gaussian_filter, map_coordinates

    img = gaussian_filter(np.random.default_rng(1).random((SIZE, SIZE)), 3)
    c = faces[0].mean(0)
    a = 0.9 * np.array([[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]])
    shift = np.array([2.0, 1.0])
    moved_lm = (faces[0] - c) @ a.T + c + shift
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(float)
    out = np.c_[xx.ravel(), yy.ravel()]
    src = (out - c - shift) @ np.linalg.inv(a).T + c          # inverse map: output -> original
    moved = map_coordinates(img, [src[:, 1], src[:, 0]], order=3).reshape(SIZE, SIZE)
    back = TemplateWarp(faces[0], SIZE)(moved, moved_lm, order=3)
    inner = (slice(16, 48), slice(16, 48))
    assert np.abs(back - img)[inner].max() < 0.02 * np.ptp(img)


def test_average_heatmap_of_one_repeated_map_and_template(faces):
    tpl = mean_template(faces)
    assert tpl.shape == (68, 2)
    np.testing.assert_allclose(tpl.mean(0), faces.reshape(-1, 2).mean(0), atol=1e-9)
    lab = region_labels(tpl, SIZE)
    maps = np.stack([(region_labels(lm, SIZE) == REGIONS.index("mouth")).astype(float)
                     for lm in faces])
    avg, _ = average_heatmap(maps, faces, tpl)
    mouth = lab == REGIONS.index("mouth")
    # aligned, the four mouths fall on the template's mouth
    assert avg[mouth].mean() > 0.75 and avg[~mouth].mean() < 0.05
