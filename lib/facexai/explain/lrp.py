"""Layer-wise relevance propagation through zennit, and the two modified-ReLU gradients.

Every LRP method is a zennit *composite* (a map from layer types to rules) registered on the model
only inside ``with composite.context(model)``, which removes the rules and reverts the canonizers on
leaving, also after an exception. Relevance starts at the explained score (``mask * output`` of the
target), so it sums to the score wherever the rules conserve it. The rules are zennit's, computed
by :mod:`.rules`: on convolutions, dense layers, activations, batch norms and pools each replaces
the layer's forward, for the duration of the context, by one autograd Function whose backward is
the rule, so the layer's true backward pass never runs and the rules' extra passes are only those
they need. EpsilonPlusFlat and EpsilonGammaBox cost about 1.3-1.5 plain input gradients (``make
bench``; zennit's own attributor 3-6); the relevance equals zennit's to 1e-10 in float64 (tests).

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

Canonizers (``canonizers="auto"``, LRP only): batch norms that follow a linear layer are merged into
it (zennit's ``SequentialMergeBatchNorm``, which is also what its ``VGGCanonizer`` does) and
torchvision ResNets get zennit's ``ResNetCanonizer`` built on the same merge. zennit 0.5.1 leaves
the reduced batch norm dividing by ``sqrt(1 + eps)``; :class:`ExactMergeBatchNorm` sets its running
variance to ``1 - eps`` instead, so the merged model computes the same function (a test checks it to
1e-6 relative in float64). Guided backprop and deconvnet are gradients, on which merging changes
nothing: they are never canonized by default.

The z-box rule of ``lrp_epsilon_gamma_box`` needs the smallest and largest value each input channel
can take. They are fixed by what the inputs are, never by the batch: by default the pixel range
``[low, high] = [0, 1]`` mapped through the normalisation ``(x - mean) / std`` the model was trained
with (``mean``, ``std``: numbers or one per channel), or given directly in model-input units.

Every composite starts from zennit's ``layer_map_base`` (ReLUs and batch norms pass relevance on,
sums and average pools distribute it in proportion to their inputs) plus one entry of our own,
:func:`layer_map_base`: local response normalisation (``nn.LocalResponseNorm``, the ``norm1`` /
``norm2`` of paper 1's Levi & Hassner network) passes relevance through unchanged, the convention of
the LRP toolbox (Lapuschkin et al. 2016). Without a rule zennit would propagate the true gradient of
the normalisation, and the relevance would no longer sum to the score; with ``Pass`` it does (a test
checks it on :func:`facexai.models.levi_hassner` with zero biases).

The rules of :mod:`.rules` subclass zennit's: zennit's composites, canonizers and first-layer maps
apply them, and where a shortcut does not hold (a layer input below zero, a layer type without a
direct formula, ``zero_params``) they compute zennit's own relevance.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from zennit import composites as zc
from zennit import rules as zr
from zennit import types as zt
from zennit.canonizers import CompositeCanonizer, SequentialMergeBatchNorm
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer

from . import rules as fast
from .registry import register
from .targets import Target, forward_score


class ExactMergeBatchNorm(SequentialMergeBatchNorm):
    """zennit's ``SequentialMergeBatchNorm`` whose reduced batch norm is an exact identity.

    zennit 0.5.1 merges ``w / sqrt(var + eps)`` into the linear layer and then sets the batch norm
    to mean 0, variance 1, weight 1, bias 0, which still divides by ``sqrt(1 + eps)`` (6e-5 relative
    on VGG16-BN). Here the running variance becomes ``1 - eps``. ``remove()`` restores every tensor
    (zennit keeps the originals; the merge only assigns new ones).
    """

    @staticmethod
    def merge_batch_norm(modules, batch_norm):
        SequentialMergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data,
                                                      1.0 - batch_norm.eps)


def exact_resnet_canonizer() -> CompositeCanonizer:
    """zennit's ``ResNetCanonizer`` with :class:`ExactMergeBatchNorm` as its batch-norm merge."""
    return CompositeCanonizer((ExactMergeBatchNorm(), ResNetBottleneckCanonizer(),
                               ResNetBasicBlockCanonizer()))


