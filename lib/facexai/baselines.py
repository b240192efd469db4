"""Non-deep baselines of attribute ratings: image features (colour histogram, LBP, HOG), landmark
geometry, and a regression per attribute on them, chosen on validation faces and scored on test
faces.

The features follow scikit-image's definitions (``local_binary_pattern(method="uniform")``,
``hog(..., block_norm="L2-Hys")``; scikit-image is not a dependency of this study, so they are
implemented here in NumPy/OpenCV and tested against hand-computed cases); the landmark geometry is
the pairwise distances of the 68 landmarks divided by the inter-ocular distance.

A :class:`Baseline` names a feature extractor of an :class:`facexai.ratings.AttributeData` and a
regression (:data:`MODELS`: an RBF ``SVR`` or a ridge); :func:`run_baselines` fits each
(:func:`fit_baseline`: one hyper-parameter per attribute chosen on the validation split).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from .ratings import ATTRIBUTES, AttributeData
from .stats import pearson_along

__all__ = ["MODELS", "Baseline", "BaselineResult", "annotator_landmarks", "color_histogram",
           "fit_baseline", "hog", "image_features", "landmark_features", "landmark_geometry", "lbp",
           "lbp_histogram", "run_baselines"]

#: The regressions a baseline may fit on its features.
MODELS = ("svr", "ridge")


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------

def _gray(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a.astype(np.uint8)), cv2.COLOR_RGB2GRAY)
    return a.astype(np.float64)


def color_histogram(img: np.ndarray, bins: int = 8) -> np.ndarray:
    """Joint RGB histogram with ``bins`` bins per channel, normalised to sum 1 (``bins**3``
    values)."""
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"color_histogram needs an (H, W, 3) image, got {a.shape}")
    q = (a.astype(np.int64) * bins) // 256
    codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    h = np.bincount(codes.ravel(), minlength=bins ** 3).astype(np.float64)
    return h / h.sum()


def lbp(img: np.ndarray, P: int = 8, R: float = 1.0) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (scikit-image ``method="uniform"``), 0..P+1.

    Each pixel is compared with ``P`` neighbours on a circle of radius ``R`` (bilinear
    interpolation, points outside the image read 0); a pattern with at most two 0/1 transitions
    around the circle gets its number of ones, any other ``P + 1``.
    """
    g = _gray(img)
    if P < 1 or R <= 0:
        raise ValueError(f"LBP needs P >= 1 and R > 0, got P={P}, R={R}")
    h, w = g.shape
    pad = int(np.ceil(R)) + 1
    gp = np.pad(g, pad, mode="constant")
    bits = np.empty((P, h, w), bool)
    for p in range(P):
        # scikit-image: rr = -R sin(2 pi p / P), cc = R cos(2 pi p / P), rounded to 5 decimals;
        # the offset is the same for every pixel, so the bilinear stencil is four shifted slices
        dr = np.round(-R * np.sin(2 * np.pi * p / P), 5) + pad
        dc = np.round(R * np.cos(2 * np.pi * p / P), 5) + pad
        r0, c0 = int(np.floor(dr)), int(np.floor(dc))
        fr, fc = dr - r0, dc - c0
        at = lambda i, j: gp[r0 + i:r0 + i + h, c0 + j:c0 + j + w]  # noqa: E731
        v = (at(0, 0) * (1 - fr) * (1 - fc) + at(0, 1) * (1 - fr) * fc
             + at(1, 0) * fr * (1 - fc) + at(1, 1) * fr * fc)
        bits[p] = v >= g - 1e-9  # interpolation round-off must not flip an equal neighbour
    ones = bits.sum(0)
    changes = (bits != np.roll(bits, 1, axis=0)).sum(0)
    return np.where(changes <= 2, ones, P + 1).astype(np.int64)


def lbp_histogram(img: np.ndarray, P: int = 8, R: float = 1.0) -> np.ndarray:
    """Normalised histogram of :func:`lbp` codes (``P + 2`` bins)."""
    codes = lbp(img, P, R)
    h = np.bincount(codes.ravel(), minlength=P + 2).astype(np.float64)
    return h / h.sum()


