"""Paper 1's claims (book page "Paper 1: claims"), registered with :mod:`facexai.claims`: the
paper's sentence (from its abstract and a review; the text is NOT FOUND), the results the
chapter's notebooks record (:mod:`.results`), a rule whose thresholds are parameters, and the
controls the rule must separate (measured on control variants of the data where they exist).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..claims import Verdict, interval_text, number, register_claim, share_status
from . import results as R

PAPER = "paper1"
#: The notebooks the claims read, in the chapter's order.
SECTIONS: tuple[str, ...] = R.SECTIONS

__all__ = ["PAPER", "SECTIONS", "data_kind"]

_RHO_AGE, _RHO_GENDER = R.APTITUDE_RHO.part("age"), R.APTITUDE_RHO.part("gender")
_P_AGE, _P_GENDER = R.APTITUDE_P.part("age"), R.APTITUDE_P.part("gender")


def data_kind(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Which data the sections recorded they ran on (``"synthetic twin"``, ...)."""
    kinds = {r.get("data") for r in results.values() if r and r.get("data")}
    return " / ".join(sorted(kinds)) if kinds else "unknown (no section recorded it)"


@register_claim(
    "paper1.transfer", paper=PAPER,
    text="Transfer from age / gender base models predicts psychological attributes",
    needs=(R.N_PREDICTED, R.N_ATTRIBUTES),
    uses=(R.TRANSFER_GAIN, R.TRANSFER_GAIN.part("lo"), R.TRANSFER_GAIN.part("hi")),
    params={"min_share": 0.5},
    rule_text="per attribute the transferred model with the lowest validation MAE (source and "
              "mode); predicted if its test r is above 0 in every seed at the false-discovery "
              "level 0.05: holds if for at least {min_share:.0%} of the attributes, partly holds "
              "if for some, otherwise does not hold",
    reported="error (MAE) per attribute of the transferred models (numbers NOT FOUND)",
    measured_controls={"positive": "the achievable ceiling's predictions (an oracle that knows "
                                   "every rendered factor) in place of the models'",
                       "negative": "the test ratings shuffled over faces"},
    controls={"holds": {R.N_PREDICTED: 30, R.N_ATTRIBUTES: 40},
              "does not hold": {R.N_PREDICTED: 0, R.N_ATTRIBUTES: 40}})
def transfer(v, p) -> Verdict:
    k, n = v[R.N_PREDICTED], v[R.N_ATTRIBUTES]
    gain = v.get(R.TRANSFER_GAIN)
    extra = "" if gain is None else (f"; against training from scratch {number(gain, 3)}"
                                     f"{interval_text(v, R.TRANSFER_GAIN)} in mean r")
    return Verdict(share_status(k, n, p["min_share"]), f"test r above 0 for {k} of {n} "
                                                        f"attributes{extra}")


@register_claim(
    "paper1.lrp_regions", paper=PAPER,
    text="LRP heatmaps show the face regions that drive each attribute",
    needs=(R.LRP_ABOVE_CHANCE, R.N_ATTRIBUTES_EXPLAINED), uses=(R.LRP_AGREEMENT,),
    params={"min_share": 0.5},
    rule_text="LRP relevance mass on the attribute's derived truth (the pixels its causes change) "
              "against the face-uniform map, interval corrected over attributes: holds if above "
              "for at least {min_share:.0%} of the attributes in every base model and mode, "
              "partly holds if for some, otherwise does not hold",
    reported="heatmaps shown and read, not scored",
    measured_controls={"positive": "the derived truth itself, blurred, scored as a map",
                       "negative": "a random map"},
    controls={"holds": {R.LRP_ABOVE_CHANCE: 8, R.N_ATTRIBUTES_EXPLAINED: 8},
              "does not hold": {R.LRP_ABOVE_CHANCE: 0, R.N_ATTRIBUTES_EXPLAINED: 8}})
