"""The parameter schema of every chapter notebook, by notebook name (file stem in ``notebooks/``).

One place for sweeps, the build and the notebooks themselves to learn what a notebook accepts.
"""
from __future__ import annotations

from .params import Param, register
from .synth.attributes import ATTRIBUTE_COLUMNS

#: The settings of a SynthFace population (:func:`facexai.synth.dataset.synth_faces`), shared by
#: the chapter that shows it and its datasheet.
POPULATION = dict(
    seed=Param("int", "seed of the synthetic dataset (identity, expression, nuisance, raters)", lo=0),
    n_faces=Param("int", "faces generated and rated for the population statistics", lo=40, hi=200_000),
    image_size=Param("int", "rendered image size in pixels", lo=48, hi=256),
    n_raters=Param("int", "simulated raters per attribute (the 10k database has 15)", lo=2, hi=100),
    nuisance_scale=Param("float", "multiplier of every nuisance amplitude (0 = none, 1 = mild)",
                         lo=0.0, hi=4.0),
    proxies=Param("float", "how strongly hair length and stubble follow sex: 1 as in a real "
                  "population, 0 independent of sex", lo=0.0, hi=1.0),
    workers=Param("int", "processes used to render the dataset", lo=1, hi=64),
)

register(
    "data_synthetic",
    **POPULATION,
    reliability_splits=Param("int", "random rater splits averaged in the split-half reliability",
                             lo=1, hi=1000),
)

register(
    "data_truth",
    **POPULATION,
    truth_faces=Param("int", "faces on which the derived factor masks are compared with the "
                      "hand-written region tables", lo=1, hi=500),
    truth_attributes=Param("str_list", "attributes whose derived ground truth is shown",
                           choices=ATTRIBUTE_COLUMNS),
)

register("data_datasheet", **POPULATION)

register(
    "data_realism",
    seed=Param("int", "seed of the SynthFace emotion faces judged (held out from the renderer's tuning "
               "seed, 11)", lo=0),
    n_per_class=Param("int", "faces per CK+ emotion judged by the FER2013 network", lo=1, hi=5000),
    image_size=Param("int", "rendered size of the judged faces in pixels", lo=48, hi=256),
    compare_size=Param("int", "a second rendered size, judged on the same faces", lo=48, hi=256),
    nuisance_scale=Param("float", "multiplier of every nuisance amplitude (0 = none, 1 = mild)",
                         lo=0.0, hi=4.0),
    n_lfw=Param("int", "faces of scikit-image's LFW subset shown with the network's reading",
                lo=0, hi=100),
    workers=Param("int", "processes rendering the faces", lo=1, hi=64),
)

register(
    "data_formats",
    seed=Param("int", "seed of every synthetic twin", lo=0),
    data_dir=Param("path", "folder of the real datasets (relative paths: under $FACEXAI_DATA); "
                   "None writes and loads the synthetic twins instead", optional=True),
    image_size=Param("int", "size the 10k, KDEF and UTKFace images are loaded at", lo=32, hi=256),
    render_size=Param("int", "SynthFace rendering size of the twins' faces", lo=48, hi=256),
    workers=Param("int", "processes used to render the twins", lo=1, hi=64),
    strict=Param("bool", "stop at the first unreadable or misnamed file instead of skipping it"),
    tenk_targets=Param("int", "annotated targets of the 10k twin (the database has 2,222)",
                       lo=10, hi=2222),
    tenk_folds=Param("int", "folds of the 10k k-fold scheme", lo=2, hi=20),
    kdef_identities=Param("int", "people in the KDEF twin (KDEF has 70)", lo=1, hi=70),
    # the KDEF angle codes (facexai.datasets.kdef.ANGLES), written out so that validating a
    # profile does not import the dataset readers
    kdef_angles=Param("str_list", "KDEF camera angles loaded", choices=("FL", "HL", "S", "HR", "FR")),
    ckplus_subjects=Param("int", "subjects of the CK+ twin (CK+ has 123)", lo=1, hi=123),
    ckplus_sequences=Param("int", "sequences per CK+ twin subject", lo=1, hi=20),
    ckplus_frames=Param("int", "frames per CK+ twin sequence (paper 2 keeps the first and last 3)",
                        lo=4, hi=60),
    ckplus_crop=Param("choice", "CK+ face crop: the paper-2 Haar cascade or none",
                      choices=("haar", "none")),
    tfd_labelled=Param("int", "labelled images of the TFD twin (TFD has 4,178)", lo=7, hi=5000),
    tfd_unlabelled=Param("int", "unlabelled images of the TFD twin", lo=0, hi=5000),
    tfd_size=Param("choice", "which TFD file is loaded (paper 2: 96)", choices=(48, 96)),
    tfd_allow_identity_leak=Param("bool", "load a TFD copy whose official folds put one identity in "
                                  "two roles, reporting the leak instead of stopping"),
    utkface_images=Param("int", "images of the UTKFace twin", lo=10, hi=24000),
)

