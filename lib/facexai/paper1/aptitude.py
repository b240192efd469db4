"""Paper 1's section 4: "the multiclass model is more feature rich than its binary counterpart"
made measurable, and "heatmaps give insight into the base model's aptitude for a transfer task"
tested over the 40 attributes. The measures are general (:mod:`facexai.richness`); here only the
paper's glue, on the base models of :func:`facexai.paper1.protocol.fit_bases` and the 10k twin:

* :func:`probe_factors`, :func:`base_features`, :func:`base_maps` - SynthFace's generator factors
  coded for a linear probe, ``fc7`` (after ``relu7``) of every base model, and LRP of each base
  model's own prediction (the predicted class's logit);
* :func:`probe_table`, :func:`spread_table`, :func:`dense_table`, :func:`measured` - the four
  measures per model and seed, gathered in one :class:`Measured` per base task;
* :func:`compare` - per measure, both models and their difference with intervals, and the rule:
  a measure favours the first model when the interval of the difference lies above 0;
  :meth:`Measured.rotated` (negative control) and :func:`degraded` (positive control);
* :func:`overlap_table`, :func:`aptitude_points`, :func:`aptitude_tests` - per attribute, the share of a base model's
  relevance on the attribute's derived truth above the face-uniform map's, against the
  attribute's dense-transfer test r (Spearman rho, permutation p, both controls);
* :func:`recorded`, :func:`measures_figure`, :func:`aptitude_figure`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from .. import richness, stats, truthscores
from ..controlmaps import head_mask
from ..explain import explain, relevance_map
from ..manifold import layer_features
from ..ratings import ATTRIBUTES, AttributeData, to_tensor
from ..regions import FACE_REGIONS
from ..results import Result
from ..scoring import region_shares
from ..synth.attributes import PAIRS
from ..synth.dataset import factor_table
from ..compute import cpu_threads
from . import results as R
from .analysis import transfer_table
from .protocol import TASKS, BaseFit

__all__ = ["FEATURE_LAYER", "MEASURES", "THREADS", "Fc7", "Measured", "aptitude_figure",
           "aptitude_points", "aptitude_tests", "aptitude_text", "base_features", "base_maps",
           "compare", "degraded", "dense_table", "fc7", "mean_rating_mae",
           "measured", "measures_figure", "measures_text", "named", "overlap_table",
           "probe_factors", "probe_table", "recorded", "spectrum_table", "spread_table"]

#: The penultimate features (the input of ``fc8``, after the ReLU; dropout is off in eval mode).
FEATURE_LAYER = "relu7"
#: The four measures, in the order shown (every one oriented so that higher is richer; the dense
#: transfer's error enters as the other model's MAE minus this one's).
MEASURES: dict[str, str] = {
    "participation": "effective dimensionality of fc7 (participation ratio)",
    "probe": "generator factors recovered by a linear probe of fc7",
    "spread": "spread of the relevance over the face regions (share of them)",
    "dense_mae": "mean test MAE of the dense-layer transfer (lower is richer)"}
#: Positive control of :func:`degraded`: fc7 cut to this many leading principal components.
DEGRADED_COMPONENTS = 2
#: Positive control of :func:`aptitude_tests`: the SD of the noise added to the overlap, in units
#: of the overlaps' SD.
POSITIVE_NOISE = 0.5
#: Torch threads of this section's passes (:func:`facexai.compute.cpu_threads`): a second gains
#: little on these small networks, and while another process kept the other core of a 2-core
#: machine busy it made them five to ten times slower (measured).
THREADS = 1
_CPU = torch.device("cpu")
#: The attributes in antonym-pair order (an attribute, then its antonym): pairs move together in
#: the permutations.
PAIR_ORDER: tuple[str, ...] = tuple(a for pair in PAIRS for a in pair)


# -- inputs: factors, features, maps ----------------------------------------------------------

def probe_factors(params) -> pd.DataFrame:
    """The generator factors of SynthFace faces (:func:`facexai.synth.dataset.factor_table`) for a
    linear probe: numbers as they are, ``glasses`` 0/1, the categories ``hair_style`` and the
    emotion one 0/1 column per level (``hair_style_0``, ``emotion_happy``, ...); the emotion's code
    and ``age_group`` (binned ``age``) are left out."""
    table = factor_table(list(params)).drop(columns=["emotion", "age_group"])
    return pd.get_dummies(table, columns=["hair_style", "emotion_name"],
                          prefix=["hair_style", "emotion"], dtype=float)


def base_features(bases: Mapping[tuple[str, int], BaseFit], images: np.ndarray,
                  layer: str = FEATURE_LAYER) -> dict[tuple[str, int], np.ndarray]:
    """``{(task, seed): (N, D)}``: the activations of ``layer`` of each base model for uint8
    ``images`` (eval mode, no gradients)."""
    x = to_tensor(images)
    with cpu_threads(THREADS, _CPU):
        return {key: layer_features(fit.model, x, layer) for key, fit in bases.items()}


def base_maps(bases: Mapping[tuple[str, int], BaseFit], x: torch.Tensor,
              method: str = "lrp_alpha2beta1") -> dict[tuple[str, int], np.ndarray]:
    """``{(task, seed): (N, H, W)}``: relevance (summed over colour channels) of each base model's
    own output, the logit of the class it predicts for each face."""
    with cpu_threads(THREADS, _CPU):
        return {key: relevance_map(explain(fit.model, x, "predicted", method))
                for key, fit in bases.items()}


@dataclass
class Fc7:
    """fc7 of every base model (:func:`base_features`) on the 10k twin's training faces, then its
    test faces; ``train`` and ``test`` are their positions in each array, ``factors`` the faces'
    :func:`probe_factors` in the same order."""

    features: dict
    factors: pd.DataFrame
    train: np.ndarray
    test: np.ndarray


def fc7(tenk: AttributeData, bases: Mapping[tuple[str, int], BaseFit]) -> Fc7:
    """:class:`Fc7` of ``bases`` on ``tenk`` (its synthetic twin: the factors need SynthFace)."""
    if tenk.params is None:
        raise ValueError("tenk must be the synthetic twin: the probe needs the generator factors")
    train, test = tenk.indices("train"), tenk.indices("test")
    rows = np.concatenate([train, test])
    return Fc7(base_features(bases, tenk.images[rows]),
               probe_factors([tenk.params[i] for i in rows]), np.arange(len(train)),
               len(train) + np.arange(len(test)))


def spectrum_table(fc: Fc7, k: int = 5) -> pd.DataFrame:
    """Per base task, the ``k`` leading shares of fc7's variance on the test faces
    (:func:`facexai.richness.leading_shares`), mean over seeds."""
    rows = {key: richness.leading_shares(f[fc.test], k) for key, f in fc.features.items()}
    table = pd.DataFrame(rows, index=[f"PC{i + 1}" for i in range(k)]).T
    return table.groupby(level=0, sort=False).mean()


# -- the four measures per model and seed -----------------------------------------------------

def probe_table(features: Mapping[tuple[str, int], np.ndarray], factors: pd.DataFrame, train,
                test, threshold: float = 0.5) -> pd.DataFrame:
    """Long table of :func:`facexai.richness.factor_probe` for every model: ``task``, ``seed``,
    ``factor``, ``r2``, ``recovered`` (rows of ``features`` and ``factors`` aligned)."""
    frames = [richness.factor_probe(f, factors, train, test, threshold=threshold)
              .assign(task=task, seed=seed) for (task, seed), f in features.items()]
    return pd.concat(frames, ignore_index=True)[["task", "seed", "factor", "r2", "recovered"]]


def spread_table(maps: Mapping[tuple[str, int], np.ndarray], labels) -> pd.DataFrame:
    """Per model and face: ``spread`` (:func:`facexai.richness.relevance_spread` of the positive
    relevance summed per face region, :data:`facexai.regions.FACE_REGIONS`), ``empty`` (no
    positive relevance anywhere) and ``off_face`` (positive relevance, none on the face); both
    kinds have a NaN spread and are counted, not dropped."""
    frames = []
    for (task, seed), m in maps.items():
        shares, _ = region_shares(m, labels)
        face = shares[list(FACE_REGIONS)]
        empty = shares.isna().all(axis=1).to_numpy()
        frames.append(pd.DataFrame({
            "task": task, "seed": seed, "face": np.arange(len(m)),
            "spread": richness.relevance_spread(face), "empty": empty,
            "off_face": ~empty & (face.fillna(0).sum(axis=1).to_numpy() == 0)}))
    return pd.concat(frames, ignore_index=True)


def dense_table(transfers: Mapping[tuple[str, str], object], tenk: AttributeData) -> pd.DataFrame:
    """:func:`facexai.paper1.analysis.transfer_table` of the dense-layer transfers of both base
    tasks: ``source``, ``mode``, ``seed``, ``attribute``, test ``r`` and ``mae``, ``val_mae``."""
    with cpu_threads(THREADS, _CPU):
        return transfer_table({(t, "dense"): transfers[t, "dense"] for t in TASKS}, tenk)


@dataclass
class Measured:
    """The four measures of one base task, one entry per training seed (in :attr:`seeds` order):
    ``features``, fc7 of the test faces; ``recovered``, factors the probe recovers; ``spread``,
    (seeds, faces) relevance spread (NaN: empty on the face); ``mae``, mean dense-transfer MAE."""

    name: str
    seeds: list
    features: list
    recovered: np.ndarray
    spread: np.ndarray
    mae: np.ndarray

    def rotated(self) -> "Measured":
        """The same model with its seeds shifted by one (seed k's values are seed k+1's): compared
        with itself, a measure can only differ by training seed (the negative control)."""
        roll = [*range(1, len(self.seeds)), 0]
        return replace(self, name=f"{self.name} (next seed)", features=[self.features[k]
                       for k in roll], recovered=self.recovered[roll], spread=self.spread[roll],
                       mae=self.mae[roll])


def measured(task: str, fc: Fc7, probes: pd.DataFrame, spreads: pd.DataFrame,
             dense: pd.DataFrame) -> Measured:
    """:class:`Measured` of ``task`` from :func:`fc7`, :func:`probe_table`,
    :func:`spread_table` and :func:`dense_table`."""
    seeds = sorted(s for t, s in fc.features if t == task)
    if not seeds:
        raise ValueError(f"task {task!r} has no base model among {sorted(fc.features)}")
    count = probes[probes["task"] == task].groupby("seed")["recovered"].sum()
    spread = spreads[spreads["task"] == task].pivot(index="seed", columns="face", values="spread")
    mae = dense[dense["source"] == task].groupby("seed")["mae"].mean()
    return Measured(task, seeds, [fc.features[task, s][fc.test] for s in seeds],
                    count.reindex(seeds).to_numpy(float), spread.reindex(seeds).to_numpy(float),
                    mae.reindex(seeds).to_numpy(float))


def degraded(m: Measured, fc: Fc7, baseline_mae: float, threshold: float = 0.5) -> Measured:
    """A copy of ``m`` known to be poorer (the positive control): fc7 projected on its
    :data:`DEGRADED_COMPONENTS` leading principal components (fitted on the training rows; the
    probe refitted on them), all relevance in one region (spread ``1 / R``) and the dense transfer
    replaced by the training mean of each rating (``baseline_mae``)."""
    cut, count, train, test = [], [], fc.train, fc.test
    for s in m.seeds:
        f = fc.features[m.name, s]
        centred = f - f[train].mean(0)
        _, _, vt = np.linalg.svd(centred[train], full_matrices=False)
        low = centred @ vt[:DEGRADED_COMPONENTS].T
        cut.append(low[test])
        count.append(richness.factor_probe(low, fc.factors, train, test, threshold=threshold)
                     ["recovered"].sum())
    one_region = np.where(np.isnan(m.spread), np.nan, 1 / len(FACE_REGIONS))
    return Measured(f"{m.name} (degraded)", m.seeds, cut, np.asarray(count, float), one_region,
                    np.full(len(m.seeds), float(baseline_mae)))


def mean_rating_mae(tenk: AttributeData) -> float:
    """Mean test MAE over the attributes of predicting every face's rating by the training mean."""
    ratings = tenk.ratings[list(ATTRIBUTES)]
    train, test = ratings.iloc[tenk.indices("train")], ratings.iloc[tenk.indices("test")]
    return float((test - train.mean()).abs().mean().mean())


