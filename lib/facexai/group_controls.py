"""The control variants of the group comparison (:func:`facexai.groups.compare_groups`): a
positive control (one group's ratings shifted by a rater bias the tests must find) and a negative
control (group labels permuted across faces), built from :mod:`facexai.group_tests`' pieces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .group_tests import inject_bias, permute_groups
from .groups import GroupComparison, compare_groups

__all__ = ["BiasControls", "bias_controls", "control_outcomes", "summary_text"]


@dataclass
class BiasControls:
    """:func:`bias_controls`' result: the comparison (:class:`facexai.groups.GroupComparison`) on
    each control variant, and the bias injected: ``group`` of ``variable``, ``shift`` SDs on
    ``attributes``."""

    positive: GroupComparison
    negative: GroupComparison
    variable: str
    group: object
    attributes: list[str]
    shift: float


def bias_controls(truth: pd.DataFrame, pred: pd.DataFrame, demographics: pd.DataFrame,
                  variables: Sequence[str], *, biased: tuple[str, object] = ("sex", "female"),
                  n_biased: int = 5, shift: float = 0.75, seed: int = 0, **options) -> BiasControls:
    """:func:`facexai.groups.compare_groups` on two control variants of the data (``options``:
    its keywords, e.g. ``n_boot``, ``alpha``, ``max_detectable``).

    Positive: the ratings of the faces in group ``biased = (variable, group)`` raised by ``shift``
    SDs on ``n_biased`` attributes drawn at random (``seed``; :func:`facexai.group_tests.inject_bias`): a rater bias
    the tests must find. Negative: the demographic rows permuted across faces
    (:func:`facexai.group_tests.permute_groups`, ``seed``): no gap expected beyond the false discovery rate. The
    verdicts come from the tests, so the bootstrap and the permutation range run at their minimum
    unless ``options`` say otherwise.
    """
    options = {"n_boot": 10, "n_permutations": 1, **options}   # the verdicts need neither
    demographics = pd.DataFrame(demographics).reset_index(drop=True)
    truth = pd.DataFrame(truth).reset_index(drop=True)
    variable, group = biased
    if variable not in demographics.columns:
        raise ValueError(f"biased: {variable!r} is not a column of demographics")
    members = (demographics[variable] == group).to_numpy()
    if not members.any():
        raise ValueError(f"biased: no face is in group {group!r} of {variable!r}")
    columns = list(options.get("attributes") or truth.columns)
    if not 1 <= n_biased <= len(columns):
        raise ValueError(f"n_biased must be in [1, {len(columns)}], got {n_biased}")
    chosen = list(np.random.default_rng(seed).choice(columns, n_biased, replace=False))
    shifted = inject_bias(truth, members, chosen, shift)
    return BiasControls(
        positive=compare_groups(shifted, pred, demographics, variables, seed=seed,
                                       **options),
        negative=compare_groups(truth, pred, permute_groups(demographics, seed), variables,
                                       seed=seed, **options),
        variable=variable, group=group, attributes=chosen, shift=shift)


def control_outcomes(comparison, controls: BiasControls) -> dict[str, dict[str, int]]:
    """Per variant (``"data"``: ``comparison``; ``"positive"``, ``"negative"``: ``controls``'):
    the gaps, signed-error gaps and inconclusive rows of its
    :class:`facexai.groups.GroupComparison`."""
    return {k: {"gaps": c.n_gaps, "signed gaps": c.n_signed_gaps,
                "inconclusive": int((c.gaps["verdict"] == "inconclusive").sum())}
            for k, c in (("data", comparison), ("positive", controls.positive),
                         ("negative", controls.negative))}


def summary_text(comparison, controls: BiasControls) -> str:
    """The bias page's summary: gaps, calibration and inconclusive rows of ``comparison`` (a
    :class:`facexai.groups.GroupComparison`), whether the injected bias of ``controls`` (raising
    women's ratings) is found and what permuted labels give, and the skin-tone gaps (a factor
    SynthFace's raters ignore) when skin tone was compared.

    Parameters
    ----------
    comparison : GroupComparison
        The comparison of the data.
    controls : BiasControls
        :func:`bias_controls` of the same data.
    """
    c, out = comparison, control_outcomes(comparison, controls)
    found = "found" if out["positive"]["gaps"] > 0 else "missed"
    lines = [f"Over {len(c.gaps)} attribute-variable rows ({c.family_size} tests in one family at "
             f"a false discovery rate of {c.alpha}), {c.n_gaps} show a gap (in {c.n_signed_gaps} "
             "tests a group's mean signed error differs: calibration), and "
             f"{out['data']['inconclusive']} are inconclusive: the tests detect an r gap of "
             f"{c.min_detectable_gap:.2f} (median) with 80 % power, not one of "
             f"{c.max_detectable}." if len(c.gaps) else "No group variable with two large "
             "enough groups: nothing was compared.",
             f"The injected bias (women +{controls.shift} SD on {len(controls.attributes)} "
             f"attributes) is {found} ({out['positive']['gaps']} gaps); permuted group labels "
             f"give {out['negative']['gaps']} gaps."]
    if "skin_tone" in c.variables:
        lines.append("Skin tone drives none of SynthFace's ratings, so a skin-tone gap here would "
                     f"be the network's own: {c.per_variable()['gaps']['skin_tone']} found.")
    return " ".join(lines)
