"""What convolutional filters respond to (paper 2): top patches, projections, Action-Unit association.

* :func:`receptive_fields` computes, from the architecture alone, which input pixels each unit of
  each layer sees (size, stride and offset); a test checks it against the support of the gradient.
* :func:`top_activations` finds, per channel, the ``k`` images (and the position in each) that
  excite it most; :func:`crop_patches` cuts their receptive fields out of the images, and
  :func:`project_top` projects the single top activation back to pixel space through guided
  backprop or a deconvnet (Zeiler & Fergus 2014), as the paper's visualisations did.
* :func:`au_association` relates every channel's activation over a dataset to every Action Unit:
  correlation with the AU's intensity, Jensen-Shannon divergence between the activation
  distributions with and without the AU, and permutation p-values (per pair, and corrected for
  all pairs by the maximum statistic), so "filter 17 is an AU12 detector" is a tested statement.
"""
from __future__ import annotations

import hashlib

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .stats import benjamini_hochberg, permutation_p

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.BatchNorm2d, nn.Dropout,
                nn.Identity)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the units of one layer, in input pixels.

    Unit ``(i, j)`` sees the ``size`` x ``size`` square centred on pixel
    ``(start + i * jump, start + j * jump)`` (before clipping to the image).
    """

    size: int
    jump: int
    start: float

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` of unit ``(i, j)``, bottom/right exclusive, unclipped."""
        half = (self.size - 1) / 2
        top = int(round(self.start + i * self.jump - half))
        left = int(round(self.start + j * self.jump - half))
        return top, left, top + self.size, left + self.size


def _as_int(v) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def receptive_fields(model: nn.Module) -> dict[str, ReceptiveField]:
    """Receptive field of every convolution, pooling and elementwise leaf module, in forward order.

    Assumes square kernels and a sequential network (modules registered in the order they run, as
    in ``nn.Sequential`` models and torchvision's VGG); stops at the first module that mixes all
    positions (flatten, dense, adaptive pooling).
    """
    size, jump, start = 1, 1, 0.0
    out: dict[str, ReceptiveField] = {}
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _as_int(m.kernel_size), _as_int(m.stride)
            p, d = _as_int(m.padding), _as_int(getattr(m, "dilation", 1))
            k_eff = d * (k - 1) + 1
            start += ((k_eff - 1) / 2 - p) * jump
            size += (k_eff - 1) * jump
            jump *= s
        elif not isinstance(m, _ELEMENTWISE):
            break
        out[name] = ReceptiveField(size, jump, start)
    return out


@dataclass
class TopActivations:
    """Per channel of ``layer``, the ``k`` strongest activations over a dataset (one per image)."""

    layer: str
    values: np.ndarray      # (C, k)
    images: np.ndarray      # (C, k) image index
    positions: np.ndarray   # (C, k, 2) unit (i, j) of the maximum in that image
    field: ReceptiveField


def max_activations(model: nn.Module, layer: str, x: torch.Tensor, batch_size: int = 128
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's largest activation per channel of ``layer`` and where it is:
    ``values (N, C)``, ``positions (N, C, 2)``."""
    from .explain import prepared
    from .explain.hooks import find_layer, run_forward, tap

    _, module = find_layer(model, layer)
    values, positions = [], []
    with prepared(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            with tap(module, stop=True) as seen:
                run_forward(model, x[i:i + batch_size])
            a = seen.output
            if a.ndim != 4:
                raise ValueError(f"layer {layer!r} gives {tuple(a.shape)}, not (N, C, h, w) maps")
            flat = a.flatten(2)
            v, idx = flat.max(2)
            w = a.shape[3]
            values.append(v.cpu().numpy())
            positions.append(torch.stack([idx // w, idx % w], -1).cpu().numpy())
    return np.concatenate(values), np.concatenate(positions)


def top_activations(model: nn.Module, layer: str, x: torch.Tensor, k: int = 9,
                    batch_size: int = 128) -> TopActivations:
    """The ``k`` images that excite each channel of ``layer`` most, and where (Zeiler & Fergus:
    one patch per image, so a channel's top patches show different faces)."""
    fields = receptive_fields(model)
    if layer not in fields:
        raise ValueError(f"no receptive field for {layer!r}; convolutional layers: "
                         f"{', '.join(fields)}")
    values, positions = max_activations(model, layer, x, batch_size)
    order = np.argsort(-values, axis=0, kind="stable")[:k].T          # (C, k)
    chans = np.arange(values.shape[1])[:, None]
    return TopActivations(layer, values[order, chans], order, positions[order, chans],
                          fields[layer])


def crop_patches(images: np.ndarray, tops: TopActivations, fill: float = 0.0) -> np.ndarray:
    """Receptive-field crops of the top activations, ``(C, k, size, size[, 3])``; the parts of a
    field outside the image are ``fill``."""
    images = np.asarray(images)
    size = tops.field.size
    c, k = tops.images.shape
    out = np.full((c, k, size, size) + images.shape[3:], fill, dtype=float)
    h, w = images.shape[1:3]
    for ci in range(c):
        for ki in range(k):
            top, left, bottom, right = tops.field.box(*tops.positions[ci, ki])
            t0, l0, b0, r0 = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
            if t0 < b0 and l0 < r0:
                out[ci, ki, t0 - top:b0 - top, l0 - left:r0 - left] = \
                    images[tops.images[ci, ki], t0:b0, l0:r0]
    return out


def project_top(model: nn.Module, x: torch.Tensor, tops: TopActivations, channels=None,
                method: str = "guided_backprop", crop: bool = True) -> np.ndarray:
    """Pixel-space projection of each channel's single top activation (Zeiler & Fergus 2014).

    ``method``: ``"guided_backprop"`` or ``"deconvnet"`` (any explainer key works). The projection
    is summed over input channels and, with ``crop``, cut to the unit's receptive field:
    ``(len(channels), size, size)``; otherwise ``(len(channels), H, W)``.
    """
    from .explain import Target, explain, relevance_map

    channels = range(tops.values.shape[0]) if channels is None else channels
    out = []
    for c in channels:
        img = int(tops.images[c, 0])
        unit = tuple(int(v) for v in tops.positions[c, 0])
        r = explain(model, x[img:img + 1], Target.channel(tops.layer, int(c), unit), method)
        m = relevance_map(r)[0]
        if crop:
            one = TopActivations(tops.layer, tops.values[c:c + 1, :1], np.zeros((1, 1), int),
                                 tops.positions[c:c + 1, :1], tops.field)
            m = crop_patches(m[None], one)[0, 0]
        out.append(m)
    return np.stack(out)


# ---------------------------------------------------------------------------------------------
# Channel - Action Unit association
# ---------------------------------------------------------------------------------------------

#: Permutations whose statistics :func:`au_association` computes at once.
_BLOCK = 64


def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(0)
    return (a - a.mean(0)) / np.where(sd > 0, sd, np.inf)


def _js_bits(onehot: np.ndarray, present: np.ndarray, n_ch: int, bins: int) -> np.ndarray:
    """JS divergence (bits) between each channel's binned activations with / without each AU:
    ``(..., A, C)`` for ``present`` of shape ``(..., N, A)`` (a stack of permuted label sets at
    once); NaN where a group is empty."""
    with_au = np.swapaxes(present, -1, -2).astype(np.float32) @ onehot         # (..., A, C*bins)
    without = onehot.sum(0, dtype=np.float32) - with_au       # counts: exact in float32
    with_au = with_au.reshape(*with_au.shape[:-1], n_ch, bins)
    without = without.reshape(with_au.shape)
    with np.errstate(divide="ignore", invalid="ignore"):    # an empty group gives NaN
        p = with_au / with_au.sum(-1, keepdims=True)
        q = without / without.sum(-1, keepdims=True)
        m = (p + q) / 2
        kl = lambda a: np.where(a > 0, a * np.log2(a / m), 0.0).sum(-1)   # noqa: E731
        return 0.5 * kl(p) + 0.5 * kl(q)


def _equal_frequency_onehot(act: np.ndarray, bins: int) -> np.ndarray:
    """One-hot (N, C * bins) of each channel's equal-frequency bin (by rank)."""
    n, n_ch = act.shape
    ranks = act.argsort(0, kind="stable").argsort(0, kind="stable")
    idx = np.minimum(ranks * bins // n, bins - 1) + np.arange(n_ch) * bins
    onehot = np.zeros((n, n_ch * bins), np.float32)
    onehot[np.arange(n)[:, None], idx] = 1.0
    return onehot


def stratified_permutation(strata, groups=None, rng: np.random.Generator | None = None
                           ) -> np.ndarray:
    """A permutation of rows that keeps every row in its stratum and moves groups whole.

    Row ``r`` of ``labels[perm]`` holds the labels of a row of the same stratum (``strata[r]``);
    with ``groups`` (e.g. the frames of one sequence, which share their labels), the groups of a
    stratum are shuffled among themselves, and every row of group g takes the labels of the group
    it is assigned (its first row). Every group must lie in one stratum.
    """
    strata = np.asarray(strata)
    n = len(strata)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != strata.shape or strata.ndim != 1:
        raise ValueError(f"strata and groups must be 1-D of one length, got {strata.shape} and "
                         f"{groups.shape}")
    rng = rng or np.random.default_rng()
    names, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    if (strata != strata[first][inverse]).any():
        raise ValueError("groups must each lie in one stratum (a group spans several strata)")
    target = np.arange(len(names))
    for s in np.unique(strata[first]):
        members = np.flatnonzero(strata[first] == s)
        target[members] = rng.permutation(members)
    return first[target][inverse]


def _null_rows(n: int, n_permutations: int, seed: int, strata, groups):
    """The row orders of the permutation null: free, or within ``strata`` moving ``groups``."""
    rng = np.random.default_rng(seed)
    if strata is None and groups is None:
        return (rng.permutation(n) for _ in range(n_permutations))
    strata = np.zeros(n, int) if strata is None else np.asarray(strata)
    if len(strata) != n or (groups is not None and len(groups) != n):
        raise ValueError(f"strata and groups must have one entry per row ({n})")
    return (stratified_permutation(strata, groups, rng) for _ in range(n_permutations))


_ORDERS: dict = {}


def _null_orders(n: int, n_permutations: int, seed: int, strata, groups) -> np.ndarray:
    """:func:`_null_rows` as one ``(n_permutations, n)`` array, the last two answers kept (8 bytes
    per row and permutation each): a label test of several networks and layers draws the same
    orders for each (same seed, same strata; free and stratified in turn)."""
    parts = [np.asarray(v).astype(str) for v in (strata, groups) if v is not None]
    key = (n, n_permutations, seed, strata is None, groups is None,
           hashlib.sha1(b"|".join(p.tobytes() for p in parts)).hexdigest())
    if key not in _ORDERS:
        if len(_ORDERS) >= 2:
            _ORDERS.pop(next(iter(_ORDERS)))
        _ORDERS[key] = np.array(list(_null_rows(n, n_permutations, seed, strata, groups)),
                                dtype=np.intp).reshape(-1, n)
    return _ORDERS[key]


def _association_statistics(act: np.ndarray, au: np.ndarray, threshold: float, bins: int,
                            orders: np.ndarray):
    """Correlation and JS divergence of every channel x AU, observed ``(C, A)`` and under each
    label order of ``orders`` ``(P, C, A)`` (null: |r|, and JS with NaN as -1), computed for
    :data:`_BLOCK` orders at once (numpy, not Python, loops)."""
    n, n_ch = act.shape
    za, zau = _zscore(act), _zscore(au)       # a z-score of permuted rows = permuted z-scores
    present, onehot = au > threshold, _equal_frequency_onehot(act, bins)

    def statistics(rows):     # rows: (B, N), B label orders -> (B, C, A) each
        r = za.T @ zau[rows] / n
        return r, np.swapaxes(_js_bits(onehot, present[rows], n_ch, bins), -1, -2)

    r_obs, js_obs = (t[0] for t in statistics(np.arange(n)[None]))
    null_r = np.empty((len(orders), n_ch, au.shape[1]))
    null_js = np.empty_like(null_r)
    for a in range(0, len(orders), _BLOCK):
        r, js = statistics(orders[a:a + _BLOCK])
        null_r[a:a + _BLOCK], null_js[a:a + _BLOCK] = np.abs(r), np.nan_to_num(js, nan=-1)
    return r_obs, js_obs, null_r, null_js


def au_association(activations: np.ndarray, au: np.ndarray, *, threshold: float = 0.1,
                   bins: int = 10, n_permutations: int = 200, seed: int = 0,
                   channel_names=None, au_names=None, strata=None, groups=None) -> pd.DataFrame:
    """Association of every channel with every Action Unit over a dataset, with permutation tests.

    Parameters
    ----------
    activations : (N, C)
        One number per image and channel (e.g. the spatial maximum, :func:`max_activations`).
    au : (N, A)
        AU intensities per image (0 = absent).
    threshold, bins : float, int
        Intensity above which an AU is present; equal-frequency bins of each channel (divergence).
    n_permutations : int
        Label permutations (rows of ``au`` shuffled together, so AU co-occurrence is kept).
    strata, groups : (N,), optional
        Permute only within strata (e.g. the emotion: a channel that encodes the emotion alone is
        then not associated with its AUs), moving groups whole (e.g. the frames of a sequence).

    Returns
    -------
    pandas.DataFrame
        One row per (channel, AU): ``r`` (Pearson correlation with the intensity), ``js_bits``
        (Jensen-Shannon divergence between the activation distributions with and without the AU,
        0 = identical, 1 = disjoint), their per-pair permutation p-values ``p_r``, ``p_js``, and
        ``p_r_fwer``, ``p_js_fwer`` corrected for all pairs by the permutation distribution of the
        maximum statistic (Westfall & Young 1993), and ``q_r``, the Benjamini-Hochberg
        adjusted ``p_r`` over all pairs.
    """
    act = np.asarray(activations, float)
    au = np.asarray(au, float)
    n, n_ch = act.shape
    if au.shape[0] != n:
        raise ValueError(f"activations have {n} rows, au has {au.shape[0]}")
    r_obs, js_obs, null_r, null_js = _association_statistics(
        act, au, threshold, bins, _null_orders(n, n_permutations, seed, strata, groups))
    abs_r = np.abs(r_obs)
    max_r, max_js = np.nanmax(null_r, axis=(1, 2)), null_js.max(axis=(1, 2))
    channel_names = list(channel_names) if channel_names is not None else list(range(n_ch))
    au_names = list(au_names) if au_names is not None else list(range(au.shape[1]))
    cc, aa = np.meshgrid(np.arange(n_ch), np.arange(au.shape[1]), indexing="ij")
    table = pd.DataFrame({
        "channel": np.asarray(channel_names, dtype=object)[cc.ravel()],
        "au": np.asarray(au_names, dtype=object)[aa.ravel()],
        "r": r_obs.ravel(), "js_bits": js_obs.ravel(),
        "p_r": permutation_p(abs_r, null_r, tol=0).ravel(),
        "p_js": permutation_p(js_obs, null_js, tol=0).ravel(),
        "p_r_fwer": permutation_p(abs_r, max_r[:, None, None], tol=0).ravel(),
        "p_js_fwer": permutation_p(js_obs, max_js[:, None, None], tol=0).ravel(),
    })
    table.loc[np.isnan(table["js_bits"]), ["p_js", "p_js_fwer"]] = np.nan
    table["q_r"] = benjamini_hochberg(table["p_r"].to_numpy())
    return table


def strongest_au(association: pd.DataFrame) -> pd.DataFrame:
    """Each channel's most positively correlated AU (one row per channel of an
    :func:`au_association` table), strongest first."""
    return association.sort_values("r", ascending=False).drop_duplicates("channel")


def channel_views(model: nn.Module, layer: str, x: torch.Tensor, images: np.ndarray, channels,
                  k: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``channels`` of ``layer``: the receptive-field crops of ``images`` at its
    ``k`` strongest activations over ``x`` (one per image, :func:`crop_patches`) and the
    projection of its single strongest activation to pixel space (:func:`project_top`)."""
    channels = np.asarray(channels, int)
    tops = top_activations(model, layer, x, k=k)
    return crop_patches(images, tops)[channels], project_top(model, x, tops, channels=channels)


def label_detectors(association: pd.DataFrame, column: str = "p_r_fwer", alpha: float = 0.05
                    ) -> pd.DataFrame:
    """The channels of an :func:`facexai.filters.au_association` table associated with at least
    one AU at level ``alpha`` by ``column`` (``p_r_fwer``, ``q_r``, ...), each with its most
    strongly associated significant AU."""
    if column not in association:
        raise ValueError(f"column must be one of the table's p-value columns, got {column!r}")
    hit = association[association[column] < alpha]
    return (hit.assign(abs_r=hit["r"].abs()).sort_values("abs_r", ascending=False)
            .drop_duplicates("channel").drop(columns="abs_r"))


def label_test(models: dict, layers, x: torch.Tensor, au: pd.DataFrame, strata, groups=None, *,
               n_permutations: int = 1000, seed: int = 0, alpha: float = 0.05
               ) -> tuple[pd.DataFrame, dict]:
    """Paper 2's test for several networks and layers: each channel's maximal activation over the
    images ``x`` against the AU labels ``au`` (:func:`au_association`), with labels permuted
    freely and within ``strata`` (moving ``groups`` whole).

    Returns a summary (one row per network and layer: channels, channels associated with an AU at
    level ``alpha`` by the max statistic with free and with stratified permutations, and by
    Benjamini-Hochberg with stratified ones) and the stratified tables by ``(network, layer)``.
    """
    if not models or not layers:
        raise ValueError("models and layers must each name at least one")
    rows, tables = [], {}
    for name, model in models.items():
        for layer in layers:
            values, _ = max_activations(model, layer, x)
            common = dict(n_permutations=n_permutations, seed=seed, au_names=list(au.columns))
            plain = au_association(values, au.to_numpy(float), **common)
            within = au_association(values, au.to_numpy(float), strata=strata, groups=groups,
                                    **common)
            tables[name, layer] = within
            rows.append({"network": name, "layer": layer, "channels": values.shape[1],
                         "free permutation": len(label_detectors(plain, alpha=alpha)),
                         "within emotion": len(label_detectors(within, alpha=alpha)),
                         "within emotion, BH": len(label_detectors(within, "q_r", alpha))})
    return pd.DataFrame(rows).set_index(["network", "layer"]), tables


def planted_activations(au: np.ndarray, strata, kind: str, n_channels: int, *, noise: float = 0.5,
                        seed: int = 0) -> np.ndarray:
    """Activations of planted channels whose answer is known, for the controls of the label test.

    ``kind="au"``: channel c is a copy of an AU intensity that varies within the ``strata`` (the
    AUs taken in turn), plus Gaussian noise of ``noise`` SDs: every channel *is* an AU detector.
    ``kind="emotion"``: channel c is the indicator of one stratum (taken in turn) plus the same
    noise: it encodes the emotion and nothing else, so a test that permutes within emotion must
    find no AU detector. Returns ``(N, n_channels)``.
    """
    au = np.asarray(au, float)
    strata = np.asarray(strata)
    if kind not in ("au", "emotion"):
        raise ValueError(f"kind must be 'au' or 'emotion', got {kind!r}")
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) \
            or n_channels < 1:
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
    if kind == "au":
        within = np.array([any(au[strata == s, a].std() > 0 for s in np.unique(strata))
                           for a in range(au.shape[1])])
        if not within.any():
            raise ValueError("no AU varies within a stratum: an AU control cannot be planted")
        columns = au[:, np.flatnonzero(within)]
    else:
        columns = (strata[:, None] == np.unique(strata)[None, :]).astype(float)
    base = columns[:, np.arange(n_channels) % columns.shape[1]]
    base = (base - base.mean(0)) / np.where(base.std(0) > 0, base.std(0), 1.0)
    return base + noise * np.random.default_rng(seed).normal(size=base.shape)
