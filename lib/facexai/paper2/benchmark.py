"""Paper 2's zero-bias CNN as a subject of the explanation benchmark (:mod:`facexai.benchsubjects`).

Importing this module registers the subjects ``paper2_cnn``, ``paper2_cnn_a``, ``paper2_cnn_d`` and
``paper2_cnn_ad``: the chapter's variants (plain, augmented, dropout, both) trained on CK+ fold
``seed`` under a profile (read back from the models cache, trained if missing: the chapter trains
its main variant on every fold, the others on the first ``variant_folds``), explained
on SynthFace expressions it classifies correctly, framed as the CK+ twin frames its faces (the
Haar crop, :func:`facexai.views.haar_view`) and normalised as in training (Normer3, whose
5 x 5 window spreads a change by 2 px: the masks' ``spread``). Data truth: the pixels the
expression changes. The benchmark's seed is the CK+ fold (each fold's network is trained on other
subjects, from the same initialisation seed). Settings: ``profile`` (whose ``paper2_accuracy``
parameters name the data and the model; default ``default``), ``explained`` (``"true"``: faces
classified correctly, for their class; ``"predicted"``: see
:func:`facexai.benchsubjects.chosen_subject`) and ``candidates_per_face`` (faces drawn per face
scored, default 3).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..benchsubjects import Subject, check_settings, chosen_subject, register_subject

__all__: list[str] = []

SETTINGS = ("profile", "explained", "candidates_per_face")
#: Spread of a change by Normer3's 5 x 5 local mean (pixels of the network's input).
NORMER_SPREAD = 2


def _variant(variant: str, seed: int, n_faces: int, settings: dict[str, Any]) -> Subject:
    from ..views import haar_view
    from ..benchfaces import viewed_faces, viewed_originals
    from ..params import load_profile
    from ..synth.generate import sample_face
    from . import protocol, schema

    key = f"paper2_{variant}"
    check_settings(settings, SETTINGS, key)
    p = load_profile(settings.get("profile", "default"))["paper2_accuracy"]
    data = protocol.load_ckplus(**schema.data_settings(p))
    if not 0 <= seed < data.n_splits:
        raise ValueError(f"the seed of subject {key!r} is a CK+ fold, 0..{data.n_splits - 1}; "
                         f"got {seed}")
    model_settings = schema.model_settings(p)
    model = protocol.fit_folds(data, variant, [seed], **model_settings).model(seed)
    view, render = haar_view(p["image_size"]), p["render_size"]
    codes = range(1, len(data.classes))           # every emotion but neutral (nothing to find)
    n = int(settings.get("candidates_per_face", 3)) * n_faces
    params = [sample_face(30_000 + seed, i, emotion=codes[i % len(codes)]) for i in range(n)]
    return chosen_subject(
        key, seed, model.eval(), data.classes, params, [q.emotion for q in params],
        n_faces, originals=viewed_originals(params, view, render),
        faces_of=lambda chosen: viewed_faces(chosen, view, render_size=render,
                                             spread=NORMER_SPREAD),
        preprocess=partial(protocol.model_input, normer_power=model_settings["normer_power"]),
        explained=settings.get("explained", "true"),
        notes={"fold": seed, "mask spread": NORMER_SPREAD, "synthetic": bool(data.synthetic),
               "classes": int(np.size(data.classes))})


#: The variants (protocol.VARIANTS), as their subjects describe them.
_WHAT = {"cnn": "", "cnn_a": ", augmented", "cnn_d": ", dropout",
         "cnn_ad": ", augmented and dropout"}
for _v, _what in _WHAT.items():
    register_subject(f"paper2_{_v}", f"paper 2's zero-bias CNN{_what} on the CK+ twin (8 classes; "
                     "the chapter's cached fold networks)")(partial(_variant, _v))
