"""The results paper 3's notebooks record, by name: the one list shared by the notebooks (which
record them with ``facexai.run.result(NAME, value)``) and the claims (which declare what they need).

Every model number is measured once per training seed; a result ``X`` is the mean over seeds and
``X.part("lo")`` / ``X.part("hi")`` its 95 % interval (:func:`facexai.stats.seed_interval`, or over
seeds and faces, :func:`facexai.stats.hierarchical_interval`). A claim's measured controls are the
same results on a control variant of the data, recorded as ``X.control("positive")`` and
``X.control("negative")`` (:meth:`facexai.results.Result.control`).
"""
from __future__ import annotations

from functools import partial

from ..results import Result

PREDICTIVE = "paper3_predictive"
EXPLANATIONS = "paper3_explanations"
MANIFOLDS = "paper3_manifolds"
BIAS = "paper3_bias"
CLAIMS = "paper3_claims"
SECTIONS = (PREDICTIVE, EXPLANATIONS, MANIFOLDS, BIAS)
_P, _E, _M, _B, _C = (partial(Result, nb) for nb in (*SECTIONS, CLAIMS))

# -- predictive power --------------------------------------------------------------------------
PREDICTIVE_DATA = _P("data", "'synthetic twin' or 'real database'")
N_SPLIT = _P("n", "images per split role: .part(role)")
COMPARISON = _P("comparison", "per-attribute r of every method beside the paper's")
MEAN_R_VGG16 = _P("mean_r_vgg16", "mean test r of the VGG16 over attributes")
MEAN_R = _P("mean_r", "mean test r of a baseline: .part(name)")
MEAN_NOISE_CEILING = _P("mean_noise_ceiling", "mean noise ceiling over attributes")
MEAN_ORACLE_R = _P("mean_oracle_r", "oracle's mean test r (rendered factors); NaN on real data")
N_SEEDS = _P("n_seeds", "training seeds")
BEST_EPOCHS = _P("best_epochs", "best epoch of each seed, comma-separated")
LAST_EPOCHS = _P("last_epochs", "last epoch run of each seed, comma-separated")
N_ABOVE_RELIABILITY = _P("n_above_reliability", "attributes with mean r above reliability")
N_ATTRIBUTES_TESTED = _P("n_attributes_tested", "attributes with an r and a reliability")
VS_LANDMARKS = _P("vs_landmarks", "VGG16 vs noisy landmarks: .part(mean_difference|...)")
PAPER_PAIRED = _P("paper_paired", "paired tests on the paper's table, in words")
R_CEILING_SPEARMAN = _P("r_ceiling_spearman", "Spearman of test r with noise ceiling")
PAPER_R_HUMAN_SPEARMAN = _P("paper_r_human_spearman", "Spearman of the paper's VGG16 and Human")
# recorded by no notebook: this study trains neither a VGG16 without augmentation nor a ViT
MEAN_R_VGG16_NO_AUG = _P("mean_r_vgg16_no_aug", "mean test r without augmentation")
MEAN_R_VIT = _P("mean_r_vit", "mean test r of a ViT-B/16")

# -- explanations ------------------------------------------------------------------------------
# Scores per seed and face against the face-uniform map, intervals over seeds and faces,
# Bonferroni over the attributes of each map and ground truth (facexai.truthscores).
EXPLANATIONS_DATA = _E("data")
FAITHFULNESS = _E("faithfulness", "corrected summary per ground truth, map, sign and attribute")
N_ATTRIBUTES = _E("n_attributes")
N_FACES = _E("n_faces")
CAM_LAYER = _E("cam_layer")
CAM_CELLS = _E("cam_cells", "cells of the paper's Grad-CAM layer, 'h x w'")
CORRECTION = _E("correction", "the multiple-comparison correction, in words")
GRADCAM_MASS = _E("gradcam_mass", "Grad-CAM mean mass: .part(ground_truth)")
GRADCAM_FACE_CHANCE = _E("gradcam_face_chance", "face-uniform map's mass: .part(truth)")
GRADCAM_ABOVE_CHANCE = _E("gradcam_above_chance", "attributes above the face-uniform map")
N_EMPTY_MAPS = _E("n_empty_maps", "Grad-CAM maps with no positive relevance; .part('all')")
N_MAPS = _E("n_maps", "maps scored (every seed, map, sign, attribute, face)")
GRADCAM_MODEL_TRUTH = _E("gradcam_model_truth", "Spearman of relevance with counterfactual effects")
MODEL_TRUTH_CAUSES = _E("model_truth_causes", "causes removed, comma-separated")
TRUTH_SECONDS = _E("truth_seconds", "seconds to derive the truths: .part(derived|model)")
MAPS_ABOVE_CHANCE = _E("maps_above_chance", "map rows above the face-uniform map (derived)")
MAPS_SCORED = _E("maps_scored", "rows (model map, sign, attribute) scored")
FINER_LAYER = _E("finer_layer")
FINER_CELLS = _E("finer_cells", "cells of the finer layer, 'h x w'")
FINER_MASS = _E("finer_mass", "as GRADCAM_MASS at the finer layer")
FINER_ABOVE_CHANCE = _E("finer_above_chance", "as GRADCAM_ABOVE_CHANCE at the finer layer")
NORMALISATION_SHIFT = _E("normalisation_shift")
NORMALISATION_R = _E("normalisation_r")
NORMALISATION_R_RAW = _E("normalisation_r_raw")
NORMALISATION_MAP_SPEARMAN = _E("normalisation_map_spearman", "mean over the defined pairs")
NORMALISATION_UNDEFINED = _E("normalisation_undefined", "pairs of maps with undefined similarity")

