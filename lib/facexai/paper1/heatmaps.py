"""Paper 1, section "LRP heatmaps": every transferred model's LRP maps, scored on the study core.

The maps, truths, controls and scores are :mod:`facexai.seedscores`' (the paper-3 chapter's
machinery); this module only runs it over paper 1's sources and modes, with one set of
counterfactual faces for all of them (:func:`score_sources`), and reads the claim's counts from the
scores (:func:`above_chance`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from .. import seedscores
from ..controlmaps import CONTROLS
from ..truthscores import VERDICTS

__all__ = ["POSITIVE", "above_chance", "score_sources", "summaries"]

#: The positive control map: the derived truth itself, blurred by half a cell of the random map.
POSITIVE = "derived truth (blurred)"
_NEGATIVE = CONTROLS[-1]


def score_sources(fits: Mapping[tuple[str, str], object], faces, truths: dict, controls: dict,
                  params: Sequence, attributes: Sequence[str], methods: Sequence[str], *,
                  size: int, render: int, keep: int = 0, landmarks=None, template=None
                  ) -> dict[tuple[str, str], seedscores.SeedScores]:
    """:func:`facexai.seedscores.score_seeds` of each source and mode's seeds (``fits``:
    ``{(source, mode): SeedFits}``), LRP explaining high ratings; the model truth of every model
    on the same counterfactual faces (rendered once)."""
    out, pairs = {}, None
    for key, seed_fits in fits.items():
        model = seedscores.model_truth(seed_fits, params, attributes, size, render, pairs=pairs)
        pairs = model.pairs
        maps = seedscores.seed_maps(seed_fits, faces.x, attributes, methods, (1,), finer=False)
        out[key] = seedscores.score_seeds(maps, faces, truths, controls, model=model, keep=keep,
                                          landmarks=landmarks, template=template)
    return out


def summaries(scores: Mapping[tuple[str, str], seedscores.SeedScores], *, n_boot: int,
              alpha: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every source and mode's corrected lift summary and cause-agreement summary, stacked with
    ``source`` and ``mode`` columns first."""
    lifts, agree = [], []
    for (source, mode), s in scores.items():
        tag = {"source": source, "mode": mode}
        lifts.append(s.summary(n_boot=n_boot, alpha=alpha, seed=seed).assign(**tag))
        agree.append(s.agreement_summary(n_boot=n_boot, seed=seed).reset_index().assign(**tag))
    lift, agreement = pd.concat(lifts, ignore_index=True), pd.concat(agree, ignore_index=True)
    first = ["source", "mode"]
    return (lift[first + [c for c in lift if c not in first]],
            agreement[first + [c for c in agreement if c not in first]])


def above_chance(lift: pd.DataFrame, method: str, truth: str = "derived") -> dict:
    """The claim's counts from the stacked lift summary: attributes whose ``method`` map (high
    ratings) is above the face-uniform map on ``truth`` in **every** source and mode, and the same
    count for the positive and the negative control map (scored once, model-free)."""
    t = lift[lift["ground_truth"] == truth]

    def count(m: pd.DataFrame) -> int:
        ok = m.groupby("attribute")["verdict"].apply(lambda v: bool((v == VERDICTS[0]).all()))
        return int(ok.sum())

    model = t[(t["map"] == method) & (t["sign"] == "high")]
    controls = t.drop_duplicates(["map", "attribute"])
    return {"n": count(model), "of": int(model["attribute"].nunique()),
            "positive": count(controls[controls["map"] == POSITIVE]),
            "negative": count(controls[controls["map"] == _NEGATIVE])}
