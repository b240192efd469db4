"""Predictive power of a regressor of attribute ratings, measured honestly: over training seeds,
against the achievable and the noise ceiling, with paired tests and measured controls.

* :func:`seed_r` - test Pearson r per attribute of each training seed's predictions;
* :func:`oracle_predictions` (:func:`facexai.synth.ceilings.oracle_predictions`) - the
  **achievable ceiling** on the synthetic twin: a ridge regression of the rating means on every
  rendered factor, fitted on training rows, predicting test rows;
* :func:`paired_comparisons` - paired tests of model columns over attributes and over the antonym
  pairs' means (:func:`facexai.stats.paired_test`, :func:`facexai.stats.pair_means`) beside the
  independent-samples t-test, q-values per unit; :func:`describe_paired`, one line of text;
* :func:`predictive_controls` - the same measures on a positive control (the oracle's predictions
  as "the model") and a negative one (test ratings permuted across faces, noise ceilings permuted
  across attributes, one seed against another); :func:`named_results`, its values under the
  names a notebook records them by;
* :func:`ceilings`, :func:`best_and_last_epochs`, :func:`baseline_table`, :func:`paired_table` and
  the page's sentences (:func:`data_text`, :func:`settings_text`, :func:`epochs_text`,
  :func:`summary_text`, :func:`reliability_text`, :func:`paired_text`, :func:`gap_text`).

Every function is tested against an independent reference or a case with a known answer in
``tests/test_predictive.py``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import stats
from .synth.ceilings import oracle_predictions

__all__ = ["CONTROL_MEASURES", "PAPER_COMPARISONS", "PAPER_NAMES", "baseline_table", "best_and_last_epochs", "ceilings", "data_text",
           "describe_paired", "epochs_text", "gap_text", "named_results", "oracle_predictions",
           "paired_comparisons", "paired_table", "paired_text", "predictive_controls",
           "reliability_text", "seed_r", "settings_text", "summary_text"]

#: The paper's comparison-table columns (``paper_*`` of the paper-3 comparison table) by their
#: names in the paper, and the comparisons the paper draws between them (a - b).
PAPER_NAMES = {"paper_vgg16": "VGG16", "paper_geometric": "Geometric",
               "paper_vgg16_aug": "VGG16+aug", "paper_human": "Human"}
PAPER_COMPARISONS = (("paper_vgg16", "paper_geometric"), ("paper_vgg16_aug", "paper_vgg16"),
                     ("paper_vgg16", "paper_human"))

#: Rows of :func:`predictive_controls`: (measure, part); part "" is the measure itself.
CONTROL_MEASURES: tuple[tuple[str, str], ...] = (
    ("mean_r", ""), ("mean_r", "lo"), ("mean_r", "hi"), ("n_above_reliability", ""),
    ("r_ceiling_spearman", ""), ("vs_landmarks", "mean_difference"),
    ("vs_landmarks", "p_wilcoxon"), ("vs_landmarks", "wins"), ("vs_landmarks", "n"))


def seed_r(predictions: Sequence[pd.DataFrame], ratings: pd.DataFrame,
           seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Test Pearson r per attribute of each seed's predictions.

    Parameters
    ----------
    predictions : sequence of DataFrame
        One frame per training seed (rows: the test faces, columns: attributes).
    ratings : DataFrame
        The observed rating means of the same rows (aligned by position).
    seeds : sequence of int, optional
        The seeds, for the index (default ``0..S-1``).

    Returns
    -------
    DataFrame
        Seeds x attributes (index named ``seed``).
    """
    if not len(predictions):
        raise ValueError("predictions: need at least one seed's predictions")
    seeds = list(range(len(predictions))) if seeds is None else list(seeds)
    if len(seeds) != len(predictions):
        raise ValueError(f"seeds: {len(seeds)} seeds for {len(predictions)} predictions")
    rows = []
    for p in predictions:
        if len(p) != len(ratings):
            raise ValueError(f"predictions: {len(p)} rows for {len(ratings)} ratings")
        observed = pd.DataFrame(ratings[list(p.columns)].to_numpy(float), index=p.index,
                                columns=p.columns)
        rows.append(stats.pearson_columns(p, observed))
    return pd.DataFrame(rows, index=pd.Index(seeds, name="seed"))


