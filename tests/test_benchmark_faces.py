"""The benchmark's faces and subjects: counterfactuals in the model's frame, the positive control's
task, the subjects' errors, and the sweep files."""
from __future__ import annotations

import numpy as np
import pytest

from facexai.benchfaces import AU_CAUSES, direct_faces
from facexai.groundtruth import marker_faces
from facexai.synth.generate import render_batch, sample_face


@pytest.fixture(scope="module")
def faces():
    params = [sample_face(3, i, emotion=5) for i in range(3)]      # happy: AU6 + AU12
    return direct_faces(params, 48, spread=2)


def test_direct_faces_are_the_training_renders_and_inactive_causes_change_nothing(faces):
    images, _ = render_batch(faces.params, 48, grayscale=True)
    assert np.array_equal(faces.original, images)          # the frame the network was trained on
    assert faces.causes == [*AU_CAUSES, "expression"]
    shown = np.array([[p.au[k] > 0 for p in faces.params] for k in range(len(AU_CAUSES))])
    assert np.array_equal(faces.active[:-1], shown)
    off = ~faces.active
    assert not faces.delta[off].any()                       # a cause not shown changes no pixel
    assert np.array_equal(faces.changed[off], np.broadcast_to(
        faces.original, faces.changed.shape)[off])
    assert faces.active[-1].all()                           # every face has an expression


def test_support_is_grown_and_region_thresholded(faces):
    k = faces.causes.index("AU12")
    raw = faces.delta[k] > 0
    grown = faces.support(["AU12"])[0]
    assert (grown >= raw).all() and grown.sum() > raw.sum()
    region = faces.region("AU12", 0.03)
    assert (region <= raw).all() and region.sum() < raw.sum()
    with pytest.raises(ValueError, match="threshold"):
        faces.region("AU12", 1.5)
    with pytest.raises(ValueError, match="unknown cause"):
        faces.support(["AU99"])


def test_marker_faces_vary_only_the_marker_with_the_label():
    f = marker_faces(40, seed=2, size=48)
    k = AU_CAUSES.index("AU12")
    assert np.array_equal(f.labels, np.arange(40) % 2)
    assert ((f.au[:, k] > 0) == (f.labels == 1)).all()
    others = np.delete(f.au, k, axis=1).sum(1)
    assert others.max() > 0                                  # other AUs are there ...
    assert abs(others[f.labels == 1].mean() - others[f.labels == 0].mean()) < 0.6  # ... either way


def test_subjects_refuse_bad_requests():
    from facexai.benchsubjects import build_subject

    with pytest.raises(ValueError, match="unknown benchmark subject 'nope'.*expression"):
        build_subject("nope", seed=0, n_faces=4)
    with pytest.raises(ValueError, match="n_faces"):
        build_subject("fer", seed=0, n_faces=1)
    with pytest.raises(ValueError, match="no setting.*colour"):
        build_subject("fer", seed=0, n_faces=4, settings={"colour": 1})


def test_benchmark_sweeps_validate_and_share_the_methods_network():
    from facexai.params import load_profile
    from facexai.sweep import load_sweep

    from facexai.benchsubjects import SUBJECTS
    from facexai.paper1 import benchmark as _p1  # noqa: F401  (the papers' subjects)
    from facexai.paper2 import benchmark as _p2  # noqa: F401
    from facexai.paper3 import benchmark as _p3  # noqa: F401

    methods = load_profile("default")["methods"]
    for name in ("benchmark", "benchmark_book", "benchmark_ci"):
        sweep = load_sweep(name)
        named = {p.values["subject"] for p in sweep.points}
        assert {"expression", "positive_control", "fer"} <= named <= set(SUBJECTS), name
        if name == "benchmark":             # the full grid: every model of the book
            assert named == set(SUBJECTS)
        if name != "benchmark_ci":          # the Methods chapter's weights are read back
            p = sweep.points[0].params
            for key in ("image_size", "n_train", "n_test", "nuisance_scale", "widths", "hidden",
                        "init_scale", "epochs", "batch_size", "learning_rate"):
                assert p[key] == methods[key], (name, key)
    # the positive control: the same network, its own training length, alike in book and grid
    from facexai.benchmark import subject_settings

    book, full = (load_sweep(n).points[0].params for n in ("benchmark_book", "benchmark"))
    for key in ("control_n_train", "control_epochs", "marker"):
        assert book[key] == full[key], key
    pc = subject_settings("positive_control", full)
    assert (pc["n_train"], pc["epochs"], pc["marker"]) == \
        (full["control_n_train"], full["control_epochs"], full["marker"])
    assert pc["widths"] == full["widths"]
    assert subject_settings("expression", full)["n_train"] == full["n_train"]
