"""Heatmaps of fitted attribute regressors: a set of maps per ``(attribute, method, sign)``.

A fitted regressor (:class:`facexai.regressors.Fitted`, or anything with its
``explainable(attribute) -> (module, output_index, cam_layer)``) is explained output by output, in
both directions (:meth:`facexai.explain.Target.regression`: ``sign=+1`` why the rating is high,
``-1`` why it is low), by any method of :mod:`facexai.explain`; methods with a ``layer`` option
(Grad-CAM, Guided Grad-CAM) explain the regressor's Grad-CAM layer, or another one chosen from it.

* :func:`explained_rows` - the faces explained (test faces with landmarks, in order);
* :func:`explain_output`, :func:`attribute_maps` - one map per face for one output or attribute;
* :func:`attribute_gradcams` - Grad-CAM of many attributes from shared forward passes
  (:class:`facexai.explain.cam.GradCAM`), one network at a time
  (:func:`facexai.regressors.networks`);
* :func:`explained_maps` - every ``(attribute, method, sign)`` set of maps, one at a time, for
  :func:`facexai.scoring.score_maps` (which scores them by face region);
* :func:`input_check` - what other input (another preprocessing of the same faces) changes in
  the predictions and the maps;
* :func:`rating_labels`, :func:`show_grid` - a figure of maps over faces, saved and shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import stats, truthscores
from .explain import Target, explain, prepared, relevance_map
from .explain.cam import GradCAM, finer_layer, layer_shape
from .explain.registry import get
from .ratings import to_tensor
from .regions import has_landmarks, region_label_maps
from .regressors import networks
from .scoring import truth_masks

__all__ = ["FINER", "SIGNS", "ExplainedFaces", "attribute_gradcams", "attribute_maps",
           "explain_output", "explained_faces", "explained_maps", "explained_rows",
           "input_check", "input_check_text", "rating_labels", "show_grid"]

#: The two directions of a regression output explained.
SIGNS: dict[int, str] = {1: "high", -1: "low"}
#: The method label of Grad-CAM one pooling stage finer than the Grad-CAM layer.
FINER = "gradcam (finer layer)"
#: Picks the layer explained from ``(network, its Grad-CAM layer)``, e.g.
#: :func:`facexai.explain.cam.finer_layer`.
LayerChoice = Callable[[nn.Module, str], str]


def _check_sign(sign) -> int:
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 (why high) or -1 (why low), got {sign!r}")
    return int(sign)


def explained_rows(data, n: int | None = None) -> np.ndarray:
    """The rows of ``data`` (a :class:`facexai.ratings.AttributeData`) whose faces are explained:
    test faces (never seen in training or model selection) with known landmarks, the first ``n``."""
    test = data.indices("test")
    return test[has_landmarks(data.landmarks[test])][:n]


@dataclass
class ExplainedFaces:
    """The faces a section explains (:func:`explained_faces`), ready for the explainers."""

    rows: np.ndarray          # rows of the data
    images: np.ndarray        # (N, H, W, 3) uint8
    x: torch.Tensor           # the model's input (:func:`facexai.ratings.to_tensor`)
    labels: np.ndarray        # (N, H, W) region label maps (:func:`region_label_maps`)
    gray: np.ndarray          # (N, H, W) in [0, 1], to draw maps over
    cam_layer: str            # the Grad-CAM layer of the first attribute's network
    cam_cells: tuple          # its maps' (rows, columns)
    test_r: pd.Series         # test Pearson r of each explained attribute
    n_test: int               # test faces, with or without landmarks
    n_landmarks: int          # test faces with landmarks
    network: nn.Module        # the network explained for the first attribute

    @property
    def fine_layer(self) -> str:
        """:func:`facexai.explain.cam.finer_layer` of the Grad-CAM layer."""
        return finer_layer(self.network, self.cam_layer)

    @property
    def fine_cells(self) -> tuple:
        """The maps' ``(rows, columns)`` at :attr:`fine_layer`."""
        return layer_shape(self.network, self.x, self.fine_layer)[-2:]

    def cells_text(self, finer: bool = False) -> str:
        """The maps' cells as ``"rows x columns"``, at :attr:`fine_layer` with ``finer``."""
        return " x ".join(map(str, self.fine_cells if finer else self.cam_cells))

    def describe(self, finer: bool = False) -> str:
        """One paragraph: how many faces, the Grad-CAM layer and its cells, the test r; with
        ``finer``, also :attr:`fine_layer` and its cells."""
        fine = (f" One pooling stage finer, `{self.fine_layer}` gives "
                f"**{self.cells_text(True)}** cells." if finer else "")
        return (f"{len(self.rows)} of the {self.n_test} test faces are explained "
                f"({self.n_landmarks} have landmarks), at {self.images.shape[1]} px. The Grad-CAM "
                f"layer is `{self.cam_layer}`: at this input size its maps are "
                f"**{self.cells_text()}** cells, upsampled to the image. Test Pearson r of the "
                f"model for the attributes explained: "
                + ", ".join(f"{a} {r:.2f}" for a, r in self.test_r.items()) + "." + fine)


