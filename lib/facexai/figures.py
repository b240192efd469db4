"""Saving notebook figures as PNG files named after the notebook and the figure.

The book shows each figure inline (captioned and named through the cell's ``mystnb.figure``
metadata); :func:`save` also writes it to ``<build>/figures/<notebook>/<name>.png`` so that every
figure of the published book exists as a file whose path says what made it; :func:`show` saves
and shows it.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import paths, run

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def save(fig, name: str, *, dpi: int = 120) -> Path:
    """Write ``fig`` (a matplotlib figure or seaborn grid) as ``<build>/figures/<notebook>/<name>.png``.

    The notebook is the one whose run was started with :func:`facexai.run.start`. The file is
    written atomically. Returns its path.
    """
    if not _NAME.match(name):
        raise ValueError(f"figure name {name!r}: use lower-case letters, digits and '-' only")
    fig = getattr(fig, "figure", fig)  # seaborn FacetGrid / ClusterGrid carry .figure
    target = paths.figures_dir(run.current().notebook) / f"{name}.png"
    with paths.atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return target


def show(fig, name: str) -> None:
    """:func:`save` ``fig`` as ``name`` and show it (:func:`matplotlib.pyplot.show`); returns
    nothing, so a notebook cell ending with it shows the figure once."""
    import matplotlib.pyplot as plt

    save(fig, name)
    plt.show()
