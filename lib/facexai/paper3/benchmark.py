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

import numpy as np

from ..benchsubjects import Subject, attribute_subject, check_settings, register_subject

__all__: list[str] = []

#: ``explained`` and ``candidates_per_face`` are the classifiers' settings: a regression explains
#: every face it is given (accepted, so that one sweep can name every subject).
SETTINGS = ("profile", "k_causes", "explained", "candidates_per_face")


@register_subject("paper3_vgg16", "paper 3's VGG16 rating regression (40 attributes; the "
                                  "chapter's cached models)")
def _vgg16(seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    from .. import stats
    from ..heatmaps import explained_rows
    from ..params import load_profile
    from ..ratings import to_tensor
    from . import protocol, schema

    check_settings(settings, SETTINGS, "paper3_vgg16")
    p = load_profile(settings.get("profile", "default"))["paper3_explanations"]
    data = protocol.load_data(**schema.data_settings(p))
    if data.params is None:
        raise ValueError("the benchmark needs the 10k twin (its faces are rendered again with "
                         "each cause removed); this profile's paper3 data_dir is a real copy")
    model = schema.model_settings(p)
    fitted = protocol.fit_or_load(data, **{**model, "seed": model["seed"] + seed},
                                  progress=False)
    attributes = list(p["attributes"])
    nets = {id(fitted.explainable(a)[0]) for a in attributes}
    if len(nets) != 1:
        raise ValueError("the benchmark explains one network per subject: paper 3's "
                         "per-attribute protocol has one per attribute (use protocol 'multi')")
    test = data.indices("test")
    r = stats.pearson_columns(fitted.predict(data.images[test])[attributes],
                              data.ratings[attributes].iloc[test])
    rows = explained_rows(data, n_faces)
    return attribute_subject(
        "paper3_vgg16", seed, fitted.explainable(attributes[0])[0], fitted.attributes,
        attributes, [data.params[i] for i in rows], size=p["image_size"],
        render=p["render_size"], preprocess=to_tensor,
        k_causes=int(settings.get("k_causes", 4)), accuracy=float(np.mean(r)),
        notes={"model seed": model["seed"] + seed, "test r": float(np.mean(r))})