def explained_faces(data, fitted, attributes: Sequence[str], n: int | None = None
                    ) -> ExplainedFaces:
    """The first ``n`` :func:`explained_rows` of ``data`` with everything an explanation section
    needs: the input tensor, region label maps, gray faces, the Grad-CAM layer of ``fitted``'s
    network for ``attributes[0]`` and its cells, and ``fitted``'s test r of each attribute."""
    test = data.indices("test")
    rows = explained_rows(data, n)
    images = data.images[rows]
    x = to_tensor(images)
    module, _, cam_layer = fitted.explainable(attributes[0])
    test_r = stats.pearson_columns(fitted.predict(data.images[test])[list(attributes)],
                                   data.ratings.iloc[test])
    labels = region_label_maps(data.landmarks[rows], images.shape[1:3])
    cells = layer_shape(module, x, cam_layer)[-2:]
    return ExplainedFaces(rows, images, x, labels, images.mean(-1) / 255.0, cam_layer, cells,
                          test_r, len(test), int(has_landmarks(data.landmarks[test]).sum()),
                          module)


def explain_output(model: nn.Module, x: torch.Tensor, index: int, layer: str | None,
                   method: str = "gradcam", sign: int = 1, batch_size: int = 32) -> np.ndarray:
    """Relevance maps ``(N, H, W)`` of regression output ``index`` of ``model`` for inputs ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        A regression network; its output ``(N, K)``.
    x : torch.Tensor
        Inputs ``(N, C, H, W)``, preprocessed as in training.
    index : int
        Which output to explain.
    layer : str or None
        The layer of methods with a ``layer`` option (dotted module name; None = their default);
        other methods ignore it.
    method : str
        A key of :data:`facexai.explain.EXPLAINERS`.
    sign : {+1, -1}
        +1 explains why the output is high, -1 why it is low.
    batch_size : int
        Faces explained at once (the result does not depend on it).

    Returns
    -------
    ndarray
        Channel-summed relevance (Grad-CAM is one channel already), float64.
    """
    options = {"layer": layer} if "layer" in get(method).defaults else {}
    target = Target.regression(sign=_check_sign(sign), index=int(index))
    r = explain(model, x, target, method, batch_size=batch_size, **options)
    return relevance_map(r, "sum")


def attribute_maps(fitted, x: torch.Tensor, attribute: str, method: str = "gradcam",
                   sign: int = 1, batch_size: int = 32, layer: str | None = None) -> np.ndarray:
    """:func:`explain_output` for one attribute of a fitted regressor, at its Grad-CAM layer
    (``layer`` overrides it)."""
    module, index, cam_layer = fitted.explainable(attribute)
    return explain_output(module, x, index, layer or cam_layer, method, sign, batch_size)


