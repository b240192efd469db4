"""The settings the papers share, declared once: the attribute data, a VGG16 rating regressor, and
the parameters of the study's analyses.

:class:`RegressorSettings` (a :class:`facexai.params.Settings`) declares the **data settings** (tag
``"data"``: the 10k US Adult Faces database or its synthetic twin, :func:`facexai.ratings.load`)
and the **model settings** (tag ``"model"``: a VGG16 rating regressor, :func:`facexai.models.vgg16`
trained by :func:`facexai.regressors.fit_or_load`), each with its :class:`facexai.params.Param` and
the published book's default (sized for a CPU). A paper subclasses it (adding fields, or
redeclaring one with another default) and registers its notebooks' schemas with
``**PaperSettings.params()``; the paper's own values are its ``paper`` profile's
(``params/paper.yml``).

:data:`STRUCTURE_RULE` and :data:`GROUP_COMPARISON` are the parameters of two analyses of the
core (:func:`facexai.manifold.separation_test`'s rule, :func:`facexai.groups.compare_groups`), for
a notebook's schema (``register(name, **STRUCTURE_RULE, ...)``).

This module imports no torch: the schema modules read it before anything runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from .params import Param, Settings, setting

__all__ = ["BIAS_CONTROLS", "CLUSTER_TEST", "GROUP_COMPARISON", "PROTOCOLS", "STRUCTURE_RULE",
           "RegressorSettings"]

#: The training protocols of :mod:`facexai.regressors`.
PROTOCOLS = ("multi", "per_attribute")


@dataclass(frozen=True)
class RegressorSettings(Settings):
    """The data settings (tag ``"data"``) and the model settings (``"model"``) of an attribute
    regression, with the published book's defaults; validated on creation."""

    seed: int = setting(0, Param(
        "int", "seed of the synthetic twin, the initialisation, batches and augmentation (the "
        "first training seed)", lo=0), "data", "model")
    n_seeds: int = setting(3, Param(
        "int", "training seeds (seed, seed + 1, ...): every model number is reported with its "
        "interval over them", lo=1, hi=20), "seeds")
    data_dir: str | None = setting(None, Param(
        "path", "folder of the real 10k US Adult Faces database (or a data folder holding it; "
        "relative paths: under $FACEXAI_DATA); None writes and loads its synthetic twin",
        optional=True), "data")
    n_targets: int = setting(2222, Param(
        "int", "targets of the synthetic twin (the database has 2,222)", lo=10, hi=2222), "data")
    render_size: int = setting(128, Param(
        "int", "SynthFace rendering size of the twin's faces", lo=48, hi=512), "data")
    workers: int = setting(2, Param("int", "processes used to render the twin", lo=1, hi=64),
                           "data")
    proxies: float = setting(1.0, Param(
        "float", "how strongly the twin's hair length and stubble follow sex: 1 as in a real "
        "population, 0 independent of sex (explanations scored without a proxy)", lo=0.0, hi=1.0),
        "data")
    image_size: int = setting(64, Param(
        "int", "size the faces are loaded and modelled at", lo=32, hi=512),
        "data", "model")
    protocol: str = setting("multi", Param(
        "choice", "one model with an output per attribute ('multi'), or one model per "
        "attribute ('per_attribute'; see facexai.regressors)",
        choices=PROTOCOLS), "model")
    weights: str = setting("none", Param(
        "str", "VGG16 initial weights: 'none', 'imagenet' (torchvision download, needs width 64) "
        "or a state_dict file"), "model")
    width: int = setting(4, Param(
        "int", "channels of VGG16's first block (64 = torchvision's; others scale every layer "
        "alike)", lo=1, hi=256), "model")
    batch_norm: bool = setting(True, Param(
        "bool", "batch normalisation after each convolution (torchvision's vgg16_bn structure)"),
        "model")
    dropout: float = setting(0.0, Param(
        "float", "dropout of VGG16's two hidden dense layers (torchvision: 0.5)", lo=0.0, hi=0.95),
        "model")
    epochs: int = setting(80, Param("int", "maximum training epochs",
                                    lo=1, hi=1000), "model")
    batch_size: int = setting(64, Param("int", "training batch size",
                                        lo=2, hi=4096), "model")
    lr: float = setting(0.001, Param("float", "learning rate",
                                      lo=1e-7, hi=1.0), "model")
    weight_decay: float = setting(0.0005, Param("float", "weight decay",
                                                lo=0.0, hi=1.0), "model")
    patience: int = setting(15, Param(
        "int", "early stopping: epochs without a better validation r",
        lo=1, hi=1000), "model")
    augment: bool = setting(True, Param(
        "bool", "random horizontal flips and rotations up to 10 degrees in training"), "model")
    scheduler: str = setting("none", Param(
        "choice", "'cosine': CosineAnnealingLR stepped per epoch; 'none'",
        choices=("none", "cosine")), "model")


#: The rule for "cluster structure" (:func:`facexai.manifold.separation_test`), as parameters.
STRUCTURE_RULE = dict(
    knn_k=Param("int", "neighbours of the leave-one-out vote of the structure rule", lo=1, hi=200),
    n_permutations=Param("int", "label permutations of the structure test", lo=10, hi=100_000),
    alpha=Param("float", "significance level of the structure test", lo=1e-6, hi=0.5),
    min_gain=Param("float", "balanced accuracy above the permutation mean needed for 'structure'",
                   lo=0.0, hi=0.5),
)
#: The cluster test of antonym pairs (:mod:`facexai.clusters`), as parameters.
CLUSTER_TEST = dict(
    n_null=Param("int", "Gaussian clouds of the cluster test's null", lo=10, hi=100_000),
    min_class=Param("int", "smallest class of a testable pair", lo=1, hi=1000),
    separation=Param("float", "positive control: SDs between its two clusters", lo=0.5, hi=20.0),
)
#: The power requirement and the positive control of the group-gap tests
#: (:mod:`facexai.group_tests`), as parameters.
BIAS_CONTROLS = dict(
    max_detectable=Param("float", "'no gap' only where a test detects this r gap (80 % power)",
                         lo=0.01, hi=2.0),
    bias_shift=Param("float", "positive control: SDs added to one group's ratings", lo=0.0,
                     hi=10.0),
    n_biased=Param("int", "positive control: attributes shifted", lo=1, hi=40),
)
#: Accuracy by demographic group (:func:`facexai.groups.compare_groups`), as parameters.
GROUP_COMPARISON = dict(
    group_by=Param("str_list", "demographic variables compared",
                   choices=("sex", "age_group", "skin_tone")),
    n_boot=Param("int", "bootstrap resamples of the group intervals", lo=10, hi=100_000),
    n_permutations=Param("int", "permutations of the group-gap tests", lo=10, hi=100_000),
    min_group=Param("int", "smallest group reported", lo=2, hi=10_000),
    alpha=Param("float", "false discovery rate of the group-gap tests", lo=1e-6, hi=0.5),
)
