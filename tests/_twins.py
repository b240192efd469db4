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
