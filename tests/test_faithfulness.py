"""Faithfulness metrics on hand-built cases whose answers are known, and against scikit-image
(SSIM). Quantus is the reference in test_quantus_reference.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facexai.faithfulness import (aopc, mask_share, parametrised_layers, perturbation_curve,
                                  pointing_game, randomization_check, randomize_layer,
                                  relevance_mass_accuracy, relevance_rank_accuracy, spearman, ssim)
from facexai.models import tiny_cnn


def _case():
    r = np.zeros((2, 4, 4))
    r[0, 0, 0], r[0, 3, 3], r[0, 1, 1] = 3.0, 1.0, -5.0     # 3 of 4 positive units inside
    r[1, 2, 2], r[1, 0, 3] = 1.0, 2.0                        # max outside the mask
    m = np.zeros((2, 4, 4), bool)
    m[:, :2, :2] = True                                      # top-left quarter
    return r, m


def test_mass_accuracy_counts_positive_relevance_inside():
    r, m = _case()
    np.testing.assert_allclose(relevance_mass_accuracy(r, m), [3 / 4, 0.0])
    np.testing.assert_allclose(relevance_mass_accuracy(r, m, positive=False), [8 / 9, 0.0])
    assert np.isnan(relevance_mass_accuracy(-np.ones((4, 4)), m[0]))[0]
    # a uniform map scores the mask's share of the image: the chance level
    np.testing.assert_allclose(relevance_mass_accuracy(np.ones((2, 4, 4)), m), mask_share(m))


def test_rank_accuracy_top_k_inside():
    r, m = _case()                      # K = 4: top-4 of face 0 are (0,0)=3, (3,3)=1, then zeros
    acc = relevance_rank_accuracy(r, m)
    # face 0: 3 (inside) and 1 (outside) rank first; the 2 places left go to the 13 tied zeros, of
    # which 2 lie inside ((0,1), (1,0); (1,1) is -5): expected (1 + 2 * 2/13) / 4
    assert acc[0] == pytest.approx((1 + 2 * 2 / 13) / 4)
    perfect = np.where(m, 1.0, 0.0) + np.linspace(0, 0.1, 16).reshape(4, 4)
    assert relevance_rank_accuracy(perfect[0], m[0])[0] == 1.0
    # the score does not depend on where the tied pixels are: shuffling both alike keeps it
    perm = np.random.default_rng(0).permutation(16)
    shuffled = relevance_rank_accuracy(r.reshape(2, -1)[:, perm].reshape(2, 4, 4),
                                       m.reshape(2, -1)[:, perm].reshape(2, 4, 4))
    np.testing.assert_allclose(shuffled, acc, rtol=1e-12)


def test_pointing_game_with_tolerance_and_ties():
    r, m = _case()
    np.testing.assert_array_equal(pointing_game(r, m), [True, False])
    # face 1's maximum (0, 3) is 2 columns right of the mask: a tolerance of 2 px reaches it
    np.testing.assert_array_equal(pointing_game(r, m, tolerance=1), [True, False])
    np.testing.assert_array_equal(pointing_game(r, m, tolerance=2), [True, True])
    # a plateau of tied maxima (occlusion's windows make them): the share of the plateau inside
    plateau = np.zeros((4, 4))
    plateau[1:3, 1:4] = 1.0                  # 6 tied maxima, (1,1) inside the top-left quarter
    assert pointing_game(plateau, m[0])[0] == pytest.approx(1 / 6)
    uniform = pointing_game(np.zeros((2, 4, 4)), m)
    np.testing.assert_allclose(uniform, mask_share(m))


def test_a_map_of_another_size_than_its_masks_is_an_error():
    masks = np.zeros((2, 64, 64), bool)
    masks[:, 40:50, 20:44] = True
    maps = np.random.default_rng(0).random((2, 128, 128))   # 128-px maps, 64-px landmarks/masks
    for metric in (relevance_mass_accuracy, relevance_rank_accuracy, pointing_game):
        with pytest.raises(ValueError, match=r"\(2, 128, 128\).*\(2, 64, 64\)"):
            metric(maps, masks)
    with pytest.raises(ValueError, match=r"\(128, 128\).*\(64, 64\)"):
        relevance_mass_accuracy(maps[0], masks[0])
    net = nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 1))
    with pytest.raises(ValueError, match=r"\(2, 128, 128\).*\(2, 1, 64, 64\)"):
        perturbation_curve(net, torch.rand(2, 1, 64, 64), maps, 0)


def _linear(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 1, bias=False)).double()
    return net, net[1].weight.detach().view(4, 4).numpy()


def test_pixel_flipping_on_a_linear_model_is_hand_computable():
    net, w = _linear()
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64)
    contrib = (w * x[0, 0].numpy())                           # exact relevance of f = w . x
    morf = perturbation_curve(net, x, contrib[None], 0, order="morf", patch=1, steps=16, fill=0.0)
    lerf = perturbation_curve(net, x, contrib[None], 0, order="lerf", patch=1, steps=16, fill=0.0)
    f0 = float(net(x).detach())
    desc = np.sort(contrib.ravel())[::-1]
    np.testing.assert_allclose(morf.scores[0], f0 - np.r_[0, np.cumsum(desc)], atol=1e-12)
    np.testing.assert_allclose(lerf.scores[0], f0 - np.r_[0, np.cumsum(desc[::-1])], atol=1e-12)
    np.testing.assert_allclose(morf.fractions, np.arange(17) / 16)
    # AOPC = mean over steps of the drop; the exact map beats its reverse
    np.testing.assert_allclose(aopc(morf), np.mean(np.r_[0, np.cumsum(desc)]))
    assert aopc(morf)[0] > aopc(lerf)[0]


def test_region_perturbation_uses_patch_sums_and_fills():
    net, w = _linear(1)
    x = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    rel = np.zeros((1, 4, 4))
    rel[0, 2:, 2:] = 1.0                                       # bottom-right 2x2 patch first
    c = perturbation_curve(net, x, rel, 0, patch=2, steps=1, fraction=0.25, fill=0.5)
    expected = w.sum() - 0.5 * w[2:, 2:].sum()
    np.testing.assert_allclose(c.scores[0], [w.sum(), expected])
    mean_fill = perturbation_curve(net, x, rel, 0, patch=2, steps=4, fill="mean")
    np.testing.assert_allclose(mean_fill.scores[0], w.sum())   # mean of a constant image: no change
    noisy = [perturbation_curve(net, x, rel, 0, patch=2, steps=4, fill="uniform", seed=s).scores
             for s in (0, 0)]
    np.testing.assert_array_equal(*noisy)
    with pytest.raises(ValueError, match="multiples of patch"):
        perturbation_curve(net, x, rel, 0, patch=3)


def test_perturbation_ranks_float64_maps_without_float32_ties():
    net, w = _linear(2)
    net = net.float()
    x = torch.rand(1, 1, 4, 4)                                 # float32 input, as in the book
    order = np.random.default_rng(1).permutation(16).reshape(1, 4, 4).astype(float)
    close = 1.0 + 1e-10 * order                               # same order, equal in float32
    for o in ("morf", "lerf"):
        a = perturbation_curve(net, x, order, 0, order=o, patch=1, steps=16, fill=0.0)
        b = perturbation_curve(net, x, close, 0, order=o, patch=1, steps=16, fill=0.0)
        np.testing.assert_array_equal(a.scores, b.scores)
    # an all-zero map is perturbed in a seeded random order, not top-down
    flat = np.zeros((1, 4, 4))
    c = [perturbation_curve(net, x, flat, 0, patch=1, steps=16, fill=0.0, seed=s).scores
         for s in (0, 1)]
    top_down = perturbation_curve(net, x, -np.arange(16.0).reshape(1, 4, 4), 0, patch=1, steps=16,
                                  fill=0.0).scores
    assert not np.array_equal(c[0], c[1]) and not np.array_equal(c[0], top_down)


def test_similarities():
    a = np.arange(256.0).reshape(1, 16, 16)
    assert spearman(a, a)[0] == pytest.approx(1.0)
    assert spearman(a, -a)[0] == pytest.approx(-1.0)
    assert spearman(a, a ** 3)[0] == pytest.approx(1.0)       # ranks only
    assert ssim(a, 2 * a + 1)[0] == pytest.approx(1.0)        # each map scaled to [0, 1] first
    with pytest.raises(ValueError, match="smaller than the 11-px SSIM window"):
        ssim(a[:, :8, :8], a[:, :8, :8])


@pytest.mark.parametrize("size", [(11, 11), (16, 16), (64, 48)])
def test_ssim_equals_scikit_image(size):
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    rng = np.random.default_rng(3)
    smooth = rng.random((3, *size)).cumsum(1).cumsum(2)            # structured maps
    noisy = smooth + rng.normal(scale=smooth.std(), size=smooth.shape) * np.r_[0.1, 1, 5][:, None,
                                                                                          None]
    unit = lambda m: (m - m.min()) / (m.max() - m.min())          # noqa: E731
    ref = [structural_similarity(unit(p), unit(q), data_range=1.0, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)
           for p, q in zip(smooth, noisy)]
    np.testing.assert_allclose(ssim(smooth, noisy), ref, rtol=1e-10, atol=1e-12)


def _fresh_bn_net():
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 2)).double()


def test_randomize_layer_never_zeroes_a_tensor_and_redraws_batch_norm_statistics():
    net = _fresh_bn_net()
    with torch.no_grad():
        net[4].bias.fill_(1.0)                       # a constant bias (the zero-bias CNN's fc4)
        net[0].bias.zero_()                          # an all-zero one
    bn, before = net[1], {k: v.clone() for k, v in net.state_dict().items()}
    assert float(bn.weight.detach().std()) == 0 and float(bn.running_mean.abs().max()) == 0
    gen = torch.Generator().manual_seed(0)
    for name in parametrised_layers(net):
        randomize_layer(dict(net.named_modules())[name], gen)
    assert "1" in parametrised_layers(net)           # the batch norm is randomised too
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        assert not torch.equal(v, before[k]), k                  # changed ...
        assert float(v.abs().min()) > 0, k                       # ... and nowhere zero
        assert v.std() > 0, k                                    # ... and no longer constant
    assert bool((bn.running_var > 0).all())
    # the scale of a constant tensor is its value: BN weight 1 -> N(0, 1) (16 draws: loose)
    assert 0.2 < float(bn.weight.detach().std()) < 3 and 0.2 < float(net[4].bias.detach().std()) < 3


def test_randomize_layer_keeps_the_spread_of_a_trained_tensor():
    torch.manual_seed(6)
    layer = nn.Linear(200, 100).double()
    with torch.no_grad():
        layer.weight.mul_(3.0)
        layer.weight.add_(0.5)                              # mean 0.5 is forgotten, SD kept
    sd = float(layer.weight.detach().std())
    randomize_layer(layer, torch.Generator().manual_seed(1))
    assert float(layer.weight.detach().std()) == pytest.approx(sd, rel=0.02)
    assert abs(float(layer.weight.detach().mean())) < 0.05 * sd
    bn = nn.BatchNorm1d(2000).double()
    with torch.no_grad():
        bn.running_var.uniform_(0.5, 2.0)
    mean, sd = float(bn.running_var.mean()), float(bn.running_var.std())
    randomize_layer(bn, torch.Generator().manual_seed(2))
    # log-normal with the variances' mean and SD
    assert float(bn.running_var.mean()) == pytest.approx(mean, rel=0.05)
    assert float(bn.running_var.std()) == pytest.approx(sd, rel=0.1)


def test_randomization_check_flags_an_input_copy_and_not_the_gradient():
    torch.manual_seed(2)
    model = tiny_cnn(3, input_size=16).double()
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # an "explanation" that ignores the model (an edge detector, say) stays identical: known answer
    edge = randomization_check(model, x, None, lambda m, xx: xx)
    assert list(edge["randomized_down_to"]) == ["none"] + parametrised_layers(model)[::-1]
    np.testing.assert_allclose(edge["spearman"], 1.0)
    grad = randomization_check(model, x, 0, "gradient", similarity=("spearman", "ssim"))
    assert grad["spearman"].iloc[0] == pytest.approx(1.0)
    assert grad["spearman"].iloc[-1] < 0.5 and grad["ssim"].iloc[-1] < grad["ssim"].iloc[0]
    for k, v in model.state_dict().items():                   # the model itself is untouched
        assert torch.equal(v, before[k])
    with pytest.raises(ValueError, match="unknown similarity 'mse'"):
        randomization_check(model, x, 0, "gradient", similarity=("mse",))
