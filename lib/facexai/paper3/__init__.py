"""Paper 3 (Xiao 2024): VGG16 regressions of 40 psychological attributes of faces. Only the
paper's own parts, on the study core: its settings and schemas, protocol, table, baselines, Grad-CAM
protocol, embeddings of antonym pairs, claims, recorded names and figures, and its VGG16 as a
subject of the explanation benchmark (:mod:`.benchmark`, registered on import).
"""
from __future__ import annotations

from ..lazy import lazy_getattr

#: Names this package hands on, by the module that defines them. They are imported on first use
#: (PEP 562), so that reading the schema (:mod:`.schema`, which profile validation imports in
#: every notebook kernel and sweep point) does not load torch.
_NAMES = {"ATTRIBUTES": "..ratings", "to_tensor": "..ratings",
          **dict.fromkeys(("CAM_LAYER", "fit_or_load", "fit_seeds", "load_data", "split_labels"),
                        ".protocol"),
          **dict.fromkeys(("DATA_SETTINGS", "MODEL_SETTINGS", "Paper3Settings", "data_settings",
                           "model_settings", "seed_settings"), ".schema")}
_SUBMODULES = ("baselines", "benchmark", "claims", "figures", "heatmaps", "metrics",
               "pair_embeddings", "protocol", "results", "schema")
__all__ = [*_NAMES, *_SUBMODULES]


__getattr__ = lazy_getattr(__name__, _NAMES, _SUBMODULES, globals())