# Explainer keys and embeddings, written out so that validating a profile does not import torch
# (tests/test_explain.py checks they equal facexai.explain.METHODS).
_EXPLAINERS = ("gradient", "gradient_x_input", "smoothgrad", "integrated_gradients", "occlusion",
               "lrp_epsilon", "lrp_zplus", "lrp_alpha1beta0", "lrp_alpha2beta1",
               "lrp_epsilon_plus_flat", "lrp_epsilon_gamma_box", "gradcam", "guided_gradcam")

#: The expression classifier of the Methods chapter (:func:`facexai.expression.train_classifier`),
#: shared by its two pages (the second reads the trained weights back from the cache).
CLASSIFIER = dict(
    seed=Param("int", "seed of the faces, the initialisation, the batches and the embeddings", lo=0),
    image_size=Param("int", "face size in pixels (a multiple of 8, for the zero-bias CNN)",
                     lo=48, hi=256),
    n_train=Param("int", "training faces (the eight CK+ emotions, balanced)", lo=16, hi=100_000),
    n_test=Param("int", "held-out faces", lo=16, hi=20_000),
    nuisance_scale=Param("float", "multiplier of the SynthFace nuisance (pose, light, noise)",
                         lo=0.0, hi=4.0),
    workers=Param("int", "processes rendering the faces", lo=1, hi=64),
    widths=Param("int_list", "filters of conv1-3 of the zero-bias CNN (paper: 64, 128, 256)",
                 lo=1, hi=1024),
    hidden=Param("int", "units of its dense layer (paper: 300)", lo=1, hi=4096),
    init_scale=Param("float", "k of the paper's initialisation, std = k / sqrt(fan_in)",
                     lo=0.01, hi=5.0),
    epochs=Param("int", "training epochs", lo=1, hi=500),
    batch_size=Param("int", "mini-batch size (paper: 64)", lo=1, hi=4096),
    learning_rate=Param("float", "SGD learning rate (momentum 0.9; paper: 0.01)", lo=1e-6, hi=1.0),
)

register(
    "methods",
    **CLASSIFIER,
    n_seeds=Param("int", "training seeds of the classifier (accuracy over seeds; the first is "
                  "explained, the Benchmark chapter explains them all)", lo=1, hi=20),
    methods=Param("str_list", "explainers shown and scored", choices=_EXPLAINERS),
    n_show=Param("int", "faces shown with every explainer", lo=1, hi=12),
    n_eval=Param("int", "expressive test faces scored against their expression masks",
                 lo=2, hi=5000),
    mask_dilation=Param("int", "pixels the ground-truth masks are grown by", lo=0, hi=16),
    perturbation_faces=Param("int", "faces of the perturbation curves", lo=1, hi=5000),
    perturbation_patch=Param("int", "side of the perturbed patches in pixels", lo=1, hi=64),
    perturbation_steps=Param("int", "steps of the perturbation curves", lo=1, hi=1024),
    randomization_methods=Param("str_list", "explainers put through the randomisation check",
                                choices=_EXPLAINERS),
    randomization_faces=Param("int", "faces of the randomisation check", lo=1, hi=1000),
)

register(
    "methods_filters",
    **CLASSIFIER,
    filter_layer=Param("choice", "layer whose filters are visualised",
                       choices=("relu1", "relu2", "relu3")),
    filter_channels=Param("int", "channels shown (those most associated with an AU)", lo=1, hi=64),
    top_k=Param("int", "top patches per channel", lo=1, hi=32),
    n_permutations=Param("int", "permutations of the channel-AU test", lo=10, hi=100_000),
    manifold_layer=Param("choice", "layer whose features are embedded",
                         choices=("relu3", "fc4", "relu4", "output")),
    embeddings=Param("str_list", "embeddings shown", choices=("pca", "tsne", "umap")),
)

# The probe notebook of the sweep tests and benchmark (tests/data/sweep_probe.md; not a chapter).
register(
    "sweep_probe",
    seed=Param("int", "seed of the numbers drawn", lo=0),
    n=Param("int", "numbers drawn", lo=1, hi=1_000_000),
    scale=Param("float", "their standard deviation", lo=0.0, hi=1e6),
    fail=Param("bool", "raise in code cell 4 on purpose"),
    sleep=Param("float", "seconds of pretend work", lo=0.0, hi=600.0),
    label=Param("str", "a text result"),
)

