"""Control maps: "explanations" that know nothing about the model, scored beside the real ones.

A heatmap method is only informative where it beats maps built without the model. Each function
returns ``(N, H, W)`` float64 maps of the faces it is given:

* :func:`head_mask` - the face's pixels: every region of :func:`facexai.regions.region_label_maps`
  but the background (the face regions and the hair band round the forehead);
* :func:`face_uniform` - uniform relevance over those pixels, zero on the background: the
  **chance** level of an explanation that only knows where the face is;
* :func:`input_magnitude` - the input alone, ``|x|`` of the normalised input summed over channels
  (what input-weighted methods add to a map);
* :func:`edge_map` - the Sobel gradient magnitude of the grey face (high-contrast lines);
* :func:`random_map` - seeded uniform noise inside the face (optionally on a coarse grid of
  cells, as smooth as a Grad-CAM map), zero on the background;
* :func:`blurred` - a map smoothed by a Gaussian (e.g. a ground-truth map made as smooth as a
  Grad-CAM map, the positive control of a scoring rule); :func:`cell_blurred` - by half a cell of
  a Grad-CAM grid;
* :func:`control_maps` - all of the model-free ones at once, by name.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["CONTROLS", "blurred", "cell_blurred", "control_maps", "edge_map", "face_uniform",
           "head_mask", "input_magnitude", "random_map"]

#: The model-free control maps of :func:`control_maps`, in the order they are returned.
CONTROLS: tuple[str, ...] = ("face-uniform", "input |x|", "edge (Sobel)", "random")


def _labels(labels) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be (N, H, W) region labels, got shape {lab.shape}")
    return lab


def head_mask(labels) -> np.ndarray:
    """``(N, H, W)`` bool: pixels of the face (every region but the background; a face without
    landmarks, labelled -1 everywhere, has none)."""
    return _labels(labels) > 0


def face_uniform(labels) -> np.ndarray:
    """``(N, H, W)``: 1 on :func:`head_mask`, 0 elsewhere (uniform relevance over the face)."""
    return head_mask(labels).astype(np.float64)


def input_magnitude(x) -> np.ndarray:
    """``(N, H, W)``: ``|x|`` of the model's (normalised) input ``(N, C, H, W)``, summed over
    channels."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 4:
        raise ValueError(f"x must be an input batch (N, C, H, W), got shape {a.shape}")
    return np.abs(a.astype(np.float64)).sum(1)


def edge_map(images) -> np.ndarray:
    """``(N, H, W)``: Sobel gradient magnitude of the grey images (uint8 ``(N, H, W, 3)`` or
    ``(N, H, W)``; grey = channel mean, in [0, 1])."""
    from scipy.ndimage import sobel

    a = np.asarray(images, np.float64)
    if a.ndim == 4 and a.shape[-1] == 3:
        a = a.mean(-1)
    if a.ndim != 3:
        raise ValueError(f"images must be (N, H, W, 3) or (N, H, W), got shape {a.shape}")
    g = a / 255.0      # each image on its own (a 3-D sobel would also smooth across faces)
    return np.stack([np.hypot(sobel(m, axis=0, mode="nearest"), sobel(m, axis=1, mode="nearest"))
                     for m in g]) if len(g) else g


def random_map(labels, seed: int = 0, cells: int | None = None) -> np.ndarray:
    """``(N, H, W)``: uniform noise in [0, 1) on the face's pixels (:func:`head_mask`), 0 elsewhere,
    drawn from ``numpy.random.default_rng(seed)``.

    ``cells``: draw the noise on a ``cells`` x ``cells`` grid and repeat each cell over its block of
    pixels (as coarse as a Grad-CAM map of that many cells); None draws every pixel.
    """
    lab = _labels(labels)
    n, h, w = lab.shape
    rng = np.random.default_rng(seed)
    if cells is None:
        noise = rng.random((n, h, w))
    else:
        if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1:
            raise ValueError(f"cells must be a positive integer or None, got {cells!r}")
        grid = rng.random((n, cells, cells))
        rows = np.minimum(np.arange(h) * cells // h, cells - 1)
        cols = np.minimum(np.arange(w) * cells // w, cells - 1)
        noise = grid[:, rows][:, :, cols]
    return np.where(lab > 0, noise, 0.0)


def blurred(maps, sigma: float) -> np.ndarray:
    """``(N, H, W)``: each map smoothed by a Gaussian of ``sigma`` pixels (0: unchanged)."""
    from scipy.ndimage import gaussian_filter

    a = np.asarray(maps, np.float64)
    if a.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got shape {a.shape}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    return gaussian_filter(a, sigma=(0, sigma, sigma), mode="constant") if sigma else a.copy()


def cell_blurred(maps: dict, cells: int) -> dict:
    """``{key: (N, H, W)}``: each set of ``maps`` (``{key: (N, H, W)}``, e.g. a ground truth per
    attribute) :func:`blurred` by a Gaussian of half a cell of a grid of ``cells`` rows,
    ``sigma = H / cells / 2`` pixels."""
    if cells < 1:
        raise ValueError(f"cells must be >= 1, got {cells!r}")
    return {k: blurred(m, np.shape(m)[-2] / cells / 2) for k, m in maps.items()}


def control_maps(images, x, labels, seed: int = 0, cells: int | None = None
                 ) -> dict[str, np.ndarray]:
    """The model-free maps of :data:`CONTROLS` for the same faces: ``{name: (N, H, W)}``
    (``images`` uint8, ``x`` their model input, ``labels`` their region labels; ``seed`` and
    ``cells`` for :func:`random_map`)."""
    maps = dict(zip(CONTROLS, (face_uniform(labels), input_magnitude(x), edge_map(images),
                               random_map(labels, seed, cells))))
    shapes = {m.shape for m in maps.values()}
    if len(shapes) != 1:
        raise ValueError(f"images, x and labels must show the same faces at the same size, got "
                         f"map shapes {sorted(shapes)}")
    return maps
