"""Paper 2 (Khorrami, Paine & Huang 2015): do expression CNNs learn Facial Action Units?

Only the paper's own parts, on the study core: its settings and schemas (:mod:`.schema`), its
protocol (:mod:`.protocol`: the CK+ and TFD experiments, the zero-bias CNN as the code initialises
it, training per fold with both checkpoint selections), the results its notebooks record
(:mod:`.results`), its claims (:mod:`.claims`) and its network as a subject of the explanation
benchmark (:mod:`.benchmark`, registered on import).
"""
from __future__ import annotations

from ..lazy import lazy_getattr

from . import claims, results  # noqa: F401  (importing claims registers them)

#: Names this package hands on, by the module that defines them, imported on first use (PEP 562)
#: so that reading the schema does not load torch.
_NAMES = {**dict.fromkeys(("PROTOCOLS", "SIX_CLASS", "VARIANTS", "FoldFits", "Paper2Data",
                           "fit_folds", "fit_many", "init_scale", "load_ckplus", "load_tfd",
                           "model_input", "six_class", "untrained_model"), ".protocol"),
          **dict.fromkeys(("DATA_SETTINGS", "MODEL_SETTINGS", "VARIANT_NAMES", "Paper2Settings",
                           "data_settings", "model_settings"), ".schema")}
_SUBMODULES = ("accuracy", "benchmark", "claims", "figures", "protocol", "results", "schema")
__all__ = [*_NAMES, *_SUBMODULES]


__getattr__ = lazy_getattr(__name__, _NAMES, _SUBMODULES, globals())
