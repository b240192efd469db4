"""Paper 1's claims (book page "Paper 1"), registered with :mod:`facexai.claims`.

The rules are stated now, before any notebook records the results they need (the constants of
:mod:`.results`); until then every claim is "not tested" and names what is missing.
"""
from __future__ import annotations

from ..claims import Verdict, number, register_claim, share_status
from . import results as R

PAPER = "paper1"

__all__ = ["PAPER"]


@register_claim(
    "paper1.transfer", paper=PAPER,
    text="Transfer from age / gender base models predicts psychological attributes",
    needs=(R.N_PREDICTED, R.N_ATTRIBUTES), params={"min_share": 0.5},
    rule_text="the best transferred model's test r is above 0 at the false-discovery level: holds "
              "if for at least {min_share:.0%} of the attributes, partly holds if for some, "
              "otherwise does not hold",
    reported="error per attribute of the transferred models",
    controls={"holds": {R.N_PREDICTED: 30, R.N_ATTRIBUTES: 40},
              "does not hold": {R.N_PREDICTED: 0, R.N_ATTRIBUTES: 40}})
def transfer(v, p) -> Verdict:
    k, n = v[R.N_PREDICTED], v[R.N_ATTRIBUTES]
    return Verdict(share_status(k, n, p["min_share"]),
                   f"test r above 0 for {k} of {n} attributes")


@register_claim(
    "paper1.lrp_regions", paper=PAPER,
    text="LRP heatmaps show the face regions that drive each attribute",
    needs=(R.LRP_ABOVE_CHANCE, R.N_ATTRIBUTES_EXPLAINED), params={"min_share": 0.5},
    rule_text="LRP relevance on the known driving regions above chance: holds if for at least "
              "{min_share:.0%} of the attributes, partly holds if for some, otherwise does not "
              "hold",
    reported="heatmaps shown, not scored",
    controls={"holds": {R.LRP_ABOVE_CHANCE: 30, R.N_ATTRIBUTES_EXPLAINED: 40},
              "does not hold": {R.LRP_ABOVE_CHANCE: 0, R.N_ATTRIBUTES_EXPLAINED: 40}})
def lrp_regions(v, p) -> Verdict:
    k, n = v[R.LRP_ABOVE_CHANCE], v[R.N_ATTRIBUTES_EXPLAINED]
    return Verdict(share_status(k, n, p["min_share"]),
                   f"relevance above chance on the driving regions for {k} of {n} attributes")


@register_claim(
    "paper1.age_richer", paper=PAPER,
    text="The multiclass (age) base model is more feature-rich than the binary (gender) one",
    needs=(R.MEAN_R_AGE_BASE, R.MEAN_R_GENDER_BASE, R.SPREAD_AGE_BASE, R.SPREAD_GENDER_BASE),
    params={"min_lead": 0.0},
    rule_text="holds if the age base model both transfers better (mean test r higher by more "
              "than {min_lead}) and spreads its relevance over more face regions; partly holds if "
              "one of the two; otherwise does not hold",
    reported="argued from the heatmaps",
    controls={"holds": {R.MEAN_R_AGE_BASE: 0.5, R.MEAN_R_GENDER_BASE: 0.4, R.SPREAD_AGE_BASE: 0.6,
                        R.SPREAD_GENDER_BASE: 0.4},
              "does not hold": {R.MEAN_R_AGE_BASE: 0.4, R.MEAN_R_GENDER_BASE: 0.5,
                                R.SPREAD_AGE_BASE: 0.4, R.SPREAD_GENDER_BASE: 0.6}})
def age_richer(v, p) -> Verdict:
    better = v[R.MEAN_R_AGE_BASE] > v[R.MEAN_R_GENDER_BASE] + p["min_lead"]
    wider = v[R.SPREAD_AGE_BASE] > v[R.SPREAD_GENDER_BASE]
    status = "holds" if better and wider else "partly holds" if better or wider else \
        "does not hold"
    return Verdict(status, f"mean test r {number(v[R.MEAN_R_AGE_BASE])} (age) vs "
                           f"{number(v[R.MEAN_R_GENDER_BASE])} (gender); relevance spread "
                           f"{number(v[R.SPREAD_AGE_BASE])} vs {number(v[R.SPREAD_GENDER_BASE])}")
