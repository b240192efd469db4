"""Relevance maps scored by face region: the one implementation every chapter uses.

A relevance map says where a network looks; the face regions of :mod:`facexai.regions` (computed
from the 68 landmarks alone, on synthetic faces and photographs alike) turn it into numbers:

* :func:`region_shares` - how each map's positive relevance, and the image (:func:`area_shares`),
  fall on the regions (:func:`region_relevance_many`, :func:`region_relevance`: the same as a long
  table, from landmarks);
* :func:`truth_regions`, :func:`primary_regions`, :func:`truth_masks`, :func:`ground_truth_table` -
  on SynthFace, the regions in which an attribute's known drivers show
  (:func:`facexai.synth.attributes.driving_regions`), or only those holding half of the drivers'
  weight;
* :func:`faithfulness_table` - per face, relevance mass accuracy, relevance rank accuracy and the
  pointing game (:mod:`facexai.faithfulness`) against those regions, beside the chance level of a
  map that knows nothing (the regions' share of the image); :func:`profile_correlation` - whether
  a map ranks the regions as the drivers' weights do;
* :func:`faithfulness_summary` - means per group, the lift over chance with a bootstrap interval
  (:func:`facexai.stats.bootstrap_mean_ci`) and a verdict;
* :func:`region_verdicts`, :func:`describe_regions` - which driving regions the maps find, miss,
  and which other regions they favour;
* :func:`score_maps` - all of it for many sets of maps, keyed ``(attribute, method, sign)``, into
  one :class:`RegionScores`.

Maps are ``(N, H, W)`` float arrays; region labels ``(N, H, W)`` ints from
:func:`facexai.regions.region_label_maps` (-1 everywhere for a face without landmarks: it is left
out of every score).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import faithfulness, stats
from .regions import REGIONS, average_heatmap, region_label_maps
from .synth.attributes import driving_regions, region_weights

__all__ = ["GROUND_TRUTHS", "SCORE_KEYS", "RegionScores", "area_shares", "describe_regions",
           "faithfulness_summary", "faithfulness_table", "ground_truth_table", "primary_regions",
           "profile_correlation", "region_relevance", "region_relevance_many",
           "region_relevance_methods", "region_shares",
           "region_verdicts", "score_maps", "truth_masks", "truth_regions"]

#: Ground truths a heatmap is scored against (see :func:`truth_regions`).
GROUND_TRUTHS: tuple[str, ...] = ("driving", "primary")
#: What identifies one set of maps in :func:`score_maps` and its tables.
SCORE_KEYS: tuple[str, ...] = ("attribute", "method", "sign")
_REGION_ID = {name: k for k, name in enumerate(REGIONS)}


# ---------------------------------------------------------------------------------------------
# Relevance per region
# ---------------------------------------------------------------------------------------------

def _check_maps_labels(maps, labels) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(maps, float)
    lab = np.asarray(labels)
    if r.ndim != 3 or r.shape != lab.shape:
        raise ValueError(f"maps {r.shape} and region labels {lab.shape} must both be (N, H, W)")
    return r, lab


def area_shares(labels) -> pd.DataFrame:
    """Share of the image in every region, per face: faces x :data:`facexai.regions.REGIONS`
    (rows sum to 1; NaN for a face without landmarks, whose labels are -1)."""
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"region labels must be (N, H, W), got {lab.shape}")
    k = len(REGIONS)
    area = np.full((len(lab), k), np.nan)
    for i in range(len(lab)):
        if lab[i].min() >= 0:
            flat = lab[i].ravel().astype(np.intp)
            area[i] = np.bincount(flat, minlength=k) / flat.size
    return pd.DataFrame(area, columns=pd.Index(REGIONS, name="region"))


def region_shares(maps, labels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share of each map's positive relevance, and of the image, in every region.

    Parameters
    ----------
    maps : (N, H, W)
        Relevance maps (negative relevance is left out).
    labels : (N, H, W) int
        :func:`facexai.regions.region_label_maps` of the same faces.

    Returns
    -------
    (relevance_share, area_share) : two DataFrames, faces x :data:`facexai.regions.REGIONS`
        Rows of faces without landmarks, or maps without positive relevance, are NaN. Each other
        row of both sums to 1 over the regions.
    """
    r, lab = _check_maps_labels(maps, labels)
    area = area_shares(lab)
    k = len(REGIONS)
    mass = np.full((len(r), k), np.nan)
    for i in np.flatnonzero(area.notna().all(axis=1).to_numpy()):
        pos = np.clip(r[i].ravel(), 0.0, None)
        total = pos.sum()
        if total > 0:
            mass[i] = np.bincount(lab[i].ravel().astype(np.intp), weights=pos, minlength=k) / total
    return pd.DataFrame(mass, columns=area.columns), area


