"""Paper 3's claims, registered with :mod:`facexai.claims`: the paper's sentence, the recorded
results it needs (:mod:`facexai.paper3.results`), a rule whose thresholds are parameters, and the
control variants of the data the rule must separate. The paper's numbers come from the recorded
``comparison`` table, or from the paper's shipped table (:func:`.metrics.paper_table`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..claims import (MissingResult, Verdict, columns, interval_text, number, register_claim,
                      share_status, table)
from . import results as R
from .metrics import PAPER_COLUMNS, paper_table

PAPER = "paper3"
SECTIONS: tuple[str, ...] = R.SECTIONS   # the notebooks the claims read, in the chapter's order
LANDMARKS = R.MEAN_R.part("landmarks")

__all__ = ["PAPER", "SECTIONS", "data_kind"]


def data_kind(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Which data the sections recorded they ran on (``"synthetic twin"``, ...)."""
    kinds = {r.get("data") for r in results.values() if r and r.get("data")}
    return " / ".join(sorted(kinds)) if kinds else "unknown (no section recorded it)"


_PAPER_MEANS = paper_table()[list(PAPER_COLUMNS)].mean()   # read once


def _paper_mean(key: str, frame: pd.DataFrame | None = None) -> float:
    """The mean of the paper's column ``key``, from the recorded ``frame`` or its shipped table."""
    if frame is None:
        return float(_PAPER_MEANS[key])
    return float(columns(frame, R.COMPARISON, PAPER_COLUMNS[key]).iloc[:, 0].mean())


_SHARE_RULE = ("holds if true for at least {min_share:.0%} of the attributes, partly holds if for "
               "some, otherwise does not hold")
_LO, _HI = R.MEAN_R_VGG16.part("lo"), R.MEAN_R_VGG16.part("hi")
_ORACLE = "the oracle (ridge on every rendered factor, the achievable ceiling) as the model"
_PERMUTED = "the test ratings permuted across faces (every attribute made unpredictable)"


@register_claim(
    "paper3.predictive_power", paper=PAPER,
    text="VGG16 predicts the 40 attribute ratings (test Pearson r per attribute)",
    needs=(R.MEAN_R_VGG16, _LO, R.MEAN_ORACLE_R), uses=(_HI, R.MEAN_NOISE_CEILING, R.COMPARISON,
                                                         R.N_SEEDS),
    params={"min_fraction": 0.5},
    rule_text="holds if the lower end of the 95 % interval over training seeds of the mean test r "
              "reaches {min_fraction:.0%} of the achievable ceiling (the oracle's mean r); "
              "otherwise does not hold",
    reported=f"mean r {_paper_mean('vgg16'):.2f} (VGG16 column)",
    measured_controls={"positive": _ORACLE, "negative": _PERMUTED},
    controls={"holds": {R.MEAN_R_VGG16: 0.5, _LO: 0.45, R.MEAN_ORACLE_R: 0.6},
              "does not hold": {R.MEAN_R_VGG16: 0.02, _LO: -0.01, R.MEAN_ORACLE_R: 0.6}})
def predictive_power(v, p) -> Verdict:
    r, lo, oracle = v[R.MEAN_R_VGG16], v[_LO], v[R.MEAN_ORACLE_R]
    if not np.isfinite(oracle):
        raise MissingResult(f"{R.MEAN_ORACLE_R.qualified} (no achievable ceiling on this data)")
    ceiling = v.get(R.MEAN_NOISE_CEILING)
    frame = table(v.get(R.COMPARISON))
    paper = f"mean r {number(_paper_mean('vgg16', frame))} (VGG16 column)" if frame is not None \
        else ""
    return Verdict("holds" if lo >= p["min_fraction"] * oracle else "does not hold",
                   f"mean test r {number(r)}{interval_text(v, R.MEAN_R_VGG16)} over "
                   f"{number(v.get(R.N_SEEDS), 0)} seeds; achievable ceiling {number(oracle)}, "
                   f"noise ceiling {number(ceiling)}", paper)


@register_claim(
    "paper3.human_consistency", paper=PAPER,
    text="VGG16 exceeds human consistency (the paper's Human column) on most attributes",
    needs=(R.N_ABOVE_RELIABILITY, R.N_ATTRIBUTES_TESTED), uses=(R.COMPARISON,),
    params={"min_share": 0.5},
    rule_text="test r (mean over seeds) above the split-half reliability of the ratings (the "
              "consistency of one rater panel with another; r above the noise ceiling, its square "
              "root, is impossible): " + _SHARE_RULE,
    reported="VGG16 above Human in the paper's table",
    measured_controls={"positive": _ORACLE, "negative": _PERMUTED},
    controls={"holds": {R.N_ABOVE_RELIABILITY: 30, R.N_ATTRIBUTES_TESTED: 40},
              "does not hold": {R.N_ABOVE_RELIABILITY: 0, R.N_ATTRIBUTES_TESTED: 40}})
