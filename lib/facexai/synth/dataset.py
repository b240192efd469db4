"""A rendered, rated SynthFace population, cached on disk and reused.

:func:`ensure_dataset` renders ``n`` faces, rates them with the simulated panel and stores the
result under ``<data>/synthface/<key>/``; the key hashes the generation settings *and the source
code of the generator*, so a change to either makes a new dataset instead of silently reusing a stale
one. The folder is written under a temporary name and renamed when complete: an interrupted run
leaves nothing that a later run could mistake for a finished dataset.

Files of a dataset folder: ``faces.npz`` (``images`` uint8 N×H×W×3, ``landmarks`` float32 N×68×2,
``ratings_raw`` int8 N×40×R, ``ratings_expected`` float32 N×40), ``factors.csv`` (one row per face: identity factors, AU intensities,
emotion, age group), ``meta.json`` (the settings and the generator fingerprint).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import cache, paths
from .attributes import ATTRIBUTE_COLUMNS, Ratings, age_gender_labels, rate
from .factors import AUS, EMOTIONS, FaceParams, Identity, NuisanceConfig
from .generate import render_batch, sample_face

_GENERATOR_SOURCES = ("synth/*.py", "regions.py")


def generator_fingerprint() -> str:
    """Hash of the generator's source code (:func:`facexai.cache.code_fingerprint` of
    ``synth/*.py`` and ``regions.py``): part of every dataset key."""
    return cache.code_fingerprint(*_GENERATOR_SOURCES)


def nuisance_config(scale: float) -> NuisanceConfig:
    """The default nuisance amplitudes, each multiplied by ``scale`` (0 = none)."""
    base = NuisanceConfig()
    return NuisanceConfig(**{f.name: getattr(base, f.name) * scale for f in fields(base)})


def sample_population(n: int, seed: int, nuisance_scale: float = 1.0,
                      proxies: float = 1.0) -> list[FaceParams]:
    """The parameters of faces ``0..n-1`` of dataset ``seed`` (one identity per face)."""
    cfg = nuisance_config(nuisance_scale)
    return [sample_face(seed, i, nuisance=cfg, proxies=proxies) for i in range(n)]


def factor_table(params: list[FaceParams]) -> pd.DataFrame:
    """One row per face: identity factors, AU intensities (``AU1``...), emotion, age group."""
    skip = {"asym_pattern"}
    rows = []
    for p in params:
        row = {f.name: getattr(p.identity, f.name) for f in fields(Identity) if f.name not in skip}
        row.update({f"AU{a}": float(v) for a, v in zip(AUS, p.au)})
        row.update(emotion=p.emotion, emotion_name=EMOTIONS[p.emotion])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["glasses"] = table["glasses"].astype(bool)
    table["age_group"] = age_gender_labels(params)["age_group"].to_numpy()
    table.index.name = "face"
    return table


def nuisance_table(params: list[FaceParams]) -> pd.DataFrame:
    """One row per face: its nuisance (pose, scale, shift, light, background, noise, blur); the
    background as its mean grey level."""
    rows = [{**vars(p.nuisance), "background": float(np.mean(p.nuisance.background))}
            for p in params]
    table = pd.DataFrame(rows)
    table.index.name = "face"
    return table


@dataclass
class SynthFaces:
    """A loaded SynthFace population."""

    images: np.ndarray
    landmarks: np.ndarray
    factors: pd.DataFrame
    ratings: Ratings
    meta: dict
    path: Path

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    def __len__(self) -> int:
        return len(self.images)

    def representatives(self, ages: tuple[float, ...] = (22, 45, 70)) -> list[int]:
        """One face per (sex, target age): women first, then men, each youngest to oldest.

        For a montage "across ages and sexes": the face of that sex whose age is nearest the
        target, never the same face twice.
        """
        chosen: list[int] = []
        for sex in (0, 1):
            pool = self.factors[self.factors["sex"] == sex]
            for age in ages:
                left = pool.drop(index=chosen, errors="ignore")
                if len(left):
                    chosen.append(int((left["age"] - age).abs().idxmin()))
        return chosen

    def params(self, i: int) -> FaceParams:
        """Regenerate the parameters of face ``i`` (deterministic per face)."""
        return sample_face(self.seed, i, nuisance=nuisance_config(self.meta["nuisance_scale"]),
                           proxies=self.meta.get("proxies", 1.0))


def dataset_key(**settings) -> str:
    return cache.key(settings, code=generator_fingerprint(), size=12)


def ensure_dataset(n: int, seed: int, size: int, n_raters: int = 15, nuisance_scale: float = 1.0,
                   workers: int = 1, root: Path | None = None,
                   log: Callable[[str], None] | None = None, proxies: float = 1.0) -> Path:
    """Return the folder of the dataset with these settings, generating it if it is not there
    (``proxies``: how strongly hair length and stubble follow sex, see
    :func:`facexai.synth.factors.sample_identity`; named in the key only when not 1)."""
    settings = dict(n=n, seed=seed, size=size, n_raters=n_raters, nuisance_scale=nuisance_scale)
    if proxies != 1.0:
        settings["proxies"] = float(proxies)
    root = Path(root) if root is not None else paths.synth_dir()
    target = root / f"n{n}-s{seed}-{size}px-{dataset_key(**settings)}"
    if (target / "meta.json").is_file():
        return target
    t0 = time.time()
    try:
        # atomic: the folder appears complete or not at all; if another process made the same
        # dataset meanwhile (two workers on fresh data), its folder is kept and ours dropped.
        # A data folder that cannot be written fails here, before the rendering.
        with paths.atomic_dir(target, complete=lambda t: (t / "meta.json").is_file()) as tmp:
            params = sample_population(n, seed, nuisance_scale, proxies)
            images, landmarks = render_batch(params, size, workers=workers)
            t_render = time.time() - t0
            ratings = rate(params, seed, n_raters=n_raters)
            np.savez_compressed(tmp / "faces.npz", images=images,
                                landmarks=landmarks.astype(np.float32), ratings_raw=ratings.raw,
                                ratings_expected=ratings.expected.to_numpy(np.float32))
            factor_table(params).to_csv(tmp / "factors.csv")
            meta = {**settings, "generator": generator_fingerprint(),
                    "render_s": round(t_render, 2), "total_s": round(time.time() - t0, 2),
                    "attributes": list(ATTRIBUTE_COLUMNS)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    except paths.NotWritableError as err:
        raise paths.NotWritableError(f"cannot write the SynthFace dataset: {err}") from None
    if log:
        log(f"generated {n} faces at {size} px in {time.time() - t0:.1f} s -> {target}")
    return target


def load_dataset(path: Path | str) -> SynthFaces:
    """Load a dataset folder written by :func:`ensure_dataset`."""
    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a SynthFace dataset folder (no meta.json); make it "
                                "with facexai.synth.dataset.ensure_dataset or `make data`")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    with np.load(path / "faces.npz") as z:
        images, landmarks = z["images"], z["landmarks"]
        raw, expected = z["ratings_raw"], z["ratings_expected"]
    factors = pd.read_csv(path / "factors.csv", index_col="face")
    return SynthFaces(images, landmarks, factors, _ratings(raw, expected), meta, path)


def _ratings(raw: np.ndarray, expected: np.ndarray) -> Ratings:
    """Rebuild :class:`Ratings` from the stored per-rater integers and noise-free means."""
    frame = lambda a: pd.DataFrame(a, columns=list(ATTRIBUTE_COLUMNS))  # noqa: E731
    return Ratings(raw=raw, means=frame(raw.mean(axis=2)), sds=frame(raw.std(axis=2, ddof=1)),
                   expected=frame(expected.astype(float)))


def synth_faces(n: int, seed: int, size: int, n_raters: int = 15, nuisance_scale: float = 1.0,
                workers: int = 1, proxies: float = 1.0) -> SynthFaces:
    """Load the dataset with these settings, generating it first if needed."""
    return load_dataset(ensure_dataset(n, seed, size, n_raters, nuisance_scale, workers,
                                       proxies=proxies))
