"""Faithfulness metrics on hand-built cases whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facexai.faithfulness import (aopc, mask_share, parametrised_layers, perturbation_curve,
                                  pointing_game, randomization_check, relevance_mass_accuracy,
                                  relevance_rank_accuracy, spearman, ssim)
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
    # face 0: ranks 3,1 then the first zeros in pixel order (0,1), (0,2) -> (0,0),(0,1) inside
    assert acc[0] == pytest.approx(2 / 4)
    perfect = np.where(m, 1.0, 0.0) + np.linspace(0, 0.1, 16).reshape(4, 4)
    assert relevance_rank_accuracy(perfect[0], m[0])[0] == 1.0


def test_pointing_game_with_tolerance():
    r, m = _case()
    np.testing.assert_array_equal(pointing_game(r, m), [True, False])
    # face 1's maximum (0, 3) is 2 columns right of the mask: a tolerance of 2 px reaches it
    np.testing.assert_array_equal(pointing_game(r, m, tolerance=1), [True, False])
    np.testing.assert_array_equal(pointing_game(r, m, tolerance=2), [True, True])


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


def test_similarities():
    a = np.arange(16.0).reshape(1, 4, 4)
    assert spearman(a, a)[0] == pytest.approx(1.0)
    assert spearman(a, -a)[0] == pytest.approx(-1.0)
    assert spearman(a, a ** 3)[0] == pytest.approx(1.0)       # ranks only
    assert ssim(a, 2 * a + 1)[0] == pytest.approx(1.0)        # each map scaled to [0, 1] first
    rng = np.random.default_rng(0)
    assert abs(ssim(a, rng.random((1, 4, 4)))[0]) < 0.9


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
