"""Paper 3's claims, registered with :mod:`facexai.claims`.

Each claim is the paper's sentence, the recorded results it needs (constants of
:mod:`facexai.paper3.results`, the names the section notebooks record), and a rule: a function of
those results whose thresholds are parameters (``r_margin``, ``min_share``, ...; the Claims page
passes its parameter cell's values). ``facexai.claims.claims_table("paper3", results)`` is the
chapter's table; a result that a section did not record makes its claim "not tested" and names it.

The paper's own numbers come from the ``comparison`` table that ``paper3_predictive`` records
(columns :data:`facexai.paper3.metrics.COMPARISON_COLUMNS`, looked up by exact name); when a claim
is not tested, its "the paper" column shows the paper's table (:func:`.metrics.paper_table`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..claims import (MissingResult, Verdict, columns, number, register_claim, share_status,
                      table)
from . import results as R
from .metrics import BASELINE_NAMES, PAPER_COLUMNS, paper_table

PAPER = "paper3"
#: The notebooks whose results the claims read, in the chapter's order.
SECTIONS: tuple[str, ...] = R.SECTIONS
#: Mean test r of the paper's SVR baselines (the code's colour-histogram, LBP and HOG models).
SVR_BASELINES: tuple[str, ...] = tuple(b for b in BASELINE_NAMES if b.endswith("_svr"))
LANDMARKS = R.MEAN_R.part("landmarks")

__all__ = ["PAPER", "SECTIONS", "SVR_BASELINES", "data_kind"]


def data_kind(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Which data the sections ran on, as they recorded it (``"synthetic twin"``, ...)."""
    kinds = {r.get("data") for r in results.values() if r and r.get("data")}
    return " / ".join(sorted(kinds)) if kinds else "unknown (no section recorded it)"


def _comparison(values) -> pd.DataFrame:
    frame = table(values.get(R.COMPARISON))
    if frame is None:
        raise MissingResult(f"{R.COMPARISON.qualified} (not a recorded table)")
    return frame


def _pairs(frame: pd.DataFrame, *names: str) -> pd.DataFrame:
    """Columns of the comparison table as numbers, rows where any is missing dropped."""
    return columns(frame, R.COMPARISON, *names)


def _paper_mean(key: str, frame: pd.DataFrame | None = None) -> float:
    """The mean over attributes of the paper's column ``key`` (a key of :data:`PAPER_COLUMNS`),
    from the recorded comparison when given, else from the paper's shipped table."""
    if frame is not None:
        return float(_pairs(frame, PAPER_COLUMNS[key]).iloc[:, 0].mean())
    return _table_means()[key]


@lru_cache(maxsize=1)
def _table_means() -> dict[str, float]:
    """Column means of the paper's shipped table (read once)."""
    means = paper_table()[list(PAPER_COLUMNS)].mean()
    return {k: float(v) for k, v in means.items()}


def _ttest(frame: pd.DataFrame, a: str, b: str) -> str:
    """The paper's independent-samples t-test of two of its columns (as the paper reports it)."""
    from scipy.stats import ttest_ind

    pair = _pairs(frame, PAPER_COLUMNS[a], PAPER_COLUMNS[b])
    t, p = ttest_ind(pair[PAPER_COLUMNS[a]], pair[PAPER_COLUMNS[b]])
    return f"t = {t:.2f}, p = {p:.2g}"


def _control_table(ceiling: float) -> pd.DataFrame:
    """A four-attribute comparison table for the claims' controls: this study's r equals the
    paper's VGG16 r (0.55-0.70), the noise ceiling is ``ceiling`` everywhere."""
    r = np.array([0.55, 0.6, 0.65, 0.7])
    return pd.DataFrame({"attribute": list("abcd"), "paper_human": r - 0.1,
                         "paper_geometric": r - 0.05, "paper_vgg16": r, "paper_vgg16_aug": r + 0.03,
                         "paper_vit": r + 0.04, "vgg16": r, "noise_ceiling": np.full(4, ceiling)})


_SHARE_RULE = ("holds if true for at least {min_share:.0%} of the attributes, partly holds if for "
               "some, otherwise does not hold")


