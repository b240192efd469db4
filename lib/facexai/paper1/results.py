"""The results paper 1's notebooks will record, by name (shared with :mod:`.claims`).

No notebook records them yet; the notebook names are the chapter's planned sections.
"""
from __future__ import annotations

from ..results import Result

TRANSFER = "paper1_transfer"
HEATMAPS = "paper1_heatmaps"
SECTIONS = (TRANSFER, HEATMAPS)

# -- transfer from the age and gender base models ----------------------------------------------
N_ATTRIBUTES = Result(TRANSFER, "n_attributes", "attributes predicted by the transferred models")
N_PREDICTED = Result(TRANSFER, "n_predicted",
                     "attributes whose best transferred model has test r > 0 at the FDR level")
MEAN_R_AGE_BASE = Result(TRANSFER, "mean_r_age_base",
                         "mean test r over attributes of the age base model (best retraining mode)")
MEAN_R_GENDER_BASE = Result(TRANSFER, "mean_r_gender_base",
                            "mean test r over attributes of the gender base model (best mode)")

# -- LRP heatmaps -----------------------------------------------------------------------------
N_ATTRIBUTES_EXPLAINED = Result(HEATMAPS, "n_attributes", "attributes whose heatmaps are scored")
LRP_ABOVE_CHANCE = Result(HEATMAPS, "lrp_above_chance",
                          "attributes whose LRP relevance falls on their known driving regions "
                          "above chance")
SPREAD_AGE_BASE = Result(HEATMAPS, "spread_age_base",
                         "mean share of face regions carrying relevance, age base model")
SPREAD_GENDER_BASE = Result(HEATMAPS, "spread_gender_base",
                            "mean share of face regions carrying relevance, gender base model")
