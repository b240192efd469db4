"""Making SynthFace data: sampling faces, rendering batches, and the pixels each AU changes.

Face ``(seed, index)`` is a pure function of those two numbers (and the options), so a
dataset can be generated in any order, in pieces, or in parallel, with identical results.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Sequence

import numpy as np

from facexai.synth.aus import sample_expression
from facexai.synth.factors import AUS, FaceParams, NuisanceConfig, sample_identity, sample_nuisance
from facexai.synth.render import check_size, render_with_landmarks


def sample_face(seed: int, index: int, *, subject: int | None = None, emotion: int | str | None = None,
                nuisance: NuisanceConfig = NuisanceConfig(), proxies: float = 1.0) -> FaceParams:
    """Parameters of face ``index`` of the dataset with seed ``seed``.

    Parameters
    ----------
    seed, index : int
        Dataset seed and image number (both >= 0).
    subject : int, optional
        Whose face it is; defaults to ``index`` (every image a new person). Images sharing a
        subject share the identity and differ in expression and nuisance.
    emotion : int or str, optional
        CK+ emotion code or name; drawn (neutral-heavy) when omitted.
    nuisance : NuisanceConfig
        Largest amplitude of each nuisance factor (``NuisanceConfig.none()`` for clean images).
    proxies : float
        How strongly hair length and stubble follow sex (:func:`sample_identity`; 1 realistic,
        0 independent).
    """
    left, right, code = sample_expression(seed, index, emotion)
    return FaceParams(identity=sample_identity(seed, index if subject is None else subject,
                                               proxies),
                      au_left=left, au_right=right, emotion=code,
                      nuisance=sample_nuisance(seed, index, nuisance))


def au_masks(params: FaceParams, size: int, threshold: float = 0.03) -> np.ndarray:
    """Pixels each AU changes in this face, ``(len(AUS), H, W)`` bool.

    For AU ``k`` the face is rendered with AU ``k`` at intensity 1 on both sides and at 0 on
    both sides (all other AUs as in ``params``, sensor noise switched off so that only the AU
    makes a difference); a pixel is changed where any channel differs by more than
    ``threshold`` (fraction of the full intensity range).
    """
    from .counterfactual import change_mask

    size = check_size(size)
    quiet = replace(params, nuisance=replace(params.nuisance, noise=0.0))
    masks = np.zeros((len(AUS), size, size), bool)
    for k in range(len(AUS)):
        imgs = []
        for level in (1.0, 0.0):
            left, right = list(quiet.au_left), list(quiet.au_right)
            left[k] = right[k] = level
            p = replace(quiet, au_left=tuple(left), au_right=tuple(right))
            imgs.append(render_with_landmarks(p, size)[0])
        masks[k] = change_mask(imgs[0], imgs[1], threshold=threshold)
    return masks


def _render_chunk(args) -> tuple[np.ndarray, np.ndarray]:
    params_list, size, grayscale = args
    shape = (len(params_list), size, size) + (() if grayscale else (3,))
    images = np.empty(shape, np.uint8)
    marks = np.empty((len(params_list), 68, 2))
    for j, p in enumerate(params_list):
        images[j], marks[j] = render_with_landmarks(p, size, grayscale)
    return images, marks


def render_batch(params_list: Sequence[FaceParams], size: int, grayscale: bool = False,
                 workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Render many faces: ``(images uint8 (N, H, W[, 3]), landmarks float64 (N, 68, 2))``.

    ``workers > 1`` renders contiguous chunks in a process pool; every face depends only on
    its parameters, so the result is identical to ``workers=1``.
    """
    size = check_size(size)
    params_list = list(params_list)
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    workers = min(int(workers), max(1, len(params_list)))
    if workers == 1:
        return _render_chunk((params_list, size, grayscale))
    n_chunks = min(len(params_list), 4 * workers)
    bounds = np.linspace(0, len(params_list), n_chunks + 1).astype(int)
    jobs = [(params_list[a:b], size, grayscale) for a, b in zip(bounds[:-1], bounds[1:])]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_render_chunk, jobs))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def faces_per_second(n: int = 400, size: int = 96) -> float:
    """Single-process generation speed: faces per second, sampling the parameters and rendering.

    Renders faces ``0..n-1`` of seed 0 at ``size`` after a short warm-up of the per-size caches.
    Rendering uses one core (PIL and small numpy arrays); for a clean measurement also set
    ``OMP_NUM_THREADS=1`` so that no library spins up a thread pool.
    """
    size = check_size(size)
    for i in range(10):        # warm the per-size caches
        render_with_landmarks(sample_face(0, n + i), size)
    start = time.perf_counter()
    for i in range(n):
        render_with_landmarks(sample_face(0, i), size)
    return n / (time.perf_counter() - start)


def pairs_per_second(n: int = 100, size: int = 96, cause: str = "AU12") -> float:
    """Single-process speed of counterfactual pairs: :func:`~.counterfactual.render_pair` with
    :func:`~.counterfactual.change_mask`, pairs per second on faces ``0..n-1`` of seed 0 (after a
    short warm-up)."""
    from .counterfactual import change_mask, render_pair

    for i in range(5):
        render_pair(sample_face(0, n + i), cause, size)
    start = time.perf_counter()
    for i in range(n):
        original, changed, _ = render_pair(sample_face(0, i), cause, size)
        change_mask(original, changed)
    return n / (time.perf_counter() - start)