@register_claim(
    "paper3.predictive_power", paper=PAPER,
    text="VGG16 predicts the 40 attribute ratings (test Pearson r per attribute)",
    needs=(R.MEAN_R_VGG16, R.COMPARISON), params={"r_margin": 0.1},
    rule_text="holds if this study's mean test r is at least the paper's mean VGG16 r minus "
              "{r_margin}; partly holds if it is lower but above 0; otherwise does not hold",
    reported=f"mean r {_paper_mean('vgg16'):.2f} (VGG16 column)",
    controls={"holds": {R.MEAN_R_VGG16: 0.6, R.COMPARISON: _control_table(0.5)},
              "does not hold": {R.MEAN_R_VGG16: -0.05, R.COMPARISON: _control_table(0.5)}})
def predictive_power(v, p) -> Verdict:
    comparison = _comparison(v)
    r, paper = v[R.MEAN_R_VGG16], _paper_mean("vgg16", comparison)
    status = "holds" if r >= paper - p["r_margin"] else "partly holds" if r > 0 else \
        "does not hold"
    return Verdict(status, f"mean test r {number(r)} over {len(comparison)} attributes",
                   f"mean r {number(paper)} (VGG16 column)")


@register_claim(
    "paper3.human_consistency", paper=PAPER,
    text="VGG16 exceeds human consistency (the paper's Human column) on most attributes",
    needs=(R.COMPARISON, R.MEAN_NOISE_CEILING), params={"min_share": 0.5},
    rule_text="test r above the noise ceiling: " + _SHARE_RULE,
    reported="VGG16 above Human in the paper's table",
    controls={"holds": {R.COMPARISON: _control_table(0.5), R.MEAN_NOISE_CEILING: 0.5},
              "does not hold": {R.COMPARISON: _control_table(0.9), R.MEAN_NOISE_CEILING: 0.9}})
def human_consistency(v, p) -> Verdict:
    comparison = _comparison(v)
    paper_human = _paper_mean("human", comparison)
    pp = _pairs(comparison, PAPER_COLUMNS["vgg16"], PAPER_COLUMNS["human"])
    paper_above = (pp[PAPER_COLUMNS["vgg16"]] > pp[PAPER_COLUMNS["human"]]).sum()
    ours = _pairs(comparison, "vgg16", "noise_ceiling")
    if ours.empty:
        raise MissingResult(f"{R.COMPARISON.qualified}: no attribute with both this study's r and "
                            "a noise ceiling")
    above, n = int((ours["vgg16"] > ours["noise_ceiling"]).sum()), len(ours)
    return Verdict(
        share_status(above, n, p["min_share"]),
        f"test r above the noise ceiling for {above} of {n} attributes (mean ceiling "
        f"{number(v[R.MEAN_NOISE_CEILING])}); a model cannot truly exceed the ceiling, so this "
        "measures how much the ceiling or the test set limits r",
        f"VGG16 above Human for {paper_above} of {len(pp)} attributes (mean Human "
        f"{number(paper_human)}; {_ttest(comparison, 'human', 'vgg16')})")


@register_claim(
    "paper3.agreement_predictability", paper=PAPER,
    text="Attributes people agree on are predicted better",
    needs=(R.R_CEILING_SPEARMAN, R.PAPER_R_HUMAN_SPEARMAN), params={"min_rho": 0.5},
    rule_text="holds if the Spearman correlation over attributes of test r and noise ceiling is at "
              "least {min_rho}; partly holds if it is above 0; otherwise does not hold",
    by_construction="on the synthetic twin, SynthFace sets each attribute's rating slopes from "
                    "its target reliability, so predictability follows agreement by design",
    reported="Spearman over attributes between VGG16 and Human columns",
    controls={"holds": {R.R_CEILING_SPEARMAN: 0.7, R.PAPER_R_HUMAN_SPEARMAN: 0.6},
              "does not hold": {R.R_CEILING_SPEARMAN: -0.2, R.PAPER_R_HUMAN_SPEARMAN: 0.6}})