def _seeds(values: np.ndarray, level: float) -> dict:
    """:func:`facexai.richness.seed_summary` of one value per seed (per-face values averaged;
    NaN throughout when no seed has a value, e.g. every map empty)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.nanmean(values, 1) if values.ndim > 1 else values
    if not np.isfinite(v).any():
        return {"estimate": np.nan, "low": np.nan, "high": np.nan}
    return richness.seed_summary(v, level)


def _row(measure: str, a: dict, b: dict, d: dict, interval: str) -> dict:
    return {"measure": measure, "a": a["estimate"], "a_lo": a["low"], "a_hi": a["high"],
            "b": b["estimate"], "b_lo": b["low"], "b_hi": b["high"], "difference": d["estimate"],
            "low": d["low"], "high": d["high"], "interval": interval,
            "favours_a": bool(np.isfinite(d["low"]) and d["low"] > 0),
            "favours_b": bool(np.isfinite(d["high"]) and d["high"] < 0)}


def compare(a: Measured, b: Measured, *, n_boot: int = 1000, seed: int = 0,
            alpha: float = 0.05) -> pd.DataFrame:
    """Per measure (:data:`MEASURES`, rows): ``a`` and ``b`` (mean over seeds, with the Student-t
    interval over seeds ``*_lo``, ``*_hi``), the ``difference`` oriented so that a positive one
    favours ``a`` (for the error, ``b`` minus ``a``) with its interval ``low``-``high`` (kind in
    ``interval``), ``favours_a``: the interval lies above 0 (the rule, fixed beforehand), and
    ``favours_b``: it lies below 0.

    The participation ratio and the spread are paired by face and seed (a two-level bootstrap over
    seeds and faces); the probe count and the error by seed (Student t over seeds).
    ``.attrs["participation"]`` holds :func:`facexai.richness.ratio_comparison`'s full table."""
    if len(a.seeds) != len(b.seeds):
        raise ValueError(f"a and b need as many seeds, got {len(a.seeds)} and {len(b.seeds)}")
    level = 1 - alpha
    ratio = richness.ratio_comparison(a.features, b.features, n_boot, seed, alpha, a.seeds)
    pr = {q: dict(zip(("estimate", "low", "high"), ratio.loc[(q, "mean"), cols]))
          for q, cols in (("a", ["estimate", "seed_low", "seed_high"]),
                          ("b", ["estimate", "seed_low", "seed_high"]),
                          ("a - b", ["estimate", "low", "high"]))}
    spread_d = dict(zip(("estimate", "low", "high"), stats.hierarchical_interval(
        a.spread - b.spread, n_boot, level, rng=seed)))
    rows = [_row("participation", pr["a"], pr["b"], pr["a - b"], "seeds and faces (bootstrap)"),
            _row("probe", _seeds(a.recovered, level), _seeds(b.recovered, level),
                 _seeds(a.recovered - b.recovered, level), "seeds (Student t)"),
            _row("spread", _seeds(a.spread, level), _seeds(b.spread, level), spread_d,
                 "seeds and faces (bootstrap)"),
            _row("dense_mae", _seeds(a.mae, level), _seeds(b.mae, level),
                 _seeds(b.mae - a.mae, level), "seeds (Student t)")]
    table = pd.DataFrame(rows).set_index("measure")
    table.attrs.update(participation=ratio, a=a.name, b=b.name)
    return table


