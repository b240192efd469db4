"""Receptive fields against the gradient's support, top patches, projections, AU association."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facexai.filters import (au_association, crop_patches, max_activations, project_top,
                             receptive_fields, top_activations)
from torchvision.models.vgg import cfgs, make_layers

from facexai.models import zero_bias_cnn


def _support(model, layer_index, unit, size):
    """Input pixels the unit depends on: the gradient's support, with positive weights so nothing
    cancels, no ReLU so nothing is switched off, and average pooling (same geometry as max
    pooling, whose gradient would reach only one pixel per window)."""
    x = torch.ones(1, 1, size, size, requires_grad=True)
    a = model[:layer_index + 1](x)
    a[0, 0, unit[0], unit[1]].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    return rows.min().item(), cols.min().item(), rows.max().item() + 1, cols.max().item() + 1


def test_receptive_fields_match_the_gradient_support():
    net = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2, bias=False), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, stride=2, padding=0, bias=False))
    for m in net:
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    fields = receptive_fields(net)
    size = 40
    for idx, name in ((0, "0"), (2, "2"), (4, "4")):
        shape = net[:idx + 1](torch.zeros(1, 1, size, size)).shape[2:]
        for unit in ((shape[0] // 2, shape[1] // 2), (shape[0] // 2 + 1, shape[1] // 2 - 1)):
            top, left, bottom, right = fields[name].box(*unit)
            got = _support(net, idx, unit, size)
            assert got == (max(top, 0), max(left, 0), min(bottom, size), min(right, size)), name


def test_receptive_fields_of_the_paper_networks():
    f = receptive_fields(zero_bias_cnn())
    assert f["conv1"].size == 5 and f["conv2"].size == 14 and f["conv3"].size == 32
    assert f["conv3"].jump == 4 and "fc4" not in f
    vgg = receptive_fields(make_layers(cfgs["D"]))                 # VGG16 features only
    assert vgg["28"].size == 196 and vgg["30"].size == 212                      # conv5_3, pool5


def test_top_activations_crops_and_projection():
    torch.manual_seed(0)
    model = zero_bias_cnn(3, input_size=32, widths=(4, 6, 8), hidden=8).eval()
    x = torch.rand(10, 1, 32, 32)
    tops = top_activations(model, "relu2", x, k=3)
    values, positions = max_activations(model, "relu2", x)
    assert tops.values.shape == (6, 3) and tops.images.shape == (6, 3)
    for c in range(6):                     # the k largest per channel, one per image, descending
        np.testing.assert_allclose(tops.values[c], np.sort(values[:, c])[::-1][:3], rtol=1e-6)
        assert len(set(tops.images[c])) == 3
    patches = crop_patches(x[:, 0].numpy(), tops)
    assert patches.shape == (6, 3, 14, 14)
    c = 2
    top, left, _, _ = tops.field.box(*tops.positions[c, 0])
    i, j = max(top, 0), max(left, 0)
    assert patches[c, 0, i - top, j - left] == pytest.approx(float(x[tops.images[c, 0], 0, i, j]))
    proj = project_top(model, x, tops, channels=[0, 1])
    assert proj.shape == (2, 14, 14) and np.abs(proj).sum() > 0
    with pytest.raises(ValueError, match="no receptive field for 'fc4'"):
        top_activations(model, "fc4", x)


def test_au_association_finds_a_planted_detector():
    rng = np.random.default_rng(0)
    n = 300
    au = np.zeros((n, 3))
    au[:, 0] = rng.random(n) * (rng.random(n) < 0.4)          # AU0 present in 40 %
    au[:, 1] = rng.random(n) * (rng.random(n) < 0.5)
    acts = rng.normal(size=(n, 4))
    acts[:, 2] += 3 * au[:, 0]                                 # channel 2 detects AU0
    t = au_association(acts, au, n_permutations=100, seed=1, au_names=["AU0", "AU1", "AU2"])
    hit = t[(t.channel == 2) & (t.au == "AU0")].iloc[0]
    assert hit.r > 0.6 and hit.js_bits > 0.2
    assert hit.p_r == pytest.approx(1 / 101) and hit.p_r_fwer == pytest.approx(1 / 101)
    null = t[(t.channel != 2) & (t.au != "AU2")]
    assert (null.p_r_fwer > 0.05).all()                        # no false detector after correction
    assert t[t.au == "AU2"].js_bits.isna().all()               # never present: undefined
    same = au_association(acts, au, n_permutations=100, seed=1, au_names=["AU0", "AU1", "AU2"])
    assert t.equals(same)


def _emotion_confound(seed=0, n_seq=120):
    """Sequences of 4 emotions with 3 frames each; AU 0 comes with emotion 1 (90 %) and sometimes
    elsewhere (10 %), AU 1 is independent. Channel 0 copies the emotion (emotion == 1), channel 1
    copies AU 0, channel 2 is noise."""
    from facexai.filters import au_association  # noqa: F401

    rng = np.random.default_rng(seed)
    emotion = np.repeat(rng.integers(0, 4, n_seq), 3)
    seq = np.repeat(np.arange(n_seq), 3)
    p0 = np.where(emotion[::3] == 1, 0.9, 0.1)
    au = np.stack([np.repeat(rng.random(n_seq) < p0, 3), np.repeat(rng.random(n_seq) < 0.5, 3)],
                  1).astype(float)
    act = np.stack([(emotion == 1) + rng.normal(0, 0.1, len(emotion)),
                    au[:, 0] + rng.normal(0, 0.1, len(emotion)),
                    rng.normal(0, 1, len(emotion))], 1)
    return act, au, emotion, seq


def test_within_emotion_null_does_not_call_an_emotion_channel_an_au_detector():
    from facexai.filters import label_detectors

    act, au, emotion, seq = _emotion_confound()
    plain = au_association(act, au, n_permutations=200, seed=0)
    within = au_association(act, au, n_permutations=200, seed=0, strata=emotion, groups=seq)
    pair = lambda t, c, a: t[(t.channel == c) & (t.au == a)].iloc[0]  # noqa: E731
    # free permutation: the emotion channel looks like an AU-0 detector
    assert pair(plain, 0, 0)["p_r_fwer"] < 0.05
    # within emotion: it is not; the channel that copies AU 0 still is
    assert pair(within, 0, 0)["p_r_fwer"] > 0.05
    assert pair(within, 1, 0)["p_r_fwer"] < 0.05
    assert set(label_detectors(within)["channel"]) == {1}
    assert (within["q_r"] >= within["p_r"] - 1e-12).all()


def test_stratified_permutation_keeps_strata_and_moves_groups_whole():
    from facexai.filters import stratified_permutation

    strata = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    labels = np.array([10, 10, 20, 20, 30, 30, 40, 40])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        perm = stratified_permutation(strata, groups, rng)
        assert (strata[perm] == strata).all()
        moved = labels[perm]
        assert (moved[::2] == moved[1::2]).all()          # a group keeps one label
        seen.add(tuple(moved))
    assert len(seen) == 4                                  # 2 x 2 orders of the groups
    with pytest.raises(ValueError, match="one stratum"):
        stratified_permutation(np.array([0, 1]), np.array([5, 5]))


def test_planted_controls_separate_under_the_within_emotion_test():
    """The label test finds AU detectors among planted AU copies and none among emotion copies."""
    from facexai.filters import au_association, label_detectors, planted_activations

    rng = np.random.default_rng(0)
    emotion = np.repeat(np.arange(4), 30)
    au = np.stack([emotion == 1, rng.random(120) < 0.5, (emotion == 2) & (rng.random(120) < 0.5)],
                  1).astype(float)
    counts = {}
    for kind in ("au", "emotion"):
        act = planted_activations(au, emotion, kind, 6, noise=0.3, seed=1)
        table = au_association(act, au, n_permutations=200, strata=emotion, seed=2)
        counts[kind] = len(label_detectors(table))
    assert counts == {"au": 6, "emotion": 0}
    with pytest.raises(ValueError, match="kind"):
        planted_activations(au, emotion, "x", 2)
