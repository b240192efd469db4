"""Synthetic twins: SynthFace data written in the exact layout of each real dataset.

:func:`ensure_twin` writes the twin of a dataset under ``<data>/twins/<key>-<hash>/`` (the hash
covers its settings, the generator's code and this package's code), or returns the folder if it
is already there. The folder is written under a temporary name and renamed when complete, so a
folder that exists is a whole twin. :func:`twin_settings` turns the parameters of the
``data_formats`` chapter (or a profile) into each twin's settings, so the chapter and
``facexai data twins`` write the very same twins.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from .. import cache, paths
from ..synth.dataset import generator_fingerprint
from ..synth.factors import FaceParams
from ..synth.generate import render_batch
from .core import NotWritableError, get
from .io import code_fingerprint

#: Registry keys of every twin, in the order the chapter shows them.
TWIN_KEYS: tuple[str, ...] = ("tenk", "kdef", "ckplus", "tfd", "utkface")


def render(params: Sequence[FaceParams], size: int, workers: int = 1,
           grayscale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Render faces with their exact landmarks (:func:`facexai.synth.generate.render_batch`)."""
    if not params:
        return np.zeros((0, size, size) + (() if grayscale else (3,)), np.uint8), np.zeros((0, 68, 2))
    return render_batch(list(params), size, grayscale=grayscale, workers=workers)


def place(img: np.ndarray, landmarks: np.ndarray, width: int, height: int,
          face_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale a square rendering to ``face_px`` and centre it on a ``width`` x ``height`` canvas.

    The canvas beyond the rendering repeats its edge pixels (the background, without a seam), and
    a rendering larger than the canvas is cropped. Returns the canvas and the landmarks in its
    coordinates.
    """
    scale = face_px / img.shape[0]
    big = np.asarray(Image.fromarray(img).resize((face_px, face_px), Image.BICUBIC))
    x0, y0 = (width - face_px) // 2, (height - face_px) // 2
    pad = [(max(y0, 0), max(height - face_px - y0, 0)), (max(x0, 0), max(width - face_px - x0, 0))]
    canvas = np.pad(big, pad + [(0, 0)] * (img.ndim - 2), mode="edge")
    cy, cx = max(-y0, 0), max(-x0, 0)
    canvas = canvas[cy:cy + height, cx:cx + width]
    # a pixel centre at u in the rendering is at (u + 0.5) * scale - 0.5 in the scaled copy
    pts = (landmarks + 0.5) * scale - 0.5 + np.array([x0, y0])
    return np.ascontiguousarray(canvas), pts


def save_image(img: np.ndarray, path: Path, **options: Any) -> None:
    """Write ``img`` (uint8) to ``path``; the format follows the suffix (JPEG quality 95)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(img).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}),
                              **options)


def twin_key(key: str, settings: Mapping[str, Any]) -> str:
    """Folder name of a twin: the key and a hash of its settings and of the code that writes it."""
    code = cache.digest([generator_fingerprint(), code_fingerprint()])
    return f"{key}-{cache.key(settings, code=code, size=12)}"


def ensure_twin(key: str, root: Path | str | None = None, log: Callable[[str], None] | None = None,
                **settings: Any) -> Path:
    """The folder of the synthetic twin of dataset ``key`` with ``settings``, written if missing.

    Parameters
    ----------
    key : str
        Registry key (``"tenk"``, ``"kdef"``, ``"ckplus"``, ``"tfd"``, ``"utkface"``).
    root : path, optional
        Parent folder of the twins (default ``<data>/twins``).
    log : callable, optional
        Told what was written and how long it took.
    **settings
        Keyword arguments of the dataset's twin writer (sizes, seed, workers...).
    """
    spec = get(key)
    parent = Path(root) if root is not None else paths.twins_dir()
    # workers change how fast, never what, a twin is: they are not part of its name
    target = parent / twin_key(key, {k: v for k, v in settings.items() if k != "workers"})
    if target.is_dir():
        return target
    t0 = time.time()
    try:
        # atomic: the twin appears complete or not at all; if another process wrote the same twin
        # meanwhile (parallel `make data`, sweep workers), its folder is kept and ours dropped
        with paths.atomic_dir(target) as tmp:
            spec.write_twin(tmp, **settings)
    except paths.NotWritableError as err:
        raise NotWritableError(f"cannot write the {spec.title} twin: {err}") from None
    if log:
        log(f"wrote the {spec.title} twin in {time.time() - t0:.1f} s -> {target}")
    return target


def twin_settings(p: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each twin's writer settings from the ``data_formats`` parameters ``p``."""
    common = {"seed": p["seed"], "workers": p["workers"]}
    return {
        "tenk": dict(common, n_targets=p["tenk_targets"], render_size=p["render_size"]),
        "kdef": dict(common, n_identities=p["kdef_identities"], render_size=p["render_size"]),
        "ckplus": dict(common, n_subjects=p["ckplus_subjects"],
                       sequences_per_subject=p["ckplus_sequences"], n_frames=p["ckplus_frames"],
                       render_size=p["render_size"]),
        "tfd": dict(common, n_labelled=p["tfd_labelled"], n_unlabelled=p["tfd_unlabelled"]),
        "utkface": dict(common, n_images=p["utkface_images"], render_size=p["render_size"]),
    }


def load_options(p: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each loader's options from the ``data_formats`` parameters ``p``."""
    common = {"strict": p["strict"]}
    size = p["image_size"]
    return {
        "tenk": dict(common, size=size, n_folds=p["tenk_folds"]),
        "kdef": dict(common, size=size, angles=tuple(p["kdef_angles"])),
        # paper 2 crops CK+ faces to 96 x 96 whatever the other datasets are loaded at
        "ckplus": dict(common, size=96, crop=None if p["ckplus_crop"] == "none" else p["ckplus_crop"]),
        "tfd": dict(common, image_size=p["tfd_size"],
                    allow_identity_leak=p["tfd_allow_identity_leak"]),
        "utkface": dict(common, size=size),
    }


def dataset_roots(p: Mapping[str, Any], log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Where each dataset is read from: the real copies under ``p["data_dir"]`` when it is set
    (relative to the data folder ``$FACEXAI_DATA``), else the synthetic twins (written if missing).
    """
    if p.get("data_dir"):
        base = Path(p["data_dir"]).expanduser()
        base = base if base.is_absolute() else paths.data_dir() / base
        return {key: base / get(key).folder for key in TWIN_KEYS}
    return {key: ensure_twin(key, log=log, **s) for key, s in twin_settings(p).items()}
