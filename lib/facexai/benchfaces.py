"""Faces whose causes a benchmark can remove: each face, the same face with each of its Action Units
removed and with its whole expression removed, and the pixels each removal changes, in the frame a
model sees.

A counterfactual keeps every random draw of the original (:class:`facexai.synth.render.Draws`), so
the change is the cause's and nothing else's. Two masks are made of each change
(:class:`CauseFaces`): the **support** - every pixel the removal changes at all, grown by
``spread`` pixels, the reach of the model's preprocessing (paper 2's 5 x 5 local mean subtraction
moves a change by 2 px) - on which the model truth is judged (``benchmarks.md``, "Interventional
truth on SynthFace": with a thresholded mask 12 % of the change falls outside it and mask area
alone decides the ranking); and the **region** - pixels changed by more than a stated threshold -
on which the data truth is judged (the support of a whole expression covers most of the face).

* :func:`direct_faces` - rendered at the model's size (grey or RGB), as the Methods chapter's
  network was trained;
* :func:`viewed_faces` - rendered at ``render_size`` and framed by a view of
  :mod:`facexai.au_response` (e.g. fer's crop for the FER2013 network);
* :func:`resized_faces` - rendered at ``render`` px and resized to the model's size, as the
  dataset twins' images are (RGB; paper 3's and paper 1's networks), with any causes of
  :func:`facexai.synth.counterfactual.causes` (Action Units and identity factors).

Each returns a :class:`CauseFaces`. Causes are ``"AU<n>"`` (every rendered AU; an AU a face does not
show changes nothing and is marked inactive) and ``"expression"`` (every AU off: the data truth of
an expression label), or for :func:`resized_faces` the causes asked for.
:func:`change_delta` gives the change to any other version of each face (say every driver of a
rated attribute removed at once, :func:`removing`: that attribute's data truth).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .views import framer, resize_view
from .synth.factors import AUS

__all__ = ["AU_CAUSES", "CauseFaces", "change_delta", "direct_faces", "removing",
           "resized_faces", "threshold_mask", "viewed_faces", "viewed_originals"]

#: Every Action Unit SynthFace renders, as causes.
AU_CAUSES: tuple[str, ...] = tuple(f"AU{a}" for a in AUS)


@dataclass
class CauseFaces:
    """Faces and their counterfactuals, in a model's frame.

    Attributes
    ----------
    causes : list of str
        The Action Units (``AU_CAUSES``) then ``"expression"``.
    original : (N, H, W[, 3]) uint8
    changed : (C, N, H, W[, 3]) uint8
        Each cause removed (a copy of the original where the cause is inactive).
    delta : (C, N, H, W) uint8
        Each removal's absolute change per pixel (largest over channels);
        :meth:`support` and :meth:`region` make masks of it.
    face : (N, H, W) bool
        The face's pixels (the outline of its landmarks) in the same frame.
    active : (C, N) bool
        The face shows the cause (its removal changes at least one pixel).
    params : list of FaceParams
    """

    causes: list[str]
    original: np.ndarray
    changed: np.ndarray
    delta: np.ndarray
    face: np.ndarray
    active: np.ndarray
    params: list
    spread: int = 0

    def __len__(self) -> int:
        return len(self.original)

    def subset(self, index) -> "CauseFaces":
        i = np.asarray(index, int)
        return CauseFaces(self.causes, self.original[i], self.changed[:, i], self.delta[:, i],
                          self.face[i], self.active[:, i], [self.params[k] for k in i],
                          self.spread)

    def support(self, causes=None) -> np.ndarray:
        """``(C, N, H, W)`` bool: every pixel each removal changes, grown by :attr:`spread` (the
        reach of the model's preprocessing): model truth is judged on these."""
        from scipy.ndimage import maximum_filter

        d = self.delta if causes is None else self.delta[self._index(causes)]
        mask = d > 0
        if self.spread:
            mask = maximum_filter(mask, size=(1, 1, 2 * self.spread + 1, 2 * self.spread + 1))
        return mask

    def weights(self, causes=None) -> np.ndarray:
        """``(C, N, H, W)`` in [0, 1]: how much each removal changes each pixel (share of the
        intensity range): the cause's pixels weighted by its change, faint halos nearly 0."""
        d = self.delta if causes is None else self.delta[self._index(causes)]
        return d.astype(float) / 255.0

    def region(self, cause: str, threshold: float) -> np.ndarray:
        """``(N, H, W)`` bool: where removing ``cause`` changes a pixel by more than
        ``threshold`` of the intensity range (the cause's region: data truth is judged on it)."""
        return threshold_mask(self.delta[self._index([cause])[0]], threshold)

    def _index(self, causes) -> np.ndarray:
        unknown = [c for c in causes if c not in self.causes]
        if unknown:
            raise ValueError(f"unknown cause(s) {unknown}; known: {', '.join(self.causes)}")
        return np.array([self.causes.index(c) for c in causes])

    @property
    def au_index(self) -> np.ndarray:
        """Indices of the causes judged one at a time by the model truth: the Action Units and
        any identity factors (all but ``"expression"``, which is every AU at once)."""
        return np.array([k for k, c in enumerate(self.causes) if c != "expression"])


def threshold_mask(delta: np.ndarray, threshold: float) -> np.ndarray:
    """Where a change ``delta`` (uint8 per pixel) exceeds ``threshold`` of the intensity range."""
    if isinstance(threshold, bool) or not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold is a fraction of the intensity range in [0, 1), got "
                         f"{threshold!r}")
    return np.asarray(delta) > threshold * 255.0