def paired_comparisons(table: pd.DataFrame, comparisons: Sequence[tuple[str, str]],
                       pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Paired tests of column ``a`` against column ``b`` of ``table`` (indexed by attribute), over
    the attributes and over the antonym pairs' means.

    Parameters
    ----------
    table : DataFrame
        One row per attribute (index), a column of r per model.
    comparisons : sequence of (a, b)
        Column names; each row of the result tests ``a - b``.
    pairs : sequence of (str, str)
        The antonym pairs (:data:`facexai.synth.attributes.PAIRS`).

    Returns
    -------
    DataFrame
        One row per comparison and unit (``"attributes"``, ``"pairs"``): ``a``, ``b``, ``unit``,
        the :func:`facexai.stats.paired_test` fields, ``p_independent`` (the independent-samples
        t-test, which ignores the pairing) and ``q_wilcoxon`` (Benjamini-Hochberg over the
        comparisons of one unit).
    """
    from scipy.stats import ttest_ind

    missing = sorted({c for ab in comparisons for c in ab} - set(table.columns))
    if missing:
        raise ValueError(f"comparisons: no column {missing} in the table")
    rows = []
    for unit in ("attributes", "pairs"):
        for a, b in comparisons:
            x, y = table[a].astype(float), table[b].astype(float)
            if unit == "pairs":
                x, y = stats.pair_means(x, pairs), stats.pair_means(y, pairs)
            ok = np.isfinite(x) & np.isfinite(y)
            p_ind = float(ttest_ind(x[ok], y[ok]).pvalue) if ok.sum() >= 2 else float("nan")
            rows.append({"a": a, "b": b, "unit": unit, **stats.paired_test(x, y),
                         "p_independent": p_ind})
    out = pd.DataFrame(rows)
    out["q_wilcoxon"] = np.nan
    for unit, idx in out.groupby("unit").groups.items():
        out.loc[idx, "q_wilcoxon"] = stats.benjamini_hochberg(out.loc[idx, "p_wilcoxon"])
    return out


def describe_paired(frame: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    """One line of :func:`paired_comparisons`: per comparison ``a - b``, the mean difference, the
    paired t and Wilcoxon p over attributes / over pairs, and the independent t-test's p (over
    attributes). ``names``: display names of the columns."""
    need = {"a", "b", "unit", "n", "mean_difference", "p_t", "p_wilcoxon", "p_independent"}
    if not need <= set(frame.columns):
        raise ValueError(f"frame: lacks columns {sorted(need - set(frame.columns))}")
    names = names or {}
    parts = []
    for (a, b), rows in frame.groupby(["a", "b"], sort=False):
        by = rows.set_index("unit")
        units = " / ".join(f"{int(n)} {u}" for u, n in by["n"].items())
        p_t, p_w = (" / ".join(f"{p:.1g}" for p in by[c]) for c in ("p_t", "p_wilcoxon"))
        first = by.iloc[0]
        parts.append(f"{names.get(a, a)} - {names.get(b, b)} {first.mean_difference:+.3f} "
                     f"(over {units}: paired t p {p_t}, Wilcoxon p {p_w}; independent t p "
                     f"{first.p_independent:.2g})")
    return "; ".join(parts)


def _vs(a: pd.Series, b: pd.Series, pairs) -> dict[str, float]:
    return stats.paired_test(stats.pair_means(a, pairs), stats.pair_means(b, pairs))


def _measures(r_seeds: pd.DataFrame, ceiling: pd.Series, other: pd.Series | None, pairs,
              spread: bool = True) -> dict[tuple[str, str], float]:
    """The control measures of a model whose r per seed is ``r_seeds`` (seeds x attributes);
    ``spread=False``: one deterministic model, its interval is its value."""
    per_seed = r_seeds.mean(axis=1).to_numpy()
    mean, lo, hi = stats.seed_interval(per_seed) if spread else (float(per_seed.mean()),) * 3
    r = r_seeds.mean(axis=0)
    out = {("mean_r", ""): mean, ("mean_r", "lo"): lo, ("mean_r", "hi"): hi,
           ("n_above_reliability", ""): float((r > ceiling.reindex(r.index) ** 2).sum()),
           ("r_ceiling_spearman", ""): stats.spearman(r, ceiling.reindex(r.index))}
    if other is not None:
        out.update({("vs_landmarks", k): v for k, v in _vs(r, other, pairs).items()
                    if k in ("mean_difference", "p_wilcoxon", "wins", "n")})
    return out


def _negative(predictions, ratings: pd.DataFrame, r_model: pd.DataFrame, ceiling: pd.Series,
              pairs, seed: int) -> dict[tuple[str, str], float]:
    """:func:`predictive_controls`' negative variant (see there)."""
    rng = np.random.default_rng(seed)
    permuted = pd.DataFrame(ratings.to_numpy(float)[rng.permutation(len(ratings))],
                            index=ratings.index, columns=ratings.columns)
    negative = _measures(seed_r(predictions, permuted), ceiling, None, pairs)
    shuffled = pd.Series(rng.permutation(ceiling.to_numpy(float)), index=ceiling.index)
    negative[("r_ceiling_spearman", "")] = stats.spearman(
        r_model.mean(axis=0), shuffled.reindex(r_model.columns))
    if len(r_model) > 1:
        negative.update({("vs_landmarks", k): v for k, v in
                         _vs(r_model.iloc[0], r_model.iloc[1], pairs).items()
                         if ("vs_landmarks", k) in CONTROL_MEASURES})
    return negative