def auto_canonizers(model: nn.Module) -> list:
    """The canonizers LRP needs on ``model``: none without batch norm; ResNet / sequential merging."""
    import torchvision

    if isinstance(model, torchvision.models.ResNet):
        return [exact_resnet_canonizer()]
    if not any(isinstance(m, zt.BatchNorm) for m in model.modules()):
        return []
    return [ExactMergeBatchNorm()]


def _canonizers(model, canonizers):
    if isinstance(canonizers, str):
        if canonizers != "auto":
            raise ValueError(f"canonizers must be 'auto', None or a list of zennit canonizers, "
                             f"got {canonizers!r}")
        return auto_canonizers(model)
    if canonizers is None:
        return []
    return list(canonizers)


def _per_channel(name: str, value, c: int, like: torch.Tensor) -> torch.Tensor:
    """``value`` (a number or one per channel) as a ``(1, c, 1, 1)`` tensor like ``like``."""
    t = torch.as_tensor(value, dtype=like.dtype).to(like.device).flatten()
    if t.numel() == 1:
        t = t.expand(c)
    if t.numel() != c:
        raise ValueError(f"{name} must be a number or one value per input channel ({c}), got "
                         f"{t.numel()} values")
    return t.reshape(1, c, *([1] * (like.ndim - 2)))


def box_bounds(x: torch.Tensor, low=0.0, high=1.0, mean=0.0, std=1.0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel z-box bounds ``((low - mean) / std, (high - mean) / std)``, ``(1, C, 1, 1)``.

    ``low`` / ``high``: the smallest and largest value an input channel can take before the
    normalisation (``0`` and ``1`` for images scaled to [0, 1]); ``mean`` / ``std``: the normalisation
    ``(x - mean) / std`` the model's inputs went through (``0`` / ``1``: none; ImageNet's per-channel
    values for paper 3). Each a number or one value per channel. Nothing depends on ``x``'s values:
    ``x`` gives only the number of channels, dtype and device. A warning says when ``x`` lies
    outside the bounds (the z-box rule then loses its meaning).
    """
    c = x.shape[1]
    lo, hi, mu, sd = (_per_channel(n, v, c, x) for n, v in
                      (("low", low), ("high", high), ("mean", mean), ("std", std)))
    if bool((sd <= 0).any()):
        raise ValueError(f"std must be positive, got {std!r}")
    if bool((hi <= lo).any()):
        raise ValueError(f"z-box bounds need low < high per channel, got low={low!r}, high={high!r}")
    lo, hi = (lo - mu) / sd, (hi - mu) / sd
    xd = x.detach()
    tol = 1e-6 * (hi - lo)
    if bool((xd < lo - tol).any() or (xd > hi + tol).any()):
        warnings.warn(
            f"lrp_epsilon_gamma_box: the inputs range over [{float(xd.min()):.4g}, "
            f"{float(xd.max()):.4g}] but the z-box bounds are {_fmt(lo)} .. {_fmt(hi)}; give the "
            "input range (low, high) and normalisation (mean, std) the inputs were made with",
            UserWarning, stacklevel=3)
    return lo, hi


def _fmt(t: torch.Tensor) -> str:
    v = [round(float(a), 4) for a in t.flatten()]
    return str(v[0]) if len(set(v)) == 1 else str(v)


def attribute(model: nn.Module, x: torch.Tensor, target: Target, comp,
              start_with_score: bool = True) -> torch.Tensor:
    """Relevance of ``x`` under the zennit composite ``comp``: one forward and one modified backward pass.

    ``start_with_score`` starts the backward pass at ``mask * output`` (LRP: relevance sums to the
    score); otherwise at ``mask`` (modified gradients: guided backprop, deconvnet). A regression
    model :class:`facexai.training.Rescaled` (``net(x) * scale + shift``) starts at the scaled
    output of its ``net``: relevance sums to the score less the shift, as it would to the score
    less a bias.
    """
    from ..training import Rescaled

    x = x.detach().requires_grad_(True)
    if start_with_score and isinstance(model, Rescaled) and target.layer is None:
        # ``net(x) * scale + shift``: relevance starts at the scaled output of ``net`` (the shift,
        # a constant, is a bias and carries none); through the multiplication it would arrive
        # multiplied by the scale a second time
        with comp.context(model.net):
            tensor, mask = forward_score(model.net, x, target)
            start = mask * tensor.detach() * model.scale
            (relevance,) = torch.autograd.grad(tensor, x, grad_outputs=start)
        return relevance
    with comp.context(model):
        tensor, mask = forward_score(model, x, target)
        start = mask * tensor.detach() if start_with_score else mask
        (relevance,) = torch.autograd.grad(tensor, x, grad_outputs=start)
    return relevance


def layer_map_base(stabilizer=1e-6) -> list:
    """zennit's ``layer_map_base(stabilizer)`` plus ``(nn.LocalResponseNorm, Pass())``: the layer map
    every LRP composite here starts from (the LRP toolbox passes relevance through LRN unchanged),
    with zennit's ``Pass`` and ``Norm`` computed by :mod:`.rules`."""
    fast_rule = {zr.Pass: fast.Pass, zr.Norm: lambda: fast.Norm(stabilizer=stabilizer)}
    return [(types, fast_rule[type(rule)]() if type(rule) in fast_rule else rule)
            for types, rule in zc.layer_map_base(stabilizer)] + [(nn.LocalResponseNorm, fast.Pass())]


