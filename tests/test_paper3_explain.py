"""Paper 3's Grad-CAM protocol (facexai.paper3.heatmaps): what the paper's explanation notebook fed
the network, the normalisation check against numpy, and the section's key numbers. The machinery is
facexai.heatmaps' (tests/test_heatmaps.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facexai.heatmaps import FINER
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
                                            "mass accuracy, normalised", "mass accuracy, raw",
                                            "maps compared", "undefined Spearman"]


def test_key_numbers_read_the_summary():
    verdict = {True: "above the face-uniform map", False: "not different"}
    rows = [dict(attribute=a, map=m, sign=s, ground_truth=t, mass=0.5, face_chance=0.25,
                 maps=10, empty=1 if m == "gradcam" else 0,
                 verdict=verdict[a == "happy" or m == heatmaps.POSITIVE])
            for a in ("happy", "calm") for m, signs in (("gradcam", ("high", "low")),
                                                        (FINER, ("high",)),
                                                        (heatmaps.POSITIVE, ("-",)),
                                                        (heatmaps.NEGATIVE, ("-",)))
            for s in signs for t in ("derived", "primary")]
    agreement = pd.DataFrame([dict(map="gradcam", sign="high", spearman=0.3, lo=0.1, hi=0.5,
                                   defined=8, undefined=2)])
    out = heatmaps.key_numbers(pd.DataFrame(rows), agreement)
    above = R.GRADCAM_ABOVE_CHANCE.part("derived")
    assert out[above] == 1 and out[R.GRADCAM_ABOVE_CHANCE.part("primary")] == 1
    assert out[above.control("positive")] == 2 and out[above.control("negative")] == 1
    assert out[R.GRADCAM_MASS.part("derived")] == pytest.approx(0.5)
    assert out[R.GRADCAM_FACE_CHANCE.part("derived")] == pytest.approx(0.25)
    assert out[R.FINER_ABOVE_CHANCE.part("derived")] == 1
    assert out[R.N_EMPTY_MAPS] == 2 and out[R.N_EMPTY_MAPS.part("all")] == 4
    assert out[R.MAPS_SCORED] == 6 and out[R.MAPS_ABOVE_CHANCE] == 3
    assert out[R.GRADCAM_MODEL_TRUTH] == pytest.approx(0.3)
    assert out[R.GRADCAM_MODEL_TRUTH.part("undefined")] == 2
    assert R.GRADCAM_MODEL_TRUTH.part("finer") not in out
