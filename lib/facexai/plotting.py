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


def clustered_correlation(frame: pd.DataFrame, method: str = "average", size: float = 9.0):
    """Hierarchically clustered correlation matrix of the columns of ``frame`` (seaborn)."""
    import seaborn as sns

    style()
    corr = frame.corr()
    grid = sns.clustermap(corr, method=method, metric="correlation", cmap="RdBu_r", vmin=-1,
                          vmax=1, figsize=(size, size), xticklabels=True, yticklabels=True,
                          dendrogram_ratio=0.08, cbar_pos=(0.01, 0.93, 0.02, 0.06))
    grid.ax_heatmap.tick_params(labelsize=6)
    return grid


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
