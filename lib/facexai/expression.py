"""An expression classifier whose evidence is known: the Methods chapter's network and its faces.

A zero-bias CNN (paper 2's architecture, :func:`facexai.models.zero_bias_cnn`, scaled by its
settings) is trained on balanced SynthFace emotion faces (:func:`facexai.groundtruth.emotion_faces`,
paper 2's input scaling :func:`facexai.models.khorrami_input`) with the study's one training loop
(:func:`facexai.training.fit`). :func:`scored_faces` picks the expressive test faces whose
explanations are scored against the pixels their expression changed
(:func:`facexai.groundtruth.expression_masks`).

::

    clf = train_classifier(**settings(run.params))
    show, scored = scored_faces(clf.test.labels, clf.pred_test, n_show=4, n_eval=60)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import cache as cachelib
from . import paths
from .groundtruth import EmotionFaces, emotion_faces, marker_faces
from .models import khorrami_input, zero_bias_cnn
from .synth.factors import EMOTIONS
from .training import fit, predict

__all__ = ["ExpressionClassifier", "SETTINGS", "class_averages", "scored_faces", "settings",
           "train_classifier", "train_seeds", "trained_network"]

#: The parameters :func:`train_classifier` takes (a notebook's names for them).
SETTINGS: tuple[str, ...] = ("seed", "image_size", "n_train", "n_test", "nuisance_scale", "workers",
                             "widths", "hidden", "init_scale", "epochs", "batch_size",
                             "learning_rate")

#: The emotions whose faces are shown first (happy, surprise, anger, disgust, fear, sadness,
#: contempt: CK+ codes), one correctly classified face each.
SHOW_ORDER: tuple[int, ...] = (5, 7, 1, 3, 4, 6, 2)


def settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that :func:`train_classifier` takes; a missing one is an error
    that names it."""
    missing = [k for k in SETTINGS if k not in params]
    if missing:
        raise KeyError(f"the expression classifier needs the parameter(s) {', '.join(missing)}")
    return {k: params[k] for k in SETTINGS}


@dataclass
class ExpressionClassifier:
    """A trained expression classifier with its faces, inputs, predictions and timings."""

    model: nn.Module
    train: EmotionFaces
    test: EmotionFaces
    x_train: torch.Tensor
    x_test: torch.Tensor
    losses: list[float]
    pred_train: np.ndarray
    pred_test: np.ndarray
    render_s: float
    train_s: float
    options: dict[str, Any]
    from_cache: bool = False

    @property
    def acc_train(self) -> float:
        return float((self.pred_train == self.train.labels).mean())

    @property
    def acc_test(self) -> float:
        return float((self.pred_test == self.test.labels).mean())

    def per_class_accuracy(self) -> pd.DataFrame:
        """Test accuracy per emotion, one column per emotion present."""
        acc = pd.Series(self.pred_test == self.test.labels).groupby(self.test.labels).mean()
        acc.index = [EMOTIONS[k] for k in acc.index]
        return acc.rename("test accuracy").to_frame().T

    def describe(self) -> str:
        """One paragraph: sizes, timings, accuracies against chance, final loss."""
        return (f"{len(self.train)} training and {len(self.test)} test faces of "
                f"{self.train.images.shape[1]} px rendered in {self.render_s:.1f} s. The "
                f"zero-bias CNN (filters {list(self.options['widths'])}, dense "
                f"{self.options['hidden']}) trained for {len(self.losses)} epochs in "
                f"**{self.train_s:.1f} s**{' (weights read back from the cache)' * self.from_cache}"
                f": "
                f"accuracy **{self.acc_train:.1%}** on the training faces and "
                f"**{self.acc_test:.1%}** on the unseen test faces (chance "
                f"{1 / len(EMOTIONS):.1%}); final training loss {self.losses[-1]:.3f}.")


