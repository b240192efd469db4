"""Context managers that touch a model only for the duration of one explanation.

Every hook an explainer registers is removed in a ``finally`` (so also when the forward or backward
pass raises), and every change of state (eval mode, frozen parameters) is undone. A test counts
the hooks of every module before and after, in success and in failure.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a capture hook to end a forward pass once the wanted layer has run."""


@contextmanager
def prepared(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with frozen parameters; restore both afterwards.

    Eval mode, because dropout or batch statistics would make an explanation random. Frozen
    parameters, because an explanation needs gradients with respect to the input or an activation
    only: autograd then neither builds graph nodes for the layers below the first tensor that needs a
    gradient nor computes weight gradients, which is what makes Grad-CAM's backward pass stop at its
    layer.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def find_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """``(name, module)`` of a layer given by its dotted name (``"features.28"``) or as the module."""
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in modules.items():
            if module is layer:
                return name, module
        raise ValueError(f"layer {type(layer).__name__} is not a module of this model")
    if layer in modules and layer != "":
        return layer, modules[layer]
    names = [n for n in modules if n]
    raise ValueError(f"unknown layer {layer!r}; layers of this model: "
                     f"{', '.join(names[:40])}{' ...' if len(names) > 40 else ''}")


def default_cam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The last convolution, or the activation right after it: rectified maps, as in Grad-CAM."""
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    convs = [k for k, (_, m) in enumerate(leaves) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no nn.Conv2d layer; give Grad-CAM a layer")
    k = convs[-1]
    if k + 1 < len(leaves) and isinstance(leaves[k + 1][1], (nn.ReLU, nn.LeakyReLU, nn.ELU)):
        k += 1
    return leaves[k]


class Tap:
    """What a :func:`tap` hook saw: the layer's output."""

    output: torch.Tensor | None = None


@contextmanager
def tap(module: nn.Module, *, leaf: bool = False, stop: bool = False) -> Iterator[Tap]:
    """Record the output of ``module`` during the forward passes inside the block.

    Parameters
    ----------
    leaf : bool
        Replace the output by a new leaf tensor that requires a gradient (and feed the rest of the
        network a copy of it, so that an in-place activation after the layer cannot change it). A
        gradient with respect to the recorded tensor then never flows into the layers below.
    stop : bool
        End the forward pass right after the layer (raises :class:`StopForward`, which
        :func:`run_forward` catches): for targets inside the network, nothing above runs.
    """
    seen = Tap()

    def hook(mod, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"layer {type(mod).__name__} returns {type(output).__name__}, "
                            "not a tensor")
        if leaf:
            output = output.detach().requires_grad_(True)
        seen.output = output
        if stop:
            raise StopForward
        return output.clone() if leaf else None

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def run_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """``model(x)``, or ``None`` when a :func:`tap` with ``stop=True`` ended the pass early."""
    try:
        return model(x)
    except StopForward:
        return None


def hook_count(model: nn.Module) -> int:
    """Number of forward, forward-pre and backward hooks registered on any module of ``model``."""
    total = 0
    for m in model.modules():
        total += len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        total += len(getattr(m, "_backward_pre_hooks", {}))
    return total
