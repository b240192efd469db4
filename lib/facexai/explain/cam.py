"""Grad-CAM (Selvaraju et al. 2017) on any convolutional layer, and Guided Grad-CAM.

The layer's output is recorded as a new leaf tensor (:func:`facexai.explain.hooks.tap` with
``leaf=True``) and the model's parameters are frozen, so the backward pass runs from the score down
to that layer and stops there: nothing below the layer is differentiated, or even recorded by
autograd. This is what makes Grad-CAM cheaper than one input gradient.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .hooks import default_cam_layer, find_layer, tap
from .lrp import guided_backprop
from .registry import register
from .targets import forward_score


def cam_layer(model, layer):
    """``(name, module)`` of the Grad-CAM layer: the given one, or :func:`default_cam_layer`."""
    return default_cam_layer(model) if layer is None else find_layer(model, layer)


def layer_gradcam(model, x, target, layer=None, relu=True) -> torch.Tensor:
    """Grad-CAM at the layer's resolution, ``(N, 1, h, w)``: ``ReLU(sum_k mean(dS/dA_k) A_k)``."""
    name, module = cam_layer(model, layer)
    x = x.detach()
    with tap(module, leaf=True) as seen:
        tensor, mask = forward_score(model, x, target)
    act = seen.output
    if act is None:
        raise ValueError(f"Grad-CAM layer {name!r} was not run by the forward pass (a target "
                         "layer below it ends the pass early)")
    if act.ndim != 4:
        raise ValueError(f"Grad-CAM layer {name!r} gives a {act.ndim}-D output "
                         f"{tuple(act.shape)}; it needs (N, C, h, w) maps")
    (grad,) = torch.autograd.grad(tensor, act, grad_outputs=mask, allow_unused=True)
    if grad is None:
        raise ValueError(f"the target does not depend on Grad-CAM layer {name!r} (is the target "
                         "layer below it?)")
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = (weights * act.detach()).sum(1, keepdim=True)
    return F.relu(cam) if relu else cam


def upsample(cam: torch.Tensor, size, mode: str) -> torch.Tensor:
    """Resize ``(N, 1, h, w)`` maps to ``size`` (captum's ``LayerAttribution.interpolate``)."""
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(cam, size=tuple(size), mode=mode, **kwargs)


@register("gradcam", "cam", layer=None, relu=True, interpolate="bilinear")
def gradcam(model, x, target, layer, relu, interpolate):
    """Grad-CAM of ``layer`` (default: the last convolution's ReLU), upsampled to the input size.

    ``layer``: a dotted module name or the module; ``relu``: keep only positive evidence (as in the
    paper); ``interpolate``: ``"bilinear"`` or ``"nearest"`` (captum's default) upsampling.
    """
    return upsample(layer_gradcam(model, x, target, layer, relu), x.shape[2:], interpolate)


@register("guided_gradcam", "cam", layer=None, interpolate="nearest", canonizers="auto")
def guided_gradcam(model, x, target, layer, interpolate, canonizers):
    """Guided Grad-CAM: guided backprop times the upsampled (rectified) Grad-CAM, per channel.

    What the paper-3 code computed with captum's ``GuidedGradCam`` (whose upsampling default,
    ``"nearest"``, is kept here).
    """
    cam = upsample(layer_gradcam(model, x, target, layer, relu=True), x.shape[2:], interpolate)
    return guided_backprop(model, x, target, canonizers) * cam