def agreement_predictability(v, p) -> Verdict:
    rho = v[R.R_CEILING_SPEARMAN]
    status = "holds" if rho >= p["min_rho"] else "partly holds" if rho > 0 else "does not hold"
    return Verdict(status, f"Spearman {number(rho)} between test r and noise ceiling",
                   f"Spearman {number(v[R.PAPER_R_HUMAN_SPEARMAN])} over attributes between VGG16 "
                   "and Human columns")


_SVR_CONTROL = {R.MEAN_R.part(b): r for b, r in zip(SVR_BASELINES, (0.2, 0.25, 0.3))}


@register_claim(
    "paper3.geometric_baseline", paper=PAPER,
    text="VGG16 beats the geometric-feature baseline",
    needs=(R.MEAN_R_VGG16, *(R.MEAN_R.part(b) for b in SVR_BASELINES)),
    uses=(LANDMARKS, R.COMPARISON), params={"min_lead": 0.0},
    rule_text="holds if this study's mean VGG16 r exceeds the best SVR baseline of the paper's code "
              "and the landmark-geometry model by more than {min_lead}; partly holds if it beats "
              "the SVRs but not the landmarks; otherwise does not hold",
    reported=f"mean r {_paper_mean('vgg16'):.2f} vs {_paper_mean('geometric'):.2f}",
    controls={"holds": {R.MEAN_R_VGG16: 0.5, **_SVR_CONTROL, LANDMARKS: 0.35},
              "does not hold": {R.MEAN_R_VGG16: 0.2, **_SVR_CONTROL}})
def geometric_baseline(v, p) -> Verdict:
    r = v[R.MEAN_R_VGG16]
    known = {b: float(v[R.MEAN_R.part(b)]) for b in SVR_BASELINES
             if np.isfinite(float(v[R.MEAN_R.part(b)]))}
    if not known:
        raise MissingResult("a finite mean r of an SVR baseline "
                            f"({', '.join(R.MEAN_R.part(b).qualified for b in SVR_BASELINES)})")
    best = max(known, key=known.get)
    landmarks = v.get(LANDMARKS)
    status = ("does not hold" if not r > known[best] + p["min_lead"] else
              "partly holds" if landmarks is not None and np.isfinite(landmarks)
              and not r > landmarks + p["min_lead"] else "holds")
    frame = table(v.get(R.COMPARISON))
    paper = ""
    if frame is not None and {PAPER_COLUMNS["vgg16"], PAPER_COLUMNS["geometric"]} <= set(frame):
        paper = (f"mean r {number(_paper_mean('vgg16', frame))} vs "
                 f"{number(_paper_mean('geometric', frame))} ({_ttest(frame, 'geometric', 'vgg16')})")
    return Verdict(status, f"mean test r {number(r)} vs best SVR baseline {best} "
                           f"{number(known[best])}; landmark geometry {number(landmarks)}", paper)


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


_ABOVE = R.GRADCAM_ABOVE_CHANCE
_GRADCAM_CONTROL = {_ABOVE.part("driving"): 7, R.N_ATTRIBUTES: 8, R.GRADCAM_MASS.part("primary"): 0.3,
                    R.GRADCAM_CHANCE.part("primary"): 0.15, R.GRADCAM_PROFILE_R: 0.4}


@register_claim(
    "paper3.gradcam_regions", paper=PAPER,
    text="Grad-CAM highlights the facial regions relevant to an attribute",
    needs=(_ABOVE.part("primary"), _ABOVE.part("driving"), R.N_ATTRIBUTES,
           R.GRADCAM_MASS.part("primary"), R.GRADCAM_CHANCE.part("primary"), R.GRADCAM_PROFILE_R),
    params={"min_share": 0.5},
    rule_text="Grad-CAM above chance on the primary driving regions: " + _SHARE_RULE,
    reported="shown on one face of one attribute (happy); not measured",
    controls={"holds": {**_GRADCAM_CONTROL, _ABOVE.part("primary"): 6},
              "does not hold": {**_GRADCAM_CONTROL, _ABOVE.part("primary"): 0}})
