"""What the twin's ratings allow, and how they compare with real ones.

* :func:`oracle_ceiling`: the **achievable ceiling**, an oracle that knows every rendered factor
  (ridge regression of each column's rating mean on :func:`~facexai.synth.attributes.factor_vector`),
  beside the **noise ceiling** (``sqrt`` of the split-half reliability), per column.
* :func:`twin_correlations`, :func:`compare_correlations`: the 40 x 40 correlation matrix of the
  column means against the real 10k one (:func:`read_correlations`), as one number (Pearson r of
  the 780 off-diagonal entries) and the pairs that disagree most.
* :func:`fit_halo`: the halo loadings of :mod:`facexai.synth.rating`, fitted so that the
  model-implied correlation matrix of the means matches the real one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .factors import FaceParams
from .pairs import ATTRIBUTE_COLUMNS, factor_vector
from .rating import (CALIBRATION_FACES, CALIBRATION_FILE, CALIBRATION_SEED, HALO_WEIGHTS,
                     OWN_WEIGHTS, TARGET_RELIABILITY, Ratings, calibrate_slopes,
                     calibration_population, noise_ceiling)

#: Weight of the mean halo share in :func:`fit_halo` (see there).
HALO_PENALTY = 1.0
#: Largest halo share of any column: the literature drivers stay at least half of every column.
HALO_MAX_SHARE = 0.5
#: Halo loadings smaller than this are set to 0.
HALO_MIN = 0.05
_NAMES = list(ATTRIBUTE_COLUMNS)
_UPPER = np.triu_indices(40, 1)


#: The real 10k matrix: Pearson correlations between the 40 attribute means of the 2,222 annotated
#: faces, derived from the paper's published ratings table (provenance in the file's header).
REAL_CORRELATIONS = Path(__file__).resolve().parents[1] / "data" / "tenk_attribute_correlations.csv"


def real_correlations() -> pd.DataFrame:
    """:func:`read_correlations` of :data:`REAL_CORRELATIONS`."""
    return read_correlations(REAL_CORRELATIONS)


def read_correlations(path: Path | str) -> pd.DataFrame:
    """A 40 x 40 attribute correlation matrix from CSV (``#`` lines are its provenance header),
    rows and columns in ATTRIBUTE_COLUMNS order."""
    frame = pd.read_csv(path, comment="#", index_col=0)
    missing = set(_NAMES) - set(frame.index) | set(_NAMES) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: no row/column for {sorted(missing)}")
    return frame.loc[_NAMES, _NAMES].astype(float)


def _offdiag_r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a)[_UPPER], np.asarray(b)[_UPPER])[0, 1])


# --------------------------------------------------------------------------------------------
# The twin against the real matrix
# --------------------------------------------------------------------------------------------

def twin_correlations(ratings: Ratings | pd.DataFrame) -> pd.DataFrame:
    """Pearson correlations between the 40 column means over a population (40 x 40)."""
    means = ratings.means if isinstance(ratings, Ratings) else ratings
    return means[_NAMES].corr()


@dataclass(frozen=True)
class Comparison:
    """The twin's correlation matrix against the real one.

    Attributes
    ----------
    r : float
        Pearson r between the 780 off-diagonal entries of the two matrices.
    pairs : DataFrame
        One row per attribute pair (``a``, ``b``, ``twin``, ``real``, ``difference`` = twin - real),
        largest absolute difference first.
    """

    r: float
    pairs: pd.DataFrame


def compare_correlations(twin: pd.DataFrame, real: pd.DataFrame) -> Comparison:
    """Compare two 40 x 40 correlation matrices (see :class:`Comparison`)."""
    t, r = twin.loc[_NAMES, _NAMES].to_numpy(), real.loc[_NAMES, _NAMES].to_numpy()
    i, j = _UPPER
    pairs = pd.DataFrame({"a": np.array(_NAMES)[i], "b": np.array(_NAMES)[j],
                          "twin": t[_UPPER], "real": r[_UPPER]})
    pairs["difference"] = pairs.twin - pairs.real
    pairs = pairs.reindex(pairs.difference.abs().sort_values(ascending=False).index)
    return Comparison(r=_offdiag_r(t, r), pairs=pairs.reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# Fitting the halo
# --------------------------------------------------------------------------------------------

def implied_correlations(weights: np.ndarray, factor_cov: np.ndarray,
                         reliability: np.ndarray = TARGET_RELIABILITY) -> np.ndarray:
    """Correlations of the column means implied by linear latents ``z = x W^T``: the latents'
    correlation attenuated by rater noise, ``corr(z_i, z_j) sqrt(rel_i rel_j)`` (the sigmoid and
    the rounding are left out)."""
    cov = weights @ factor_cov @ weights.T
    sd = np.sqrt(np.diag(cov))
    s = np.sqrt(np.clip(reliability, 0, 1))
    return cov / np.outer(sd, sd) * np.outer(s, s)


def fit_halo(x: np.ndarray, real: pd.DataFrame, penalty: float = HALO_PENALTY,
             max_share: float = HALO_MAX_SHARE) -> np.ndarray:
    """Halo loadings ``h_c`` (ATTRIBUTE_COLUMNS order) that bring the model-implied correlation
    matrix of the means (:func:`implied_correlations`, factor covariance of the population ``x``)
    close to ``real``.

    Maximises the Pearson r of the off-diagonal entries minus ``penalty`` times the mean *halo
    share* (the fraction of a column's latent variance that is the valence impression), so each
    column borrows no more of the valence impression than the real matrix asks for; no share may
    exceed ``max_share``. The literature drivers stay as written, and a penalty keeps every one of
    them at its documented sign in the combined weights. Loadings are rounded to 0.01, and those
    under :data:`HALO_MIN` (columns that already are valence judgements) set to 0.
    """
    cov = np.cov(np.asarray(x, dtype=float).T)
    real_m = real.loc[_NAMES, _NAMES].to_numpy()
    var_v = HALO_WEIGHTS @ cov @ HALO_WEIGHTS
    sign = np.sign(OWN_WEIGHTS)

    def loss(h):
        weights = OWN_WEIGHTS + h[:, None] * HALO_WEIGHTS[None, :]
        share = h ** 2 * var_v / np.einsum("cf,fg,cg->c", weights, cov, weights)
        flips = np.clip(-weights * sign, 0, None)
        excess = np.clip(share - max_share, 0, None)
        return (-_offdiag_r(implied_correlations(weights, cov), real_m)
                + penalty * share.mean() + 100 * np.sum(excess ** 2) + 100 * np.sum(flips ** 2))

    result = minimize(loss, np.zeros(40), method="L-BFGS-B", options={"maxiter": 500})
    return np.where(np.abs(result.x) < HALO_MIN, 0.0, np.round(result.x, 2))


# --------------------------------------------------------------------------------------------
# The achievable ceiling
# --------------------------------------------------------------------------------------------

def oracle_predictions(factors, ratings: pd.DataFrame, train: np.ndarray, test: np.ndarray,
                       alpha: float = 1.0) -> pd.DataFrame:
    """The oracle's test predictions: ridge regression of every rating column on the rendered
    factors, fitted on the ``train`` rows (intercept not penalised), applied to the ``test`` rows.

    Parameters
    ----------
    factors : sequence of FaceParams, or array (N, F)
        The faces' generator parameters (``AttributeData.params``) or their factor vectors.
    ratings : DataFrame (N, C)
        Rating means of the same rows.
    train, test : array of int
        Row positions.
    alpha : float
        Ridge penalty on the standardised factors (as
        :func:`oracle_ceiling`).

    Returns
    -------
    DataFrame
        Predictions of the test rows, columns as ``ratings``, index ``ratings.index[test]``.
    """
    if factors is None:
        raise ValueError("factors: no generator parameters (the oracle exists on the twin only)")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    x = np.asarray(factors, float) if isinstance(factors, np.ndarray) else factor_vector(factors)
    if len(x) != len(ratings):
        raise ValueError(f"factors: {len(x)} rows for {len(ratings)} ratings")
    train, test = np.asarray(train, int), np.asarray(test, int)
    if len(train) <= 1:
        raise ValueError(f"train: need at least 2 rows, got {len(train)}")
    y = ratings.to_numpy(float)
    design = np.column_stack([np.ones(len(train)), x[train]])
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0   # the intercept is not penalised
    coef = np.linalg.solve(design.T @ design + penalty, design.T @ y[train])
    pred = np.column_stack([np.ones(len(test)), x[test]]) @ coef
    return pd.DataFrame(pred, index=ratings.index[test], columns=ratings.columns)


def oracle_ceiling(faces: Sequence[FaceParams] | np.ndarray, ratings: Ratings,
                   train: np.ndarray, test: np.ndarray, alpha: float = 1.0,
                   n_splits: int = 50) -> pd.DataFrame:
    """Achievable ceiling beside the noise ceiling, per column, on the ``test`` rows.

    Parameters
    ----------
    faces : sequence of FaceParams, or their factor vectors (N x len(FACTORS))
        The rated faces, in the row order of ``ratings``.
    ratings : Ratings
        Their ratings.
    train, test : array of int
        Row positions: the oracle is fitted on ``train`` and scored on ``test``.
    alpha : float
        Ridge penalty on the standardised factors.

    Returns
    -------
    DataFrame indexed by column, with ``noise_ceiling`` (sqrt of the split-half reliability of
    the test rows), ``oracle`` (Pearson r of the ridge prediction with the test means) and
    ``gap`` (ceiling - oracle).
    """
    means = ratings.means[_NAMES]
    pred = oracle_predictions(faces, means, train, test, alpha).to_numpy()
    y = means.to_numpy()[np.asarray(test)]
    oracle = [np.corrcoef(pred[:, c], y[:, c])[0, 1] for c in range(40)]
    ceiling = noise_ceiling(ratings.raw[test], n_splits=n_splits)
    out = pd.DataFrame({"noise_ceiling": ceiling.to_numpy(), "oracle": oracle}, index=_NAMES)
    out["gap"] = out.noise_ceiling - out.oracle
    return out


# --------------------------------------------------------------------------------------------
# Calibration (offline)
# --------------------------------------------------------------------------------------------

def calibrate(real_correlations: pd.DataFrame, n_faces: int = CALIBRATION_FACES,
              seed: int = CALIBRATION_SEED, path: Path | str | None = CALIBRATION_FILE) -> dict:
    """Fit the halo loadings to the real correlation matrix, then the slopes by calibrate-and-
    measure, on the calibration population; write ``calibration.json`` (unless ``path`` is None).
    Offline, about a minute, never called at import: rerun it (``python -m facexai.synth.ceilings``)
    whenever the factors, the pair table or the expression mix of ``sample_face`` change;
    ``tests/test_calibration.py`` fails once the stored constants miss a target by over 0.05."""
    x = calibration_population(n_faces, seed)
    halo = fit_halo(x, real_correlations)
    slope, rel = calibrate_slopes(x, seed, halo)
    data = {"about": "SynthFace rating constants written by facexai.synth.ceilings.calibrate "
                     f"({n_faces} faces of sample_face, seed {seed}); do not edit by hand",
            "halo": {c: round(float(v), 6) for c, v in zip(_NAMES, halo)},
            "slope": {c: round(float(v), 6) for c, v in zip(_NAMES, slope)},
            "measured_reliability": {c: round(float(v), 4) for c, v in rel.items()}}
    if path is not None:
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


if __name__ == "__main__":  # python -m facexai.synth.ceilings [correlations.csv]: recalibrate
    import sys

    calibrate(read_correlations(sys.argv[1] if len(sys.argv) > 1 else REAL_CORRELATIONS))
