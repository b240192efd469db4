"""Paper 3, section "Manifolds": the paper's embeddings of predicted attribute scores, measured.

[P3] ``Manifold.ipynb``, for one bipolar pair such as attractive/unattractive: the label is
*predicted attribute > predicted antonym*, the features the other 38 predicted columns
standardised (:func:`pair_design`), embedded by PCA (2-D), t-SNE (2-D) and UMAP (3-D, 40
neighbours, ``min_dist`` 0.1: :data:`PAPER_SETTINGS`), and the pictures read for cluster
structure. Here the predictions are those of held-out images, and the verdict is measured
(:func:`facexai.manifold.labelled_embeddings`, one design per pair named by :func:`pair_name`).
:func:`original_rows` and :func:`in_sample_comparison`: the rows the paper's code predicted
(mostly training images), and what using them changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .. import clusters, manifold
from ..synth.attributes import PAIRS, antonym, pair_name

__all__ = ["PAPER_SETTINGS", "InSample", "all_pairs", "antonym", "deep_embeddings", "embed_pairs",
           "in_sample_comparison", "original_rows", "pair_design", "pair_name"]

#: The paper's embedding settings: dimensions of each method, and UMAP's neighbours and min_dist.
PAPER_SETTINGS = {"pca": {"n_components": 2}, "tsne": {"n_components": 2},
                  "umap": {"n_components": 3, "n_neighbors": 40, "min_dist": 0.1}}


def original_rows(n: int = 2222, seed: int = 42) -> np.ndarray:
    """The rows the paper's ``manifold.py`` predicted on: ``train_test_split(df, test_size=0.001,
    random_state=42)[0]``, i.e. 2,219 of 2,222 images (in that order), most of them training
    images of the models."""
    from sklearn.model_selection import train_test_split

    return np.asarray(train_test_split(np.arange(n), test_size=0.001, random_state=seed)[0])


def pair_design(scores: pd.DataFrame, attribute: str, other: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The paper's features, label and feature columns for the pair of ``attribute`` and ``other``
    (default: its :func:`antonym`) in predicted ``scores`` (N, 40): the other columns, each scaled
    to zero mean and unit variance (``StandardScaler``); the label: the standardised difference,
    :func:`facexai.clusters.pair_sides` (the paper's ``scores[attribute] > scores[other]`` is one
    class for shrunk outputs)."""
    from sklearn.preprocessing import StandardScaler

    other = other or antonym(attribute)
    missing = [c for c in (attribute, other) if c not in scores.columns]
    if missing:
        raise ValueError(f"scores have no column {missing[0]!r}")
    columns = [c for c in scores.columns if c not in (attribute, other)]
    values = scores[columns].to_numpy(float)
    if not np.isfinite(values).all():
        raise ValueError("scores hold missing or infinite values")
    labels = clusters.pair_sides(scores[attribute], scores[other])
    return StandardScaler().fit_transform(values), labels, columns


def embed_pairs(scores: pd.DataFrame, pairs, methods=("pca", "tsne", "umap"), *, seed: int = 0,
                settings: dict | None = None, **rules) -> manifold.LabelledEmbeddings:
    """The paper's protocol for each of ``pairs`` (first columns of bipolar pairs) on predicted
    ``scores``: :func:`pair_design`, embedded with :data:`PAPER_SETTINGS` updated by ``settings``
    (:func:`facexai.manifold.embed_many`) and measured (``rules``: the ``k``,
    ``n_permutations``, ``alpha``, ``min_gain`` of :func:`facexai.manifold.quality_table`)."""
    designs = {}
    for attribute in pairs:
        features, labels, _ = pair_design(scores, attribute)
        designs[attribute] = (features, labels, manifold.embed_many(
            features, methods, seed=seed, defaults=PAPER_SETTINGS, settings=settings))
    return manifold.labelled_embeddings(designs, names=pair_name, level="pair", seed=seed, **rules)


def deep_embeddings(fitted, x: torch.Tensor, labels: dict, methods=("pca", "tsne", "umap"), *,
                    seed: int = 0, settings: dict | None = None, **rules
                    ) -> manifold.LabelledEmbeddings:
    """The paper's embeddings of the network's penultimate features, coloured by each pair's
    ``labels`` (``{attribute: (N,) labels}`` of the images ``x``, e.g. those of
    :func:`embed_pairs`): :func:`facexai.manifold.network_embeddings`."""
    return manifold.network_embeddings(fitted, x, labels, methods, seed=seed,
                                       defaults=PAPER_SETTINGS, settings=settings,
                                       names=pair_name, level="pair", **rules)


def all_pairs(scores: pd.DataFrame, *, seed: int = 0, **rules) -> pd.DataFrame:
    """Every pair's verdict in its 38 features and in their 2-D PCA (the cheap part of the
    protocol): one row per pair with ``positive_share``, ``features_knn``, ``features_verdict``,
    ``pca_knn``, ``pca_verdict`` and ``pca_silhouette``."""
    q = embed_pairs(scores, [pos for pos, _ in PAIRS], ("pca",), seed=seed, **rules).quality
    f, p = q.xs("features", level="space"), q.xs("pca", level="space")
    return pd.DataFrame({"positive_share": f["positive_share"],
                         "features_knn": f["knn_balanced_accuracy"],
                         "features_verdict": f["verdict"], "pca_knn": p["knn_balanced_accuracy"],
                         "pca_verdict": p["verdict"], "pca_silhouette": p["silhouette"]})


@dataclass
class InSample:
    """:func:`in_sample_comparison`'s result: ``table`` (one row per pair and set of rows),
    ``agreement`` and ``verdicts`` (pairs x ``"in-sample"``/``"held-out"``), ``seen_share`` (of
    the original rows, the share used for training or model selection) and ``n_rows``."""

    table: pd.DataFrame
    agreement: pd.DataFrame
    verdicts: pd.DataFrame
    seen_share: float
    n_rows: int


def in_sample_comparison(fitted, data, held_out: np.ndarray, held_out_scores: pd.DataFrame, *,
                         seed: int = 0, **rules) -> InSample:
    """The paper's rows (:func:`original_rows`, mostly training images) against held-out rows.

    For every pair and both sets of rows: how often the predicted side of the pair agrees with the
    side the raters chose (``data.ratings``; sides by :func:`facexai.clusters.pair_sides`), and
    :func:`facexai.manifold.separation_test` in the 38 features (``rules``: its ``k``, ...).
    """
    orig = original_rows(len(data.split))
    sets = (("in-sample", orig, fitted.predict(data.images[orig])),
            ("held-out", np.asarray(held_out), held_out_scores))
    rows = []
    for pos, neg in PAIRS:
        for name, idx, scores in sets:
            features, labels, _ = pair_design(scores, pos, neg)
            rated = clusters.pair_sides(*data.ratings[[pos, neg]].to_numpy()[idx].T)
            q = manifold.separation_test(features, labels, seed=seed, **rules)
            rows.append({"pair": f"{pos}/{neg}", "rows": name,
                         "agreement with raters": (labels == rated).mean(),
                         "knn": q["knn_balanced_accuracy"], "verdict": q["verdict"]})
    table = pd.DataFrame(rows)
    pivot = lambda values: table.pivot(index="pair", columns="rows", values=values)  # noqa: E731
    return InSample(table=table, agreement=pivot("agreement with raters"),
                    verdicts=pivot("verdict"), n_rows=len(orig),
                    seen_share=float(np.isin(data.split[orig], ["train", "val"]).mean()))
