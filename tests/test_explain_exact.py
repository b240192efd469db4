"""Exactness of the explainers where the review found defects: every registered method gives the same
maps in chunks as on the whole batch (float64), z-box bounds fixed per channel (zennit as reference),
SmoothGrad seeded per image, occlusion covering every pixel (captum as reference), batch-norm merges
that compute the same function."""
from __future__ import annotations

import pytest
import torch
import torchvision
from captum.attr import Occlusion
from torch import nn
from zennit import composites as zc

from facexai.explain import EXPLAINERS, Target, explain
from facexai.explain.hooks import prepared
from facexai.explain.lrp import attribute, auto_canonizers

#: Cheaper settings of the multi-pass methods (the property does not depend on them).
FAST = {"smoothgrad": {"n_samples": 3}, "integrated_gradients": {"n_steps": 4},
        "occlusion": {"window": 6, "stride": 4, "copies_per_pass": 7}}

#: ImageNet's normalisation (paper 3's inputs).
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _bn_net() -> nn.Module:
    """Biases, batch norm (canonized for LRP), in-place ReLUs, two conv layers: float64, eval."""
    torch.manual_seed(20)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    with torch.no_grad():
        bn = net[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def _faces() -> torch.Tensor:
    """Five 16-px images in [0, 1] with very different ranges: dim, bright, low-contrast."""
    gen = torch.Generator().manual_seed(21)
    x = torch.rand(5, 1, 16, 16, generator=gen, dtype=torch.float64)
    scale = torch.tensor([0.2, 1.0, 0.5, 0.05, 0.9], dtype=torch.float64).view(-1, 1, 1, 1)
    offset = torch.tensor([0.0, 0.0, 0.5, 0.9, 0.1], dtype=torch.float64).view(-1, 1, 1, 1)
    return offset + scale * x


@pytest.mark.parametrize("method", list(EXPLAINERS))
def test_every_explainer_gives_the_same_maps_in_chunks(method):
    net, x = _bn_net(), _faces()
    target = [0, 1, 2, 1, 0]
    options = FAST.get(method, {})
    whole = explain(net, x, target, method, **options)
    assert whole.dtype == torch.float64 and whole.abs().sum() > 0
    for batch_size in (1, 2):
        chunks = explain(net, x, target, method, batch_size=batch_size, **options)
        torch.testing.assert_close(chunks, whole, rtol=0, atol=1e-10,
                                   msg=lambda m: f"{method}, batch_size={batch_size}: {m}")


@pytest.mark.parametrize("normalised", [False, True])
def test_zbox_bounds_are_fixed_per_channel_and_equal_zennits(normalised):
    torch.manual_seed(22)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2)).double().eval()
    pixels = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    mean = torch.tensor(MEAN if normalised else (0.0,) * 3, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD if normalised else (1.0,) * 3, dtype=torch.float64).view(1, 3, 1, 1)
    x = (pixels - mean) / std
    options = {"mean": MEAN, "std": STD} if normalised else {}
    ours = explain(net, x, 1, "lrp_epsilon_gamma_box", **options)
    stock = zc.EpsilonGammaBox(low=(0 - mean) / std, high=(1 - mean) / std)
    with prepared(net):
        ref = attribute(net, x, Target(1), stock)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-14)
    # an image's map does not depend on its neighbours (the old bounds were the batch's min/max)
    alone = explain(net, x[:1], 1, "lrp_epsilon_gamma_box", **options)
    torch.testing.assert_close(alone, ours[:1], rtol=0, atol=1e-12)


def test_zbox_bounds_warn_when_the_inputs_leave_them_and_check_their_shape():
    torch.manual_seed(23)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    net = net.double()
    with pytest.warns(UserWarning, match=r"inputs range over .* z-box bounds are 0.0 .. 1.0"):
        explain(net, 2 * x, 0, "lrp_epsilon_gamma_box")
    explain(net, 2 * x, 0, "lrp_epsilon_gamma_box", high=2.0)          # no warning needed
    with pytest.raises(ValueError, match="one value per input channel"):
        explain(net, x, 0, "lrp_epsilon_gamma_box", mean=MEAN)


def test_smoothgrad_seeds_each_image_by_its_index():
    net, x = _bn_net(), _faces()
    batch = explain(net, x, 2, "smoothgrad", n_samples=3, seed=7)
    for j in range(len(x)):     # image j alone, seeded as the j-th image of a batch seeded 7
        alone = explain(net, x[j:j + 1], 2, "smoothgrad", n_samples=3, seed=7 + j)
        torch.testing.assert_close(alone, batch[j:j + 1], rtol=0, atol=1e-12)
    assert not torch.allclose(batch, explain(net, x, 2, "smoothgrad", n_samples=3, seed=8))


class _AnySize(nn.Module):
    """A small non-linear model of any input size."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(24)
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                                  nn.Flatten(), nn.Linear(64, 3))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("window,stride,size", [
    (6, 4, (16, 16)),          # the review's case: 6/4 does not tile 16 (nor 64)
    (5, 3, (17, 18)),
    (8, 4, (16, 16)),          # tiles: no clipped window
    (3, 2, (16, 15)),
    ((4, 6), (3, 5), (16, 17)),
])
def test_occlusion_equals_captum_and_covers_every_pixel(window, stride, size):
    net = _AnySize().double().eval()
    x = torch.rand(2, 1, *size, dtype=torch.float64)
    ours = explain(net, x, 1, "occlusion", window=window, stride=stride)
    wh, ww = (window, window) if isinstance(window, int) else window
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ref = Occlusion(net).attribute(x, sliding_window_shapes=(1, wh, ww), strides=(1, sh, sw),
                                   baselines=0.0, target=1)
    assert ref.shape == ours.shape       # captum accumulates in float32: its rounding, 1e-7
    torch.testing.assert_close(ours, ref.double(), rtol=1e-5, atol=1e-6 * float(ref.abs().max()))
    # coverage: for f = sum(x) every window's drop is its (clipped) area, so no pixel stays 0
    total = nn.Sequential(nn.Flatten(), nn.Linear(size[0] * size[1], 1, bias=False)).double()
    nn.init.ones_(total[1].weight)
    drops = explain(total, torch.ones(1, 1, *size, dtype=torch.float64), 0, "occlusion",
                    window=window, stride=stride)
    assert bool((drops > 0).all())


def test_occlusion_refuses_a_stride_larger_than_its_window():
    net = _AnySize().double().eval()
    with pytest.raises(ValueError, match="stride 5 is larger than the window 4"):
        explain(net, torch.rand(1, 1, 16, 16, dtype=torch.float64), 0, "occlusion", window=4,
                stride=5)


def test_resnet_canonizer_computes_the_same_function():
    torch.manual_seed(25)
    net = torchvision.models.resnet18(num_classes=3).double().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        before = net(x)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    handles = [h for c in auto_canonizers(net) for h in c.apply(net)]
    with torch.no_grad():
        merged = net(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(merged, before, rtol=1e-6, atol=1e-6 * float(before.abs().max()))
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
