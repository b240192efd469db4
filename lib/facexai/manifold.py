"""Feature manifolds (paper 3): features from any layer, seeded embeddings, and numbers for them.

Paper 3 reads cluster structure off t-SNE and UMAP pictures. Here every embedding is seeded and
comes with measured quality, so a chapter can say "cluster structure" or "none" with a number:

* :func:`layer_features` - a layer's activations for a dataset (a forward hook, batched);
* :func:`embed` - ``"pca"``, ``"tsne"`` (openTSNE) or ``"umap"`` (umap-learn), all seeded
  (:data:`EMBEDDINGS`);
* :func:`embedding_quality` - trustworthiness (Venna & Kaski 2001: are the embedding's neighbours
  true neighbours?), and for labels the cross-validated k-nearest-neighbour accuracy and the
  silhouette score in the embedding, beside the chance level.
"""
from __future__ import annotations

import difflib
from typing import Callable

import numpy as np
import torch
from torch import nn


def layer_features(model: nn.Module, x: torch.Tensor, layer: str | None = None, *,
                   pool: str | None = None, batch_size: int = 128) -> np.ndarray:
    """Activations of ``layer`` (default: the model output) for every input, ``(N, D)`` float64.

    ``pool``: ``None`` flattens, ``"mean"`` / ``"max"`` pool 4-D maps over space first. The
    forward pass stops right after the layer; the model is run in eval mode (restored after).
    """
    from .explain import prepared
    from .explain.hooks import find_layer, run_forward, tap

    if pool not in (None, "mean", "max"):
        raise ValueError(f"pool must be None, 'mean' or 'max', got {pool!r}")
    module = find_layer(model, layer)[1] if layer is not None else None
    parts = []
    with prepared(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if module is None:
                a = model(xb)
            else:
                with tap(module, stop=True) as seen:
                    run_forward(model, xb)
                a = seen.output
            if a.ndim == 4 and pool == "mean":
                a = a.mean((2, 3))
            elif a.ndim == 4 and pool == "max":
                a = a.amax((2, 3))
            parts.append(a.flatten(1).double().cpu().numpy())
    return np.concatenate(parts)


def pca(features: np.ndarray, n_components: int = 2, seed: int = 0) -> np.ndarray:
    """Principal components (scikit-learn; ``seed`` only matters for the randomised solver)."""
    from sklearn.decomposition import PCA

    return PCA(n_components=n_components, random_state=seed).fit_transform(features)


def tsne(features: np.ndarray, n_components: int = 2, seed: int = 0, perplexity: float = 30.0,
         n_jobs: int = 1) -> np.ndarray:
    """t-SNE (van der Maaten & Hinton 2008) by openTSNE, PCA-initialised and seeded.

    The perplexity is lowered to ``(N - 1) / 3`` for very small sets (openTSNE's requirement).
    Barnes-Hut gradients below 10,000 points (the FFT method's set-up costs seconds there),
    FFT above.
    """
    from openTSNE import TSNE

    perplexity = min(perplexity, (len(features) - 1) / 3)
    emb = TSNE(n_components=n_components, perplexity=perplexity, random_state=seed,
               initialization="pca", n_jobs=n_jobs, verbose=False,
               negative_gradient_method="bh" if len(features) < 10_000 else "fft",
               ).fit(np.asarray(features, float))
    return np.asarray(emb)


def umap(features: np.ndarray, n_components: int = 2, seed: int = 0, n_neighbors: int = 15,
         min_dist: float = 0.1) -> np.ndarray:
    """UMAP (McInnes et al. 2018), seeded (umap-learn then runs single-threaded, reproducibly)."""
    import warnings

    with warnings.catch_warnings():
        # umap imports tqdm.auto, which warns in a kernel without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        import umap as umap_learn

    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": that is the point of seeding.
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        model = umap_learn.UMAP(n_components=n_components, n_neighbors=n_neighbors,
                                min_dist=min_dist, random_state=seed)
        return model.fit_transform(np.asarray(features, float))


#: Embedding methods by key.
EMBEDDINGS: dict[str, Callable[..., np.ndarray]] = {"pca": pca, "tsne": tsne, "umap": umap}


def embed(features: np.ndarray, method: str = "tsne", seed: int = 0, n_components: int = 2,
          standardize: bool = False, **options) -> np.ndarray:
    """Embed ``features`` with ``method`` (a key of :data:`EMBEDDINGS`), seeded.

    ``standardize`` scales every feature to zero mean and unit variance first (paper 3 does, on its
    predicted attributes).
    """
    if method not in EMBEDDINGS:
        near = difflib.get_close_matches(str(method), list(EMBEDDINGS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown embedding {method!r}{hint}; known: {', '.join(EMBEDDINGS)}")
    x = np.asarray(features, float)
    if standardize:
        sd = x.std(0)
        x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    return EMBEDDINGS[method](x, n_components=n_components, seed=seed, **options)


def knn_accuracy(points: np.ndarray, labels, n_neighbors: int = 10, folds: int = 5,
                 seed: int = 0) -> float:
    """Stratified ``folds``-fold cross-validated accuracy of a k-nearest-neighbour classifier."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    folds = min(folds, int(np.bincount(np.unique(labels, return_inverse=True)[1]).min()))
    if folds < 2:
        return float("nan")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(n_neighbors), points, labels, cv=cv).mean())


def embedding_quality(features: np.ndarray, embedding: np.ndarray, labels=None, *,
                      n_neighbors: int = 10, seed: int = 0) -> dict[str, float]:
    """Numbers for one embedding.

    Returns
    -------
    dict
        ``trustworthiness`` (1 = every neighbour in the embedding is a neighbour in the features;
        about 0.5 for a random embedding), and with ``labels``: ``knn_accuracy`` in the embedding,
        ``knn_accuracy_features`` in the original space (what the embedding could keep),
        ``silhouette`` in the embedding (-1..1, > 0.25 weak, > 0.5 clear clusters) and ``chance``
        (the share of the most frequent label).
    """
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score

    features = np.asarray(features, float)
    embedding = np.asarray(embedding, float)
    k = min(n_neighbors, (len(features) - 1) // 2)
    out = {"trustworthiness": float(trustworthiness(features, embedding, n_neighbors=k))}
    if labels is not None:
        labels = np.asarray(labels)
        out["knn_accuracy"] = knn_accuracy(embedding, labels, n_neighbors, seed=seed)
        out["knn_accuracy_features"] = knn_accuracy(features, labels, n_neighbors, seed=seed)
        out["silhouette"] = float(silhouette_score(embedding, labels)) \
            if len(np.unique(labels)) > 1 else float("nan")
        out["chance"] = float(np.bincount(np.unique(labels, return_inverse=True)[1]).max()
                              / len(labels))
    return out
