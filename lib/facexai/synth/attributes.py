"""Psychological attributes of SynthFaces, rated by a simulated panel as in the 10k US Adult Faces DB.

The 10k US Adult Faces database (Bainbridge, Isola & Oliva 2013) has 20 bipolar attribute pairs
(40 columns). Each image was rated on 1 (not at all) - 9 (extremely) by 15 raters on the attribute
and by another 15 on its antonym; the "Final Values" sheet holds the per-image means. This module
gives SynthFaces the same 40 columns, with one difference that makes the study possible: here we
*know* what drives each judgement.

One table, :data:`PAIR_TABLE`, is the single source of truth. For each pair it gives the latent
score as a linear function of **generator factors** (identity fields, Action Units and two derived
factors, all standardised; see :data:`FACTORS`), with a one-line rationale from the
face-perception literature (or marked as an assumption), plus the mean rating and target
reliability of each of its two columns. Everything else (:func:`driver_table`,
:func:`driving_regions`, :func:`region_weights`, the rating model) is derived from it and from
:data:`FACTOR_REGIONS`, so a driver is never typed twice.

The table itself lives in :mod:`facexai.synth.pairs` and the rater panel in
:mod:`facexai.synth.rating`; this module is the one place the rest of the study imports them from
(``rate``, ``rate_factors``, ``Ratings``, ``split_half_reliability``, ``noise_ceiling`` and the
rater constants included), with the views that need both: :func:`drivers`,
:func:`driving_regions`, :func:`region_weights`, :func:`driver_table`, and the age and sex labels.
Each column is driven by its pair's literature drivers plus a fitted share of the valence
impression (the *halo*, the drivers of the trustworthy pair), and by nothing that is not rendered:
SynthFace v1's per-face idiosyncratic terms were removed, so the achievable ceiling
(:func:`facexai.synth.ceilings.oracle_ceiling`) meets the noise ceiling. Slopes are set by a
calibrate-and-measure loop so that measured split-half reliabilities match the targets (the
"Human" column of Paper 3's comparison table, whose provenance is unknown; see papers.md): noise
ceilings range from about 0.4 (unfamiliar) to 0.9 (happy). Weak attributes (memorable, typical,
common, familiar) are weak because faces differ little on them relative to rater noise.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .factors import FaceParams
from .pairs import (_REGION_NAMES, ATTRIBUTE_COLUMNS, COLUMN_INDEX, FACTOR_NAMES, FACTOR_REGIONS,
                    FACTORS, PAIR_TABLE, PAIRS, Factor, Pair, _regions, antonym, factor_vector,
                    pair_name, pair_of)
from .rating import (HALO, N_RATERS, RATER_BIAS_SD, RATER_NOISE, RATER_NOISE_SPREAD, W, Ratings,
                     check_indices, noise_ceiling, rate, rate_factors, split_half_reliability)

__all__ = ["ADIENCE_GROUPS", "ATTRIBUTE_COLUMNS", "FACTORS", "FACTOR_NAMES", "FACTOR_REGIONS",
           "Factor", "N_RATERS", "PAIRS", "PAIR_TABLE", "Pair", "RATER_BIAS_SD", "RATER_NOISE",
           "RATER_NOISE_SPREAD", "Ratings", "adience_group", "age_gender_labels", "antonym",
           "driver_table", "drivers", "driving_regions", "factor_vector", "noise_ceiling",
           "pair_name", "rate", "rate_factors", "region_weights", "split_half_reliability"]


# --------------------------------------------------------------------------------------------
# Derived views of the table
# --------------------------------------------------------------------------------------------

def drivers(attribute: str) -> tuple[tuple[str, float], ...]:
    """``(factor, weight)`` driving ``attribute`` in the rating model: the pair's literature
    drivers signed for that column (antonyms reversed) plus the column's halo share of the
    valence impression (:mod:`facexai.synth.rating`), rounded to 3 decimals; literature drivers
    first, then any factor only the halo brings."""
    pair, _ = pair_of(attribute)
    row = dict(zip(FACTOR_NAMES, W[COLUMN_INDEX[attribute]]))
    order = [f for f, _ in pair.drivers] + [f for f in FACTOR_NAMES if f not in dict(pair.drivers)]
    return tuple((f, round(float(row[f]), 3)) for f in order if round(float(row[f]), 3) != 0)


def driving_regions(attribute: str) -> tuple[str, ...]:
    """Face regions in which the drivers of ``attribute`` show, in canonical region order."""
    return _regions(*(FACTOR_REGIONS[f] for f, _ in drivers(attribute)))


def region_weights(attribute: str) -> pd.Series:
    """How much each region drives ``attribute``: a region-level ground-truth relevance map.

    Each driver's ``|weight|`` is spread evenly over the regions it shows in; the result sums to 1
    and has one entry per region name (zero where no driver shows).
    """
    out = pd.Series(0.0, index=list(_REGION_NAMES), name=attribute)
    for f, w in drivers(attribute):
        regions = FACTOR_REGIONS[f]
        out[list(regions)] += abs(w) / len(regions)
    return out / out.sum()


def driver_table() -> pd.DataFrame:
    """One row per column (ATTRIBUTE_COLUMNS order): its pair, drivers (``literature``: the
    pair's, signed; ``halo``: the column's valence loading; ``drivers``: the weights in use),
    regions and rationale."""
    rows = []
    for col in ATTRIBUTE_COLUMNS:
        pair, sign = pair_of(col)
        side = 0 if sign > 0 else 1
        rows.append({
            "attribute": col,
            "antonym": pair.antonym if side == 0 else pair.attribute,
            "pair": f"{pair.attribute}-{pair.antonym}",
            "sign": int(sign),
            "literature": " ".join(f"{sign * w:+.2f}*{f}" for f, w in pair.drivers),
            "halo": round(float(HALO[COLUMN_INDEX[col]]), 3),
            "drivers": " ".join(f"{w:+.2f}*{f}" for f, w in drivers(col)),
            "regions": ", ".join(driving_regions(col)),
            "center": pair.center[side],
            "target_reliability": pair.reliability[side],
            "rationale": pair.rationale,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Age and gender labels for the base models
# --------------------------------------------------------------------------------------------

#: Adience age groups (years, inclusive), the classes of the age base model.
ADIENCE_GROUPS: tuple[tuple[int, int], ...] = (
    (0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100),
)


def adience_group(age: float) -> int:
    """Adience group of an exact age.

    Ages inside a group get that group. Adience leaves gaps (e.g. 33-37); an age in a gap goes to
    the group whose nearest edge is closest, and an age exactly halfway (3, 7, 13.5, 22.5, 35,
    45.5, 56.5) goes to the younger group. Ages above 100 go to the last group.
    """
    age = float(age)
    if not np.isfinite(age) or age < 0:
        raise ValueError(f"age must be a finite non-negative number, got {age}")
    distance = [max(lo - age, 0.0, age - hi) for lo, hi in ADIENCE_GROUPS]
    return int(np.argmin(distance))  # argmin takes the first minimum: ties go to the younger group


def age_gender_labels(params_list: Sequence[FaceParams],
                      indices: Iterable[int] | None = None) -> pd.DataFrame:
    """Labels for the base models: exact ``age``, Adience ``age_group`` and ``sex`` (0 f, 1 m)."""
    idx = check_indices(indices, len(params_list))
    ages = [float(p.identity.age) for p in params_list]
    return pd.DataFrame({"age": ages,
                         "age_group": [adience_group(a) for a in ages],
                         "sex": [int(p.identity.sex) for p in params_list]},
                        index=pd.Index(idx, name="image"))