def _per_area(share, area):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area > 0, share / np.where(area > 0, area, 1.0), np.nan)


def region_relevance_many(relevance, landmarks, regions: Sequence[str] = REGIONS) -> pd.DataFrame:
    """:func:`region_shares` of maps ``(N, H, W)`` of faces with ``landmarks`` ``(N, 68, 2)``
    (in the maps' pixels), as a long table.

    Returns
    -------
    pandas.DataFrame
        One row per face and region of ``regions`` (all of :data:`facexai.regions.REGIONS` by
        default, background included, so that a face's shares sum to 1): ``region``,
        ``relevance_share``, ``area_share``, ``relevance_per_area`` (their ratio: 1 is what a
        uniform map gives, above 1 means the region is favoured; NaN for an empty region) and
        ``face``.
    """
    r = np.asarray(relevance, float)
    shares, area = region_shares(r, region_label_maps(landmarks, r.shape[1:]))
    regions = list(regions)
    s, a = shares[regions].to_numpy(), area[regions].to_numpy()
    return pd.DataFrame({"region": np.tile(np.asarray(regions, object), len(r)),
                         "relevance_share": s.ravel(), "area_share": a.ravel(),
                         "relevance_per_area": _per_area(s, a).ravel(),
                         "face": np.repeat(np.arange(len(r)), len(regions))})


def region_relevance_methods(maps: Mapping[str, np.ndarray], landmarks) -> pd.DataFrame:
    """:func:`region_relevance_many` of each method's maps (``{method: (N, H, W)}``), one table
    with a ``method`` column."""
    return pd.concat([region_relevance_many(r, landmarks).assign(method=m)
                      for m, r in maps.items()], ignore_index=True)


def region_relevance(relevance, landmarks, regions: Sequence[str] = REGIONS) -> pd.DataFrame:
    """:func:`region_relevance_many` of one map ``(H, W)`` and its landmarks ``(68, 2)``, indexed
    by region."""
    r, lm = np.asarray(relevance, float), np.asarray(landmarks, float)
    if r.ndim != 2 or lm.shape != (68, 2):
        raise ValueError(f"one map (H, W) and its landmarks (68, 2), got {r.shape} and {lm.shape}")
    table = region_relevance_many(r[None], lm[None], regions)
    return table.drop(columns="face").set_index("region")


# ---------------------------------------------------------------------------------------------
# Ground truth: where an attribute's causes show (SynthFace)
# ---------------------------------------------------------------------------------------------

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
    raise ValueError(f"ground_truth must be one of {', '.join(GROUND_TRUTHS)}, "
                     f"got {ground_truth!r}")


def truth_masks(labels, attribute: str, ground_truth: str = "driving") -> np.ndarray:
    """Pixels of :func:`truth_regions` of ``attribute``, ``(N, H, W)`` bool."""
    ids = [_REGION_ID[r] for r in truth_regions(attribute, ground_truth)]
    return np.isin(np.asarray(labels), ids)


def ground_truth_table(attributes, labels=None) -> pd.DataFrame:
    """Per attribute: its driving and primary regions (:func:`truth_regions`), and with ``labels``
    (region labels of some faces) the share of the image each ground truth covers on them."""
    table = pd.DataFrame({f"{truth} regions": {a: ", ".join(truth_regions(a, truth))
                                               for a in attributes} for truth in GROUND_TRUTHS})
    if labels is not None:
        table["share of the image (" + " / ".join(GROUND_TRUTHS) + ")"] = {
            a: " / ".join(f"{truth_masks(labels, a, t).mean():.0%}" for t in GROUND_TRUTHS)
            for a in attributes}
    return table


def profile_correlation(shares: pd.DataFrame, area: pd.DataFrame, attribute: str) -> np.ndarray:
    """Per face: does the heatmap rank the regions as the causes do?

    Spearman correlation (:func:`facexai.stats.spearman`), over the regions present in the face,
    between the relevance per area (relevance share / area share) and the cause per area
    (:func:`region_weights` / area share; 0 for regions without a driver). 0 is what a map unrelated
    to the causes gives in expectation, 1 a map whose density follows the drivers' weights in rank.
    NaN for faces without relevance.
    """
    w = region_weights(attribute).reindex(shares.columns).fillna(0.0).to_numpy()
    out = np.full(len(shares), np.nan)
    for i, (s, a) in enumerate(zip(shares.to_numpy(float), area.to_numpy(float))):
        ok = np.isfinite(s) & (a > 0)
        if ok.sum() > 2 and np.ptp(s[ok] / a[ok]) > 0:
            out[i] = stats.spearman(s[ok] / a[ok], w[ok] / a[ok])
    return out


# ---------------------------------------------------------------------------------------------
# Faithfulness against the known causes
# ---------------------------------------------------------------------------------------------

def faithfulness_table(maps, labels, attribute: str, ground_truth: str = "driving",
                       **columns) -> pd.DataFrame:
    """Per face: how well ``maps`` point at the regions that drive ``attribute``.

    ``ground_truth`` selects the regions (:func:`truth_regions`: ``"driving"`` or ``"primary"``).

    Returns
    -------
    pandas.DataFrame
        One row per face with landmarks: ``face`` (row index in ``maps``), ``mass_accuracy`` (share
        of positive relevance inside the regions; NaN for a map without positive relevance),
        ``rank_accuracy`` (share of the K most relevant pixels inside, K = the regions' size),
        ``pointing`` (is the maximum inside? NaN for a flat map) and ``chance`` (the regions' share
        of the image: what a map that knows nothing scores on all three, in expectation),
        ``ground_truth`` and ``attribute``; ``columns`` are added as constant columns (e.g.
        ``method=..., sign=...``).
    """
    r, lab = _check_maps_labels(maps, labels)
    known = np.flatnonzero(lab.reshape(len(lab), -1).min(1) >= 0)
    masks = truth_masks(lab[known], attribute, ground_truth)
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


def _verdict(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return "not enough faces"
    return "above chance" if lo > 0 else "below chance" if hi < 0 else "chance"


def faithfulness_summary(table: pd.DataFrame,
                         by=("attribute", "ground_truth", "method", "sign"), *,
                         n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Means of a long :func:`faithfulness_table` per group, with a verdict.

    The lift is ``mass_accuracy - chance`` per face (a face's chance is its own regions' share);
    its bootstrap interval (:func:`facexai.stats.bootstrap_mean_ci`: ``n_boot`` resamples of the
    faces, ``level`` coverage, one generator seeded with ``seed`` drawn group after group) decides
    the verdict: ``"above chance"`` if the interval lies above 0, ``"below chance"`` if below,
    ``"chance"`` otherwise, ``"not enough faces"`` with fewer than two scored faces.
    """
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    by = list(by)
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in table.groupby(by, sort=False):
        lift = (g["mass_accuracy"] - g["chance"]).to_numpy(float)
        lo, hi = stats.bootstrap_mean_ci(lift, n_boot, level, rng)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "faces": int(np.isfinite(lift).sum()),
                     "mass_accuracy": g["mass_accuracy"].mean(),
                     "rank_accuracy": g["rank_accuracy"].mean(),
                     "pointing": g["pointing"].mean(),
                     "chance": g["chance"].mean(),
                     "lift": float(np.nanmean(lift)) if np.isfinite(lift).any() else np.nan,
                     "lift_lo": lo, "lift_hi": hi, "verdict": _verdict(lo, hi)})
    return pd.DataFrame(rows)


def region_verdicts(shares, area, attribute: str, *, favour: float = 1.0) -> dict:
    """Where the heatmaps of ``attribute`` are right and where not, region by region.

    Parameters
    ----------
    shares, area : DataFrames (faces x regions), or Series (their means over faces)
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
    mean_share = shares.mean() if isinstance(shares, pd.DataFrame) else shares
    mean_area = area.mean() if isinstance(area, pd.DataFrame) else area
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


def describe_regions(verdict: Mapping) -> str:
    """One sentence from :func:`region_verdicts` (or a row of :meth:`RegionScores.verdicts`, whose
    region lists are comma-joined): what was found, missed and favoured besides."""
    def names(rs):
        if isinstance(rs, str):
            rs = [r for r in rs.split(", ") if r]
        return ", ".join(r.replace("_", " ") for r in rs) or "none"
    return (f"finds {names(verdict['found'])}; misses {names(verdict['missed'])}; "
            f"also favours {names(verdict['spurious'])}")


# ---------------------------------------------------------------------------------------------
# Many sets of maps
# ---------------------------------------------------------------------------------------------

@dataclass
class RegionScores:
    """What :func:`score_maps` measured.

    Attributes
    ----------
    faces : DataFrame
        :func:`faithfulness_table` rows of every set of maps and ground truth (columns
        ``method``, ``sign`` and ``profile_r``, :func:`profile_correlation`, added).
    shares : DataFrame
        Mean relevance share per region (columns), one row per ``(attribute, method, sign)``.
    area : Series
        Mean area share per region over the scored faces.
    examples : dict
        The first maps of each set, by key (as many as ``keep``).
    averages : dict
        :func:`facexai.regions.average_heatmap` of each set whose sign was averaged, by key.
    """

    faces: pd.DataFrame
    shares: pd.DataFrame
    area: pd.Series
    examples: dict = field(default_factory=dict)
    averages: dict = field(default_factory=dict)

    @property
    def per_area(self) -> pd.DataFrame:
        """Mean relevance share / mean area share, per set of maps (rows) and region (columns)."""
        return self.shares.div(self.area, axis=1)

    @property
    def n_maps(self) -> int:
        """Number of maps scored (sets x faces)."""
        return int(len(self.faces) // max(self.faces["ground_truth"].nunique(), 1))

    def summary(self, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
        """:func:`faithfulness_summary` per attribute, ground truth, method and sign, with the
        mean ``profile_r``."""
        by = ["attribute", "ground_truth", "method", "sign"]
        out = faithfulness_summary(self.faces, by, n_boot=n_boot, level=level, seed=seed)
        profile_r = self.faces.groupby(by, sort=False)["profile_r"].mean()
        return out.join(profile_r, on=by)

    def verdicts(self, summary: pd.DataFrame, method: str, sign: int) -> pd.DataFrame:
        """Per attribute, for the maps of ``method`` and ``sign``: the verdict and lift of each
        ground truth (from ``summary``, :meth:`summary`), ``profile_r``, and the region verdicts
        (:func:`region_verdicts`) ``found``, ``missed``, ``spurious`` (comma-joined) and
        ``top_region``."""
        main = summary[(summary["method"] == method) & (summary["sign"] == sign)]
        main = main.set_index(["attribute", "ground_truth"])
        truths = list(dict.fromkeys(main.index.get_level_values("ground_truth")))
        rows = []
        for attribute in dict.fromkeys(self.shares.index.get_level_values("attribute")):
            v = region_verdicts(self.shares.loc[(attribute, method, sign)], self.area, attribute)
            got = {t: main.loc[(attribute, t)] for t in truths}
            rows.append({"attribute": attribute, **{t: got[t]["verdict"] for t in truths},
                         **{f"lift_{t}": got[t]["lift"] for t in truths},
                         "profile_r": got[truths[-1]]["profile_r"],
                         "found": ", ".join(v["found"]), "missed": ", ".join(v["missed"]),
                         "spurious": ", ".join(v["spurious"]), "top_region": v["top"]})
        return pd.DataFrame(rows)


def score_maps(maps: Iterable[tuple[tuple, np.ndarray]], labels, *,
               ground_truths: Sequence[str] = GROUND_TRUTHS, keep: int = 0, landmarks=None,
               template=None, average_signs: Sequence[int] = (1,)) -> RegionScores:
    """Score every set of maps against the regions of its attribute.

    Parameters
    ----------
    maps : iterable of ``((attribute, method, sign), (N, H, W) maps)``
        E.g. a generator that computes one set at a time (only the set being scored is then held).
    labels : (N, H, W) int
        :func:`facexai.regions.region_label_maps` of the N faces.
    ground_truths : sequence of str
        :func:`truth_regions` scored for each set.
    keep : int
        Keep the first ``keep`` maps of each set (to show them).
    landmarks, template : arrays, optional
        With ``landmarks`` (N, 68, 2), the sets whose sign is in ``average_signs`` are averaged over
        the faces aligned on ``template`` (:func:`facexai.regions.average_heatmap`).

    Returns
    -------
    RegionScores
    """
    faces, means, examples, averages, area = [], {}, {}, {}, None
    for key, m in maps:
        attribute, method, sign = key
        shares, face_area = region_shares(m, labels)
        profile = profile_correlation(shares, face_area, attribute)
        for truth in ground_truths:
            table = faithfulness_table(m, labels, attribute, truth, method=method, sign=sign)
            table["profile_r"] = profile[table["face"]]
            faces.append(table)
        means[key] = shares.mean()
        area = face_area.mean() if area is None else area   # the same faces for every set
        if keep:
            examples[key] = np.asarray(m)[:keep]
        if landmarks is not None and sign in average_signs:
            averages[key] = average_heatmap(m, landmarks, template)[0]
    if not means:
        raise ValueError("no maps to score")
    index = pd.MultiIndex.from_tuples(list(means), names=SCORE_KEYS)
    return RegionScores(faces=pd.concat(faces, ignore_index=True),
                        shares=pd.DataFrame(list(means.values()), index=index),
                        area=area, examples=examples, averages=averages)
