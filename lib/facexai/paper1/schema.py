"""Paper 1's settings and the parameter schemas of its notebooks.

:class:`Paper1Settings` declares the data settings (tag ``"data"``: the UTKFace, 10k and KDEF
twins or the real copies), the network (``"model"``: Levi & Hassner's age / gender network) and
its training (``"model"`` too), with the published book's defaults (sized for a CPU). What the
paper did is NOT FOUND beyond its abstract: every value here is a stated choice, and the
``paper`` profile holds the full-size network. Found by :func:`facexai.params.schema` by name;
imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ..params import Param, Settings, register, setting
from ..synth.attributes import ATTRIBUTE_COLUMNS

__all__ = ["DATA_SETTINGS", "MODEL_SETTINGS", "MODES", "Paper1Settings", "SOURCES", "TASKS",
           "data_settings", "model_settings", "seed_settings"]

#: Base tasks: name -> (UTKFace label column, outputs). Age: the 8 Adience groups.
TASKS = {"age": ("age_group", 8), "gender": ("gender", 2)}
#: Where a transferred model starts: a base model, or random weights (the control).
SOURCES = ("age", "gender", "scratch")
#: Retraining modes (the review: "the dense layer and the entire network").
MODES = ("dense", "whole")


@dataclass(frozen=True)
class Paper1Settings(Settings):
    """The paper-1 data, network and training settings, validated on creation. The ``paper``
    profile: the real UTKFace, 10k and KDEF, 227-px inputs, Levi & Hassner's widths 96/256/384,
    dense layers of 512 and the two local response normalisations."""

    seed: int = setting(0, Param(
        "int", "seed of the twins, the initialisation, batches and dropout (the first training "
        "seed)", lo=0), "data", "model")
    n_seeds: int = setting(3, Param(
        "int", "training seeds (seed, seed + 1, ...) of the base and the transferred models",
        lo=1, hi=20), "seeds")
    data_dir: str | None = setting(None, Param(
        "path", "data folder holding the real UTKFace/, 10k US Adult Faces Database/ and KDEF/ "
        "(relative paths: under $FACEXAI_DATA); None writes and loads their synthetic twins",
        optional=True), "data")
    utkface_images: int = setting(2000, Param(
        "int", "faces of the UTKFace twin (real UTKFace: 23,708)", lo=20, hi=30_000), "data")
    n_targets: int = setting(2222, Param(
        "int", "targets of the 10k twin (the paper: 2,222)", lo=10, hi=2222), "data")
    kdef_identities: int = setting(20, Param(
        "int", "people of the KDEF twin (real KDEF: 70)", lo=4, hi=70), "data")
    render_size: int = setting(128, Param(
        "int", "SynthFace rendering size of the twins", lo=48, hi=512), "data")
    proxies: float = setting(1.0, Param(
        "float", "how strongly the 10k twin's hair length and stubble follow sex (1 realistic)",
        lo=0.0, hi=1.0), "data")
    workers: int = setting(2, Param("int", "processes rendering the twins", lo=1, hi=64), "data")
    image_size: int = setting(64, Param(
        "int", "side of the network input (Levi & Hassner: 227)", lo=32, hi=512), "data", "model")
    widths: tuple = setting((24, 64, 96), Param(
        "int_list", "filters of conv1-3 (Levi & Hassner: 96, 256, 384)", lo=1, hi=1024), "model")
    hidden: int = setting(128, Param("int", "units of fc6 and fc7 (Levi & Hassner: 512)",
                                     lo=1, hi=4096), "model")
    stride: int = setting(4, Param("int", "stride of conv1 (Levi & Hassner: 4)", lo=1, hi=4),
                          "model")
    lrn: bool = setting(False, Param(
        "bool", "the two local response normalisations (Levi & Hassner: yes; 40 % of the CPU "
        "time at 64 px)"), "model")
    dropout: float = setting(0.5, Param("float", "dropout after fc6 and fc7 (Levi & Hassner: 0.5)",
                                        lo=0.0, hi=0.95), "model")
    epochs: int = setting(150, Param("int", "maximum training epochs", lo=1, hi=1000), "model")
    batch_size: int = setting(32, Param("int", "batch size (Levi & Hassner: 50)", lo=2,
                                        hi=4096), "model")
    lr: float = setting(0.001, Param("float", "Adam learning rate", lo=1e-7, hi=1.0), "model")
    weight_decay: float = setting(0.0005, Param("float", "weight decay (Levi & Hassner: 5e-4)",
                                                lo=0.0, hi=1.0), "model")
    patience: int = setting(10, Param(
        "int", "early stopping: epochs without a better validation score", lo=1, hi=1000),
        "model")
    warmup: int = setting(5, Param(
        "int", "whole-network transfer and scratch: epochs in which only the new output layer "
        "trains before every layer does (0: none; NOT FOUND in the paper)", lo=0, hi=100),
        "model")


#: Names of the data settings and of the model settings, in declaration order.
DATA_SETTINGS, MODEL_SETTINGS = Paper1Settings.names("data"), Paper1Settings.names("model")
#: ``data_settings(params)``, ``model_settings(params)``, ``seed_settings(params)``: those
#: settings among a notebook's parameters (a run or a dict), :meth:`Settings.pick`.
data_settings = partial(Paper1Settings.pick, "data")
model_settings = partial(Paper1Settings.pick, "model")
seed_settings = partial(Paper1Settings.pick, "seeds")

_SCORING = dict(
    n_eval=Param("int", "test faces explained and scored", lo=2, hi=5000),
    n_boot=Param("int", "bootstrap resamples of the intervals", lo=10, hi=100_000),
    alpha=Param("float", "family-wise level of the corrected intervals", lo=0.001, hi=0.5))

# -- the notebooks' schemas: the shared settings, then each section's own --------------------
register("paper1_base", **Paper1Settings.params())
register("paper1_transfer", **Paper1Settings.params(),
         reliability_splits=Param("int", "rater splits of the noise ceilings", lo=1, hi=1000))
register("paper1_heatmaps", **Paper1Settings.params(), **_SCORING,
         attributes=Param("str_list", "attributes explained", choices=tuple(ATTRIBUTE_COLUMNS)),
         methods=Param("str_list", "LRP composites (the 2016 toolbox: epsilon on dense layers, "
                       "alpha2-beta1 on convolutions)",
                       choices=("lrp_alpha2beta1", "lrp_alpha1beta0", "lrp_epsilon",
                                "lrp_epsilon_plus_flat", "lrp_zplus", "gradient")),
         n_show=Param("int", "test faces shown", lo=1, hi=12))
register("paper1_richness", **Paper1Settings.params(),
         n_boot=Param("int", "bootstrap resamples of the intervals", lo=10, hi=100_000),
         probe_threshold=Param("float", "test R² from which a linear probe recovers a generator "
                               "factor", lo=0.0, hi=1.0),
         n_eval=Param("int", "test faces whose base-model relevance is measured", lo=2, hi=5000),
         method=Param("choice", "LRP composite of the aptitude and spread measures",
                      choices=("lrp_alpha2beta1", "lrp_epsilon_plus_flat")))
register("paper1_kdef", **Paper1Settings.params(),
         kdef_epochs=Param("int", "maximum training epochs on KDEF", lo=1, hi=1000),
         kdef_batch_size=Param("int", "batch size on KDEF (an epoch of the twin's training "
                               "faces is only a few batches)", lo=2, hi=4096),
         kdef_patience=Param("int", "early stopping on KDEF: epochs without a better validation "
                             "accuracy", lo=1, hi=1000),
         kdef_lr=Param("float", "Adam learning rate on KDEF", lo=1e-7, hi=1.0),
         n_boot=Param("int", "bootstrap resamples of the intervals", lo=10, hi=100_000),
         alpha=Param("float", "1 - level of the intervals (over seeds; over seeds and faces)",
                     lo=0.001, hi=0.5),
         methods=Param("str_list", "explainers scored against the Action-Unit masks",
                       choices=("lrp_alpha2beta1", "lrp_epsilon_plus_flat", "gradient")),
         mask_threshold=Param("float", "change (share of the intensity range) above which a pixel "
                              "is in an expression's mask", lo=0.0, hi=0.5),
         cf_render_size=Param("int", "rendering size of the counterfactual faces (the twin's: "
                              "render_size)", lo=48, hi=512))
register("paper1_claims",
         min_share=Param("float", "share of the attributes a claim must hold for", lo=0.0,
                         hi=1.0),
         alpha=Param("float", "false-discovery level of the per-attribute tests", lo=0.001,
                     hi=0.5))
