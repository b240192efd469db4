"""facexai.au_response and facexai.au_saliency: cases with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facexai import au_response as AR
from facexai import au_saliency as AS
from facexai import views


def _planted(n=20, a=4, c=5, seed=0):
    """Channel 0 responds to AU 1 only, channel 1 to every AU alike, the rest are noise."""
    rng = np.random.default_rng(seed)
    off = rng.normal(0, 1, (n, c))
    on = off[:, None, :] + rng.normal(0, 0.05, (n, a, c))
    on[:, 1, 0] += 2.0
    on[:, :, 1] += 2.0
    return off, on


def test_selectivity_finds_the_planted_detector_and_not_the_generalist():
    off, on = _planted()
    s = AR.au_selectivity(off, on, ["AU1", "AU2", "AU4", "AU5"], n_permutations=200,
                          n_boot=200, seed=1)
    ch = s.channels.set_index("channel")
    assert ch.loc[0, "selective"] and ch.loc[0, "au"] == "AU2"
    assert ch.loc[0, "margin_lo"] > 0
    # channel 1 responds to every AU: responsive, never selective
    assert ch.loc[1, "p_fwer"] < 0.05 and not ch.loc[1, "selective"]
    assert not ch.loc[[2, 3, 4], "selective"].any()
    # the effect is the mean change in SDs of the channel over all images
    sd = np.concatenate([off[:, 0], on[:, :, 0].ravel()]).std()
    assert s.pairs.query("channel == 0 and au == 'AU2'")["effect"].item() == pytest.approx(
        (on[:, 1, 0] - off[:, 0]).mean() / sd)


def test_selectivity_rejects_bad_shapes():
    off, on = _planted()
    with pytest.raises(ValueError, match="off must be"):
        AR.au_selectivity(off[:, :2], on, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="aus must"):
        AR.au_selectivity(off, on, ["a", "b"])


def test_poisson_binomial_tail_matches_binomial():
    from scipy.stats import binom

    p = np.full(12, 0.3)
    assert AR._poisson_binomial_sf(p, 7) == pytest.approx(binom.sf(6, 12, 0.3))
    assert AR._poisson_binomial_sf(p, 0) == pytest.approx(1.0)


def _switch(n=8, a=2, size=16):
    masks = np.zeros((n, a, size, size), bool)
    masks[:, 0, :4, :] = True          # AU a0: the top rows
    masks[:, 1, -4:, :] = True         # AU a1: the bottom rows
    face = np.ones((n, size, size), bool)
    z = np.zeros((n, size, size), np.uint8)
    return AR.AUSwitch(("AU1", "AU26"), z, np.zeros((n, a, size, size), np.uint8), masks, face,
                       np.ones(n, bool))


def test_location_of_maximal_unit_against_the_mask_share():
    sw = _switch()
    n = len(sw.off)
    pos = np.zeros((n, 2, 2, 2), int)
    pos[:, :, 0] = (0, 3)              # channel 0: always the top row of a 4x4 map
    pos[:, :, 1] = (2, 1)              # channel 1: a middle row
    r = AR.Responses("l", np.zeros((n, 2)), np.zeros((n, 2, 2)), pos, (4, 4), (16, 16))
    inside, in_face = AR.unit_locations(r, sw)
    assert inside[:, 0, 0].all() and not inside[:, 0, 1].any()
    t = AR.location_test(inside, in_face, sw, [0, 1], [0, 0])
    assert t.loc[0, "inside"] == 1.0 and t.loc[0, "chance"] == pytest.approx(0.25)
    assert t.loc[0, "p"] == pytest.approx(0.25 ** n)
    assert t.loc[1, "p"] == pytest.approx(1.0)
    assert sw.mask_share().tolist() == pytest.approx([0.25, 0.25])


def test_topk_iou_known_cases():
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :2] = True
    perfect = masks.astype(float)
    shifted = np.zeros((3, 4, 4))
    shifted[:, :2, 1:3] = 1.0          # two of four pixels overlap: IoU 2 / 6
    iou = AS.topk_iou(np.concatenate([perfect[:1], shifted[:1], -perfect[:1]]), masks)
    assert iou[0] == 1.0 and iou[1] == pytest.approx(2 / 6)
    assert iou[2] == 0.0
    with pytest.raises(ValueError, match="maps and masks"):
        AS.topk_iou(perfect[0], masks[0])


def test_uniform_iou_is_the_mean_of_random_maps():
    rng = np.random.default_rng(0)
    masks = np.zeros((1, 10, 10), bool)
    masks[0, :3] = True
    face = np.zeros((1, 10, 10), bool)
    face[0, :6] = True
    expected = AS.uniform_topk_iou(masks, face)[0]
    random_maps = rng.random((4000, 10, 10)) * face
    got = AS.topk_iou(random_maps, np.repeat(masks, 4000, 0)).mean()
    assert got == pytest.approx(expected, abs=0.01)


def test_iou_table_has_chance_and_lift():
    masks = np.zeros((6, 8, 8), bool)
    masks[:, :4] = True
    face = np.ones((6, 8, 8), bool)
    t = AS.iou_table({"truth": masks.astype(float)}, masks, face, n_boot=50)
    assert t.loc["truth", "iou"] == 1.0
    assert t.loc["face-uniform (chance)", "lift"] == pytest.approx(1.0)


def test_responses_record_each_layers_maximal_unit():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    model = nn.Sequential(conv, nn.ReLU())
    sw = _switch(n=3, size=8)
    sw.on[:, 1, 5, 6] = 200            # AU 1 lights up one pixel
    out = AR.au_responses(model, ["1"], sw, lambda im: torch.as_tensor(im, dtype=torch.float32)[:, None])
    r = out["1"]
    assert r.on.shape == (3, 2, 1) and r.off.shape == (3, 1)
    assert (r.positions[:, 1, 0] == (5, 6)).all()
    assert r.on[:, 1, 0] == pytest.approx(200.0)


def test_switch_aus_masks_and_views():
    from facexai.synth.generate import sample_face

    faces = [sample_face(3, i, subject=i, emotion=0) for i in range(2)]
    sw = AR.switch_aus(faces, ["AU12", "AU5"], views.fer_view(), render_size=64)
    assert sw.off.shape == (2, 64, 64) and sw.on.shape == (2, 2, 64, 64)
    # the masks are where the switch changed the framed image by more than the threshold
    diff = np.abs(sw.on.astype(int) - sw.off[:, None].astype(int))
    assert (sw.masks == (diff > 0.01 * 255)).all()
    assert sw.masks.any((2, 3)).all() and sw.face.mean() > 0.2
    with pytest.raises(ValueError, match="aus must"):
        AR.switch_aus(faces, ["glasses"], views.fer_view())
    with pytest.raises(ValueError, match="value must"):
        AR.switch_aus(faces, ["AU12"], views.fer_view(), value=0.0)


def test_switch_test_on_a_network_that_sees_only_one_au():
    """A 1x1 convolution that copies the image: its maximal unit is where AU 1 lit up."""
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    model = nn.Sequential(conv, nn.ReLU())
    sw = _switch(n=10, size=8)
    rng = np.random.default_rng(0)
    sw.off[:] = rng.integers(0, 20, sw.off.shape)
    sw.on[:] = sw.off[:, None]
    sw.masks[:, 1] = False
    sw.masks[:, 1, 6:, :] = True
    sw.on[:, 1, 7, 2] = 250            # AU 1 switches on one bright pixel inside its mask
    t = AR.switch_test(model, ["1"], sw, lambda im: torch.as_tensor(im, dtype=torch.float32)[:, None],
                       n_permutations=200, n_boot=200)
    row = t.summary().loc["1"]
    assert row["selective"] == 1 and row["on the AU mask"] == 1
    assert t.selective_aus() == ["AU26"]
    assert t.by_au().loc["AU26", "selective channels"] == 1
    assert t.best_margin()[1] > 0


def test_label_test_counts_the_emotion_channel_only_with_free_permutations():
    import pandas as pd

    from facexai.filters import label_test

    rng = np.random.default_rng(0)
    n_seq = 90
    emotion = np.repeat(rng.integers(0, 3, n_seq), 2)
    au0 = np.repeat(rng.random(n_seq) < np.where(emotion[::2] == 1, 0.9, 0.1), 2)
    x = torch.zeros(2 * n_seq, 1, 4, 4)
    x[:, 0, 0, 0] = torch.as_tensor((emotion == 1) + rng.normal(0, 0.1, 2 * n_seq))
    model = nn.Sequential(nn.Identity())
    au = pd.DataFrame({"AU12": au0.astype(float), "AU1": rng.random(2 * n_seq) < 0.5})
    summary, tables = label_test({"net": model}, ["0"], x, au, emotion, np.repeat(np.arange(n_seq), 2),
                                 n_permutations=200)
    assert summary.loc[("net", "0"), "free permutation"] == 1
    assert summary.loc[("net", "0"), "within emotion"] == 0
    assert ("net", "0") in tables


def test_saliency_maps_of_a_linear_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1, 5] = -3.0
    x = torch.ones(2, 1, 4, 4)
    maps = AS.saliency_maps(model, x, torch.tensor([1, 1]), ["gradient"])
    assert maps["gradient"].shape == (2, 4, 4)
    assert maps["gradient"][0, 1, 1] == pytest.approx(3.0)      # |gradient|
    assert maps["gradient"].sum() == pytest.approx(6.0)
    with pytest.raises(ValueError, match="methods"):
        AS.saliency_maps(model, x, 1, [])


def test_expression_pairs_and_the_haar_view():
    from facexai.synth.generate import sample_face

    faces = [sample_face(4, 0, subject=0, emotion=5)]
    pairs = AR.expression_pairs(faces, views.haar_view(32), render_size=64)
    assert pairs.aus == ("expression",)
    assert pairs.off.shape == (1, 32, 32) and pairs.on.shape == (1, 1, 32, 32)
    assert pairs.masks[0, 0].any() and pairs.masks[0, 0].mean() < 0.5
    neutral = AR.expression_pairs([faces[0].neutral()], views.haar_view(32), render_size=64)
    assert not neutral.masks.any()     # nothing to change: an empty mask
    with pytest.raises(ValueError, match="size"):
        views.haar_view(4)