# -- aptitude: relevance on an attribute's driving regions against its transfer ---------------

def overlap_table(maps: Mapping[tuple[str, int], np.ndarray], truth: Mapping[str, np.ndarray],
                  labels) -> pd.DataFrame:
    """Per model, attribute and face, :func:`facexai.truthscores.lift_table` of the model's map
    against the attribute's derived truth (``truth``: :func:`facexai.causemaps.derived_truth` of
    the same faces): ``mass`` (share of the positive relevance on the truth), ``face_chance`` (the
    face-uniform map's), ``lift`` (their difference), ``empty``; with ``task``, ``seed``,
    ``attribute``."""
    face = head_mask(labels)
    frames = [truthscores.lift_table(m, {"derived": truth[a]}, face, task=task, seed=seed,
                                     attribute=a)
              for (task, seed), m in maps.items() for a in truth]
    return pd.concat(frames, ignore_index=True)


def aptitude_points(overlaps: pd.DataFrame, dense: pd.DataFrame) -> pd.DataFrame:
    """Per base task and attribute (index; :data:`PAIR_ORDER`): ``lift``, ``mass`` and
    ``face_chance`` (means over seeds and faces of :func:`overlap_table`), ``r`` (the dense
    transfer's test r, mean over seeds; :func:`dense_table`) and ``defined`` (the derived truth
    covers some pixel of the explained faces)."""
    keys = ["task", "attribute"]
    table = overlaps.groupby(keys)[["lift", "mass", "face_chance"]].mean()
    table["defined"] = overlaps.groupby(keys)["face_chance"].max() > 0
    r = dense.rename(columns={"source": "task"}).groupby(keys)["r"].mean()
    table = table.join(r, how="inner")
    order = [(t, a) for t in TASKS for a in PAIR_ORDER if (t, a) in table.index]
    return table.loc[order]


