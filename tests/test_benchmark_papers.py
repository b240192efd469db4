"""The papers' networks as benchmark subjects (paper 2's zero-bias CNN, paper 3's VGG16), under the
ci profile, and the faces they are built from: resized renders, changes to other versions of a
face, truths made of several causes at once."""
from __future__ import annotations

import numpy as np
import pytest

from facexai import benchscore
from facexai.benchfaces import (AU_CAUSES, change_delta, removing, resized_faces,
                                threshold_mask)
from facexai.benchsubjects import build_subject
from facexai.causemaps import attribute_causes, resize_images
from facexai.synth.generate import sample_face
from facexai.synth.render import Draws, render_with_landmarks
from facexai.views import resize_view

from facexai.paper2 import benchmark as _p2  # noqa: F401  (registers paper2_cnn)
from facexai.paper3 import benchmark as _p3  # noqa: F401  (registers paper3_vgg16)

CI = {"profile": "ci", "explained": "predicted"}


def test_resized_faces_are_the_twins_renders_resized_and_inactive_causes_change_nothing():
    params = [sample_face(5, i, emotion=5) for i in range(2)]
    causes = [*AU_CAUSES, "stubble", "glasses"]
    f = resized_faces(params, causes, 32, 64, spread=1)
    rgb = np.stack([render_with_landmarks(p, 64, draws=Draws.of(p))[0] for p in params])
    assert np.array_equal(f.original, resize_images(rgb, 32))   # as the loaders resize
    shown = np.array([[p.au[k] > 0 for p in params] for k in range(len(AU_CAUSES))])
    assert not f.active[:len(AU_CAUSES)][~shown].any()         # an AU not shown: not rendered
    assert not f.delta[~f.active].any()
    assert f.active[causes.index("AU12")].any()   # happy shows AU12 (a faint one may vanish
    #                                                 in the resize: inactive in the model's frame)
    assert f.face.any() and f.face.mean() < 0.9


def test_change_delta_of_several_causes_covers_each_one():
    params = [sample_face(6, 0, emotion=5)]
    view = resize_view(48)
    both = change_delta(params, [(params[0], removing(params[0], ["AU12", "AU6"]))], view, 64)
    assert not change_delta(params, [(params[0], params[0])], view, 64).any()   # no change
    f = resized_faces(params, ["AU12", "AU6"], 48, 64)
    for k in range(2):                                          # where one alone changes a pixel
        strong = f.delta[k, 0] > 8                                 # clearly, removing both does
        assert (both[0][strong] > 0).mean() > 0.99
    with pytest.raises(ValueError, match="two versions"):
        change_delta(params, [], view, 64)
    with pytest.raises(ValueError, match="threshold"):
        threshold_mask(both, 1.0)


@pytest.fixture(scope="module")
def vgg16():
    return build_subject("paper3_vgg16", seed=0, n_faces=6, settings=CI)


def test_paper3_subject_explains_attributes_in_turn_with_their_causes_as_truth(vgg16):
    from facexai.params import load_profile

    attributes = load_profile("ci")["paper3_explanations"]["attributes"]
    classes = list(vgg16.classes)
    assert [classes[t] for t in vgg16.target] == [attributes[i % len(attributes)]
                                                   for i in range(6)]
    assert all(o != t for o, t in zip(vgg16.other, vgg16.target))
    truth = vgg16.truth(0.0)
    assert truth.any()       # (a face that shows none of its attribute's causes has no truth)
    # the truth is made of the attribute's strongest causes: outside their single changes it is
    # (almost) empty
    for i, t in enumerate(vgg16.target):
        causes = [c for c in attribute_causes(classes[t]) if c in vgg16.faces.causes]
        single = vgg16.faces.delta[[vgg16.faces.causes.index(c) for c in causes], i].max(0) > 0
        if causes:
            assert (truth[i] & ~single).mean() < 0.02
    assert np.isfinite(vgg16.accuracy)


def test_paper3_subject_is_scored(vgg16):
    s = benchscore.score_subject(vgg16, ["gradient", "gradcam"], n_null=2, perturbation_faces=2,
                                 perturbation_steps=2, randomization_faces=2,
                                 independent_layers=1)
    assert set(s.faces["map"]) >= {"gradient", "gradcam", "random", "face-uniform"}
    effects = s.effects
    assert not effects[~vgg16.faces.active].any()                  # inactive causes: no effect


def test_paper2_subject_frames_faces_like_the_ckplus_twin():
    s = build_subject("paper2_cnn", seed=0, n_faces=4, settings=CI)
    from facexai.params import load_profile

    size = load_profile("ci")["paper2_accuracy"]["image_size"]
    assert s.faces.original.shape == (4, size, size)              # grey, the network's input
    assert s.faces.spread == 2                                    # Normer3's 5 x 5 window
    assert s.truth(0.03).any()
    assert s.notes["explained"] == "predicted"
    with pytest.raises(ValueError, match="CK\\+ fold"):
        build_subject("paper2_cnn", seed=99, n_faces=4, settings=CI)


@pytest.mark.parametrize("key", ["paper2_cnn", "paper3_vgg16"])
def test_paper_subjects_name_stray_settings(key):
    with pytest.raises(ValueError, match="no setting.*colour"):
        build_subject(key, seed=0, n_faces=4, settings={**CI, "colour": 1})


def test_paper2_variants_are_subjects_of_their_own_networks():
    import torch

    plain = build_subject("paper2_cnn", seed=0, n_faces=2, settings=CI)
    both = build_subject("paper2_cnn_ad", seed=0, n_faces=2, settings=CI)
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in both.model.modules())
    assert not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in plain.model.modules())
    assert np.array_equal(plain.faces.original, both.faces.original)   # the same faces asked
