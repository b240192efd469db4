"""Paper 1's sections 1 and 2 in numbers: the base models' accuracy and the transfer to the 40
attributes, each with its interval over training seeds.

* :func:`base_table`, :func:`base_summary`, :func:`base_confusion` - base-model accuracy per task
  and seed, against the majority class;
* :func:`transfer_table`, :func:`transfer_summary` - test r and MAE per attribute, source, mode and
  seed, and their means with intervals;
* :func:`selected_sources` - per attribute, the source and mode chosen on the validation MAE (the
  review: the paper selected by mean absolute error);
* :func:`predicted_count` - the claim's rule: attributes whose predictions correlate with the
  ratings above 0 at the false-discovery level, run on the models and on its two controls.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import stats
from ..ratings import AttributeData
from .protocol import TASKS, BaseFit, ClassData

__all__ = ["base_confusion", "base_summary", "base_table", "predicted_count", "selected_sources",
           "transfer_summary", "transfer_table"]


def _chance(data: ClassData, column: str) -> float:
    """Majority-class rate of the test faces, the majority taken on the training faces."""
    y = data.labels[column].to_numpy()
    majority = np.bincount(y[data.indices("train")]).argmax()
    return float(np.mean(y[data.indices("test")] == majority))


def base_table(bases: Mapping[tuple[str, int], BaseFit], data: ClassData) -> pd.DataFrame:
    """One row per base model: ``task``, ``seed``, test ``accuracy``, ``chance``, ``best_epoch``,
    ``last_epoch``, ``train_seconds``."""
    test, rows = data.indices("test"), []
    for (task, seed), fit in bases.items():
        column = TASKS[task][0]
        predicted = fit.predict(data.images[test]).argmax(1)
        h = fit.history
        rows.append({"task": task, "seed": seed,
                     "accuracy": float(np.mean(predicted == data.labels[column].to_numpy()[test])),
                     "chance": _chance(data, column),
                     "best_epoch": int(h.loc[h["best"], "epoch"].max()),
                     "last_epoch": int(h["epoch"].max()), "train_seconds": fit.train_seconds})
    return pd.DataFrame(rows)


def base_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per task: mean test accuracy with its interval over seeds (``lo``, ``hi``) and chance."""
    out = {}
    for task, t in table.groupby("task", sort=False):
        m, lo, hi = stats.seed_interval(t["accuracy"].to_numpy())
        out[task] = {"accuracy": m, "lo": lo, "hi": hi, "chance": t["chance"].iloc[0],
                     "seeds": len(t)}
    return pd.DataFrame(out).T


def base_confusion(fit: BaseFit, data: ClassData) -> pd.DataFrame:
    """Counts of the test faces, true class (rows) by predicted class, over the classes that
    occur among the test faces or the predictions."""
    column = TASKS[fit.task][0]
    test = data.indices("test")
    truth = data.labels[column].to_numpy()[test]
    predicted = fit.predict(data.images[test]).argmax(1)
    names = data.classes[column]
    used = sorted(set(truth) | set(predicted))
    counts = pd.crosstab(pd.Categorical(truth, used), pd.Categorical(predicted, used),
                         dropna=False)
    labels = [names[k] for k in used]
    return pd.DataFrame(counts.to_numpy(), index=pd.Index(labels, name="true"),
                        columns=pd.Index(labels, name="predicted"))


def transfer_table(fits: Mapping[tuple[str, str], object], tenk: AttributeData) -> pd.DataFrame:
    """Long table of every transferred model: ``source``, ``mode``, ``seed``, ``attribute``, test
    ``r`` and ``mae``, and the validation ``val_mae`` (in rating units)."""
    frames = []
    for (source, mode), seed_fits in fits.items():
        for fit in seed_fits:
            row = {"source": source, "mode": mode, "seed": int(fit.config["seed"])}
            scores = {}
            for role in ("test", "val"):
                idx = tenk.indices(role)
                p = fit.predict(tenk.images[idx])
                y = tenk.ratings[fit.attributes].iloc[idx].reset_index(drop=True)
                scores[role] = (stats.pearson_columns(p, y), (p - y).abs().mean())
            frames.append(pd.DataFrame({**row, "attribute": fit.attributes,
                                        "r": scores["test"][0].to_numpy(),
                                        "mae": scores["test"][1].to_numpy(),
                                        "val_mae": scores["val"][1].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def transfer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per source and mode: mean test r and MAE over attributes, with intervals over seeds."""
    rows = []
    for (source, mode), t in table.groupby(["source", "mode"], sort=False):
        per_seed = t.groupby("seed")[["r", "mae"]].mean()
        r, r_lo, r_hi = stats.seed_interval(per_seed["r"].to_numpy())
        e, e_lo, e_hi = stats.seed_interval(per_seed["mae"].to_numpy())
        rows.append({"source": source, "mode": mode, "r": r, "r_lo": r_lo, "r_hi": r_hi,
                     "mae": e, "mae_lo": e_lo, "mae_hi": e_hi})
    return pd.DataFrame(rows).set_index(["source", "mode"])


def selected_sources(table: pd.DataFrame, sources=("age", "gender")) -> pd.DataFrame:
    """Per attribute, among the transferred models of ``sources``, the source and mode with the
    lowest validation MAE (mean over seeds), and that model's test r and MAE per seed."""
    t = table[table["source"].isin(sources)]
    val = t.groupby(["attribute", "source", "mode"])["val_mae"].mean().reset_index()
    best = val.loc[val.groupby("attribute", sort=False)["val_mae"].idxmin(),
                   ["attribute", "source", "mode"]]
    return t.merge(best, on=["attribute", "source", "mode"])


def predicted_count(r_by_seed: pd.DataFrame, n_faces: int, alpha: float = 0.05) -> dict:
    """The claim's rule: an attribute is predicted if in **every** seed its test r is above 0
    (one-sided test of a Pearson r on ``n_faces`` faces), the p-values of each seed corrected over
    the attributes (Benjamini-Hochberg at ``alpha``).

    ``r_by_seed``: seeds x attributes. Returns ``n`` (attributes predicted), ``of`` (attributes)
    and ``predicted`` (their names)."""
    if n_faces < 4:
        raise ValueError(f"n_faces must be at least 4, got {n_faces}")
    r = r_by_seed.to_numpy(float).clip(-0.999999, 0.999999)
    t = r * np.sqrt((n_faces - 2) / (1 - r ** 2))
    p = sps.t.sf(t, n_faces - 2)
    passed = np.all([stats.benjamini_hochberg(row) <= alpha for row in p], axis=0)
    names = list(r_by_seed.columns[passed])
    return {"n": len(names), "of": r_by_seed.shape[1], "predicted": names}
