"""Tasks whose causes are known: SynthFace expression faces and the pixels each expression changes.

The Methods chapter trains a classifier of the CK+ emotions on these faces and scores every
explanation against :func:`expression_masks`: the pixels where the face with its expression differs
from the same face (same person, pose and light) without it. Whatever an emotion classifier may
legitimately use lies there; relevance elsewhere is on identity, hair or background.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .synth.dataset import nuisance_config
from .synth.factors import AUS, EMOTIONS, FaceParams
from .synth.generate import render_batch, sample_face
from .synth.counterfactual import change_mask
from .synth.render import render


@dataclass
class EmotionFaces:
    """Rendered faces with their emotion labels, AU intensities, landmarks and parameters."""

    images: np.ndarray       # (N, H, W) uint8 grayscale, or (N, H, W, 3)
    landmarks: np.ndarray    # (N, 68, 2)
    labels: np.ndarray       # (N,) CK+ emotion codes
    au: np.ndarray           # (N, len(AUS)) intensity label of each AU
    params: list[FaceParams]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "EmotionFaces":
        index = np.asarray(index)
        return EmotionFaces(self.images[index], self.landmarks[index], self.labels[index],
                            self.au[index], [self.params[i] for i in index])


def emotion_faces(n: int, seed: int, size: int, *, start: int = 0, emotions=None,
                  nuisance_scale: float = 1.0, grayscale: bool = True,
                  workers: int = 1) -> EmotionFaces:
    """Faces ``start .. start + n - 1`` of seed ``seed``, the emotion of face ``i`` cycling through
    ``emotions`` (CK+ codes, all eight by default), so the classes are balanced; one identity per
    face, nuisance as in the Data chapter."""
    emotions = list(range(len(EMOTIONS))) if emotions is None else list(emotions)
    cfg = nuisance_config(nuisance_scale)
    params = [sample_face(seed, i, emotion=emotions[i % len(emotions)], nuisance=cfg)
              for i in range(start, start + n)]
    images, marks = render_batch(params, size, grayscale=grayscale, workers=workers)
    labels = np.array([p.emotion for p in params])
    return EmotionFaces(images, marks, labels, np.stack([p.au for p in params]), params)


def marker_faces(n: int, seed: int, size: int, *, marker: str = "AU12", start: int = 0,
                 nuisance_scale: float = 1.0, grayscale: bool = True,
                 workers: int = 1) -> EmotionFaces:
    """A task whose cause is one region: face ``i`` shows ``marker`` (an Action Unit, intensity
    drawn in [0.5, 1]) when ``i`` is odd and not at all when it is even (label 1 / 0); every other
    Action Unit comes from an emotion drawn as usual, independently of the label. Only the
    marker's pixels vary with the label, so what causes it (data truth) and what a model that
    learned it responds to (model truth) coincide: the benchmark's positive control."""
    from .synth.counterfactual import intervene

    cfg = nuisance_config(nuisance_scale)
    rng = np.random.default_rng([seed, start, 7])
    level = rng.uniform(0.5, 1.0, n)
    params = []
    for k, i in enumerate(range(start, start + n)):
        p = sample_face(seed, i, nuisance=cfg)
        params.append(intervene(p, marker, float(level[k]) if i % 2 else 0.0))
    images, marks = render_batch(params, size, grayscale=grayscale, workers=workers)
    labels = np.arange(start, start + n) % 2
    return EmotionFaces(images, marks, labels, np.stack([p.au for p in params]), params)


def expression_masks(params, size: int, threshold: float = 0.03, dilation: int = 0) -> np.ndarray:
    """Pixels each face's expression changes, ``(N, H, W)`` bool.

    The face is rendered with its Action Units and with none (:meth:`FaceParams.neutral`), sensor
    noise off so that only the expression differs; a pixel is changed where the two differ by more
    than ``threshold`` of the intensity range in any channel, then the mask is grown by
    ``dilation`` pixels (explanations are blurred by the receptive fields of the first layers).
    Neutral faces get an empty mask.
    """
    from scipy.ndimage import binary_dilation

    out = []
    for p in params:
        quiet = replace(p, nuisance=replace(p.nuisance, noise=0.0))
        mask = change_mask(render(quiet, size), render(quiet.neutral(), size), threshold=threshold)
        if dilation > 0 and mask.any():
            mask = binary_dilation(mask, iterations=int(dilation))
        out.append(mask)
    return np.stack(out)


#: Column names of :attr:`EmotionFaces.au`.
AU_NAMES: tuple[str, ...] = tuple(f"AU{a}" for a in AUS)
