"""The results paper 2's notebooks will record, by name (shared with :mod:`.claims`).

No notebook records them yet; the notebook names are the chapter's planned sections.
"""
from __future__ import annotations

from ..results import Result

ACCURACY = "paper2_accuracy"
FILTERS = "paper2_filters"
AUS = "paper2_aus"
FER = "paper2_fer"
SECTIONS = (ACCURACY, FILTERS, AUS, FER)

# -- expression accuracy ----------------------------------------------------------------------
# Over folds: X is the mean test accuracy of the checkpoint chosen on the validation fold (the
# corrected protocol) of the main variant; X.part("sd"), X.part("lo"), X.part("hi") its SD and
# 95 % t-interval over folds.
ACCURACY_CKPLUS = Result(ACCURACY, "accuracy_ckplus",
                         "mean test accuracy over the 10 subject-independent CK+ folds")
ACCURACY_TFD = Result(ACCURACY, "accuracy_tfd", "mean test accuracy over the TFD folds")
ACCURACY_CKPLUS6 = Result(ACCURACY, "accuracy_ckplus6",
                          "six-class CK+: mean test accuracy over the folds trained (NaN if none)")
ACCURACY_VARIANT = Result(ACCURACY, "accuracy_variant",
                          "CK+ mean test accuracy of a variant over its folds: .part(variant)")
ACCURACY_DATA = Result(ACCURACY, "data", "'synthetic twin' or 'real data'")
MAIN_VARIANT = Result(ACCURACY, "main_variant", "the variant trained on every fold")
N_FOLDS_CKPLUS = Result(ACCURACY, "n_folds_ckplus", "CK+ folds of the main variant")
CHANCE_CKPLUS = Result(ACCURACY, "chance_ckplus", "CK+ majority-class rate of the test folds")
CHANCE_TFD = Result(ACCURACY, "chance_tfd", "TFD majority-class rate of the test folds")
# the 2015 code's selection on the test fold, and its optimistic bias: the paired difference
# (test-fold selection - validation-fold selection) over the folds of the same runs, with
# .part("lo"), .part("hi") (t-interval over folds), .part("p") (Wilcoxon), .part("wins")
ACCURACY_CKPLUS_TEST_SELECTED = Result(ACCURACY, "accuracy_ckplus_test_selected",
                                       "CK+ mean accuracy of the checkpoints chosen on the test "
                                       "fold (2015 code)")
SELECTION_BIAS_CKPLUS = Result(ACCURACY, "selection_bias_ckplus",
                               "CK+ mean gain of test-fold over validation-fold selection")
SELECTION_BIAS_TFD = Result(ACCURACY, "selection_bias_tfd",
                            "TFD mean gain of test-fold over validation-fold selection")
# the curve levelled off: mean validation accuracy over the last quarter of the checkpoints
# minus the quarter before (CK+, main variant), .part("lo"), .part("hi") over folds, and
# .part("fraction"): that rise as a share of the run's whole gain (levelled off under 0.1)
PLATEAU_CHANGE = Result(ACCURACY, "plateau_change",
                        "change of mean validation accuracy, last quarter vs the one before")

# -- filters and Action Units (sections 2-4) --------------------------------------------------
# a network number X of paper2_aus is the trained network's; X.part("untrained") the same
# network before training (same initialisation), X.part("early") an early checkpoint.
N_FILTERS_SHOWN = Result(FILTERS, "n_filters_shown", "conv filters whose top patches are shown")
N_FILTERS = Result(AUS, "n_filters", "conv filters (channels of conv1-conv3) tested by switching "
                   "each Action Unit on and off")
N_FILTERS_AU_PATTERN = Result(AUS, "n_filters_au_pattern",
                              "filters selective for one AU whose maximal unit falls on that AU's "
                              "pixel mask above chance within the face (BH over filters)")
N_SELECTIVE = Result(AUS, "n_selective",
                     "filters selective for one AU: respond (sign-flip max-statistic over "
                     "channel x AU) and more than to any other AU (bootstrap margin > 0)")
N_AUS_SELECTIVE = Result(AUS, "n_aus_selective", "Action Units with at least one selective filter")
N_AUS = Result(AUS, "n_aus", "Action Units switched")
BEST_MARGIN = Result(AUS, "best_margin",
                     "largest selectivity margin (effect of the best AU minus the second, in SDs "
                     "of the channel), with .part('lo'), .part('hi')")
N_CHANNELS = Result(AUS, "n_channels", "conv channels tested against the AU labels")
N_CHANNELS_AU = Result(AUS, "n_channels_au",
                       "channels associated with an AU label at the family-wise level (labels "
                       "permuted within emotion; max statistic over channel x AU)")
N_CHANNELS_AU_PLAIN = Result(AUS, "n_channels_au_plain",
                             "the same with labels permuted freely (emotion not conditioned on)")
FER_N_FILTERS = Result(FER, "fer_n_filters", "mini-Xception channels tested")
FER_N_SELECTIVE = Result(FER, "fer_n_selective", "mini-Xception channels selective for one AU")
FER_N_AUS_SELECTIVE = Result(FER, "fer_n_aus_selective",
                             "Action Units with at least one selective mini-Xception channel")
FER_IOU = Result(FER, "fer_iou", "mean top-k IoU of the saliency of the expressed class with the "
                 "expression's AU mask, per method: .part(method), .part(f'{method}_lo'), ...")
FER_IOU_UNIFORM = Result(FER, "fer_iou_uniform", "the same for the face-uniform map (chance)")
