"""The explanation benchmark, one grid point at a time: build a subject
(:mod:`facexai.benchsubjects`), score every explainer and control on it
(:mod:`facexai.benchscore`), keep the per-face scores, and gather them again for the chapter.

A point is a subject, a training seed and the settings of the notebook
``notebooks/benchmark_point.md``; ``sweeps/benchmark.yml`` runs the grid of points with
:mod:`facexai.sweep` (local pool or Dask, resumable). Each point's per-face scores are written to
``<cache>/benchmark/<key>.parquet`` (:func:`facexai.paths.benchmark_cache`) under a key of its
settings and the library code that scores, so a point run again with nothing changed is read
back, and the chapter finds every point's scores from the sweep's results table
(:func:`gather`).

Adding a method to the grid is registering it (:func:`facexai.explain.register`) and naming it in
the sweep's ``methods``; adding a model is registering a subject
(:func:`facexai.benchsubjects.register_subject`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import cache as cachelib
from . import paths
from .benchscore import BenchScores, score_subject
from .benchsubjects import SUBJECTS, build_subject

__all__ = ["CLASSIFIER_KEYS", "SCORING_KEYS", "PointScores", "gather", "method_options",
           "score_point", "subject_settings"]

#: Settings of the zero-bias CNN subjects (:func:`facexai.expression.train_classifier`); the
#: positive control takes ``n_train`` and ``epochs`` from ``control_n_train`` and
#: ``control_epochs``.
CLASSIFIER_KEYS: tuple[str, ...] = ("image_size", "n_train", "n_test", "nuisance_scale",
                                    "workers", "widths", "hidden", "init_scale", "epochs",
                                    "batch_size", "learning_rate", "mask_spread")
#: Settings of :func:`facexai.benchscore.score_subject` taken from a point's parameters.
SCORING_KEYS: tuple[str, ...] = ("min_causes", "truth_threshold", "perturbation_faces",
                                 "perturbation_patch", "perturbation_steps",
                                 "randomization_faces", "contrastivity_faces",
                                 "independent_layers", "n_null", "random_cells")


def subject_settings(subject: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of ``subject``'s builder taken from a point's parameters."""
    if subject in ("expression", "positive_control"):
        out = {k: params[k] for k in CLASSIFIER_KEYS}
        if subject == "positive_control":   # the same network, its own training length
            out.update(n_train=params["control_n_train"], epochs=params["control_epochs"],
                       marker=params["marker"])
        return out
    if subject == "fer":
        return {"render_size": params["fer_render_size"],
                "candidates_per_face": params["candidates"]}
    # the subjects the paper packages register (facexai.paperN.benchmark)
    return {"profile": params["paper_profile"], "explained": params["explained"],
            "candidates_per_face": params["candidates"]}


def method_options(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The explainer options a point sets: integrated gradients' steps and SmoothGrad's samples
    (the costliest explainers; the library's defaults are 32 and 25)."""
    return {"integrated_gradients": {"n_steps": params["ig_steps"]},
            "smoothgrad": {"n_samples": params["smoothgrad_samples"]}}


@dataclass
class PointScores:
    """One point's per-face scores (:class:`facexai.benchscore.BenchScores` tables with the
    subject and seed added) and what describes it (``meta``: accuracy, faces, seconds...)."""

    faces: pd.DataFrame
    null: pd.DataFrame
    meta: dict
    path: str
    from_cache: bool


#: Library code a point's scores depend on (globs under ``lib/facexai``): the scoring, the
#: subjects (the papers' included, with the code that trains and loads their networks) and the
#: renderer.
SCORE_CODE: tuple[str, ...] = (
    "bench*.py", "explain/*.py", "faithfulness.py", "controlmaps.py", "truthscores.py",
    "expression.py", "groundtruth.py", "models.py", "training.py", "steps.py", "preprocess.py",
    "fer.py", "au_response.py", "interventions.py", "causemaps.py", "regressors.py", "ratings.py",
    "heatmaps.py", "synth/*.py", "datasets/*.py", "paper1/*.py", "paper2/*.py", "paper3/*.py")


def _key(params: Mapping[str, Any]) -> str:
    """The point's cache key: its parameters, :data:`SCORE_CODE` and, for the papers' networks,
    the profile file that names their settings (an edit there trains other networks)."""
    from .params import profile_path

    code = cachelib.code_fingerprint(*SCORE_CODE)
    profile = profile_path(params["paper_profile"]) if "paper_profile" in params else None
    data = cachelib.digest([profile.read_text(encoding="utf-8")]) if profile and \
        profile.is_file() else None
    return cachelib.key(dict(params), code=code, data=data)


def score_point(params: Mapping[str, Any], *, cache: bool = True) -> PointScores:
    """Build and score the point ``params`` (``subject``, ``seed``, ``n_faces``, ``methods``,
    ``absolute_methods`` and the subject's and scoring settings), or read its scores back."""
    params = dict(params)
    subject = params["subject"]
    if subject not in SUBJECTS:
        raise ValueError(f"unknown benchmark subject {subject!r}; registered: "
                         f"{', '.join(SUBJECTS)}")
    target = paths.benchmark_cache() / f"{subject}-{_key(params)}.parquet"
    meta_path = target.with_suffix(".json")
    if cache and target.is_file() and meta_path.is_file():
        faces = pd.read_parquet(target)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        null = pd.DataFrame(meta.pop("null"))
        return PointScores(faces, null, meta, str(target), True)
    t0 = time.perf_counter()
    subj = build_subject(subject, seed=params["seed"], n_faces=params["n_faces"],
                         settings=subject_settings(subject, params))
    scores: BenchScores = score_subject(
        subj, params["methods"], absolute=params["absolute_methods"], seed=params["seed"],
        options=method_options(params), **{k: params[k] for k in SCORING_KEYS})
    faces = scores.faces.assign(subject=subject, seed=params["seed"])
    null = scores.null.assign(subject=subject, seed=params["seed"])
    meta = {"subject": subject, "seed": params["seed"], "faces": len(subj.faces),
            "truth": subj.truth_cause,
            "candidates": subj.candidates, "accuracy": subj.accuracy,
            "active_aus": float(subj.faces.active[subj.faces.au_index].sum(0).mean()),
            "build_s": round(subj.seconds, 2), "score_s": round(time.perf_counter() - t0
                                                                 - subj.seconds, 2),
            "seconds_per_face": scores.seconds,
            "notes": {k: v for k, v in subj.notes.items() if isinstance(v, (int, float, bool))}}
    if cache:
        paths.benchmark_cache().mkdir(parents=True, exist_ok=True)
        with paths.atomic_path(target) as tmp:
            faces.to_parquet(tmp, index=False)
        paths.write_text_atomic(meta_path, json.dumps({**meta, "null": null.to_dict("list")}))
    return PointScores(faces, null, meta, str(target), False)


def gather(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every ok point's per-face scores, null draws and description from a sweep's results
    table (:func:`facexai.sweep.read_table`): the points record the path of their scores as
    the text result ``scores``."""
    rows = table[(table["status"] == "ok") & (table["metric"] == "scores")]
    if rows.empty:
        raise ValueError("the sweep's results table names no scores: did its points run the "
                         "benchmark_point notebook?")
    faces, null, meta = [], [], []
    for path in rows["text"]:
        faces.append(pd.read_parquet(path))
        m = json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))
        null.append(pd.DataFrame(m.pop("null")))
        meta.append({k: v for k, v in m.items() if k != "notes"})
    return (pd.concat(faces, ignore_index=True), pd.concat(null, ignore_index=True),
            pd.DataFrame(meta))