def train_classifier(*, seed: int, image_size: int, n_train: int, n_test: int,
                     nuisance_scale: float = 1.0, workers: int = 1, widths: Sequence[int],
                     hidden: int, init_scale: float, epochs: int, batch_size: int,
                     learning_rate: float, task: str = "emotion",
                     cache: bool = True) -> ExpressionClassifier:
    """Render balanced training faces and unseen test faces (one identity per face), train a
    zero-bias CNN by SGD (momentum 0.9, weight decay 1e-5, paper 2's optimiser) and predict.

    ``task``: ``"emotion"`` (the eight CK+ classes, :func:`facexai.groundtruth.emotion_faces`) or
    an Action Unit such as ``"AU12"`` (two classes: the AU shown or not, every other AU independent
    of the label, :func:`facexai.groundtruth.marker_faces`; the benchmark's positive control).

    The trained weights are kept in ``<cache>/models`` under a key of these settings and the code
    that renders and trains (:mod:`facexai.cache`), so a second chapter on the same network reads
    them back instead of training again (``cache=False``: always train)."""
    t0 = time.perf_counter()
    make, n_classes = _task(task)
    train = make(n_train, seed, image_size, nuisance_scale=nuisance_scale, workers=workers)
    test = make(n_test, seed, image_size, start=n_train, nuisance_scale=nuisance_scale,
                workers=workers)
    x_train, x_test = khorrami_input(train.images), khorrami_input(test.images)
    render_s = time.perf_counter() - t0

    options = dict(widths=list(widths), hidden=hidden, init_scale=init_scale, epochs=epochs,
                   learning_rate=learning_rate)
    target = _weights(_key_settings(dict(options, seed=seed, image_size=image_size,
                                         n_train=n_train, n_test=n_test,
                                         nuisance_scale=nuisance_scale, batch_size=batch_size),
                                    task))
    torch.manual_seed(seed)
    model = zero_bias_cnn(n_classes, input_size=image_size, widths=widths, hidden=hidden,
                          init_scale=init_scale)
    found = cache and target.is_file()
    if found:
        state = cachelib.load_torch(target)
        model.load_state_dict(state["model"])
        losses, train_s = [float(v) for v in state["losses"]], float(state["train_s"])
    else:
        t0 = time.perf_counter()
        history = fit(model, x_train, torch.as_tensor(train.labels), loss="cross_entropy",
                      optimizer="sgd", lr=learning_rate, momentum=0.9, weight_decay=1e-5,
                      epochs=epochs, batch_size=batch_size, seed=seed).history
        losses, train_s = history["train_loss"].tolist(), time.perf_counter() - t0
    clf = ExpressionClassifier(
        model, train, test, x_train, x_test, losses,
        predict(model, x_train).argmax(1).numpy(), predict(model, x_test).argmax(1).numpy(),
        render_s, train_s, options, from_cache=found)
    if cache and not found:     # with its accuracies, which train_seeds reads back
        cachelib.save_torch({"model": model.state_dict(), "losses": losses, "train_s": train_s,
                             "acc_train": clf.acc_train, "acc_test": clf.acc_test}, target)
    return clf


def _seed_row(seed: int, losses, train_s: float, acc_train: float, acc_test: float,
              from_cache: bool) -> dict:
    return {"seed": seed, "epochs": len(losses), "final loss": float(losses[-1]),
            "train accuracy": float(acc_train), "test accuracy": float(acc_test),
            "training s": float(train_s), "from cache": bool(from_cache)}


def _train_row(settings: dict, one_thread: bool = False) -> dict:
    """Train (and cache) one seed of :func:`train_classifier` (``one_thread``: on one CPU
    thread, in a worker process): its row of :func:`train_seeds`."""
    if one_thread:
        torch.set_num_threads(1)
    clf = train_classifier(**settings)
    return _seed_row(settings["seed"], clf.losses, clf.train_s, clf.acc_train, clf.acc_test,
                     clf.from_cache)


def train_seeds(settings: Mapping[str, Any], n_seeds: int, *, processes: int = 1) -> pd.DataFrame:
    """:func:`train_classifier` at the training seeds ``seed, seed + 1, ...`` (``n_seeds`` of
    them; ``settings`` as :func:`settings` gives them): one row per seed with its epochs, final
    loss, accuracies, training seconds and whether the weights were read back.

    Weights already in the cache are read back without rendering a face. The seeds missing are
    trained and cached, so that other chapters (the Benchmark's) read them back; with
    ``processes > 1`` side by side in that many fresh processes of one CPU thread each (even a
    single missing seed, as :func:`facexai.regressors.fit_seeds` does)."""
    from .compute import count, spawned_map

    n_seeds, processes = count("n_seeds", n_seeds), count("processes", processes)
    base = {k: settings[k] for k in SETTINGS}
    seeds = [int(base["seed"]) + k for k in range(n_seeds)]
    rows, missing = {}, []
    for s in seeds:
        target = _weights(_key_settings(dict(base, seed=s)))
        state = cachelib.load_torch(target) if target.is_file() else None
        if state is not None and "acc_test" in state:
            rows[s] = _seed_row(s, state["losses"], state["train_s"], state["acc_train"],
                                state["acc_test"], True)
        else:
            missing.append(s)
    if processes > 1 and missing:     # even one: a network never depends on which were cached
        jobs = [dict(base, seed=s, workers=1) for s in missing]
        rows.update(zip(missing, spawned_map(partial(_train_row, one_thread=True), jobs,
                                             processes)))
    else:
        rows.update((s, _train_row(dict(base, seed=s))) for s in missing)
    return pd.DataFrame([rows[s] for s in seeds])


