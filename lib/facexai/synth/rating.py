"""The simulated rater panel of SynthFace: column weights, the rating model, reliability, and the
calibrate-and-measure loop that sets its constants.

Rating model, for image ``i`` and column ``c`` (``x``: standardised rendered factors,
:func:`~facexai.synth.attributes.factor_vector`)::

    z_c   = sum_f W_cf x_if                     W_c = s_c w_p + h_c w_V   (column weights)
    m_c   = 1 + 8 sigmoid(a_c + b_c z_c)        (noise-free mean rating, strictly in (1, 9))
    r_icj = clip(round(m_c + bias_cj + rater_noise sd_cj eps_icj), 1, 9)   for rater j of column c

``w_p`` are the literature drivers of the column's pair
(:data:`~facexai.synth.attributes.PAIR_TABLE`) and ``s_c = +1`` for the attribute, ``-1`` for the
antonym. ``w_V`` is the valence impression, the drivers of the trustworthy pair
(:data:`HALO_PAIR`): trait judgements of faces are dominated by one valence dimension onto which
every judgement partly overgeneralises (Oosterhof & Todorov 2008; the halo effect, Dion, Berscheid
& Walster 1972); in the real 10k means the first principal component carries 55 % of the variance.
``h_c`` (the column's *halo* loading) is fitted once so that the model-implied correlation matrix
of the 40 column means matches the real one (:func:`facexai.synth.ceilings.fit_halo`). Antonyms
differ through their own ``h_c`` and ``b_c``: a function of rendered factors only.

There is **no per-face term**: everything raters agree on is a function of rendered factors, so
an image model can in principle reach the noise ceiling. SynthFace v1's per-face idiosyncratic
terms (one per pair, one per column) were removed rather than rendered: rendering them would take
60 new visible factors with no basis in the face-perception literature, whereas the real data ask
for one shared dimension (the halo above), which the rendered factors already carry.

``a_c`` puts an average neutral face at the column's mean rating; ``b_c`` is set by
:func:`calibrate`: on a fixed calibration population it measures each column's split-half
reliability of the 15-rater mean and moves ``b_c`` (secant steps on logit reliability vs log
slope, which is linear while the sigmoid is) until all 40 are within ``tol`` of their targets.
The constants live in ``calibration.json`` beside this module, read once at import.

Randomness comes from :func:`~facexai.synth.factors.rng_for` on ``STREAM_RATERS``: the panel
(bias and noise level of each rater) from a key that depends only on the seed, and the rating
noise of image ``i`` from key ``i``, so the ratings of an image do not depend on which other
images are rated. Raters are drawn row by row, so the first ``k`` raters of a larger panel are the
panel of size ``k``. Noise levels are scaled so that the first :data:`N_RATERS` raters of every
column have a mean noise variance of exactly ``RATER_NOISE ** 2`` (otherwise the luck of the panel
draw moves a column's reliability by about +-0.04 from one seed to the next).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import stats
from .pairs import ATTRIBUTE_COLUMNS, FACTOR_NAMES, FACTORS, PAIR_TABLE, factor_vector
from .factors import STREAM_RATERS, FaceParams, rng_for

N_RATERS = 15              #: raters per column in the database
RATER_NOISE = 1.5          #: typical SD of one rater's rating around the panel consensus
RATER_NOISE_SPREAD = 0.3   #: log-SD of the noise level across raters (some raters are sloppier)
RATER_BIAS_SD = 0.6        #: SD of leniency across raters, rating points
HALO_PAIR = "trustworthy"  #: the pair whose drivers define the valence impression ``w_V``
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
_PANEL_KEY = 2 ** 40       # generator key of the panel: depends on the seed only, never an image
_NAMES = list(ATTRIBUTE_COLUMNS)


def _structure() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column: own weights ``s_c w_p`` (40 x F), the halo direction ``w_V``, the intercept
    ``a_c``, the target reliability, and the pair of each column."""
    own, pair_of = np.zeros((40, len(FACTORS))), np.empty(40, dtype=int)
    a, target = np.empty(40), np.empty(40)
    for k, pair in enumerate(PAIR_TABLE):
        for col, sign, center, rel in zip((pair.attribute, pair.antonym), (1.0, -1.0),
                                          pair.center, pair.reliability):
            c = _NAMES.index(col)
            for name, w in pair.drivers:
                own[c, FACTOR_NAMES.index(name)] = sign * w
            s0 = (center - 1) / 8
            a[c], target[c], pair_of[c] = np.log(s0 / (1 - s0)), rel, k
    halo = own[_NAMES.index(HALO_PAIR)].copy()
    return own, halo, a, target, pair_of


