"""General figures of the study's analyses: training curves, r per attribute, accuracy by group,
heatmap scores by region, labelled embeddings. Each function draws and returns a matplotlib figure;
the notebook captions it and saves it with :func:`facexai.figures.save`. (The figures of images
and heatmaps are :mod:`facexai.plotting`'s.)

* :func:`training_figure` - a :class:`facexai.regressors.Fitted`'s training history;
* :func:`confusion_figure` - row-normalised confusion matrices, counts in the cells;
* :func:`r_per_attribute_figure` - test r per attribute of several models beside references;
  :func:`reference_figure` - this study's r against a reference r, per attribute;
  :func:`scatter_panels` - columns against columns, with their Spearman rho;
* :func:`group_figure` - :attr:`facexai.groups.GroupComparison.metrics`;
* :func:`region_profile_figure` - relevance per area of each face region;
  :func:`lift_figure` - mass against the face-uniform map
  (:func:`facexai.truthscores.corrected_summary`);
* :func:`embedding_grid` - :class:`facexai.manifold.LabelledEmbeddings`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

__all__ = ["ceiling_figure", "embedding_grid", "group_figure", "interval_bars",
           "lift_figure", "r_per_attribute_figure", "reference_figure", "region_profile_figure",
           "scatter_panels", "training_figure", "confusion_figure"]


def training_figure(history: pd.DataFrame, metric: str = "val_r",
                    label: str = "mean validation r"):
    """Training curve: the mean training loss (left) and the validation ``metric`` (right; its axis
    ``label``) per epoch, one
    line per training seed when ``history`` has a ``seed`` column, the epoch whose weights were
    kept circled on each (``history``: :attr:`facexai.regressors.Fitted.history` or
    :attr:`facexai.regressors.SeedFits.history`; for the per-attribute protocol, the means over
    attributes and no circle)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    runs = list(history.groupby("seed")) if "seed" in history else [(None, history)]
    for k, (seed, h) in enumerate(runs):
        name = None if seed is None else f"seed {seed}"
        group = h.groupby("epoch")[["train_loss", metric]].mean().reset_index()
        axes[0].plot(group["epoch"], group["train_loss"], marker="o", ms=3, label=name,
                     color=f"C{k}" if seed is not None else "C0")
        axes[1].plot(group["epoch"], group[metric], marker="o", ms=3, label=name,
                     color=f"C{k}" if seed is not None else "C1")
        if "attribute" not in h:
            best = h[h["best"]]
            axes[1].plot(best["epoch"], best[metric], "o", ms=9, mfc="none", color="k")
    axes[0].set(xlabel="epoch", ylabel="training loss")
    axes[1].set(xlabel="epoch", ylabel=label)
    if len(runs) > 1:
        axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _model_palette(models, references) -> dict:
    """Greys for the ``references`` columns, blues for the others."""
    import seaborn as sns

    models = list(models)
    ours = [c for c in models if c not in references]
    paper = [c for c in models if c in references]
    blues = sns.color_palette("Blues_r", len(ours) + 1)
    greys = sns.color_palette("Greys", len(paper) + 2)[2:]
    return {**{c: blues[k] for k, c in enumerate(ours)},
            **{c: greys[k] for k, c in enumerate(paper)}}


