"""The results paper 1's notebooks record, by name (shared with :mod:`.claims`).

A number with an interval over training seeds is recorded as X with X.part("lo") and
X.part("hi") (:func:`facexai.stats.seed_interval`, or a bootstrap where a name says so). A claim's
measured controls are the same results on a control variant of the data, recorded as
``X.control("positive")`` and ``X.control("negative")`` (:meth:`facexai.results.Result.control`).
"""
from __future__ import annotations

from ..results import Result

BASE = "paper1_base"
TRANSFER = "paper1_transfer"
HEATMAPS = "paper1_heatmaps"
RICHNESS = "paper1_richness"
KDEF = "paper1_kdef"
SECTIONS = (BASE, TRANSFER, HEATMAPS, RICHNESS, KDEF)

# -- base models ------------------------------------------------------------------------------
BASE_ACCURACY = Result(BASE, "accuracy", "mean test accuracy over seeds: .part(task)")
BASE_CHANCE = Result(BASE, "chance", "majority-class rate of the test faces: .part(task)")
BASE_DATA = Result(BASE, "data", "'synthetic twin' or 'real data'")

# -- transfer to the 40 attributes --------------------------------------------------------------
N_ATTRIBUTES = Result(TRANSFER, "n_attributes", "attributes predicted by the transferred models")
N_PREDICTED = Result(TRANSFER, "n_predicted",
                     "attributes whose best transferred model (chosen on validation MAE) has "
                     "test r > 0 at the false-discovery level, in every seed")
MEAN_R = Result(TRANSFER, "mean_r", "mean test r over attributes and seeds: .part(source_mode)")
MEAN_MAE = Result(TRANSFER, "mean_mae", "mean test MAE over attributes and seeds: "
                                         ".part(source_mode)")
TRANSFER_GAIN = Result(TRANSFER, "transfer_gain",
                       "mean test r of the best base model's whole-network transfer minus the "
                       "network trained from scratch (.part lo / hi over seeds)")
ORACLE_R = Result(TRANSFER, "oracle_r", "mean test r of the achievable ceiling (oracle)")
TRANSFER_DATA = Result(TRANSFER, "data", "'synthetic twin' or 'real data'")
NOISE_CEILING = Result(TRANSFER, "noise_ceiling", "mean noise ceiling of the test ratings")

# -- LRP heatmaps -------------------------------------------------------------------------------
N_ATTRIBUTES_EXPLAINED = Result(HEATMAPS, "n_attributes", "attributes whose heatmaps are scored")
LRP_ABOVE_CHANCE = Result(HEATMAPS, "lrp_above_chance",
                          "attributes whose LRP mass on the derived truth beats the face-uniform "
                          "map (corrected interval above 1), every source and mode")
LRP_AGREEMENT = Result(HEATMAPS, "agreement",
                       "mean Spearman rho of relevance per cause with the model's own output "
                       "change when the cause is removed")

# -- feature richness and aptitude --------------------------------------------------------------
# .part(task) for task in ("age", "gender"); each with .part(task + "_lo"/"_hi")
PARTICIPATION = Result(RICHNESS, "participation_ratio",
                       "effective dimensionality of fc7 on the 10k test faces: .part(task)")
PROBE_RECOVERED = Result(RICHNESS, "probe_recovered",
                         "generator factors a linear probe of fc7 recovers: .part(task)")
SPREAD = Result(RICHNESS, "spread", "effective share of face regions holding the base model's "
                                    "relevance: .part(task)")
DENSE_ERROR = Result(RICHNESS, "dense_mae", "mean test MAE of the dense-layer transfer: "
                                            ".part(task)")
N_RICHER = Result(RICHNESS, "n_richer",
                  "of the four measures, how many favour the age model with an interval that "
                  "excludes no difference")
N_MEASURES = Result(RICHNESS, "n_measures", "feature-richness measures compared")
APTITUDE_RHO = Result(RICHNESS, "aptitude_rho",
                      "Spearman rho over attributes between the base model's share of relevance "
                      "on an attribute's derived truth minus the face-uniform share, and the "
                      "attribute's dense transfer r: .part(task)")
APTITUDE_P = Result(RICHNESS, "aptitude_p", "permutation p of APTITUDE_RHO: .part(task)")

# -- KDEF ----------------------------------------------------------------------------------------
KDEF_ACCURACY = Result(KDEF, "accuracy", "mean test accuracy over seeds: .part(source_mode)")
KDEF_CHANCE = Result(KDEF, "chance", "majority-class rate of the KDEF test faces")
KDEF_IOU = Result(KDEF, "iou", "top-k IoU of the expression's LRP map with its Action-Unit "
                               "mask: .part(source_mode)")
KDEF_IOU_UNIFORM = Result(KDEF, "iou_uniform", "the face-uniform map's expected IoU")
