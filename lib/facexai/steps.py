"""Iteration-based training: minibatches drawn uniformly *with replacement*, checkpoints evaluated
every few iterations on any number of held-out sets, and checkpoint selection on a history table.

:func:`facexai.training.fit` trains in epochs (each image once per pass, in a seeded order) and
keeps the best epoch on one validation set. Some protocols are written in iterations instead: the
anna code of paper 2 draws every minibatch of 64 uniformly with replacement from the training set
for a fixed number of iterations, saves a checkpoint every ``save_steps`` iterations, and chooses
one afterwards by its accuracy on a held-out fold. :func:`fit_steps` does that:

* :func:`uniform_batches` draws the minibatch indices from a seeded generator;
* every ``eval_every`` iterations the model is evaluated (eval mode) on each named set of
  ``evals`` (e.g. ``{"val": ..., "test": ...}``); one row of :attr:`StepFit.history` holds the mean
  training loss since the last row and each set's accuracy and loss;
* the weights of the best checkpoint on each set (``best_<set>``), of the last iteration
  (``last``) and of chosen iterations (``iter_<n>``) are kept in :attr:`StepFit.states`;
* :func:`select_checkpoint` picks a row of a history by one column (the earliest of ties) and
  :func:`selection_table` reads, for each selection column, what another column says at the row
  it picked: the corrected (validation) and the test-set selection of the same run side by side.

SGD here is ``torch.optim.SGD(momentum=m, weight_decay=wd)``, which with a constant learning rate
is the update ``v = m v - lr wd theta - lr g; theta += v`` (anna's ``gen_updates_regular_momentum``)
written with ``buf = -v / lr``; a test checks the two against each other.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .compute import channels_last, cpu_threads, resolve_device
from .training import predict

__all__ = ["StepFit", "fit_steps", "select_checkpoint", "selection_table", "uniform_batches"]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def uniform_batches(n: int, batch_size: int, iterations: int,
                    generator: torch.Generator) -> torch.Tensor:
    """``(iterations, batch_size)`` indices drawn uniformly with replacement from ``range(n)``.

    Every draw is independent (an image can appear twice in a batch, and some never), as in a
    sampler that calls ``randint(n, size=batch_size)`` per iteration.
    """
    n, batch_size, iterations = (_positive(k, v) for k, v in
                                 (("n", n), ("batch_size", batch_size), ("iterations", iterations)))
    return torch.randint(0, n, (iterations, batch_size), generator=generator)


@dataclass
class StepFit:
    """What :func:`fit_steps` returns.

    Attributes
    ----------
    model : nn.Module
        Eval mode, holding the weights of the last iteration.
    history : DataFrame
        One row per evaluation: ``iteration``, ``train_loss`` (mean since the previous row),
        ``<set>_accuracy`` and ``<set>_loss`` for every set of ``evals``, ``seconds``.
    states : dict of str to state_dict
        ``"last"``, ``"best_<set>"`` (the earliest checkpoint with the highest accuracy on that set)
        and ``"iter_<n>"`` for each kept iteration.
    seconds : float
    """

    model: nn.Module
    history: pd.DataFrame
    states: dict[str, dict[str, torch.Tensor]] = field(repr=False)
    seconds: float = 0.0


def _evaluate(model: nn.Module, data: tuple, device) -> tuple[float, float]:
    x, y = data
    out = predict(model, x, 256, device)
    y = torch.as_tensor(y).long()
    return float((out.argmax(1) == y).float().mean()), float(nn.functional.cross_entropy(out, y))


def _check_steps(iterations, eval_every, batch_size, keep) -> list[int]:
    iterations = _positive("iterations", iterations)
    eval_every = _positive("eval_every", eval_every)
    _positive("batch_size", batch_size)
    keep = sorted({_positive("keep", k) for k in keep})
    if any(k > iterations or k % eval_every for k in keep):
        raise ValueError(f"keep must list evaluated iterations (multiples of eval_every="
                         f"{eval_every} up to {iterations}), got {keep}")
    return keep


def fit_steps(model: nn.Module, x: torch.Tensor, y, *, iterations: int, eval_every: int,
              evals: Mapping[str, tuple[torch.Tensor, Any]] | None = None, batch_size: int = 64,
              lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0, seed: int = 0,
              transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
              keep: Sequence[int] = (), device: str | torch.device = "cpu",
              threads: int | None = None) -> StepFit:
    """Train a classifier for ``iterations`` SGD steps on minibatches sampled with replacement.

    Parameters
    ----------
    model : nn.Module
        Returns logits; trained in place (cross-entropy, the mean negative log-likelihood).
    x, y : Tensor (N, ...), labels (N,)
        Training inputs (before ``transform``) and class labels.
    iterations, eval_every : int
        SGD steps, and how often the model is evaluated (a checkpoint); the last evaluation is at
        the largest multiple of ``eval_every`` not above ``iterations``.
    evals : mapping of name to (x, y), optional
        Held-out sets evaluated at every checkpoint (inputs as the model takes them).
    batch_size, lr, momentum, weight_decay : int, float, float, float
        SGD with momentum and L2 weight decay (see the module docstring), constant ``lr``.
    seed : int
        Seeds the minibatch draws and ``transform``'s randomness (one generator).
    transform : callable, optional
        ``transform(batch, generator) -> batch`` applied to every training minibatch
        (augmentation and input normalisation).
    keep, device, threads
        Evaluated iterations whose weights are also kept (``iter_<n>``); where to train; CPU
        threads while training (None: as is).

    Returns
    -------
    StepFit
    """
    keep = _check_steps(iterations, eval_every, batch_size, keep)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    evals = dict(evals or {})
    dev, t0 = resolve_device(device), time.time()
    y = torch.as_tensor(y).long()
    gen = torch.Generator().manual_seed(int(seed))
    batches = uniform_batches(len(x), batch_size, iterations, gen)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    model.to(dev)
    rows, states, best = [], {}, {name: -np.inf for name in evals}
    with cpu_threads(threads, dev), channels_last(model, dev):
        losses, t_row = [], time.time()
        for it in range(1, iterations + 1):
            idx = batches[it - 1]
            xb = x[idx] if transform is None else transform(x[idx], gen)
            losses.append(_train_step(model, opt, xb.to(dev), y[idx].to(dev)))
            if it % eval_every == 0:
                rows.append(dict(iteration=it, train_loss=float(np.mean(losses)),
                                 **_checkpoint(model, it, evals, best, states, it in keep, dev),
                                 seconds=time.time() - t_row))
                losses, t_row = [], time.time()
    model.eval()
    states["last"] = copy.deepcopy(model.state_dict())
    return StepFit(model=model, history=pd.DataFrame(rows), states=states,
                   seconds=time.time() - t0)


def _train_step(model: nn.Module, opt, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """One SGD step on a minibatch in train mode; its mean cross-entropy."""
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _checkpoint(model: nn.Module, it: int, evals: Mapping, best: dict, states: dict, kept: bool,
                device) -> dict[str, Any]:
    """Evaluate a checkpoint on every set; keep its weights where it is the best so far (a tie
    is no improvement) or where ``kept``; return its history row."""
    row: dict[str, Any] = {}
    for name, data in evals.items():
        row[f"{name}_accuracy"], row[f"{name}_loss"] = _evaluate(model, data, device)
        if row[f"{name}_accuracy"] > best[name]:
            best[name] = row[f"{name}_accuracy"]
            states[f"best_{name}"] = copy.deepcopy(model.state_dict())
    if kept:
        states[f"iter_{it}"] = copy.deepcopy(model.state_dict())
    return row


def select_checkpoint(history: pd.DataFrame, by: str) -> int:
    """Position (row number) of the checkpoint with the highest ``by``; the earliest of ties.

    A checkpoint checker that keeps the first maximum (``if acc > best``) chooses the same row.
    """
    if by not in history.columns:
        raise ValueError(f"by={by!r} is not a column of the history ({', '.join(history.columns)})")
    values = history[by].to_numpy(float)
    if not len(values) or not np.isfinite(values).any():
        raise ValueError(f"by={by!r}: the history has no finite value to select on")
    return int(np.nanargmax(values))


def selection_table(histories: Mapping[Any, pd.DataFrame], select_on: Mapping[str, str],
                    report: str, step: str = "iteration") -> pd.DataFrame:
    """For each history (e.g. one per fold) and each selection protocol, the checkpoint chosen and
    the value of ``report`` there.

    Parameters
    ----------
    histories : mapping of key to DataFrame
        Histories of :func:`fit_steps` (or any table with the columns named).
    select_on : mapping of protocol name to column
        E.g. ``{"validation": "val_accuracy", "test": "test_accuracy"}``.
    report : str
        The column reported at the chosen checkpoint (e.g. ``"test_accuracy"``).
    step : str
        The column naming a checkpoint.

    Returns
    -------
    DataFrame
        Index: the keys of ``histories``; columns ``<protocol>`` (the reported value) and
        ``<protocol>_<step>`` (the checkpoint chosen), per protocol.
    """
    if not select_on:
        raise ValueError("select_on must name at least one protocol")
    rows = {}
    for key, h in histories.items():
        if report not in h.columns or step not in h.columns:
            raise ValueError(f"history {key!r} lacks the column {report!r} or {step!r}")
        row = {}
        for name, column in select_on.items():
            pos = select_checkpoint(h, column)
            row[name], row[f"{name}_{step}"] = float(h[report].iloc[pos]), h[step].iloc[pos]
        rows[key] = row
    return pd.DataFrame.from_dict(rows, orient="index")
