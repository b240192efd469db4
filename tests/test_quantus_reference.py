"""The book's localisation and pixel-flipping metrics against Quantus 0.6.0 (a test-only reference).

Where the definitions agree, the numbers must agree: mass accuracy (Quantus' signed ratio on the
positive part of the map is the book's positive mass accuracy), rank accuracy and the pointing game
on maps without ties, pixel flipping on the same scores. Where they differ by design, the test shows
the relation: tied pixels are scored by the *average* of Quantus over every order of the ties (an
exact enumeration), and Quantus' pointing game counts a hit if any tied maximum is inside.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from facexai.faithfulness import (mask_share, perturbation_curve, pointing_game,
                                  relevance_mass_accuracy, relevance_rank_accuracy)


def _q(metric, maps, masks, **kwargs):
    """Quantus' localisation metric ``metric`` on ``(N, H, W)`` maps and masks, un-normalised."""
    m = metric(normalise=False, disable_warnings=True, **kwargs)
    a = np.asarray(maps, float)[:, None]
    s = np.asarray(masks, float)[:, None]
    return np.asarray(m(model=None, x_batch=np.zeros_like(a), y_batch=np.zeros(len(a), int),
                        a_batch=a, s_batch=s), float)


def _case(n=6, size=12, seed=0):
    """Maps without ties (continuous values, both signs) and blob masks of different sizes."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(n, size, size)) + 0.3
    yy, xx = np.mgrid[:size, :size]
    masks = np.stack([(yy - rng.integers(2, size - 2)) ** 2 + (xx - rng.integers(2, size - 2)) ** 2
                      <= rng.integers(2, 5) ** 2 for _ in range(n)])
    return maps, masks


def test_mass_accuracy_equals_quantus():
    maps, masks = _case()
    # the book's positive mass accuracy = Quantus' (signed) ratio on the map's positive part
    np.testing.assert_allclose(relevance_mass_accuracy(maps, masks),
                               _q(quantus.RelevanceMassAccuracy, np.clip(maps, 0, None), masks),
                               rtol=1e-12)
    np.testing.assert_allclose(relevance_mass_accuracy(maps, masks, positive=False),
                               _q(quantus.RelevanceMassAccuracy, maps, masks, abs=True), rtol=1e-12)


def test_rank_accuracy_and_pointing_game_equal_quantus_without_ties():
    maps, masks = _case(seed=1)
    np.testing.assert_allclose(relevance_rank_accuracy(maps, masks),
                               _q(quantus.RelevanceRankAccuracy, maps, masks), rtol=1e-12)
    np.testing.assert_array_equal(pointing_game(maps, masks),
                                  _q(quantus.PointingGame, maps, masks))


def _every_tie_order(r: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """One tie-free copy of ``r`` per order of its ``tied`` pixels (all orders, each once)."""
    idx = np.flatnonzero(tied.ravel())
    step = 1e-9 * np.abs(r).max()
    out = []
    for order in itertools.permutations(range(len(idx))):
        c = r.ravel().copy()
        c[idx] += step * np.asarray(order, float)
        out.append(c.reshape(r.shape))
    return np.stack(out)


def test_ties_are_scored_by_their_expected_value_over_quantus_tie_orders():
    rng = np.random.default_rng(2)
    mask = np.zeros((8, 8), bool)
    mask[1:4, 2:6] = True                                        # K = 12 pixels
    inside, outside = rng.permutation(np.flatnonzero(mask)), rng.permutation(np.flatnonzero(~mask))
    # rank accuracy: 8 pixels above (5 inside), then 6 tied for the last 4 places (2 inside)
    r = rng.uniform(0, 40, 64)                                   # distinct, below the tie
    r[np.r_[inside[:5], outside[:3]]] = rng.uniform(60, 100, 8)
    tied = np.r_[inside[5:7], outside[3:7]]
    r[tied] = 50.0
    r = r.reshape(8, 8)
    copies = _every_tie_order(r, r == 50.0)                      # 720 tie-free maps
    expected = _q(quantus.RelevanceRankAccuracy, copies, np.broadcast_to(mask, copies.shape)).mean()
    ours = relevance_rank_accuracy(r, mask)[0]
    assert ours == pytest.approx(expected, rel=1e-12)            # (5 + 4 * 2/6) / 12
    # pointing game: five tied maxima, two of them inside
    r_max = rng.uniform(0, 40, 64)
    r_max[np.r_[inside[:2], outside[:3]]] = 100.0
    r_max = r_max.reshape(8, 8)
    copies = _every_tie_order(r_max, r_max == 100.0)
    expected = _q(quantus.PointingGame, copies, np.broadcast_to(mask, copies.shape)).mean()
    assert pointing_game(r_max, mask)[0] == pytest.approx(expected, rel=1e-12)   # 2/5
    assert _q(quantus.PointingGame, r_max[None], mask[None])[0] == 1.0           # "any inside"


def test_a_uniform_map_scores_chance_on_every_localisation_metric():
    _, masks = _case(seed=3)
    flat = np.full(masks.shape, 0.5)            # (Quantus refuses a map of ones)
    chance = mask_share(masks)
    for metric in (relevance_mass_accuracy, relevance_rank_accuracy, pointing_game):
        np.testing.assert_allclose(metric(flat, masks), chance, rtol=1e-12, err_msg=metric.__name__)
    # Quantus refuses a uniform map; one pixel lower, outside the mask, and every mask is "hit"
    almost = flat.reshape(len(flat), -1).copy()
    almost[np.arange(len(almost)), np.argmin(masks.reshape(len(masks), -1), axis=1)] = 0.4
    almost = almost.reshape(flat.shape)
    assert (_q(quantus.PointingGame, almost, masks) == 1).all()
    np.testing.assert_allclose(pointing_game(almost, masks),
                               masks.reshape(len(masks), -1).sum(1) / (masks[0].size - 1))


class _Float64(nn.Module):
    """Quantus feeds float32 tensors; the reference model computes in float64 all the same."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.double())


@pytest.mark.parametrize("softmax", [False, True])
def test_pixel_flipping_equals_quantus(softmax):
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 3)).double().eval()
    # inputs exactly representable in float32, so Quantus' cast changes nothing
    x = torch.rand(4, 1, 8, 8, dtype=torch.float32).double()
    y = np.array([0, 1, 2, 1])
    maps = np.random.default_rng(5).normal(size=(4, 8, 8))
    step = 4
    metric = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0, normalise=False,
                                   disable_warnings=True)
    ref = np.asarray(metric(model=_Float64(net).eval(), x_batch=x.numpy(), y_batch=y,
                            a_batch=maps[:, None], softmax=softmax, channel_first=True,
                            device="cpu"), float)
    scored = nn.Sequential(net, nn.Softmax(dim=1)).eval() if softmax else net
    ours = perturbation_curve(scored, x, maps, y.tolist(), order="morf", patch=1,
                              steps=64 // step, fill=0.0)
    # the book's curve also holds the unperturbed score (Quantus' starts after the first step)
    np.testing.assert_allclose(ours.scores[:, 1:], ref, rtol=1e-12, atol=1e-14)
    with torch.no_grad():
        clean = scored(x)[torch.arange(4), torch.as_tensor(y)].numpy()
    np.testing.assert_allclose(ours.scores[:, 0], clean, rtol=1e-12)