def hog(img: np.ndarray, orientations: int = 9, cell: int = 8, block: int = 3,
        size: int | None = None) -> np.ndarray:
    """Histogram of oriented gradients as scikit-image's ``hog(..., block_norm="L2-Hys")``.

    The gray image (resized to ``size`` x ``size`` first; None keeps it) gets
    central-difference gradients (0 on the border rows/columns); each ``cell`` x ``cell`` cell
    sums the gradient magnitudes into ``orientations`` unsigned-orientation bins (0-180 degrees)
    and divides by the cell's pixel count; blocks of ``block`` x ``block`` cells (stride one
    cell) are L2-normalised, clipped at 0.2 and normalised again. Returns the blocks flattened.
    """
    g = _gray(img)
    if size is not None:
        g = cv2.resize(g, (size, size), interpolation=cv2.INTER_LINEAR)
    h, w = g.shape
    ncy, ncx = h // cell, w // cell
    if ncy < block or ncx < block:
        raise ValueError(f"image {g.shape} too small for {block}x{block} blocks of {cell}-pixel "
                         "cells")
    gy, gx = np.zeros_like(g), np.zeros_like(g)
    gy[1:-1, :] = g[2:, :] - g[:-2, :]
    gx[:, 1:-1] = g[:, 2:] - g[:, :-2]
    mag = np.hypot(gx, gy)
    ang = np.rad2deg(np.arctan2(gy, gx)) % 180
    b = np.minimum((ang / (180 / orientations)).astype(int), orientations - 1)
    b = b[:ncy * cell, :ncx * cell]
    m = mag[:ncy * cell, :ncx * cell]
    cells = np.zeros((ncy, ncx, orientations))
    cy = np.repeat(np.arange(ncy), cell)[:, None].repeat(ncx * cell, 1)
    cx = np.repeat(np.arange(ncx), cell)[None, :].repeat(ncy * cell, 0)
    np.add.at(cells, (cy, cx, b), m)
    cells /= cell * cell
    eps = 1e-5
    out = []
    for y in range(ncy - block + 1):
        for x in range(ncx - block + 1):
            v = cells[y:y + block, x:x + block].ravel()
            v = v / np.sqrt((v ** 2).sum() + eps ** 2)
            v = np.minimum(v, 0.2)
            v = v / np.sqrt((v ** 2).sum() + eps ** 2)
            out.append(v)
    return np.concatenate(out)


# indices of the 68-point scheme's outer eye corners (iBUG 300-W: 36 and 45)
_EYE_CORNERS = (36, 45)