OWN_WEIGHTS, HALO_WEIGHTS, _A, TARGET_RELIABILITY, _PAIR_OF_COL = _structure()
assert sorted(_PAIR_OF_COL) == sorted(list(range(20)) * 2), "every pair must own exactly two columns"


def load_calibration(path: Path | str = CALIBRATION_FILE) -> dict:
    """The stored constants: ``halo`` and ``slope`` (column -> value) and how they were made."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = {k for k in ("halo", "slope") for c in _NAMES if c not in data.get(k, {})}
    if missing:
        raise ValueError(f"{path}: incomplete calibration ({sorted(missing)})")
    return data


_CAL = load_calibration()
HALO = np.array([_CAL["halo"][c] for c in _NAMES])      #: h_c, ATTRIBUTE_COLUMNS order
_B = np.array([_CAL["slope"][c] for c in _NAMES])


def column_weights(halo: np.ndarray | None = None) -> np.ndarray:
    """``W`` (40 x len(FACTORS)): each column's weights on the standardised factors."""
    h = HALO if halo is None else np.asarray(halo, dtype=float)
    return OWN_WEIGHTS + h[:, None] * HALO_WEIGHTS[None, :]


W = column_weights()  #: the column weights in use


# --------------------------------------------------------------------------------------------
# Rating
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ratings:
    """Simulated ratings of N images.

    Attributes
    ----------
    raw : ndarray of int8, shape (N, 40, n_raters)
        Integer ratings 1..9, columns in ATTRIBUTE_COLUMNS order (the "All Data" sheet).
    means : DataFrame (N x 40)
        Mean over raters (the "Final Values" sheet), indexed by image index.
    sds : DataFrame (N x 40)
        Sample SD over raters (the "StDev Values" sheet).
    expected : DataFrame (N x 40)
        Noise-free mean rating ``m`` (an infinite unbiased panel, before rounding): the truth a
        perfect model of the panel would approach.
    """

    raw: np.ndarray
    means: pd.DataFrame
    sds: pd.DataFrame
    expected: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (image, attribute, rater) with the integer rating."""
        n, c, r = self.raw.shape
        idx = pd.MultiIndex.from_product([self.means.index, ATTRIBUTE_COLUMNS, range(r)],
                                         names=["image", "attribute", "rater"])
        return pd.DataFrame({"rating": self.raw.reshape(-1)}, index=idx).reset_index()

    def reliability(self, n_splits: int = 50, seed: int = 0) -> pd.Series:
        """Split-half reliability of each column (see :func:`split_half_reliability`)."""
        return split_half_reliability(self.raw, n_splits=n_splits, seed=seed)


def check_indices(indices: Iterable[int] | None, n: int) -> np.ndarray:
    """Image indices as an int array of length ``n`` (default ``0..n-1``), checked."""
    idx = np.arange(n) if indices is None else np.asarray(list(indices), dtype=np.int64)
    if idx.shape != (n,):
        raise ValueError(f"indices has {idx.size} entries for {n} faces")
    if n and idx.min() < 0:
        raise ValueError("indices must be non-negative")
    return idx


def _panel(seed: int, n_raters: int) -> tuple[np.ndarray, np.ndarray]:
    """Bias and noise SD of each rater, shape ``(n_raters, 40)`` each (nested across sizes)."""
    rows = max(n_raters, N_RATERS)
    draw = rng_for(seed, _PANEL_KEY, STREAM_RATERS).standard_normal((rows, 2, 40))
    level = np.exp(RATER_NOISE_SPREAD * draw[:, 1])
    level /= np.sqrt(np.mean(level[:N_RATERS] ** 2, axis=0))  # the standard panel's mean var = 1
    return RATER_BIAS_SD * draw[:n_raters, 0], RATER_NOISE * level[:n_raters]


def _noise(seed: int, idx: np.ndarray, n_raters: int) -> np.ndarray:
    """Standard normal rating noise, shape ``(N, n_raters, 40)``: image ``k`` from key ``k``."""
    eps = np.empty((len(idx), n_raters, 40))
    for row, k in enumerate(idx):
        eps[row] = rng_for(seed, int(k), STREAM_RATERS).standard_normal((n_raters, 40))
    return eps


def _expected(x: np.ndarray, slope: np.ndarray = _B, weights: np.ndarray = W) -> np.ndarray:
    return 1 + 8 / (1 + np.exp(-(_A + slope * (x @ weights.T))))


def _integer_ratings(m, bias, sd, eps, rater_noise: float = 1.0) -> np.ndarray:
    ratings = np.clip(np.rint(m[:, None, :] + bias + rater_noise * sd * eps), 1, 9)
    return np.ascontiguousarray(ratings.transpose(0, 2, 1)).astype(np.int8)


def rate_factors(x: np.ndarray, seed: int, indices: Iterable[int] | None = None,
                 n_raters: int = N_RATERS, rater_noise: float = 1.0) -> Ratings:
    """Rate faces given their standardised factor vectors (see :func:`rate`).

    Parameters
    ----------
    x : ndarray, shape (N, len(FACTORS))
        Output of :func:`~facexai.synth.attributes.factor_vector` (possibly edited, to move one
        factor alone).
    seed : int
        Dataset seed; with ``indices`` it fixes every random draw.
    indices : iterable of int, optional
        Image index of each row (default ``0..N-1``); image ``i`` is rated identically in any batch.
    n_raters : int
        Raters per column (15 in the database), at least 2.
    rater_noise : float
        Multiplier of every rater's noise SD: 0 gives raters who differ only by leniency.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(FACTORS):
        raise ValueError(f"x must have shape (N, {len(FACTORS)}), got {x.shape}")
    if n_raters < 2:
        raise ValueError(f"n_raters must be at least 2 (for SDs and split halves), got {n_raters}")
    if rater_noise < 0:
        raise ValueError(f"rater_noise must be >= 0, got {rater_noise}")
    idx = check_indices(indices, len(x))
    m = _expected(x)
    raw = _integer_ratings(m, *_panel(seed, n_raters), _noise(seed, idx, n_raters), rater_noise)
    index = pd.Index(idx, name="image")
    frame = lambda a: pd.DataFrame(a, index=index, columns=_NAMES)  # noqa: E731
    return Ratings(raw=raw, means=frame(raw.mean(axis=2)), sds=frame(raw.std(axis=2, ddof=1)),
                   expected=frame(m))


