"""Figures of the book, one function each, in one consistent style.

Functions draw and return a matplotlib figure (or seaborn grid); the caller captions it (cell
metadata) and names the file (:func:`facexai.figures.save`).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

#: One colour per region of :data:`facexai.regions.REGIONS` (background first, transparent).
REGION_COLORS = (
    (0, 0, 0, 0), "#8c564b", "#bcbd22", "#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#ff7f0e",
    "#d62728", "#9467bd", "#c5b0d5", "#17becf",
)


def style() -> None:
    """The book's matplotlib style (called by every function here)."""
    plt.rcParams.update({"figure.dpi": 100, "axes.spines.top": False, "axes.spines.right": False,
                         "font.size": 9, "axes.titlesize": 9})


def _grid(n: int, ncols: int, cell: float, extra_h: float = 0.0):
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * (cell + extra_h)),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def montage(images: Sequence[np.ndarray], labels: Sequence[str] | None = None, ncols: int = 8,
            cell: float = 1.3, row_labels: Sequence[str] | None = None):
    """Images in a grid, each with an optional label underneath; optional row labels on the left."""
    style()
    fig, axes = _grid(len(images), ncols, cell, 0.25 if labels is not None else 0.0)
    for k, img in enumerate(images):
        ax = axes.flat[k]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        if labels is not None:
            ax.set_title(labels[k], fontsize=7, y=-0.2)
    if row_labels is not None:
        for r, text in enumerate(row_labels):
            axes[r, 0].text(-0.08, 0.5, text, transform=axes[r, 0].transAxes, ha="right",
                            va="center", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def regions_overlay(images: Sequence[np.ndarray], label_maps: Sequence[np.ndarray],
                    landmarks: Sequence[np.ndarray], region_names: Sequence[str], cell: float = 2.4):
    """Each face three times: as rendered, with its 68 landmarks numbered, with its region map."""
    style()
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(3 * cell, n * cell), squeeze=False)
    cmap = ListedColormap(REGION_COLORS[:len(region_names)])
    for r in range(n):
        img, lm, lab = images[r], np.asarray(landmarks[r]), label_maps[r]
        for ax in axes[r]:
            ax.imshow(img)
            ax.set_axis_off()
        axes[r, 1].plot(lm[:, 0], lm[:, 1], ".", color="#00ff88", ms=3)
        for k in (0, 8, 16, 17, 26, 27, 30, 36, 45, 48, 54, 57):
            axes[r, 1].text(lm[k, 0], lm[k, 1], str(k), fontsize=5, color="yellow")
        axes[r, 2].imshow(lab, cmap=cmap, vmin=-0.5, vmax=len(region_names) - 0.5,
                          alpha=0.55, interpolation="nearest")
    axes[0, 0].set_title("rendered")
    axes[0, 1].set_title("68 landmarks (iBUG order)")
    axes[0, 2].set_title("regions from the landmarks")
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGION_COLORS[k]) for k in range(1, len(region_names))]
    fig.legend(handles, list(region_names[1:]), loc="lower center", ncol=6, fontsize=7,
               frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def mask_grid(image: np.ndarray, masks: np.ndarray, titles: Sequence[str], ncols: int = 8,
              cell: float = 1.4):
    """One panel per mask, drawn in red over a faded copy of ``image``."""
    style()
    fig, axes = _grid(len(masks), ncols, cell, 0.2)
    faded = (0.45 * image.astype(float) + 0.55 * 255).astype(np.uint8)
    for k, mask in enumerate(masks):
        over = faded.copy()
        over[mask] = (0.4 * over[mask] + 0.6 * np.array([220, 30, 30])).astype(np.uint8)
        axes.flat[k].imshow(over)
        axes.flat[k].set_title(titles[k], fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def correlation_pair(left: pd.DataFrame, right: pd.DataFrame, titles: Sequence[str],
                     size: float = 5.2):
    """Two correlation matrices side by side, both in the row order of ``right`` clustered
    hierarchically (so shared structure lines up)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    style()
    dist = squareform(np.clip(1 - right.to_numpy(), 0, 2), checks=False)
    order = right.index[leaves_list(linkage(dist, "average"))]
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 0.8, size))
    for ax, m, title in zip(axes, (left, right), titles):
        im = ax.imshow(m.loc[order, order].to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=4.5)
        ax.set_yticks(range(len(order)), order, fontsize=4.5)
        ax.set_title(title, fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.6)
    return fig


def reliability_bars(table: pd.DataFrame, columns: Sequence[str], labels: Sequence[str]):
    """Horizontal bars per attribute (rows of ``table``) for one or more reliability columns."""
    style()
    table = table.sort_values(columns[0])
    fig, ax = plt.subplots(figsize=(6.5, 0.16 * len(table) + 1))
    y = np.arange(len(table))
    h = 0.8 / len(columns)
    for k, (col, lab) in enumerate(zip(columns, labels)):
        ax.barh(y + (k - (len(columns) - 1) / 2) * h, table[col], height=h, label=lab)
    ax.set_yticks(y, table.index, fontsize=6.5)
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Explanations, faithfulness, filters and manifolds (facexai.explain and friends)
# ---------------------------------------------------------------------------------------------

def lrp_cmap(name: str = "coldnhot"):
    """zennit's colormap ``name`` (``zennit.image.CMAPS``) as a matplotlib colormap.

    ``"coldnhot"`` (cyan-blue for negative, black for zero, red-yellow for positive relevance) is
    the one of the LRP literature; ``"bwr"`` is its white-centred variant.
    """
    from zennit.image import palette

    return ListedColormap(palette(name) / 255.0, name=f"zennit-{name}")


def _heat_rgba(relevance: np.ndarray, cmap, vmax: float | None = None) -> np.ndarray:
    """RGBA image of a relevance map, symmetric around zero; opacity grows with |relevance| so
    the face shows through where relevance is zero."""
    r = np.asarray(relevance, float)
    vmax = vmax if vmax is not None else float(np.abs(r).max()) or 1.0
    u = np.clip(r / vmax, -1, 1)
    rgba = cmap((u + 1) / 2)
    rgba[..., 3] = np.clip(np.abs(u) * 1.6, 0, 1) ** 0.7
    return rgba


def heatmap_overlay(ax, image: np.ndarray, relevance: np.ndarray, cmap="coldnhot",
                    percentile: float = 99.5) -> None:
    """Draw ``relevance`` over the grayscale ``image`` on ``ax`` (scale: the ``percentile`` of
    |relevance|, so a few extreme pixels do not wash the rest out)."""
    cmap = lrp_cmap(cmap) if isinstance(cmap, str) else cmap
    img = np.asarray(image, float)
    ax.imshow(img, cmap="gray", vmin=img.min(), vmax=img.max() if img.max() > img.min() else 1)
    vmax = float(np.percentile(np.abs(relevance), percentile)) or None
    ax.imshow(_heat_rgba(relevance, cmap, vmax), interpolation="nearest")
    ax.set_axis_off()


def explanation_grid(images: Sequence[np.ndarray], maps: dict, notes: dict | None = None,
                     col_labels: Sequence[str] | None = None, cmap="coldnhot",
                     cell: float = 1.25):
    """Every explainer (rows) on the same faces (columns), a note under each panel.

    ``maps``: ``{method: (N, H, W)}``; ``notes``: ``{method: [str per face]}`` (e.g. faithfulness
    numbers). The first row shows the faces.
    """
    style()
    rows = ["input"] + list(maps)
    n = len(images)
    fig, axes = plt.subplots(len(rows), n, figsize=(n * cell + 1.3, len(rows) * (cell + 0.18)),
                             squeeze=False)
    for j, img in enumerate(images):
        axes[0, j].imshow(img, cmap="gray")
        axes[0, j].set_axis_off()
        if col_labels is not None:
            axes[0, j].set_title(col_labels[j], fontsize=7)
    for i, method in enumerate(maps, start=1):
        for j in range(n):
            heatmap_overlay(axes[i, j], images[j], maps[method][j], cmap)
            if notes is not None and method in notes:
                axes[i, j].text(0.5, -0.04, notes[method][j], transform=axes[i, j].transAxes,
                                ha="center", va="top", fontsize=5.5)
        axes[i, 0].text(-0.06, 0.5, method.replace("_", " "), transform=axes[i, 0].transAxes,
                        ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=0.16, right=0.99, top=0.97, bottom=0.01, hspace=0.32, wspace=0.04)
    return fig


def region_bars(table: pd.DataFrame, value: str = "relevance_share", hue: str = "method",
                reference: pd.Series | None = None, reference_label: str = "ground truth"):
    """Grouped bars of ``value`` per face region (rows of a long table with ``region`` and ``hue``
    columns), optionally with a reference per region drawn as black ticks."""
    import seaborn as sns

    style()
    table = table.reset_index(drop=True)  # concatenated per-method tables repeat their index
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    order = list(dict.fromkeys(table["region"]))
    sns.barplot(data=table, x="region", y=value, hue=hue, order=order, ax=ax, errorbar=None)
    if reference is not None:
        ax.scatter(range(len(order)), reference.reindex(order).to_numpy(), marker="_", s=300,
                   color="black", zorder=5, label=reference_label)
    ax.set_xlabel("")
    ax.set_ylabel(value.replace("_", " "))
    ax.tick_params(axis="x", rotation=35, labelsize=7)
    ax.legend(fontsize=6.5, ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def perturbation_curves(curves: dict, score_label: str = "score of the explained class"):
    """MoRF and LeRF curves side by side: ``curves = {method: {"morf": curve, "lerf": curve}}``
    with :class:`facexai.faithfulness.PerturbationCurve` values (means over samples drawn)."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.1), sharey=True)
    for k, (method, pair) in enumerate(curves.items()):
        for ax, order in zip(axes, ("morf", "lerf")):
            c = pair[order]
            ax.plot(c.fractions, c.mean, marker=".", ms=3, lw=1.2, label=method.replace("_", " "),
                    **_line_style(k))
    axes[0].set_title("most relevant first (MoRF): steep is faithful")
    axes[1].set_title("least relevant first (LeRF): flat is faithful")
    for ax in axes:
        ax.set_xlabel("share of patches replaced")
    axes[0].set_ylabel(score_label)
    axes[1].legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def _line_style(k: int) -> dict:
    """Colour and dash of line ``k``: 20 distinguishable colours, solid then dashed."""
    return {"color": plt.get_cmap("tab20")(k % 20), "ls": "-" if k % 2 == 0 else "--"}


def randomization_curves(table: pd.DataFrame, value: str = "spearman"):
    """Similarity to the trained model's explanation as layers are randomised top-down, one line
    per method (long table with ``method``, ``step``, ``randomized_down_to`` and ``value``)."""
    style()
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for k, (method, t) in enumerate(table.groupby("method", sort=False)):
        ax.plot(t["step"], t[value], marker="o", ms=3, label=method.replace("_", " "),
                **_line_style(k))
    first = table[table["method"] == table["method"].iloc[0]]
    ax.set_xticks(first["step"], first["randomized_down_to"], rotation=35, fontsize=7)
    ax.axhline(0, color="gray", lw=0.6)
    ax.set_xlabel("randomised from the output down to")
    ax.set_ylabel(f"{value} similarity to the trained model")
    ax.legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def filter_grid(patches: np.ndarray, projections: np.ndarray, row_labels: Sequence[str],
                cell: float = 0.75):
    """Per channel (rows): its top-k receptive-field patches, then the guided-backprop projection of
    its single strongest activation."""
    style()
    c, k = patches.shape[:2]
    fig, axes = plt.subplots(c, k + 1, figsize=((k + 1) * cell + 0.9, c * cell), squeeze=False)
    for i in range(c):
        for j in range(k):
            axes[i, j].imshow(patches[i, j], cmap="gray")
        p = projections[i]
        v = float(np.abs(p).max()) or 1.0
        axes[i, k].imshow(p, cmap=lrp_cmap("bwr"), vmin=-v, vmax=v)
        axes[i, 0].text(-0.1, 0.5, row_labels[i], transform=axes[i, 0].transAxes, ha="right",
                        va="center", fontsize=6.5)
        for ax in axes[i]:
            ax.set_axis_off()
    axes[0, k].set_title("projection", fontsize=6.5)
    fig.subplots_adjust(left=0.2, right=0.99, top=0.93, bottom=0.01, wspace=0.05, hspace=0.08)
    return fig


def manifold_scatter(embeddings: dict, labels: Sequence, titles: dict | None = None,
                     cell: float = 3.2):
    """One seaborn scatter per embedding (``{name: (N, 2)}``), points coloured by ``labels``."""
    import seaborn as sns

    style()
    fig, axes = plt.subplots(1, len(embeddings), figsize=(cell * len(embeddings), cell + 0.5),
                             squeeze=False)
    labels = np.asarray(labels)
    for ax, (name, emb) in zip(axes[0], embeddings.items()):
        sns.scatterplot(x=emb[:, 0], y=emb[:, 1], hue=labels, hue_order=sorted(set(labels)),
                        s=6, linewidth=0, ax=ax, legend=ax is axes[0, -1], palette="tab10")
        ax.set_title((titles or {}).get(name, name), fontsize=7.5)
        ax.set_xticks([])
        ax.set_yticks([])
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "center left", bbox_to_anchor=(1, 0.5), fontsize=6.5,
                        frameon=False, markerscale=2)
    fig.tight_layout()
    return fig
