"""Grad-CAM (Selvaraju et al. 2017) on any convolutional layer, Guided Grad-CAM, and class
activation maps of many outputs at once.

The layer's output is recorded as a new leaf tensor (:func:`facexai.explain.hooks.tap` with
``leaf=True``) and the model's parameters are frozen, so the backward pass runs from the score down
to that layer and stops there: nothing below the layer is differentiated, or even recorded by
autograd. This is what makes Grad-CAM cheaper than one input gradient.

* :func:`gradcam`, :func:`guided_gradcam` - the registered explainers (one target per call);
* :class:`CAM` - maps of *many* outputs of one model and both directions of each, from one forward
  pass per batch (each output costs one backward pass down to the layer). As in pytorch-grad-cam's
  ``BaseCAM``, a variant is one override of :meth:`CAM.weights`; :class:`GradCAM` is Grad-CAM's
  (a test checks it against :func:`gradcam` and captum's ``LayerGradCam``);
* :func:`find_cam_layer`, :func:`layer_shape`, :func:`finer_layer` - which layer, its map size, and
  the layer one pooling stage finer.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .hooks import default_cam_layer, find_layer, prepared, run_forward, tap
from .lrp import guided_backprop
from .registry import register
from .targets import forward_score

__all__ = ["CAM", "GradCAM", "find_cam_layer", "finer_layer", "gradcam", "gradcam_outputs",
           "guided_gradcam", "layer_gradcam", "layer_shape", "upsample"]


def find_cam_layer(model, layer):
    """``(name, module)`` of the Grad-CAM layer: the given one (dotted name or module), or
    :func:`facexai.explain.hooks.default_cam_layer` for None."""
    return default_cam_layer(model) if layer is None else find_layer(model, layer)


def layer_gradcam(model, x, target, layer=None, relu=True) -> torch.Tensor:
    """Grad-CAM at the layer's resolution, ``(N, 1, h, w)``: ``ReLU(sum_k mean(dS/dA_k) A_k)``."""
    name, module = find_cam_layer(model, layer)
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


# ---------------------------------------------------------------------------------------------
# Many outputs from one forward pass
# ---------------------------------------------------------------------------------------------

def _check_signs(signs) -> list[int]:
    out = []
    for s in signs:
        if s not in (1, -1):
            raise ValueError(f"sign must be +1 (why high) or -1 (why low), got {s!r}")
        out.append(int(s))
    return out


