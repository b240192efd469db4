"""Paper 1's networks as benchmark subjects (facexai.paper1.benchmark) under the ci profile: the
UTKFace twin's framing and labels, the chapter's cached models read back for a seed, the
counterfactual faces, the data truth of age and sex, and the scores."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from facexai import benchscore, paths
from facexai.benchfaces import AU_CAUSES
from facexai.benchsubjects import build_subject
from facexai.paper1 import benchmark as p1bench
from facexai.paper1.benchmark import FACTOR_CAUSES, label_pair, twin_labels, utkface_view
from facexai.synth.counterfactual import intervene
from facexai.synth.dataset import nuisance_config
from facexai.synth.generate import sample_face
from facexai.synth.render import Draws, render_with_landmarks

CI = {"profile": "ci", "explained": "predicted"}
KEYS = ("paper1_age", "paper1_gender", "paper1_transfer")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A data folder of its own: the ci twins and models are made there once."""
    with paths.environment({"FACEXAI_DATA": str(tmp_path_factory.mktemp("data"))}):
        yield


@pytest.fixture(scope="module")
def subjects(env):
    return {k: build_subject(k, seed=1, n_faces=4, settings=CI) for k in KEYS}


def test_framing_and_labels_are_the_utkface_twins(tmp_path):
    from facexai.datasets import utkface

    utkface.write_twin(tmp_path, n_images=6, seed=7, render_size=64, malformed=0)
    ds = utkface.load(tmp_path, size=32, cache=False)
    params = [sample_face(7, i, nuisance=nuisance_config(1.0)) for i in range(6)]
    cut = utkface_view(32)(None, None)
    ours = np.stack([cut(render_with_landmarks(p, 64, draws=Draws.of(p))[0])
                     for p in params]).astype(float)
    labels = twin_labels(params)
    for img, age_group, gender in zip(ds.images, ds.labels["age_group"], ds.labels["gender"]):
        err = np.abs(ours - img).mean((1, 2, 3))
        i = int(err.argmin())
        assert err[i] < 2.0 and np.sort(err)[1] > 5 * err[i]    # the same face, but for JPEG
        assert (labels["age"][i], labels["gender"][i]) == (age_group, gender)


def test_label_pairs_change_the_labels_factor_only():
    p = sample_face(3, 0)
    for task, fields in (("age", {"age"}), ("gender", {"sex", "masculinity"})):
        low, high = label_pair(p, task)
        a, b = asdict(low.identity), asdict(high.identity)
        assert {k for k in a if a[k] != b[k]} == fields
        assert (low.au_left, low.nuisance) == (p.au_left, p.nuisance)
    woman, man = label_pair(p, "gender")
    assert (woman.identity.sex, man.identity.sex) == (0, 1)
    assert woman.identity.masculinity < man.identity.masculinity
    with pytest.raises(ValueError, match="task"):
        label_pair(p, "race")


def test_seed_reads_the_chapters_models(env, subjects):
    from facexai.params import load_profile
    from facexai.paper1 import protocol, schema

    p = load_profile("ci")["paper1_heatmaps"]           # as the paper-1 notebooks call them
    utk, tenk = protocol.load_utkface(**schema.data_settings(p)), protocol.load_tenk(
        **schema.data_settings(p))
    bases = protocol.fit_bases(utk, **schema.seed_settings(p), **schema.model_settings(p))
    fits = protocol.fit_transfers(tenk, bases, **schema.model_settings(p))
    # the subjects (seed 1) trained these already: the chapter reads them back
    assert bases["age", 1].from_cache and bases["gender", 1].from_cache
    assert fits["age", "whole"][1].from_cache

    def same(a, b):
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert same(subjects["paper1_age"].model, bases["age", 1].model)
    assert same(subjects["paper1_gender"].model, bases["gender", 1].model)
    assert same(subjects["paper1_transfer"].model, fits["age", "whole"][1].model)
    assert subjects["paper1_transfer"].notes["model seed"] == 1


