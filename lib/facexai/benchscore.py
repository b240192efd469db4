"""The explanation benchmark's scores: every explainer and every control map of one subject
(:mod:`facexai.benchsubjects`), per face, against the two kinds of truth kept apart.

**Data truth** (does the map fall where the label's cause is?), against the pixels of the
subject's truth cause (the whole expression, or the positive control's Action Unit):

* ``mass`` - share of the positive relevance on the truth (relevance mass accuracy, Arras et al.
  2022); ``mass_lift`` - the same minus the face-uniform map's share (chance within the face);
* ``rank`` - relevance rank accuracy (top-K pixels in the truth, K its size; ties by expectation);
* ``iou`` - IoU of the top-K pixels with the truth (Gaya-Morey et al. 2024's score with K the
  mask size). With K = |truth| the overlap is ``rank * K``, so ``iou = rank / (2 - rank)``
  exactly, ties included (their expected overlap);
* ``pointing`` - the maximum inside the truth (tied maxima by expectation).

**Model truth** (does the map agree with what *this model* does when a cause is removed?), over
each face's active Action Units, the effect being the explained class score minus its value with
the AU removed (FunnyBirds' single deletion):

* ``correctness`` - Spearman over the face's AUs between the map's **signed relevance density**
  on each AU (``sum(r * w) / sum(|r|) / sum(w on the face)``, ``w`` the AU's change per pixel, so
  faint halos weigh little; negative where the map says the AU speaks against the class) and the
  signed effect: area-corrected, so that a map that only knows where the face is has no order to
  give (benchmarks.md: summed relevance lets a random map rank first); undefined (NaN, counted)
  with fewer than ``min_causes`` active AUs, an empty map or a constant side (the face-uniform
  map);
* ``correctness_raw`` - the naive score: positive relevance summed on each AU's **support** (every
  changed pixel, grown by the model's preprocessing reach), plain Spearman; mask area alone then
  predicts the effect, which is why it is shown only beside the corrected one.

The data truth is the truth cause's **region** (pixels changed by more than ``truth_threshold``,
:meth:`facexai.benchfaces.CauseFaces.region`).

**Completeness** - ``deletion``: area over the most-relevant-first perturbation curve (higher is
better); ``preservation``: the same least-relevant-first (lower is better).
**Contrastivity** - ``1 - Spearman`` between the map of the explained class and of the runner-up
class (0: the map ignores which class is explained).
**Randomisation** (Adebayo et al. 2018) - ``cascading``: ``1 - Spearman`` of the absolute map of
the trained model and of the model with every layer re-initialised; ``independent``: the same with
one layer re-initialised at a time, averaged over ``independent_layers`` layers spread from input
to output (0: the map does not depend on what the model learned - a failed sanity check).

Controls (:data:`facexai.controlmaps.CONTROLS`: face-uniform, input |x|, edge, random) are scored
by the same functions; the random map is drawn on a ``random_cells`` grid (a fine-grained noise
map carries its mask's area and nothing else, so its area-corrected correctness is undefined), and
``n_null`` such maps give the null distribution of each metric's mean over faces.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from . import controlmaps, faithfulness
from .benchsubjects import Subject

__all__ = ["METRICS", "BenchScores", "Metric", "contrastivity", "correctness", "data_truth_scores",
           "iou_from_rank", "model_effects", "randomisation", "score_subject"]


@dataclass(frozen=True)
class Metric:
    """A benchmark metric: its kind of truth, whether higher is better, what it measures."""

    kind: str
    higher_is_better: bool
    what: str


#: Every metric of :func:`score_subject`, in the order tables show them.
METRICS: dict[str, Metric] = {
    "mass": Metric("data truth", True, "share of positive relevance on the truth"),
    "mass_lift": Metric("data truth", True, "mass minus the face-uniform map's mass"),
    "rank": Metric("data truth", True, "top-K pixels in the truth (K = its size)"),
    "iou": Metric("data truth", True, "IoU of the top-K pixels with the truth"),
    "pointing": Metric("data truth", True, "maximum inside the truth"),
    "correctness": Metric("model truth", True, "Spearman of signed, change-weighted relevance "
                                               "density and effect, over AUs"),
    "correctness_raw": Metric("model truth", True, "Spearman of positive relevance summed (no "
                                                   "area correction) and effect"),
    "deletion": Metric("completeness", True, "area over the most-relevant-first curve"),
    "preservation": Metric("completeness", False, "area over the least-relevant-first curve"),
    "contrastivity": Metric("contrastivity", True, "1 - Spearman of the maps of two classes"),
    "cascading": Metric("randomisation", True, "1 - Spearman with every layer re-initialised"),
    "independent": Metric("randomisation", True, "1 - Spearman with one layer re-initialised"),
}


def iou_from_rank(rank) -> np.ndarray:
    """Top-K IoU from rank accuracy when K is the truth's size: overlap ``rank * K`` of two sets
    of K pixels, union ``2K - overlap``."""
    r = np.asarray(rank, float)
    return r / (2.0 - r)


def data_truth_scores(maps, truth, face) -> dict[str, np.ndarray]:
    """Per face: ``mass``, ``mass_lift``, ``rank``, ``iou``, ``pointing`` of ``maps`` ``(N, H, W)``
    against ``truth`` ``(N, H, W)`` bool (NaN where the truth is empty; an empty map has mass 0)."""
    from .truthscores import face_chance, truth_mass

    maps, truth = np.asarray(maps, float), np.asarray(truth, bool)
    mass, _ = truth_mass(maps, truth.astype(float))
    has = truth.reshape(len(truth), -1).any(1)
    mass = np.where(has, mass, np.nan)
    rank = faithfulness.relevance_rank_accuracy(maps, truth)
    return {"mass": mass, "mass_lift": mass - face_chance(truth.astype(float), face),
            "rank": rank, "iou": iou_from_rank(rank),
            "pointing": np.where(has, faithfulness.pointing_game(maps, truth), np.nan)}


def _spearman_columns(a: np.ndarray, b: np.ndarray, ok: np.ndarray, min_causes: int) -> np.ndarray:
    """Per column (face), Spearman of ``a`` and ``b`` over the rows where ``ok`` (NaN with fewer
    than ``min_causes`` rows or a constant side). All columns at once: the rows left out are NaN,
    which scipy's ``rankdata`` skips; tied values share their mean rank."""
    from scipy.stats import rankdata

    ok = np.asarray(ok, bool)
    a = np.where(ok, a, np.nan)
    b = np.where(ok, b, np.nan)
    n = ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # columns with no row
        scale = np.nanmax(np.abs(a), 0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        # ranks of values equal up to rounding are ties (a constant score is constant)
        ra = rankdata(np.round(a / scale, 9), axis=0, nan_policy="omit")
        rb = rankdata(b, axis=0, nan_policy="omit")
        ra, rb = ra - np.nanmean(ra, 0), rb - np.nanmean(rb, 0)
        den = np.sqrt(np.nansum(ra * ra, 0) * np.nansum(rb * rb, 0))
        out = np.nansum(ra * rb, 0) / den
    return np.where((n >= min_causes) & (den > 1e-12), out, np.nan)


def correctness(maps, masks, effects, active, face=None, *, signed: bool = True,
                per_area: bool = True, min_causes: int = 4) -> np.ndarray:
    """Per face, Spearman over its active causes between the map's relevance on each cause's
    pixels and the cause's effect (see the module docstring).

    ``maps`` ``(N, H, W)``; ``masks`` ``(C, N, H, W)`` in [0, 1] (a mask or a change per pixel);
    ``effects`` and ``active`` ``(C, N)``;
    ``face`` ``(N, H, W)`` bool. ``signed``: each cause's signed relevance over ``sum(|r|)``
    (else positive relevance over ``sum(r+)``). ``per_area``: divided by the mask's weight on
    the face (the whole image without ``face``; a cause with none there is left out),
    so that a map that only knows where the face is has no order to give (the face-uniform map
    is constant: undefined). Undefined (NaN) with fewer than ``min_causes`` causes.
    """
    r = np.asarray(maps, float)
    m = np.asarray(masks, float)
    if m.ndim != 4 or m.shape[1:] != r.shape:
        raise ValueError(f"masks must be (causes, N, H, W) with the maps' {r.shape}, got {m.shape}")
    eff, act = np.asarray(effects, float), np.asarray(active, bool)
    if eff.shape != m.shape[:2] or act.shape != m.shape[:2]:
        raise ValueError(f"effects and active must be (causes, N) = {m.shape[:2]}")
    flat = r.reshape(len(r), -1) if signed else np.clip(r, 0, None).reshape(len(r), -1)
    total = np.abs(flat).sum(1)
    mm = m.reshape(len(m), len(r), -1)
    within = mm if face is None else mm * np.asarray(face, float).reshape(1, len(r), -1)
    area = within.sum(2) if per_area else np.ones(mm.shape[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.einsum("cnp,np->cn", mm, flat, optimize=True) / total / area
    ok = act & (area > 0) & (total > 0)[None] & np.isfinite(score) & np.isfinite(eff)
    return _spearman_columns(score, eff, ok, min_causes)


def contrastivity(maps, other_maps) -> np.ndarray:
    """Per face, ``1 - Spearman`` of the two maps (NaN where either is constant)."""
    return 1.0 - faithfulness.spearman(maps, other_maps)


def model_effects(subject: Subject, batch_size: int = 64) -> np.ndarray:
    """``(C, N)``: the explained class's score on each face minus its score with each cause
    removed (0 where the cause is inactive)."""
    from .interventions import model_outputs

    n = len(subject.faces)
    idx = np.arange(n), np.asarray(subject.target)
    base = model_outputs(subject.model, subject.x, batch_size)[idx]
    out = np.zeros(subject.faces.active.shape)
    for c in range(len(subject.faces.causes)):
        on = subject.faces.active[c]
        if on.any():
            changed = model_outputs(subject.model, subject.preprocess(subject.faces.changed[c][on]),
                                    batch_size)
            out[c, on] = base[on] - changed[np.arange(int(on.sum())), subject.target[on]]
    return out


def _spread_layers(layers: Sequence[str], k: int) -> list[str]:
    """``k`` layers spread evenly from the first to the last."""
    if len(layers) <= k:
        return list(layers)
    return [layers[int(round(i))] for i in np.linspace(0, len(layers) - 1, k)]


def randomisation(model, x: torch.Tensor, maps_of, *, independent_layers: int = 3,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Per face, ``cascading`` and ``independent`` (see the module docstring) of the map
    function ``maps_of(model) -> (N, H, W)`` on ``x``."""
    layers = faithfulness.parametrised_layers(model)
    reference = np.abs(maps_of(model))
    gen = torch.Generator().manual_seed(int(seed))
    work = copy.deepcopy(model)
    modules = dict(work.named_modules())
    for name in layers[::-1]:
        faithfulness.randomize_layer(modules[name], gen)
    cascading = 1.0 - faithfulness.spearman(reference, np.abs(maps_of(work)))
    singles = []
    for name in _spread_layers(layers, independent_layers):
        one = copy.deepcopy(model)
        faithfulness.randomize_layer(dict(one.named_modules())[name], gen)
        singles.append(1.0 - faithfulness.spearman(reference, np.abs(maps_of(one))))
    if not singles:
        return {"cascading": cascading, "independent": np.full(len(x), np.nan)}
    singles = np.stack(singles)
    with np.errstate(invalid="ignore"):     # NaN where every layer's map was constant
        independent = np.where(np.isfinite(singles).any(0), np.nansum(singles, 0)
                               / np.maximum(np.isfinite(singles).sum(0), 1), np.nan)
    return {"cascading": cascading, "independent": independent}


@dataclass
class BenchScores:
    """What :func:`score_subject` measured.

    ``faces``: one row per map, metric and face (``map``, ``kind`` "explainer" or "control",
    ``metric``, ``face``, ``value``; NaN where undefined). ``null``: per random draw and metric,
    the mean over faces of a random map (the null distribution of a mean). ``seconds``: per
    explainer, seconds per face for its maps. ``effects``: ``(C, N)`` model effects.
    """

    faces: pd.DataFrame
    null: pd.DataFrame
    seconds: dict
    effects: np.ndarray


def _map_fn(subject: Subject, method: str, target, absolute: Sequence[str],
            options: Mapping) -> callable:
    from .explain import explain, relevance_map

    def maps_of(model, x=None):
        r = explain(model, subject.x if x is None else x, torch.as_tensor(target), method,
                    **options.get(method, {}))
        return relevance_map(r, reduce="abs" if method in absolute else "sum")
    return maps_of


def _rows(table: dict, name: str, kind: str, values: Mapping[str, np.ndarray]) -> None:
    for metric, v in values.items():
        v = np.asarray(v, float)
        table.setdefault("map", []).extend([name] * len(v))
        table.setdefault("kind", []).extend([kind] * len(v))
        table.setdefault("metric", []).extend([metric] * len(v))
        table.setdefault("face", []).extend(range(len(v)))
        table.setdefault("value", []).extend(v.tolist())


def _completeness(subject: Subject, maps, patch: int, steps: int, n: int) -> dict:
    idx = slice(0, n)
    target = torch.as_tensor(subject.target[idx])
    out = {}
    for metric, order in (("deletion", "morf"), ("preservation", "lerf")):
        curve = faithfulness.perturbation_curve(subject.model, subject.x[idx], maps[idx], target,
                                                order=order, patch=patch, steps=steps)
        out[metric] = faithfulness.aopc(curve)
    return out


def _box_bounds(subject: Subject, methods, options) -> dict:
    """``options`` with the z-box bounds of ``lrp_epsilon_gamma_box`` set to the range of the
    model's inputs over the scored faces (unless given)."""
    options = dict(options or {})
    if "lrp_epsilon_gamma_box" in methods and "lrp_epsilon_gamma_box" not in options:
        options["lrp_epsilon_gamma_box"] = {"low": float(subject.x.min()),
                                            "high": float(subject.x.max())}
    return options


def _truth_scores(subject: Subject, effects: np.ndarray, threshold: float, min_causes: int):
    """``maps -> {metric: per-face values}`` of the data and model truths of ``subject``."""
    faces = subject.faces
    truth, face, aus = subject.truth(threshold), faces.face, faces.au_index
    names = [faces.causes[k] for k in aus]
    weights, masks = faces.weights(names), faces.support(names)
    eff, act = effects[aus], faces.active[aus]

    def truths(maps) -> dict:
        values = data_truth_scores(maps, truth, face)
        values["correctness"] = correctness(maps, weights, eff, act, face, min_causes=min_causes)
        values["correctness_raw"] = correctness(maps, masks, eff, act, signed=False,
                                                per_area=False, min_causes=min_causes)
        return values
    return truths


def score_subject(subject: Subject, methods: Sequence[str], *,
                  absolute: Sequence[str] = ("gradient", "smoothgrad", "guided_backprop",
                                             "deconvnet"),
                  options: Mapping[str, Mapping] | None = None, min_causes: int = 4,
                  truth_threshold: float = 0.03,
                  perturbation_faces: int = 32, perturbation_patch: int = 4,
                  perturbation_steps: int = 16, randomization_faces: int = 8,
                  contrastivity_faces: int | None = None,
                  independent_layers: int = 3, n_null: int = 20, random_cells: int = 8,
                  seed: int = 0) -> BenchScores:
    """Every metric of :data:`METRICS` for every explainer of ``methods`` and every control map
    on the faces of ``subject`` (see the module docstring); ``options``: per method, explainer
    options. Completeness on the first ``perturbation_faces`` faces, randomisation on the first
    ``randomization_faces``, contrastivity on the first ``contrastivity_faces`` (None: all; each
    needs a second map of every explainer); the tables hold rows for the faces scored."""
    options = _box_bounds(subject, methods, options)
    faces, n, face = subject.faces, len(subject.faces), subject.faces.face
    effects = model_effects(subject)
    truths = _truth_scores(subject, effects, truth_threshold, min_causes)
    table: dict = {}
    seconds = {}

    def score(name, kind, maps, other, maps_of):
        values = truths(maps)
        values.update(_completeness(subject, maps, perturbation_patch, perturbation_steps,
                                    min(perturbation_faces, n)))
        values["contrastivity"] = contrastivity(maps[:len(other)], other)   # first faces only
        k = min(randomization_faces, n)
        values.update(randomisation(subject.model, subject.x[:k],
                                    lambda m: maps_of(m, subject.x[:k])[:k] if kind ==
                                    "explainer" else maps[:k],
                                    independent_layers=independent_layers, seed=seed))
        _rows(table, name, kind, values)

    kc = n if contrastivity_faces is None else max(0, min(int(contrastivity_faces), n))
    for method in methods:
        fn = _map_fn(subject, method, subject.target, absolute, options)
        t0 = time.perf_counter()
        maps = fn(subject.model)
        seconds[method] = (time.perf_counter() - t0) / n
        other = _map_fn(subject, method, subject.other[:kc], absolute, options)(
            subject.model, subject.x[:kc])
        score(method, "explainer", maps, other, fn)
    labels = face.astype(int)
    controls = controlmaps.control_maps(faces.original, subject.x, labels, seed=seed,
                                        cells=random_cells)
    for name, maps in controls.items():
        score(name, "control", maps, maps[:kc], None)
    null = []
    for k in range(n_null):
        values = truths(controlmaps.random_map(labels, seed=seed + 1 + k, cells=random_cells))
        null += [{"draw": k, "metric": m, "value": float(np.nanmean(v))} for m, v in values.items()]
    return BenchScores(pd.DataFrame(table), pd.DataFrame(null), seconds, effects)