class CAM:
    """Class activation maps of many outputs of ``model`` at ``layer``, both directions each.

    The forward pass to the output is shared by every output and sign; each output then costs one
    backward pass from the output down to ``layer`` (the parameters are frozen and the layer's
    output is a leaf, so nothing below it is differentiated). For a multi-output network this is
    what makes explaining every output affordable.

    A variant overrides :meth:`weights` only (pytorch-grad-cam's ``get_cam_weights``); the map of
    output ``i`` in direction ``s`` is ``ReLU(sum_k weights(s dy_i/dA, A)_k A_k)``, upsampled.

    Parameters
    ----------
    model : torch.nn.Module
        Output ``(N, K)``.
    layer : str, nn.Module or None
        The layer (None: the last convolution's ReLU, as :func:`gradcam`).
    interpolate : {"bilinear", "nearest", "bicubic"}
        Upsampling to the input size (as :func:`gradcam`'s option).
    batch_size : int
        Inputs per forward pass (the maps do not depend on it).
    """

    def __init__(self, model: nn.Module, layer=None, *, interpolate: str = "bilinear",
                 batch_size: int = 32):
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.name, self.module = find_cam_layer(model, layer)
        self.interpolate = interpolate
        self.batch_size = int(batch_size)

    def weights(self, grad: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Channel weights ``(N, C, 1, 1)`` (or per position, ``(N, C, h, w)``) from the signed
        gradient ``grad`` of the explained output with respect to the layer's output ``act``."""
        raise NotImplementedError(f"{type(self).__name__} must define weights(grad, act)")

    def _batch(self, xb: torch.Tensor, outputs: list[int], signs: list[int]) -> dict:
        with tap(self.module, leaf=True) as seen:
            out = self.model(xb)
        act = seen.output
        if act is None or act.ndim != 4:
            raise ValueError(f"CAM layer {self.name!r} gives no (N, C, h, w) maps")
        if out.ndim != 2:
            raise ValueError(f"the model's output must be (N, K), got {tuple(out.shape)}")
        maps = {}
        for k, i in enumerate(outputs):
            (grad,) = torch.autograd.grad(out[:, i].sum(), act, retain_graph=k < len(outputs) - 1)
            for s in signs:
                cam = (self.weights(s * grad, act.detach()) * act.detach()).sum(1, keepdim=True)
                cam = upsample(F.relu(cam), xb.shape[2:], self.interpolate)
                maps[i, s] = cam[:, 0].detach().double().cpu().numpy()
        return maps

    def __call__(self, x: torch.Tensor, outputs, signs=(1,)) -> dict[tuple[int, int], np.ndarray]:
        """Maps of ``outputs`` (indices into the model's output) in each of ``signs`` (+1: why
        the output is high, -1: why it is low).

        Returns
        -------
        dict
            ``{(output, sign): (N, H, W) float64}`` in the input's pixel grid.
        """
        outputs = [int(i) for i in outputs]
        signs = _check_signs(signs)
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError(f"x must be a tensor (N, C, H, W), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        parts: dict[tuple[int, int], list] = {(i, s): [] for i in outputs for s in signs}
        with prepared(self.model):
            for start in range(0, len(x), self.batch_size):
                for key, maps in self._batch(x[start:start + self.batch_size].detach(),
                                             outputs, signs).items():
                    parts[key].append(maps)
        return {key: np.concatenate(v) for key, v in parts.items()}


class GradCAM(CAM):
    """Grad-CAM: each channel weighted by its spatially averaged gradient (the same maps as the
    registered ``"gradcam"`` explainer with ``relu=True``)."""

    def weights(self, grad: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return grad.mean(dim=(2, 3), keepdim=True)


def gradcam_outputs(model: nn.Module, x: torch.Tensor, outputs, layer=None, signs=(1, -1), *,
                    batch_size: int = 32, interpolate: str = "bilinear"
                    ) -> dict[tuple[int, int], np.ndarray]:
    """:class:`GradCAM` of ``outputs`` of ``model`` in each of ``signs``:
    ``{(output, sign): (N, H, W) float64}``."""
    return GradCAM(model, layer, interpolate=interpolate, batch_size=batch_size)(x, outputs, signs)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------

def layer_shape(model: nn.Module, x: torch.Tensor, layer) -> tuple[int, ...]:
    """Shape of ``layer``'s output for one input of ``x``, without the batch axis (the forward
    pass stops at the layer)."""
    _, module = find_layer(model, layer)
    with prepared(model), torch.no_grad(), tap(module, stop=True) as seen:
        run_forward(model, x[:1])
    if seen.output is None:
        raise ValueError(f"layer {layer!r} was not run by the forward pass")
    return tuple(seen.output.shape[1:])


def finer_layer(model: nn.Module, layer) -> str:
    """The layer one pooling stage finer than ``layer``: the module just before the pooling layer
    that precedes ``layer`` in its parent ``nn.Sequential``.

    For VGG16's ``features.30`` (the last max-pool, paper 3's Grad-CAM layer) this is
    ``features.22``, the ReLU of conv4_3, whose maps are twice as fine in each direction as those of
    ``features.29`` and four times as fine as those of ``features.30``.
    """
    name, _ = find_layer(model, layer)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    names = [n for n, _ in parent.named_children()]
    if child not in names:
        raise ValueError(f"layer {name!r} is not a direct child of a sequential block")
    children = list(parent.children())
    pools = [i for i, m in enumerate(children[:names.index(child)])
             if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    if not pools or pools[-1] == 0:
        raise ValueError(f"no pooling layer with a layer before it precedes {name!r}")
    return ".".join(filter(None, (parent_name, names[pools[-1] - 1])))
