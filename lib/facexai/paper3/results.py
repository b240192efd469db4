"""The results paper 3's notebooks record, by name: the one list shared by the notebooks (which
record them with ``facexai.run.result(NAME, value)``) and the claims (which declare what they need).
"""
from __future__ import annotations

from ..results import Result

PREDICTIVE = "paper3_predictive"
EXPLANATIONS = "paper3_explanations"
MANIFOLDS = "paper3_manifolds"
BIAS = "paper3_bias"
CLAIMS = "paper3_claims"
SECTIONS = (PREDICTIVE, EXPLANATIONS, MANIFOLDS, BIAS)

# -- predictive power --------------------------------------------------------------------------
PREDICTIVE_DATA = Result(PREDICTIVE, "data", "'synthetic twin' or 'real database'")
N_SPLIT = Result(PREDICTIVE, "n", "images per split role: .part(role)")
COMPARISON = Result(PREDICTIVE, "comparison", "per-attribute r of every method beside the paper's")
MEAN_R_VGG16 = Result(PREDICTIVE, "mean_r_vgg16", "mean test r of the VGG16 over attributes")
MEAN_R = Result(PREDICTIVE, "mean_r", "mean test r of a baseline: .part(name)")
MEAN_NOISE_CEILING = Result(PREDICTIVE, "mean_noise_ceiling", "mean noise ceiling over attributes")
R_CEILING_SPEARMAN = Result(PREDICTIVE, "r_ceiling_spearman",
                            "Spearman over attributes of test r and noise ceiling")
PAPER_R_HUMAN_SPEARMAN = Result(PREDICTIVE, "paper_r_human_spearman",
                                "Spearman over attributes of the paper's VGG16 and Human columns")
# recorded by no notebook: this study trains neither a VGG16 without augmentation nor a ViT
MEAN_R_VGG16_NO_AUG = Result(PREDICTIVE, "mean_r_vgg16_no_aug",
                             "mean test r of the VGG16 trained without augmentation")
MEAN_R_VIT = Result(PREDICTIVE, "mean_r_vit", "mean test r of a ViT-B/16")

# -- explanations ------------------------------------------------------------------------------
EXPLANATIONS_DATA = Result(EXPLANATIONS, "data")
FAITHFULNESS = Result(EXPLANATIONS, "faithfulness", "summary of map scores per attribute/method")
REGION_VERDICTS = Result(EXPLANATIONS, "region_verdicts")
N_ATTRIBUTES = Result(EXPLANATIONS, "n_attributes")
N_FACES = Result(EXPLANATIONS, "n_faces")
CAM_LAYER = Result(EXPLANATIONS, "cam_layer")
CAM_CELLS = Result(EXPLANATIONS, "cam_cells")
GRADCAM_MASS = Result(EXPLANATIONS, "gradcam_mass", "mean mass accuracy: .part(ground_truth)")
GRADCAM_CHANCE = Result(EXPLANATIONS, "gradcam_chance", "mean chance: .part(ground_truth)")
GRADCAM_ABOVE_CHANCE = Result(EXPLANATIONS, "gradcam_above_chance",
                              "attributes above chance: .part(ground_truth)")
GRADCAM_PROFILE_R = Result(EXPLANATIONS, "gradcam_profile_r")
MAPS_ABOVE_CHANCE_PRIMARY = Result(EXPLANATIONS, "maps_above_chance_primary")
MAPS_SCORED_PRIMARY = Result(EXPLANATIONS, "maps_scored_primary")
FINER_LAYER = Result(EXPLANATIONS, "finer_layer")
FINER_ABOVE_CHANCE_PRIMARY = Result(EXPLANATIONS, "finer_above_chance_primary")
FINER_LIFT_PRIMARY = Result(EXPLANATIONS, "finer_lift_primary")
NORMALISATION_SHIFT = Result(EXPLANATIONS, "normalisation_shift")
NORMALISATION_R = Result(EXPLANATIONS, "normalisation_r")
NORMALISATION_R_RAW = Result(EXPLANATIONS, "normalisation_r_raw")
NORMALISATION_MAP_SPEARMAN = Result(EXPLANATIONS, "normalisation_map_spearman")

# -- manifolds ---------------------------------------------------------------------------------
MANIFOLDS_DATA = Result(MANIFOLDS, "data")
PAIR_QUALITY = Result(MANIFOLDS, "pair_quality")
ALL_PAIRS = Result(MANIFOLDS, "all_pairs", "every antonym pair's held-out verdicts")
DEEP_QUALITY = Result(MANIFOLDS, "deep_quality")
N_PAIRS_SHOWN = Result(MANIFOLDS, "n_pairs_shown")
N_TSNE_UMAP_STRUCTURE = Result(MANIFOLDS, "n_tsne_umap_structure")
N_PAIRS_STRUCTURE_FEATURES = Result(MANIFOLDS, "n_pairs_structure_features")
N_PAIRS_NONE_FEATURES = Result(MANIFOLDS, "n_pairs_none_features")
N_PAIRS_STRUCTURE_PCA = Result(MANIFOLDS, "n_pairs_structure_pca")
MEAN_TRUSTWORTHINESS_TSNE = Result(MANIFOLDS, "mean_trustworthiness_tsne")
MEAN_TRUSTWORTHINESS_UMAP = Result(MANIFOLDS, "mean_trustworthiness_umap")
N_TEST = Result(MANIFOLDS, "n_test")
IN_SAMPLE_SEEN_SHARE = Result(MANIFOLDS, "in_sample_seen_share")
AGREEMENT_IN_SAMPLE = Result(MANIFOLDS, "agreement_in_sample")
AGREEMENT_HELDOUT = Result(MANIFOLDS, "agreement_heldout")

# -- bias --------------------------------------------------------------------------------------
BIAS_DATA = Result(BIAS, "data")
PER_VARIABLE = Result(BIAS, "per_variable")
GAPS = Result(BIAS, "gaps", "one row per (variable, attribute): gap, interval, p, q, verdict")
N_TESTS = Result(BIAS, "n_tests")
N_GAPS = Result(BIAS, "n_gaps", "gaps at the FDR level; .part(variable) per group variable")
VARIABLES = Result(BIAS, "variables")
FDR_ALPHA = Result(BIAS, "alpha", "false discovery rate of the one family of gap tests")
LARGEST_R_GAP = Result(BIAS, "largest_r_gap")
LARGEST_R_GAP_WHERE = Result(BIAS, "largest_r_gap_where")
LARGEST_R_GAP_Q = Result(BIAS, "largest_r_gap_q")
LARGEST_MAE_GAP = Result(BIAS, "largest_mae_gap")
LARGEST_MAE_GAP_WHERE = Result(BIAS, "largest_mae_gap_where")

# -- claims ------------------------------------------------------------------------------------
CLAIMS_TABLE = Result(CLAIMS, "claims")
N_CLAIMS = Result(CLAIMS, "n_claims")
N_STATUS = Result(CLAIMS, "n", "claims per status: .part(status with '_' for ' ')")