def _variants(p, causes: Sequence[str]) -> list:
    from .synth.counterfactual import intervene

    return [intervene(p, c) for c in causes]


def _check(params, spread: int) -> list:
    params = list(params)
    if not params:
        raise ValueError("the benchmark needs at least one face")
    if isinstance(spread, bool) or int(spread) != spread or spread < 0:
        raise ValueError(f"spread is a non-negative number of pixels, got {spread!r}")
    return params


def _assemble(rows, causes, params, spread: int) -> CauseFaces:
    original = np.stack([r[0] for r in rows])
    changed = np.stack([r[1] for r in rows], 1)
    delta = np.stack([r[2] for r in rows], 1)
    face = np.stack([r[3] for r in rows])
    active = delta.reshape(len(causes), len(params), -1).any(2)
    return CauseFaces(list(causes), original, changed, delta, face, active, params, int(spread))


def _delta(a: np.ndarray, changed: np.ndarray) -> np.ndarray:
    d = np.abs(changed.astype(np.int16) - a.astype(np.int16))
    return (d.max(-1) if d.ndim == 4 else d).astype(np.uint8)


def direct_faces(params, size: int, *, grayscale: bool = True, spread: int = 0) -> CauseFaces:
    """Each face rendered at ``size`` (as :func:`facexai.synth.generate.render_batch` renders a
    training set) with each Action Unit and the whole expression removed; see
    :class:`CauseFaces`."""
    from .regions import face_mask
    from .synth.render import Draws, render_with_landmarks

    params = _check(params, spread)
    causes = [*AU_CAUSES, "expression"]
    rows = []
    for p in params:
        draws = Draws.of(p)
        a, landmarks = render_with_landmarks(p, size, grayscale, draws=draws)
        changed = np.stack([a if v == p else render_with_landmarks(v, size, grayscale,
                                                                   draws=draws)[0]
                            for v in _variants(p, causes)])
        rows.append((a, changed, _delta(a, changed), face_mask(landmarks, size)))
    return _assemble(rows, causes, params, spread)


def viewed_faces(params, view, *, render_size: int = 128, spread: int = 0,
                 causes: Sequence[str] | None = None) -> CauseFaces:
    """Each face rendered at ``render_size`` and framed by ``view`` (a view of
    :mod:`facexai.views`, e.g. :func:`facexai.views.fer_view` or
    :func:`facexai.views.resize_view`), with each of ``causes`` removed (default: each Action
    Unit and the
    whole expression; any cause of :func:`facexai.synth.counterfactual.causes`; a removal that
    leaves the face as it is is not rendered, and inactive); see :class:`CauseFaces`."""
    params = _check(params, spread)
    causes = [*AU_CAUSES, "expression"] if causes is None else list(causes)
    if not causes:
        raise ValueError("the benchmark needs at least one cause")
    rows = []
    for p in params:
        draw, face, _ = framer(p, render_size, view)
        a = draw(p)
        changed = np.stack([draw(v) for v in _variants(p, causes)])
        rows.append((a, changed, _delta(a, changed), face))
    return _assemble(rows, causes, params, spread)


def viewed_originals(params, view, render_size: int = 128) -> np.ndarray:
    """Each face as drawn, framed by ``view`` (no counterfactual): to choose faces cheaply
    before :func:`viewed_faces` renders their counterfactuals."""
    from .synth.render import Draws, render_with_landmarks

    out = []
    for p in params:
        rgb, landmarks = render_with_landmarks(p, render_size, draws=Draws.of(p))
        out.append(view(rgb, landmarks)(rgb))
    return np.stack(out)


def resized_faces(params, causes: Sequence[str], size: int, render: int, *,
                  spread: int = 0) -> CauseFaces:
    """:func:`viewed_faces` through :func:`facexai.views.resize_view`: each face rendered at
    ``render`` px and resized to ``size`` (RGB, as the 10k twin's images reach paper 3's and
    paper 1's networks, without the JPEG step), with each of ``causes`` removed."""
    return viewed_faces(params, resize_view(size), render_size=render, spread=spread,
                        causes=causes)


def change_delta(params, pairs: Sequence, view, render: int) -> np.ndarray:
    """``(N, H, W)`` uint8: per face, the change between the two versions ``pairs[i] = (a, b)``
    of face ``params[i]``, both rendered with that face's random draws and framed by ``view``:
    e.g. ``(p, removing(p, causes))``, every driver of a rated attribute removed at once (that
    attribute's data truth), or a factor's low and high value."""
    params = _check(params, 0)
    pairs = list(pairs)
    if len(pairs) != len(params):
        raise ValueError(f"pairs must give two versions of each of the {len(params)} faces, got "
                         f"{len(pairs)}")
    out = []
    for p, (a, b) in zip(params, pairs):
        draw, _, _ = framer(p, render, view)
        out.append(_delta(draw(a), draw(b)[None])[0])
    return np.stack(out)


def removing(p, causes: Sequence[str]):
    """``p`` with every cause of ``causes`` removed (:func:`facexai.synth.counterfactual.intervene`
    in turn; ``"expression"`` removes every AU)."""
    from functools import reduce

    from .synth.counterfactual import intervene

    return reduce(intervene, causes, p)
