"""The results paper 2's notebooks will record, by name (shared with :mod:`.claims`).

No notebook records them yet; the notebook names are the chapter's planned sections.
"""
from __future__ import annotations

from ..results import Result

ACCURACY = "paper2_accuracy"
FILTERS = "paper2_filters"
SECTIONS = (ACCURACY, FILTERS)

# -- expression accuracy ----------------------------------------------------------------------
ACCURACY_CKPLUS = Result(ACCURACY, "accuracy_ckplus",
                         "mean test accuracy over the 10 subject-independent CK+ folds")
ACCURACY_TFD = Result(ACCURACY, "accuracy_tfd", "mean test accuracy over the TFD folds")

# -- filters and Action Units -----------------------------------------------------------------
N_FILTERS = Result(FILTERS, "n_filters", "conv filters visualised")
N_FILTERS_AU_PATTERN = Result(FILTERS, "n_filters_au_pattern",
                              "filters whose top activating patches fall on one AU's pixel mask "
                              "above chance")
N_CHANNELS = Result(FILTERS, "n_channels", "conv channels tested against the AU labels")
N_CHANNELS_AU = Result(FILTERS, "n_channels_au",
                       "channels associated with an AU label at the FDR level (labels permuted "
                       "within emotion)")
