"""Paper 3, section "Manifolds": embeddings of predicted attribute scores, with a measured verdict.

The paper's protocol ([P3] ``Manifold.ipynb``), for one bipolar pair such as attractive/unattractive:
the binary label is *predicted attribute > predicted antonym*; the features are the other 38
predicted columns, standardised (``StandardScaler``); they are embedded by PCA (2-D), t-SNE (2-D)
and UMAP (3-D, 40 neighbours, ``min_dist`` 0.1) and the pictures are read for cluster structure.

Two things change here. The predictions are those of **held-out** images (the original predicted
2,219 of the 2,222 images, most of them training images: :func:`original_rows` gives exactly those
rows, to show what that does), and "cluster structure" is a **measured** claim
(:func:`separation_test`): the leave-one-out k-nearest-neighbour vote predicts the label in the
embedding with a balanced accuracy that is compared with the same accuracy under random permutations
of the labels.

* :func:`select_rows` - the rows of a split; refuses training rows unless asked for in-sample rows
  on purpose (then it warns);
* :func:`pair_design` - the paper's label and standardised 38-column features for a pair;
* :func:`embed_pair` - the paper's PCA / t-SNE / UMAP settings, seeded;
* :func:`knn_balanced_accuracy`, :func:`separation_test` - the verdict and its numbers;
* :func:`pair_quality` - one row of numbers per embedding (and for the unembedded features);
* :func:`penultimate_features` - the input of a network's last dense layer (the features the
  regression head reads).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import manifold as fx_manifold
from ..synth.attributes import PAIRS

#: The paper's embedding settings: dimensions of each method, and UMAP's neighbours and min_dist.
PAPER_SETTINGS = {"pca": {"n_components": 2}, "tsne": {"n_components": 2},
                  "umap": {"n_components": 3, "n_neighbors": 40, "min_dist": 0.1}}
#: Verdicts of :func:`separation_test`, strongest first.
VERDICTS = ("structure", "weak", "none")
_SPLITS = ("train", "val", "test")


class InSampleWarning(UserWarning):
    """Rows the model was trained on (or selected on) were used where held-out rows belong."""


def antonym(attribute: str) -> str:
    """The other column of ``attribute``'s bipolar pair (``"attractive"`` -> ``"unattractive"``)."""
    for a, b in PAIRS:
        if attribute == a:
            return b
        if attribute == b:
            return a
    raise ValueError(f"unknown attribute {attribute!r}; the pairs are "
                     + ", ".join(f"{a}/{b}" for a, b in PAIRS))


# ---------------------------------------------------------------------------------------------
# Which rows
# ---------------------------------------------------------------------------------------------

def select_rows(split, which: str = "test", *, allow_in_sample: bool = False) -> np.ndarray:
    """Indices of the rows of ``split`` (an array of ``"train"/"val"/"test"``) that ``which`` names.

    Parameters
    ----------
    split : array of str
        The split of every row (paper 3: 1,421 / 356 / 445).
    which : {"test", "val", "train", "heldout", "all"}
        ``"heldout"`` is validation and test; ``"all"`` every row.
    allow_in_sample : bool
        Rows the model was trained on (``"train"``, ``"all"``) raise a ValueError unless this is
        True, and then an :class:`InSampleWarning`: an analysis of predictions on training images
        describes what the network memorised, not what it predicts.
    """
    split = np.asarray(split).astype(str)
    bad = sorted(set(split) - set(_SPLITS))
    if bad:
        raise ValueError(f"split holds unknown labels {bad}; expected {_SPLITS}")
    chosen = {"test": ("test",), "val": ("val",), "train": ("train",), "heldout": ("val", "test"),
              "all": _SPLITS}
    if which not in chosen:
        raise ValueError(f"which must be one of {', '.join(chosen)}, got {which!r}")
    rows = np.flatnonzero(np.isin(split, chosen[which]))
    if "train" in chosen[which]:
        n_train = int((split[rows] == "train").sum())
        if not allow_in_sample:
            raise ValueError(f"which={which!r} selects {n_train} training rows: the manifold "
                             "analysis is meant for held-out predictions (pass "
                             "allow_in_sample=True to reproduce the in-sample protocol on purpose)")
        warnings.warn(f"{n_train} of {len(rows)} selected rows were used to train the model "
                      "(in-sample predictions)", InSampleWarning, stacklevel=2)
    return rows


def original_rows(n: int = 2222, seed: int = 42) -> np.ndarray:
    """The rows the paper's ``manifold.py`` predicted on: ``train_test_split(df, test_size=0.001,
    random_state=42)[0]``, i.e. 2,219 of 2,222 images (in that order), most of them training
    images of the models."""
    from sklearn.model_selection import train_test_split

    return np.asarray(train_test_split(np.arange(n), test_size=0.001, random_state=seed)[0])


