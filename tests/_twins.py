"""Tiny synthetic twins shared by the dataset tests (written once per test module)."""
from __future__ import annotations

from pathlib import Path

from facexai import datasets

#: Writer settings of each tiny twin; sizes chosen so every scheme has something in each role.
SMALL = {
    "tenk": dict(n_targets=12, seed=3, render_size=48),
    "kdef": dict(n_identities=2, seed=3, render_size=48),
    "ckplus": dict(n_subjects=3, sequences_per_subject=3, n_frames=5, seed=3, render_size=64),
    "tfd": dict(n_labelled=35, n_unlabelled=5, seed=3),
    "utkface": dict(n_images=12, seed=3, render_size=48),
}


def write_small_twins(parent: Path) -> dict[str, Path]:
    """Write every tiny twin under ``parent``; return their roots by key."""
    return {key: datasets.ensure_twin(key, root=parent, **settings) for key, settings in SMALL.items()}


def attribute_data(n: int = 24, size: int = 16, seed: int = 0):
    """Constructed rating data for the regressor tests: ``n`` random uint8 faces of ``size`` px,
    uniform 1-9 ratings of every attribute, the last 10 faces split 5 validation / 5 test."""
    import numpy as np
    import pandas as pd

    from facexai.ratings import ATTRIBUTES, AttributeData

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    ratings = pd.DataFrame(rng.uniform(1, 9, (n, len(ATTRIBUTES))), columns=ATTRIBUTES)
    split = np.array(["train"] * (n - 10) + ["val"] * 5 + ["test"] * 5)
    return AttributeData(images=images, ratings=ratings, landmarks=np.zeros((n, 68, 2)),
                         split=split, ids=np.arange(1, n + 1), files=(), demographics=None,
                         raters=None, synthetic=True, root=Path("."))