def rate(params_list: Sequence[FaceParams], seed: int, indices: Iterable[int] | None = None,
         n_raters: int = N_RATERS, rater_noise: float = 1.0) -> Ratings:
    """Rate faces on the 40 attribute columns with a simulated panel.

    Parameters
    ----------
    params_list : sequence of FaceParams
        The faces (no rendering needed: raters see the generator factors).
    seed : int
        Dataset seed: fixes the panel and, with ``indices``, every per-image draw.
    indices : iterable of int, optional
        Image index of each face (default ``0..N-1``). Rating image ``i`` alone gives the same
        result as rating it in any batch.
    n_raters : int
        Raters per column; the database has 15 on the attribute and another 15 on the antonym.
    rater_noise : float
        Multiplier of every rater's noise SD (1 = the default panel, 0 = noiseless raters).

    Returns
    -------
    Ratings
    """
    return rate_factors(factor_vector(params_list), seed, indices, n_raters, rater_noise)


# --------------------------------------------------------------------------------------------
# Reliability
# --------------------------------------------------------------------------------------------

def _as_raw(raw) -> tuple[np.ndarray, list | None]:
    a = np.asarray(raw.raw if isinstance(raw, Ratings) else raw, dtype=float)
    return a, (_NAMES if a.ndim == 3 and a.shape[1] == 40 else None)