# ---------------------------------------------------------------------------------------------
# The paper's design and embeddings
# ---------------------------------------------------------------------------------------------

def pair_design(scores: pd.DataFrame, attribute: str, other: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The paper's label and features for one pair.

    Parameters
    ----------
    scores : DataFrame (N, 40)
        Predicted attribute scores, one column per attribute.
    attribute, other : str
        The pair (``other`` defaults to :func:`antonym` of ``attribute``).

    Returns
    -------
    (features, labels, columns)
        ``features`` (N, 38): the other columns, each scaled to zero mean and unit variance
        (``StandardScaler``); ``labels`` (N,) bool, ``scores[attribute] > scores[other]``;
        ``columns``, the names of the feature columns.
    """
    from sklearn.preprocessing import StandardScaler

    other = other or antonym(attribute)
    missing = [c for c in (attribute, other) if c not in scores.columns]
    if missing:
        raise ValueError(f"scores have no column {missing[0]!r}")
    columns = [c for c in scores.columns if c not in (attribute, other)]
    values = scores[columns].to_numpy(float)
    if not np.isfinite(values).all():
        raise ValueError("scores hold missing or infinite values")
    labels = (scores[attribute] > scores[other]).to_numpy()
    return StandardScaler().fit_transform(values), labels, columns


def embed_pair(features: np.ndarray, methods=("pca", "tsne", "umap"), *, seed: int = 0,
               settings: dict | None = None) -> dict[str, np.ndarray]:
    """Embed ``features`` by each method with the paper's settings (:data:`PAPER_SETTINGS`), seeded.

    ``settings`` overrides them per method, e.g. ``{"umap": {"n_neighbors": 15}}``. t-SNE is
    openTSNE's (PCA-initialised, perplexity 30), UMAP umap-learn's (single-threaded when seeded).
    """
    out = {}
    for method in methods:
        if method not in PAPER_SETTINGS:
            raise ValueError(f"unknown embedding {method!r}; choose from {', '.join(PAPER_SETTINGS)}")
        opts = {**PAPER_SETTINGS[method], **(settings or {}).get(method, {})}
        if method == "umap":   # UMAP needs more points than neighbours
            opts["n_neighbors"] = min(opts["n_neighbors"], len(features) - 1)
        out[method] = fx_manifold.embed(features, method, seed=seed, **opts)
    return out


# ---------------------------------------------------------------------------------------------
# Measured cluster structure
# ---------------------------------------------------------------------------------------------

def _neighbours(points: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(points, float)
    if not 1 <= k < len(points):
        raise ValueError(f"k must be in [1, {len(points) - 1}] for {len(points)} points, got {k}")
    # kneighbors() without X leaves each point out of its own neighbours (leave-one-out)
    return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)


def _vote_accuracy(neighbours: np.ndarray, codes: np.ndarray, n_classes: int) -> float:
    """Balanced accuracy of the prior-corrected vote, for integer labels ``codes``."""
    onehot = np.eye(n_classes)[codes]                     # (N, C)
    prior = onehot.mean(0)
    share = onehot[neighbours].mean(1)                    # (N, C) share of each class among k
    predicted = np.argmax(share / prior, axis=1)
    recalls = [(predicted[codes == c] == c).mean() for c in range(n_classes)]
    return float(np.mean(recalls))


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
    """Is ``labels`` separated in ``points`` (an embedding, or features)? A permutation test.

    The statistic is :func:`knn_balanced_accuracy`; its null distribution comes from
    ``n_permutations`` random permutations of the labels over the same neighbour graph (seeded).

    Verdict rule: ``"structure"`` if the permutation p-value is below ``alpha`` **and** the
    accuracy exceeds the null mean by at least ``min_gain``; ``"weak"`` if only the first holds;
    ``"none"`` otherwise (also when one class has fewer than 2 members).

    Returns
    -------
    dict
        ``knn_balanced_accuracy``, ``null_mean``, ``null_q95``, ``gain`` (accuracy - null mean),
        ``p_value`` ((1 + #null >= observed) / (1 + n_permutations)), ``minority_share`` and
        ``verdict``.
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
           "verdict": "none"}
    if len(counts) < 2 or counts.min() < 2:
        return out
    n_classes = len(counts)
    nbrs = _neighbours(points, k)
    observed = _vote_accuracy(nbrs, codes, n_classes)
    rng = np.random.default_rng(seed)
    null = np.array([_vote_accuracy(nbrs, rng.permutation(codes), n_classes)
                     for _ in range(n_permutations)])
    p = float((1 + (null >= observed - 1e-12).sum()) / (1 + n_permutations))
    gain = observed - float(null.mean())
    verdict = ("structure" if gain >= min_gain else "weak") if p < alpha else "none"
    out.update(knn_balanced_accuracy=observed, null_mean=float(null.mean()),
               null_q95=float(np.quantile(null, 0.95)), gain=gain, p_value=p, verdict=verdict)
    return out


def pair_quality(features: np.ndarray, embeddings: dict[str, np.ndarray], labels, *,
                 k: int = 15, n_permutations: int = 1000, alpha: float = 0.05,
                 min_gain: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Numbers for the embeddings of one pair: one row per embedding, and a ``"features"`` row.

    Columns: ``dims``; ``trustworthiness`` (:func:`facexai.manifold.embedding_quality`, k = 10;
    1 for the features themselves); ``silhouette`` of the two label groups; and the
    :func:`separation_test` columns, whose ``verdict`` is the measured "cluster structure".
    """
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    features = np.asarray(features, float)
    rows = {}
    for name, points in {"features": features, **embeddings}.items():
        points = np.asarray(points, float)
        row = {"dims": points.shape[1]}
        row["trustworthiness"] = 1.0 if name == "features" else float(
            trustworthiness(features, points, n_neighbors=min(10, (len(points) - 1) // 2)))
        row["silhouette"] = float(silhouette_score(points, labels)) \
            if 1 < len(np.unique(labels)) < len(labels) else np.nan
        row.update(separation_test(points, labels, k=k, n_permutations=n_permutations,
                                   alpha=alpha, min_gain=min_gain, seed=seed))
        rows[name] = row
    return pd.DataFrame(rows).T.rename_axis("space")


# ---------------------------------------------------------------------------------------------
# Deep features
# ---------------------------------------------------------------------------------------------

def penultimate_features(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """The input of ``model``'s last ``nn.Linear`` (in module order) for every input, ``(N, D)``.

    For paper 3's VGG16 this is the 4,096-unit output of the second dense layer's ReLU (dropout is
    off in eval mode): the features the regression head reads. The model runs in eval mode
    without gradients; the hook is removed and the mode restored, also when the pass raises.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer")
    parts: list[torch.Tensor] = []
    handle = linears[-1].register_forward_pre_hook(
        lambda _m, inputs: parts.append(inputs[0].detach().flatten(1).double().cpu()))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(parts).numpy()



def pair_figure(rows: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray],
                titles: dict | None = None, label_names: dict | None = None, cell: float = 2.6):
    """A grid of embeddings: one row per pair (``rows = {pair: {method: points}}``), one column per
    method; points coloured by the pair's label (``labels[pair]``, bool). 3-D embeddings are drawn
    in 3-D with the paper's view (elevation 10, azimuth 120).

    ``titles[(pair, method)]`` is written over a panel; ``label_names[pair]`` = (name of False,
    name of True) for the legend.
    """
    import matplotlib.pyplot as plt

    from ..plotting import style

    style()
    methods = list(dict.fromkeys(m for r in rows.values() for m in r))
    fig = plt.figure(figsize=(cell * len(methods) + 1.2, cell * len(rows)))
    colours = np.array(["#4c72b0", "#dd8452"])
    for i, (pair, embs) in enumerate(rows.items()):
        lab = np.asarray(labels[pair], bool)
        names = (label_names or {}).get(pair, ("False", "True"))
        for j, method in enumerate(methods):
            if method not in embs:
                continue
            pts = np.asarray(embs[method])
            three = pts.shape[1] >= 3
            ax = fig.add_subplot(len(rows), len(methods), i * len(methods) + j + 1,
                                 projection="3d" if three else None)
            for value in (False, True):
                m = lab == value
                coords = [pts[m, 0], pts[m, 1]] + ([pts[m, 2]] if three else [])
                ax.scatter(*coords, s=3, color=colours[int(value)], linewidths=0,
                           label=f"{names[int(value)]} ({m.sum()})")
            if three:
                ax.view_init(elev=10, azim=120)
                ax.set_zticks([])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title((titles or {}).get((pair, method), method), fontsize=7)
            if j == len(methods) - 1:
                ax.legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5),
                          markerscale=3)
            if j == 0:
                ax.text2D(-0.12, 0.5, pair, transform=ax.transAxes, rotation=90, va="center",
                          ha="right", fontsize=8) if three else ax.set_ylabel(pair, fontsize=8)
    fig.tight_layout()
    return fig