def predictive_controls(predictions: Sequence[pd.DataFrame], ratings: pd.DataFrame,
                        ceiling: pd.Series | None, pairs: Sequence[tuple[str, str]], *,
                        oracle: pd.DataFrame | None = None, landmarks: pd.Series | None = None,
                        seed: int = 0) -> pd.DataFrame:
    """The predictive-power measures of the models, and on a positive and a negative control
    variant of the data.

    Measured: the seeds' mean test r and its interval over seeds
    (:func:`facexai.stats.seed_interval` of the per-seed means), the attributes whose r (mean
    over seeds) exceeds the reliability, the Spearman rho over attributes of r and the noise
    ceiling, and the paired test over the pairs' means of r against ``landmarks``.

    Positive: the oracle's test predictions used as the model (one deterministic model, so its
    interval is its value; compared with ``landmarks`` over the pairs). Negative: the seeds'
    predictions against the test ratings permuted across faces (``mean_r`` and its interval,
    ``n_above_reliability``); the noise ceilings permuted across attributes
    (``r_ceiling_spearman``, with the seeds' mean r); seed 0 against seed 1 (``vs_landmarks``,
    over the pairs; NaN with one seed).

    Parameters
    ----------
    predictions : sequence of DataFrame
        Each training seed's test predictions (rows aligned with ``ratings``).
    ratings : DataFrame
        Test rating means.
    ceiling : Series or None
        Noise ceiling per attribute (reliability = ceiling squared); None: unknown (NaN).
    pairs : sequence of (str, str)
        The antonym pairs.
    oracle : DataFrame, optional
        The oracle's test predictions (:func:`oracle_predictions`); None: no positive control.
    landmarks : Series, optional
        Test r per attribute of the landmark baseline, for the positive ``vs_landmarks``.
    seed : int
        Seed of the permutations.

    Returns
    -------
    DataFrame
        Rows :data:`CONTROL_MEASURES` (a (measure, part) index), columns ``measured``,
        ``positive`` and ``negative``; NaN where a variant is not measured.
    """
    if ceiling is None:
        ceiling = pd.Series(np.nan, index=ratings.columns)
    if not isinstance(ceiling, pd.Series):
        raise ValueError("ceiling must be a Series indexed by attribute (or None)")
    r_model = seed_r(predictions, ratings)
    measured = _measures(r_model, ceiling, landmarks, pairs)
    negative = _negative(predictions, ratings, r_model, ceiling, pairs, seed)
    positive = ({} if oracle is None else
                _measures(seed_r([oracle], ratings), ceiling, landmarks, pairs, spread=False))
    index = pd.MultiIndex.from_tuples(CONTROL_MEASURES, names=["measure", "part"])
    return pd.DataFrame({k: pd.Series(v, dtype=float) for k, v in
                         (("measured", measured), ("positive", positive),
                          ("negative", negative))}).reindex(index)


def named_results(controls: pd.DataFrame, names: dict) -> dict:
    """The values of :func:`predictive_controls` by the names to record them under.

    Parameters
    ----------
    controls : DataFrame
        :func:`predictive_controls`'s frame.
    names : mapping of str to Result
        A :class:`facexai.results.Result` per measure (``"mean_r"``, ...); a part ``p`` is
        recorded as ``name.part(p)``, a control variant ``v`` as ``.control(v)``.

    Returns
    -------
    dict
        Result name -> float, for every finite value of a measure in ``names``.
    """
    missing = {m for m, _ in controls.index} - set(names)
    if missing:
        raise ValueError(f"names: no Result for {sorted(missing)}")
    out = {}
    for (measure, part), row in controls.iterrows():
        name = names[measure].part(part) if part else names[measure]
        for variant, value in row.dropna().items():
            out[name if variant == "measured" else name.control(variant)] = float(value)
    return out


# -- the predictive-power page's sentences and small tables ---------------------------------------

