"""Paper 1's KDEF section: the twin's framing reproduced for counterfactual faces, the accuracy
and confusion summaries, the maps over seeds and their IoU table (no training)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facexai import au_response, au_saliency, datasets, views
from facexai.datasets import kdef as kdef_format
from facexai.paper1 import kdef as K, results as R
from facexai.paper1.protocol import ClassData
from facexai.synth.render import render_with_landmarks

TWIN = dict(n_identities=2, seed=3, render_size=64)
SIZE = 48


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A two-person KDEF twin (straight-ahead only), loaded at SIZE as paper 1 loads it."""
    root = tmp_path_factory.mktemp("kdef")
    kdef_format.write_twin(root, angles=("S",), **TWIN)
    return datasets.load("kdef", root, size=SIZE, angles=("S",), cache=False)


def test_kdef_view_frames_a_rendering_as_the_loader_frames_the_twin(twin):
    params, table = K.twin_faces(TWIN["n_identities"], TWIN["seed"],
                                 expressions=tuple(kdef_format.EXPRESSIONS))
    assert len(params) == len(twin.images) == 2 * 2 * 7
    view = views.kdef_view(SIZE)
    framed = []
    for p in params:
        rgb, pts = render_with_landmarks(p, TWIN["render_size"])
        framed.append(view(rgb, pts)(rgb))
    loaded = twin.images[[twin.files.index(f) for f in table["file"]]]
    diff = np.abs(np.stack(framed).astype(int) - loaded.astype(int))
    # the twin went through a JPEG (quality 95) at 562 x 762 before the loader shrank it
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 6
    # negative control: the same faces paired with another person's images differ far more
    other = np.abs(np.stack(framed).astype(int) - np.roll(loaded, 7, 0).astype(int))
    assert other.mean() > 10 * diff.mean()
    assert (table["label"].to_numpy() == twin.labels["label"].to_numpy()[
        [twin.files.index(f) for f in table["file"]]]).all()


def test_kdef_view_keeps_grey_images_grey():
    view = views.kdef_view(SIZE)
    cut = view(np.zeros((64, 64, 3), np.uint8), np.zeros((68, 2)))
    assert cut(np.zeros((64, 64, 3), np.uint8)).shape == (SIZE, SIZE, 3)
    mask = np.zeros((64, 64), np.uint8)
    mask[:32] = 255
    out = cut(mask)
    assert out.shape == (SIZE, SIZE) and out[2, 2] == 255 and out[-3, -3] == 0


def test_expression_masks_are_near_empty_for_neutral_and_inside_the_face():
    params, table = K.twin_faces(2, 3, subjects=["F01"], expressions=("NE", "HA", "SU"))
    assert set(table["subject"]) == {"F01"} and len(params) == 2 * 3
    pairs = au_response.expression_pairs(params, views.kdef_view(SIZE), render_size=64,
                                         threshold=0.01)
    assert pairs.on.shape == (6, 1, SIZE, SIZE, 3) and pairs.masks.shape == (6, 1, SIZE, SIZE)
    sizes = pairs.masks[:, 0].sum((1, 2))
    neutral = (table["expression"] == "NE").to_numpy()
    # a neutral KDEF face keeps faint AU noise: a few pixels, against an expression's region
    assert sizes[neutral].max() < 0.05 * sizes[~neutral].min()
    inside = (pairs.masks[:, 0] & pairs.face).sum() / pairs.masks[:, 0].sum()
    assert inside > 0.8


def test_twin_faces_names_a_bad_expression_or_angle():
    with pytest.raises(ValueError, match="expressions"):
        K.twin_faces(2, 0, expressions=("XX",))
    with pytest.raises(ValueError, match="angle"):
        K.twin_faces(2, 0, angle="UP")


class _Stub:
    """A stand-in for a trained BaseFit: predicts a fixed class per image row."""

    def __init__(self, predicted):
        self.predicted = np.asarray(predicted)
        self.model, self.from_cache = None, True
        self.history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [2.0, 1.0, 1.5],
                                     "best": [False, True, False]})

    def predict(self, images):
        rows = images[:, 0, 0, 0].astype(int)           # each image carries its row number
        return np.eye(7)[self.predicted[rows]]


