"""Counterfactual truths for many faces at a model's input size: where each attribute's causes show
(data truth) and what a model's output does when each cause is removed (model truth).

SynthFace renders at 48 px or more (:data:`facexai.synth.render.SIZE_MIN`) and the 10k twin is
rendered at ``render_size`` and resized to the model's ``image_size``; so every render here is made
at ``render`` px and brought to ``size`` px as the data loader does (PIL bilinear for images,
:func:`resize_maps` - the mean over each output pixel's footprint - for masks and truth maps, which
become the share of the pixel that changes).

* :func:`derived_truth` - per attribute, :func:`facexai.synth.truth.attribute_truth` of every
  face (the pixels each driving factor changes, weighted by the factor's absolute weight in the
  rating model: a map in [0, 1]), over several processes and cached if asked;
* :func:`attribute_causes` - the causes :mod:`facexai.synth.counterfactual` can remove that drive
  an attribute most;
* :func:`cause_pairs` - every face with each cause removed, rendered with the face's own draws,
  and the pixels each removal changes;
* :func:`output_effects` - the change of several outputs of a network when each cause is removed
  (the same numbers as :func:`facexai.interventions.cause_effects`, which renders per output;
  here each pair is rendered once for every output and model).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from .interventions import model_outputs
from .synth.attributes import drivers
from .synth.counterfactual import FACTORS, change_mask, intervene
from .synth.render import SIZE_MIN, Draws, check_size, render_with_landmarks
from .synth.truth import attribute_truth, factor_masks

__all__ = ["CausePairs", "attribute_causes", "cause_pairs", "derived_truth", "output_effects",
           "resize_images", "resize_maps", "truth_render_size"]


def truth_render_size(image_size: int, render_size: int) -> int:
    """The size the truths are rendered at: the model's ``image_size``, raised to the renderer's
    minimum (:data:`facexai.synth.render.SIZE_MIN`) and at most the data's ``render_size``
    (faces rendered larger than the data were would add detail the model never saw)."""
    for name, v in (("image_size", image_size), ("render_size", render_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return check_size(int(min(max(image_size, SIZE_MIN), max(render_size, SIZE_MIN))))


def resize_maps(maps, size: int) -> np.ndarray:
    """``(N, size, size)`` float64: each map ``(N, H, W)`` averaged over each output pixel's
    footprint (PIL's box filter; a mask becomes the share of each pixel it covers)."""
    a = np.asarray(maps, np.float64)
    if a.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got shape {a.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if a.shape[1:] == (size, size):
        return a.copy()
    return np.stack([np.asarray(Image.fromarray(m.astype(np.float32), "F").resize(
        (size, size), Image.BOX), np.float64) for m in a])


def resize_images(images, size: int) -> np.ndarray:
    """uint8 images ``(N, H, W, 3)`` resized as the data loader does
    (:func:`facexai.datasets.io.resize`, PIL bilinear)."""
    from .datasets.io import resize

    a = np.asarray(images)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got shape {a.shape}")
    return np.stack([resize(img, int(size), False) for img in a])


def _truth_maps(params: Sequence, attributes: Sequence[str], size: int, render: int
                ) -> dict[str, np.ndarray]:
    factors = list(dict.fromkeys(f for a in attributes for f, _ in drivers(a)))
    out = {a: [] for a in attributes}
    for p in params:
        masks = factor_masks(p, render, factors)
        for a in attributes:
            out[a].append(attribute_truth(p, a, render, masks=masks))
    return {a: resize_maps(np.stack(m), size) for a, m in out.items()}


def derived_truth(params: Sequence, attributes: Sequence[str], size: int, render: int, *,
                  workers: int = 1, cache: bool = False) -> dict[str, np.ndarray]:
    """``{attribute: (N, size, size)}``: :func:`facexai.synth.truth.attribute_truth` of each face
    of ``params``, rendered at ``render`` px (each factor's masks rendered once for every
    attribute) and resized (:func:`resize_maps`).

    ``workers``: forked processes sharing the faces (the renderer uses numpy and PIL only; the
    truth of 40 attributes for a few hundred faces takes minutes on one core); ``cache``: kept
    under ``<cache>/truth`` keyed by the faces, the settings and the renderer's code, and read
    back from there."""
    import hashlib
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from . import cache as cachelib, paths

    render = check_size(render)
    params, attributes = list(params), list(attributes)
    if not attributes:
        raise ValueError("attributes must name at least one attribute")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    name = cachelib.key(dict(attributes=attributes, size=size, render=render),
                        data=hashlib.sha256(pickle.dumps(params)).hexdigest()[:20],
                        code=cachelib.code_fingerprint("synth/*.py", "causemaps.py"))
    target = paths.cache_dir() / "truth" / f"derived-{name}.npz"
    if cache and target.is_file():
        with np.load(target, allow_pickle=False) as z:
            return {a: z[a] for a in attributes}
    truth = partial(_truth_maps, attributes=attributes, size=size, render=render)
    chunks = np.array_split(np.arange(len(params)), max(1, min(workers, len(params))))
    if len(chunks) == 1:
        out = truth(params)
    else:
        with ProcessPoolExecutor(len(chunks), mp_context=multiprocessing.get_context("fork")) \
                as pool:
            parts = list(pool.map(truth, [[params[i] for i in c] for c in chunks]))
        out = {a: np.concatenate([part[a] for part in parts]) for a in attributes}
    if cache:
        with paths.atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return out


def _cause(factor: str) -> str | None:
    if factor.startswith("AU") or factor in FACTORS:
        return factor
    return "expression" if factor == "expressiveness" else None


def attribute_causes(attribute: str, k: int = 4) -> list[str]:
    """The ``k`` causes of :func:`facexai.synth.counterfactual.causes` with the largest absolute
    weight among ``attribute``'s drivers (a factor that no single intervention removes, such as
    ``distinctiveness``, is skipped; ``expressiveness`` is the cause ``"expression"``)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ranked = sorted(drivers(attribute), key=lambda fw: -abs(fw[1]))
    return [c for c in dict.fromkeys(_cause(f) for f, _ in ranked) if c is not None][:k]


@dataclass
class CausePairs:
    """Faces and their counterfactuals (:func:`cause_pairs`), at the model's input size.

    Attributes
    ----------
    causes : list of str
    original : (N, H, W, 3) uint8
    changed : (C, N, H, W, 3) uint8
        Each cause removed.
    masks : (C, N, H, W) float
        Share of each pixel that the removal changes (0 where the cause was absent).
    """

    causes: list[str]
    original: np.ndarray
    changed: np.ndarray
    masks: np.ndarray


def cause_pairs(params: Sequence, causes: Sequence[str], size: int, render: int) -> CausePairs:
    """Every face of ``params`` and its counterfactual with each cause removed
    (:func:`facexai.synth.counterfactual.intervene`, rendered at ``render`` px with the face's own
    draws, as :func:`facexai.synth.counterfactual.render_pair` does; the original rendered once),
    resized to ``size`` (:func:`resize_images`), and the changed pixels
    (:func:`facexai.synth.counterfactual.change_mask` at ``render`` px, :func:`resize_maps`)."""
    render = check_size(render)
    causes, params = list(causes), list(params)
    if not causes or not params:
        raise ValueError("cause_pairs needs at least one cause and one face")
    draws = [Draws.of(p) for p in params]
    a = np.stack([render_with_landmarks(p, render, draws=d)[0] for p, d in zip(params, draws)])
    changed, masks = [], []
    for cause in causes:
        b = np.stack([render_with_landmarks(intervene(p, cause), render, draws=d)[0]
                      for p, d in zip(params, draws)])
        changed.append(resize_images(b, size))
        masks.append(resize_maps(change_mask(a, b).astype(float), size))
    return CausePairs(causes, resize_images(a, size), np.stack(changed), np.stack(masks))


def output_effects(model: nn.Module, outputs: Sequence[int], pairs: CausePairs,
                   preprocess: Callable[[np.ndarray], torch.Tensor], batch_size: int = 64
                   ) -> np.ndarray:
    """``(len(outputs), C, N)``: each output's value on the original face minus its value with the
    cause removed (how much the cause added to the output), the network in eval mode;
    ``preprocess``: uint8 images -> the model's input (its training preprocessing)."""
    idx = np.asarray(list(outputs), int)
    if idx.ndim != 1 or not len(idx):
        raise ValueError(f"outputs must list at least one output index, got {outputs!r}")
    def outputs(images):
        return model_outputs(model, preprocess(images), batch_size)[:, idx]

    base = outputs(pairs.original)
    effects = [base - outputs(b) for b in pairs.changed]
    return np.stack(effects).transpose(2, 0, 1)
