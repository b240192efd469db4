"""Model truth: what a model's output does when one cause of a face is removed.

For each face and each cause (an Action Unit, the whole expression, an identity factor; see
:mod:`facexai.synth.counterfactual`), the face is rendered again with the cause changed and the
same random draws, both images go through the model's own preprocessing, and the change of the
explained output is recorded beside the pixels the change touched. An explainer is judged against
these effects (does its relevance per cause rank the causes as the model's output does?); a model
is judged against the data truth (the causes of its label).

::

    table = cause_effects(model, params, ["AU6", "AU12", "glasses"], 64,
                          preprocess=khorrami_input, grayscale=True, output=5)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .synth.counterfactual import change_mask, render_pair

__all__ = ["cause_effects", "model_outputs"]


def model_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """``(N, outputs)`` in float64: ``model`` on ``x`` in eval mode, in batches, without gradients
    (the mode is restored; a float64 model keeps its precision)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)
    return out.double().numpy()


def _outputs(model: nn.Module, x: torch.Tensor, index: np.ndarray, batch_size: int) -> np.ndarray:
    """Output ``index[i]`` of face ``i``."""
    return model_outputs(model, x, batch_size)[np.arange(len(x)), np.asarray(index)]


def cause_effects(model: nn.Module, params: Sequence, causes: Sequence[str], size: int, *,
                  preprocess: Callable[[np.ndarray], torch.Tensor], output: int | Sequence[int],
                  grayscale: bool = False, values: dict | None = None,
                  batch_size: int = 64) -> pd.DataFrame:
    """The change of ``model``'s ``output`` when each cause is removed from each face.

    Parameters
    ----------
    params : sequence of FaceParams
        The faces.
    causes : sequence of str
        Causes of :func:`facexai.synth.counterfactual.causes`.
    preprocess : callable
        uint8 images ``(N, H, W[, 3])`` -> the model's input tensor (the model's own
        preprocessing, e.g. :func:`facexai.models.khorrami_input`).
    output : int or sequence of int
        The output explained: one index for every face, or one per face.
    values : dict, optional
        ``{cause: value}`` to set instead of removing (see :func:`intervene`).

    Returns
    -------
    pandas.DataFrame
        One row per face and cause: ``face``, ``cause``, ``output`` (the index), ``original``
        and ``changed`` (the output's values), ``effect`` (original - changed: how much the cause
        added to the output), ``changed_share`` (share of the image the change touched).
    """
    params = list(params)
    index = np.broadcast_to(np.asarray(output), (len(params),)).copy()
    values = values or {}
    rows = []
    originals = None
    for cause in causes:
        pairs = [render_pair(p, cause, size, value=values.get(cause), grayscale=grayscale)
                 for p in params]
        a = np.stack([pr[0] for pr in pairs])
        b = np.stack([pr[1] for pr in pairs])
        if originals is None:
            originals = _outputs(model, preprocess(a), index, batch_size)
        changed = _outputs(model, preprocess(b), index, batch_size)
        share = change_mask(a, b).reshape(len(a), -1).mean(1)
        rows.append(pd.DataFrame({"face": np.arange(len(params)), "cause": cause,
                                  "output": index, "original": originals, "changed": changed,
                                  "effect": originals - changed, "changed_share": share}))
    return pd.concat(rows, ignore_index=True)
