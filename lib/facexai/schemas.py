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
