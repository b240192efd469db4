"""Explanations of every training seed, scored fairly: against soft ground truths and the
face-uniform map (:mod:`facexai.truthscores`), beside model-free control maps
(:mod:`facexai.controlmaps`), and against the model's own counterfactual effects
(:mod:`facexai.causemaps`).

* :func:`seed_maps` - every seed's maps (:func:`facexai.heatmaps.explained_maps`), and Grad-CAM one
  pooling stage finer;
* :func:`truth_sets` - the ground truths of the explained faces: SynthFace's derived truth and the
  hand-written regions;
* :func:`model_truth` - each seed's output change when each cause is removed;
* :func:`score_seeds` - all of it into a :class:`SeedScores` (per face; its
  :meth:`SeedScores.summary` gives the corrected intervals and verdicts);
* :func:`verdict_lines` - one sentence per attribute;
* :func:`truth_table`, :func:`lift_overview`, :func:`detail_table` - the tables shown;
  :func:`example_grid`, :func:`average_grid` - the maps drawn;
* :func:`correction_text`, :func:`summary_text` - the sentences (:meth:`SeedScores.describe`
  says what was scored and how long it took).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from . import stats, truthscores
from .causemaps import CausePairs, attribute_causes, cause_pairs, derived_truth, output_effects
from .controlmaps import CONTROLS, head_mask
from .explain.cam import finer_layer
from .heatmaps import FINER, SIGNS, ExplainedFaces, explained_maps
from .ratings import to_tensor
from .regressors import networks
from .scoring import GROUND_TRUTHS, RegionScores, describe_regions, ground_truth_table, \
    region_verdicts, score_maps, truth_masks

__all__ = ["ModelTruth", "SeedScores", "average_grid", "correction_text", "detail_table",
           "example_grid", "for_attribute", "lift_overview", "model_truth", "score_seeds",
           "seed_maps", "summary_text", "truth_sets", "truth_table", "verdict_lines"]


def seed_maps(fits, x: torch.Tensor, attributes, methods: Sequence[str] = ("gradcam",),
              signs=(1, -1), *, finer: bool = True, batch_size: int = 32
              ) -> Iterator[tuple[int, tuple[str, str, int], np.ndarray]]:
    """:func:`explained_maps` of every model of ``fits`` (e.g. :class:`facexai.regressors.SeedFits`)
    as ``(seed, (attribute, method, sign), maps)``; with ``finer``, Grad-CAM at
    :func:`facexai.explain.cam.finer_layer` too, as method :data:`FINER`."""
    for k, fitted in enumerate(fits):
        seed = int(getattr(fitted, "config", {}).get("seed", k))
        for key, maps in explained_maps(fitted, x, attributes, methods, signs,
                                        batch_size=batch_size):
            yield seed, key, maps
        if finer:
            for (a, _, s), maps in explained_maps(fitted, x, attributes, ("gradcam",), signs,
                                                  layer=finer_layer, batch_size=batch_size):
                yield seed, (a, FINER, s), maps


@dataclass
class ModelTruth:
    """What each seed's model does when a cause is removed (:func:`model_truth`): the face pairs
    and ``effects[seed, attribute]``, ``(causes, N)`` output changes (original - changed)."""

    pairs: CausePairs
    effects: dict
    seconds: float


def model_truth(fits, params, attributes, size: int, render: int, *, k: int = 4,
                batch_size: int = 64, pairs: CausePairs | None = None) -> ModelTruth:
    """The causes of :func:`facexai.causemaps.attribute_causes` (the ``k`` strongest of each
    attribute, pooled) removed from every face of ``params`` (:func:`facexai.causemaps.cause_pairs`
    at ``render`` px, resized to ``size``), and every seed's change of every attribute's output
    (:func:`facexai.causemaps.output_effects` with the training preprocessing). ``pairs``: those
    faces already rendered (another model's :attr:`ModelTruth.pairs`), so several models are
    asked about the same counterfactual faces without rendering them again."""
    t0 = time.perf_counter()
    if pairs is None:
        causes = list(dict.fromkeys(c for a in attributes for c in attribute_causes(a, k)))
        pairs = cause_pairs(params, causes, size, render)
    effects = {}
    for j, fitted in enumerate(fits):
        seed = int(getattr(fitted, "config", {}).get("seed", j))
        for net, _, members in networks(fitted, attributes):
            e = output_effects(net, [i for _, i in members], pairs, to_tensor, batch_size)
            for m, (attribute, _) in enumerate(members):
                effects[seed, attribute] = e[m]
    return ModelTruth(pairs, effects, time.perf_counter() - t0)


@dataclass
class SeedScores:
    """What :func:`score_seeds` measured.

    Attributes
    ----------
    faces : DataFrame
        :func:`facexai.truthscores.lift_table` rows: ``seed`` (-1 for a model-free control map),
        ``attribute``, ``map``, ``sign`` ("high", "low", or "-" for a control), ``ground_truth``,
        ``face``, ``mass``, ``face_chance``, ``lift``, ``empty``.
    agreement : DataFrame
        Per seed, attribute, map, sign and face, ``spearman``
        (:func:`facexai.truthscores.cause_agreement`; NaN where undefined); empty without a model
        truth.
    regions : RegionScores
        :func:`facexai.scoring.score_maps` of the first seed's maps (examples, averages, relevance
        per region).
    seconds : float
    """

    faces: pd.DataFrame
    agreement: pd.DataFrame
    regions: RegionScores
    seconds: float

    def summary(self, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
        """:func:`facexai.truthscores.corrected_summary` per ground truth, map, sign and attribute,
        Bonferroni over the attributes of each ground truth, map and sign."""
        return truthscores.corrected_summary(self.faces, n_boot=n_boot, alpha=alpha, seed=seed)

    def agreement_summary(self, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
        """Per map and sign: mean model-truth Spearman over seeds, faces and attributes, its 95 %
        interval over seeds and faces (:func:`facexai.stats.hierarchical_interval` of the
        per-face means over attributes), faces defined and undefined."""
        rows = []
        for (m, s), g in self.agreement.groupby(["map", "sign"], sort=False):
            per_face = stats.seeds_by_faces(g, "spearman")
            mean, lo, hi = (stats.hierarchical_interval(per_face, n_boot, rng=seed)
                            if (~np.isnan(per_face)).sum() >= 2 else (np.nan,) * 3)
            rows.append({"map": m, "sign": s, "spearman": mean, "lo": lo, "hi": hi,
                         "defined": int(g["spearman"].notna().sum()),
                         "undefined": int(g["spearman"].isna().sum())})
        return pd.DataFrame(rows)

    def describe(self, seconds: float, model_seconds: float, truth_seconds: float) -> str:
        """One sentence: how many maps of how many seeds were scored, in ``seconds`` (of which
        the model truth's renders took ``model_seconds``), and the derived truths'
        ``truth_seconds``."""
        f = self.faces
        maps, seeds = len(f) // f["ground_truth"].nunique(), f.loc[f["seed"] >= 0, "seed"].nunique()
        return (f"{maps} maps of {seeds} seeds and the control maps scored in {seconds:.1f} s (the "
                f"model truth's renders included: {model_seconds:.1f} s); the derived truths took "
                f"{truth_seconds:.1f} s.")


def for_attribute(maps, attribute):
    """``maps[attribute]`` for per-attribute maps (a dict), else ``maps`` (the same for all)."""
    return maps[attribute] if isinstance(maps, dict) else maps


def score_seeds(maps, faces: ExplainedFaces, truths: dict, controls: dict, *,
                model: ModelTruth | None = None, keep: int = 0, landmarks=None,
                template=None) -> SeedScores:
    """Score every seed's maps (``maps``: :func:`seed_maps`) and the model-free ``controls``
    against each ground truth and the face-uniform map, and against the model's own effects.

    ``truths``: ``{name: {attribute: (N, H, W) in [0, 1]}}``; ``controls``: ``{name: (N, H, W)
    maps, or {attribute: maps}}`` (e.g. :func:`facexai.controlmaps.control_maps` and a blurred
    truth). The first seed's maps at the Grad-CAM layer also go through
    :func:`facexai.scoring.score_maps` (``keep``, ``landmarks``, ``template`` as there).
    """
    t0, face = time.perf_counter(), head_mask(faces.labels)
    rows, agree, seeds = [], [], []

    def record(seed, key, m):
        attribute, name, sign = key
        rows.append(truthscores.lift_table(
            m, {t: v[attribute] for t, v in truths.items()}, face, seed=seed,
            attribute=attribute, map=name, sign=SIGNS.get(sign, "-")))
        for s in ([seed] if seed >= 0 else seeds) if model is not None else []:
            rho = truthscores.cause_agreement(m, model.pairs.masks, model.effects[s, attribute],
                                              sign if sign in SIGNS else 1)
            agree.append(pd.DataFrame({"seed": s, "attribute": attribute, "map": name,
                                       "sign": SIGNS.get(sign, "-"), "face": np.arange(len(m)),
                                       "spearman": rho}))

    it = iter(maps)
    item = next(it, None)
    if item is None:
        raise ValueError("no maps to score")
    after = []

    def first_seed(item):      # the first seed's maps (paper's layer), through score_maps too
        while item is not None and item[0] == seeds[0]:
            record(*item)
            if item[1][1] != FINER:
                yield item[1], item[2]
            item = next(it, None)
        after.extend([item] if item is not None else [])

    seeds.append(item[0])
    regions = score_maps(first_seed(item), faces.labels, keep=keep, landmarks=landmarks,
                         template=template)
    for item in itertools.chain(after, it):
        seeds.extend([] if item[0] in seeds else [item[0]])
        record(*item)
    for name, cmaps in controls.items():
        for attribute in truths[next(iter(truths))]:
            record(-1, (attribute, name, 0), for_attribute(cmaps, attribute))
    agreement = pd.concat(agree, ignore_index=True) if agree else pd.DataFrame(
        columns=["seed", "attribute", "map", "sign", "face", "spearman"])
    return SeedScores(pd.concat(rows, ignore_index=True), agreement, regions,
                      time.perf_counter() - t0)



def truth_sets(faces: ExplainedFaces, params, attributes, render: int) -> dict:
    """The ground truths of ``faces``: ``{"derived": ..., "primary": ..., "driving": ...}``, each
    ``{attribute: (N, H, W)}``: SynthFace's derived truth (:func:`facexai.causemaps.derived_truth`
    of ``params``, rendered at ``render`` px) and the hand-written regions
    (:func:`facexai.scoring.truth_masks`) as 0/1 maps."""
    size = faces.images.shape[1]
    out = {"derived": derived_truth(params, attributes, size, render)}
    for truth in GROUND_TRUTHS[::-1]:
        out[truth] = {a: truth_masks(faces.labels, a, truth).astype(float) for a in attributes}
    return out


def verdict_lines(summary: pd.DataFrame, regions: RegionScores, test_r, *,
                  map_name: str = "gradcam", sign: int = 1, truth: str = "derived") -> list[str]:
    """Per attribute, one Markdown line: the verdict and lift interval of ``map_name`` against
    ``truth`` (``summary``: :meth:`SeedScores.summary`) and where the first seed's maps look
    (:func:`facexai.scoring.region_verdicts` of ``regions``: found, missed, also favoured)."""
    rows = summary[(summary["map"] == map_name) & (summary["sign"] == SIGNS[sign])
                   & (summary["ground_truth"] == truth)]
    lines = []
    for r in rows.itertuples():
        v = region_verdicts(regions.shares.loc[(r.attribute, map_name, sign)], regions.area,
                            r.attribute)
        lines.append(f"* **{r.attribute}** (test r {test_r[r.attribute]:.2f}): {r.verdict} "
                     f"(lift {r.lift:+.3f}, corrected interval [{r.lift_lo:+.3f}, "
                     f"{r.lift_hi:+.3f}], {r.empty} empty maps of {r.maps}); it "
                     f"{describe_regions(v)}.")
    return lines


def truth_table(truths: dict, labels, attributes) -> pd.DataFrame:
    """:func:`facexai.scoring.ground_truth_table` of ``attributes`` with, per ground truth of
    ``truths`` (:func:`truth_sets`), the face-uniform map's mass on it: the mean of the truth over
    the face pixels (:func:`facexai.controlmaps.head_mask` of ``labels``) of every face, as
    ``"face-uniform mass, <truth>"`` (a percentage)."""
    face = head_mask(labels)
    mass = pd.DataFrame({t: {a: f"{m[face].mean():.0%}" for a, m in v.items()}
                         for t, v in truths.items()})
    return ground_truth_table(attributes).join(mass.add_prefix("face-uniform mass, "))


def example_grid(regions: RegionScores, attribute: str, methods, signs, k: int,
                 extra: dict | None = None) -> dict:
    """The rows of a figure of the first ``k`` kept maps of ``attribute`` (``regions.examples``):
    ``{"<method>, <high|low>": maps}`` per method and sign (underscores shown as spaces), then
    ``{name: maps}`` of ``extra`` (``{name: maps, or {attribute: maps}}``, e.g. truths and control
    maps)."""
    grid = {f"{m.replace('_', ' ')}, {SIGNS[s]}": regions.examples[attribute, m, s][:k]
            for m in methods for s in signs}
    grid.update({n: for_attribute(v, attribute)[:k] for n, v in (extra or {}).items()})
    return grid


def average_grid(regions: RegionScores, attributes, methods, sign: int = 1) -> dict:
    """The rows of a figure of the averaged maps (``regions.averages``): per method (underscores
    shown as spaces), the average map of each of ``attributes`` explained in direction ``sign``."""
    return {m.replace("_", " "): [regions.averages[a, m, sign] for a in attributes]
            for m in methods}


def lift_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """The mean lift of :meth:`SeedScores.summary`: a row per ground truth, map and sign (in the
    summary's order), a column per attribute."""
    return summary.pivot_table(index="attribute", columns=["ground_truth", "map", "sign"],
                               values="lift", sort=False).T


def detail_table(summary: pd.DataFrame, truth: str = "derived") -> pd.DataFrame:
    """The rows of :meth:`SeedScores.summary` for one ground truth, indexed by map, sign and
    attribute: seeds, faces, maps, empty maps, mass, face-uniform mass, lift, its interval and
    level, and the verdict."""
    return summary[summary["ground_truth"] == truth].set_index(["map", "sign", "attribute"])[
        ["seeds", "faces", "maps", "empty", "mass", "face_chance", "lift", "lift_lo", "lift_hi",
         "level", "verdict"]]


def correction_text(summary: pd.DataFrame) -> str:
    """What the intervals of :meth:`SeedScores.summary` are corrected for: Bonferroni over its
    attributes, and the level of the intervals."""
    return (f"Bonferroni over the {summary['attribute'].nunique()} attributes of each map, "
            f"direction and truth (intervals at {summary['level'].iloc[0]:.2%})")


def summary_text(summary: pd.DataFrame, agreement: pd.DataFrame, cells, positive: str,
                 negative: str = CONTROLS[-1], layer: str = "the paper's layer") -> str:
    """The section's conclusion: Grad-CAM explaining high ratings at ``layer`` (``cells``, its
    maps' rows and columns) against the derived truth (:func:`facexai.truthscores.headline` of
    ``summary``): its mean mass and the face-uniform map's, the attributes above it (and for the
    ``positive`` and ``negative`` control maps), its empty maps; its model-truth Spearman
    (``agreement``: :meth:`SeedScores.agreement_summary`); the correction
    (:func:`correction_text`)."""
    main = truthscores.headline(summary, "gradcam", SIGNS[1]).loc["derived"]
    above = {c: truthscores.headline(summary, c, "-").loc["derived", "above"]
             for c in (positive, negative)}
    a = agreement.set_index(["map", "sign"])
    rho = float(a.loc[("gradcam", SIGNS[1]), "spearman"]) if ("gradcam", SIGNS[1]) in a.index \
        else float("nan")
    return (f"On these synthetic faces, Grad-CAM explaining high ratings at {layer} "
            f"({cells[0]} x {cells[1]} cells) puts on average {main['mass']:.0%} of its positive "
            f"relevance on the derived truth, against {main['face_chance']:.0%} for the "
            f"face-uniform map; its corrected interval is above the face-uniform map for "
            f"{int(main['above'])} of {summary['attribute'].nunique()} attributes (the blurred "
            f"truth itself: {int(above[positive])}, the random map: {int(above[negative])}). "
            f"{int(main['empty'])} of its maps were empty. Against the model's own counterfactual "
            f"effects its Spearman correlation is {rho:.2f} (mean over faces and seeds). "
            f"Intervals: {correction_text(summary)}. On real photographs the same heatmaps could "
            "be shown, but not scored.")