def composite(method: str, *, epsilon=1e-6, stabilizer=1e-6, gamma=0.25, low=None, high=None,
              canonizers=()):
    """The zennit composite of LRP method ``method`` (a key of the table above).

    The layer maps are zennit's own (``layer_map_base`` + the rule per layer type, the special
    first-layer maps of ``EpsilonPlusFlat`` and ``EpsilonGammaBox``), with the rules of
    :mod:`.rules` in place of zennit's: same relevance, no wasted pass. The base map also passes
    relevance through local response normalisation (:func:`layer_map_base`).
    """
    base = layer_map_base(stabilizer)
    dense = (nn.Linear, fast.Epsilon(epsilon=epsilon))
    canonizers = list(canonizers)
    if method == "lrp_epsilon":
        return zc.LayerMapComposite(base + [(zt.Linear, fast.Epsilon(epsilon=epsilon))], canonizers)
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
        first = [(zt.Linear, fast.Flat(stabilizer=stabilizer))]
    elif method == "lrp_epsilon_gamma_box":
        first = [(zt.Convolution, fast.ZBox(low=low, high=high, stabilizer=stabilizer))]
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


@register("lrp_epsilon_gamma_box", "lrp", epsilon=1e-6, gamma=0.25, low=0.0, high=1.0, mean=0.0,
          std=1.0, stabilizer=1e-6, canonizers="auto")
def lrp_epsilon_gamma_box(model, x, target, epsilon, gamma, low, high, mean, std, stabilizer,
                          canonizers):
    """LRP with z-box on the first layer, gamma on convolutions, epsilon on dense layers.

    z-box bounds per channel: ``(low - mean) / std`` and ``(high - mean) / std``, where ``low`` /
    ``high`` is the input range before normalisation (default [0, 1]) and ``mean`` / ``std`` the
    normalisation (numbers or one per channel); see :func:`box_bounds`.
    """
    lo, hi = box_bounds(x, low, high, mean, std)
    return attribute(model, x, target, composite("lrp_epsilon_gamma_box", epsilon=epsilon, gamma=gamma,
                                            low=lo, high=hi, stabilizer=stabilizer,
                                            canonizers=_canonizers(model, canonizers)))


def _gradient_canonizers(model, canonizers):
    """Canonizers for a modified gradient: none unless given as a list (merging a batch norm into
    the layer before it does not change a gradient, so ``"auto"`` means none here)."""
    return [] if canonizers is None or isinstance(canonizers, str) and canonizers == "auto" \
        else _canonizers(model, canonizers)


@register("guided_backprop", "modified_gradient", canonizers=None)
def guided_backprop(model, x, target, canonizers=None):
    """Gradient in which every ReLU passes back only positive gradients where its input was positive."""
    comp = zc.GuidedBackprop(canonizers=_gradient_canonizers(model, canonizers))
    return attribute(model, x, target, comp, start_with_score=False)


@register("deconvnet", "modified_gradient", canonizers=None)
def deconvnet(model, x, target, canonizers=None):
    """Gradient in which every ReLU passes back the positive part of the gradient (deconvnet)."""
    comp = zc.DeconvNet(canonizers=_gradient_canonizers(model, canonizers))
    return attribute(model, x, target, comp, start_with_score=False)
