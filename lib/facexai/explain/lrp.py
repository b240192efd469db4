"""Layer-wise relevance propagation through zennit, and the two modified-ReLU gradients.

Every LRP method is a zennit *composite* (a map from layer types to rules) registered on the model
only inside ``with composite.context(model)``, which removes the rule hooks and reverts the
canonizers on leaving, also after an exception. Relevance starts at the explained score
(``mask * output`` of the target), so it sums to the score wherever the rules conserve it.

==========================  ===================================================================
key                         rules
==========================  ===================================================================
``lrp_epsilon``             epsilon on every convolution and dense layer (Bach et al. 2015)
``lrp_zplus``               z+ on convolutions, epsilon on dense layers (zennit ``EpsilonPlus``)
``lrp_alpha1beta0``         alpha1-beta0 on convolutions, epsilon on dense layers
``lrp_alpha2beta1``         alpha2-beta1 on convolutions, epsilon on dense layers
``lrp_epsilon_plus_flat``   flat on the first layer, z+ on convolutions, epsilon on dense
                            layers (zennit ``EpsilonPlusFlat``; Kohlbrenner et al. 2020)
``lrp_epsilon_gamma_box``   z-box on the first layer, gamma on convolutions, epsilon on dense
                            layers (zennit ``EpsilonGammaBox``)
``guided_backprop``         gradient with guided-backprop ReLUs (Springenberg et al. 2015)
``deconvnet``               gradient with deconvnet ReLUs (Zeiler & Fergus 2014)
==========================  ===================================================================

Canonizers (``canonizers="auto"``): batch norms that follow a linear layer are merged into it
(zennit's ``VGGCanonizer`` for torchvision VGGs, ``SequentialMergeBatchNorm`` otherwise) and
torchvision ResNets get ``ResNetCanonizer``; the merged model computes the same function, which a
test checks. The z+, alpha-beta and gamma rules are those of :mod:`.rules` (zennit's, with a
shortcut for non-negative layer inputs that gives the same relevance in fewer passes).
"""
from __future__ import annotations

import torch
from torch import nn
from zennit import composites as zc
from zennit import rules as zr
from zennit import types as zt
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.torchvision import ResNetCanonizer, VGGCanonizer

from . import rules as fast
from .registry import register
from .targets import Target, forward_score


def auto_canonizers(model: nn.Module) -> list:
    """The canonizers ``model`` needs: none without batch norm; VGG / ResNet / sequential merging."""
    import torchvision

    if isinstance(model, torchvision.models.ResNet):
        return [ResNetCanonizer()]
    if not any(isinstance(m, zt.BatchNorm) for m in model.modules()):
        return []
    if isinstance(model, torchvision.models.VGG):
        return [VGGCanonizer()]
    return [SequentialMergeBatchNorm()]


def _canonizers(model, canonizers):
    if canonizers == "auto":
        return auto_canonizers(model)
    if canonizers is None:
        return []
    return list(canonizers)


def _bounds(x: torch.Tensor, low, high) -> tuple[torch.Tensor, torch.Tensor]:
    """Input bounds of the z-box rule: given, or the batch's smallest and largest value."""
    low = x.detach().amin() if low is None else low
    high = x.detach().amax() if high is None else high
    return (torch.as_tensor(low, dtype=x.dtype, device=x.device),
            torch.as_tensor(high, dtype=x.dtype, device=x.device))


def attribute(model: nn.Module, x: torch.Tensor, target: Target, comp,
              start_with_score: bool = True) -> torch.Tensor:
    """Relevance of ``x`` under the zennit composite ``comp``: one forward and one modified backward pass.

    ``start_with_score`` starts the backward pass at ``mask * output`` (LRP: relevance sums to the
    score); otherwise at ``mask`` (modified gradients: guided backprop, deconvnet).
    """
    x = x.detach().requires_grad_(True)
    with comp.context(model):
        tensor, mask = forward_score(model, x, target)
        start = mask * tensor.detach() if start_with_score else mask
        (relevance,) = torch.autograd.grad(tensor, x, grad_outputs=start)
    return relevance