def _key_settings(settings: Mapping[str, Any], task: str = "emotion") -> dict:
    """The settings that name a network's weights (:func:`_weights`): the training settings
    without ``workers`` (the faces do not depend on how many processes render them)."""
    out = {k: settings[k] for k in ("widths", "hidden", "init_scale", "epochs", "learning_rate",
                                    "seed", "image_size", "n_train", "n_test", "nuisance_scale",
                                    "batch_size")}
    return dict(out, widths=list(out["widths"]), task=task)


def _task(task: str):
    """The face maker and number of classes of ``task``."""
    if task == "emotion":
        return emotion_faces, len(EMOTIONS)
    if isinstance(task, str) and task.startswith("AU"):
        return partial(marker_faces, marker=task), 2
    raise ValueError(f"task must be 'emotion' or an Action Unit such as 'AU12', got {task!r}")


def _weights(settings: dict):
    """Where :func:`train_classifier` keeps the weights trained with ``settings``."""
    code = cachelib.code_fingerprint("expression.py", "groundtruth.py", "models.py",
                                     "training.py", "synth/*.py")
    return paths.models_cache() / f"expression-{cachelib.key(settings, code=code)}.pt"


def trained_network(*, seed: int, image_size: int, n_train: int, n_test: int,
                    nuisance_scale: float = 1.0, workers: int = 1, widths: Sequence[int],
                    hidden: int, init_scale: float, epochs: int, batch_size: int,
                    learning_rate: float, task: str = "emotion") -> tuple[nn.Module, EmotionFaces]:
    """The network of :func:`train_classifier` (its cached weights read back without rendering
    the training faces; trained when there are none) and its test faces."""
    make, n_classes = _task(task)
    target = _weights(_key_settings(dict(
        widths=widths, hidden=hidden, init_scale=init_scale, epochs=epochs,
        learning_rate=learning_rate, seed=seed, image_size=image_size, n_train=n_train,
        n_test=n_test, nuisance_scale=nuisance_scale, batch_size=batch_size), task))
    if not target.is_file():
        clf = train_classifier(seed=seed, image_size=image_size, n_train=n_train, n_test=n_test,
                               nuisance_scale=nuisance_scale, workers=workers, widths=widths,
                               hidden=hidden, init_scale=init_scale, epochs=epochs,
                               batch_size=batch_size, learning_rate=learning_rate, task=task)
        return clf.model.eval(), clf.test
    model = zero_bias_cnn(n_classes, input_size=image_size, widths=widths, hidden=hidden,
                          init_scale=init_scale)
    model.load_state_dict(cachelib.load_torch(target)["model"])
    test = make(n_test, seed, image_size, start=n_train, nuisance_scale=nuisance_scale,
                workers=workers)
    return model.eval(), test


def scored_faces(labels, predicted, *, n_show: int, n_eval: int,
                 order: Sequence[int] = SHOW_ORDER) -> tuple[list[int], list[int]]:
    """The faces to show and the faces to score, as indices into ``labels``.

    ``show``: one face of each emotion in ``order`` (a correctly classified one where there is
    one), the first ``n_show``. ``scored``: ``show`` followed by the other expressive faces (not
    neutral: a neutral face has no expression to find), ``max(n_eval, len(show))`` in all.
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    show = []
    for e in order:
        right = np.flatnonzero((labels == e) & (predicted == e))
        present = np.flatnonzero(labels == e)
        if len(right) or len(present):
            show.append(int(right[0]) if len(right) else int(present[0]))
    show = show[:n_show]
    scored = list(dict.fromkeys(show + np.flatnonzero(labels > 0).tolist()))
    return show, scored[:max(n_eval, len(show))]


def class_averages(model: nn.Module, faces: EmotionFaces, x: torch.Tensor, classes: Sequence[int],
                   methods: Sequence[str]) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Per class, the mean face and each method's mean heatmap (explaining that class) over all
    faces of the class, every face warped onto the mean landmark template of ``faces`` first
    (:func:`facexai.regions.average_heatmap`)."""
    from .explain import explain, relevance_map
    from .regions import average_heatmap, mean_template

    template = mean_template(faces.landmarks)
    mean_faces, maps = [], {m: [] for m in methods}
    for e in classes:
        members = np.flatnonzero(faces.labels == e)
        marks = faces.landmarks[members]
        mean_faces.append(average_heatmap(faces.images[members], marks, template,
                                          normalize=False)[0])
        for m in methods:
            r = relevance_map(explain(model, x[members], int(e), m))
            maps[m].append(average_heatmap(r, marks, template)[0])
    return mean_faces, maps
