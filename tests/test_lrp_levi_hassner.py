"""LRP through paper 1's Levi & Hassner network: its local response normalisations pass relevance
on unchanged (the LRP toolbox's convention), so relevance is conserved on a bias-free copy, and our
composites equal zennit's own with the same ``Pass`` entry (computed by zennit's attributor)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from zennit import composites as zc
from zennit import rules as zr
from zennit.attribution import Gradient

from facexai.explain import Target, explain
from facexai.explain.hooks import prepared
from facexai.explain.lrp import attribute, layer_map_base
from facexai.models import levi_hassner

#: One target per image, including class 2, whose score is negative on these inputs.
TARGETS = [0, 1, 2, 1]


@pytest.fixture(scope="module")
def net() -> nn.Sequential:
    """A small Levi & Hassner network in float64, eval mode, every bias zero. conv1's weights are
    scaled by 30 so that the LRNs are not the identity (norm1 shrinks activations by up to 1.6 %);
    LRP's conservation does not depend on the scale."""
    torch.manual_seed(0)
    model = levi_hassner(3, input_size=64, stride=2, widths=(4, 8, 8), hidden=16, dropout=0.0)
    model = model.double().eval()
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
        model.conv1.weight.mul_(30.0)
    return model


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 64, 64, generator=gen, dtype=torch.float64)


def _scores(net, x) -> torch.Tensor:
    with torch.no_grad():
        return net(x)[torch.arange(len(x)), torch.as_tensor(TARGETS)]


def test_the_lrns_are_not_the_identity(net, faces):
    """The precondition of the conservation tests: the gradient of the LRNs differs from a pass."""
    with torch.no_grad():
        a = net.pool1(net.relu1(net.conv1(faces)))
        shrink = net.norm1(a)[a > 0] / a[a > 0]
    assert float(shrink.min()) < 0.99


@pytest.mark.parametrize("method,options,rtol", [
    ("lrp_epsilon", {}, 1e-4),                                 # default epsilon 1e-6 absorbs a bit
    ("lrp_epsilon", {"epsilon": 1e-12, "stabilizer": 1e-12}, 1e-9),
    ("lrp_alpha2beta1", {"epsilon": 1e-12, "stabilizer": 1e-12}, 1e-9),
    ("lrp_epsilon_plus_flat", {"epsilon": 1e-12, "stabilizer": 1e-12}, 1e-9),
    ("lrp_zplus", {"epsilon": 1e-12, "stabilizer": 1e-12}, 1e-9),
])
def test_relevance_sums_to_the_score_through_the_lrns(net, faces, method, options, rtol):
    relevance = explain(net, faces, TARGETS, method, **options)
    assert relevance.shape == faces.shape and relevance.dtype == torch.float64
    torch.testing.assert_close(relevance.flatten(1).sum(1), _scores(net, faces), rtol=rtol, atol=0)


def test_without_the_pass_rule_relevance_is_not_conserved(net, faces):
    """Negative control: zennit's stock composite, which backpropagates the LRNs' true gradient,
    loses more than 1 % of the score on the same network (so the test above can fail)."""
    stock = zc.EpsilonAlpha2Beta1(epsilon=1e-12, stabilizer=1e-12)
    with prepared(net):
        relevance = attribute(net, faces, Target(TARGETS), stock)
    scores = _scores(net, faces)
    error = ((relevance.flatten(1).sum(1) - scores) / scores).abs().max()
    assert float(error) > 0.01


@pytest.mark.parametrize("shift", [0.0, 0.5])         # 0.5: negative inputs, zennit's general rule
def test_alpha2beta1_equals_zennits_composite_with_lrn_pass(net, faces, shift):
    x = faces - shift
    ours = explain(net, x, TARGETS, "lrp_alpha2beta1")
    reference = zc.EpsilonAlpha2Beta1(epsilon=1e-6, stabilizer=1e-6,
                                      layer_map=[(nn.LocalResponseNorm, zr.Pass())])
    one_hot = torch.eye(3, dtype=torch.float64)[TARGETS]
    with prepared(net), Gradient(model=net, composite=reference) as attributor:
        _, relevance = attributor(x, lambda output: one_hot * output)
    torch.testing.assert_close(ours, relevance, rtol=1e-10, atol=1e-14)


def test_the_base_map_adds_only_the_lrn_entry():
    base = layer_map_base(1e-6)
    assert len(base) == len(zc.layer_map_base(1e-6)) + 1
    types, rule = base[-1]
    assert types is nn.LocalResponseNorm and isinstance(rule, zr.Pass)
