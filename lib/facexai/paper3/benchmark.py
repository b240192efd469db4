"""Paper 3's VGG16 as a subject of the explanation benchmark (:mod:`facexai.benchsubjects`).

Importing this module registers the subject ``paper3_vgg16``: the rating regression the paper-3
chapter trains under a profile (read back from the models cache, trained if missing), explained on
its own test faces of the 10k twin (rendered again at the twin's size and resized as the loader
resizes, without the JPEG step), each face for one of the attributes the chapter explains. The
benchmark's seed ``s`` is the chapter's ``s``-th training seed. Settings: ``profile`` (whose
``paper3_explanations`` parameters name the data, the model and the attributes; default
``default``), ``k_causes`` (strongest causes per attribute, default 4).
"""
from __future__ import annotations

from typing import Any


from ..benchsubjects import Subject, check_settings, fitted_subject, register_subject

__all__: list[str] = []

#: ``explained`` and ``candidates_per_face`` are the classifiers' settings: a regression explains
#: every face it is given (accepted, so that one sweep can name every subject).
SETTINGS = ("profile", "k_causes", "explained", "candidates_per_face")


@register_subject("paper3_vgg16", "paper 3's VGG16 rating regression (40 attributes; the "
                                  "chapter's cached models)")
def _vgg16(seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    from ..params import load_profile
    from . import protocol, schema

    check_settings(settings, SETTINGS, "paper3_vgg16")
    p = load_profile(settings.get("profile", "default"))["paper3_explanations"]
    data = protocol.load_data(**schema.data_settings(p))
    model = schema.model_settings(p)
    fitted = protocol.fit_or_load(data, **{**model, "seed": model["seed"] + seed},
                                  progress=False)
    return fitted_subject("paper3_vgg16", seed, fitted, data, p["attributes"], n_faces,
                          size=p["image_size"], render=p["render_size"],
                          k_causes=int(settings.get("k_causes", 4)),
                          notes={"model seed": model["seed"] + seed})