def r_per_attribute_figure(table: pd.DataFrame, *, order_by: str, references=()):
    """Test r per attribute of every model column of ``table`` (one row per attribute: column
    ``attribute``, a column of r per model, ``noise_ceiling``), the ``references`` columns (e.g. a
    paper's published ones) in grey and the others in blue, with each attribute's noise ceiling as a
    black bar; rows sorted by column ``order_by``, highest first."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = table.sort_values(order_by, ascending=False)["attribute"].tolist()
    long = table.melt(id_vars="attribute", var_name="model", value_name="r",
                      value_vars=[c for c in table.columns
                                  if c not in ("attribute", "noise_ceiling")])
    long = long.dropna()
    fig, ax = plt.subplots(figsize=(9, 12))
    sns.pointplot(data=long, y="attribute", x="r", hue="model", order=order,
                  palette=_model_palette(long["model"].unique(), set(references)),
                  linestyle="none", dodge=0.6, markersize=3, ax=ax)
    if table["noise_ceiling"].notna().any():
        ceil = table.set_index("attribute").loc[order, "noise_ceiling"]
        ax.scatter(ceil.to_numpy(), np.arange(len(order)), marker="|", s=220, color="k",
                   label="noise ceiling", zorder=5)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set(xlabel="test Pearson r", ylabel="")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


def reference_figure(table: pd.DataFrame | None, x: str, y: str, *, colour: str,
                     labels: Mapping[str, str], also: str | None = None, ylabel: str = "r",
                     missing: str = "no table"):
    """Per attribute (a row of ``table``, named in column ``attribute``), a reference r (column
    ``x``, e.g. a paper's) against this study's r (column ``y``), one dot each coloured by column
    ``colour`` (0-1, e.g. the noise ceiling), with the identity; column ``also`` against ``x`` as
    grey crosses; the three attributes farthest from the identity and the two closest labelled.
    ``labels`` names the columns in the legend, colour bar and x axis. Without ``table`` or one of
    the columns, a figure that says ``missing``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    needed = {"attribute", x, y, colour} | ({also} if also else set())
    if table is None or not needed <= set(table.columns):
        ax.text(0.5, 0.5, missing, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    c = table.copy()
    for col in needed - {"attribute"}:
        c[col] = pd.to_numeric(c[col], errors="coerce")
    ax.plot([-0.2, 1], [-0.2, 1], color="0.6", lw=1, ls="--", zorder=0)
    if also:
        ax.scatter(c[x], c[also], marker="x", color="0.55", s=18, label=labels[also])
    dots = ax.scatter(c[x], c[y], c=c[colour], cmap="viridis", vmin=0, vmax=1, s=28,
                      edgecolor="k", linewidth=0.4, label=labels[y])
    fig.colorbar(dots, ax=ax, label=labels[colour])
    gap = (c[y] - c[x]).abs()
    for _, row in c.loc[gap.nlargest(3).index.union(gap.nsmallest(2).index)].iterrows():
        ax.annotate(row["attribute"], (row[x], row[y]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel(labels[x])
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.2, 1)
    ax.set_ylim(-0.2, 1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def scatter_panels(table: pd.DataFrame, panels):
    """One panel per ``(x, y, xlabel, ylabel, colour)`` of ``panels``: column ``y`` of ``table``
    against column ``x`` (both r-like, on -0.1..1), with the diagonal and the Spearman rho over
    the rows in the title."""
    import matplotlib.pyplot as plt

    from .stats import spearman

    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for ax, (x, y, xlabel, ylabel, colour) in zip(axes[0], panels):
        ax.scatter(table[x], table[y], s=14, color=colour)
        ax.set(xlabel=xlabel, ylabel=ylabel,
               title=f"Spearman ρ = {spearman(table[y], table[x]):.2f}")
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.8)
        ax.set(xlim=(-0.1, 1.02), ylim=(-0.1, 1.02))
    fig.tight_layout()
    return fig

def group_figure(metrics: pd.DataFrame, attributes, value: str = "r"):
    """Per-group ``value`` (``"r"``, ``"mae"`` or ``"mean_error"``) with its interval, one panel
    per group variable (``metrics`` is :attr:`facexai.groups.GroupComparison.metrics`), attributes
    on the y axis and one colour per group."""
    import matplotlib.pyplot as plt

    from .plotting import style

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
            n = int(rows["n"].max()) if rows["n"].notna().any() else 0
            ax.errorbar(rows[value], y, xerr=[rows[value] - rows[f"{value}_lo"],
                                              rows[f"{value}_hi"] - rows[value]],
                        fmt="o", ms=2.5, lw=0.8, capsize=1.5, color=plt.get_cmap("tab10")(j),
                        label=f"{group} (n={n})")
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



def lift_figure(summary: pd.DataFrame, maps=None, signs=("high", "-")):
    """Mass on the ground truth per attribute (x) and map (colours), one panel per ground truth,
    with the face-uniform map's mass as a black tick and the corrected interval of the lift over it
    as an error bar (``summary``: :func:`facexai.truthscores.corrected_summary` with columns
    ``ground_truth``, ``map``, ``sign``, ``attribute``, ``mass``, ``face_chance``, ``lift_lo``,
    ``lift_hi``). ``maps``: the maps drawn (default all) of ``signs``."""
    import matplotlib.pyplot as plt

    from .plotting import style

    style()
    part = summary[summary["sign"].isin(signs)]
    if maps is not None:
        part = part[part["map"].isin(maps)]
    if part.empty:
        raise ValueError("summary: no rows of the maps and signs asked for")
    truths = list(dict.fromkeys(part["ground_truth"]))
    fig, axes = plt.subplots(len(truths), 1, figsize=(9, 2.6 * len(truths)), squeeze=False,
                             sharey=True)
    for ax, truth in zip(axes[:, 0], truths):
        t = part[part["ground_truth"] == truth]
        attributes = list(dict.fromkeys(t["attribute"]))
        variants = list(dict.fromkeys(zip(t["map"], t["sign"])))
        width = 0.8 / len(variants)
        for j, (name, sign) in enumerate(variants):
            rows = t[(t["map"] == name) & (t["sign"] == sign)].set_index("attribute")
            rows = rows.reindex(attributes)
            xs = np.arange(len(attributes)) - 0.4 + width * (j + 0.5)
            lo, hi = rows["face_chance"] + rows["lift_lo"], rows["face_chance"] + rows["lift_hi"]
            err = np.clip(np.vstack([rows["mass"] - lo, hi - rows["mass"]]), 0, None)
            ax.bar(xs, rows["mass"], width, yerr=err, capsize=1.5, error_kw={"lw": 0.7},
                   label=name if sign == "-" else f"{name}, {sign}",
                   color=plt.get_cmap("tab20")(j))
        chance = t.groupby("attribute", sort=False)["face_chance"].mean().reindex(attributes)
        ax.scatter(np.arange(len(attributes)), chance, marker="_", s=500, color="black",
                   zorder=5, label="face-uniform map")
        ax.set_xticks(np.arange(len(attributes)), attributes, fontsize=7.5)
        ax.set_ylabel(f"mass on the truth\n({truth})", fontsize=8)
        ax.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=6.5, ncol=4, frameon=False, loc="upper left",
                      bbox_to_anchor=(0, 1.35))
    fig.tight_layout()
    return fig


def region_profile_figure(per_area: pd.DataFrame, attributes, regions=None):
    """Heatmap of relevance per area (rows: attributes, columns: regions; log2, 0 = what a uniform
    map gives), with each attribute's primary regions boxed and its other driving regions dotted
    (``per_area``: one row per attribute, e.g. a slice of
    :attr:`facexai.scoring.RegionScores.per_area`)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .plotting import style
    from .scoring import primary_regions, truth_regions

    style()
    regions = list(regions or per_area.columns)
    values = np.log2(per_area.loc[list(attributes), regions].astype(float).clip(lower=1 / 16))
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(regions), 0.9 + 0.32 * len(attributes)))
    im = ax.imshow(values.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
    for i, attribute in enumerate(attributes):
        primary, driving = primary_regions(attribute), truth_regions(attribute, "driving")
        for j, region in enumerate(regions):
            if region in primary:
                ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, lw=1.3,
                                       ec="black"))
            elif region in driving:
                ax.plot(j, i, marker=".", ms=3, color="black")
    ax.set_xticks(range(len(regions)), [r.replace("_", " ") for r in regions], rotation=40,
                  ha="right", fontsize=7)
    ax.set_yticks(range(len(attributes)), list(attributes), fontsize=7.5)
    cbar = fig.colorbar(im, ax=ax, fraction=0.04)
    cbar.set_label("log2 relevance per area", fontsize=7)
    fig.tight_layout()
    return fig


def _embedding_title(embedded, key, method: str, detail: bool) -> str:
    row = embedded.quality.loc[(embedded.names[key], method)]
    title = f"{method}: {row['verdict']}, kNN {row['knn_balanced_accuracy']:.2f}"
    if detail:
        title += f" ({row['null_mean']:.2f}), trust. {row['trustworthiness']:.2f}"
    return title


def embedding_grid(embedded, keys=None, *, sides=None, detail: bool = True, cell: float = 2.6,
                   view: tuple[float, float] = (10, 120)):
    """A grid of labelled embeddings (:class:`facexai.manifold.LabelledEmbeddings`): one row per
    design of ``keys`` (default: all), one column per method; points coloured by the design's
    label, named in the legend by ``sides(key) -> (name of False, name of True)``. 3-D embeddings
    are drawn in 3-D from ``view`` (elevation, azimuth). Each title gives the verdict and the
    balanced kNN accuracy, with ``detail`` also the permutation mean (in brackets) and the
    trustworthiness.
    """
    import matplotlib.pyplot as plt

    from .plotting import style

    style()
    keys = list(keys or embedded.points)
    sides = sides or (lambda key: ("no", "yes"))
    methods = list(dict.fromkeys(m for k in keys for m in embedded.points[k]))
    fig = plt.figure(figsize=(cell * len(methods) + 1.2, cell * len(keys)))
    colours = np.array(["#4c72b0", "#dd8452"])
    for i, key in enumerate(keys):
        lab = np.asarray(embedded.labels[key], bool)
        names = sides(key)
        for j, method in enumerate(methods):
            pts = np.asarray(embedded.points[key][method])
            three = pts.shape[1] >= 3
            ax = fig.add_subplot(len(keys), len(methods), i * len(methods) + j + 1,
                                 projection="3d" if three else None)
            for value in (False, True):
                m = lab == value
                coords = [pts[m, 0], pts[m, 1]] + ([pts[m, 2]] if three else [])
                ax.scatter(*coords, s=3, color=colours[int(value)], linewidths=0,
                           label=f"{names[int(value)]} ({m.sum()})")
            if three:
                ax.view_init(elev=view[0], azim=view[1])
                ax.set_zticks([])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(_embedding_title(embedded, key, method, detail), fontsize=7)
            if j == len(methods) - 1:
                ax.legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5),
                          markerscale=3)
            if j == 0:
                ax.text2D(-0.12, 0.5, str(key), transform=ax.transAxes, rotation=90, va="center",
                          ha="right", fontsize=8) if three else ax.set_ylabel(str(key), fontsize=8)
    fig.tight_layout()
    return fig


def ceiling_figure(table: pd.DataFrame, model: str = "vgg16", *, lo: str | None = "vgg16_lo",
                   hi: str | None = "vgg16_hi", oracle: str = "oracle",
                   ceiling: str = "noise_ceiling", reliability: str = "reliability",
                   label: str = "VGG16"):
    """A model's test r per attribute beside what it could reach: the achievable ceiling (column
    ``oracle``, orange diamonds, when finite), the noise ceiling (black bars) and the split-half
    reliability (grey squares); the model's r (column ``model``) with its interval over seeds
    (columns ``lo``, ``hi``; clipped to [-1, 1]) as a bar. Rows (column ``attribute``) sorted by
    the noise ceiling."""
    import matplotlib.pyplot as plt

    needed = {"attribute", model, ceiling} | {c for c in (lo, hi) if c}
    if not needed <= set(table.columns):
        raise ValueError(f"table: lacks columns {sorted(needed - set(table.columns))}")
    t = table.sort_values(ceiling, ascending=True).reset_index(drop=True)
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(t) + 1.5))
    if reliability in t and t[reliability].notna().any():
        ax.scatter(t[reliability], y, marker="s", s=16, facecolor="none", edgecolor="0.5",
                   label="reliability (ceiling²)")
    ax.scatter(t[ceiling], y, marker="|", s=160, color="k", label="noise ceiling")
    if oracle in t and t[oracle].notna().any():
        ax.scatter(t[oracle], y, marker="D", s=18, color="C1", label="oracle (achievable)")
    if lo and hi and t[[lo, hi]].notna().any(axis=None):
        ax.hlines(y, t[lo].clip(-1, 1), t[hi].clip(-1, 1), color="C0", lw=1.5)  # r in [-1, 1]
    ax.scatter(t[model], y, s=18, color="C0", zorder=3, label=label)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set_yticks(y, t["attribute"], fontsize=7)
    ax.set(xlabel="test Pearson r", ylim=(-1, len(t)))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def cluster_null_figure(tables):
    """The 2-means cluster index of each pair (dots, coloured by verdict) against its Gaussian
    null (grey bar from the null's 5th percentile to its mean), one panel per entry of ``tables``
    (``{name: facexai.clusters.ClusterTests.table()}``, e.g. the data and its controls); a pair
    left of its bar is more clustered than a Gaussian of its shape."""
    import matplotlib.pyplot as plt

    from .plotting import style

    style()
    colours = {"clusters": "C3", "no clusters": "C0", "not testable": "0.6"}
    fig, axes = plt.subplots(1, len(tables), figsize=(2.9 * len(tables) + 1.2,
                                                      0.9 + 0.2 * max(len(t) for t in
                                                                      tables.values())),
                             squeeze=False, sharey=True)
    for ax, (name, t) in zip(axes[0], tables.items()):
        y = np.arange(len(t))
        ax.hlines(y, t["null_q05"], t["null_mean"], color="0.75", lw=3)
        for verdict, colour in colours.items():
            m = (t["verdict"] == verdict).to_numpy()
            ax.scatter(t["index"][m], y[m], s=14, color=colour, zorder=3, label=verdict)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("2-means cluster index (within / total)", fontsize=7.5)
    axes[0, 0].set_yticks(range(len(t)), list(t.index), fontsize=7)
    axes[0, 0].invert_yaxis()
    axes[0, -1].legend(fontsize=6.5, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def shrinkage_figure(signed, alpha: float = 0.05):
    """Calibration by group: each (variable, attribute, group)'s mean rating offset (x) against
    the offset of its mean signed error from the other faces' (y; ``signed`` is
    :attr:`facexai.groups.GroupComparison.signed`), one colour per variable, filled where the
    q-value is below ``alpha``. A model that shrinks towards the mean puts the points on a falling
    line: groups rated above the mean are under-rated."""
    import matplotlib.pyplot as plt

    from .plotting import style

    style()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    own = signed[~signed["mirror"].astype(bool)] if "mirror" in signed else signed
    for j, (variable, part) in enumerate(own.groupby("variable", sort=False)):
        hit = (part["q"] < alpha).to_numpy()
        colour = plt.get_cmap("tab10")(j)
        ax.scatter(part["rating_offset"][~hit], part["error_offset"][~hit], s=10,
                   facecolor="none", edgecolor=colour, lw=0.7, label=variable.replace("_", " "))
        ax.scatter(part["rating_offset"][hit], part["error_offset"][hit], s=14, color=colour)
    ax.axhline(0, color="0.7", lw=0.6)
    ax.axvline(0, color="0.7", lw=0.6)
    ax.set_xlabel("group's mean rating - all faces' mean", fontsize=8)
    ax.set_ylabel("group's mean error - other faces'", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def interval_bars(table: pd.DataFrame, value: str = "iou", lo: str = "lo", hi: str = "hi", *,
                  references: Mapping[str, float] | None = None, xlabel: str | None = None):
    """One horizontal bar per row of ``table`` (its index as labels) at ``value``, with the
    interval ``lo``-``hi``, and a dashed vertical line per ``references`` entry (label -> value)."""
    import matplotlib.pyplot as plt

    t = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(t) + 1.2))
    err = np.vstack([t[value] - t[lo], t[hi] - t[value]]).clip(min=0)
    ax.barh(range(len(t)), t[value], xerr=err, color="tab:blue", alpha=0.8)
    ax.set_yticks(range(len(t)), [str(i) for i in t.index], fontsize=8)
    for (label, x), colour in zip((references or {}).items(), ("k", "tab:red", "tab:green")):
        ax.axvline(x, color=colour, linestyle="--", linewidth=1, label=label)
    if references:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel(xlabel or value)
    fig.tight_layout()
    return fig


def confusion_figure(matrices: dict[str, pd.DataFrame]):
    """Row-normalised confusion matrices side by side, counts written in the cells."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 4), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        rates = m.div(m.sum(axis=1).replace(0, 1), axis=0)
        ax.imshow(rates.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if rates.iat[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(m.columns)), m.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(m.index)), m.index, fontsize=8)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig
