"""Paper 3 (Xiao 2024): VGG16 regressions of 40 psychological attributes of faces.

Modules: :mod:`.data` (the 10k targets or their twin, preprocessing, augmentation), :mod:`.train`
(the two training protocols and the checkpoint cache), :mod:`.metrics` (Pearson r per attribute,
noise ceilings, the comparison with the paper's table), :mod:`.baselines` (colour histogram, LBP,
HOG and landmark-geometry regressions); and, used as submodules, :mod:`.explain` (Grad-CAM),
:mod:`.manifold` (t-SNE/UMAP), :mod:`.bias` (accuracy by group), :mod:`.claims` (the Claims table).
"""
from __future__ import annotations

from .data import (AGE_GROUPS, ATTRIBUTES, IMAGENET_MEAN, IMAGENET_STD, SKIN_TONES, Paper3Data,
                   augment, load_data, read_raters, split_labels, to_tensor, twin_root)
from .train import (CAM_LAYER, DATA_SETTINGS, MODEL_SETTINGS, PROTOCOLS, Fitted, RatingNet,
                    StackedNets, cam_layer, data_settings, fit_or_load, load_checkpoint, model_settings,
                    pearson_columns, resolve_device, save_checkpoint)

from . import baselines, bias, claims, explain, manifold, metrics  # noqa: F401
from .baselines import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
