"""Where and how torch computes: the device, the CPU threads and the weights' memory order.

:func:`resolve_device` reads ``"auto"`` as CUDA when there is one; :func:`cpu_threads` caps torch's
CPU threads for a block; :func:`channels_last` holds a network's 4-D weights in channels-last
memory order for a block on the CPU (every training loop of the study trains in it:
:func:`facexai.training.fit`, :func:`facexai.steps.fit_steps`).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

__all__ = ["channels_last", "count", "cpu_threads", "resolve_device", "spawned_map"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda if available, else cpu; other values as torch reads them."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device!r}: {err}") from None


@contextmanager
def cpu_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """Cap torch's CPU threads at ``threads`` for the block (None or a GPU: as is), then restore."""
    old = torch.get_num_threads()
    if threads and device.type == "cpu":
        torch.set_num_threads(min(threads, old))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def channels_last(model: nn.Module, device: torch.device) -> Iterator[None]:
    """On a CPU, hold ``model``'s 4-D weights in channels-last memory order for the block, then
    back in the usual order (values untouched; only the strides change, so code that views a
    gradient or an activation as contiguous still works afterwards).

    The convolutions' outputs follow their weights' order, and PyTorch's CPU max-pooling is much
    faster on it: on one thread a training step of ``make bench``'s three networks takes about
    1.1-1.4x less time (largest for the narrow 24-px zero-bias CNN, whose NCHW max-pools
    dominate). On two threads the gain vanishes where batch normalisation runs over few channels
    (paper 3's VGG16), which barely uses the second thread in this order; such a network trains
    best as one-thread processes side by side (:func:`facexai.regressors.fit_seeds`).
    """
    convert = device.type == "cpu" and any(p.dim() == 4 for p in model.parameters())
    if convert:
        model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if convert:
            model.to(memory_format=torch.contiguous_format)


def count(name: str, value) -> int:
    """``value`` as an int if it is an integer >= 1 (not a bool), else a ValueError naming
    ``name``: the seeds and processes of :func:`spawned_map`'s callers."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def spawned_map(fn, jobs: list, processes: int) -> list:
    """``[fn(job) for job in jobs]`` in at most ``processes`` fresh (spawned) processes: torch and
    a forked pool deadlock, so every worker starts clean. ``fn`` and the jobs must be picklable
    (``fn`` a module-level function); the results come back in the order of ``jobs``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if not jobs:
        return []
    with ProcessPoolExecutor(min(int(processes), len(jobs)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, jobs))
