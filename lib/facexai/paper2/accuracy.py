"""Paper 2's accuracy tables: per fold under both checkpoint selections, mean and interval over
folds, the optimistic bias of selecting on the test fold, confusion matrices and the curves.

Every number is over the folds of one data set and variant (the unit of replication of the
paper's cross-validation): the mean, the SD and a Student-t 95 % interval
(:func:`facexai.stats.seed_interval`, here over folds); the selection bias is the per-fold paired
difference (test-fold selection minus validation-fold selection of the same run), with its
t-interval and :func:`facexai.stats.paired_test`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import stats
from .protocol import FoldFits, Paper2Data

__all__ = ["chance", "confusion", "curve_figure", "fold_table", "plateau",
           "selection_bias", "summary"]


def chance(data: Paper2Data) -> float:
    """Accuracy of always answering the training folds' most frequent class, over the test folds
    of every split pooled: the level a network must beat."""
    hits = total = 0
    for k in range(data.n_splits):
        part = data.split(k)
        majority = np.bincount(data.labels[part["train"]], minlength=len(data.classes)).argmax()
        hits += int((data.labels[part["test"]] == majority).sum())
        total += len(part["test"])
    if not total:
        raise ValueError(f"{data.name} has no test images")
    return hits / total


def fold_table(fits: FoldFits) -> pd.DataFrame:
    """One row per fold: test accuracy of the checkpoint chosen on the validation fold
    (``validation``), on the test fold (``test``), of the last checkpoint (``last``), and the
    iterations chosen."""
    table = fits.selection().reset_index()
    last = {k: float(h["test_accuracy"].iloc[-1]) for k, h in fits.histories.items()}
    table["last"] = table["fold"].map(last)
    table.insert(0, "variant", fits.variant)
    table.insert(0, "data", fits.data_name)
    return table


def selection_bias(table: pd.DataFrame) -> dict[str, float]:
    """Test-fold minus validation-fold selection over the folds of ``table``
    (:func:`fold_table`): mean difference with its t-interval, wins, paired t and Wilcoxon p."""
    if not {"validation", "test"} <= set(table.columns):
        raise ValueError("table must have the columns 'validation' and 'test' (fold_table)")
    diff = table["test"].to_numpy(float) - table["validation"].to_numpy(float)
    mean, lo, hi = stats.seed_interval(diff)
    test = stats.paired_test(table["test"], table["validation"])
    return {"mean": mean, "lo": lo, "hi": hi, "n": test["n"], "wins": test["wins"],
            "ties": int((diff == 0).sum()), "p_t": test["p_t"], "p_wilcoxon": test["p_wilcoxon"]}


def summary(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per data set and variant: folds, mean accuracy (validation selection) with SD and
    t-interval, the test-selection mean, and the selection bias with its interval."""
    rows = []
    for (data, variant), t in pd.concat(list(tables)).groupby(["data", "variant"], sort=False):
        mean, lo, hi = stats.seed_interval(t["validation"].to_numpy(float))
        bias = selection_bias(t)
        rows.append({"data": data, "variant": variant, "folds": len(t), "accuracy": mean,
                     "sd": t["validation"].std(ddof=1) if len(t) > 1 else np.nan, "lo": lo,
                     "hi": hi, "test-selected": t["test"].mean(), "bias": bias["mean"],
                     "bias lo": bias["lo"], "bias hi": bias["hi"],
                     "bias p (Wilcoxon)": bias["p_wilcoxon"]})
    return pd.DataFrame(rows)


def confusion(fits: FoldFits, data: Paper2Data, which: str = "validation") -> pd.DataFrame:
    """Test-fold predictions of every fold pooled: counts, true class (rows) by predicted class."""
    n = len(data.classes)
    counts = np.zeros((n, n), int)
    for k in fits.folds:
        truth = data.labels[data.split(k)["test"]]
        np.add.at(counts, (truth, fits.predict(data, k, which)), 1)
    return pd.DataFrame(counts, index=pd.Index(data.classes, name="true"),
                        columns=pd.Index(data.classes, name="predicted"))


def plateau(history: pd.DataFrame, share: float = 0.25) -> dict[str, float]:
    """How much the validation accuracy still rises at the end of training.

    Per fold, the mean validation accuracy over the last ``share`` of the checkpoints minus that
    over the ``share`` before it (``change``, mean over folds with its t-interval ``lo``, ``hi``),
    beside the whole run's gain (mean of the last ``share`` minus the first checkpoint) and their
    ratio ``fraction``: a curve that has levelled off adds little of its gain at the end.
    """
    if not 0 < share <= 0.5:
        raise ValueError(f"share must be in (0, 0.5], got {share!r}")
    its = np.sort(history["iteration"].unique())
    m = max(1, int(round(share * len(its))))
    if len(its) < 2 * m:
        raise ValueError(f"need at least {2 * m} checkpoints, got {len(its)}")
    curves = history.pivot_table(index="iteration", columns="fold", values="val_accuracy") \
        if "fold" in history else history.set_index("iteration")[["val_accuracy"]]
    last, before = curves.loc[its[-m:]].mean(), curves.loc[its[-2 * m:-m]].mean()
    change, lo, hi = stats.seed_interval((last - before).to_numpy())
    gain = float((last - curves.loc[its[0]]).mean())
    return {"last": float(last.mean()), "before": float(before.mean()), "change": change,
            "lo": lo, "hi": hi, "gain": gain,
            "fraction": change / gain if gain > 0 else float("nan"),
            "from_iteration": int(its[-m])}


def curve_figure(histories: dict[str, pd.DataFrame]):
    """Training curves, one colour per run (e.g. data set): training loss (left), validation and
    test accuracy (right, solid and dashed), the mean over folds, each fold faint."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.3))
    for c, (name, h) in enumerate(histories.items()):
        for _, f in h.groupby("fold"):
            axes[1].plot(f["iteration"], f["val_accuracy"], color=f"C{c}", alpha=0.15, lw=0.8)
        mean = h.groupby("iteration")[["train_loss", "val_accuracy", "test_accuracy"]].mean()
        axes[0].plot(mean.index, mean["train_loss"], color=f"C{c}", label=name)
        axes[1].plot(mean.index, mean["val_accuracy"], color=f"C{c}", label=f"{name} validation")
        axes[1].plot(mean.index, mean["test_accuracy"], color=f"C{c}", ls="--",
                     label=f"{name} test")
    axes[0].set(xlabel="iteration", ylabel="training loss (mean since last checkpoint)")
    axes[1].set(xlabel="iteration", ylabel="accuracy (mean over folds)", ylim=(0, 1))
    axes[0].legend(fontsize=8, frameon=False)
    axes[1].legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig
