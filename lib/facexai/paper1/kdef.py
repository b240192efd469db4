"""Paper 1's KDEF section: the expression subset, transfer to it, and LRP against the Action Units.

The paper transferred its base models to "a subset of KDEF images" (which subset is NOT FOUND);
here it is :data:`facexai.paper1.protocol.KDEF_ANGLES` (the straight-ahead images of both
series), 7 expressions, with subject-independent folds (:func:`.protocol.load_kdef`).

* :func:`describe_subset` - people and images per fold and expression;
* :func:`fit_expressions` - every source and mode transferred to the 7 expressions, one model per
  training seed (:func:`.protocol.fit_kdef`);
* :func:`accuracy_table`, :func:`chance_rate`, :func:`confusion` - test accuracy with its interval
  over seeds, the majority-class rate, the confusion matrix summed over seeds;
* :func:`twin_faces` - the FaceParams of the KDEF twin's faces (as
  :func:`facexai.datasets.kdef.write_twin` draws them), for counterfactual rendering through
  :func:`facexai.views.kdef_view`;
* :func:`expression_maps` - each model's map of the expressed class, stacked over seeds for
  :func:`facexai.au_saliency.iou_table`; :func:`control_maps` - the model-free maps and the
  blurred mask (the positive control of the scoring rule);
* :func:`au_scores` - all of that for the test people's expressive faces (:class:`AUScores`);
* :func:`accuracy_text`, :func:`au_text`, :func:`measured_text`, :func:`recorded` - the rules'
  outcomes in words and the results the section records.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..datasets import kdef as kdef_format
from ..stats import seed_interval
from . import results as R
from .protocol import KDEF_ANGLES, BaseFit, ClassData, fit_kdef
from .schema import MODES, SOURCES

__all__ = ["AUScores", "CONTROL_MAPS", "EXPRESSIVE", "SOURCE_MODES", "accuracy_table",
           "accuracy_text", "au_scores", "au_text", "chance_rate", "confusion", "control_maps",
           "describe_subset", "expression_maps", "fit_expressions", "measured_text", "recorded",
           "twin_faces"]

#: Every (source, mode) trained: both modes from each base model, the whole network from scratch.
SOURCE_MODES = tuple((s, m) for s in SOURCES for m in (MODES if s != "scratch" else ("whole",)))
#: KDEF expression codes with Action Units (neutral has none: its mask is empty).
EXPRESSIVE = tuple(e for e in kdef_format.EXPRESSIONS if e != "NE")
#: The model-free maps of :func:`control_maps` (the blurred mask is the positive control).
CONTROL_MAPS = ("random", "input |x|", "edge (Sobel)")
#: A chosen epoch's training loss from this share of ln 7 up counts as stuck on the plateau.
PLATEAU = 0.95


def _key(source: str, mode: str) -> str:
    return f"{source}_{mode}"


def describe_subset(kdef: ClassData) -> pd.DataFrame:
    """People and images per fold (train, validation, test) and images per expression."""
    rows = {}
    for role, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        idx = kdef.indices(role)
        lab = kdef.labels.iloc[idx]
        rows[name] = {"people": len(np.unique(kdef.subjects[idx])), "images": len(idx),
                      "series": "+".join(sorted(lab["series"].unique())),
                      **lab["expression"].value_counts().reindex(
                          list(kdef_format.EXPRESSIONS), fill_value=0).to_dict()}
    table = pd.DataFrame(rows).T
    table.attrs["angles"] = KDEF_ANGLES
    return table


def fit_expressions(kdef: ClassData, bases: Mapping[tuple[str, int], BaseFit],
                    **settings: Any) -> dict[tuple[str, str], list[BaseFit]]:
    """Every (source, mode) of :data:`SOURCE_MODES` transferred to KDEF's 7 expressions, one model
    per training seed of ``bases`` (``{(task, seed): BaseFit}``): ``{(source, mode): [BaseFit]}``.
    ``settings``: model settings (the section's own batch size, epochs, patience and rate)."""
    seeds = sorted({s for _, s in bases})
    if not seeds:
        raise ValueError("bases must hold at least one base model")
    settings.pop("seed", None)
    return {(src, mode): [fit_kdef(kdef, None if src == "scratch" else bases[src, s], mode,
                                   seed=s, **settings) for s in seeds]
            for src, mode in SOURCE_MODES}


def chance_rate(kdef: ClassData, role: str = "test") -> float:
    """Majority-class rate of the faces of ``role`` (what always guessing one class scores)."""
    y = kdef.labels["label"].to_numpy()[kdef.indices(role)]
    return float(np.bincount(y).max() / len(y))


def _accuracy(fit: BaseFit, kdef: ClassData, role: str, labels=None) -> float:
    idx = kdef.indices(role)
    y = kdef.labels["label"].to_numpy()[idx] if labels is None else labels
    return float((fit.predict(kdef.images[idx]).argmax(1) == y).mean())


def accuracy_table(kdef: ClassData, fits: Mapping[tuple[str, str], Sequence[BaseFit]], *,
                   level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per ``source_mode``: mean test accuracy over seeds with its Student-t interval (``lo``,
    ``hi``), the mean validation accuracy, the mean training loss of the chosen epochs (ln 7 =
    1.95: the output ignores the input) and ``above_chance`` (``lo`` > :func:`chance_rate`).
    A last row, ``"<best> (shuffled labels)"``, is the negative control of that rule: the model
    chosen on validation accuracy scored against the test labels permuted over the faces."""
    chance = chance_rate(kdef)
    rows, y = {}, kdef.labels["label"].to_numpy()[kdef.indices("test")]
    for (src, mode), models in fits.items():
        mean, lo, hi = seed_interval([_accuracy(f, kdef, "test") for f in models], level)
        rows[_key(src, mode)] = {"accuracy": mean, "lo": lo, "hi": hi, "val_accuracy": np.mean(
            [_accuracy(f, kdef, "val") for f in models]), "train_loss": np.mean(
            [f.history.loc[f.history["best"], "train_loss"].iloc[-1] for f in models]),
            "seeds": len(models)}
    table = pd.DataFrame(rows).T
    best = str(table["val_accuracy"].astype(float).idxmax())
    rng = np.random.default_rng(seed)
    shuffled = [_accuracy(f, kdef, "test", rng.permutation(y))
                for f in {_key(*k): v for k, v in fits.items()}[best]]
    mean, lo, hi = seed_interval(shuffled, level)
    table.loc[f"{best} (shuffled labels)"] = {"accuracy": mean, "lo": lo, "hi": hi,
                                              "val_accuracy": np.nan, "train_loss": np.nan,
                                              "seeds": len(shuffled)}
    table = table.astype(float).astype({"seeds": int})
    table["above_chance"] = table["lo"] > chance
    table.attrs.update(best=best, chance=chance)
    return table


def confusion(kdef: ClassData, models: Sequence[BaseFit], role: str = "test") -> pd.DataFrame:
    """Counts of true (rows) by predicted (columns) expression on the faces of ``role``, summed
    over ``models`` (the training seeds of one source and mode)."""
    idx = kdef.indices(role)
    names = list(kdef.classes["label"])
    y = kdef.labels["label"].to_numpy()[idx]
    counts = np.zeros((len(names),) * 2, int)
    for f in models:
        np.add.at(counts, (y, f.predict(kdef.images[idx]).argmax(1)), 1)
    return pd.DataFrame(counts, index=pd.Index(names, name="true"),
                        columns=pd.Index(names, name="predicted"))


def twin_faces(n_identities: int, seed: int, *, subjects: Sequence[str] | None = None,
               expressions: Sequence[str] = EXPRESSIVE, angle: str = "S",
               nuisance_scale: float = 0.5) -> tuple[list, pd.DataFrame]:
    """The FaceParams of the KDEF twin's images (``n_identities`` people, twin ``seed``) of
    ``subjects`` (KDEF subjects such as ``"F01"``; None: all), ``expressions`` (codes) and
    ``angle``: :func:`facexai.datasets.kdef.twin_params`, what the twin writer renders (a test
    checks the rendering against the written twin). Returns the params and a table (``file``,
    ``subject``, ``series``, ``expression``, ``label``: the class index)."""
    codes = list(kdef_format.EXPRESSIONS)
    bad = sorted(set(expressions) - set(codes))
    if bad or angle not in kdef_format.ANGLES:
        raise ValueError(f"expressions must be KDEF codes {codes} and angle one of "
                         f"{kdef_format.ANGLES}, got {bad or expressions} and {angle!r}")
    params, table = kdef_format.twin_params(n_identities, seed, angles=(angle,),
                                            nuisance_scale=nuisance_scale)
    keep = table["expression"].isin(list(expressions)).to_numpy()
    if subjects is not None:
        keep = keep & table["subject"].isin(list(subjects)).to_numpy()
    return ([p for p, k in zip(params, keep) if k],
            table[keep].drop(columns="angle").reset_index(drop=True))


def expression_maps(fits: Mapping[tuple[str, str], Sequence[BaseFit]], images: np.ndarray,
                    labels, methods: Sequence[str]) -> dict[tuple[str, str], np.ndarray]:
    """Each model's map of the class ``labels`` on ``images`` (uint8 (N, S, S, 3), the models'
    preprocessing :func:`facexai.ratings.to_tensor`), for every method:
    ``{(source_mode, method): (seeds, N, S, S)}`` (:func:`facexai.au_saliency.saliency_maps`)."""
    import torch

    from ..au_saliency import saliency_maps
    from ..ratings import to_tensor

    x, target = to_tensor(np.array(images)), torch.as_tensor(np.array(labels), dtype=torch.long)
    out = {}
    for (src, mode), models in fits.items():
        per_seed = [saliency_maps(f.model, x, target, methods) for f in models]
        out.update({(_key(src, mode), m): np.stack([s[m] for s in per_seed]) for m in methods})
    return out


def control_maps(images: np.ndarray, masks: np.ndarray, face: np.ndarray, *, seed: int = 0,
                 sigma: float = 1.0) -> dict[str, np.ndarray]:
    """The maps that know nothing of the model (:mod:`facexai.controlmaps`: random inside the
    face, the input |x|, a Sobel edge map), and the expression's own mask blurred by a Gaussian
    of ``sigma`` px (the positive control: a map that knows the answer)."""
    from .. import controlmaps
    from ..ratings import to_tensor

    labels = np.asarray(face, bool).astype(int)
    return {"mask, blurred (positive control)": controlmaps.blurred(np.asarray(masks, float),
                                                                    sigma),
            "random": controlmaps.random_map(labels, seed),
            "input |x|": controlmaps.input_magnitude(to_tensor(np.array(images))),
            "edge (Sobel)": controlmaps.edge_map(images)}


def accuracy_text(accuracy: pd.DataFrame, fits: Mapping[tuple[str, str], Sequence[BaseFit]],
                  fit_seconds: float, alpha: float = 0.05) -> str:
    """:func:`accuracy_table`'s rule in words: which sources and modes classify the expressions
    (the interval's lower end above chance), the negative control, and which stay on the ln 7
    plateau (the chosen epoch's training loss at least :data:`PLATEAU` of ln 7)."""
    models = accuracy.iloc[:-1]
    passing = list(models.index[models["above_chance"]])
    stuck = list(models.index[models["train_loss"] > PLATEAU * np.log(7)])
    n = sum(map(len, fits.values()))
    trained = sum(not f.from_cache for m in fits.values() for f in m)
    control = "passes (the rule is broken)" if accuracy["above_chance"].iloc[-1] else "fails"
    return (f"{n} models ({trained} trained in this run, {n - trained} loaded from the cache) in "
            f"{fit_seconds:.0f} s. Chance (the majority class of the test faces): "
            f"{accuracy.attrs['chance']:.3f}. **Rule, fixed beforehand:** a source and mode "
            f"classifies the expressions when the lower end of its {1 - alpha:.0%} interval over "
            f"seeds exceeds chance. It holds for {len(passing)} of {len(models)} "
            f"({', '.join(passing) or 'none'}); the negative control, the model chosen on "
            f"validation accuracy ({accuracy.attrs['best']}) scored against shuffled test labels, "
            f"{control}. Training loss at the chosen epoch at least {PLATEAU:.0%} of ln 7 = "
            f"{np.log(7):.2f} (the output barely depends on the face, even on the training "
            f"faces): {', '.join(stuck) or 'none'}.")


@dataclass
class AUScores:
    """The test people's expressive faces (:func:`twin_faces`, table ``shown``) rendered with
    their expression and with every Action Unit off (``pairs``, :class:`facexai.au_response.
    AUSwitch`), each model's maps of the expressed class (``maps``, :func:`expression_maps`) and
    every map's top-k IoU with the expression's mask (``iou``, with ``above chance``)."""

    people: list
    shown: pd.DataFrame
    pairs: Any
    maps: dict
    iou: pd.DataFrame

    @property
    def images(self) -> np.ndarray:
        return self.pairs.on[:, 0]

    @property
    def masks(self) -> np.ndarray:
        return self.pairs.masks[:, 0]

    @property
    def uniform(self) -> float:
        return float(self.iou.loc["face-uniform (chance)", "iou"])


def au_scores(kdef: ClassData, fits: Mapping[tuple[str, str], Sequence[BaseFit]], *,
              n_identities: int, seed: int, image_size: int, render_size: int,
              threshold: float, methods: Sequence[str], n_boot: int = 1000,
              alpha: float = 0.05) -> AUScores:
    """:class:`AUScores` of the test people of ``kdef`` (the twin of ``n_identities`` people and
    ``seed``): maps of every method, the first method's on the neutral faces too, and the
    :func:`control_maps`, scored by :func:`facexai.au_saliency.iou_table`; a map is ``above
    chance`` when its interval's lower end exceeds the face-uniform map's IoU."""
    from .. import au_response, au_saliency, views

    people = sorted(set(kdef.subjects[kdef.indices("test")]))
    faces, shown = twin_faces(n_identities, seed, subjects=people)
    pairs = au_response.expression_pairs(faces, views.kdef_view(image_size),
                                         render_size=render_size, threshold=threshold)
    maps = expression_maps(fits, pairs.on[:, 0], shown["label"], methods)
    neutral = expression_maps(fits, pairs.off, shown["label"], methods[:1])
    scored = {**{f"{k}: {m}": v for (k, m), v in maps.items()},
              **{f"{k}: {m} (neutral face)": v for (k, m), v in neutral.items()},
              **control_maps(pairs.on[:, 0], pairs.masks[:, 0], pairs.face, seed=seed)}
    iou = au_saliency.iou_table(scored, pairs.masks[:, 0], pairs.face, n_boot=n_boot,
                                level=1 - alpha, seed=seed)
    iou["above chance"] = iou["lo"] > iou.loc["face-uniform (chance)", "iou"]
    return AUScores(people, shown, pairs, maps, iou)


def au_text(scores: AUScores, alpha: float = 0.05) -> str:
    """The faces scored and the IoU rule in words."""
    face, masks = scores.pairs.face, scores.masks
    share = (masks & face).sum((1, 2)).mean() / face.sum((1, 2)).mean()
    return (f"{len(scores.shown)} faces of the {len(scores.people)} test people "
            f"({', '.join(scores.people)}); the mask covers {share:.0%} of the face on average. "
            f"**Rule, fixed beforehand:** a map finds the expression's pixels when the lower end "
            f"of its {1 - alpha:.0%} interval (over faces and seeds) exceeds the face-uniform "
            "map's IoU, and beats the model-free maps when it exceeds the best of their mean IoUs.")


def _first(accuracy: pd.DataFrame, scores: AUScores, method: str) -> pd.DataFrame:
    """The IoU rows of ``method``'s maps, one per source and mode (``accuracy``'s order)."""
    keys = list(accuracy.index[:-1])
    return scores.iou.loc[[f"{k}: {method}" for k in keys]].set_axis(keys)


def recorded(accuracy: pd.DataFrame, scores: AUScores, method: str) -> dict:
    """``{Result: value}``: per source and mode the test accuracy and ``method``'s IoU with their
    intervals (``.part(key + "_lo"/"_hi")``), chance and the face-uniform IoU."""
    first, out = _first(accuracy, scores, method), {}
    for k in first.index:
        for s, col in (("", None), ("_lo", "lo"), ("_hi", "hi")):
            out[R.KDEF_ACCURACY.part(k + s)] = float(accuracy.loc[k, col or "accuracy"])
            out[R.KDEF_IOU.part(k + s)] = float(first.loc[k, col or "iou"])
    out[R.KDEF_CHANCE] = float(accuracy.attrs["chance"])
    out[R.KDEF_IOU_UNIFORM] = scores.uniform
    return out


def measured_text(accuracy: pd.DataFrame, scores: AUScores, method: str) -> str:
    """What the IoU rule found: ``method``'s range over sources and modes, every model map above
    chance, the positive control, the random map, and the maps above the best model-free one."""
    iou, first = scores.iou, _first(accuracy, scores, method)
    above = [k for k in iou.index[:len(scores.maps)] if iou.loc[k, "above chance"]]
    control = iou.loc[list(CONTROL_MAPS), "iou"]
    beyond = [k for k in above if iou.loc[k, "lo"] > control.max()]
    positive = iou.loc["mask, blurred (positive control)"]
    word = {True: "above", False: "not above"}
    return (f"**Measured.** {method} maps of the expressed class reach a top-k IoU from "
            f"{first['iou'].min():.2f} to {first['iou'].max():.2f} over the {len(first)} sources "
            f"and modes, {int(first['above chance'].sum())} of {len(first)} above the "
            f"face-uniform {scores.uniform:.2f}. Of all {len(scores.maps)} maps of the expressed "
            f"class, above chance: {', '.join(above) or 'none'}. The positive control scores "
            f"{positive['iou']:.2f} ({word[bool(positive['above chance'])]} chance), the random "
            f"map {iou.loc['random', 'iou']:.2f} ({word[bool(iou.loc['random', 'above chance'])]}"
            f" chance). The best model-free map, {control.idxmax()}, scores {control.max():.2f}; "
            f"above it (lower end of the interval): {', '.join(beyond) or 'none'}.")