def gradcam_regions(v, p) -> Verdict:
    k, n = v[_ABOVE.part("primary")], v[R.N_ATTRIBUTES]
    return Verdict(
        share_status(k, n, p["min_share"]),
        f"Grad-CAM beats chance on the primary driving regions for {k} of {n} attributes (on all "
        f"driving regions: {v[_ABOVE.part('driving')]}); mean mass "
        f"{number(v[R.GRADCAM_MASS.part('primary')])} vs chance "
        f"{number(v[R.GRADCAM_CHANCE.part('primary')])}, region-profile r "
        f"{number(v[R.GRADCAM_PROFILE_R])}")


@register_claim(
    "paper3.manifold_structure", paper=PAPER,
    text="t-SNE / UMAP of the predicted attributes show cluster structure for some attributes "
         "and not for others",
    needs=(R.N_PAIRS_STRUCTURE_FEATURES, R.N_PAIRS_NONE_FEATURES, R.N_TSNE_UMAP_STRUCTURE,
           R.N_PAIRS_SHOWN), uses=(R.ALL_PAIRS,), params={"min_pairs": 1},
    rule_text="holds if the held-out verdict is 'structure' for at least {min_pairs:.0f} antonym "
              "pairs and 'none' for at least {min_pairs:.0f}; partly holds if only one of the "
              "two; otherwise does not hold",
    reported="read off the pictures, on in-sample predictions",
    controls={"holds": {R.N_PAIRS_STRUCTURE_FEATURES: 12, R.N_PAIRS_NONE_FEATURES: 5,
                        R.N_TSNE_UMAP_STRUCTURE: 4, R.N_PAIRS_SHOWN: 6},
              "does not hold": {R.N_PAIRS_STRUCTURE_FEATURES: 0, R.N_PAIRS_NONE_FEATURES: 0,
                                R.N_TSNE_UMAP_STRUCTURE: 0, R.N_PAIRS_SHOWN: 6}})
def manifold_structure(v, p) -> Verdict:
    n_struct, n_none = v[R.N_PAIRS_STRUCTURE_FEATURES], v[R.N_PAIRS_NONE_FEATURES]
    some, others = n_struct >= p["min_pairs"], n_none >= p["min_pairs"]
    status = "holds" if some and others else "partly holds" if some or others else "does not hold"
    pairs = table(v.get(R.ALL_PAIRS))
    of = f" of {len(pairs)} pairs" if pairs is not None else " pairs"
    return Verdict(status, f"held-out: label separated ('structure') for {n_struct}{of}, none "
                           f"for {n_none}; t-SNE or UMAP keeps it for "
                           f"{v[R.N_TSNE_UMAP_STRUCTURE]} of {v[R.N_PAIRS_SHOWN]} pairs embedded")


_BIAS_CONTROL = {R.N_TESTS: 120, R.LARGEST_R_GAP_WHERE: "happy by sex (female vs male)",
                 R.LARGEST_R_GAP: 0.2, R.VARIABLES: "sex"}


@register_claim(
    "paper3.group_bias", paper=PAPER,
    text="Such models raise bias and ethics concerns (accuracy may differ between groups of "
         "people)",
    needs=(R.N_GAPS, R.N_TESTS, R.LARGEST_R_GAP_WHERE, R.LARGEST_R_GAP, R.VARIABLES),
    uses=(R.FDR_ALPHA,), params={"min_gaps": 1},
    rule_text="holds if at least {min_gaps:.0f} group gap survives the false-discovery "
              "correction; otherwise does not hold (no gap found is not evidence of none)",
    reported="discussed, not measured",
    controls={"holds": {**_BIAS_CONTROL, R.N_GAPS: 3}, "does not hold": {**_BIAS_CONTROL, R.N_GAPS: 0}})
def group_bias(v, p) -> Verdict:
    n_gaps = v[R.N_GAPS]
    alpha = v.get(R.FDR_ALPHA)
    fdr = f"FDR {alpha:g}" if alpha is not None else "the bias section's FDR"
    return Verdict("holds" if n_gaps >= p["min_gaps"] else "does not hold",
                   f"{n_gaps} of {v[R.N_TESTS]} attribute-variable tests ({v[R.VARIABLES]}) show "
                   f"a gap at {fdr}; largest r gap {number(v[R.LARGEST_R_GAP])} "
                   f"({v[R.LARGEST_R_GAP_WHERE]})")