def lrp_regions(v, p) -> Verdict:
    k, n = v[R.LRP_ABOVE_CHANCE], v[R.N_ATTRIBUTES_EXPLAINED]
    rho = v.get(R.LRP_AGREEMENT)
    extra = "" if rho is None else (f"; agreement with the models' own counterfactual effects "
                                    f"rho {number(rho)}")
    return Verdict(share_status(k, n, p["min_share"]),
                   f"relevance above chance on the derived truth for {k} of {n} attributes{extra}")


@register_claim(
    "paper1.age_richer", paper=PAPER,
    text="The multiclass (age) base model is more feature-rich than the binary (gender) one",
    needs=(R.N_RICHER, R.N_MEASURES),
    uses=(R.PARTICIPATION.part("age"), R.PARTICIPATION.part("gender"),
          R.PROBE_RECOVERED.part("age"), R.PROBE_RECOVERED.part("gender")),
    params={"min_share": 0.5},
    rule_text="four measures (effective dimensionality of fc7, generator factors a linear probe "
              "recovers, spread of the relevance over face regions, dense-transfer error): holds "
              "if more than {min_share:.0%} of them favour the age model, the interval of the "
              "difference age - gender above 0, partly holds if some do, otherwise does not hold",
    reported="argued from the heatmaps ('the multiclass model is more feature rich')",
    measured_controls={"positive": "the age model against a copy known to be poorer (fc7 cut to "
                                   "its leading principal components, all relevance in one "
                                   "region, the training-mean rating in place of the transfer)",
                       "negative": "the age model against itself, its training seeds shifted by "
                                   "one"},
    controls={"holds": {R.N_RICHER: 4, R.N_MEASURES: 4},
              "does not hold": {R.N_RICHER: 0, R.N_MEASURES: 4}})
def age_richer(v, p) -> Verdict:
    k, n = v[R.N_RICHER], v[R.N_MEASURES]
    status = ("holds" if n and k / n > p["min_share"] else
              "partly holds" if k > 0 else "does not hold")
    pr = (f"; fc7 dimensionality {number(v.get(R.PARTICIPATION.part('age')), 1)} (age) vs "
          f"{number(v.get(R.PARTICIPATION.part('gender')), 1)} (gender)"
          if v.get(R.PARTICIPATION.part("age")) is not None else "")
    return Verdict(status, f"{k} of {n} measures favour the age model{pr}")


@register_claim(
    "paper1.aptitude", paper=PAPER,
    text="A base model's heatmaps reveal its aptitude for a transfer task",
    needs=(_RHO_AGE, _RHO_GENDER, _P_AGE, _P_GENDER), params={"alpha": 0.05},
    rule_text="over the attributes of complete antonym pairs, Spearman rho between the share of "
              "a base model's own positive relevance on the attribute's derived truth minus the "
              "face-uniform map's share (mean over faces and seeds) and the attribute's "
              "dense-transfer test r: holds if rho > 0 with permutation p < {alpha} (pairs "
              "permuted together) for both base models, partly holds if for one, otherwise does "
              "not hold",
    reported="heatmaps 'give insight into the base model's features and so into its aptitude "
             "for a transfer task' (abstract)",
    measured_controls={"positive": "a transfer score made to follow the overlap (overlap plus "
                                   "noise): checks the rule's machinery only",
                       "negative": "the overlaps permuted over attributes"},
    controls={"holds": {_RHO_AGE: 0.6, _RHO_GENDER: 0.6, _P_AGE: 0.001, _P_GENDER: 0.001},
              "does not hold": {_RHO_AGE: 0.0, _RHO_GENDER: -0.1, _P_AGE: 0.5,
                                _P_GENDER: 0.7}})
def aptitude(v, p) -> Verdict:
    ok = [v[r] > 0 and v[q] < p["alpha"] for r, q in ((_RHO_AGE, _P_AGE),
                                                        (_RHO_GENDER, _P_GENDER))]
    status = ("does not hold", "partly holds", "holds")[sum(ok)]
    return Verdict(status, f"rho {number(v[_RHO_AGE])} (age, p {number(v[_P_AGE], 3)}), "
                           f"{number(v[_RHO_GENDER])} (gender, p {number(v[_P_GENDER], 3)})")
