"""Occlusion (Zeiler & Fergus 2014): how much the score drops when a window of the image is hidden.

The window slides over the image; the drop ``s(x) - s(x with the window filled)`` is credited to every
pixel of the window, and each pixel gets the mean over the windows that covered it (the convention
of captum's ``Occlusion``). Where the stride does not tile the image, one more window starts a stride
further and is clipped at the border (as in captum), so every pixel is covered by at least one window.
All channels are hidden together, so the relevance is ``(N, 1, H, W)``.
"""
from __future__ import annotations

import torch

from .registry import register
from .targets import scores


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        a, b = v
        return int(a), int(b)
    return int(v), int(v)


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one side: ``0, stride, ...`` until a window reaches the border; the last
    one may run past it and is clipped there (captum's ``ceil((size - window) / stride) + 1``)."""
    if window > size:
        raise ValueError(f"occlusion window {window} is larger than the image side {size}")
    n = -(-(size - window) // stride) + 1
    return [k * stride for k in range(n)]


@register("occlusion", "occlusion", window=8, stride=4, fill=0.0, copies_per_pass=64)
def occlusion(model, x, target, window, stride, fill, copies_per_pass):
    """Score drop when a ``window`` (int or (h, w)) sliding by ``stride`` is set to ``fill``.

    ``fill``: a number, or ``"mean"`` for each image's mean value. ``copies_per_pass`` occluded
    copies are evaluated per forward pass. The stride may not exceed the window (pixels between
    windows would never be hidden); the last window of a row or column is clipped at the border.
    """
    n, _, h, w = x.shape
    wh, ww = _pair(window)
    sh, sw = _pair(stride)
    if min(wh, ww, sh, sw) < 1:
        raise ValueError(f"occlusion window and stride must be >= 1, got {window}, {stride}")
    if sh > wh or sw > ww:
        raise ValueError(f"occlusion stride {stride} is larger than the window {window}: the pixels "
                         "between windows would never be hidden")
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"occlusion fill must be a number or 'mean', got {fill!r}")
        fill_value = x.mean(dim=(1, 2, 3), keepdim=True)
    else:
        fill_value = torch.full((n, 1, 1, 1), float(fill), dtype=x.dtype, device=x.device)
    positions = [(i, j) for i in _starts(h, wh, sh) for j in _starts(w, ww, sw)]
    base = scores(model, x, target)
    total = torch.zeros((n, 1, h, w), dtype=x.dtype, device=x.device)
    count = torch.zeros((1, 1, h, w), dtype=x.dtype, device=x.device)
    # Each chunk holds k positions x n images; the target is repeated per position.
    per_chunk = max(1, int(copies_per_pass) // n)
    for c in range(0, len(positions), per_chunk):
        chunk = positions[c:c + per_chunk]
        copies = x.repeat(len(chunk), 1, 1, 1)
        for k, (i, j) in enumerate(chunk):
            copies[k * n:(k + 1) * n, :, i:i + wh, j:j + ww] = fill_value
        s = scores(model, copies, target.repeat(len(chunk)))
        drops = base.repeat(len(chunk)) - s
        for k, (i, j) in enumerate(chunk):
            total[:, :, i:i + wh, j:j + ww] += drops[k * n:(k + 1) * n].view(n, 1, 1, 1)
            count[:, :, i:i + wh, j:j + ww] += 1
    return total / count