def composite(method: str, *, epsilon=1e-6, stabilizer=1e-6, gamma=0.25, low=None, high=None,
              canonizers=()):
    """The zennit composite of LRP method ``method`` (a key of the table above).

    The layer maps are zennit's own (``layer_map_base`` + the rule per layer type, the special
    first-layer maps of ``EpsilonPlusFlat`` and ``EpsilonGammaBox``), with the rules of
    :mod:`.rules` in place of zennit's z+, alpha-beta and gamma: same relevance, fewer passes.
    """
    base = zc.layer_map_base(stabilizer)
    dense = (nn.Linear, zr.Epsilon(epsilon=epsilon))
    canonizers = list(canonizers)
    if method == "lrp_epsilon":
        return zc.LayerMapComposite(base + [(zt.Linear, zr.Epsilon(epsilon=epsilon))], canonizers)
    conv_rules = {
        "lrp_zplus": fast.ZPlus(stabilizer=stabilizer),
        "lrp_alpha1beta0": fast.AlphaBeta(alpha=1.0, beta=0.0, stabilizer=stabilizer),
        "lrp_alpha2beta1": fast.AlphaBeta(alpha=2.0, beta=1.0, stabilizer=stabilizer),
        "lrp_epsilon_plus_flat": fast.ZPlus(stabilizer=stabilizer),
        "lrp_epsilon_gamma_box": fast.Gamma(gamma=gamma, stabilizer=stabilizer),
    }
    if method not in conv_rules:
        raise ValueError(f"unknown LRP method {method!r}; known: lrp_epsilon, {', '.join(conv_rules)}")
    layer_map = base + [(zt.Convolution, conv_rules[method]), dense]
    if method == "lrp_epsilon_plus_flat":
        first = [(zt.Linear, zr.Flat(stabilizer=stabilizer))]
    elif method == "lrp_epsilon_gamma_box":
        first = [(zt.Convolution, zr.ZBox(low=low, high=high, stabilizer=stabilizer))]
    else:
        return zc.LayerMapComposite(layer_map, canonizers)
    return zc.SpecialFirstLayerMapComposite(layer_map, first, canonizers)


@register("lrp_epsilon", "lrp", epsilon=1e-6, stabilizer=1e-6, canonizers="auto")
def lrp_epsilon(model, x, target, epsilon, stabilizer, canonizers):
    """LRP-epsilon on every convolution and dense layer; epsilon -> 0 gives gradient x input."""
    return attribute(model, x, target, composite("lrp_epsilon", epsilon=epsilon, stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("lrp_zplus", "lrp", epsilon=1e-6, stabilizer=1e-6, canonizers="auto")
def lrp_zplus(model, x, target, epsilon, stabilizer, canonizers):
    """LRP z+ on convolutions and epsilon on dense layers (zennit's EpsilonPlus)."""
    return attribute(model, x, target, composite("lrp_zplus", epsilon=epsilon, stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("lrp_alpha1beta0", "lrp", epsilon=1e-6, stabilizer=1e-6, canonizers="auto")
def lrp_alpha1beta0(model, x, target, epsilon, stabilizer, canonizers):
    """LRP alpha1-beta0 on convolutions and epsilon on dense layers."""
    return attribute(model, x, target, composite("lrp_alpha1beta0", epsilon=epsilon,
                                            stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("lrp_alpha2beta1", "lrp", epsilon=1e-6, stabilizer=1e-6, canonizers="auto")
def lrp_alpha2beta1(model, x, target, epsilon, stabilizer, canonizers):
    """LRP alpha2-beta1 on convolutions and epsilon on dense layers (zennit's EpsilonAlpha2Beta1)."""
    return attribute(model, x, target, composite("lrp_alpha2beta1", epsilon=epsilon,
                                            stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("lrp_epsilon_plus_flat", "lrp", epsilon=1e-6, stabilizer=1e-6, canonizers="auto")
def lrp_epsilon_plus_flat(model, x, target, epsilon, stabilizer, canonizers):
    """LRP with the flat rule on the first layer, z+ on convolutions, epsilon on dense layers."""
    return attribute(model, x, target, composite("lrp_epsilon_plus_flat", epsilon=epsilon,
                                            stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("lrp_epsilon_gamma_box", "lrp", epsilon=1e-6, gamma=0.25, low=None, high=None,
          stabilizer=1e-6, canonizers="auto")
def lrp_epsilon_gamma_box(model, x, target, epsilon, gamma, low, high, stabilizer, canonizers):
    """LRP with z-box on the first layer, gamma on convolutions, epsilon on dense layers.

    ``low`` / ``high``: the smallest and largest possible input value (numbers or tensors
    broadcastable to one image); by default the batch's minimum and maximum.
    """
    lo, hi = _bounds(x, low, high)
    return attribute(model, x, target, composite("lrp_epsilon_gamma_box", epsilon=epsilon, gamma=gamma,
                                            low=lo, high=hi, stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


@register("guided_backprop", "modified_gradient", canonizers="auto")
def guided_backprop(model, x, target, canonizers):
    """Gradient in which every ReLU passes back only positive gradients where its input was positive."""
    comp = zc.GuidedBackprop(canonizers=_canonizers(model, canonizers))
    return attribute(model, x, target, comp, start_with_score=False)


@register("deconvnet", "modified_gradient", canonizers="auto")
def deconvnet(model, x, target, canonizers):
    """Gradient in which every ReLU passes back the positive part of the gradient (deconvnet)."""
    comp = zc.DeconvNet(canonizers=_canonizers(model, canonizers))
    return attribute(model, x, target, comp, start_with_score=False)
