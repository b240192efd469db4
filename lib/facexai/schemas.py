"""The parameter schema of every chapter notebook, by notebook name (file stem in ``notebooks/``).

One place for sweeps, the build and the notebooks themselves to learn what a notebook accepts.
"""
from __future__ import annotations

from .params import Param, register

register(
    "data_synthetic",
    seed=Param("int", "seed of the synthetic dataset (identity, expression, nuisance, raters)", lo=0),
    n_faces=Param("int", "faces generated and rated for the population statistics", lo=40, hi=200_000),
    image_size=Param("int", "rendered image size in pixels", lo=48, hi=256),
    n_raters=Param("int", "simulated raters per attribute (the 10k database has 15)", lo=2, hi=100),
    reliability_splits=Param("int", "random rater splits averaged in the split-half reliability",
                             lo=1, hi=1000),
    nuisance_scale=Param("float", "multiplier of every nuisance amplitude (0 = none, 1 = mild)",
                         lo=0.0, hi=4.0),
    workers=Param("int", "processes used to render the dataset", lo=1, hi=64),
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
    utkface_images=Param("int", "images of the UTKFace twin", lo=10, hi=24000),
)