# -- manifolds ---------------------------------------------------------------------------------
MANIFOLDS_DATA = _M("data")
PAIR_QUALITY = _M("pair_quality")
ALL_PAIRS = _M("all_pairs", "every pair's cluster verdict and kNN separation")
DEEP_QUALITY = _M("deep_quality")
N_PAIRS_STRUCTURE_FEATURES = _M("n_pairs_structure_features", "pairs separated by the kNN rule")
N_PAIRS_CLUSTERED = _M("n_pairs_clustered", "testable pairs with clusters (FDR-corrected)")
N_PAIRS_UNCLUSTERED = _M("n_pairs_unclustered", "testable pairs whose predictions show no clusters")
N_PAIRS_NOT_TESTABLE = _M("n_pairs_not_testable", "pairs with one-class labels (not testable)")
DIM_PREDICTIONS = _M("dim_predictions", "participation ratio of the predictions")
DIM_RATINGS = _M("dim_ratings", "participation ratio of the 40 ratings")
DIMENSIONALITY = _M("dimensionality", "participation ratios and PC shares")
N_TEST = _M("n_test")
IN_SAMPLE_SEEN_SHARE = _M("in_sample_seen_share")
AGREEMENT_IN_SAMPLE = _M("agreement_in_sample")
AGREEMENT_HELDOUT = _M("agreement_heldout")

# -- bias --------------------------------------------------------------------------------------
BIAS_DATA = _B("data")
PER_VARIABLE = _B("per_variable")
GAPS = _B("gaps", "one row per (variable, attribute): gap, interval, p, q, verdict")
N_TESTS = _B("n_tests")
N_GAPS = _B("n_gaps", "gaps at the FDR level; .part(variable) per group variable")
VARIABLES = _B("variables")
FDR_ALPHA = _B("alpha", "false discovery rate of the one family of gap tests")
LARGEST_R_GAP = _B("largest_r_gap")
LARGEST_R_GAP_WHERE = _B("largest_r_gap_where")
LARGEST_R_GAP_Q = _B("largest_r_gap_q")
LARGEST_MAE_GAP = _B("largest_mae_gap")
LARGEST_MAE_GAP_WHERE = _B("largest_mae_gap_where")
MIN_DETECTABLE_GAP = _B("min_detectable_gap", "median smallest r gap detectable at 80 % power")
MAX_DETECTABLE_GAP = _B("max_detectable_gap", "r gap a test must detect for 'no gap'")
FAMILY_SIZE = _B("family_size", "tests in the one false-discovery family")
N_INCONCLUSIVE = _B("n_inconclusive", "rows without a gap and without power")
SIGNED_ERRORS = _B("signed_errors", "mean signed error per group (calibration)")
CONTROL_SHIFT = _B("control_shift", "injected rater bias (SDs); .part(detectable)")
N_SIGNED_GAPS = _B("n_signed_gaps", "significant signed errors in the family")

# -- claims ------------------------------------------------------------------------------------
CLAIMS_TABLE = _C("claims")
N_CLAIMS = _C("n_claims")
N_STATUS = _C("n", "claims per status: .part(status with '_' for ' ')")