@pytest.mark.parametrize("key", ["paper1_age", "paper1_gender"])
def test_base_faces_change_only_where_a_cause_is_active(subjects, key):
    s = subjects[key]
    f = s.faces
    assert f.causes == [*AU_CAUSES, *FACTOR_CAUSES] and f.original.shape == (4, 32, 32, 3)
    off = ~f.active
    assert off.any() and f.active.any()
    assert not f.delta[off].any()
    assert np.array_equal(f.changed[off], np.broadcast_to(f.original, f.changed.shape)[off])
    shown = np.array([[p.au[k] > 0 for p in f.params] for k in range(len(AU_CAUSES))])
    assert not f.active[:len(AU_CAUSES)][~shown].any()     # an AU not shown is not rendered
    women = np.array([p.identity.sex == 0 for p in f.params])
    assert not f.active[f.causes.index("sex"), women].any()   # removing sex: a woman stays
    assert f.active[f.causes.index("age")].all()
    c, i = f.causes.index("age"), 0                         # a counterfactual, re-rendered
    p = f.params[i]
    again = utkface_view(32)(None, None)(render_with_landmarks(intervene(p, "age"), 64,
                                                               draws=Draws.of(p))[0])
    assert np.array_equal(f.changed[c, i], again)
    assert torch.equal(s.x, s.preprocess(f.original))


@pytest.mark.parametrize("key", ["paper1_age", "paper1_gender"])
def test_base_truth_is_the_labels_change_inside_the_faces_changes(subjects, key):
    s = subjects[key]
    f = s.faces
    assert s.truth_delta.shape == (4, 32, 32) and s.truth_delta.dtype == np.uint8
    truth = s.truth(0.03)
    assert truth.any(axis=(1, 2)).all()                     # every face has its truth
    changed = (f.delta > 0).any(0)                          # pixels some cause changes
    inside = (truth & changed).sum((1, 2)) / truth.sum((1, 2))
    assert inside.min() > 0.8 and (truth & changed).sum() / truth.sum() > 0.9
    task = key.split("_")[1]
    assert s.truth_cause == p1bench.TRUTH[task]


@pytest.mark.parametrize("key", ["paper1_age", "paper1_gender"])
def test_base_subjects_explain_the_twins_labels(env, key):
    task = key.split("_")[1]
    s = build_subject(key, seed=0, n_faces=2, settings={"profile": "ci", "explained": "true",
                                                        "candidates_per_face": 4})
    assert np.array_equal(s.target, twin_labels(s.faces.params)[task])   # correctly classified
    assert s.candidates == 8 and 0 < s.accuracy <= 1
    drawn = [sample_face(40_000, i, nuisance=nuisance_config(1.0)) for i in range(8)]
    assert all(p in drawn for p in s.faces.params)          # fresh faces of seed 40_000 + s


def test_transfer_explains_the_heatmap_chapters_attributes(subjects):
    from facexai.params import load_profile

    s = subjects["paper1_transfer"]
    attributes = load_profile("ci")["paper1_heatmaps"]["attributes"]
    assert [s.classes[t] for t in s.target] == [attributes[i % 2] for i in range(4)]
    assert s.notes["source"] == "age" and s.notes["mode"] == "whole"
    f = s.faces
    assert not f.delta[~f.active].any() and f.active[f.causes.index("age")].all()
    has = s.truth_delta.any(axis=(1, 2))
    assert has.any()                                        # a face whose attribute's causes
    changed = (f.delta > 0).any(0)                          # are not shown has no truth
    truth = s.truth_delta > 0
    assert (truth & changed)[has].sum() / truth.sum() > 0.9


@pytest.mark.parametrize("key", KEYS)
def test_stray_settings_are_named(key):
    with pytest.raises(ValueError, match="no setting.*colour, hue"):
        build_subject(key, seed=0, n_faces=4, settings={**CI, "hue": 1, "colour": 2})


@pytest.mark.parametrize("key", KEYS)
def test_paper1_subjects_are_scored(subjects, key):
    s = subjects[key]
    scores = benchscore.score_subject(s, ["gradient", "lrp_epsilon_plus_flat"], n_null=2,
                                      perturbation_faces=2, perturbation_steps=2,
                                      randomization_faces=2, independent_layers=1)
    assert set(scores.faces["map"]) >= {"gradient", "lrp_epsilon_plus_flat", "random"}
    assert not scores.effects[~s.faces.active].any()        # inactive causes: no effect
    mass = scores.faces.query("map == 'gradient' and metric == 'mass'")["value"]
    assert np.isfinite(mass).any()
