"""Paper 1 (Arbabzadah et al. 2016): transfer from age and gender base models, explained with LRP.

Only the paper's own parts, on the study core: its settings and schemas (:mod:`.schema`), its
protocol (:mod:`.protocol`: the UTKFace base models, the transfer to the 10k attributes and to
KDEF, in both retraining modes), the analyses of its sections (:mod:`.analysis`), the results its
notebooks record (:mod:`.results`), its claims (:mod:`.claims`) and its networks as subjects of
the explanation benchmark (:mod:`.benchmark`, registered on import).
"""
from __future__ import annotations

from ..lazy import lazy_getattr

from . import claims, results  # noqa: F401  (importing claims registers them)

#: Names this package hands on, by the module that defines them, imported on first use (PEP 562)
#: so that reading the schema does not load torch.
_NAMES = {**dict.fromkeys(("BaseFit", "ClassData", "fit_base", "fit_bases", "fit_kdef",
                           "fit_transfer", "fit_transfers", "load_kdef", "load_tenk",
                           "load_utkface", "network", "transfer_net"), ".protocol"),
          **dict.fromkeys(("DATA_SETTINGS", "MODEL_SETTINGS", "MODES", "Paper1Settings",
                           "SOURCES", "TASKS", "data_settings", "model_settings",
                           "seed_settings"), ".schema")}
_SUBMODULES = ("analysis", "aptitude", "benchmark", "claims", "heatmaps", "kdef", "protocol",
               "results", "schema")
__all__ = [*_NAMES, *_SUBMODULES]


__getattr__ = lazy_getattr(__name__, _NAMES, _SUBMODULES, globals())