def landmark_geometry(landmarks: np.ndarray) -> np.ndarray:
    """Pairwise distances of the landmarks divided by the inter-ocular distance.

    ``landmarks`` (N, 68, 2) -> (N, 68 * 67 / 2); rows with unknown landmarks are NaN.
    """
    lm = np.asarray(landmarks, float)
    if lm.ndim != 3 or lm.shape[2] != 2 or lm.shape[1] <= max(_EYE_CORNERS):
        raise ValueError(f"landmarks must have shape (N, 68, 2), got {lm.shape}")
    iu = np.triu_indices(lm.shape[1], 1)
    d = np.linalg.norm(lm[:, :, None, :] - lm[:, None, :, :], axis=-1)[:, iu[0], iu[1]]
    iod = np.linalg.norm(lm[:, _EYE_CORNERS[0]] - lm[:, _EYE_CORNERS[1]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return d / iod[:, None]


def annotator_landmarks(landmarks: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    """Landmarks as noisy as a human annotator's: each coordinate of each landmark moved by
    independent Gaussian noise of SD ``sd`` times the face's inter-ocular distance (outer eye
    corners, the 300-W normalisation).

    Parameters
    ----------
    landmarks : ndarray (N, 68, 2)
        Exact landmarks (NaN rows stay NaN).
    sd : float
        Per-coordinate SD in units of the inter-ocular distance (>= 0; 0 returns the landmarks
        unchanged). The mean point-to-point error is then ``sd * sqrt(pi / 2)`` (about 1.25 sd).
    seed : int
        Seed of the noise.

    Returns
    -------
    ndarray (N, 68, 2)
    """
    lm = np.asarray(landmarks, float)
    if lm.ndim != 3 or lm.shape[2] != 2 or lm.shape[1] <= max(_EYE_CORNERS):
        raise ValueError(f"landmarks must have shape (N, 68, 2), got {lm.shape}")
    if not (np.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be a finite number >= 0, got {sd}")
    iod = np.linalg.norm(lm[:, _EYE_CORNERS[0]] - lm[:, _EYE_CORNERS[1]], axis=-1)
    noise = np.random.default_rng(seed).normal(size=lm.shape)
    return lm + sd * iod[:, None, None] * noise



# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

@dataclass
class BaselineResult:
    """Test r per attribute of one baseline, with the validation-chosen hyper-parameter
    (``notes``: the images used per split role, and timings)."""

    name: str
    test_r: pd.Series
    val_r: pd.Series
    chosen: pd.Series
    seconds: float
    n_features: int
    notes: dict = field(default_factory=dict)


def _rbf_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    d = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(d, 0))


def fit_baseline(name: str, features: np.ndarray, ratings: pd.DataFrame, split: np.ndarray, *,
                 model: str = "ridge", grid: Sequence[float] | None = None,
                 attributes: Sequence[str] | None = None) -> BaselineResult:
    """Fit one regression per attribute on ``split == "train"``, choose its hyper-parameter on
    ``"val"``, score ``"test"`` (Pearson r).

    Features are standardised with the training mean/SD. ``model="svr"``: an RBF ``SVR`` (gamma
    ``"scale"``, i.e. 1 / n_features on standardised features; the kernel is computed once and
    shared by the attributes) with ``C`` from ``grid`` (default 0.1, 1, 10); ``"ridge"``: a ridge
    regression with ``alpha`` from ``grid`` (default 10^-1..10^4). Images with non-finite features
    are left out; ``attributes`` default to all of :data:`facexai.ratings.ATTRIBUTES`.
    """
    from sklearn.linear_model import Ridge
    from sklearn.svm import SVR

    if model not in MODELS:
        raise ValueError(f"baseline {name!r}: model must be one of {MODELS}, got {model!r}")
    t0 = time.time()
    attributes = list(attributes or ATTRIBUTES)
    X = np.asarray(features, float)
    ok = np.isfinite(X).all(1)
    tr, va, te = (np.flatnonzero((split == s) & ok) for s in ("train", "val", "test"))
    if len(tr) < 3 or len(va) < 3 or len(te) < 3:
        raise ValueError(f"baseline {name!r}: too few images with features "
                         f"(train {len(tr)}, val {len(va)}, test {len(te)})")
    mu, sd = X[tr].mean(0), X[tr].std(0)
    keep = sd > 0
    Z = (X[:, keep] - mu[keep]) / sd[keep]
    Y = ratings[attributes].to_numpy(float)
    svr = model == "svr"
    grid = list(grid if grid is not None else ((0.1, 1.0, 10.0) if svr else np.logspace(-1, 4, 6)))
    val_r = np.full((len(grid), len(attributes)), np.nan)
    test_r = np.full((len(grid), len(attributes)), np.nan)
    if svr:
        gamma = 1.0 / Z.shape[1]
        k_tr = _rbf_kernel(Z[tr], Z[tr], gamma)
        k_va = _rbf_kernel(Z[va], Z[tr], gamma)
        k_te = _rbf_kernel(Z[te], Z[tr], gamma)
        for a, attr in enumerate(attributes):
            for g, c in enumerate(grid):
                m = SVR(kernel="precomputed", C=c).fit(k_tr, Y[tr, a])
                val_r[g, a] = pearson_along(m.predict(k_va), Y[va, a])
                test_r[g, a] = pearson_along(m.predict(k_te), Y[te, a])
    else:
        for g, alpha in enumerate(grid):
            m = Ridge(alpha=alpha).fit(Z[tr], Y[tr])
            val_r[g] = pearson_along(m.predict(Z[va]), Y[va], axis=0)
            test_r[g] = pearson_along(m.predict(Z[te]), Y[te], axis=0)
    best = np.nanargmax(np.where(np.isfinite(val_r), val_r, -np.inf), axis=0)
    cols = np.arange(len(attributes))
    return BaselineResult(
        name=name, test_r=pd.Series(test_r[best, cols], index=attributes, name=name),
        val_r=pd.Series(val_r[best, cols], index=attributes, name=name),
        chosen=pd.Series(np.asarray(grid)[best], index=attributes, name="C" if svr else "alpha"),
        seconds=time.time() - t0, n_features=int(Z.shape[1]),
        notes={"n_train": len(tr), "n_val": len(va), "n_test": len(te)})


def image_features(extract: Callable[..., np.ndarray], **options
                   ) -> Callable[[AttributeData], np.ndarray]:
    """A feature function of the data: ``extract(image, **options)`` of every image, stacked."""
    def features(data: AttributeData) -> np.ndarray:
        return np.stack([extract(img, **options) for img in data.images])
    return features


def landmark_features(data: AttributeData, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """:func:`landmark_geometry` of the data's landmarks, made as noisy as an annotator's by
    :func:`annotator_landmarks` when ``noise`` (SD in inter-ocular distances) is above 0."""
    lm = data.landmarks if noise == 0 else annotator_landmarks(data.landmarks, noise, seed)
    return landmark_geometry(lm)


@dataclass(frozen=True)
class Baseline:
    """A baseline: ``features(data) -> (N, F)`` and the regression fitted on them (:data:`MODELS`,
    with an optional hyper-parameter ``grid``; see :func:`fit_baseline`)."""

    features: Callable[[AttributeData], np.ndarray]
    model: str = "ridge"
    grid: Sequence[float] | None = None


def run_baselines(data: AttributeData, baselines: Mapping[str, Baseline]
                  ) -> dict[str, BaselineResult]:
    """Fit each baseline (name -> :class:`Baseline`) on ``data`` (:func:`fit_baseline`);
    ``seconds``: features and fit, ``notes["fit_seconds"]``: the fit."""
    out = {}
    for name, baseline in baselines.items():
        t0 = time.time()
        res = fit_baseline(name, baseline.features(data), data.ratings, data.split,
                           model=baseline.model, grid=baseline.grid)
        res.notes["fit_seconds"] = res.seconds
        res.seconds = time.time() - t0
        out[name] = res
    return out
