"""Is an explanation right? Scores against known causes, perturbation curves, a sanity check.

None of the three papers measured its heatmaps. Here every metric is a plain function:

* **against ground truth** (SynthFace knows which pixels an expression or an attribute changes):
  :func:`relevance_mass_accuracy` and :func:`relevance_rank_accuracy` (Arras, Osman & Samek 2022)
  and the :func:`pointing_game` (Zhang et al. 2018), with :func:`mask_share` as the chance level;
* **without ground truth**: :func:`perturbation_curve` (pixel flipping / region perturbation,
  most- or least-relevant first; Samek et al. 2017) and :func:`aopc`;
* **sanity**: :func:`randomization_check`, the cascading model-parameter randomisation test of
  Adebayo et al. (2018): an explanation that hardly changes when the model's weights are
  randomised top-down does not explain the model.

Maps are ``(N, H, W)`` (channels reduced, e.g. by :func:`facexai.explain.relevance_map`), masks
``(N, H, W)`` booleans of the same size (a map of another size than its masks is an error that
names both shapes). Ties in a map are scored by their expected value under a uniformly random order
of the tied pixels: a uniform map scores exactly the chance level on every localisation metric.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn


def _maps_masks(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(maps, float)
    m = np.asarray(masks, bool)
    if r.shape != m.shape:
        raise ValueError(f"relevance maps of shape {r.shape} and masks of shape {m.shape} differ: "
                         "each map needs a mask of its own size (H, W) (a map of another "
                         "resolution than the landmarks or masks? resize one to the other)")
    if r.ndim == 2:
        r, m = r[None], m[None]
    if r.ndim != 3:
        raise ValueError(f"maps and masks must be (N, H, W) or (H, W), got {r.shape}")
    return r, m


def mask_share(masks) -> np.ndarray:
    """Fraction of the image inside each mask: the mass accuracy of a uniform map (chance)."""
    m = np.asarray(masks, bool)
    m = m[None] if m.ndim == 2 else m
    return m.reshape(len(m), -1).mean(1)


def relevance_mass_accuracy(maps, masks, positive: bool = True) -> np.ndarray:
    """Share of the relevance that lies inside the mask, per map (Arras et al. 2022).

    ``R_within / R_total`` over positive relevance only (``positive=False``: absolute values).
    A map with no positive relevance scores NaN. ``masks`` may also be weighted maps in [0, 1]
    (``sum(r * t) / sum(r)``: the binary score averaged over every threshold of ``t``).
    """
    r, _ = _maps_masks(maps, masks)
    m = np.asarray(masks, float).reshape(r.shape)
    r = np.clip(r, 0, None) if positive else np.abs(r)
    total = r.reshape(len(r), -1).sum(1)
    inside = (r * m).reshape(len(r), -1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def relevance_rank_accuracy(maps, masks) -> np.ndarray:
    """Share of the ``K`` highest-relevance pixels that lie in the mask, ``K`` = mask size
    (Arras et al. 2022).

    Ties at the ``K``-th value are scored by their expected value: if ``a`` pixels rank above it and
    ``b`` pixels tie at it, ``b_in`` of them inside the mask, the ``K - a`` places left go to the tied
    pixels at random and hold ``(K - a) b_in / b`` mask pixels on average. A uniform map therefore
    scores the mask's share of the image (chance). An empty mask scores NaN.
    """
    r, m = _maps_masks(maps, masks)
    out = np.full(len(r), np.nan)
    for i, (ri, mi) in enumerate(zip(r.reshape(len(r), -1), m.reshape(len(m), -1))):
        k = int(mi.sum())
        if not k:
            continue
        kth = np.partition(ri, len(ri) - k)[len(ri) - k]     # the K-th largest value
        above, tied = ri > kth, ri == kth
        a, b = int(above.sum()), int(tied.sum())
        out[i] = (mi[above].sum() + (k - a) * mi[tied].sum() / b) / k
    return out


def pointing_game(maps, masks, tolerance: int = 0) -> np.ndarray:
    """Whether each map's maximum falls inside its mask, grown by ``tolerance`` pixels
    (Zhang et al. 2018 use 15 px at 224 px).

    Returns floats: 1.0 (hit) or 0.0 (miss) for a single maximum; for ``t`` tied maxima, ``t_in`` of
    them inside, the expected hit ``t_in / t`` of picking one at random (Quantus counts a hit if any
    tied maximum is inside, which favours flat maps). A uniform map scores the mask's share.
    """
    from scipy.ndimage import binary_dilation

    r, m = _maps_masks(maps, masks)
    if tolerance > 0:
        yy, xx = np.mgrid[-tolerance:tolerance + 1, -tolerance:tolerance + 1]
        disk = xx ** 2 + yy ** 2 <= tolerance ** 2
        m = np.stack([binary_dilation(mi, disk) for mi in m])
    flat_r, flat_m = r.reshape(len(r), -1), m.reshape(len(m), -1)
    top = flat_r == flat_r.max(1, keepdims=True)
    return (top & flat_m).sum(1) / top.sum(1)


# ---------------------------------------------------------------------------------------------
# Perturbation curves
# ---------------------------------------------------------------------------------------------

@dataclass
class PerturbationCurve:
    """Scores while more and more patches are replaced: ``scores[:, k]`` after ``fractions[k]``."""

    order: str
    fractions: np.ndarray     # (steps + 1,), share of the patches replaced
    scores: np.ndarray        # (N, steps + 1)

    @property
    def mean(self) -> np.ndarray:
        return self.scores.mean(0)


def _fill(x: torch.Tensor, fill, gen: torch.Generator) -> torch.Tensor:
    if fill == "mean":
        return x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    if fill == "uniform":   # Samek et al. 2017: uniform noise over each image's value range
        lo = x.flatten(1).amin(1).view(-1, 1, 1, 1)
        hi = x.flatten(1).amax(1).view(-1, 1, 1, 1)
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype, device="cpu").to(x.device)
        return lo + (hi - lo) * u
    if isinstance(fill, str):
        raise ValueError(f"fill must be a number, 'mean' or 'uniform', got {fill!r}")
    return torch.full_like(x, float(fill))


def perturbation_curve(model: nn.Module, x: torch.Tensor, maps, target, *, order: str = "morf",
                       patch: int = 4, steps: int = 16, fraction: float = 1.0, fill="mean",
                       seed: int = 0) -> PerturbationCurve:
    """Region perturbation (Samek et al. 2017): replace patches in relevance order, track the score.

    Parameters
    ----------
    model, x, target
        As for :func:`facexai.explain.explain` (the target's score is tracked; a "predicted class"
        target is fixed on the clean input).
    maps : (N, H, W)
        Relevance; a patch's relevance is the sum over its pixels.
    order : {"morf", "lerf"}
        Most relevant first (a faithful map makes the score drop fast) or least relevant first
        (the score should stay).
    patch : int
        Side of the square, non-overlapping patches (``patch=1``: pixel flipping).
    steps, fraction
        ``steps`` equal steps until ``fraction`` of all patches are replaced.
    fill : float, "mean" or "uniform"
        What a patch is replaced with: a value, the image's mean, or uniform noise over the image's
        value range (seeded with ``seed``), as in Samek et al.
    """
    from .explain import prepared, resolve, scores as target_scores

    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    # float64 throughout the ranking (a float32 cast would create ties), on the CPU
    r = torch.as_tensor(np.asarray(maps, np.float64))
    n, _, h, w = x.shape
    if tuple(r.shape) != (n, h, w):
        raise ValueError(f"relevance maps of shape {tuple(r.shape)} do not match the input of shape "
                         f"{tuple(x.shape)}: they must be (N, H, W) = {(n, h, w)}")
    if h % patch or w % patch:
        raise ValueError(f"the input's H, W {(h, w)} must be multiples of patch={patch}")
    ph, pw = h // patch, w // patch
    patch_rel = r.view(n, ph, patch, pw, patch).sum((2, 4)).reshape(n, -1)
    # Ties (e.g. all-zero relevance) are broken at random (seeded), never by position, so that
    # an uninformative map does not perturb the image top-down: a random permutation, then a
    # stable sort by relevance.
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.stack([torch.randperm(ph * pw, generator=gen) for _ in range(n)])
    shuffled = torch.gather(patch_rel, 1, perm)
    pos = torch.sort(shuffled, dim=1, descending=(order == "morf"), stable=True).indices
    ranking = torch.gather(perm, 1, pos).to(x.device)
    n_total = ph * pw
    counts = np.unique(np.round(np.linspace(0, fraction * n_total, steps + 1)).astype(int))
    filled = _fill(x, fill, gen)
    out = []
    with prepared(model):
        tgt = resolve(model, x, target)
        for k in counts:
            keep = torch.ones(n, n_total, dtype=x.dtype, device=x.device)
            keep.scatter_(1, ranking[:, :k], 0.0)
            mask = keep.view(n, 1, ph, 1, pw, 1).expand(n, 1, ph, patch, pw, patch)
            mask = mask.reshape(n, 1, h, w)
            out.append(target_scores(model, x * mask + filled * (1 - mask), tgt).cpu().numpy())
    return PerturbationCurve(order, counts / n_total, np.stack(out, 1))


def aopc(curve: PerturbationCurve | np.ndarray) -> np.ndarray:
    """Area over the perturbation curve per sample: ``mean_k (s_0 - s_k)`` over steps ``k = 0..L``
    (Samek et al. 2017). High for most-relevant-first is good; low for least-relevant-first."""
    s = curve.scores if isinstance(curve, PerturbationCurve) else np.asarray(curve, float)
    return (s[:, :1] - s).mean(1)


# ---------------------------------------------------------------------------------------------
# Model-parameter randomisation
# ---------------------------------------------------------------------------------------------

def spearman(a, b) -> np.ndarray:
    """Spearman rank correlation of each pair of maps ``(N, H, W)`` (average ranks for ties)."""
    from scipy.stats import rankdata

    a = np.asarray(a, float).reshape(len(a), -1)
    b = np.asarray(b, float).reshape(len(b), -1)
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / den, np.nan)


def ssim(a, b, sigma: float = 1.5) -> np.ndarray:
    """Mean structural similarity of each pair of maps, each first scaled to [0, 1] by its own range.

    As Wang et al. (2004): a Gaussian window (``sigma`` 1.5, 11 taps: truncated at 3.5 sigma),
    population (co)variances, ``C1 = 0.01**2``, ``C2 = 0.03**2`` (data range 1), averaged over the
    *valid* windows only (a border of half a window is left out). Equals scikit-image's
    ``structural_similarity(..., data_range=1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``, which a test checks. Maps smaller than the window are an error.
    """
    from scipy.ndimage import gaussian_filter

    def unit(m):
        lo, hi = m.min(), m.max()
        return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"ssim compares (N, H, W) maps of one shape, got {a.shape} and {b.shape}")
    truncate = 3.5
    pad = int(truncate * sigma + 0.5)                 # window radius, as scipy.ndimage uses it
    if min(a.shape[1:]) < 2 * pad + 1:
        raise ValueError(f"maps of {a.shape[1:]} px are smaller than the {2 * pad + 1}-px SSIM "
                         f"window (sigma={sigma})")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    out = []
    for x, y in zip(a, b):
        x, y = unit(x), unit(y)
        f = lambda z: gaussian_filter(z, sigma, truncate=truncate, mode="reflect")  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out.append(s[pad:-pad, pad:-pad].mean())
    return np.array(out)


def parametrised_layers(model: nn.Module) -> list[str]:
    """Names of the leaf modules that hold parameters or batch-norm running statistics
    (convolutions, dense layers, batch norms ...), input first."""
    return [n for n, m in model.named_modules()
            if not list(m.children()) and (any(True for _ in m.parameters(recurse=False))
                                           or _running_stats(m))]


def _running_stats(module: nn.Module) -> list[str]:
    if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
        return [k for k in ("running_mean", "running_var") if getattr(module, k) is not None]
    return []


def _scale(t: torch.Tensor) -> float:
    """The spread to redraw ``t`` with: its SD; for a constant tensor its absolute value (a BN weight
    of 1, a bias of 1.0); 0 for an all-zero one."""
    t = t.detach()
    sd = float(t.std()) if t.numel() > 1 else 0.0
    return sd if sd > 0 else float(t.abs().mean())


def randomize_layer(module: nn.Module, gen: torch.Generator) -> None:
    """Redraw every parameter of ``module`` from N(0, s): the scale of the layer is kept, what it
    learnt is gone.

    ``s`` is the tensor's SD, or for a constant tensor its absolute value (a fresh batch-norm weight
    of 1 stays on the scale 1, it does not become 0). An all-zero tensor (a bias initialised to 0)
    takes the largest scale of the module's other tensors, or 1. A batch norm's running mean is
    redrawn like a parameter; its running variance, which must stay positive, from the log-normal
    distribution with the mean and SD (the absolute value if constant) of the current variances.
    So no tensor is ever set to zero, and no batch norm keeps its trained statistics.
    """
    tensors = [(k, p) for k, p in module.named_parameters(recurse=False)]
    tensors += [(k, getattr(module, k)) for k in _running_stats(module)]
    scales = {k: _scale(t) for k, t in tensors}
    fallback = max([v for v in scales.values() if v > 0], default=1.0)
    with torch.no_grad():
        for k, t in tensors:
            sd = scales[k] if scales[k] > 0 else fallback
            noise = torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device)
            if k == "running_var":
                mean = float(t.mean())
                mean = mean if mean > 0 else sd
                var_log = float(np.log1p((sd / mean) ** 2))
                t.copy_(torch.exp(np.log(mean) - var_log / 2 + var_log ** 0.5 * noise))
            else:
                t.copy_(noise * sd)


def randomization_check(model: nn.Module, x: torch.Tensor, target, method: str | Callable, *,
                        layers: list[str] | None = None, similarity=("spearman",),
                        absolute: bool = True, seed: int = 0, **options) -> pd.DataFrame:
    """Cascading model-parameter randomisation (Adebayo et al. 2018), top-down.

    The model is copied; its parametrised layers are randomised one after another from the output
    towards the input (:func:`randomize_layer`, cumulatively), and after each step the explanation
    of ``x`` is compared with the one of the trained model.

    Parameters
    ----------
    method : str or callable
        A key of :data:`facexai.explain.EXPLAINERS` (explained with ``target`` and ``options``) or a
        function ``(model, x) -> relevance``.
    layers : list of str, optional
        The layers to randomise, input first (default :func:`parametrised_layers`).
    similarity : sequence of {"spearman", "ssim"}
        Similarities of the (absolute, if ``absolute``) channel-summed maps.

    Returns
    -------
    pandas.DataFrame
        One row per step (``"none"`` first: the trained model against itself), with the layer
        randomised last and the mean and SD over samples of each similarity.
    """
    from .explain import explain, relevance_map

    def run(m):
        r = method(m, x) if callable(method) else explain(m, x, target, method, **options)
        return relevance_map(r, "abs" if absolute else "sum")

    work = copy.deepcopy(model)
    layers = list(layers) if layers is not None else parametrised_layers(work)
    modules = dict(work.named_modules())
    gen = torch.Generator().manual_seed(int(seed))
    reference = run(work)
    fns = {"spearman": spearman, "ssim": ssim}
    unknown = [s for s in similarity if s not in fns]
    if unknown:
        raise ValueError(f"unknown similarity {unknown[0]!r}; choose from {', '.join(fns)}")
    rows = []
    for step, name in enumerate(["none"] + layers[::-1]):
        if name != "none":
            randomize_layer(modules[name], gen)
        current = reference if name == "none" else run(work)
        row = {"step": step, "randomized_down_to": name}
        for s in similarity:
            values = fns[s](reference, current)
            row[s] = float(np.nanmean(values))
            row[f"{s}_sd"] = float(np.nanstd(values))
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class GroundTruthScores:
    """Each method's per-map scores against masks: mass accuracy, rank accuracy, pointing game."""

    mass: dict[str, np.ndarray]
    rank: dict[str, np.ndarray]
    pointing: dict[str, np.ndarray]
    chance: float

    def table(self, seconds: dict[str, float] | None = None) -> pd.DataFrame:
        """Means over maps per method (rows), then a row ``"chance (uniform map)"``: the masks'
        mean share of the image, what a map that knows nothing scores on all three; with
        ``seconds`` (per map), a column of milliseconds per map (NaN for chance)."""
        table = pd.DataFrame({
            "mass accuracy": {m: np.nanmean(v) for m, v in self.mass.items()},
            "rank accuracy": {m: np.nanmean(v) for m, v in self.rank.items()},
            "pointing game": {m: v.mean() for m, v in self.pointing.items()},
        })
        if seconds is not None:
            table["ms per face"] = pd.Series({m: 1000 * seconds[m] for m in self.mass})
        table.loc["chance (uniform map)"] = [self.chance] * 3 + [np.nan] * (seconds is not None)
        return table

    def notes(self, n: int) -> dict[str, list[str]]:
        """Per method, a caption line for each of the first ``n`` maps."""
        return {m: [f"mass {self.mass[m][j]:.2f} · rank {self.rank[m][j]:.2f} · pointing "
                    f"{self.pointing[m][j]:.2f}" for j in range(n)] for m in self.mass}


def ground_truth_scores(maps: dict[str, np.ndarray], masks) -> GroundTruthScores:
    """:func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy` and
    :func:`pointing_game` of each method's maps (``{method: (N, H, W)}``) against ``masks``."""
    return GroundTruthScores({m: relevance_mass_accuracy(r, masks) for m, r in maps.items()},
                             {m: relevance_rank_accuracy(r, masks) for m, r in maps.items()},
                             {m: pointing_game(r, masks) for m, r in maps.items()},
                             float(mask_share(masks).mean()))


def perturbation_table(model: nn.Module, x: torch.Tensor, maps: dict[str, np.ndarray], target, *,
                       patch: int, steps: int, seed: int = 0
                       ) -> tuple[dict[str, dict[str, PerturbationCurve]], pd.DataFrame]:
    """Region perturbation of ``x`` in the order of each method's maps, most (MoRF) and least
    (LeRF) relevant first: the curves ``{method: {"morf": ..., "lerf": ...}}`` and a table of
    mean AOPC per method with their difference (high is good)."""
    curves = {m: {order: perturbation_curve(model, x, r, target, order=order, patch=patch,
                                            steps=steps, seed=seed)
                  for order in ("morf", "lerf")} for m, r in maps.items()}
    table = pd.DataFrame({
        "AOPC MoRF (high is good)": {m: aopc(c["morf"]).mean() for m, c in curves.items()},
        "AOPC LeRF (low is good)": {m: aopc(c["lerf"]).mean() for m, c in curves.items()},
    })
    table["MoRF - LeRF"] = table.iloc[:, 0] - table.iloc[:, 1]
    return curves, table


def randomization_table(model: nn.Module, x: torch.Tensor, target, methods, *, seed: int = 0,
                        options: dict[str, dict] | None = None) -> pd.DataFrame:
    """:func:`randomization_check` of every method (its ``options[method]``), one table with a
    ``method`` column."""
    options = options or {}
    return pd.concat([randomization_check(model, x, target, m, seed=seed, **options.get(m, {}))
                      .assign(method=m) for m in methods], ignore_index=True)


def randomization_pivot(table: pd.DataFrame, value: str = "spearman") -> pd.DataFrame:
    """Methods (rows, in the table's order) by the layer randomised down to (columns, top first)."""
    return table.pivot(index="method", columns="randomized_down_to", values=value)[
        table["randomized_down_to"].drop_duplicates()].loc[table["method"].drop_duplicates()]


def summary_lines(truth: pd.DataFrame, aopc_table: pd.DataFrame, sanity: pd.DataFrame, *,
                  truth_name: str = "the ground truth") -> list[str]:
    """Markdown bullets: the range of mass accuracy against chance, the MoRF-LeRF extremes and the
    similarity left after randomising every layer (tables of :meth:`GroundTruthScores.table`,
    :func:`perturbation_table`, :func:`randomization_table`)."""
    chance = truth.loc["chance (uniform map)", "mass accuracy"]
    ranked = truth["mass accuracy"].drop("chance (uniform map)").sort_values(ascending=False)
    gap = aopc_table["MoRF - LeRF"]
    final = sanity[sanity["step"] == sanity["step"].max()].set_index("method")["spearman"]
    return [
        f"* On these faces the explainers put between **{ranked.min():.0%}** and "
        f"**{ranked.max():.0%}** of their positive relevance on {truth_name}, against **{chance:.0%}** for a map that knows nothing; the best by relevance "
        f"mass is `{ranked.index[0]}`, the weakest `{ranked.index[-1]}`.",
        f"* Perturbation ranks them differently in part: the largest MoRF-LeRF gap is "
        f"`{gap.idxmax()}`'s ({gap.max():.2f}), the smallest `{gap.idxmin()}`'s "
        f"({gap.min():.2f}).",
        f"* After randomising every layer, the explanations keep a Spearman similarity between "
        f"{final.min():.2f} (`{final.idxmin()}`) and {final.max():.2f} (`{final.idxmax()}`) to "
        f"those of the trained network: the higher, the more a heatmap shows the input rather "
        f"than the model.",
    ]
