"""Paper 3's non-deep baselines, on :mod:`facexai.baselines`.

[P3] ``Memory/Geometric.ipynb``: an RBF ``SVR`` on standardised colour-histogram (8 x 8 x 8 RGB
bins here; the code's are not recorded), uniform LBP (P = 24, R = 3) and HOG features (128 x 128 px,
8 orientations, 16-px cells, 3 x 3-cell blocks). This study adds ridge regressions on the landmark
geometry, with landmarks as noisy as an annotator's (``landmarks``) and exact (``landmarks_exact``,
a ceiling). Fitted on train and scored on test; the SVRs keep the code's scikit-learn defaults
(``C = 1``, ``gamma="scale"``), the ridges choose ``alpha`` per attribute on validation.
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

from .. import baselines as core
from ..ratings import AttributeData

__all__ = ["BASELINES", "run_baselines"]

#: The paper's baselines and the landmark ones (``landmarks``: jitter of SD 0.03 inter-ocular
#: distances, seed 0, unless :func:`run_baselines` says otherwise), by their table names.
_CODE_SVR = dict(model="svr", grid=(1.0,))  # Geometric.ipynb's SVR(kernel="rbf"): C = 1
BASELINES: dict[str, core.Baseline] = {
    "hist_svr": core.Baseline(core.image_features(core.color_histogram, bins=8), **_CODE_SVR),
    "lbp_svr": core.Baseline(core.image_features(core.lbp_histogram, P=24, R=3.0), **_CODE_SVR),
    "hog_svr": core.Baseline(core.image_features(core.hog, orientations=8, cell=16, block=3,
                                                 size=128), **_CODE_SVR),
    "landmarks": core.Baseline(partial(core.landmark_features, noise=0.03), "ridge"),
    "landmarks_exact": core.Baseline(core.landmark_features, "ridge"),
}


def run_baselines(data: AttributeData, names: Sequence[str] = tuple(BASELINES), *,
                  landmark_noise: float = 0.03, seed: int = 0) -> dict[str, core.BaselineResult]:
    """Fit the baselines ``names`` (keys of :data:`BASELINES`; ``landmarks`` with annotator noise
    of SD ``landmark_noise`` inter-ocular distances, seeded) (:func:`core.run_baselines`)."""
    bad = [n for n in names if n not in BASELINES]
    if bad:
        raise ValueError(f"baselines: unknown {bad}; choose from {tuple(BASELINES)}")
    chosen = {n: BASELINES[n] for n in names}
    if "landmarks" in chosen:
        chosen["landmarks"] = core.Baseline(
            partial(core.landmark_features, noise=landmark_noise, seed=seed), "ridge")
    return core.run_baselines(data, chosen)
