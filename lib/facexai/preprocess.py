"""Batch preprocessing of grayscale faces as the anna library (paper 2's code) does it.

* :func:`local_normalise` is anna's ``Normer3``: subtract the local ``size`` x ``size`` mean
  (a convolution with zero padding divided by ``size**2``, so border means count the padding),
  then divide by the local mean of the squared difference raised to ``power``. The code writes the
  power as ``1 / 2``, which Python 2 evaluates to 0: as the code behaves, ``power=0`` (mean
  subtraction only); as intended, ``power=0.5`` (division by the local standard deviation).
* :func:`random_affine_gray` is anna's ``DataAugmenter2(flip=True, gray_on=True)``: per image a
  rotation U(-5, 5) degrees, a scale U(0.7, 1.4) of the sampling grid (above 1 the face shrinks),
  a translation U(-d/2, d/2) with ``d = size - scale * size``, a horizontal flip with p = 0.5,
  bilinear sampling with zero fill; then ``img ** U(0.25, 4) * U(0.7, 1.4) + U(-0.1, 0.1)``,
  min-max scaled to [0, 1] and multiplied by 2.

Both take and return float tensors ``(N, 1, H, W)``; the randomness comes from a
``torch.Generator``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["local_normalise", "random_affine_gray", "scaled_input"]

#: Added to the local variance before dividing by it (``power > 0``): anna adds nothing.
EPS = 1e-8


def _batch(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"{name} must be a float tensor (N, 1, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    return x.float()


def scaled_input(images) -> torch.Tensor:
    """uint8 images ``(N, H, W)`` or ``(N, 1, H, W)`` as anna's input: ``x / 255 * 2`` in [0, 2],
    float32 ``(N, 1, H, W)``."""
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"images must be (N, H, W) or (N, 1, H, W), got shape {tuple(x.shape)}")
    return x.float() / 255.0 * 2.0


def local_normalise(x: torch.Tensor, size: int = 5, power: float = 0.0, *,
                    zero_padding: bool = True) -> torch.Tensor:
    """anna's ``Normer3(filter_size=size)`` (see the module docstring).

    Parameters
    ----------
    x : Tensor (N, 1, H, W)
    size : int
        Odd window side (paper 2: 5).
    power : float
        0: local mean subtraction only (the code as it runs under Python 2); 0.5: divided by the
        local standard deviation (the code as written).
    zero_padding : bool
        True: windows at the border average over zeros outside the image, as anna's padded
        convolution does; False: over the pixels inside the image only (a constant image then
        becomes exactly 0; :func:`facexai.models.local_mean_subtraction`).
    """
    x = _batch(x)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive integer, got {size!r}")
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"power must be in [0, 1], got {power!r}")
    pad = size // 2
    mean = F.avg_pool2d(x, size, stride=1, padding=pad, count_include_pad=zero_padding)
    diff = x - mean
    if power == 0.0:
        return diff
    var = F.avg_pool2d(diff ** 2, size, stride=1, padding=pad, count_include_pad=zero_padding)
    return diff / (var + EPS) ** power


def _affine_grid(n: int, h: int, w: int, angle, scale, tx, ty) -> torch.Tensor:
    """Sampling grid (normalised, ``align_corners=True``) of output pixel p at input
    ``c_in + scale * R(angle) (p - c_out) + t``."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    a = torch.stack([torch.stack([scale * cos, -scale * sin], 1),
                     torch.stack([scale * sin, scale * cos], 1)], 1)            # (n, 2, 2)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    p = torch.stack([xs - (w - 1) / 2, ys - (h - 1) / 2], -1).reshape(1, -1, 2)
    q = p @ a.transpose(1, 2) + torch.stack([tx, ty], 1)[:, None]              # (n, hw, 2)
    half = torch.tensor([(w - 1) / 2, (h - 1) / 2])
    return (q / half).reshape(n, h, w, 2)


def random_affine_gray(x: torch.Tensor, generator: torch.Generator, *, max_angle: float = 5.0,
                       scale_range: tuple[float, float] = (0.7, 1.4), flip: bool = True,
                       gray: bool = True) -> torch.Tensor:
    """anna's ``DataAugmenter2(flip=True, gray_on=True)`` on a batch in [0, 2] (see the module
    docstring); returns a new batch of the same shape.

    Parameters
    ----------
    x : Tensor (N, 1, H, W)
        Scaled images (:func:`scaled_input`).
    generator : torch.Generator
        Source of every random draw.
    max_angle : float
        Rotations are U(-max_angle, max_angle) degrees.
    scale_range : (low, high)
        Scale of the sampling grid.
    flip, gray : bool
        Random horizontal flips; the gray-level (gamma, contrast, offset) jitter and min-max.
    """
    x = _batch(x)
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    n, _, h, w = x.shape

    def u(a: float, b: float) -> torch.Tensor:
        return a + (b - a) * torch.rand(n, generator=generator)

    angle = u(-max_angle, max_angle) * math.pi / 180
    scale = u(lo, hi)
    diff = w - scale * w
    tx, ty = torch.rand(n, generator=generator) * diff - diff / 2, \
        torch.rand(n, generator=generator) * diff - diff / 2
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    out = F.grid_sample(x, _affine_grid(n, h, w, angle, scale, tx, ty), mode="bilinear",
                        padding_mode="zeros", align_corners=True)
    if not gray:
        return out
    gamma, gain, offset = u(0.25, 4.0), u(0.7, 1.4), u(-0.1, 0.1)
    out = out.clamp_min(0) ** gamma[:, None, None, None] * gain[:, None, None, None] \
        + offset[:, None, None, None]
    flat = out.reshape(n, -1)
    low, high = flat.min(1).values, flat.max(1).values
    out = (out - low[:, None, None, None]) / (high - low).clamp_min(1e-12)[:, None, None, None]
    return out * 2.0
