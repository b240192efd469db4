"""What the Data chapter and ``facexai data check`` show about a loaded dataset.

Tables and selections only; drawing is :func:`facexai.plotting.montage`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .core import ROLES, FaceDataset, listing


def counts_table(ds: FaceDataset, scheme: str | None = None) -> pd.DataFrame:
    """Images per class (rows) and fold or split role (columns), with totals.

    A scheme that rotates over folds (CK+, KDEF, k-fold) gets one column per fold; a scheme given
    as roles (TFD's official folds, the paper-3 split) one column per (split, role).
    """
    s = ds.splits[scheme] if scheme else ds.scheme
    classes = ds.class_names().to_numpy()
    order = [c for c in (ds.classes or ()) if c in set(classes)] or sorted(set(classes))
    if s.groups is not None:
        cols = pd.Series([f"fold {g}" for g in s.groups], name="fold")
        table = pd.crosstab(pd.Series(classes, name="class"), cols)
        table = table[sorted(table.columns, key=lambda c: int(c.split()[1]))]
    else:
        parts = {}
        for k in range(s.n_splits):
            for code in (1, 2, 3):
                key = ROLES[code] if s.n_splits == 1 else (f"split {k}", ROLES[code])
                parts[key] = pd.Series(s.roles[:, k] == code).groupby(classes).sum()
        table = pd.DataFrame(parts)
        table.index.name = "class"
    table = table.reindex(order).fillna(0).astype(int)
    table.loc["total"] = table.sum()
    if s.groups is not None:
        table["total"] = table.sum(axis=1)
    return table


def montage_selection(ds: FaceDataset, per_row: int = 6, label: str | None = None,
                      rows: int = 3, show_subject: bool = True) -> dict[str, Any]:
    """Images for a montage: one row per class (``per_row`` images spread over the class), or for
    a dataset without classes ``rows`` rows of the first images. Each image is labelled with its
    subject (unless ``show_subject`` is False) and, if given, its value in the column ``label``.

    Returns the keyword arguments of :func:`facexai.plotting.montage`.
    """
    images, labels = [], []
    if ds.target is None:
        idx = np.arange(min(len(ds), per_row * rows))
        images = [ds.images[i] for i in idx]
        labels = [f"{ds.subjects[i]}: {ds.labels[label].iloc[i]:.1f}" if label else str(ds.subjects[i])
                  for i in idx]
        return {"images": images, "labels": labels, "ncols": per_row}
    names = ds.class_names().to_numpy()
    row_labels = []
    for cls in [c for c in (ds.classes or sorted(set(names))) if c in set(names)]:
        members = np.flatnonzero(names == cls)
        pick = members[np.linspace(0, len(members) - 1, min(per_row, len(members))).round().astype(int)]
        for j in range(per_row):
            if j < len(pick):
                images.append(ds.images[pick[j]])
                parts = ([str(ds.subjects[pick[j]])] if show_subject else []) \
                    + ([str(ds.labels[label].iloc[pick[j]])] if label else [])
                labels.append(" ".join(parts))
            else:  # a blank cell keeps the rows aligned
                images.append(np.full_like(ds.images[0], 255))
                labels.append("")
        row_labels.append(cls)
    return {"images": images, "labels": labels, "ncols": per_row, "row_labels": row_labels}


def summary(ds: FaceDataset) -> list[str]:
    """Lines describing a loaded dataset: images, classes, subjects, splits, problems found."""
    lines = [f"{ds.key}: {len(ds)} images of {'x'.join(map(str, ds.images.shape[1:]))} from {ds.root}"]
    counts = ds.class_names().value_counts()
    if ds.classes:
        counts = counts.reindex([c for c in ds.classes if c in counts.index])
    lines.append("labels per class: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    lines.append(f"subjects: {len(set(ds.subjects.tolist()))}")
    for name, s in ds.splits.items():
        per = s.counts()[["train", "val", "test"]]
        text = "; ".join(f"{k}: " + "/".join(str(v) for v in row) for k, row in per.iterrows())
        lines.append(f"split scheme {name!r} ({s.n_splits} split(s), train/valid/test): {text}")
    if ds.landmarks is not None:
        lines.append(f"landmarks: {ds.landmarks.shape[1]} points per image")
    if ds.aus is not None:
        lines.append(f"AU labels: {ds.aus.shape[1]} AUs ({', '.join(ds.aus.columns)})")
    for key, value in ds.notes.items():
        if key.startswith("cache"):
            continue
        text = f"{len(value)}" + (f" ({listing(value, 3)})" if value else "") \
            if isinstance(value, list) else str(value)
        lines.append(f"{key.replace('_', ' ')}: {text}")
    lines.append(f"problems: {len(ds.skipped)} file(s) skipped"
                 + "".join(f"\n  {s.path}: {s.reason}" for s in ds.skipped[:20])
                 + (f"\n  ... and {len(ds.skipped) - 20} more" if len(ds.skipped) > 20 else ""))
    return lines


def skipped_table(datasets: dict[str, FaceDataset]) -> pd.DataFrame:
    """Every skipped file of several datasets, with the reason (one row each)."""
    rows = [{"dataset": key, "file": s.path, "reason": s.reason}
            for key, ds in datasets.items() for s in ds.skipped]
    return pd.DataFrame(rows, columns=["dataset", "file", "reason"])
