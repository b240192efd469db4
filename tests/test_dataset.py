"""The cached SynthFace population: reuse, determinism, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest

from facexai.synth import dataset
from facexai.synth.attributes import ATTRIBUTE_COLUMNS
from facexai.synth.render import render

SETTINGS = dict(n=10, seed=3, size=48, n_raters=4, nuisance_scale=1.0)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return root, dataset.ensure_dataset(**SETTINGS, root=root)


def test_a_second_call_reuses_the_folder(made):
    root, path = made
    stamp = (path / "faces.npz").stat().st_mtime_ns
    assert dataset.ensure_dataset(**SETTINGS, root=root) == path
    assert (path / "faces.npz").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in root.iterdir()) == [path.name]


def test_other_settings_make_another_dataset(made):
    root, path = made
    other = dataset.ensure_dataset(**{**SETTINGS, "seed": 4}, root=root)
    assert other != path and (other / "meta.json").is_file()


def test_loaded_dataset_is_consistent_and_regenerable(made):
    _, path = made
    faces = dataset.load_dataset(path)
    assert faces.images.shape == (10, 48, 48, 3) and faces.images.dtype == np.uint8
    assert faces.landmarks.shape == (10, 68, 2)
    assert faces.ratings.raw.shape == (10, 40, 4)
    assert list(faces.ratings.means.columns) == list(ATTRIBUTE_COLUMNS)
    np.testing.assert_allclose(faces.ratings.means.to_numpy(), faces.ratings.raw.mean(axis=2))
    assert len(faces.factors) == 10 and {"age", "sex", "AU12", "emotion", "age_group"} <= set(
        faces.factors.columns)
    for i in (0, 9):  # any face regenerated alone equals the stored one
        assert np.array_equal(render(faces.params(i), 48), faces.images[i])


def test_an_interrupted_run_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "factor_table", explode)  # fails after rendering, mid-write
    with pytest.raises(KeyboardInterrupt):
        dataset.ensure_dataset(**SETTINGS, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_key_depends_on_the_generator_source(monkeypatch):
    key = dataset.dataset_key(**SETTINGS)
    monkeypatch.setattr(dataset, "generator_fingerprint", lambda: "changed")
    assert dataset.dataset_key(**SETTINGS) != key


def test_missing_folder_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        dataset.load_dataset(tmp_path / "nope")
