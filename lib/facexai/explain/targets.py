"""What an explanation explains: a class, a signed regression output, or a unit of any layer.

A :class:`Target` turns a tensor (the model output or a layer's activation) into one score per
sample, ``s_n = sum(mask_n * tensor_n)``; every explainer explains that score. The mask carries the
sign, so ``Target.regression(sign=-1)`` explains *why the output is low* (paper 3's regressions need
both directions), and LRP starts its relevance at ``mask * tensor`` so the relevance sums to the score.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

from .hooks import find_layer, run_forward, tap


@dataclass(frozen=True)
class Target:
    """One score per sample: an output unit (class), or a channel / unit of a layer.

    Parameters
    ----------
    index : int, sequence of int, or None
        Output unit (class index; 0 for a single regression output) or channel of ``layer``; one per
        sample as a sequence; ``None`` = the predicted class (largest output) of each sample.
    layer : str, optional
        Dotted module name (``"features.28"``, ``"conv3"``); ``None`` = the model's output.
    unit : (int, int), optional
        Spatial position inside a channel of a convolutional layer; ``None`` = the channel's sum.
    sign : float
        +1 explains the score, -1 its negative.
    """

    index: Union[int, tuple[int, ...], None] = None
    layer: str | None = None
    unit: tuple[int, int] | None = None
    sign: float = 1.0

    def __post_init__(self):
        if self.sign not in (1, -1, 1.0, -1.0):
            raise ValueError(f"Target sign must be +1 or -1, got {self.sign!r}")
        if self.index is None and self.layer is not None:
            raise ValueError("a layer target needs a channel index")
        if isinstance(self.index, (list, np.ndarray, torch.Tensor)):
            object.__setattr__(self, "index", tuple(int(i) for i in np.asarray(self.index).ravel()))

    @classmethod
    def output(cls, index: int | Sequence[int] | None = None, sign: float = 1.0) -> "Target":
        """An output unit (class index), per sample if a sequence; ``None`` = predicted class."""
        return cls(index=index, sign=sign)

    @classmethod
    def regression(cls, sign: float = 1.0, index: int = 0) -> "Target":
        """Output ``index`` of a regression model, explained with ``sign`` (+1 high, -1 low)."""
        return cls(index=index, sign=sign)

    @classmethod
    def channel(cls, layer: str, channel: int, unit: tuple[int, int] | None = None,
                sign: float = 1.0) -> "Target":
        """Channel ``channel`` of ``layer`` (its sum, or one spatial ``unit``)."""
        return cls(index=channel, layer=layer, unit=None if unit is None else tuple(unit), sign=sign)

    def mask(self, tensor: torch.Tensor) -> torch.Tensor:
        """The signed selection mask for ``tensor`` (model output or layer activation)."""
        n = tensor.shape[0]
        mask = torch.zeros_like(tensor)
        if self.index is None:
            idx = tensor.detach().flatten(1).argmax(1) if tensor.ndim == 2 else None
            if idx is None:
                raise ValueError("the predicted-class target needs a 2-D model output")
        elif isinstance(self.index, tuple):
            if len(self.index) != n:
                raise ValueError(f"target gives {len(self.index)} indices for {n} samples")
            idx = torch.as_tensor(self.index, device=tensor.device)
        else:
            idx = torch.full((n,), int(self.index), device=tensor.device)
        if tensor.ndim < 2 or int(idx.max()) >= tensor.shape[1] or int(idx.min()) < 0:
            what = f"layer {self.layer!r}" if self.layer else "the model output"
            raise ValueError(f"target index {self.index!r} out of range for {what} of shape "
                             f"{tuple(tensor.shape)}")
        rows = torch.arange(n, device=tensor.device)
        if self.unit is None:
            mask[rows, idx] = 1.0
        else:
            if tensor.ndim != 4:
                raise ValueError(f"a spatial unit needs a 4-D activation; {self.layer!r} gives "
                                 f"{tuple(tensor.shape)}")
            i, j = self.unit
            mask[rows, idx, i, j] = 1.0
        return mask * float(self.sign)

    def slice(self, start: int, stop: int) -> "Target":
        """The target of samples ``start:stop`` (per-sample indices are cut accordingly)."""
        if isinstance(self.index, tuple):
            return Target(self.index[start:stop], self.layer, self.unit, self.sign)
        return self

    def repeat(self, times: int) -> "Target":
        """The target of ``times`` stacked copies of the batch (``x.repeat(times, ...)``)."""
        if isinstance(self.index, tuple):
            return Target(self.index * times, self.layer, self.unit, self.sign)
        return self


TargetLike = Union[Target, int, Sequence[int], np.ndarray, torch.Tensor, str, None]


def as_target(target: TargetLike) -> Target:
    """A :class:`Target` from a Target, a class index, per-sample indices or ``"predicted"``/None."""
    if isinstance(target, Target):
        return target
    if target is None or (isinstance(target, str) and target == "predicted"):
        return Target()
    if isinstance(target, (bool, str)):
        raise TypeError(f"cannot use {target!r} as a target: give a class index, per-sample "
                        "indices, 'predicted' or a facexai.explain.Target")
    if isinstance(target, (int, np.integer)):
        return Target(index=int(target))
    if isinstance(target, torch.Tensor) and target.ndim == 0:
        return Target(index=int(target))
    return Target(index=tuple(int(i) for i in np.asarray(target).ravel()))


def forward_score(model: nn.Module, x: torch.Tensor, target: Target
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on ``x`` and return ``(tensor, mask)`` for the target.

    ``tensor`` is the model output, or the target layer's activation (the forward pass then stops
    right after that layer).
    """
    if target.layer is None:
        out = model(x)
        return out, target.mask(out)
    _, module = find_layer(model, target.layer)
    with tap(module, stop=True) as seen:
        run_forward(model, x)
    if seen.output is None:
        raise RuntimeError(f"layer {target.layer!r} was not run by the model's forward pass")
    return seen.output, target.mask(seen.output)


def scores(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """One score per sample, ``sum(mask * tensor)``, without gradients."""
    with torch.no_grad():
        tensor, mask = forward_score(model, x, target)
    return (tensor * mask).flatten(1).sum(1)


def resolve(model: nn.Module, x: torch.Tensor, target: TargetLike) -> Target:
    """``target`` as a :class:`Target` whose "predicted class" is fixed to the classes predicted for
    ``x`` now, so that methods which perturb the input (occlusion, SmoothGrad, perturbation curves)
    keep explaining the same class."""
    target = as_target(target)
    if target.index is not None:
        return target
    with torch.no_grad():
        out = model(x)
    if out.ndim != 2:
        raise ValueError("the predicted-class target needs a 2-D model output")
    return Target(index=tuple(out.argmax(1).tolist()), sign=target.sign)
