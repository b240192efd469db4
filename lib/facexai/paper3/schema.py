"""Paper 3's settings and the parameter schemas of its notebooks.

The settings shared by the paper-3 notebooks, :class:`Paper3Settings`, give the notebooks'
schemas and ``load_data``'s and ``fit_or_load``'s defaults and validation; a profile (the
``&p3model`` anchor) may set any of them. Found by :func:`facexai.params.schema` by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ..params import Param, register
from ..settings import (BIAS_CONTROLS, CLUSTER_TEST, GROUP_COMPARISON, STRUCTURE_RULE,
                        RegressorSettings)
# the 40 attribute columns and their 20 bipolar pairs (numpy and pandas only; no torch)
from ..synth.attributes import ATTRIBUTE_COLUMNS, PAIRS

__all__ = ["DATA_SETTINGS", "MODEL_SETTINGS", "Paper3Settings", "data_settings", "model_settings",
           "seed_settings"]


@dataclass(frozen=True)
class Paper3Settings(RegressorSettings):
    """The paper-3 data and model settings: :class:`facexai.settings.RegressorSettings`, with the
    published book's defaults. The paper's own values (the ``paper`` profile): 224-px images, one
    VGG16 per attribute from ImageNet weights (width 64, no batch normalisation, dropout 0.5), at
    most 120 epochs with patience 10, batches of 40, Adam with learning rate and weight decay 5e-4,
    and the code's ``CosineAnnealingLR(T_max=200)``."""


#: Names of the data settings and of the model settings, in declaration order.
DATA_SETTINGS, MODEL_SETTINGS = Paper3Settings.names("data"), Paper3Settings.names("model")
#: ``data_settings(params)``, ``model_settings(params, **overrides)``: those settings among a
#: notebook's parameters (a run or a dict), :meth:`facexai.params.Settings.pick`.
data_settings = partial(Paper3Settings.pick, "data")
model_settings = partial(Paper3Settings.pick, "model")
#: ``seed_settings(params)``: ``{"n_seeds": ...}``, for :func:`facexai.paper3.fit_seeds`.
seed_settings = partial(Paper3Settings.pick, "seeds")


# -- the notebooks' schemas: the shared settings, then each section's own --------------------

register(
    "paper3_predictive",
    **Paper3Settings.params(),
    baselines=Param("str_list", "baselines fitted beside VGG16",
                    choices=("hist_svr", "lbp_svr", "hog_svr", "landmarks", "landmarks_exact")),
    landmark_noise=Param("float", "annotator jitter SD of the landmarks, in IODs", lo=0.0, hi=0.5),
    reliability_splits=Param("int", "rater splits of the noise ceilings", lo=1, hi=1000),
    progress=Param("bool", "show training progress bars"),
)

register(
    "paper3_explanations",
    **Paper3Settings.params(),
    attributes=Param("str_list", "attributes explained (the paper shows happy)",
                     choices=tuple(ATTRIBUTE_COLUMNS)),
    methods=Param("str_list", "explainers (the paper's code: guided_gradcam)",
                  choices=("gradcam", "guided_gradcam")),
    signs=Param("int_list", "directions explained: 1, why the rating is high; -1, why it is low",
                choices=(1, -1)),
    n_show=Param("int", "test faces shown per attribute", lo=1, hi=12),
    n_eval=Param("int", "test faces explained and scored", lo=2, hi=5000),
    n_boot=Param("int", "bootstrap resamples of the lift intervals", lo=10, hi=100_000),
    finer=Param("bool", "also score Grad-CAM one pooling stage finer (conv4_3)"),
)

register(
    "paper3_manifolds",
    **Paper3Settings.params(),
    pairs=Param("str_list", "bipolar pairs embedded, by their positive pole",
                choices=tuple(a for a, _ in PAIRS)),
    embeddings=Param("str_list", "embeddings (the paper: PCA, t-SNE, UMAP)",
                     choices=("pca", "tsne", "umap")),
    umap_neighbors=Param("int", "UMAP n_neighbors (the paper: 40)", lo=2, hi=500),
    umap_min_dist=Param("float", "UMAP min_dist (the paper: 0.1)", lo=0.0, hi=1.0),
    perplexity=Param("float", "t-SNE perplexity", lo=2.0, hi=200.0),
    **STRUCTURE_RULE,
    **CLUSTER_TEST,
    in_sample=Param("bool", "also show the original code's in-sample protocol, as a deviation"),
)

register(
    "paper3_bias",
    **Paper3Settings.params(),
    **GROUP_COMPARISON,
    **BIAS_CONTROLS,
    attributes_shown=Param("str_list", "attributes drawn in the figures",
                           choices=tuple(ATTRIBUTE_COLUMNS)),
)

register(
    "paper3_claims",
    min_fraction=Param("float", "share of the achievable ceiling for predictive power", lo=0.0,
                       hi=1.0),
    min_share=Param("float", "share of the attributes for 'the attributes'", lo=0.0, hi=1.0),
)