def attribute_gradcams(fitted, x: torch.Tensor, attributes, signs=(1, -1), *,
                       layer: LayerChoice | None = None,
                       batch_size: int = 32) -> dict[tuple[str, int], np.ndarray]:
    """Grad-CAM of ``attributes`` of a fitted regressor in each of ``signs``, from one forward
    pass per batch and network (:class:`facexai.explain.cam.GradCAM`).

    ``layer``, if given, picks the layer explained (:data:`LayerChoice`). Returns
    ``{(attribute, sign): (N, H, W) maps}``, the same maps as :func:`attribute_maps` with
    ``method="gradcam"``.
    """
    signs = [_check_sign(s) for s in signs]
    out = {}
    for net, cam_layer, members in networks(fitted, attributes):
        chosen = layer(net, cam_layer) if layer is not None else cam_layer
        maps = GradCAM(net, chosen, batch_size=batch_size)(x, [i for _, i in members], signs)
        for attribute, index in members:
            for s in signs:
                out[attribute, s] = maps[index, s]
    return out


def explained_maps(fitted, x: torch.Tensor, attributes, methods: Sequence[str] = ("gradcam",),
                   signs=(1, -1), *, layer: LayerChoice | None = None, batch_size: int = 32
                   ) -> Iterator[tuple[tuple[str, str, int], np.ndarray]]:
    """Every set of maps, ``((attribute, method, sign), (N, H, W) maps)``, attribute by attribute,
    then method, then sign: Grad-CAM of every attribute from shared forward passes
    (:func:`attribute_gradcams`), the other methods computed as they are needed.

    ``layer``, if given, picks the layer explained instead of each network's Grad-CAM layer
    (:data:`LayerChoice`).
    """
    for method in methods:
        get(method)  # an unknown method fails before anything runs
    signs = [_check_sign(s) for s in signs]
    cams = attribute_gradcams(fitted, x, attributes, signs, layer=layer, batch_size=batch_size) \
        if "gradcam" in methods else {}
    for attribute in attributes:
        net, _, cam_layer = fitted.explainable(attribute)
        chosen = layer(net, cam_layer) if layer is not None else None
        for method in methods:
            for sign in signs:
                maps = cams[attribute, sign] if method == "gradcam" else attribute_maps(
                    fitted, x, attribute, method, sign, batch_size=batch_size, layer=chosen)
                yield (attribute, method, sign), maps


def input_check(fitted, x: torch.Tensor, x_other: torch.Tensor, ratings, attribute: str, labels,
                methods: Sequence[str] = ("gradcam",), *, names: tuple[str, str] = ("x", "other"),
                ground_truth: str = "primary") -> dict:
    """What feeding ``x_other`` instead of ``x`` (the same faces) changes for one attribute.

    Parameters
    ----------
    fitted
        A fitted regressor.
    x, x_other : torch.Tensor
        The faces as the model was trained on them, and otherwise (e.g. another preprocessing).
    ratings : array (N,)
        The faces' ratings of ``attribute``.
    labels : (N, H, W) int
        Their region labels (:func:`facexai.regions.region_label_maps`).
    names : (str, str)
        What ``x`` and ``x_other`` are called in the table's columns.

    Returns
    -------
    dict
        ``table`` (per method: the mean Spearman similarity of the maps of ``x_other`` to those of
        ``x``, ``"map Spearman (<other> vs <x>)"``, and the mean mass accuracy of each on the
        ``ground_truth`` regions, ``"mass accuracy, <name>"``; an empty map scores 0), and
        ``"maps compared"`` and ``"undefined Spearman"`` (pairs where either map is constant or
        empty: no rank correlation exists; left out of the mean, which is NaN only when every
        pair is undefined)), ``shift`` (mean change of the predictions, rating points), ``r`` and
        ``r_other`` (Pearson r of the predictions with ``ratings`` for ``x`` and ``x_other``),
        ``undefined`` (undefined pairs over methods) and ``similarity`` (the mean over methods of
        the map Spearman).
    """
    module, index, _ = fitted.explainable(attribute)
    with prepared(module), torch.no_grad():
        pred = module(x).detach().cpu().numpy()[:, index]
        pred_other = module(x_other).detach().cpu().numpy()[:, index]
    masks = truth_masks(labels, attribute, ground_truth)
    rows = []
    for method in methods:
        a = attribute_maps(fitted, x, attribute, method, 1)
        b = attribute_maps(fitted, x_other, attribute, method, 1)
        rho, undefined = truthscores.defined_spearman(a, b)
        rows.append({"method": method,
                     f"map Spearman ({names[1]} vs {names[0]})":
                         float(np.nanmean(rho)) if undefined < len(rho) else np.nan,
                     f"mass accuracy, {names[0]}": truthscores.truth_mass(a, masks)[0].mean(),
                     f"mass accuracy, {names[1]}": truthscores.truth_mass(b, masks)[0].mean(),
                     "maps compared": len(rho), "undefined Spearman": undefined})
    ratings, table = np.asarray(ratings, float), pd.DataFrame(rows).set_index("method")
    return {"table": table, "shift": float(np.mean(pred_other - pred)),
            "r": float(stats.pearson_along(pred, ratings)),
            "r_other": float(stats.pearson_along(pred_other, ratings)),
            "undefined": int(table["undefined Spearman"].sum()),
            "similarity": float(table.iloc[:, 0].mean())}


def input_check_text(check: dict, attribute: str, change: str = "With the other input",
                     r_other: str = "r_other") -> str:
    """One paragraph from :func:`input_check`'s result (``r_other``: the key of the other input's
    r): how the predictions of ``attribute`` move, their r, and the maps' Spearman similarity over
    the pairs where it is defined (how many were undefined is said, never printed as NaN)."""
    table = check["table"]
    similarity = table.filter(like="map Spearman").iloc[:, 0]
    undefined, n = int(table["undefined Spearman"].sum()), int(table["maps compared"].sum())
    kept = (f"the heatmaps keep a mean Spearman similarity of {similarity.min():.2f} to "
            f"{similarity.max():.2f} (over methods) to the correct ones" if similarity.notna().any()
            else "no pair of heatmaps has a defined Spearman similarity")
    return (f"{change} the predictions of *{attribute}* move by {check['shift']:+.2f} rating "
            f"points on average and their Pearson r with the ratings goes from {check['r']:.2f} "
            f"to {check[r_other]:.2f}; {kept}; {undefined} of {n} pairs were undefined (a "
            f"constant or empty map has no ranks) and are left out.")


def rating_labels(fitted, images: np.ndarray, ratings, attribute: str) -> list[str]:
    """Per face, ``"<attribute> <rating> / pred. <prediction>"`` (one decimal): its ``ratings``
    of ``attribute`` and ``fitted``'s prediction for its uint8 ``images``."""
    predicted = fitted.predict(images)[attribute]
    return [f"{attribute} {t:.1f} / pred. {p:.1f}" for t, p in zip(ratings, predicted)]


def show_grid(name: str, images: Sequence[np.ndarray], maps: dict,
              col_labels: Sequence[str] | None = None) -> None:
    """Draw :func:`facexai.plotting.explanation_grid` of ``maps`` (rows) over ``images``
    (columns), save it as figure ``name`` of the running notebook (:func:`facexai.figures.save`)
    and show it.

    Parameters
    ----------
    name : str
        The figure's file name (lower-case letters, digits and '-').
    images : sequence of (H, W) arrays
        The faces drawn under the maps, one per column.
    maps : dict
        ``{row label: (N, H, W) maps, or N maps}``.
    col_labels : sequence of str, optional
        A title per column.
    """
    from . import plotting
    from .figures import show

    show(plotting.explanation_grid(
        list(images), maps, col_labels=None if col_labels is None else list(col_labels)), name)
