"""Paper 3's non-deep baselines, on :mod:`facexai.baselines`.

[P3] ``Memory/Geometric.ipynb`` fits an RBF ``SVR`` on standardised scikit-image features: a
colour histogram (8 x 8 x 8 RGB bins here; the code's settings are not recorded), a uniform LBP
histogram (P = 24, R = 3) and HOG (image resized to 128 x 128, 8 orientations, 16 x 16-pixel
cells, 3 x 3-cell blocks). This study adds a ridge regression on the landmark geometry. Each is
fitted on the training split, its hyper-parameter (``C`` or ``alpha``) chosen per attribute on
the validation split, and reported on the test split.
"""
from __future__ import annotations

from typing import Sequence

from .. import baselines as core
from ..ratings import AttributeData

__all__ = ["BASELINES", "run_baselines"]

#: The paper's baselines (and the landmark one), by the name the notebooks and tables use.
BASELINES: dict[str, core.Baseline] = {
    "hist_svr": core.Baseline(core.image_features(core.color_histogram, bins=8), "svr"),
    "lbp_svr": core.Baseline(core.image_features(core.lbp_histogram, P=24, R=3.0), "svr"),
    "hog_svr": core.Baseline(core.image_features(core.hog, orientations=8, cell=16, block=3,
                                                 size=128), "svr"),
    "landmarks": core.Baseline(core.landmark_features, "ridge"),
}


def run_baselines(data: AttributeData, names: Sequence[str] = tuple(BASELINES)
                  ) -> dict[str, core.BaselineResult]:
    """Fit each of the baselines ``names`` (keys of :data:`BASELINES`) on ``data``
    (:func:`facexai.baselines.run_baselines`)."""
    bad = [n for n in names if n not in BASELINES]
    if bad:
        raise ValueError(f"baselines: unknown {bad}; choose from {tuple(BASELINES)}")
    return core.run_baselines(data, {n: BASELINES[n] for n in names})
