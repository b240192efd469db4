"""Paper 3, section "Bias": how accurate the attribute predictions are for each demographic group.

The paper discusses bias and ethics without measuring it. Here the accuracy of held-out predictions
is split by a demographic variable (sex, age group, skin tone on the synthetic twin, which knows
them; the database's own demographic labels on real data):

* :func:`group_metrics` - per attribute and group: Pearson *r*, mean absolute error (MAE) and mean
  signed error (prediction - rating: does the model over- or under-rate a group?), each with a
  bootstrap confidence interval (faces resampled within the group, seeded);
* :func:`group_gaps` - per attribute: the gap between the best and the worst group in *r* and in MAE,
  a bootstrap interval of that gap, a permutation p-value for "no difference between the groups"
  (group labels shuffled, the range over groups as statistic, which accounts for picking the best
  and worst of several groups) and Benjamini-Hochberg q-values over all attributes tested together.

A gap in *r* can come from a difference in the spread of the ratings within groups (range
restriction: *r* is lower where the ratings vary less) rather than from a difference in how well the
model predicts; ``sd_rating`` is reported beside *r* for that reason, and MAE, which does not depend
on the spread, beside both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: The demographic variables of the twin, as :func:`facexai.paper3.load_data` names them.
GROUP_VARIABLES: tuple[str, ...] = ("sex", "age_group", "skin_tone")


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (NaN where either side is constant)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / den, np.nan)


def _inputs(truth, pred, groups, attributes, min_size):
    truth = pd.DataFrame(truth)
    pred = pd.DataFrame(pred)
    attributes = list(attributes) if attributes is not None else list(truth.columns)
    missing = [a for a in attributes if a not in truth.columns or a not in pred.columns]
    if missing:
        raise ValueError(f"attribute {missing[0]!r} is not a column of both the ratings and the "
                         "predictions")
    if len(truth) != len(pred) or len(truth) != len(groups):
        raise ValueError(f"ratings ({len(truth)}), predictions ({len(pred)}) and groups "
                         f"({len(groups)}) must have one row per face")
    if min_size < 3:
        raise ValueError(f"min_size must be at least 3 (a correlation needs 3 faces), got {min_size}")
    g = pd.Series(np.asarray(groups, dtype=object))
    counts = g.value_counts()   # missing values are not a group
    kept = sorted(counts[counts >= min_size].index, key=str)
    return (truth[attributes].to_numpy(float), pred[attributes].to_numpy(float), g.to_numpy(),
            attributes, kept, counts)


def _boot_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n, size=(n_boot, n))


def group_metrics(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
                  n_boot: int = 1000, level: float = 0.95, min_size: int = 10,
                  seed: int = 0) -> pd.DataFrame:
    """Accuracy of the predictions per attribute and group, with bootstrap intervals.

    Parameters
    ----------
    truth, pred : DataFrame (N, attributes)
        Rating means and predictions of the same faces, same columns.
    groups : array-like (N,)
        Group of every face (missing values: the face is left out).
    attributes : list of str, optional
        Columns to score (default: all columns of ``truth``).
    n_boot : int
        Bootstrap resamples of each group's faces (percentile intervals at ``level``).
    min_size : int
        Groups with fewer faces are left out (their row is absent).

    Returns
    -------
    pandas.DataFrame
        One row per (attribute, group): ``n``, ``r`` (+ ``r_lo``, ``r_hi``), ``mae`` (+ interval),
        ``mean_error`` (prediction - rating, + interval) and ``sd_rating`` (spread of the ratings in
        the group).
    """
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t, p, g, attributes, kept, _ = _inputs(truth, pred, groups, attributes, min_size)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for group in kept:
        idx = np.flatnonzero(g == group)
        boot = idx[_boot_indices(len(idx), n_boot, rng)]          # (B, n)
        for k, attribute in enumerate(attributes):
            tt, pp = t[idx, k], p[idx, k]
            err = pp - tt
            bt, bp = t[boot, k], p[boot, k]
            r_b = _pearson(bt, bp)
            mae_b = np.abs(bp - bt).mean(1)
            me_b = (bp - bt).mean(1)
            rows.append({
                "attribute": attribute, "group": group, "n": len(idx),
                "r": float(_pearson(tt, pp)),
                "r_lo": float(np.nanquantile(r_b, lo_q)), "r_hi": float(np.nanquantile(r_b, hi_q)),
                "mae": float(np.abs(err).mean()),
                "mae_lo": float(np.quantile(mae_b, lo_q)), "mae_hi": float(np.quantile(mae_b, hi_q)),
                "mean_error": float(err.mean()),
                "mean_error_lo": float(np.quantile(me_b, lo_q)),
                "mean_error_hi": float(np.quantile(me_b, hi_q)),
                "sd_rating": float(tt.std(ddof=1)),
            })
    return pd.DataFrame(rows)


def _group_stats(t: np.ndarray, p: np.ndarray, codes: np.ndarray, n_groups: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """r and MAE of every group (rows) and attribute (columns) for integer group codes."""
    r = np.empty((n_groups, t.shape[1]))
    mae = np.empty((n_groups, t.shape[1]))
    for c in range(n_groups):
        m = codes == c
        r[c] = _pearson(t[m].T, p[m].T)
        mae[c] = np.abs(p[m] - t[m]).mean(0)
    return r, mae


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values (false discovery rate) of a set of p-values (NaN kept)."""
    p = np.asarray(p_values, float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok):
        order = ok[np.argsort(p[ok])]
        ranked = p[order] * len(ok) / np.arange(1, len(ok) + 1)
        q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def group_gaps(truth: pd.DataFrame, pred: pd.DataFrame, groups, *, attributes=None,
               n_boot: int = 1000, n_permutations: int = 1000, level: float = 0.95,
               min_size: int = 10, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per attribute: the gap between the best and the worst group, its interval and a test.

    For *r* the gap is ``r(best) - r(worst)`` and for MAE ``MAE(worst) - MAE(best)`` (both >= 0),
    with best and worst chosen on the data; the interval comes from bootstrapping the faces within
    each of the two groups (``n_boot``, ``level``); the p-value from ``n_permutations`` shuffles of
    the group labels over the faces, with the range over *all* kept groups as statistic (so that
    choosing the extreme pair is part of the null); ``q`` values are Benjamini-Hochberg over the
    attributes. ``verdict``: ``"gap"`` when the q-value of *r* or of MAE is below ``alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per attribute: ``groups`` (number kept), ``r_best_group``, ``r_worst_group``,
        ``r_gap`` (+ ``r_gap_lo``, ``r_gap_hi``), ``r_p``, ``r_q``, ``mae_best_group``,
        ``mae_worst_group``, ``mae_gap`` (+ interval), ``mae_p``, ``mae_q``, ``verdict``. Empty
        (with these columns) when fewer than two groups have ``min_size`` faces.
    """
    if n_permutations < 1 or n_boot < 10:
        raise ValueError(f"n_permutations must be >= 1 and n_boot >= 10, got {n_permutations}, "
                         f"{n_boot}")
    t, p, g, attributes, kept, _ = _inputs(truth, pred, groups, attributes, min_size)
    columns = ["attribute", "groups", "r_best_group", "r_worst_group", "r_gap", "r_gap_lo",
               "r_gap_hi", "r_p", "r_q", "mae_best_group", "mae_worst_group", "mae_gap",
               "mae_gap_lo", "mae_gap_hi", "mae_p", "mae_q", "verdict"]
    if len(kept) < 2:
        return pd.DataFrame(columns=columns)
    rows_in = np.flatnonzero(pd.Series(g).isin(kept).to_numpy())
    t, p = t[rows_in], p[rows_in]
    codes = np.array([kept.index(v) for v in g[rows_in]])
    n_groups = len(kept)
    r_obs, mae_obs = _group_stats(t, p, codes, n_groups)
    rng = np.random.default_rng(seed)
    r_null = np.empty((n_permutations, len(attributes)))
    mae_null = np.empty((n_permutations, len(attributes)))
    for b in range(n_permutations):
        r_b, mae_b = _group_stats(t, p, rng.permutation(codes), n_groups)
        r_null[b] = np.nanmax(r_b, 0) - np.nanmin(r_b, 0)
        mae_null[b] = mae_b.max(0) - mae_b.min(0)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    members = [np.flatnonzero(codes == c) for c in range(n_groups)]
    boots = [m[_boot_indices(len(m), n_boot, rng)] for m in members]
    rows = []
    for k, attribute in enumerate(attributes):
        rb, rw = int(np.nanargmax(r_obs[:, k])), int(np.nanargmin(r_obs[:, k]))
        mb, mw = int(np.argmin(mae_obs[:, k])), int(np.argmax(mae_obs[:, k]))

        def boot_r(c):
            return _pearson(t[boots[c], k], p[boots[c], k])

        def boot_mae(c):
            return np.abs(p[boots[c], k] - t[boots[c], k]).mean(1)

        r_gap_b = boot_r(rb) - boot_r(rw)
        mae_gap_b = boot_mae(mw) - boot_mae(mb)
        r_gap = r_obs[rb, k] - r_obs[rw, k]
        mae_gap = mae_obs[mw, k] - mae_obs[mb, k]
        rows.append({
            "attribute": attribute, "groups": n_groups,
            "r_best_group": kept[rb], "r_worst_group": kept[rw], "r_gap": float(r_gap),
            "r_gap_lo": float(np.nanquantile(r_gap_b, lo_q)),
            "r_gap_hi": float(np.nanquantile(r_gap_b, hi_q)),
            "r_p": float((1 + (r_null[:, k] >= r_gap - 1e-12).sum()) / (1 + n_permutations)),
            "mae_best_group": kept[mb], "mae_worst_group": kept[mw], "mae_gap": float(mae_gap),
            "mae_gap_lo": float(np.quantile(mae_gap_b, lo_q)),
            "mae_gap_hi": float(np.quantile(mae_gap_b, hi_q)),
            "mae_p": float((1 + (mae_null[:, k] >= mae_gap - 1e-12).sum()) / (1 + n_permutations)),
        })
    out = pd.DataFrame(rows)
    out["r_q"] = benjamini_hochberg(out["r_p"])
    out["mae_q"] = benjamini_hochberg(out["mae_p"])
    out["verdict"] = np.where((out["r_q"] < alpha) | (out["mae_q"] < alpha), "gap", "no gap")
    return out[columns]


def group_figure(metrics: pd.DataFrame, attributes, value: str = "r"):
    """Per-group ``value`` (``"r"``, ``"mae"`` or ``"mean_error"``) with its interval, one panel
    per group variable (``metrics`` is :func:`group_metrics` with a ``variable`` column), attributes
    on the y axis and one colour per group."""
    import matplotlib.pyplot as plt

    from ..plotting import style

    style()
    variables = list(dict.fromkeys(metrics["variable"]))
    attributes = list(attributes)
    fig, axes = plt.subplots(1, len(variables), figsize=(3.2 * len(variables) + 0.6,
                                                         0.9 + 0.28 * len(attributes)),
                             squeeze=False, sharey=True)
    for ax, variable in zip(axes[0], variables):
        part = metrics[(metrics["variable"] == variable) & metrics["attribute"].isin(attributes)]
        groups = list(dict.fromkeys(part["group"]))
        for j, group in enumerate(groups):
            rows = part[part["group"] == group].set_index("attribute").reindex(attributes)
            y = np.arange(len(attributes)) + (j - (len(groups) - 1) / 2) * 0.8 / max(len(groups), 1)
            ax.errorbar(rows[value], y, xerr=[rows[value] - rows[f"{value}_lo"],
                                              rows[f"{value}_hi"] - rows[value]],
                        fmt="o", ms=2.5, lw=0.8, capsize=1.5, color=plt.get_cmap("tab10")(j),
                        label=f"{group} (n={int(rows['n'].max()) if rows['n'].notna().any() else 0})")
        if value == "mean_error":
            ax.axvline(0, color="gray", lw=0.6)
        ax.set_title(variable.replace("_", " "), fontsize=8)
        ax.set_xlabel({"r": "Pearson r", "mae": "mean absolute error",
                       "mean_error": "prediction - rating"}.get(value, value), fontsize=7.5)
        ax.legend(fontsize=6, frameon=False, loc="lower left" if value == "r" else "lower right")
    axes[0, 0].set_yticks(range(len(attributes)), attributes, fontsize=7.5)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig
