"""Paper 3, section "Post-hoc explanation": Grad-CAM of attribute regressions, scored per face region.

The paper's code explains one single-output VGG16 per attribute with captum's ``GuidedGradCam`` at
``features[30]`` (VGG16's last max-pool). Here the same methods (``"gradcam"`` and
``"guided_gradcam"`` of :mod:`facexai.explain`) explain any regression output, in both directions
(:meth:`facexai.explain.Target.regression` with ``sign=+1``: why the rating is high, ``-1``: why it is
low), and the heatmaps are scored:

* :func:`attribute_maps` - one relevance map per face for one attribute, method and sign;
  :func:`attribute_gradcams` - Grad-CAM of many attributes and both signs from shared forward
  passes (:func:`gradcam_outputs`); :func:`finer_layer` - the layer one pooling stage finer;
* :func:`region_label_maps` and :func:`region_shares` - how the positive relevance of each map falls on
  the face regions of :mod:`facexai.regions` (label maps computed once per face, not per map);
* :func:`faithfulness_table` - on the synthetic twin, relevance mass accuracy, relevance rank accuracy
  and the pointing game (:mod:`facexai.faithfulness`) against the regions in which the attribute's
  known drivers show (:func:`facexai.synth.attributes.driving_regions`), or only those holding half
  of the drivers' weight (:func:`primary_regions`), beside the chance level of a map that knows
  nothing (the regions' share of the image);
* :func:`profile_correlation` - per face, whether the heatmap ranks the regions as the drivers'
  weights do (:func:`facexai.synth.attributes.region_weights`);
* :func:`faithfulness_summary` - per attribute, method and sign: means, the lift over chance with a
  bootstrap interval, and a verdict;
* :func:`region_verdicts` - per attribute, which driving regions the heatmaps find (relevance per area
  above 1) and miss, and which other regions they favour.

Maps are ``(N, H, W)`` float arrays in the input's pixel grid; landmarks ``(N, 68, 2)`` in the same
pixels (a row of NaN = unknown: that face is left out of every region score).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import faithfulness
from ..explain import Target, explain, relevance_map
from ..regions import REGIONS, region_labels
from ..synth.attributes import driving_regions, region_weights

#: The explainers of this section (what the paper's code used, and plain Grad-CAM).
METHODS: tuple[str, ...] = ("gradcam", "guided_gradcam")
#: The two directions of a regression output explained.
SIGNS: dict[int, str] = {1: "high", -1: "low"}
#: Ground truths a heatmap is scored against (see :func:`truth_regions`).
GROUND_TRUTHS: tuple[str, ...] = ("driving", "primary")
_REGION_ID = {name: k for k, name in enumerate(REGIONS)}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _check_sign(sign) -> int:
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 (why high) or -1 (why low), got {sign!r}")
    return int(sign)


def explain_output(model: nn.Module, x: torch.Tensor, index: int, layer: str | None,
                   method: str = "gradcam", sign: int = 1, batch_size: int = 32) -> np.ndarray:
    """Relevance maps ``(N, H, W)`` of regression output ``index`` of ``model`` for inputs ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        A regression network; its output ``(N, K)``.
    x : torch.Tensor
        Inputs ``(N, C, H, W)``, preprocessed as in training (for paper 3, ``paper3.to_tensor``).
    index : int
        Which output to explain.
    layer : str or None
        The Grad-CAM layer (dotted module name; paper 3: VGG16's ``features.30``); None = the last
        convolution's ReLU.
    method : {"gradcam", "guided_gradcam"}
    sign : {+1, -1}
        +1 explains why the output is high, -1 why it is low.
    batch_size : int
        Faces explained at once (the result does not depend on it).

    Returns
    -------
    ndarray
        Channel-summed relevance (Grad-CAM is one channel already), float64.
    """
    _check_method(method)
    target = Target.regression(sign=_check_sign(sign), index=int(index))
    r = explain(model, x, target, method, batch_size=batch_size, layer=layer)
    return relevance_map(r, "sum")


def layer_shape(model: nn.Module, x: torch.Tensor, layer: str) -> tuple[int, ...]:
    """Shape of ``layer``'s output for one input of ``x`` (the forward pass stops there)."""
    from ..explain import prepared
    from ..explain.hooks import find_layer, run_forward, tap

    _, module = find_layer(model, layer)
    with prepared(model), torch.no_grad(), tap(module, stop=True) as seen:
        run_forward(model, x[:1])
    if seen.output is None:
        raise ValueError(f"layer {layer!r} was not run by the forward pass")
    return tuple(seen.output.shape[1:])


def attribute_maps(fitted, x: torch.Tensor, attribute: str, method: str = "gradcam",
                   sign: int = 1, batch_size: int = 32, layer: str | None = None) -> np.ndarray:
    """:func:`explain_output` for one attribute of a fitted paper-3 model.

    ``fitted`` is a :class:`facexai.paper3.Fitted` (or anything with its ``explainable(attribute)
    -> (module, output_index, cam_layer_name)``); ``layer`` overrides the Grad-CAM layer it names.
    """
    module, index, cam_layer = fitted.explainable(attribute)
    return explain_output(module, x, index, layer or cam_layer, method, sign, batch_size)


def gradcam_outputs(model: nn.Module, x: torch.Tensor, indices, layer: str,
                    signs=(1, -1), *, batch_size: int = 32, interpolate: str = "bilinear"
                    ) -> dict[tuple[int, int], np.ndarray]:
    """Grad-CAM of several outputs of one model, both directions, from one forward pass per batch.

    The same maps as :func:`explain_output` with ``method="gradcam"`` (a test checks it), but the
    forward pass to ``layer`` is shared by every output and sign, and each output costs only a
    backward pass from the output down to ``layer``: for a multi-output network this is what makes
    scoring every attribute affordable. The sign flips the channel weights, so both directions
    come from one gradient: ``ReLU(sign * sum_k mean(dy/dA_k) A_k)``.

    Returns
    -------
    dict
        ``{(index, sign): (N, H, W) float64 maps}``.
    """
    import torch.nn.functional as F

    from ..explain import prepared
    from ..explain.cam import upsample
    from ..explain.hooks import find_layer, tap

    indices = [int(i) for i in indices]
    signs = [_check_sign(s) for s in signs]
    name, module = find_layer(model, layer)
    parts: dict[tuple[int, int], list[np.ndarray]] = {(i, s): [] for i in indices for s in signs}
    with prepared(model):
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].detach()
            with tap(module, leaf=True) as seen:
                out = model(xb)
            act = seen.output
            if act is None or act.ndim != 4:
                raise ValueError(f"Grad-CAM layer {name!r} gives no (N, C, h, w) maps")
            for k, i in enumerate(indices):
                (grad,) = torch.autograd.grad(out[:, i].sum(), act,
                                              retain_graph=k < len(indices) - 1)
                raw = (grad.mean(dim=(2, 3), keepdim=True) * act.detach()).sum(1, keepdim=True)
                for s in signs:
                    cam = upsample(F.relu(s * raw), xb.shape[2:], interpolate)
                    parts[i, s].append(cam[:, 0].detach().double().cpu().numpy())
    return {key: np.concatenate(v) for key, v in parts.items()}


def attribute_gradcams(fitted, x: torch.Tensor, attributes, signs=(1, -1), *,
                       layer: Callable[[nn.Module, str], str] | None = None,
                       batch_size: int = 32) -> dict[tuple[str, int], np.ndarray]:
    """:func:`gradcam_outputs` for attributes of a fitted paper-3 model, grouped by network.

    Attributes that one network predicts (the multi-output protocol) share its forward passes;
    with one network per attribute (the paper's protocol) each is explained by its own.
    ``layer``, if given, maps ``(network, cam_layer_name)`` to another layer name (e.g.
    :func:`finer_layer`). Returns ``{(attribute, sign): (N, H, W) maps}``.
    """
    groups: dict[int, tuple[nn.Module, str, list[tuple[str, int]]]] = {}
    for attribute in attributes:
        net, index, cam_layer = fitted.explainable(attribute)
        chosen = layer(net, cam_layer) if layer is not None else cam_layer
        groups.setdefault(id(net), (net, chosen, []))[2].append((attribute, index))
    out = {}
    for net, chosen, members in groups.values():
        maps = gradcam_outputs(net, x, [i for _, i in members], chosen, signs,
                               batch_size=batch_size)
        for attribute, index in members:
            for s in signs:
                out[attribute, int(s)] = maps[index, int(s)]
    return out


def finer_layer(model: nn.Module, layer: str) -> str:
    """The layer one pooling stage finer than ``layer``: the module just before the max-pool that
    precedes ``layer`` in its parent ``nn.Sequential``.

    For VGG16's ``features.30`` (the last max-pool, the paper's Grad-CAM layer) this is
    ``features.22``, the ReLU of conv4_3, whose maps are four times as fine in each direction.
    """
    from ..explain.hooks import find_layer

    name, _ = find_layer(model, layer)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    children = list(parent.named_children())
    names = [n for n, _ in children]
    if child not in names:
        raise ValueError(f"layer {name!r} is not a direct child of a sequential block")
    pools = [i for i, (_, m) in enumerate(children[:names.index(child)])
             if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    if not pools or pools[-1] == 0:
        raise ValueError(f"no pooling layer with a layer before it precedes {name!r}")
    return ".".join(filter(None, (parent_name, names[pools[-1] - 1])))


# ---------------------------------------------------------------------------------------------
# Face regions
# ---------------------------------------------------------------------------------------------

def region_label_maps(landmarks: np.ndarray, size) -> np.ndarray:
    """Region index (into :data:`facexai.regions.REGIONS`) of every pixel of every face.

    Returns ``(N, H, W)`` int8; a face whose landmarks are unknown (any NaN) gets -1 everywhere and
    is left out of every region score.
    """
    lms = np.asarray(landmarks, float)
    if lms.ndim != 3 or lms.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (N, 68, 2), got {lms.shape}")
    h, w = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    out = np.full((len(lms), h, w), -1, np.int8)
    for i, lm in enumerate(lms):
        if np.isfinite(lm).all():
            out[i] = region_labels(lm, (h, w))
    return out


def _check_maps_labels(maps, labels) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(maps, float)
    lab = np.asarray(labels)
    if r.ndim != 3 or r.shape != lab.shape:
        raise ValueError(f"maps {r.shape} and region labels {lab.shape} must both be (N, H, W)")
    return r, lab


def region_shares(maps, labels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share of each map's positive relevance, and of the image, in every region.

    Parameters
    ----------
    maps : (N, H, W)
        Relevance maps.
    labels : (N, H, W) int
        :func:`region_label_maps` of the same faces.

    Returns
    -------
    (relevance_share, area_share) : two DataFrames, faces x :data:`REGIONS`
        Rows of faces without landmarks, or maps without positive relevance, are NaN. Each row of
        both sums to 1 over the regions.
    """
    r, lab = _check_maps_labels(maps, labels)
    n, k = len(r), len(REGIONS)
    mass = np.full((n, k), np.nan)
    area = np.full((n, k), np.nan)
    for i in range(n):
        if lab[i].min() < 0:
            continue
        flat = lab[i].ravel().astype(np.intp)
        pos = np.clip(r[i].ravel(), 0.0, None)
        area[i] = np.bincount(flat, minlength=k) / flat.size
        total = pos.sum()
        if total > 0:
            mass[i] = np.bincount(flat, weights=pos, minlength=k) / total
    cols = pd.Index(REGIONS, name="region")
    return pd.DataFrame(mass, columns=cols), pd.DataFrame(area, columns=cols)


def primary_regions(attribute: str, share: float = 0.5) -> tuple[str, ...]:
    """The fewest regions that hold at least ``share`` of ``attribute``'s region weight.

    Regions are taken by decreasing :func:`facexai.synth.attributes.region_weights` (each driver's
    weight spread over the regions it shows in); a region tied with the last one taken is taken
    too (left and right always go together). Returned in canonical region order.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    w = region_weights(attribute)
    w = w[w > 0].sort_values(ascending=False, kind="stable")
    taken, total = [], 0.0
    for region, weight in w.items():
        if total >= share - 1e-12 and not np.isclose(weight, w[taken[-1]]):
            break
        taken.append(region)
        total += weight
    return tuple(r for r in REGIONS if r in taken)


def truth_regions(attribute: str, ground_truth: str = "driving") -> tuple[str, ...]:
    """The regions a heatmap of ``attribute`` should point at.

    ``"driving"``: every region in which a driver of the attribute shows
    (:func:`facexai.synth.attributes.driving_regions`; for most attributes most of the face);
    ``"primary"``: the regions holding half of the drivers' weight (:func:`primary_regions`).
    """
    if ground_truth == "driving":
        return driving_regions(attribute)
    if ground_truth == "primary":
        return primary_regions(attribute)
    raise ValueError(f"ground_truth must be one of {', '.join(GROUND_TRUTHS)}, got {ground_truth!r}")


def driving_masks(labels, attribute: str, ground_truth: str = "driving") -> np.ndarray:
    """Pixels of :func:`truth_regions` of ``attribute``, ``(N, H, W)`` bool."""
    ids = [_REGION_ID[r] for r in truth_regions(attribute, ground_truth)]
    return np.isin(np.asarray(labels), ids)


def profile_correlation(shares: pd.DataFrame, area: pd.DataFrame, attribute: str) -> np.ndarray:
    """Per face: does the heatmap rank the regions as the causes do?

    Spearman correlation, over the regions present in the face, between the relevance per area
    (relevance share / area share) and the cause per area (:func:`region_weights` / area share;
    0 for regions without a driver). 0 is what a map unrelated to the causes gives in expectation,
    1 a map whose density follows the drivers' weights in rank. NaN for faces without relevance.
    """
    from scipy.stats import spearmanr

    w = region_weights(attribute).reindex(shares.columns).fillna(0.0).to_numpy()
    out = np.full(len(shares), np.nan)
    for i, (s, a) in enumerate(zip(shares.to_numpy(float), area.to_numpy(float))):
        ok = np.isfinite(s) & (a > 0)
        if ok.sum() > 2 and np.ptp(s[ok] / a[ok]) > 0:
            out[i] = spearmanr(s[ok] / a[ok], w[ok] / a[ok])[0]
    return out


# ---------------------------------------------------------------------------------------------
# Faithfulness against the known causes (synthetic twin)
# ---------------------------------------------------------------------------------------------

def faithfulness_table(maps, labels, attribute: str, ground_truth: str = "driving",
                       **columns) -> pd.DataFrame:
    """Per face: how well ``maps`` point at the regions that drive ``attribute``.

    ``ground_truth`` selects the regions (:func:`truth_regions`: ``"driving"`` or ``"primary"``).

    Returns
    -------
    pandas.DataFrame
        One row per face with landmarks: ``face`` (row index in ``maps``), ``mass_accuracy`` (share
        of positive relevance inside the driving regions; NaN for a map without positive
        relevance), ``rank_accuracy`` (share of the K most relevant pixels inside, K = the regions'
        size), ``pointing`` (is the maximum inside?) and ``chance`` (the regions' share of the image:
        what a map that knows nothing scores on all three, in expectation), ``ground_truth`` and
        ``attribute``; ``columns`` are added as constant columns (e.g. ``method=..., sign=...``).
    """
    r, lab = _check_maps_labels(maps, labels)
    known = np.flatnonzero(lab.reshape(len(lab), -1).min(1) >= 0)
    masks = driving_masks(lab[known], attribute, ground_truth)
    r = r[known]
    table = pd.DataFrame({
        "face": known,
        "mass_accuracy": faithfulness.relevance_mass_accuracy(r, masks),
        "rank_accuracy": faithfulness.relevance_rank_accuracy(r, masks),
        "pointing": faithfulness.pointing_game(r, masks).astype(float),
        "chance": faithfulness.mask_share(masks),
        "ground_truth": ground_truth,
        "attribute": attribute,
    })
    # A flat map (Grad-CAM can be zero everywhere) has no maximum: its pointing is undefined.
    flat = r.reshape(len(r), -1)
    table.loc[flat.max(1) <= flat.min(1), "pointing"] = np.nan
    for name, value in columns.items():
        table[name] = value
    return table


def _bootstrap_mean_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                       level: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return float("nan"), float("nan")
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def faithfulness_summary(table: pd.DataFrame,
                         by=("attribute", "ground_truth", "method", "sign"), *,
                         n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Means of a long :func:`faithfulness_table` per group, with a verdict.

    The lift is ``mass_accuracy - chance`` per face (a face's chance is its own regions' share);
    its bootstrap interval (``n_boot`` resamples of the faces, ``level`` coverage, seeded) decides
    the verdict: ``"above chance"`` if the interval lies above 0, ``"below chance"`` if below,
    else ``"chance"``.
    """
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in table.groupby(list(by), sort=False):
        lift = (g["mass_accuracy"] - g["chance"]).to_numpy(float)
        lo, hi = _bootstrap_mean_ci(lift, n_boot, rng, level)
        verdict = ("above chance" if lo > 0 else "below chance" if hi < 0 else "chance") \
            if np.isfinite(lo) else "not enough faces"
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "faces": int(np.isfinite(lift).sum()),
                     "mass_accuracy": g["mass_accuracy"].mean(),
                     "rank_accuracy": g["rank_accuracy"].mean(),
                     "pointing": g["pointing"].mean(),
                     "chance": g["chance"].mean(),
                     "lift": float(np.nanmean(lift)) if np.isfinite(lift).any() else np.nan,
                     "lift_lo": lo, "lift_hi": hi, "verdict": verdict})
    return pd.DataFrame(rows)


def region_verdicts(shares: pd.DataFrame, area: pd.DataFrame, attribute: str, *,
                    favour: float = 1.0) -> dict:
    """Where the heatmaps of ``attribute`` are right and where not, region by region.

    Parameters
    ----------
    shares, area : DataFrames (faces x regions)
        :func:`region_shares` of the attribute's maps.
    favour : float
        A region is *favoured* when its mean relevance share exceeds ``favour`` times its mean area
        share (1 = more than a uniform map gives it).

    Returns
    -------
    dict
        ``per_area`` (Series: mean relevance share / mean area share per region), ``found``
        (driving regions favoured), ``missed`` (driving regions not favoured), ``spurious``
        (other regions favoured, most favoured first) and ``top`` (the most favoured region).
    """
    mean_share, mean_area = shares.mean(), area.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        per_area = (mean_share / mean_area).where(mean_area > 0)
    drive = set(driving_regions(attribute))
    favoured = per_area[per_area > favour].sort_values(ascending=False)
    return {
        "per_area": per_area,
        "found": [r for r in REGIONS if r in drive and r in favoured.index],
        "missed": [r for r in REGIONS if r in drive and r not in favoured.index],
        "spurious": [r for r in favoured.index if r not in drive],
        "top": per_area.idxmax() if per_area.notna().any() else None,
    }


def describe_regions(verdict: dict) -> str:
    """One sentence from :func:`region_verdicts`: what was found, missed and favoured besides."""
    def names(rs):
        return ", ".join(r.replace("_", " ") for r in rs) or "none"
    return (f"finds {names(verdict['found'])}; misses {names(verdict['missed'])}; "
            f"also favours {names(verdict['spurious'])}")


def unnormalised_tensor(images: np.ndarray) -> torch.Tensor:
    """What the paper's explanation notebook fed the network: ``ToTensor`` only, values in [0, 1]
    without the ImageNet normalisation the model was trained with, ``(N, 3, H, W)`` float32."""
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got {a.shape}")
    return torch.as_tensor(a, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def faithfulness_figure(summary: pd.DataFrame, value: str = "mass_accuracy"):
    """Bars of ``value`` per attribute (x) and method/sign (colours), one panel per ground truth,
    with each attribute's chance level as a black tick and the bootstrap interval of the lift
    over chance as an error bar."""
    import matplotlib.pyplot as plt

    from ..plotting import style

    style()
    truths = list(dict.fromkeys(summary["ground_truth"]))
    fig, axes = plt.subplots(len(truths), 1, figsize=(9, 2.6 * len(truths)), squeeze=False,
                             sharey=True)
    for ax, truth in zip(axes[:, 0], truths):
        part = summary[summary["ground_truth"] == truth]
        attributes = list(dict.fromkeys(part["attribute"]))
        variants = list(dict.fromkeys(zip(part["method"], part["sign"])))
        width = 0.8 / len(variants)
        for j, (method, sign) in enumerate(variants):
            rows = part[(part["method"] == method) & (part["sign"] == sign)].set_index("attribute")
            rows = rows.reindex(attributes)
            xs = np.arange(len(attributes)) - 0.4 + width * (j + 0.5)
            err = None
            if value == "mass_accuracy":
                err = np.vstack([rows["lift"] - rows["lift_lo"], rows["lift_hi"] - rows["lift"]])
            ax.bar(xs, rows[value], width, yerr=err, capsize=1.5, error_kw={"lw": 0.7},
                   label=f"{method.replace('_', ' ')}, {SIGNS[int(sign)]}",
                   color=plt.get_cmap("tab20")(j))
        chance = part.groupby("attribute", sort=False)["chance"].mean().reindex(attributes)
        ax.scatter(np.arange(len(attributes)), chance, marker="_", s=500, color="black",
                   zorder=5, label="chance (area share)")
        ax.set_xticks(np.arange(len(attributes)), attributes, fontsize=7.5)
        ax.set_ylabel(f"{value.replace('_', ' ')}\n({truth} regions)", fontsize=8)
        ax.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=6.5, ncol=3, frameon=False, loc="upper left",
                      bbox_to_anchor=(0, 1.3))
    fig.tight_layout()
    return fig


def region_profile_figure(per_area: pd.DataFrame, attributes, regions=None):
    """Heatmap of relevance per area (rows: attributes, columns: regions; log2, 0 = what a uniform
    map gives), with each attribute's primary regions boxed and its other driving regions dotted."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..plotting import style

    style()
    regions = list(regions or per_area.columns)
    values = np.log2(per_area.loc[list(attributes), regions].astype(float).clip(lower=1 / 16))
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(regions), 0.9 + 0.32 * len(attributes)))
    im = ax.imshow(values.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
    for i, attribute in enumerate(attributes):
        primary, driving = primary_regions(attribute), driving_regions(attribute)
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
