"""The explanation benchmark's results: intervals, a leaderboard, a ranking test, and the published
findings checked on faces.

Input is the per-face table of :func:`facexai.benchscore.score_subject` gathered over subjects and
seeds (columns ``subject``, ``seed``, ``map``, ``kind``, ``metric``, ``face``, ``value``) and its
null table (``subject``, ``seed``, ``draw``, ``metric``, ``value``).

* :func:`summarise` - per subject, map and metric: mean over seeds and faces with a two-level
  bootstrap interval at the Bonferroni level for the maps compared (:func:`facexai.stats.
  hierarchical_interval`), undefined values counted, and whether the map **beats every control**
  (its interval above the best control's mean and above the 95th percentile of the random-map
  null);
* :func:`precision` - per subject, the intervals' half-widths and the faces a seed that would
  narrow them to a goal;
* :func:`leaderboard` - one row per map: each metric's mean over subjects and the average rank;
* :func:`friedman` - Friedman's test over blocks (subject x seed) and the Nemenyi critical
  difference of the average ranks (Demsar 2006), drawn by :func:`cd_figure`;
* :func:`findings` - published findings, each as a rule with its measured value and verdict;
* :func:`grid_figure` - methods x subjects for one metric, with intervals.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import stats
from .benchscore import METRICS

__all__ = ["cd_figure", "critical_difference", "findings", "friedman", "grid_figure",
           "leaderboard", "null_bounds", "precision", "summarise"]


def _check(faces: pd.DataFrame) -> None:
    missing = {"subject", "seed", "map", "kind", "metric", "face", "value"} - set(faces)
    if missing:
        raise ValueError(f"the benchmark table lacks the column(s) {sorted(missing)}")
    unknown = sorted(set(faces["metric"]) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")


def null_bounds(null: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per subject and metric: the random-map null's mean and its ``level`` quantile (of the
    mean over seeds and faces, across draws)."""
    per_draw = null.groupby(["subject", "metric", "draw"])["value"].mean()
    g = per_draw.groupby(["subject", "metric"])
    return pd.DataFrame({"null_mean": g.mean(), "null_hi": g.quantile(level)})


