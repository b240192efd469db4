"""Paper 3's Grad-CAM protocol (facexai.paper3.heatmaps): what the paper's explanation notebook fed
the network, the normalisation check against numpy, and the section's key numbers. The machinery is
facexai.heatmaps' (tests/test_heatmaps.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai.models import tiny_cnn
from facexai.paper3 import heatmaps
from facexai.paper3 import results as R
from facexai.regions import region_label_maps
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 32


class _Fitted:
    def __init__(self, nets: dict):
        self.nets = nets      # attribute -> (module, output index, cam layer)

    def explainable(self, attribute):
        return self.nets[attribute]


def test_unnormalised_tensor_is_to_tensor():
    images = np.random.default_rng(0).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    x = heatmaps.unnormalised_tensor(images)
    assert x.shape == (2, 3, 5, 4)
    assert float(x[1, 2, 3, 1]) == pytest.approx(images[1, 3, 1, 2] / 255)


def test_normalisation_check_against_numpy():
    labels = region_label_maps(np.stack([landmarks(sample_face(0, i), SIZE) for i in range(3)]),
                               SIZE)
    torch.manual_seed(2)
    net = tiny_cnn(2, in_channels=3, input_size=SIZE).float()
    fitted = _Fitted({"happy": (net, 1, "4")})
    images = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    x = (heatmaps.unnormalised_tensor(images) - 0.5) / 0.25
    ratings = np.array([2.0, 5.0, 3.5])
    check = heatmaps.normalisation_check(fitted, x, images, ratings, "happy", labels)
    with torch.no_grad():
        pred = net(x)[:, 1].numpy()
        pred_raw = net(heatmaps.unnormalised_tensor(images))[:, 1].numpy()
    assert check["shift"] == pytest.approx(float(np.mean(pred_raw - pred)), rel=1e-6)
    assert check["r"] == pytest.approx(np.corrcoef(pred, ratings)[0, 1], abs=1e-12)
    assert check["r_raw"] == pytest.approx(np.corrcoef(pred_raw, ratings)[0, 1], abs=1e-12)
    assert list(check["table"].index) == list(heatmaps.METHODS)
    assert list(check["table"].columns) == ["map Spearman (raw vs normalised)",
                                            "mass accuracy, normalised", "mass accuracy, raw"]


def test_key_numbers_read_the_summary():
    rows = [dict(attribute=a, method=m, sign=s, ground_truth=t, mass_accuracy=0.5, chance=0.25,
                 verdict="above chance" if a == "happy" else "not above chance", profile_r=0.1,
                 lift=0.2)
            for a in ("happy", "calm") for m in heatmaps.METHODS for s in (1, -1)
            for t in ("driving", "primary")]
    summary = pd.DataFrame(rows)
    out = heatmaps.key_numbers(summary, "gradcam", 1, summary.iloc[:0])
    assert out[R.GRADCAM_ABOVE_CHANCE.part("primary")] == 1
    assert out[R.MAPS_ABOVE_CHANCE_PRIMARY] == 4 and out[R.MAPS_SCORED_PRIMARY] == 8
    assert out[R.GRADCAM_MASS.part("driving")] == pytest.approx(0.5)
    assert out[R.FINER_ABOVE_CHANCE_PRIMARY] == 0