def ceilings(raters, factors, ratings: pd.DataFrame, train, test, *, n_splits: int = 50,
             seed: int = 0) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """The two ceilings' inputs: the noise ceiling per attribute and the oracle's test predictions.

    Parameters
    ----------
    raters : DataFrame or None
        Per-rater ratings (:func:`facexai.stats.noise_ceiling`'s input); None: not known.
    factors : sequence of FaceParams, array or None
        The faces' generator parameters (:func:`oracle_predictions`); None on real data.
    ratings : DataFrame
        Rating means of every face (columns: the attributes).
    train, test : array of int
        Row positions the oracle is fitted on and predicts.
    n_splits, seed : int
        Random rater splits of the noise ceiling, and their seed.

    Returns
    -------
    (Series or None, DataFrame or None)
        :func:`facexai.stats.noise_ceiling` over ``ratings``' columns, and
        :func:`oracle_predictions`; None where its input is None.
    """
    ceiling = (None if raters is None else
               stats.noise_ceiling(raters, n_splits=n_splits, seed=seed, columns=ratings.columns))
    oracle = None if factors is None else oracle_predictions(factors, ratings, train, test)
    return ceiling, oracle


def best_and_last_epochs(history: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Per training seed (in order of appearance; one run when ``history`` has no ``seed``
    column): the last epoch marked ``best`` and the last epoch trained.

    Parameters
    ----------
    history : DataFrame
        :attr:`facexai.regressors.SeedFits.history` (columns ``seed``, ``epoch``, ``best``, ...).

    Returns
    -------
    (list of int, list of int)
        Best epochs and last epochs, one per seed.
    """
    runs = [h for _, h in history.groupby("seed", sort=False)] if "seed" in history else [history]
    return ([int(h.loc[h["best"].astype(bool), "epoch"].max()) for h in runs],
            [int(h["epoch"].max()) for h in runs])


def epochs_text(seeds: Sequence[int], best: Sequence[int], last: Sequence[int]) -> str:
    """Best and last epoch of each seed in words, and whether any seed was still improving (its
    best epoch is its last)."""
    rows = list(zip(seeds, best, last))
    still = [str(s) for s, b, l in rows if b == l]
    return ("Best epoch / last epoch run: " + ", ".join(f"seed {s}: **{b} / {l}**" for s, b, l in
                                                        rows) + ". "
            + (f"For seed(s) {', '.join(still)} the best epoch is the last one run: that model "
               "was still improving, and its numbers understate the architecture." if still else
               "In every seed the best epoch comes before the last one run: validation r had "
               "stopped rising."))


def data_text(n_faces: int, synthetic: bool, image_size: int, counts: dict, models: str) -> str:
    """The data and the models in one sentence: faces, their source, size, the paper-3 split
    (``counts``: faces per ``train``/``val``/``test``) and ``models`` (how they were obtained)."""
    return (f"**{n_faces} faces** ({'synthetic twin' if synthetic else 'real database'}) at "
            f"{image_size} px; paper-3 split: **{counts['train']} train / {counts['val']} "
            f"validation / {counts['test']} test** (the code's two `train_test_split` calls, "
            f"seed 42). Models: {models}.")


def settings_text(settings: dict, n_seeds: int) -> str:
    """This build's model settings in one sentence (``settings``: the model settings by name,
    :func:`facexai.paper3.model_settings`)."""
    s = settings
    return (f"This build: protocol **{s['protocol']}**, VGG16 of width {s['width']} (torchvision: "
            f"64){' with batch normalisation' if s['batch_norm'] else ''}, weights "
            f"`{s['weights']}`, {s['image_size']} px, at most {s['epochs']} epochs (patience "
            f"{s['patience']}), batch {s['batch_size']}, Adam lr {s['lr']:g}, weight decay "
            f"{s['weight_decay']:g}, augmentation {'on' if s['augment'] else 'off'}; "
            f"**{n_seeds} training seeds**.")


def _means(table: pd.DataFrame) -> pd.Series:
    return table.drop(columns="attribute").mean()


def summary_text(table: pd.DataFrame, controls: pd.DataFrame, r_seeds: pd.DataFrame,
                 rho_paper: float, seconds: float) -> str:
    """The mean test r in words: with its interval over seeds and per seed, beside the paper's,
    the ceilings and the share of the oracle's reached; the rank agreement with the noise ceiling.

    Parameters
    ----------
    table : DataFrame
        The comparison table (``facexai.paper3.metrics.comparison_table``).
    controls : DataFrame
        :func:`predictive_controls`.
    r_seeds : DataFrame
        :func:`seed_r` (seeds x attributes).
    rho_paper : float
        Spearman rho of the paper's VGG16 column with its Human column.
    seconds : float
        Time the baselines took.
    """
    m, means = controls["measured"], _means(table)
    return (f"Mean test r over the 40 attributes: **VGG16 {m['mean_r', '']:.2f}** (95 % interval "
            f"over {len(r_seeds)} seeds {m['mean_r', 'lo']:.2f} to {m['mean_r', 'hi']:.2f}; per "
            "seed " + ", ".join(f"{v:.2f}" for v in r_seeds.mean(axis=1)) + f"); the paper: "
            f"{means['paper_vgg16']:.2f}, with augmentation {means['paper_vgg16_aug']:.2f}. "
            f"Achievable ceiling (oracle) **{means['oracle']:.2f}**, mean noise ceiling "
            f"**{means['noise_ceiling']:.2f}**: the VGG16 reaches "
            f"{m['mean_r', ''] / means['oracle']:.0%} of what the rendered faces allow. Across "
            "attributes its r follows the noise ceiling with Spearman ρ = "
            f"{m['r_ceiling_spearman', '']:.2f}; the paper's VGG16 column follows its Human "
            f"column with ρ = {rho_paper:.2f}. Baselines fitted in {seconds:.0f} s.")


def reliability_text(table: pd.DataFrame, controls: pd.DataFrame, n_tested: int) -> str:
    """Human consistency in words: attributes whose VGG16 r exceeds the reliability (and the
    oracle's count), the noise ceiling, and the paper's VGG16 + aug against its Human column."""
    m, means = controls["measured"], _means(table)
    return (f"VGG16's test r is above the reliability of the ratings on **"
            f"{m['n_above_reliability', '']:.0f} of {n_tested}** attributes (the oracle's: "
            f"{controls.loc[('n_above_reliability', ''), 'positive']:.0f}), above the noise "
            f"ceiling on {int((table['vgg16'] > table['noise_ceiling']).sum())}. In the paper's "
            "table VGG16 + aug is above Human on "
            f"{int((table['paper_vgg16_aug'] > table['paper_human']).sum())} of 40. Mean "
            f"reliability here {means['reliability']:.2f}, the paper's mean Human value "
            f"{means['paper_human']:.2f}.")


def paired_text(paper: str, controls: pd.DataFrame) -> str:
    """The paired tests in words: ``paper`` (:func:`describe_paired` of the paper's table) and
    the measured VGG16-against-landmarks test of ``controls`` over the pairs."""
    m = controls["measured"]
    return (f"On the paper's own table: {paper}. This study, VGG16 against annotator-noise "
            f"landmarks over the 20 pairs: mean difference **"
            f"{m['vs_landmarks', 'mean_difference']:+.3f}**, VGG16 ahead on "
            f"{m['vs_landmarks', 'wins']:.0f} of {m['vs_landmarks', 'n']:.0f}, Wilcoxon p = "
            f"{m['vs_landmarks', 'p_wilcoxon']:.2g}.")


def paired_table(blocks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`paired_comparisons` frames stacked (one block per key), indexed by block,
    comparison and unit, every value formatted to 3 significant digits (``t`` left out)."""
    return (pd.concat(blocks).drop(columns="t").droplevel(1)
            .set_index(["a", "b", "unit"], append=True).map("{:.3g}".format))


def baseline_table(baselines: dict) -> pd.DataFrame:
    """One row per fitted baseline (objects with ``n_features``, ``test_r``, ``val_r``,
    ``seconds``): features, mean test r, mean validation r, seconds."""
    return pd.DataFrame({k: {"features": v.n_features, "mean test r": v.test_r.mean(),
                             "mean validation r": v.val_r.mean(), "seconds": v.seconds}
                         for k, v in baselines.items()}).T


def gap_text(table: pd.DataFrame, baselines: Sequence[str]) -> str:
    """The gaps in words: attributes where VGG16 beats every one of ``baselines``, the mean gap
    between the oracle and VGG16 (and the three largest), and between the noise ceiling and the
    oracle."""
    gap, means = table["oracle"] - table["vgg16"], _means(table)
    wins = int((table["vgg16"] > table[list(baselines)].max(axis=1)).sum())
    return (f"VGG16 (mean over seeds) beats every baseline but the exact landmarks on **{wins} of "
            f"40** attributes. Mean gap between the achievable ceiling and VGG16: "
            f"**{gap.mean():.2f}** (largest for "
            f"{', '.join(table.loc[gap.nlargest(3).index, 'attribute'])}); between the noise "
            f"ceiling and the oracle {means['noise_ceiling'] - means['oracle']:.2f}, the part of "
            "the ratings no image model can reach on the twin.")