def _toy_data(n_per_role=14):
    n = 3 * n_per_role
    images = np.zeros((n, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    labels = pd.DataFrame({"label": np.arange(n) % 7, "expression": np.array(
        list(kdef_format.EXPRESSIONS))[np.arange(n) % 7], "series": "A"})
    roles = np.repeat([1, 2, 3], n_per_role).astype(np.int8)
    subjects = np.repeat(["F01", "M01", "F02"], n_per_role)
    return ClassData("kdef", images, labels, roles, {"label": tuple("abcdefg")}, True,
                     subjects=subjects)


def test_accuracy_table_chance_and_confusion_by_hand():
    data = _toy_data()
    y = data.labels["label"].to_numpy()
    wrong = (y + 1) % 7
    fits = {("age", "whole"): [_Stub(y), _Stub(y)],
            ("scratch", "whole"): [_Stub(wrong), _Stub(np.where(np.arange(len(y)) % 2, y, wrong))]}
    assert K.chance_rate(data) == pytest.approx(2 / 14)
    t = K.accuracy_table(data, fits)
    assert t.loc["age_whole", "accuracy"] == 1.0 and t.loc["age_whole", "above_chance"]
    half = np.mean([0.0, (np.arange(28, 42) % 2 == 1).mean()])
    assert t.loc["scratch_whole", "accuracy"] == pytest.approx(half)
    assert t.attrs["best"] == "age_whole" and t.loc["age_whole", "train_loss"] == 1.0
    control = t.loc["age_whole (shuffled labels)"]
    assert control["accuracy"] < 0.6 and not control["above_chance"]
    c = K.confusion(data, fits["age", "whole"])
    assert c.to_numpy().sum() == 2 * 14 and (np.diag(c.to_numpy()) == c.to_numpy().sum(1)).all()


def test_describe_subset_counts_people_and_expressions():
    t = K.describe_subset(_toy_data())
    assert list(t.index) == ["train", "validation", "test"]
    assert (t["people"] == 1).all() and (t["images"] == 14).all() and (t["HA"] == 2).all()


def test_fit_expressions_needs_a_base_model():
    with pytest.raises(ValueError, match="bases"):
        K.fit_expressions(_toy_data(), {})
    assert K.SOURCE_MODES == (("age", "dense"), ("age", "whole"), ("gender", "dense"),
                              ("gender", "whole"), ("scratch", "whole"))


def test_expression_maps_stack_one_map_per_seed_as_saliency_maps_gives():
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 8 * 8, 7)).eval() for _ in range(2)]
    fits = {("age", "dense"): [type("F", (), {"model": m})() for m in nets]}
    images = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3)).astype(np.uint8)
    maps = K.expression_maps(fits, images, [1, 2, 3], ["gradient"])
    m = maps["age_dense", "gradient"]
    assert m.shape == (2, 3, 8, 8)
    from facexai.ratings import to_tensor
    direct = au_saliency.saliency_maps(nets[1], to_tensor(images), torch.tensor([1, 2, 3]),
                                       ["gradient"])["gradient"]
    np.testing.assert_allclose(m[1], direct)


def test_iou_table_over_seeds_and_the_positive_control():
    rng = np.random.default_rng(0)
    masks = np.zeros((10, 12, 12), bool)
    masks[:, 2:5, 3:9] = True
    face = np.zeros((10, 12, 12), bool)
    face[:, 1:11, 1:11] = True
    images = rng.integers(0, 255, (10, 12, 12, 3)).astype(np.uint8)
    controls = K.control_maps(images, masks, face, seed=0)
    noisy = np.stack([masks + rng.random(masks.shape) * 0.9 for _ in range(3)])
    t = au_saliency.iou_table({"seeds": noisy, "one seed": noisy[0], **controls}, masks, face,
                              n_boot=200)
    assert t.loc["mask, blurred (positive control)", "iou"] == 1.0
    chance = t.loc["face-uniform (chance)", "iou"]
    assert t.loc["random", "lo"] < chance * 2 < t.loc["seeds", "lo"]
    one = au_saliency.topk_iou(noisy[0], masks).mean()
    assert t.loc["one seed", "iou"] == pytest.approx(one)
    per_seed = np.mean([au_saliency.topk_iou(s, masks).mean() for s in noisy])
    assert t.loc["seeds", "iou"] == pytest.approx(per_seed)
    assert t.loc["seeds", "lo"] <= per_seed <= t.loc["seeds", "hi"]


def test_accuracy_text_and_recorded_results_read_the_tables():
    data = _toy_data()
    y = data.labels["label"].to_numpy()
    fits = {("age", "whole"): [_Stub(y), _Stub(y)], ("age", "dense"): [_Stub((y + 1) % 7)] * 2}
    for f in fits["age", "dense"]:
        f.history = f.history.assign(train_loss=np.log(7))      # stuck on the plateau
    accuracy = K.accuracy_table(data, fits)
    text = K.accuracy_text(accuracy, fits, 3.0)
    assert "It holds for 1 of 2 (age_whole)" in text and text.endswith(": age_dense.")
    rows = ["age_whole: m", "age_dense: m", "random", "input |x|", "edge (Sobel)",
            "mask, blurred (positive control)", "face-uniform (chance)"]
    iou = pd.DataFrame({"iou": [0.5, 0.1, 0.1, 0.2, 0.3, 0.9, 0.15],
                        "lo": [0.4, 0.05, 0.05, 0.1, 0.2, 0.8, np.nan],
                        "hi": [0.6, 0.2, 0.2, 0.3, 0.4, 1.0, np.nan]}, index=rows)
    iou["above chance"] = iou["lo"] > 0.15
    scores = K.AUScores(["F02"], pd.DataFrame(), None, {("age_whole", "m"): 0,
                                                         ("age_dense", "m"): 0}, iou)
    out = K.recorded(accuracy, scores, "m")
    assert out[R.KDEF_IOU.part("age_whole_lo")] == 0.4 and out[R.KDEF_IOU_UNIFORM] == 0.15
    assert out[R.KDEF_ACCURACY.part("age_whole")] == 1.0
    measured = K.measured_text(accuracy, scores, "m")
    assert "from 0.10 to 0.50" in measured and "above it (lower end of the interval): " \
        "age_whole: m." in measured
