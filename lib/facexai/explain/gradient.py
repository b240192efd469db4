"""Gradient-based explainers: gradient, gradient x input, SmoothGrad, integrated gradients.

Each function has the explainer contract ``(model, x, target, **options) -> relevance (N, C, H, W)``
and is called through :func:`facexai.explain.explain`, which prepares the model (eval mode, frozen
parameters), resolves the target and checks the options.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .registry import register
from .targets import Target, forward_score


def input_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """d score / d x, one backward pass (``torch.autograd.grad``: no parameter gradients)."""
    x = x.detach().requires_grad_(True)
    tensor, mask = forward_score(model, x, target)
    (grad,) = torch.autograd.grad(tensor, x, grad_outputs=mask)
    return grad


@register("gradient", "gradient")
def gradient(model, x, target):
    """Sensitivity: the gradient of the score with respect to the input (Simonyan et al. 2014)."""
    return input_gradient(model, x, target)


@register("gradient_x_input", "gradient")
def gradient_x_input(model, x, target):
    """Gradient times input; equals LRP-0 on ReLU networks (Shrikumar et al. 2016)."""
    return input_gradient(model, x, target) * x


@register("smoothgrad", "gradient", indexed=True, n_samples=25, noise_level=0.15, seed=0)
def smoothgrad(model, x, target, n_samples, noise_level, seed, *, start=0):
    """Mean gradient over ``n_samples`` noisy copies of the input (Smilkov et al. 2017).

    The noise is Gaussian with standard deviation ``noise_level * (max - min)`` of each sample. Image
    ``k`` of the batch draws its noise from its own generator (on the input's device) seeded with
    ``seed + k``, where ``k`` counts from the first image given to
    :func:`facexai.explain.explain` (``start`` is the index of ``x[0]`` there), so an image's map
    depends neither on ``batch_size`` nor on the other images of the batch.
    """
    if n_samples < 1:
        raise ValueError(f"smoothgrad: n_samples must be >= 1, got {n_samples}")
    gens = [torch.Generator(device=x.device).manual_seed(int(seed) + int(start) + k)
            for k in range(len(x))]
    span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, *([1] * (x.ndim - 1)))
    total = torch.zeros_like(x)
    for _ in range(int(n_samples)):
        noise = torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype)
                             for g in gens])
        total += input_gradient(model, x + noise_level * span * noise, target)
    return total / n_samples


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    if isinstance(baseline, str):
        if baseline != "mean":
            raise ValueError(f"baseline must be a number, a tensor or 'mean', got {baseline!r}")
        return x.mean(dim=tuple(range(1, x.ndim)), keepdim=True).expand_as(x)
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


@register("integrated_gradients", "gradient", n_steps=32, baseline=0.0)
def integrated_gradients(model, x, target, n_steps, baseline):
    """Integrated gradients (Sundararajan et al. 2017) with Gauss-Legendre quadrature.

    ``(x - x0) * integral_0^1 grad(x0 + a (x - x0)) da`` with ``n_steps`` Gauss-Legendre nodes (the
    quadrature captum uses by default). Completeness: the relevance sums to ``s(x) - s(x0)`` up to
    the quadrature error. ``baseline``: a number, a tensor broadcastable to ``x``, or ``"mean"``
    (each image's mean value).
    """
    if n_steps < 1:
        raise ValueError(f"integrated_gradients: n_steps must be >= 1, got {n_steps}")
    x0 = _baseline(x, baseline)
    nodes, weights = np.polynomial.legendre.leggauss(int(n_steps))
    alphas, weights = (nodes + 1) / 2, weights / 2          # from [-1, 1] to [0, 1]
    total = torch.zeros_like(x)
    for a, w in zip(alphas.tolist(), weights.tolist()):
        total += w * input_gradient(model, x0 + a * (x - x0), target)
    return (x - x0) * total
