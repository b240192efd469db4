"""Paper 3's figures, on :mod:`facexai.charts`; each returns a matplotlib figure."""
from __future__ import annotations

import pandas as pd

from .. import charts

__all__ = ["comparison_figure", "pair_figure", "r_per_attribute_figure", "r_vs_ceiling_figure"]


def comparison_figure(comparison: pd.DataFrame | None):
    """:func:`facexai.charts.reference_figure` of the recorded comparison table
    (:data:`facexai.paper3.results.COMPARISON`): per attribute, the paper's VGG16 r (x) against
    this study's (y) coloured by the noise ceiling, the paper's Human column as grey crosses."""
    return charts.reference_figure(
        comparison, "paper_vgg16", "vgg16", colour="noise_ceiling", also="paper_human",
        labels={"paper_vgg16": "paper: VGG16 test r (real photographs)",
                "vgg16": "this study: test r", "paper_human": "paper: Human column",
                "noise_ceiling": "noise ceiling of the ratings (this study)"},
        missing="paper3_predictive recorded no comparison table")


# -- explanations and manifolds (paper3_explanations, paper3_manifolds) --------------------------
def pair_figure(embedded, pairs=None, *, detail: bool = True, cell: float = 2.6):
    """:func:`facexai.charts.embedding_grid` of pairs (``embedded``: from
    :func:`facexai.paper3.pair_embeddings.embed_pairs` or ``deep_embeddings``; ``pairs``: default
    all), labelled by both poles, 3-D ones in the paper's view (elevation 10, azimuth 120)."""
    from .pair_embeddings import antonym

    return charts.embedding_grid(embedded, pairs, sides=lambda a: (antonym(a), a), detail=detail,
                                 cell=cell, view=(10, 120))


# -- predictive power (paper3_predictive) --------------------------------------------------------
def r_per_attribute_figure(table: pd.DataFrame):
    """:func:`facexai.charts.r_per_attribute_figure` of the models of the comparison table
    (:func:`facexai.paper3.metrics.comparison_table`), the paper's in grey, rows sorted by its
    VGG16 + augmentation column."""
    models = table.drop(columns=["vgg16_lo", "vgg16_hi", "oracle", "reliability"], errors="ignore")
    return charts.r_per_attribute_figure(models, order_by="paper_vgg16_aug", references=[
        c for c in table.columns if c.startswith("paper_")])


def r_vs_ceiling_figure(table: pd.DataFrame):
    """:func:`facexai.charts.scatter_panels`: each attribute's VGG16 r against its noise ceiling
    (left) and the paper's VGG16 r against its "Human" column (right)."""
    return charts.scatter_panels(table, (
        ("noise_ceiling", "vgg16", "noise ceiling (this study's data)", "VGG16 test r (this study)",
         "C0"),
        ("paper_human", "paper_vgg16", "paper's Human column", "paper's VGG16 r", "0.4")))
