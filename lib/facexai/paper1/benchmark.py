"""Paper 1's networks as subjects of the explanation benchmark (:mod:`facexai.benchsubjects`).

Importing this module registers three subjects, each the chapter's network read back from the
models cache under a profile (trained if missing). The benchmark's seed ``s`` is the chapter's
``s``-th training seed (the profile's ``seed + s``, as :func:`facexai.paper1.protocol.fit_bases`
numbers them).

* ``paper1_age`` and ``paper1_gender`` - the base classifiers (8 Adience age groups; male /
  female) of :func:`facexai.paper1.protocol.fit_base`, explained on fresh SynthFace faces
  (``sample_face(40_000 + s, i)`` with the twin's nuisance) framed as the UTKFace twin's images
  reach the network (:func:`utkface_view`: the rendering at ``render_size`` written at 200 x 200
  and loaded at ``image_size``, without the JPEG step) and labelled as the twin labels them
  (:func:`twin_labels`). Causes: every Action Unit and the identity factors
  :data:`FACTOR_CAUSES`, each removed alone (set to the average person's value;
  :func:`facexai.synth.counterfactual.intervene`). Data truth (``Subject.truth_delta``): the
  change between two versions of the face that differ in the label's factor only, everything
  else and every random draw kept (:func:`label_pair`): aged 28 and 57 years
  (:func:`facexai.synth.truth.factor_pair`); a woman of low and a man of high masculinity (sex
  alone renders only the receding temples of men over 35: most faces would have no truth).
* ``paper1_transfer`` - the age base model of seed ``s`` transferred to the 40 attributes of the
  10k twin, whole network (the transfer the heatmaps chapter chooses its faces with and shows
  first), explained on the twin's test faces for the heatmaps chapter's ``attributes``
  (:func:`facexai.benchsubjects.attribute_subject`, as paper 3's subject).

Settings: ``profile`` (whose ``paper1_base`` / ``paper1_heatmaps`` parameters name the data and
the model; default ``default``), ``explained`` (``"true"``: faces classified correctly, for their
class; ``"predicted"``: see :func:`facexai.benchsubjects.chosen_subject`; a regression explains
every face), ``candidates_per_face`` (faces drawn per face scored, default 3) and, for the
transfer, ``k_causes`` (strongest causes per attribute, default 4).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..benchsubjects import (Subject, check_settings, chosen_subject, fitted_subject,
                             register_subject)

__all__ = ["FACTOR_CAUSES", "label_pair", "twin_labels", "utkface_view"]

SETTINGS = ("profile", "explained", "candidates_per_face")
#: The transfer's settings: paper 3's (``explained`` and ``candidates_per_face`` accepted so that
#: one sweep can name every subject).
TRANSFER_SETTINGS = (*SETTINGS, "k_causes")
#: Identity factors removed one at a time beside the Action Units: the labels' own (age, sex and
#: masculinity, sex's anatomy) and the looks that go with them in the data (hair, stubble...).
FACTOR_CAUSES: tuple[str, ...] = ("age", "sex", "masculinity", "hair_length", "stubble",
                                  "skin_tone", "hair_color", "glasses")
#: Dataset seed of the candidate faces is ``FACE_SEED + s`` (no other subject draws these).
FACE_SEED = 40_000
#: What the data truth of each base task is, as the subject names it (not a removable cause).
TRUTH = {"age": "age (28 vs 57 years)", "gender": "sex (woman vs man)"}


def utkface_view(size: int) -> Callable:
    """The UTKFace twin's framing (a view of :mod:`facexai.au_response`): the rendering resized
    to the twin's 200 x 200 files (:func:`facexai.datasets.utkface.write_twin`), then to ``size``
    as the loader resizes (:func:`facexai.datasets.io.resize`, bilinear); grey stays grey.

    Parameters
    ----------
    size : int
        Side of the network input (the profile's ``image_size``).

    Returns
    -------
    callable
        ``view(rgb, landmarks) -> cut``, ``cut(image) -> framed image``.
    """
    from ..datasets import io, utkface

    def cut(img):
        grey = np.ndim(img) == 2
        return io.resize(io.resize(np.asarray(img), utkface.SIZE, grey), int(size), grey)
    return lambda rgb, landmarks: cut


def twin_labels(params: Sequence) -> dict[str, np.ndarray]:
    """The UTKFace twin's labels of faces ``params``: ``"age"``, the Adience group of the whole
    years written in the file name (:func:`facexai.synth.attributes.adience_group`, as the real
    loader bins them), and ``"gender"`` in UTKFace's coding (``1 - sex``: 0 male, 1 female)."""
    from ..synth.attributes import adience_group

    return {"age": np.array([adience_group(int(p.identity.age)) for p in params], int),
            "gender": np.array([1 - int(p.identity.sex) for p in params], int)}


def label_pair(p, task: str) -> tuple:
    """Two versions of face ``p`` that differ only in the factor of ``task``'s label: ``"age"``,
    one rating-model unit either side of the mean age (:func:`facexai.synth.truth.factor_pair`);
    ``"gender"``, a woman of low and a man of high masculinity (its factor pair)."""
    from ..synth.counterfactual import intervene
    from ..synth.truth import factor_pair

    if task == "age":
        return factor_pair(p, "age")
    if task != "gender":
        raise ValueError(f"task must be 'age' or 'gender', got {task!r}")
    low, high = factor_pair(p, "masculinity")
    return intervene(low, "sex", 0), intervene(high, "sex", 1)


def _base_fit(p: dict, task: str, seed: int):
    """The UTKFace data of the profile's parameters ``p`` and its base model of ``task``, seed
    ``p["seed"] + seed`` (the chapter's, read back from the cache)."""
    from . import protocol, schema

    utk = protocol.load_utkface(**schema.data_settings(p))
    model = schema.model_settings(p)
    return utk, protocol.fit_base(utk, task, **{**model, "seed": model["seed"] + seed})


def _base(task: str, seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    from ..benchfaces import AU_CAUSES, change_delta, viewed_faces, viewed_originals
    from ..params import load_profile
    from ..ratings import to_tensor
    from ..synth.dataset import nuisance_config
    from ..synth.generate import sample_face
    from .schema import TASKS

    key = f"paper1_{task}"
    settings = check_settings(settings, SETTINGS, key)
    p = load_profile(settings.get("profile", "default"))["paper1_base"]
    utk, fit = _base_fit(p, task, seed)
    view, render = utkface_view(p["image_size"]), p["render_size"]
    n = int(settings.get("candidates_per_face", 3)) * n_faces
    nuisance = nuisance_config(1.0)                # the twin writer's default
    params = [sample_face(FACE_SEED + seed, i, nuisance=nuisance) for i in range(n)]
    subject = chosen_subject(
        key, seed, fit.model.eval(), utk.classes[TASKS[task][0]], params,
        twin_labels(params)[task], n_faces, originals=viewed_originals(params, view, render),
        faces_of=lambda chosen: viewed_faces(chosen, view, render_size=render,
                                             causes=[*AU_CAUSES, *FACTOR_CAUSES]),
        preprocess=to_tensor, truth_cause=TRUTH[task],
        explained=settings.get("explained", "true"),
        notes={"model seed": fit.config["seed"], "from cache": bool(fit.from_cache),
               "chapter seed": seed < p["n_seeds"], "synthetic": bool(utk.synthetic)})
    subject.truth_delta = change_delta(subject.faces.params, [label_pair(p, task) for p in
                                                              subject.faces.params], view, render)
    return subject


@register_subject("paper1_age", "paper 1's age base model on the UTKFace twin (8 Adience "
                                "groups; the chapter's cached seed models)")
def _age(seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    return _base("age", seed, n_faces, settings)


@register_subject("paper1_gender", "paper 1's gender base model on the UTKFace twin (2 classes; "
                                   "the chapter's cached seed models)")
def _gender(seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    return _base("gender", seed, n_faces, settings)


@register_subject("paper1_transfer", "paper 1's age model transferred whole to the 40 attributes "
                                     "of the 10k twin (the chapter's cached models)")
def _transfer(seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    from ..params import load_profile
    from . import protocol, schema

    settings = check_settings(settings, TRANSFER_SETTINGS, "paper1_transfer")
    p = load_profile(settings.get("profile", "default"))["paper1_heatmaps"]
    tenk = protocol.load_tenk(**schema.data_settings(p))
    _, base = _base_fit(p, "age", seed)
    fitted = protocol.fit_transfer(tenk, base, "whole", **{**schema.model_settings(p),
                                                           "seed": base.config["seed"]})
    return fitted_subject(
        "paper1_transfer", seed, fitted, tenk, p["attributes"], n_faces, size=p["image_size"],
        render=p["render_size"], k_causes=int(settings.get("k_causes", 4)),
        notes={"model seed": base.config["seed"], "source": "age", "mode": "whole",
               "from cache": bool(fitted.from_cache), "chapter seed": seed < p["n_seeds"]})
