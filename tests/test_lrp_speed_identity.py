"""The fast LRP rules (one autograd Function per layer, :mod:`facexai.explain.rules`) equal zennit's
own attributor with the same composite to 1e-10 of the largest relevance, in float64: on the two
bench models (VGG16 with 3 channels and the zero-bias CNN with 1 channel, as ``make bench`` builds
them) and paper 1's Levi & Hassner network, for EpsilonPlusFlat and EpsilonGammaBox; on small nets
that take each fallback (a layer input below zero, relevance at a negative output, an output changed
in place); and the layers' own forward comes back afterwards, also after an error."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from zennit import composites as zc
from zennit import rules as zr
from zennit.attribution import Gradient

from facexai.explain import explain
from facexai.explain.hooks import prepared
from facexai.models import build_model

#: ImageNet's normalisation: inputs below zero reach the first layer.
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _zennit(model, x, composite, targets) -> torch.Tensor:
    """zennit's own relevance: its ``Gradient`` attributor, starting at ``one_hot * output``."""
    one_hot = torch.eye(model(x[:1]).shape[1], dtype=x.dtype)[targets]
    with prepared(model), Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, lambda output: one_hot * output)
    return relevance


def _assert_identical(ours, ref):
    scale = float(ref.abs().max())
    assert scale > 0 and ours.shape == ref.shape and ours.dtype == torch.float64
    assert float((ours - ref).abs().max()) <= 1e-10 * scale


def _composites(low, high):
    lrn = [(nn.LocalResponseNorm, zr.Pass())]           # as facexai's base map (Levi & Hassner)
    return {"lrp_epsilon_plus_flat": zc.EpsilonPlusFlat(layer_map=lrn),
            "lrp_epsilon_gamma_box": zc.EpsilonGammaBox(low=low, high=high, layer_map=lrn)}


def _bench_model(key: str) -> tuple[nn.Module, torch.Tensor, list]:
    """The bench's models in float64 (VGG16 at 32 px, the zero-bias CNN at its 96 px, Levi & Hassner
    at 64 px), two images in [0, 1], one target each."""
    torch.manual_seed(30)
    if key == "vgg16":
        model, shape, targets = build_model("vgg16", n_outputs=1), (2, 3, 32, 32), [0, 0]
    elif key == "zero_bias_cnn":
        model, shape, targets = build_model("zero_bias_cnn", n_outputs=8, input_size=96), \
            (2, 1, 96, 96), [0, 5]
    else:
        model, shape, targets = build_model("levi_hassner", n_outputs=8, input_size=64, stride=2), \
            (2, 3, 64, 64), [1, 6]
    gen = torch.Generator().manual_seed(31)
    return model.double().eval(), torch.rand(*shape, generator=gen, dtype=torch.float64), targets


@pytest.mark.parametrize("key", ["vgg16", "zero_bias_cnn", "levi_hassner"])
def test_the_bench_composites_equal_zennits_attributor(key):
    model, x, targets = _bench_model(key)
    for method, composite in _composites(0.0, 1.0).items():
        _assert_identical(explain(model, x, targets, method), _zennit(model, x, composite, targets))


def test_the_box_rule_with_normalised_inputs_equals_zennit():
    model, pixels, targets = _bench_model("levi_hassner")
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    x = (pixels - mean) / std
    ours = explain(model, x, targets, "lrp_epsilon_gamma_box", mean=MEAN, std=STD)
    ref = _zennit(model, x, _composites((0 - mean) / std, (1 - mean) / std)
                  ["lrp_epsilon_gamma_box"], targets)
    _assert_identical(ours, ref)


class _InPlace(nn.Module):
    """Shifts its input in place (so the signs of the layer output before it change)."""

    def forward(self, x):
        return x.sub_(0.1)


def _small(kind: str) -> nn.Module:
    torch.manual_seed(32)
    conv1, conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
    if kind == "negative_input":      # conv2 sees conv1's signed output: zennit's general rules
        layers = [conv1, conv2, nn.ReLU()]
    elif kind == "negative_output":   # conv2's signed output goes straight into the dense layer
        layers = [conv1, nn.ReLU(), conv2]
    else:                             # "in_place": conv2's output is changed in place
        layers = [conv1, nn.ReLU(), conv2, _InPlace()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(6 * 8 * 8, 3)).double().eval()


@pytest.mark.parametrize("kind", ["negative_input", "negative_output", "in_place"])
def test_every_fallback_equals_zennit(kind):
    net = _small(kind)
    gen = torch.Generator().manual_seed(33)
    x = torch.rand(3, 3, 8, 8, generator=gen, dtype=torch.float64)
    targets = [0, 1, 2]
    if kind == "negative_output":
        with torch.no_grad():
            assert bool((net[:3](x) < 0).any())
    for method, composite in _composites(0.0, 1.0).items():
        _assert_identical(explain(net, x, targets, method), _zennit(net, x, composite, targets))
    for method, stock in (("lrp_zplus", zc.EpsilonPlus()), ("lrp_alpha2beta1", zc.EpsilonAlpha2Beta1())):
        _assert_identical(explain(net, x, targets, method), _zennit(net, x, stock, targets))


def test_the_box_rule_on_inputs_outside_the_box_equals_zennit():
    """Inputs outside [low, high] make the z-box denominator negative in places (the general
    stabilizer, not the one-pass shortcut)."""
    net = _small("negative_output")
    gen = torch.Generator().manual_seed(34)
    x = torch.rand(3, 3, 8, 8, generator=gen, dtype=torch.float64)
    with pytest.warns(UserWarning, match="z-box bounds"):
        ours = explain(net, x, [0, 1, 2], "lrp_epsilon_gamma_box", low=0.6, high=0.9)
    low, high = (torch.tensor(v, dtype=torch.float64) for v in (0.6, 0.9))   # zennit would
    ref = _zennit(net, x, _composites(low, high)["lrp_epsilon_gamma_box"], [0, 1, 2])  # round floats
    _assert_identical(ours, ref)                                                      # to float32


def test_the_layers_forward_comes_back_also_after_an_error():
    net = _small("in_place")
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    for method in ("lrp_epsilon", "lrp_zplus", "lrp_alpha2beta1", "lrp_epsilon_plus_flat",
                   "lrp_epsilon_gamma_box"):
        explain(net, x, 0, method)
        with pytest.raises(RuntimeError):
            explain(net, torch.rand(2, 3, 9, 9, dtype=torch.float64), 0, method)
        assert not any("forward" in vars(m) for m in net.modules()), method
    with torch.no_grad():        # the plain model again: its gradient is the true one
        y = net(x)
    assert y.shape == (2, 3)


def test_a_canonized_resnet_equals_zennit_with_the_same_canonizer():
    """Batch norms merged (then passed), the residual sums (zennit's ``Sum``, the Norm rule) and the
    ReLU module each block calls twice."""
    import torchvision

    from facexai.explain import Target
    from facexai.explain.lrp import attribute, exact_resnet_canonizer

    torch.manual_seed(35)
    net = torchvision.models.resnet18(num_classes=3).double().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 2)
                m.bias.uniform_(-0.5, 0.5)
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    zero, one = torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    for method, stock in (
            ("lrp_epsilon_plus_flat", zc.EpsilonPlusFlat(canonizers=[exact_resnet_canonizer()])),
            ("lrp_epsilon_gamma_box", zc.EpsilonGammaBox(low=zero, high=one,
                                                         canonizers=[exact_resnet_canonizer()]))):
        with prepared(net):
            ref = attribute(net, x, Target((0, 2)), stock)
        _assert_identical(explain(net, x, [0, 2], method), ref)