def split_half_reliability(raw: np.ndarray | Ratings, n_splits: int = 50, seed: int = 0) -> pd.Series:
    """Spearman-Brown corrected split-half reliability of the rater mean, per column: the
    fraction of the full-panel mean's variance that is consensus rather than rater noise.

    :func:`facexai.stats.split_half_reliability` (halves of 7 and 8 of 15 raters; missing ratings
    left out), indexed by ATTRIBUTE_COLUMNS when C == 40, else by column number.
    """
    a, columns = _as_raw(raw)
    return stats.split_half_reliability(a, n_splits=n_splits, seed=seed, columns=columns)


def noise_ceiling(raw: np.ndarray | Ratings, n_splits: int = 50, seed: int = 0) -> pd.Series:
    """Highest Pearson r any predictor can expect against the panel means: sqrt(reliability)
    (:func:`facexai.stats.noise_ceiling`, indexed as :func:`split_half_reliability`)."""
    a, columns = _as_raw(raw)
    return stats.noise_ceiling(a, n_splits=n_splits, seed=seed, columns=columns)


# --------------------------------------------------------------------------------------------
# Calibrate and measure
# --------------------------------------------------------------------------------------------

CALIBRATION_SEED = 20250     #: seed of the calibration population (faces and panel)
CALIBRATION_FACES = 40000    #: its size: large, so the measured reliabilities are nearly exact


def calibration_population(n_faces: int = CALIBRATION_FACES, seed: int = CALIBRATION_SEED
                           ) -> np.ndarray:
    """Factor vectors of ``n_faces`` faces of :func:`~facexai.synth.generate.sample_face`
    (CK+-like, neutral-heavy expression mix), the population the constants are set on."""
    from .generate import sample_face

    return factor_vector([sample_face(seed, i) for i in range(n_faces)])


def calibrate_slopes(x: np.ndarray, seed: int, halo: np.ndarray | None = None, tol: float = 0.005,
                     max_iter: int = 30, n_splits: int = 20) -> tuple[np.ndarray, pd.Series]:
    """Slopes ``b_c`` that give every column its target split-half reliability on ``x``.

    Calibrate and measure: rate ``x`` (fixed panel and noise of ``seed``), measure the 40
    reliabilities, move each column's ``log b_c`` by a secant step on ``logit(reliability)``
    (slope 2 to start: reliability = k b^2 / (k b^2 + noise) while the sigmoid is linear), and
    repeat until every column is within ``tol``. Returns the slopes and the last measurement.
    """
    weights = column_weights(halo)
    bias, sd = _panel(seed, N_RATERS)
    eps = _noise(seed, np.arange(len(x)), N_RATERS)
    target = TARGET_RELIABILITY
    logit = lambda r: np.log(np.clip(r, 1e-3, 0.999) / (1 - np.clip(r, 1e-3, 0.999)))  # noqa: E731
    z_sd = (x @ weights.T).std(axis=0)
    log_b = np.log(0.5 / z_sd)
    prev = None
    for _ in range(max_iter):
        raw = _integer_ratings(_expected(x, np.exp(log_b), weights), bias, sd, eps)
        rel = split_half_reliability(raw, n_splits=n_splits).to_numpy()
        if np.all(np.abs(rel - target) <= tol):
            break
        gain = np.full(40, 2.0)
        if prev is not None:
            d_log_b, d_logit = log_b - prev[0], logit(rel) - logit(prev[1])
            ok = (np.abs(d_log_b) > 1e-9) & (d_logit / np.where(d_log_b == 0, 1, d_log_b) > 0.2)
            gain[ok] = (d_logit / np.where(ok, d_log_b, 1))[ok]
        prev = (log_b.copy(), rel)
        log_b = log_b + np.clip((logit(target) - logit(rel)) / gain, -1.0, 1.0)
    return np.exp(log_b), pd.Series(rel, index=_NAMES, name="reliability")