def _complete_pairs(points: pd.DataFrame) -> pd.DataFrame:
    """The defined attributes whose antonym is defined too, in pair order."""
    keep = [a for pair in PAIRS if all(points["defined"].get(x, False) for x in pair) for a in pair]
    return points.loc[keep]


def aptitude_tests(points: pd.DataFrame, n_permutations: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Per base task, :func:`facexai.richness.rank_association` of the overlap (``lift``) with the
    dense-transfer ``r`` over the attributes of complete antonym pairs (permuted as pairs: an
    attribute and its antonym share their drivers), and of its two controls. Rows ``(task,
    variant)``: ``observed``; ``negative``, the overlaps permuted over the pairs once (seeded);
    ``positive``, ``r`` replaced by the overlap plus Gaussian noise of :data:`POSITIVE_NOISE`
    times its SD (checks the machinery only). Columns ``rho``, ``p``, ``null_mean``, ``n``, and
    for ``observed`` ``rho_mass`` (with the raw ``mass`` in place of the lift)."""
    rows, rng = [], np.random.default_rng(seed)
    for task in dict.fromkeys(points.index.get_level_values("task")):
        t = _complete_pairs(points.loc[task])
        x, y = t["lift"].to_numpy(), t["r"].to_numpy()
        groups = np.repeat(np.arange(len(t) // 2), 2)
        shuffled = x.reshape(-1, 2)[rng.permutation(len(t) // 2)].ravel()
        noisy = x + POSITIVE_NOISE * x.std() * rng.normal(size=len(x))
        for variant, xv, yv in (("observed", x, y), ("negative", shuffled, y),
                                ("positive", x, noisy)):
            out = richness.rank_association(xv, yv, n_permutations, seed, groups)
            rows.append({"task": task, "variant": variant, "rho": out["rho"], "p": out["p"],
                         "null_mean": out["null_mean"], "n": out["n"],
                         "rho_mass": stats.spearman(t["mass"], y) if variant == "observed"
                         else np.nan})
    return pd.DataFrame(rows).set_index(["task", "variant"])


# -- results and figures ----------------------------------------------------------------------

_RESULTS = {"participation": R.PARTICIPATION, "probe": R.PROBE_RECOVERED, "spread": R.SPREAD,
            "dense_mae": R.DENSE_ERROR}


def recorded(main: pd.DataFrame, controls: Mapping[str, pd.DataFrame], tests: pd.DataFrame,
             synthetic: bool = True) -> dict:
    """``{Result: value}`` to record: per measure of ``main`` (:func:`compare` of age and gender)
    each model's value and interval over seeds (``.part(task)``, ``.part(task + "_lo"/"_hi")``)
    and the difference (``.part("difference" ...)``, positive favours age); ``N_RICHER`` and
    ``N_MEASURES``, also of the ``controls`` (as ``.control(variant)``); the aptitude's rho and p
    per task and control (:func:`aptitude_tests`); ``data``, the kind of data."""
    out = {Result(R.RICHNESS, "data"): "synthetic twin" if synthetic else "real data"}
    for measure, result in _RESULTS.items():
        row = main.loc[measure]
        for side in ("a", "b"):
            task = main.attrs[side]
            for suffix in ("", "_lo", "_hi"):
                out[result.part(task + suffix)] = float(row[side + suffix])
        for suffix, col in (("", "difference"), ("_lo", "low"), ("_hi", "high")):
            out[result.part("difference" + suffix)] = float(row[col])
    out[R.N_RICHER], out[R.N_MEASURES] = int(main["favours_a"].sum()), len(main)
    for variant, table in controls.items():
        out[R.N_RICHER.control(variant)] = int(table["favours_a"].sum())
        out[R.N_MEASURES.control(variant)] = len(table)
    for (task, variant), row in tests.iterrows():
        rho, p = R.APTITUDE_RHO.part(task), R.APTITUDE_P.part(task)
        if variant != "observed":
            rho, p = rho.control(variant), p.control(variant)
        out[rho], out[p] = float(row["rho"]), float(row["p"])
    return out


def named(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`compare` table with its columns ``a*`` and ``b*`` named after the models."""
    names = {"a": table.attrs["a"], "b": table.attrs["b"]}
    return table.rename(columns=lambda c: names[c[0]] + c[1:] if c[:1] in names
                        and c[1:] in ("", "_lo", "_hi") else c)


def _favoured(table: pd.DataFrame, side: str = "a") -> tuple[str, str]:
    names = [m for m in table.index if table.loc[m, f"favours_{side}"]]
    return f"{len(names)} of {len(table)}", (f" ({', '.join(names)})" if names else "")


def measures_text(main: pd.DataFrame, controls: Mapping[str, pd.DataFrame]) -> str:
    """The rule's outcome in words: how many measures favour the first model of ``main`` (and
    how many the second), and of each control (:func:`compare` tables)."""
    (count, names), (other, other_names) = _favoured(main), _favoured(main, "b")
    lines = [f"**{count}** measures favour the {main.attrs['a']} model over the "
             f"{main.attrs['b']} model, the interval of the difference above 0{names}; {other} "
             f"favour the {main.attrs['b']} model{other_names}."]
    for variant, table in controls.items():
        lines.append(f"{variant.capitalize()} control ({table.attrs['a']} against "
                     f"{table.attrs['b']}): {''.join(_favoured(table))}.")
    return " ".join(lines)


def aptitude_text(tests: pd.DataFrame, alpha: float = 0.05) -> str:
    """Per base task, the observed rho and p of :func:`aptitude_tests` and the controls, with
    whether rho > 0 at permutation p < ``alpha`` (the claim's rule)."""
    out = []
    for task in dict.fromkeys(tests.index.get_level_values("task")):
        o, neg, pos = (tests.loc[(task, v)] for v in ("observed", "negative", "positive"))
        holds = "yes" if o["rho"] > 0 and o["p"] < alpha else "no"
        out.append(f"* **{task}**: rho {o['rho']:.2f} over {int(o['n'])} attributes, p "
                   f"{o['p']:.3f} (rho > 0 at p < {alpha}: {holds}); with the raw share instead "
                   f"of the lift, rho {o['rho_mass']:.2f}. Negative control: rho {neg['rho']:.2f}"
                   f", p {neg['p']:.3f} (null mean {o['null_mean']:+.3f}); positive control: "
                   f"rho {pos['rho']:.2f}, p {pos['p']:.3f}.")
    return "\n".join(out)


def measures_figure(table: pd.DataFrame):
    """One panel per measure of :func:`compare`: both models with their intervals over seeds,
    and the difference with its interval in the title."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(3.0 * len(table), 3.2))
    for ax, (measure, row) in zip(np.atleast_1d(axes), table.iterrows()):
        values = [row["a"], row["b"]]
        err = np.array([[v - row[f"{s}_lo"], row[f"{s}_hi"] - v]
                        for s, v in zip("ab", values)]).T.clip(min=0)
        ax.bar([0, 1], values, yerr=np.nan_to_num(err), color=["tab:blue", "tab:orange"],
               capsize=4)
        ax.set_xticks([0, 1], [table.attrs.get("a", "a"), table.attrs.get("b", "b")])
        mark = ("favours " + table.attrs.get("a", "a") if row["favours_a"] else
                "favours " + table.attrs.get("b", "b") if row["favours_b"] else "no difference")
        ax.set_title(f"{measure}\n{row['difference']:+.3g} [{row['low']:+.3g}, "
                     f"{row['high']:+.3g}]\n{mark}", fontsize=8)
    fig.tight_layout()
    return fig


def aptitude_figure(points: pd.DataFrame, tests: pd.DataFrame):
    """Per base task, the attributes' overlap (lift over the face-uniform map) against their
    dense-transfer test r, with the observed rho and p in the title."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(points.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), sharey=True)
    for ax, task in zip(np.atleast_1d(axes), tasks):
        t, obs = points.loc[task], tests.loc[(task, "observed")]
        ax.scatter(t["lift"], t["r"], s=14, color="tab:blue")
        for name in t.nlargest(3, "r").index.union(t.nsmallest(3, "r").index):
            ax.annotate(name, (t.loc[name, "lift"], t.loc[name, "r"]), fontsize=6)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set(xlabel="relevance on the derived truth minus the face-uniform map's",
               title=f"{task} base model: rho {obs['rho']:.2f}, p {obs['p']:.3f}")
    np.atleast_1d(axes)[0].set_ylabel("dense-transfer test r")
    fig.tight_layout()
    return fig
