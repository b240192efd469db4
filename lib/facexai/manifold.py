"""Feature manifolds: features from any layer, seeded embeddings, and one table of numbers for them.

Papers read cluster structure off t-SNE and UMAP pictures. Here every embedding is seeded and comes
with measured quality, so a chapter can say how well a label is separated with a number (whether
a cloud has clusters at all is :mod:`facexai.clusters`' test against a Gaussian null):

* :func:`layer_features` - a layer's activations for a dataset (a forward hook, batched);
  :func:`penultimate_features` - those of the layer that feeds the last dense layer (the features a
  classification or regression head reads);
* :func:`embed` - ``"pca"``, ``"tsne"`` (openTSNE) or ``"umap"`` (umap-learn), all seeded
  (:data:`EMBEDDINGS`), optionally on features standardised first (:func:`standardize`);
* :func:`quality_table` - one row per space (the features, each embedding): trustworthiness
  (Venna & Kaski 2001: are the embedding's neighbours true neighbours?), the silhouette of the
  label groups, and :func:`separation_test`: the leave-one-out k-nearest-neighbour balanced
  accuracy of the labels (:func:`knn_balanced_accuracy`) against its distribution under permuted
  labels, with a verdict (:data:`VERDICTS`);
* :func:`embed_many`, :func:`labelled_embeddings`, :func:`network_embeddings` - labelled designs
  (features with a binary label) embedded by several methods with a paper's settings, with their
  numbers (:class:`LabelledEmbeddings`); the designs may be the penultimate features of each
  network of a fitted regressor;
* :func:`embedding_settings` - the per-method keywords of :func:`embed`;
  :func:`in_sample_numbers`, :func:`in_sample_text`, :func:`in_sample_table` - an in-sample
  against held-out comparison (a paper's protocol that predicted its training images) in numbers,
  words and a table.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import stats
from .stats import standardize

#: Verdicts of :func:`separation_test`, strongest first; a label with a class of fewer than two
#: points is "not testable" (never "none").
VERDICTS: tuple[str, ...] = ("structure", "weak", "none", "not testable")


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


def penultimate_layer(model: nn.Module) -> str:
    """Dotted name of the layer whose output is the input of ``model``'s last ``nn.Linear`` (in
    module order): the module just before it in its ``nn.Sequential``.

    For VGG16 this is ``classifier.5`` (the dropout after the second dense layer's ReLU, the
    identity in eval mode): the 4,096 features the head reads.
    """
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer")
    parent_name, _, child = linears[-1].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    names = [n for n, _ in parent.named_children()]
    if not isinstance(parent, nn.Sequential) or names.index(child) == 0:
        raise ValueError(f"the last dense layer {linears[-1]!r} is not preceded by a layer in an "
                         "nn.Sequential; name the layer for layer_features()")
    return ".".join(filter(None, (parent_name, names[names.index(child) - 1])))


def penultimate_features(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """:func:`layer_features` of :func:`penultimate_layer`: the input of the last dense layer for
    every input, ``(N, D)`` float64 (eval mode, no gradients; the model's state is restored)."""
    return layer_features(model, x, penultimate_layer(model), batch_size=batch_size)


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


def cache_numba(package: str) -> int:
    """Keep the machine code numba compiles for ``package``'s module-level functions on disk
    (numba's own cache, beside the package's ``.pyc`` files), as if they were declared with
    ``cache=True``: the next process loads it instead of compiling again. umap-learn declares
    none, and its first fit in each process spends about 10 s compiling (1 s after). The code
    is the same either way; numba recompiles when the package's sources change. Returns the
    number of functions; 0 where numba's dispatchers are not found."""
    import sys

    try:
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher
    except ImportError:
        return 0
    n = 0
    for name, module in list(sys.modules.items()):
        if module is None or (name != package and not name.startswith(package + ".")):
            continue
        for f in list(vars(module).values()):
            if isinstance(f, CPUDispatcher) and f.__module__ == name and \
                    isinstance(getattr(f, "_cache", None), NullCache):
                try:
                    f.enable_caching()
                except RuntimeError:    # nowhere writable to keep it: compile as before
                    continue
                n += 1
    return n


def umap(features: np.ndarray, n_components: int = 2, seed: int = 0, n_neighbors: int = 15,
         min_dist: float = 0.1) -> np.ndarray:
    """UMAP (McInnes et al. 2018), seeded (umap-learn then runs single-threaded, reproducibly;
    its compiled code is cached, :func:`cache_numba`)."""
    import warnings

    with warnings.catch_warnings():
        # umap imports tqdm.auto, which warns in a kernel without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        import umap as umap_learn
    cache_numba("umap")

    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": that is the point of seeding.
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        model = umap_learn.UMAP(n_components=n_components, n_neighbors=n_neighbors,
                                min_dist=min_dist, random_state=seed)
        return model.fit_transform(np.asarray(features, float))


_standardize = standardize   # embed()'s argument of that name hides the function

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
    x = _standardize(features) if standardize else np.asarray(features, float)
    return EMBEDDINGS[method](x, n_components=n_components, seed=seed, **options)


def trustworthiness(features: np.ndarray, points: np.ndarray, n_neighbors: int = 10) -> float:
    """scikit-learn's trustworthiness of ``points`` as an embedding of ``features`` (1: every
    neighbour in the embedding is a neighbour in the features; about 0.5 for a random embedding),
    with ``n_neighbors`` lowered to ``(N - 1) // 2`` for small sets (its requirement)."""
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    features = np.asarray(features, float)
    k = min(n_neighbors, (len(features) - 1) // 2)
    return float(sk_trustworthiness(features, np.asarray(points, float), n_neighbors=k))


def silhouette(points: np.ndarray, labels) -> float:
    """Silhouette of the label groups in ``points`` (-1..1; above 0.25 weak, above 0.5 clear
    clusters); NaN unless there are between 2 and N - 1 groups."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if not 1 < len(np.unique(labels)) < len(labels):
        return float("nan")
    return float(silhouette_score(np.asarray(points, float), labels))


def _neighbours(points: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(points, float)
    if not 1 <= k < len(points):
        raise ValueError(f"k must be in [1, {len(points) - 1}] for {len(points)} points, got {k}")
    # kneighbors() without X leaves each point out of its own neighbours (leave-one-out)
    return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)


def _vote_accuracy(neighbours: np.ndarray, codes: np.ndarray, n_classes: int) -> float:
    """Balanced accuracy of the prior-corrected vote, for integer labels ``codes``."""
    return float(_vote_accuracies(neighbours, codes[None], n_classes)[0])


def _vote_accuracies(neighbours: np.ndarray, codes: np.ndarray, n_classes: int,
                     chunk: int = 50) -> np.ndarray:
    """:func:`_vote_accuracy` of every row of ``codes`` (B, N): label vectors with the same class
    counts (the observed labels and their permutations), over one neighbour graph, in chunks."""
    prior = np.bincount(codes[0], minlength=n_classes) / codes.shape[1]
    out = []
    for a in range(0, len(codes), chunk):
        block = codes[a:a + chunk]                              # (B, N)
        near = block[:, neighbours]                             # (B, N, k)
        ratio = np.stack([(near == c).mean(-1) / prior[c] for c in range(n_classes)], -1)
        hit = np.argmax(ratio, axis=-1) == block                # (B, N)
        recalls = [(hit & (block == c)).sum(1) / (block == c).sum(1) for c in range(n_classes)]
        out.append(np.mean(recalls, axis=0))
    return np.concatenate(out)


def knn_balanced_accuracy(points: np.ndarray, labels, k: int = 15) -> float:
    """Leave-one-out k-nearest-neighbour balanced accuracy of ``labels`` in ``points``.

    Each point's label is predicted from its ``k`` nearest other points by the class whose share
    among them most exceeds its overall share (a vote corrected for the class prior, so that an
    unbalanced label is not "predicted" by always naming the larger class); the balanced accuracy
    (mean recall over classes) is 1 / n_classes for points that carry no information on the label.
    """
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    n_classes = int(codes.max()) + 1
    if n_classes < 2:
        return float("nan")
    return _vote_accuracy(_neighbours(points, k), codes, n_classes)


def separation_test(points: np.ndarray, labels, *, k: int = 15, n_permutations: int = 1000,
                    alpha: float = 0.05, min_gain: float = 0.1, seed: int = 0) -> dict:
    """Are ``labels`` separated in ``points`` (an embedding, or features)? A permutation test.

    The statistic is :func:`knn_balanced_accuracy`; its null distribution comes from
    ``n_permutations`` random permutations of the labels over the same neighbour graph (seeded),
    and its p-value is :func:`facexai.stats.permutation_p`.

    Verdict rule: ``"structure"`` if the p-value is below ``alpha`` **and** the accuracy exceeds the
    null mean by at least ``min_gain``; ``"weak"`` if only the first holds; ``"none"`` otherwise;
    ``"not testable"`` when a class has fewer than 2 members (one-class labels carry no test).

    Returns
    -------
    dict
        ``knn_balanced_accuracy``, ``null_mean``, ``null_q95``, ``gain`` (accuracy - null mean),
        ``p_value``, ``minority_share`` and ``verdict``.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be positive, got {n_permutations}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(codes)
    out = {"knn_balanced_accuracy": np.nan, "null_mean": np.nan, "null_q95": np.nan,
           "gain": np.nan, "p_value": np.nan,
           "minority_share": float(counts.min() / counts.sum()) if len(counts) > 1 else 0.0,
           "verdict": "not testable"}
    if len(counts) < 2 or counts.min() < 2:
        return out
    nbrs = _neighbours(points, k)
    observed = _vote_accuracy(nbrs, codes, len(counts))
    rng = np.random.default_rng(seed)
    null = _vote_accuracies(nbrs, np.stack([rng.permutation(codes)
                                            for _ in range(n_permutations)]), len(counts))
    p = stats.permutation_p(observed, null)
    gain = observed - float(null.mean())
    verdict = ("structure" if gain >= min_gain else "weak") if p < alpha else "none"
    out.update(knn_balanced_accuracy=observed, null_mean=float(null.mean()),
               null_q95=float(np.quantile(null, 0.95)), gain=gain, p_value=p, verdict=verdict)
    return out


def quality_table(features: np.ndarray, embeddings: Mapping[str, np.ndarray], labels, *,
                  k: int = 15, n_permutations: int = 1000, alpha: float = 0.05,
                  min_gain: float = 0.1, seed: int = 0, n_neighbors: int = 10) -> pd.DataFrame:
    """Numbers for the embeddings of ``features``: one row per embedding, and a ``"features"`` row.

    Columns: ``dims``; ``trustworthiness`` (:func:`trustworthiness` with ``n_neighbors``; 1 for
    the features themselves); ``silhouette`` of the label groups (:func:`silhouette`); and the
    :func:`separation_test` columns (``k``, ``n_permutations``, ``alpha``, ``min_gain``, ``seed``),
    whose ``verdict`` is the measured "cluster structure". Index: ``space``.
    """
    labels = np.asarray(labels)
    features = np.asarray(features, float)
    rows = {}
    for name, points in {"features": features, **embeddings}.items():
        points = np.asarray(points, float)
        rows[name] = {"dims": points.shape[1],
                      "trustworthiness": 1.0 if name == "features" else
                      trustworthiness(features, points, n_neighbors),
                      "silhouette": silhouette(points, labels),
                      **separation_test(points, labels, k=k, n_permutations=n_permutations,
                                        alpha=alpha, min_gain=min_gain, seed=seed)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("space")


# ---------------------------------------------------------------------------------------------
# Embeddings of labelled designs
# ---------------------------------------------------------------------------------------------

def embed_many(features: np.ndarray, methods=("pca", "tsne", "umap"), *, seed: int = 0,
               defaults: Mapping[str, Mapping] | None = None,
               settings: Mapping[str, Mapping] | None = None) -> dict[str, np.ndarray]:
    """:func:`embed` ``features`` by each of ``methods``, seeded, with the options
    ``defaults[method]`` updated by ``settings[method]`` (e.g. a paper's settings and a profile's
    ``{"umap": {"n_neighbors": 15}}``); UMAP's neighbours are capped at the points minus one."""
    out = {}
    for method in methods:
        opts = {**(defaults or {}).get(method, {}), **(settings or {}).get(method, {})}
        if method == "umap":   # UMAP needs more points than neighbours
            opts["n_neighbors"] = min(opts.get("n_neighbors", 15), len(features) - 1)
        out[method] = embed(features, method, seed=seed, **opts)
    return out


@dataclass
class LabelledEmbeddings:
    """Embeddings of labelled designs (features with a binary label) and their numbers.

    Attributes
    ----------
    quality : DataFrame
        :func:`quality_table` of every design, index ``(<design level>, space)``, with the design's
        ``positive_share``.
    points : dict
        ``{key: {method: (N, d) points}}``.
    labels : dict
        ``{key: (N,) bool}``.
    names : dict
        ``{key: the design's name in quality's index}``.
    """

    quality: pd.DataFrame
    points: dict
    labels: dict
    names: dict

    def n_structure(self, spaces=("tsne", "umap")) -> int:
        """Designs for which at least one of ``spaces`` has the verdict ``"structure"``."""
        level = self.quality.index.names[0]
        q = self.quality.reset_index()
        q = q[q["space"].isin(spaces)]
        return int(q.groupby(level)["verdict"].apply(lambda v: (v == "structure").any()).sum())


def labelled_embeddings(designs: Mapping, *, names: Callable = str, level: str = "design",
                        **rules) -> LabelledEmbeddings:
    """:class:`LabelledEmbeddings` of ``designs = {key: (features, labels, {method: points})}``:
    each design's :func:`quality_table` (``rules``: its ``k``, ``n_permutations``, ``alpha``,
    ``min_gain``, ``seed``), indexed by ``names(key)`` (index level ``level``) and space."""
    quality = []
    for key, (features, labels, points) in designs.items():
        q = quality_table(features, points, labels, **rules)
        quality.append(q.assign(**{level: names(key)}, positive_share=float(np.mean(labels))))
    quality = pd.concat(quality).reset_index().set_index([level, "space"])
    return LabelledEmbeddings(quality=quality, points={k: d[2] for k, d in designs.items()},
                              labels={k: d[1] for k, d in designs.items()},
                              names={k: names(k) for k in designs})


def network_embeddings(fitted, x: torch.Tensor, labels: Mapping, methods=("pca", "tsne", "umap"),
                       *, seed: int = 0, defaults: Mapping | None = None,
                       settings: Mapping | None = None, names: Callable = str,
                       level: str = "design", **rules) -> LabelledEmbeddings:
    """The penultimate features (:func:`penultimate_features`, standardised) of the networks of a
    fitted regressor (:func:`facexai.regressors.networks`), embedded by :func:`embed_many` and
    labelled by ``labels = {attribute: (N,) labels}`` of the same inputs ``x``: each network is
    run and embedded once, whatever the number of its attributes
    (:func:`labelled_embeddings`, ``names``, ``level`` and ``rules``)."""
    from .regressors import networks

    designs = {}
    for net, _, members in networks(fitted, list(labels)):
        features = standardize(penultimate_features(net, x))
        points = embed_many(features, methods, seed=seed, defaults=defaults, settings=settings)
        designs.update({a: (features, labels[a], points) for a, _ in members})
    return labelled_embeddings({a: designs[a] for a in labels}, names=names, level=level,
                               seed=seed, **rules)


def embedding_settings(perplexity: float = 30.0, n_neighbors: int = 15,
                       min_dist: float = 0.1) -> dict[str, dict]:
    """Keywords of :func:`embed` per method (``embed_many``'s ``settings``): t-SNE's
    ``perplexity``, UMAP's ``n_neighbors`` and ``min_dist``."""
    return {"tsne": {"perplexity": perplexity},
            "umap": {"n_neighbors": n_neighbors, "min_dist": min_dist}}


def in_sample_numbers(comparison) -> tuple[float, ...]:
    """``(seen share, agreement in-sample, agreement held-out)`` of an in-sample comparison
    (an object with ``seen_share`` and ``agreement``, a frame of pairs x ``"in-sample"`` /
    ``"held-out"``; agreements averaged over pairs); ``()`` for None (not run)."""
    if comparison is None:
        return ()
    agree = comparison.agreement
    return (comparison.seen_share, float(agree["in-sample"].mean()),
            float(agree["held-out"].mean()))


def in_sample_text(comparison) -> str:
    """An in-sample comparison in words (``comparison``: with ``n_rows``, ``seen_share`` and
    ``agreement``; see :func:`in_sample_numbers`), or that it was switched off (None)."""
    if comparison is None:
        return "The in-sample comparison is switched off (`in_sample = False`)."
    seen, inside, held_out = in_sample_numbers(comparison)
    return (f"{comparison.n_rows} rows, of which **{seen:.0%}** were used for training or model "
            f"selection. The predicted side agrees with the raters' side for {inside:.1%} of the "
            f"in-sample rows and {held_out:.1%} of the held-out rows (mean over pairs).")


def in_sample_table(comparison) -> pd.DataFrame | None:
    """Per pair: the agreement with the raters (rounded to 3 digits) and the separation verdicts
    of an in-sample comparison (``agreement``, ``verdicts``: pairs x sets of rows); None for
    None."""
    if comparison is None:
        return None
    return pd.concat({"agreement with raters": comparison.agreement.round(3),
                      "separation": comparison.verdicts}, axis=1)
