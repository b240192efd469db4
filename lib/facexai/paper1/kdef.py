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
  :func:`facexai.au_response.kdef_view`;
* :func:`expression_maps` - each model's map of the expressed class, stacked over seeds for
  :func:`facexai.au_saliency.iou_table`; :func:`control_maps` - the model-free maps and the
  blurred mask (the positive control of the scoring rule).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..datasets import kdef as kdef_format
from ..stats import seed_interval
from .protocol import KDEF_ANGLES, BaseFit, ClassData, fit_kdef
from .schema import MODES, SOURCES

__all__ = ["EXPRESSIVE", "SOURCE_MODES", "accuracy_table", "chance_rate", "confusion",
           "control_maps", "describe_subset", "expression_maps", "fit_expressions", "twin_faces"]

#: Every (source, mode) trained: both modes from each base model, the whole network from scratch.
SOURCE_MODES = tuple((s, m) for s in SOURCES for m in (MODES if s != "scratch" else ("whole",)))
#: KDEF expression codes with Action Units (neutral has none: its mask is empty).
EXPRESSIVE = tuple(e for e in kdef_format.EXPRESSIONS if e != "NE")


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


def _twin_people(n_identities: int, seed: int) -> list[tuple[int, str]]:
    """The twin's people as :func:`facexai.datasets.kdef.write_twin` picks them: (SynthFace
    subject, KDEF subject ``F01``), alternately female and male."""
    from ..synth.factors import sample_identity

    people, counts, s = [], {"F": 0, "M": 0}, 0
    while len(people) < n_identities:
        sex = "FM"[len(people) % 2]
        while "FM"[sample_identity(seed, s).sex] != sex:
            s += 1
        counts[sex] += 1
        people.append((s, f"{sex}{counts[sex]:02d}"))
        s += 1
    return people


def twin_faces(n_identities: int, seed: int, *, subjects: Sequence[str] | None = None,
               expressions: Sequence[str] = EXPRESSIVE, angle: str = "S",
               nuisance_scale: float = 0.5) -> tuple[list, pd.DataFrame]:
    """The FaceParams of the KDEF twin's images (``n_identities`` people, twin ``seed``) of
    ``subjects`` (KDEF subjects such as ``"F01"``; None: all), ``expressions`` (codes) and
    ``angle``, drawn as :func:`facexai.datasets.kdef.write_twin` draws them (a test checks the
    rendering against the written twin). Returns the params and a table (``file``, ``subject``,
    ``series``, ``expression``, ``label``: the class index)."""
    codes = list(kdef_format.EXPRESSIONS)
    bad = sorted(set(expressions) - set(codes))
    if bad or angle not in kdef_format.ANGLES:
        raise ValueError(f"expressions must be KDEF codes {codes} and angle one of "
                         f"{kdef_format.ANGLES}, got {bad or expressions} and {angle!r}")
    from ..synth.dataset import nuisance_config
    from ..synth.generate import sample_face

    cfg, a = nuisance_config(nuisance_scale), kdef_format.ANGLES.index(angle)
    params, rows = [], []
    for k, (subject, name) in enumerate(_twin_people(n_identities, seed)):
        for b, series in enumerate("AB"):
            for e, ex in enumerate(codes):
                if (subjects is not None and name not in subjects) or ex not in expressions:
                    continue
                p = sample_face(seed, ((k * 2 + b) * 7 + e) * 5 + a, subject=subject,
                                emotion=kdef_format.EXPRESSIONS[ex][1], nuisance=cfg)
                params.append(replace(p, nuisance=replace(
                    p.nuisance, yaw=kdef_format._YAW[angle])))  # the twin's stand-in for angle
                rows.append({"file": f"KDEF/{series}{name}/{series}{name}{ex}{angle}.JPG",
                             "subject": name, "series": series, "expression": ex, "label": e})
    return params, pd.DataFrame(rows, columns=["file", "subject", "series", "expression", "label"])


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
