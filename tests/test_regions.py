"""Face regions from 68 landmarks: a partition of the image that covers the face outline exactly."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path

from facexai.regions import (FACE_REGIONS, REGIONS, face_mask, face_outline, has_landmarks,
                             head_frame, region_label_maps, region_labels, region_masks)
from facexai.synth.factors import NuisanceConfig
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 80


@pytest.fixture(scope="module", params=[0, 1, 2, 3])
def face(request):
    p = sample_face(3, request.param)        # default nuisance: rolled, shifted, scaled faces
    return landmarks(p, SIZE)


def test_regions_partition_the_image(face):
    masks = region_masks(face, SIZE)
    assert masks.shape == (len(REGIONS), SIZE, SIZE) and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(0), 1)          # disjoint, and their union is everything
    for name in REGIONS:
        assert masks[REGIONS.index(name)].any(), name


def test_face_regions_cover_the_face_outline_exactly(face):
    labels = region_labels(face, SIZE)
    face_ids = [REGIONS.index(n) for n in FACE_REGIONS]
    np.testing.assert_array_equal(np.isin(labels, face_ids), face_mask(face, SIZE))
    # The rasterised outline agrees with an independent point-in-polygon test (matplotlib)
    # except on pixels whose centre lies within 1.5 px of the outline (PIL also paints the edges).
    poly = face_outline(face)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    pts = np.c_[xx.ravel(), yy.ravel()].astype(float)
    inside = Path(poly).contains_points(pts)
    a, b = poly, np.roll(poly, -1, axis=0)
    t = np.clip(((pts[:, None] - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0, 1)
    dist = np.linalg.norm(pts[:, None] - (a + t[..., None] * (b - a)), axis=-1).min(1)
    differ = inside != face_mask(face, SIZE).ravel()
    assert not differ[dist > 1.5].any()


def _label_at(labels, xy):
    x, y = np.round(xy).astype(int)
    return REGIONS[labels[y, x]]


def test_hand_checked_points(face):
    lab = region_labels(face, SIZE)
    hf = head_frame(face)
    assert _label_at(lab, face[36:42].mean(0)) == "right_eye"
    assert _label_at(lab, face[42:48].mean(0)) == "left_eye"
    assert _label_at(lab, face[19]) == "right_brow"
    assert _label_at(lab, face[24]) == "left_brow"
    assert _label_at(lab, face[30]) == "nose"
    assert _label_at(lab, face[[62, 66]].mean(0)) == "mouth"
    assert _label_at(lab, 0.5 * face[8] + 0.5 * face[57]) == "chin_jaw"
    assert _label_at(lab, hf.point(0.0, -0.6)) == "forehead"
    assert _label_at(lab, hf.point(-0.6, 0.35)) == "right_cheek"   # subject's right = image left
    assert _label_at(lab, hf.point(0.6, 0.35)) == "left_cheek"
    assert _label_at(lab, hf.point(0.0, -1.12)) == "hair"
    assert lab[0, 0] == REGIONS.index("background")
    # right_* regions lie on the image left of their left_* twins
    for a, b in (("right_eye", "left_eye"), ("right_brow", "left_brow"), ("right_cheek", "left_cheek")):
        xa = np.nonzero(lab == REGIONS.index(a))[1].mean()
        xb = np.nonzero(lab == REGIONS.index(b))[1].mean()
        assert xa < xb


def test_labels_depend_only_on_landmarks_and_move_with_them():
    """Shifting the landmarks by whole pixels shifts the label map: nothing else is used."""
    lm = landmarks(sample_face(5, 0, nuisance=NuisanceConfig.none()), 96)
    a = region_labels(lm, 96)
    b = region_labels(lm + [7, -4], 96)
    # b[y, x] == a[y + 4, x - 7]
    assert (b[10:-14, 17:-10] == a[14:-10, 10:-17]).mean() > 0.995


def test_rectangular_size_and_bad_input():
    lm = landmarks(sample_face(5, 1), 64)
    lab = region_labels(lm, (64, 90))
    assert lab.shape == (64, 90) and lab.dtype == np.int8
    assert set(np.unique(lab)) <= set(range(len(REGIONS)))
    with pytest.raises(ValueError, match="68, 2"):
        region_labels(lm[:60], 64)


def test_label_maps_of_many_faces_leave_unknown_faces_out():
    lms = np.stack([landmarks(sample_face(5, i), 48) for i in range(3)])
    lms[1, 30] = np.nan
    assert has_landmarks(lms).tolist() == [True, False, True]
    maps = region_label_maps(lms, 48)
    assert maps.shape == (3, 48, 48) and maps.dtype == np.int8
    np.testing.assert_array_equal(maps[0], region_labels(lms[0], 48))
    np.testing.assert_array_equal(maps[2], region_labels(lms[2], 48))
    assert (maps[1] == -1).all()
    with pytest.raises(ValueError, match="68, 2"):
        region_label_maps(lms[:, :10], 48)