register(
    "sweeps",
    sweep=Param("str", "the sweep run and plotted: a file sweeps/<sweep>.yml"),
    workers=Param("int", "processes running its points at once", lo=1, hi=64),
)


# Paper 3's schemas are in facexai.paper3.schema (found by params.schema, like every paper's).

# One point of the explanation benchmark (sweeps/benchmark_point.md, run by sweeps/benchmark*.yml;
# not a chapter): a subject, a seed, the explainers and how they are scored.
register(
    "benchmark_point",
    **CLASSIFIER,
    subject=Param("str", "the model explained: a key of facexai.benchsubjects.SUBJECTS "
                  "(expression, positive_control, fer; paper2_cnn, paper3_vgg16, paper1_* once "
                  "facexai.paperN.benchmark is imported)"),
    n_faces=Param("int", "faces scored (of a classifier: correctly classified ones)", lo=2,
                  hi=10_000),
    methods=Param("str_list", "explainers scored: any registered key (facexai.explain)"),
    absolute_methods=Param("str_list", "explainers whose maps are taken as absolute values "
                           "(plain gradients: their sign says which way, not whether)"),
    mask_spread=Param("int", "pixels the AU supports are grown by (the model's preprocessing "
                      "reach: 2 for the 5 x 5 local mean subtraction)", lo=0, hi=16),
    marker=Param("str", "the Action Unit the positive control sees (e.g. AU12)"),
    control_n_train=Param("int", "training faces of the positive control (one Action Unit is "
                          "learnt from fewer faces than eight emotions)", lo=2, hi=1_000_000),
    control_epochs=Param("int", "training epochs of the positive control", lo=1, hi=10_000),
    fer_render_size=Param("int", "render size before fer's crop", lo=48, hi=512),
    candidates=Param("int", "faces drawn per face scored by the classifiers not trained on "
                     "SynthFace emotions (FER, paper 2: they read only some correctly)", lo=1,
                     hi=20),
    paper_profile=Param("choice", "the profile whose paper chapters' networks (their cached "
                        "weights) the paper subjects are", choices=("ci", "default", "paper")),
    explained=Param("choice", "faces of a paper's classifier explained: 'true', those it "
                    "classifies correctly, for their true class; 'predicted', every face drawn, "
                    "for its predicted class (networks that learned little, as in the ci "
                    "profile)", choices=("true", "predicted")),
    min_causes=Param("int", "active AUs a face needs for a correctness score", lo=3, hi=16),
    truth_threshold=Param("float", "change (share of the intensity range) above which a pixel is "
                          "in the data-truth region", lo=0.0, hi=0.5),
    perturbation_faces=Param("int", "faces of the deletion / preservation curves", lo=1,
                             hi=10_000),
    perturbation_patch=Param("int", "side of the perturbed patches in pixels", lo=1, hi=64),
    perturbation_steps=Param("int", "steps of the perturbation curves", lo=1, hi=1024),
    randomization_faces=Param("int", "faces of the randomisation checks", lo=1, hi=1000),
    ig_steps=Param("int", "integrated gradients' quadrature steps (the library's default: 32)",
                   lo=1, hi=4096),
    smoothgrad_samples=Param("int", "SmoothGrad's noisy copies (the library's default: 25)",
                             lo=1, hi=4096),
    contrastivity_faces=Param("int", "faces whose runner-up class is explained too "
                              "(contrastivity; the others are NaN)", lo=1, hi=10_000),
    independent_layers=Param("int", "layers re-initialised one at a time", lo=1, hi=64),
    n_null=Param("int", "random maps drawn for the null of each mean", lo=1, hi=10_000),
    random_cells=Param("int", "grid of the random control map (cells per side)", lo=1, hi=256),
)

register(
    "benchmark",
    sweep=Param("str", "the benchmark sweep run and read: a file sweeps/<sweep>.yml"),
    workers=Param("int", "processes running its points at once", lo=1, hi=64),
    alpha=Param("float", "family-wise error rate of every interval and test", lo=1e-4, hi=0.5),
    n_boot=Param("int", "bootstrap resamples of every interval", lo=10, hi=100_000),
    main_metric=Param("choice", "the metric ranked by Friedman's test",
                      choices=("correctness", "mass_lift", "iou", "deletion")),
    published_iou=Param("float", "the published mean IoU with AU masks (Gaya-Morey et al. 2024)",
                        lo=0.0, hi=1.0),
    iou_goal=Param("float", "the IoU to exceed (the best published network)", lo=0.0, hi=1.0),
    precision_goal=Param("float", "half-width the intervals of the main metric aim at (the faces "
                         "a seed it needs are projected)", lo=1e-4, hi=1.0),
)
