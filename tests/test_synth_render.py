"""SynthFace: deterministic faces, landmarks in iBUG order, AUs that act only where they should."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from matplotlib.path import Path
from scipy.ndimage import binary_dilation

from facexai.regions import REGIONS, face_outline, region_masks
from facexai.synth.aus import (AU_INFO, OPTIONAL, PROTOTYPES, UNILATERAL_RIGHT, au_regions, sample_expression,
                               sequence)
from facexai.synth.factors import AUS, EMOTIONS, FaceParams, NuisanceConfig
from facexai.synth.generate import au_masks, faces_per_second, render_batch, sample_face
from facexai.synth.landmarks import landmarks
from facexai.synth.render import render

SIZE = 48


# ----------------------------------------------------------------------------- determinism

def test_face_is_the_same_alone_in_a_batch_in_any_order_and_in_parallel():
    params = [sample_face(9, i) for i in range(6)]
    alone = np.stack([render(p, SIZE) for p in params])
    batch, marks = render_batch(params, SIZE)
    np.testing.assert_array_equal(batch, alone)
    order = [4, 1, 5, 0, 3, 2]
    shuffled, _ = render_batch([params[i] for i in order], SIZE)
    np.testing.assert_array_equal(shuffled, alone[order])
    parallel, marks2 = render_batch(params, SIZE, workers=2)
    np.testing.assert_array_equal(parallel, alone)
    np.testing.assert_array_equal(marks2, marks)
    np.testing.assert_array_equal(marks[3], landmarks(params[3], SIZE))
    # regenerating the parameters from (seed, index) gives the same image
    np.testing.assert_array_equal(render(sample_face(9, 4), SIZE), alone[4])


def test_different_seeds_and_indices_differ():
    a = render(sample_face(0, 1), SIZE).astype(int)
    b = render(sample_face(1, 1), SIZE).astype(int)
    c = render(sample_face(0, 2), SIZE).astype(int)
    assert np.abs(a - b).mean() > 5 and np.abs(a - c).mean() > 5


def test_subject_fixes_the_identity_only():
    p, q = sample_face(2, 10, subject=7), sample_face(2, 11, subject=7)
    assert p.identity == q.identity and p.nuisance != q.nuisance


# ----------------------------------------------------------------------------- landmarks

def test_landmarks_lie_in_the_image_and_inner_ones_inside_the_face():
    for i in range(40):
        lm = landmarks(sample_face(4, i), 96)
        assert lm.shape == (68, 2) and lm.dtype == np.float64
        assert (lm >= 0).all() and (lm <= 95).all()
        assert Path(face_outline(lm)).contains_points(lm[17:]).all(), i


def test_landmarks_follow_the_ibug_order():
    for i in range(10):
        lm = landmarks(sample_face(6, i, nuisance=NuisanceConfig.none()), 96)
        x, y = lm[:, 0], lm[:, 1]
        assert (np.diff(x[:17]) > 0).all()                      # jaw: image left to right
        assert y[8] == y[:17].max()                             # through the chin
        assert (np.diff(x[17:27]) > 0).all()                    # brows: image left to right
        assert x[36:42].mean() < x[27] < x[42:48].mean()        # subject's right eye on the image left
        assert x[17:22].mean() < x[22:27].mean()
        assert x[36] < x[39] < x[42] < x[45]                    # outer / inner eye corners
        assert x[48] < x[51] < x[54] and x[31] < x[33] < x[35]
        assert (np.diff(y[27:31]) > 0).all()                    # nose bridge runs down
        brows, eyes, mouth = y[17:27].mean(), y[36:48].mean(), y[48:68].mean()
        assert brows < eyes < y[30] < mouth < y[8]


# ----------------------------------------------------------------------------- the image

def test_sizes_and_grayscale():
    p = sample_face(1, 3)
    assert render(p, 48).shape == (48, 48, 3)
    big = render(p, 256)
    assert big.shape == (256, 256, 3) and big.dtype == np.uint8
    for bad in (47, 257):
        with pytest.raises(ValueError, match=str(bad)):
            render(p, bad)
    quiet = replace(p, nuisance=replace(p.nuisance, noise=0.0, blur=0.0))
    gray = render(quiet, 64, grayscale=True)
    assert gray.shape == (64, 64) and gray.dtype == np.uint8
    luma = render(quiet, 64).astype(float) @ [0.299, 0.587, 0.114]      # ITU-R 601 luma
    assert np.abs(gray - luma).max() <= 1.5


def test_clean_nuisance_gives_plain_background_and_noise_only_adds_noise():
    p = sample_face(3, 0, nuisance=NuisanceConfig.none())
    img = render(p, 64)
    np.testing.assert_array_equal(img[0, 0], np.round(np.array(p.nuisance.background) * 255))
    noisy = replace(p, nuisance=replace(p.nuisance, noise=0.05))
    diff = render(noisy, 64).astype(float) - img
    assert abs(diff.mean()) < 1.0 and 0.7 * 12.75 < diff.std() < 1.2 * 12.75
    np.testing.assert_array_equal(landmarks(noisy, 64), landmarks(p, 64))


def test_face_region_is_not_background():
    p = sample_face(8, 2, nuisance=NuisanceConfig.none())
    img = render(p, 96).astype(float)
    lab = region_masks(landmarks(p, 96), 96)
    bg = np.array(p.nuisance.background) * 255
    face = lab[REGIONS.index("chin_jaw")] | lab[REGIONS.index("right_cheek")]
    assert np.abs(img[face] - bg).sum(-1).mean() > 30


# ----------------------------------------------------------------------------- action units

@pytest.mark.parametrize("index", [0, 5])
def test_each_au_changes_pixels_only_in_its_regions(index):
    size = 64
    p = sample_face(12, index)
    masks = au_masks(p, size)
    assert masks.shape == (len(AUS), size, size) and masks.dtype == bool
    for k, au in enumerate(AUS):
        allowed = np.zeros((size, size), bool)
        for level in (0.0, 1.0):          # the regions of the face without and with the AU
            left, right = list(p.au_left), list(p.au_right)
            left[k] = right[k] = level
            rm = region_masks(landmarks(replace(p, au_left=tuple(left), au_right=tuple(right)), size), size)
            for name in au_regions(au):
                allowed |= rm[REGIONS.index(name)]
        allowed = binary_dilation(allowed, iterations=1)
        changed = masks[k].sum()
        assert changed > 0, f"AU{au} changes nothing"
        assert (masks[k] & allowed).sum() >= 0.9 * changed, f"AU{au} acts outside {au_regions(au)}"


def test_au_metadata():
    assert tuple(AU_INFO) == AUS
    for au, info in AU_INFO.items():
        assert info.name and info.description and info.regions
        assert set(info.regions) <= set(REGIONS[2:])          # face regions only
    with pytest.raises(ValueError, match="AU3"):
        au_regions(3)


# EMFACS / CK+ prototypes (Lucey et al. 2010, table 2), with AU16 of disgust not modelled.
EMFACS = {"anger": {4, 5, 7, 23}, "contempt": {12, 14}, "disgust": {9, 15}, "fear": {1, 2, 4, 5, 7, 20, 26},
          "happy": {6, 12}, "sadness": {1, 4, 15}, "surprise": {1, 2, 5, 26}}


def test_prototypes_contain_the_emfacs_aus():
    assert PROTOTYPES[0] == {}
    for name, aus in EMFACS.items():
        assert aus <= set(PROTOTYPES[EMOTIONS.index(name)]), name
    assert {10, 17} & set(PROTOTYPES[EMOTIONS.index("disgust")])  # 9 or 10, 15 + 16 or 17
    for code in OPTIONAL:
        assert not set(OPTIONAL[code]) & set(PROTOTYPES[code])


def test_every_face_meets_the_ck_plus_criteria_of_its_label():
    # Lucey et al. 2010, table 2: the AUs a CK+ sequence must show to carry its label, and
    # surprise's AU5 no stronger than B. Other core AUs are still sometimes missing.
    from facexai.synth.aus import CAPS, FACS_LEVEL, REQUIRED
    assert {EMOTIONS[c]: set(r) for c, r in REQUIRED.items()} == {
        "anger": {23}, "contempt": {14}, "disgust": {9}, "fear": {1, 2, 4}, "happy": {12},
        "sadness": {1, 4, 15}, "surprise": {1, 2}}
    k5 = AUS.index(5)
    for code, required in REQUIRED.items():
        draws = [sample_expression(3, i, code) for i in range(150)]
        for left, right, got in draws:
            assert got == code
            assert all(max(left[AUS.index(a)], right[AUS.index(a)]) > 0.2 for a in required)
        missing = sum(min(max(l[AUS.index(a)], r[AUS.index(a)]) for a in PROTOTYPES[code]) == 0
                      for l, r, _ in draws)
        assert missing > 0 or set(PROTOTYPES[code]) == set(required), EMOTIONS[code]
    surprise = [sample_expression(3, i, "surprise") for i in range(300)]
    assert max(max(l[k5], r[k5]) for l, r, _ in surprise) <= FACS_LEVEL["B"] == CAPS[7][5]
    assert np.mean([max(l[k5], r[k5]) > 0.25 for l, r, _ in surprise]) > 0.5


def test_contempt_is_unilateral():
    code = EMOTIONS.index("contempt")
    assert UNILATERAL_RIGHT == {code}
    k12, k14 = AUS.index(12), AUS.index(14)
    for i in range(30):
        left, right, got = sample_expression(1, i, "contempt")
        assert got == code
        assert left[k12] == left[k14] == 0.0 and max(right[k12], right[k14]) > 0
    # on the face: the subject's right mouth corner (48, image left) moves, the left one (54) not
    p = FaceParams()
    r = tuple(PROTOTYPES[code].get(a, 0.0) for a in AUS)
    moved = landmarks(replace(p, au_right=r), 96) - landmarks(p, 96)
    assert np.linalg.norm(moved[48]) > 1.0 and np.linalg.norm(moved[54]) < 1e-9


def test_sample_expression():
    codes = [sample_expression(4, i)[2] for i in range(400)]
    counts = np.bincount(codes, minlength=len(EMOTIONS))
    assert counts.argmax() == 0 and counts.min() > 0               # neutral-heavy, all occur
    assert sample_expression(4, 17) == sample_expression(4, 17)
    k12, k6 = AUS.index(12), AUS.index(6)
    happy = [sample_expression(5, i, "happy") for i in range(100)]
    assert sum(r[k12] > 0.3 for _, r, _ in happy) >= 80            # prototype AUs mostly present
    assert len({round(r[k12], 6) for _, r, _ in happy}) > 50        # with jittered intensities
    assert sum(r[k6] == 0 for _, r, _ in happy) >= 2                # ... and sometimes missing
    for left, right, _ in happy:
        assert all(0.0 <= v <= 1.0 for v in left + right)
    with pytest.raises(ValueError, match="joy"):
        sample_expression(0, 0, "joy")
    with pytest.raises(ValueError, match="8"):
        sample_expression(0, 0, 8)


def test_sequence_goes_from_neutral_to_apex():
    p = sample_face(2, 3, emotion="surprise")
    frames = sequence(p, 6)
    assert len(frames) == 6 and all(f.emotion == p.emotion for f in frames)
    assert frames[0].au.max() == 0.0 and np.allclose(frames[-1].au, p.au)
    levels = np.array([f.au for f in frames])
    assert (np.diff(levels, axis=0) >= -1e-12).all()
    k = int(np.argmax(p.au))
    assert levels[3, k] < 0.5 * p.au[k]                               # ease-in: slow start
    with pytest.raises(ValueError, match="n_frames"):
        sequence(p, 1)


def test_speed_helper_reports_a_rate():
    # The real requirement (>= 200 faces/s at 96 px on one core) is measured outside the test
    # suite; here only a floor that a loaded CI machine also meets.
    assert faces_per_second(n=30, size=96) > 30
