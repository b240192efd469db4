"""Paper 2's claims (book page "Paper 2"), registered with :mod:`facexai.claims`.

The rules are stated now, before any notebook records the results they need (the constants of
:mod:`.results`); until then every claim is "not tested" and names what is missing.
"""
from __future__ import annotations

from ..claims import Verdict, number, register_claim, share_status
from . import results as R

PAPER = "paper2"

__all__ = ["PAPER"]


@register_claim(
    "paper2.accuracy", paper=PAPER,
    text="A zero-bias CNN reaches high expression accuracy on CK+ and TFD",
    needs=(R.ACCURACY_CKPLUS, R.ACCURACY_TFD), params={"min_accuracy": 0.9},
    rule_text="holds if the mean test accuracy over folds is at least {min_accuracy:.0%} on both "
              "data sets, partly holds if on one, otherwise does not hold",
    reported="state-of-the-art accuracy on CK+ and TFD (tables not available to this study)",
    controls={"holds": {R.ACCURACY_CKPLUS: 0.95, R.ACCURACY_TFD: 0.92},
              "does not hold": {R.ACCURACY_CKPLUS: 0.6, R.ACCURACY_TFD: 0.5}})
def accuracy(v, p) -> Verdict:
    ck, tfd = v[R.ACCURACY_CKPLUS], v[R.ACCURACY_TFD]
    high = int(ck >= p["min_accuracy"]) + int(tfd >= p["min_accuracy"])
    status = ("holds", "partly holds", "does not hold")[2 - high]
    return Verdict(status, f"mean test accuracy {number(ck)} (CK+), {number(tfd)} (TFD)")


@register_claim(
    "paper2.au_patterns", paper=PAPER,
    text="Maximally exciting patterns of conv filters look like Facial Action Units",
    needs=(R.N_FILTERS_AU_PATTERN, R.N_FILTERS), params={"min_share": 0.5},
    rule_text="top activating patches on one AU's pixel mask above chance: holds if for at least "
              "{min_share:.0%} of the filters, partly holds if for some, otherwise does not hold",
    reported="patterns shown and compared by eye",
    controls={"holds": {R.N_FILTERS_AU_PATTERN: 40, R.N_FILTERS: 64},
              "does not hold": {R.N_FILTERS_AU_PATTERN: 0, R.N_FILTERS: 64}})
def au_patterns(v, p) -> Verdict:
    k, n = v[R.N_FILTERS_AU_PATTERN], v[R.N_FILTERS]
    return Verdict(share_status(k, n, p["min_share"]),
                   f"{k} of {n} filters' top patches fall on an AU mask above chance")


@register_claim(
    "paper2.au_labels", paper=PAPER,
    text="Filter activations align with the subjects' FAU labels",
    needs=(R.N_CHANNELS_AU, R.N_CHANNELS), params={"min_share": 0.5},
    rule_text="channel-AU association at the false-discovery level (labels permuted within "
              "emotion): holds if for at least {min_share:.0%} of the channels, partly holds if "
              "for some, otherwise does not hold",
    reported="correspondence checked against the CK+ FAU labels",
    controls={"holds": {R.N_CHANNELS_AU: 40, R.N_CHANNELS: 64},
              "does not hold": {R.N_CHANNELS_AU: 0, R.N_CHANNELS: 64}})
def au_labels(v, p) -> Verdict:
    k, n = v[R.N_CHANNELS_AU], v[R.N_CHANNELS]
    return Verdict(share_status(k, n, p["min_share"]),
                   f"{k} of {n} channels associated with an AU label")