def summarise(faces: pd.DataFrame, null: pd.DataFrame | None = None, *, alpha: float = 0.05,
              n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per subject, map and metric (see the module docstring): ``kind``, ``mean``, ``lo``, ``hi``,
    ``level``, ``seeds``, ``faces``, ``undefined``, ``null_hi`` and ``beats_controls``."""
    _check(faces)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for (subject, metric), part in faces.groupby(["subject", "metric"], sort=False):
        level = 1 - alpha / part["map"].nunique()
        for name, g in part.groupby("map", sort=False):
            v = stats.seeds_by_faces(g)
            defined = int(g["value"].notna().sum())
            mean, lo, hi = (stats.hierarchical_interval(v, n_boot, level, rng)
                            if defined >= 2 and v.shape[1] >= 2 else (np.nan,) * 3)
            rows.append({"subject": subject, "map": name, "kind": g["kind"].iloc[0],
                         "metric": metric, "mean": mean, "lo": lo, "hi": hi, "level": level,
                         "seeds": int(g["seed"].nunique()), "faces": int(g["face"].nunique()),
                         "undefined": int(g["value"].isna().sum())})
    out = pd.DataFrame(rows)
    bounds = null_bounds(null) if null is not None and len(null) else None
    out["null_hi"] = [bounds["null_hi"].get((s, m), np.nan) if bounds is not None else np.nan
                      for s, m in zip(out["subject"], out["metric"])]
    out["beats_controls"] = _beats(out)
    return out


def precision(faces: pd.DataFrame, summary: pd.DataFrame, metric: str,
              goal: float) -> pd.DataFrame:
    """Per subject, how precise the explainers' intervals of ``metric`` (:func:`summarise`) are
    and how many faces a seed would make them ``goal`` wide on either side: ``seeds``, ``faces a
    seed``, the median ``half-width``, the explainers ``within goal``, the seeds' share of the
    variance of a seed's mean (:func:`facexai.stats.variance_components`; the median over
    explainers) and the median over explainers of the ``faces a seed for goal``
    (:func:`facexai.stats.faces_for_half_width` with the faces' part alone: a lower bound, which
    the seeds' part can only raise).

    The seeds' part is left out of the projection because three seeds of a few dozen faces do
    not estimate it: on the Methods network's correctness, projections that used it were off by
    up to three times per explainer, while the faces' part alone projected the median
    half-width at 311 faces a seed from 33 (0.073 for 0.072 measured)."""
    _check(faces)
    if not goal > 0:
        raise ValueError(f"goal must be a positive half-width, got {goal!r}")
    part = faces[(faces["metric"] == metric) & (faces["kind"] == "explainer")]
    half = summary[(summary["metric"] == metric) & (summary["kind"] == "explainer")].set_index(
        ["subject", "map"]).eval("(hi - lo) / 2")
    rows = []
    for subject, sub in part.groupby("subject", sort=False):
        cells = []
        for name, g in sub.groupby("map", sort=False):
            parts = stats.variance_components(stats.seeds_by_faces(g))
            h = float(half.get((subject, name), np.nan))
            # the variance of a seed's mean (undefined where no seed has two defined values)
            var = parts["between"] + parts["within"] / parts["faces"] if parts["faces"] \
                else np.nan
            cells.append({"half": h, "parts": parts,
                          "seed share": parts["between"] / var if var > 0 else np.nan,
                          "needed": stats.faces_for_half_width(h, dict(parts, between=0.0),
                                                               goal)})
        halves = np.array([c["half"] for c in cells])
        with warnings.catch_warnings():     # a subject where no explainer is defined: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append({
                "subject": subject, "seeds": int(sub["seed"].nunique()),
                "faces a seed": float(np.median([c["parts"]["faces"] for c in cells])),
                "half-width": float(np.nanmedian(halves)),
                "within goal": f"{int(np.sum(halves <= goal))} of {len(cells)}",
                "seed share": float(np.nanmedian([c["seed share"] for c in cells])),
                "faces a seed for goal": float(np.nanmedian([c["needed"] for c in cells]))})
    return pd.DataFrame(rows).set_index("subject")


def _beats(out: pd.DataFrame) -> pd.Series:
    """An explainer's interval lies beyond the best control's mean (and the null's quantile)."""
    res = pd.Series(False, index=out.index)
    for (subject, metric), g in out.groupby(["subject", "metric"]):
        ctrl = g.loc[g["kind"] == "control", "mean"].dropna()
        if not len(ctrl):
            continue
        up = METRICS[metric].higher_is_better
        best = ctrl.max() if up else ctrl.min()
        null = g["null_hi"].iloc[0]
        for i, row in g[g["kind"] == "explainer"].iterrows():
            if up:
                res[i] = row["lo"] > best and not (np.isfinite(null) and row["lo"] <= null)
            else:
                res[i] = row["hi"] < best
    return res


def _signed(summary: pd.DataFrame) -> pd.Series:
    """Means oriented so that higher is better."""
    up = summary["metric"].map(lambda m: METRICS[m].higher_is_better)
    return summary["mean"].where(up, -summary["mean"])


def leaderboard(summary: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """One row per map: each metric's mean over subjects, the subjects where it beats every
    control on the first metric, and the average rank over subjects and ``metrics`` (1 = best;
    sorted by it)."""
    metrics = list(metrics or METRICS)
    s = summary[summary["metric"].isin(metrics)].copy()
    s["score"] = _signed(s)
    s["rank"] = s.groupby(["subject", "metric"])["score"].rank(ascending=False)
    wide = s.pivot_table(index="map", columns="metric", values="mean", aggfunc="mean")[
        [m for m in metrics if m in set(s["metric"])]]
    first = s[s["metric"] == metrics[0]]
    wide.insert(0, "kind", s.groupby("map")["kind"].first())
    wide[f"beats controls ({metrics[0]})"] = first.groupby("map")["beats_controls"].sum().astype(
        int).reindex(wide.index).fillna(0).astype(int)
    wide["mean rank"] = s.groupby("map")["rank"].mean()
    return wide.sort_values("mean rank")


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks for ``k`` methods over ``n`` blocks:
    ``q_alpha sqrt(k (k + 1) / (6 n))``, ``q_alpha`` the studentised range quantile / sqrt 2."""
    from scipy.stats import studentized_range

    if k < 2 or n < 1:
        raise ValueError(f"need k >= 2 methods and n >= 1 blocks, got k={k}, n={n}")
    q = studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(faces: pd.DataFrame, metric: str, *, alpha: float = 0.05,
             blocks=("subject", "seed")) -> dict:
    """Friedman's test of the maps over ``blocks`` (each block's mean over faces), the average
    ranks (1 = best) and Nemenyi's critical difference. Blocks missing a map are left out."""
    _check(faces)
    from scipy.stats import friedmanchisquare

    g = faces[faces["metric"] == metric]
    table = g.pivot_table(index=list(blocks), columns="map", values="value", aggfunc="mean")
    table = table.dropna()
    if table.shape[0] < 2 or table.shape[1] < 3:
        raise ValueError(f"Friedman's test needs >= 2 complete blocks and >= 3 maps for "
                         f"{metric!r}, got {table.shape}")
    oriented = table if METRICS[metric].higher_is_better else -table
    ranks = oriented.rank(axis=1, ascending=False).mean()
    stat, p = friedmanchisquare(*[table[c].to_numpy() for c in table.columns])
    k, n = table.shape[1], table.shape[0]
    return {"metric": metric, "statistic": float(stat), "p": float(p), "blocks": n, "maps": k,
            "ranks": ranks.sort_values(), "cd": critical_difference(k, n, alpha),
            "alpha": alpha}


#: BAM's rough order of methods, best first (Yang & Kim 2019), in this library's keys.
BAM_ORDER: tuple[str, ...] = ("gradcam", "gradient", "smoothgrad", "integrated_gradients",
                              "gradient_x_input", "guided_backprop", "guided_gradcam")


def _paired(faces: pd.DataFrame, metric: str, a: str, b: str, alpha: float, m: int,
            seed: int = 0) -> pd.DataFrame:
    """Per subject: mean of ``a - b`` on ``metric`` over seeds and faces, with its interval at
    the level ``1 - alpha / m``."""
    g = faces[(faces["metric"] == metric) & faces["map"].isin([a, b])]
    wide = g.pivot_table(index=["subject", "seed", "face"], columns="map", values="value")
    rows = []
    if a not in wide or b not in wide:
        return pd.DataFrame(columns=["subject", "mean", "lo", "hi"])
    diff = (wide[a] - wide[b]).rename("d").reset_index()
    for subject, part in diff.groupby("subject"):
        v = stats.seeds_by_faces(part, "d")
        mean, lo, hi = (stats.hierarchical_interval(v, 1000, 1 - alpha / m, seed)
                        if part["d"].notna().sum() >= 2 else (np.nan,) * 3)
        rows.append({"subject": subject, "mean": mean, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def _tally(per: pd.DataFrame) -> tuple[str, str]:
    above, below = int((per["lo"] > 0).sum()), int((per["hi"] < 0).sum())
    text = "; ".join(f"{r.subject} {r.mean:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]"
                     for r in per.itertuples())
    n = len(per)
    verdict = ("not testable here" if not n else "holds" if above == n else
               "the opposite holds" if below == n else f"mixed ({above} of {n} above, "
               f"{below} below)")
    return text, verdict


def _kendall_bam(summary: pd.DataFrame, metric: str) -> tuple[str, str]:
    from scipy.stats import kendalltau

    ours = summary[(summary["metric"] == metric) & (summary["kind"] == "explainer")]
    ours = ours.groupby("map")["mean"].mean()
    common = [m for m in BAM_ORDER if m in ours.index and np.isfinite(ours[m])]
    if len(common) < 4:
        return f"{len(common)} of BAM's methods scored", "not testable here"
    tau, p = kendalltau(np.arange(len(common)), -ours[common].to_numpy())
    order = ", ".join(ours[common].sort_values(ascending=False).index)
    verdict = "holds" if tau > 0 and p < 0.05 else "the opposite holds" if tau < 0 and p < 0.05 \
        else "not different from no agreement"
    return f"Kendall tau {tau:+.2f} (p {p:.2f}) over {len(common)} methods; ours: {order}", verdict


def findings(summary: pd.DataFrame, faces: pd.DataFrame, *, alpha: float = 0.05,
             lrp: str = "lrp_epsilon_plus_flat", published_iou: float = 0.27,
             iou_goal: float = 0.33, au_subjects=None) -> pd.DataFrame:
    """The published findings checked on faces: one row each with its source, the rule (fixed
    before the data), what was measured and the verdict. Bonferroni over the findings' paired
    tests. ``au_subjects``: the subjects whose data truth is Action Units (an expression or one
    AU), the only ones the published IoU with AU masks compares with (default: every subject)."""
    rows = []
    clevr = _paired(faces, "mass", lrp, "integrated_gradients", alpha, 3)
    rows.append(("LRP puts more relevance on the truth than IG", "CLEVR-XAI (Arras et al. 2022)",
                 f"{lrp} - integrated_gradients on mass, interval above 0 in every subject",
                 *_tally(clevr)))
    for guided, ref in (("guided_backprop", "gradient"), ("guided_gradcam", "gradcam")):
        d = _paired(faces, "cascading", guided, ref, alpha, 3)
        rows.append((f"{guided} fails the cascading randomisation check where {ref} passes",
                     "Adebayo et al. 2018", f"{guided} - {ref} on cascading (1 - Spearman), "
                     "interval below 0 in every subject", *_flip(_tally(d))))
    rows.append(("BAM's order of methods", "BAM (Yang & Kim 2019)",
                 "Kendall tau > 0 (p < 0.05) between BAM's order and ours on correctness",
                 *_kendall_bam(summary, "correctness")))
    for metric in ("mass_lift", "correctness"):
        s = summary[(summary["metric"] == metric)]
        edge = s[s["map"] == "edge (Sobel)"].set_index("subject")["mean"]
        ex = s[(s["kind"] == "explainer") & s["subject"].isin(edge.index)]
        beat = ex["lo"].to_numpy(float) > edge.reindex(ex["subject"]).to_numpy(float)
        rows.append((f"methods may not beat an edge map ({metric})", "XAI-TRIS (Clark et al. 2023)",
                     "an explainer's interval above the edge map's mean; the warning holds if "
                     "any does not",
                     f"{int(beat.sum())} of {len(ex)} explainer x subject cells beat it",
                     "not testable here" if not len(ex) else
                     "holds" if (~beat).any() else "does not hold"))
    iou = summary[(summary["metric"] == "iou") & (summary["kind"] == "explainer")]
    if au_subjects is not None:
        iou = iou[iou["subject"].isin(list(au_subjects))]
    over = iou[iou["mean"] > iou_goal]
    rows.append((f"saliency on the Action Units: IoU against the published {published_iou}",
                 "Gaya-Morey et al. 2024", f"explainer x subject cells with mean IoU > {iou_goal}",
                 f"mean over cells {iou['mean'].mean():.3f}; above {iou_goal}: " + (", ".join(
                     f"{r.map} on {r.subject} {r.mean:.2f}" for r in over.itertuples()) or
                     "none"), f"{len(over)} of {len(iou)} cells above {iou_goal}"))
    return pd.DataFrame(rows, columns=["finding", "source", "rule", "measured", "verdict"])


def _flip(pair: tuple[str, str]) -> tuple[str, str]:
    """A verdict on "a - b below 0": the tally of "above 0" read the other way round."""
    text, verdict = pair
    swap = {"holds": "does not hold (guided is *more* sensitive)",
            "the opposite holds": "holds"}
    return text, swap.get(verdict, verdict)


def grid_figure(summary: pd.DataFrame, metric: str, ax=None):
    """Maps (rows) x subjects (columns): the mean of ``metric`` as colour, with the mean and
    interval written in each cell; controls below a rule."""
    import matplotlib.pyplot as plt

    s = summary[summary["metric"] == metric]
    order = list(s[s["kind"] == "explainer"]["map"].unique()) + \
        list(s[s["kind"] == "control"]["map"].unique())
    wide = s.pivot_table(index="map", columns="subject", values="mean").reindex(order)
    lo = s.pivot_table(index="map", columns="subject", values="lo").reindex(order)
    hi = s.pivot_table(index="map", columns="subject", values="hi").reindex(order)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 * wide.shape[1] + 3, 0.38 * len(order) + 1))
    im = ax.imshow(wide.to_numpy(float), aspect="auto", cmap="viridis")
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            v = wide.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f} [{lo.iat[i, j]:.2f}, {hi.iat[i, j]:.2f}]", ha="center",
                        va="center", fontsize=7, color="w" if v < np.nanmean(wide.values) else "k")
    n_ex = int((s.drop_duplicates("map")["kind"] == "explainer").sum())
    ax.axhline(n_ex - 0.5, color="w", lw=2)
    ax.set_xticks(range(wide.shape[1]), wide.columns)
    ax.set_yticks(range(wide.shape[0]), wide.index)
    ax.set_title(f"{metric}: {METRICS[metric].what}", fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax.figure


def cd_figure(result: dict, ax=None):
    """Critical-difference diagram of :func:`friedman`'s average ranks: maps whose ranks differ by
    less than the critical difference are joined by a bar."""
    import matplotlib.pyplot as plt

    ranks, cd = result["ranks"], result["cd"]
    k = len(ranks)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.28 * k + 1.4))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-(k + 2), 2)
    ax.invert_xaxis()
    ax.hlines(0, 1, k, color="k")
    for i, (name, r) in enumerate(ranks.items()):
        y = -(i + 1)
        ax.plot([r, r], [0, y], color="0.5", lw=0.8)
        ax.text(r, y, f" {name} ({r:.1f})", va="center", ha="right", fontsize=8)
    values = ranks.to_numpy()
    level, last = 0.6, -1
    for i in range(k):                    # one bar per maximal group within the CD
        j = int(np.searchsorted(values, values[i] + cd, side="right")) - 1
        if j > i and j > last:
            ax.hlines(level, values[i], values[j], color="tab:red", lw=3)
            level, last = level + 0.3, j
    ax.hlines(1.6, 1, 1 + cd, color="k", lw=2)
    ax.text(1 + cd / 2, 1.8, f"CD {cd:.2f}", ha="center", fontsize=8)
    ax.axis("off")
    ax.set_title(f"{result['metric']}: Friedman chi2 {result['statistic']:.1f}, p "
                 f"{result['p']:.2g}, {result['blocks']} blocks", fontsize=9)
    return ax.figure