def human_consistency(v, p) -> Verdict:
    above, n = v[R.N_ABOVE_RELIABILITY], v[R.N_ATTRIBUTES_TESTED]
    paper = ""
    frame = table(v.get(R.COMPARISON))
    if frame is not None and {PAPER_COLUMNS["vgg16"], PAPER_COLUMNS["human"]} <= set(frame):
        pp = columns(frame, R.COMPARISON, PAPER_COLUMNS["vgg16"], PAPER_COLUMNS["human"])
        paper_above = int((pp[PAPER_COLUMNS["vgg16"]] > pp[PAPER_COLUMNS["human"]]).sum())
        paper = (f"VGG16 above Human for {paper_above} of {len(pp)} attributes (mean Human "
                 f"{number(_paper_mean('human', frame))}; the column's generating code is not "
                 "published, its level matches a reliability rather than a noise ceiling)")
    return Verdict(share_status(above, n, p["min_share"]),
                   f"test r above the reliability for {number(above, 0)} of {number(n, 0)} "
                   "attributes", paper)


@register_claim(
    "paper3.agreement_predictability", paper=PAPER,
    text="Attributes people agree on are predicted better",
    needs=(R.R_CEILING_SPEARMAN,), uses=(R.PAPER_R_HUMAN_SPEARMAN,), params={"min_rho": 0.5},
    rule_text="holds if the Spearman correlation over attributes of test r (mean over seeds) and "
              "noise ceiling is at least {min_rho}; otherwise does not hold",
    by_construction="on the synthetic twin, SynthFace sets each attribute's rating slopes from "
                    "its target reliability, so predictability follows agreement by design",
    reported="Spearman over attributes between VGG16 and Human columns",
    measured_controls={"positive": _ORACLE,
                       "negative": "the noise ceilings permuted across attributes"},
    controls={"holds": {R.R_CEILING_SPEARMAN: 0.7}, "does not hold": {R.R_CEILING_SPEARMAN: -0.2}})
def agreement_predictability(v, p) -> Verdict:
    rho = v[R.R_CEILING_SPEARMAN]
    paper = v.get(R.PAPER_R_HUMAN_SPEARMAN)
    return Verdict("holds" if rho >= p["min_rho"] else "does not hold",
                   f"Spearman {number(rho)} between test r and noise ceiling",
                   "" if paper is None else f"Spearman {number(paper)} over attributes between "
                   "VGG16 and Human columns")


_VS = R.VS_LANDMARKS


@register_claim(
    "paper3.geometric_baseline", paper=PAPER,
    text="VGG16 beats the geometric-feature baseline",
    needs=(_VS.part("mean_difference"), _VS.part("p_wilcoxon")),
    uses=(_VS.part("wins"), _VS.part("n"), R.PAPER_PAIRED, LANDMARKS, R.MEAN_R_VGG16),
    params={"alpha": 0.05},
    rule_text="holds if VGG16's test r (mean over seeds) exceeds the landmark-geometry model's "
              "(landmarks as noisy as a human annotator's) in a paired Wilcoxon test over the 20 "
              "antonym-pair means, p < {alpha} and a positive mean difference; otherwise does not "
              "hold",
    reported=f"mean r {_paper_mean('vgg16'):.2f} vs {_paper_mean('geometric'):.2f}",
    measured_controls={"positive": "the oracle against the same landmark model",
                       "negative": "VGG16 against itself trained from another seed"},
    controls={"holds": {_VS.part("mean_difference"): 0.1, _VS.part("p_wilcoxon"): 0.001},
              "does not hold": {_VS.part("mean_difference"): 0.01, _VS.part("p_wilcoxon"): 0.6}})
def geometric_baseline(v, p) -> Verdict:
    d, pw = v[_VS.part("mean_difference")], v[_VS.part("p_wilcoxon")]
    status = "holds" if d > 0 and np.isfinite(pw) and pw < p["alpha"] else "does not hold"
    wins, n = v.get(_VS.part("wins")), v.get(_VS.part("n"))
    won = f", VGG16 ahead on {number(wins, 0)} of {number(n, 0)} pairs" if wins is not None else ""
    paired = v.get(R.PAPER_PAIRED)
    paper = paired if isinstance(paired, str) else ""
    return Verdict(status, f"mean r difference {number(d)} (VGG16 {number(v.get(R.MEAN_R_VGG16))}"
                           f" vs landmarks {number(v.get(LANDMARKS))}){won}; Wilcoxon p = "
                           f"{number(pw, 3)}", paper)


@register_claim(
    "paper3.augmentation", paper=PAPER,
    text="Augmentation (flips, 10° rotation) improves VGG16",
    needs=(R.MEAN_R_VGG16, R.MEAN_R_VGG16_NO_AUG), params={"min_gain": 0.0},
    rule_text="holds if the mean test r with augmentation exceeds the one without by more than "
              "{min_gain}; otherwise does not hold",
    reported=f"mean r {_paper_mean('vgg16_aug'):.2f} with vs {_paper_mean('vgg16'):.2f} without",
    not_measured="not trained without augmentation here",
    controls={"holds": {R.MEAN_R_VGG16: 0.5, R.MEAN_R_VGG16_NO_AUG: 0.45},
              "does not hold": {R.MEAN_R_VGG16: 0.4, R.MEAN_R_VGG16_NO_AUG: 0.45}})
def augmentation(v, p) -> Verdict:
    with_aug, without = v[R.MEAN_R_VGG16], v[R.MEAN_R_VGG16_NO_AUG]
    return Verdict("holds" if with_aug > without + p["min_gain"] else "does not hold",
                   f"mean test r {number(with_aug)} with vs {number(without)} without")


@register_claim(
    "paper3.vit", paper=PAPER, text="ViT-B/16 is on par with or above VGG16",
    needs=(R.MEAN_R_VIT, R.MEAN_R_VGG16), params={"tolerance": 0.02},
    rule_text="holds if the ViT's mean test r is at least the VGG16's minus {tolerance}; "
              "otherwise does not hold",
    reported=f"mean r {_paper_mean('vit'):.2f}",
    not_measured="no ViT is trained in this study (no pretrained weights offline, CPU budget)",
    controls={"holds": {R.MEAN_R_VIT: 0.5, R.MEAN_R_VGG16: 0.5},
              "does not hold": {R.MEAN_R_VIT: 0.3, R.MEAN_R_VGG16: 0.5}})
def vit(v, p) -> Verdict:
    r_vit, r_vgg = v[R.MEAN_R_VIT], v[R.MEAN_R_VGG16]
    return Verdict("holds" if r_vit >= r_vgg - p["tolerance"] else "does not hold",
                   f"mean test r {number(r_vit)} (ViT) vs {number(r_vgg)} (VGG16)")


_ABOVE = R.GRADCAM_ABOVE_CHANCE.part("derived")


@register_claim(
    "paper3.gradcam_regions", paper=PAPER,
    text="Grad-CAM highlights the facial regions relevant to an attribute",
    needs=(_ABOVE, R.N_ATTRIBUTES),
    uses=(R.GRADCAM_MASS.part("derived"), R.GRADCAM_FACE_CHANCE.part("derived"),
          R.N_EMPTY_MAPS, R.GRADCAM_MODEL_TRUTH, R.CAM_CELLS),
    params={"min_share": 0.5},
    rule_text="Grad-CAM's relevance mass on the attribute's derived regions (the pixels its "
              "causes change, by counterfactual rendering) above the face-uniform map, the "
              "interval over seeds and faces corrected for the number of attributes: "
              + _SHARE_RULE,
    reported="shown on one face of one attribute (happy); not measured",
    measured_controls={"positive": "the derived truth map itself, scored by the same rule",
                       "negative": "a random map within the face"},
    controls={"holds": {_ABOVE: 6, R.N_ATTRIBUTES: 8}, "does not hold": {_ABOVE: 0,
                                                                        R.N_ATTRIBUTES: 8}})
def gradcam_regions(v, p) -> Verdict:
    k, n = v[_ABOVE], v[R.N_ATTRIBUTES]
    extra = []
    if v.get(R.GRADCAM_MASS.part("derived")) is not None:
        extra.append(f"mean mass {number(v[R.GRADCAM_MASS.part('derived')])} vs face-uniform "
                     f"{number(v.get(R.GRADCAM_FACE_CHANCE.part('derived')))}")
    if v.get(R.GRADCAM_MODEL_TRUTH) is not None:
        extra.append(f"agreement with the model's counterfactual effects (Spearman) "
                     f"{number(v[R.GRADCAM_MODEL_TRUTH])}")
    if v.get(R.N_EMPTY_MAPS) is not None:
        extra.append(f"{number(v[R.N_EMPTY_MAPS], 0)} empty maps counted as zero")
    if v.get(R.CAM_CELLS) is not None:
        extra.append(f"{v[R.CAM_CELLS]} cells")
    return Verdict(share_status(k, n, p["min_share"]),
                   f"above the face-uniform map for {number(k, 0)} of {number(n, 0)} attributes"
                   + (f" ({'; '.join(extra)})" if extra else ""))


@register_claim(
    "paper3.manifold_structure", paper=PAPER,
    text="t-SNE / UMAP of the predicted attributes show cluster structure for some attributes "
         "and not for others",
    needs=(R.N_PAIRS_CLUSTERED, R.N_PAIRS_UNCLUSTERED),
    uses=(R.N_PAIRS_NOT_TESTABLE, R.DIM_PREDICTIONS, R.DIM_RATINGS, R.ALL_PAIRS),
    params={"min_pairs": 1},
    rule_text="a clustering statistic of each antonym pair's predictions against its null "
              "(FDR-corrected; one-class pairs not testable): holds if at least {min_pairs:.0f} "
              "pair shows clusters and at least {min_pairs:.0f} does not; otherwise does not hold",
    reported="read off the pictures, on in-sample predictions",
    measured_controls={"positive": "predictions replaced by two real clusters for half of the "
                                   "pairs and one Gaussian for the others",
                       "negative": "predictions replaced by one Gaussian of the same "
                                   "covariance for every pair"},
    controls={"holds": {R.N_PAIRS_CLUSTERED: 3, R.N_PAIRS_UNCLUSTERED: 5},
              "does not hold": {R.N_PAIRS_CLUSTERED: 0, R.N_PAIRS_UNCLUSTERED: 8}})
def manifold_structure(v, p) -> Verdict:
    yes, no = v[R.N_PAIRS_CLUSTERED], v[R.N_PAIRS_UNCLUSTERED]
    status = "holds" if yes >= p["min_pairs"] and no >= p["min_pairs"] else "does not hold"
    extra = ""
    if v.get(R.N_PAIRS_NOT_TESTABLE) is not None:
        extra += f"; {number(v[R.N_PAIRS_NOT_TESTABLE], 0)} pairs not testable (one class)"
    if v.get(R.DIM_PREDICTIONS) is not None:
        extra += (f"; effective dimensionality of the predictions {number(v[R.DIM_PREDICTIONS], 1)}"
                  f" vs the ratings {number(v.get(R.DIM_RATINGS), 1)}")
    return Verdict(status, f"clusters for {number(yes, 0)} pairs, none for {number(no, 0)}{extra}")


@register_claim(
    "paper3.group_bias", paper=PAPER,
    text="Such models raise bias and ethics concerns (accuracy may differ between groups of "
         "people)",
    needs=(R.N_GAPS, R.N_TESTS, R.MIN_DETECTABLE_GAP),
    uses=(R.FDR_ALPHA, R.LARGEST_R_GAP, R.LARGEST_R_GAP_WHERE, R.VARIABLES, R.N_SIGNED_GAPS),
    params={"min_gaps": 1, "max_detectable": 0.2},
    rule_text="holds if at least {min_gaps:.0f} group gap (r, MAE or signed error) survives one "
              "false-discovery family; if none does, does not hold when the tests could detect an "
              "r gap of {max_detectable} (median smallest detectable gap at 80 % power), "
              "otherwise inconclusive",
    reported="discussed, not measured",
    by_construction="SynthFace's raters rate some attributes by sex and age, so a model whose "
                    "predictions shrink towards the mean errs in opposite directions for groups "
                    "rated above and below it: signed-error gaps by sex or age follow from "
                    "shrinkage alone; skin tone drives no rating",
    measured_controls={"positive": "test ratings of one group shifted by a rater bias",
                       "negative": "group labels permuted across faces"},
    controls={"holds": {R.N_GAPS: 3, R.N_TESTS: 120, R.MIN_DETECTABLE_GAP: 0.15},
              "does not hold": {R.N_GAPS: 0, R.N_TESTS: 120, R.MIN_DETECTABLE_GAP: 0.15}})
def group_bias(v, p) -> Verdict:
    n_gaps, detectable = v[R.N_GAPS], v[R.MIN_DETECTABLE_GAP]
    status = "holds" if n_gaps >= p["min_gaps"] else \
        "does not hold" if detectable <= p["max_detectable"] else "inconclusive"
    alpha = v.get(R.FDR_ALPHA)
    fdr = f"FDR {alpha:g}" if alpha is not None else "the bias section's FDR"
    where = (f"; largest r gap {number(v[R.LARGEST_R_GAP])} ({v.get(R.LARGEST_R_GAP_WHERE)})"
             if v.get(R.LARGEST_R_GAP) is not None else "")
    return Verdict(status, f"{number(n_gaps, 0)} of {number(v[R.N_TESTS], 0)} tests show a gap at "
                           f"{fdr}; smallest detectable r gap {number(detectable)}{where}")
