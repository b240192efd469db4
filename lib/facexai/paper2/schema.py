"""Paper 2's settings and the parameter schemas of its notebooks.

:class:`Paper2Settings` declares the data settings (tag ``"data"``: the CK+ and TFD twins or the
real copies) and the model settings (tag ``"model"``: the zero-bias CNN and its iteration-based
SGD) shared by the paper-2 notebooks, with the published book's defaults (sized for a CPU). The
paper's own values are those of the ``paper`` profile. Found by :func:`facexai.params.schema`
by name; imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ..params import Param, Settings, register, setting

__all__ = ["DATA_SETTINGS", "MODEL_SETTINGS", "VARIANT_NAMES", "Paper2Settings", "data_settings",
           "model_settings"]

#: The four networks of the code: plain, augmentation (a), dropout (d), both.
VARIANT_NAMES = ("cnn", "cnn_a", "cnn_d", "cnn_ad")


@dataclass(frozen=True)
class Paper2Settings(Settings):
    """The paper-2 data and model settings, validated on creation. The code's values (the
    ``paper`` profile): the real CK+ (118 labelled subjects) and TFD, 96-px inputs, filters
    64/128/256, a dense layer of 300, 31,000 iterations of batches of 64, a checkpoint every
    1,000, SGD with momentum 0.9, learning rate 0.01, weight decay 1e-5."""

    seed: int = setting(0, Param(
        "int", "seed of the twins, the initialisation (k ~ U(0.2, 1.2) and the weights), the "
        "minibatch draws, augmentation and dropout", lo=0), "data", "model")
    data_dir: str | None = setting(None, Param(
        "path", "data folder holding the real CK+/ and TFD/ (relative paths: under "
        "$FACEXAI_DATA); None writes and loads their synthetic twins", optional=True), "data")
    ckplus_subjects: int = setting(118, Param(
        "int", "subjects of the CK+ twin (real CK+: 118 with an emotion label)", lo=10, hi=1000),
        "data")
    ckplus_sequences: int = setting(4, Param(
        "int", "sequences per subject of the CK+ twin (every third unlabelled, as 266 of the 593 "
        "real ones)", lo=1, hi=20), "data")
    ckplus_frames: int = setting(5, Param(
        "int", "frames per sequence of the CK+ twin (real: 10 to 60)", lo=4, hi=60), "data")
    render_size: int = setting(96, Param(
        "int", "SynthFace rendering size of the CK+ twin's faces", lo=48, hi=512), "data")
    tfd_labelled: int = setting(700, Param(
        "int", "labelled faces of the TFD twin (real TFD: 4,178)", lo=35, hi=20_000), "data")
    workers: int = setting(2, Param("int", "processes rendering the twins and training the "
                                    "folds' networks", lo=1, hi=64), "data")
    image_size: int = setting(48, Param(
        "int", "side of the network input: the 96-px crops resized (the code: 96)", lo=16, hi=96),
        "data", "model")
    widths: tuple = setting((8, 16, 32), Param(
        "int_list", "filters of conv1-3 (the code: 64, 128, 256)", lo=1, hi=1024), "model")
    hidden: int = setting(100, Param("int", "units of the dense layer fc4 (the code: 300)",
                                     lo=1, hi=4096), "model")
    iterations: int = setting(300, Param(
        "int", "SGD iterations (the code: 31,000)", lo=1, hi=1_000_000), "model")
    eval_every: int = setting(20, Param(
        "int", "iterations between checkpoints, each evaluated on the validation and test folds "
        "(the code: 1,000)", lo=1, hi=100_000), "model")
    batch_size: int = setting(64, Param(
        "int", "minibatch size, drawn uniformly with replacement (the code: 64)", lo=2, hi=4096),
        "model")
    lr: float = setting(0.01, Param("float", "learning rate (the code: 0.01)", lo=1e-6, hi=1.0),
                        "model")
    momentum: float = setting(0.9, Param("float", "momentum (the code: 0.9)", lo=0.0, hi=0.999),
                              "model")
    weight_decay: float = setting(1e-5, Param("float", "weight decay (the code: 1e-5)",
                                              lo=0.0, hi=1.0), "model")
    normer_power: float = setting(0.0, Param(
        "float", "Normer3's division by the local variance to this power: 0 as the code runs "
        "(Python 2: 1/2 == 0), 0.5 as it is written", lo=0.0, hi=1.0), "model")
    fc4_batch_fan_in: bool = setting(True, Param(
        "bool", "fc4's initial std is k / sqrt(fan-in x batch), as the code computes it from "
        "pool3's output shape (False: k / sqrt(fan-in))"), "model")


#: Names of the data settings and of the model settings, in declaration order.
DATA_SETTINGS, MODEL_SETTINGS = Paper2Settings.names("data"), Paper2Settings.names("model")
#: ``data_settings(params)``, ``model_settings(params, **overrides)``: those settings among a
#: notebook's parameters (a run or a dict), :meth:`facexai.params.Settings.pick`.
data_settings = partial(Paper2Settings.pick, "data")
model_settings = partial(Paper2Settings.pick, "model")


# -- the notebooks' schemas: the shared settings, then each section's own --------------------

register(
    "paper2_accuracy",
    **Paper2Settings.params(),
    variants=Param("str_list", "networks trained (a: augmentation, d: dropout)",
                   choices=VARIANT_NAMES),
    main_variant=Param("choice", "the network trained on every fold of every data set",
                       choices=VARIANT_NAMES),
    variant_folds=Param("int", "CK+ folds (0, 1, ...) the other variants are trained on",
                        lo=1, hi=10),
    six_class_folds=Param("int", "CK+ folds of the six-class experiment (the main variant; 0: "
                          "not run)", lo=0, hi=10),
    tfd=Param("bool", "also TFD (the main variant, its 5 official folds)"),
)

# -- sections 2-4: filters, Action Units, the FER2013 network ----------------------------------
_FILTER_NET = dict(
    variant=Param("choice", "the network looked into (trained on the CK+ fold below)",
                  choices=VARIANT_NAMES),
    fold=Param("int", "the CK+ fold whose network is looked into", lo=0, hi=9),
    layers=Param("str_list", "the zero-bias CNN's layers looked into",
                 choices=("relu1", "relu2", "relu3")))
_SWITCH = dict(
    n_faces=Param("int", "SynthFace faces each Action Unit is switched on in", lo=3, hi=2000),
    cf_render_size=Param("int", "rendering size of the counterfactual faces", lo=48, hi=512),
    au_value=Param("float", "intensity of a switched-on Action Unit", lo=0.05, hi=1.0),
    mask_threshold=Param("float", "change (share of the intensity range) above which a pixel is "
                         "in an AU's mask", lo=0.0, hi=0.5),
    n_permutations=Param("int", "sign flips / label permutations of the tests", lo=10,
                         hi=100_000),
    n_boot=Param("int", "bootstrap resamples of the intervals", lo=10, hi=100_000),
    alpha=Param("float", "family-wise (and false-discovery) level", lo=0.001, hi=0.5))
register("paper2_filters", **Paper2Settings.params(), **_FILTER_NET,
         n_shown=Param("int", "filters shown per layer", lo=1, hi=64),
         top_k=Param("int", "top activating patches per filter", lo=1, hi=64),
         projection=Param("choice", "projection of the maximal unit to pixel space",
                          choices=("deconvnet", "guided_backprop")))
register("paper2_aus", **Paper2Settings.params(), **_FILTER_NET, **_SWITCH,
         early_iteration=Param("int", "an early checkpoint also tested (0: none)", lo=0,
                               hi=1_000_000))
register("paper2_fer", **_SWITCH,
         seed=Param("int", "seed of the faces and of the tests", lo=0),
         fer_layers=Param("str_list", "the mini-Xception's layers looked into",
                          choices=("stem.2", "stem.5", "blocks.0", "blocks.1", "blocks.2",
                                   "blocks.3")),
         faces_per_class=Param("int", "expressive faces per FER class explained", lo=1, hi=500),
         methods=Param("str_list", "explainers scored against the AU masks",
                       choices=("gradient", "gradcam", "lrp_epsilon_plus_flat", "lrp_epsilon",
                                "guided_backprop", "integrated_gradients")))

register(
    "paper2_claims",
    min_accuracy=Param("float", "accuracy the lower end of the interval over folds must reach",
                       lo=0.0, hi=1.0),
    min_gain=Param("float", "accuracy gain of test-fold selection above which it is optimistic",
                   lo=-1.0, hi=1.0),
    min_excess=Param("float", "share of the filters by which the trained network must exceed "
                     "the untrained one in AU-pattern filters", lo=0.0, hi=1.0),
    min_share=Param("float", "share of the channels associated with an AU label", lo=0.0, hi=1.0),
)
