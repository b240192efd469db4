"""The study's attribute data (facexai.ratings): the 10k twin read back through the real loader,
one split vocabulary, held-out row selection, the pickle-free cache, the shared preprocessing."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from facexai import datasets, paths, ratings
from facexai.synth.attributes import rate
from facexai.synth.dataset import nuisance_config
from facexai.synth.generate import sample_face

N, SIZE = 30, 32
OPTIONS = dict(image_size=SIZE, n_targets=N, render_size=48, workers=1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    with paths.environment({"FACEXAI_DATA": str(data_dir)}):
        yield data_dir


@pytest.fixture(scope="module")
def data(env):
    return ratings.load(**OPTIONS)


def _faces(n, seed=0):
    return [sample_face(seed, i, nuisance=nuisance_config(1.0)) for i in range(n)]


def test_the_twin_is_read_back_with_its_ratings_panel_and_ground_truth(data):
    assert data.synthetic and len(data) == N
    assert data.images.shape == (N, SIZE, SIZE, 3) and data.images.dtype == np.uint8
    assert list(data.ratings.columns) == ratings.ATTRIBUTES
    assert data.ratings.to_numpy().min() >= 1 and data.ratings.to_numpy().max() <= 9
    assert data.landmarks.shape == (N, 68, 2) and np.isfinite(data.landmarks).all()
    assert np.array_equal(data.ids, np.arange(1, N + 1))
    # the rating means are the means of the per-rater ratings, which are SynthFace's panel
    assert np.allclose(data.raters.mean(axis=2), data.ratings.to_numpy(), atol=1e-9)
    faces = _faces(N)
    assert data.params == faces
    assert data.demographics["sex"].tolist() == ["male" if f.identity.sex else "female"
                                                 for f in faces]


def test_the_split_is_the_registry_split_in_one_vocabulary(data):
    tenk = datasets.load("tenk", data.root, size=SIZE)
    parts = tenk.splits["paper3"].split(0)          # registry roles: train / valid / test
    assert set(parts) == {datasets.ROLES[c] for c in (1, 2, 3)}
    for registry_role, rows in parts.items():
        code = {v: k for k, v in datasets.ROLES.items()}[registry_role]
        assert set(data.split[rows]) == {ratings.ROLE_OF_CODE[code]}
        assert np.array_equal(data.indices(ratings.ROLE_OF_CODE[code]), np.sort(rows))
    assert set(data.split) <= set(ratings.ROLES)
    assert np.array_equal(ratings.split_labels(parts, len(data)), data.split)
    assert sum(data.counts().values()) == len(data)
    with pytest.raises(ValueError, match="called 'val'"):
        data.indices("valid")


def test_rows_are_held_out_unless_in_sample_rows_are_asked_for(data):
    split = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 3)
    assert ratings.select_rows(split).tolist() == [8, 9, 10]
    assert ratings.select_rows(split, "heldout").tolist() == [6, 7, 8, 9, 10]
    for which in ("train", "all"):
        with pytest.raises(ValueError, match="training rows"):
            ratings.select_rows(split, which)
    with pytest.warns(ratings.InSampleWarning, match="6 of 11"):
        assert len(ratings.select_rows(split, "all", allow_in_sample=True)) == 11
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # held-out rows never warn
        ratings.select_rows(split, "test", allow_in_sample=True)
    with pytest.raises(ValueError, match="called 'val'"):
        ratings.select_rows(split, "valid")
    with pytest.raises(ValueError, match="unknown labels"):
        ratings.select_rows(np.array(["train", "holdout"]))
    assert np.array_equal(data.rows("test"), data.indices("test"))
    assert np.array_equal(data.rows("heldout"),
                          np.sort(np.concatenate([data.indices("val"), data.indices("test")])))


def test_raters_read_from_the_all_data_sheet_equal_the_panel(data):
    raters = ratings.read_raters(data.root / datasets.tenk.WORKBOOK, data.ids)
    expected = rate(_faces(N), 0).raw
    assert raters.shape == expected.shape and np.array_equal(raters, expected.astype(float))


def test_the_cache_is_pickle_free_and_reloads_identically(data, env):
    entries = sorted(paths.datasets_cache().glob("tenk-attributes-*.npz"))
    assert len(entries) == 1
    with np.load(entries[0], allow_pickle=False) as z:   # no object arrays anywhere
        assert all(z[k].dtype != object for k in z.files)
    again = ratings.load(**OPTIONS)
    assert again is not data and again.fingerprint() == data.fingerprint()
    for name in ("images", "landmarks", "split", "ids", "raters"):
        assert np.array_equal(getattr(again, name), getattr(data, name)), name
    assert again.ratings.equals(data.ratings) and again.demographics.equals(data.demographics)
    assert again.files == data.files and again.root == data.root and again.params == data.params
    # another option is another entry
    ratings.load(**dict(OPTIONS, image_size=SIZE + 16))
    assert len(list(paths.datasets_cache().glob("tenk-attributes-*.npz"))) == 2


def test_a_damaged_cache_entry_is_rebuilt(env):
    options = dict(OPTIONS, image_size=SIZE + 8)
    before = set(paths.datasets_cache().glob("tenk-attributes-*.npz"))
    good = ratings.load(**options)
    (entry,) = set(paths.datasets_cache().glob("tenk-attributes-*.npz")) - before
    entry.write_bytes(b"damaged")
    assert ratings.load(**options).fingerprint() == good.fingerprint()
    assert ratings._read(entry).fingerprint() == good.fingerprint()   # and written again


def test_the_fingerprint_follows_images_ratings_and_split(data):
    import copy

    base = data.fingerprint()
    changed = copy.deepcopy(data)
    changed.ratings.iloc[0, 0] += 0.5
    assert changed.fingerprint() != base
    changed = copy.deepcopy(data)
    changed.split = np.roll(changed.split, 1)
    assert changed.fingerprint() != base


def test_bad_options_and_a_missing_database_are_named(env):
    with pytest.raises(ValueError, match="image_size"):
        ratings.load(image_size=8)
    # a missing database names the expected layout and where it can be requested
    with pytest.raises(FileNotFoundError, match=r"(?s)Expected this layout.*Full Attribute Scores"
                       r".*on request"):
        ratings.load("/no/such/folder", image_size=SIZE)


def test_to_tensor_normalises_with_imagenet_statistics():
    img = np.zeros((1, 2, 2, 3), np.uint8)
    img[..., 0] = 255
    x = ratings.to_tensor(img)
    assert x.shape == (1, 3, 2, 2)
    mean, std = ratings.IMAGENET_MEAN, ratings.IMAGENET_STD
    assert torch.allclose(x[0, 0], torch.full((2, 2), (1 - mean[0]) / std[0]))
    assert torch.allclose(x[0, 1], torch.full((2, 2), -mean[1] / std[1]))
    assert torch.equal(ratings.to_tensor(img[0]), x)   # one image
    with pytest.raises(ValueError, match="images must have shape"):
        ratings.to_tensor(np.zeros((2, 4, 4)))


def test_augment_flips_and_rotates_by_at_most_the_angle():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    flipped = ratings.augment(x, torch.Generator().manual_seed(0), max_degrees=0)
    for k in range(2):  # each image is itself or its mirror image
        assert torch.equal(flipped[k], x[k]) or torch.equal(flipped[k], x[k].flip(-1))
    still = ratings.augment(x, torch.Generator().manual_seed(0), max_degrees=0, flip=False)
    assert torch.allclose(still, x, atol=1e-4)  # identity warp
    rot = ratings.augment(torch.ones(4, 3, 16, 16), torch.Generator().manual_seed(1), flip=False)
    assert torch.allclose(rot[:, :, 6:10, 6:10], torch.ones(4, 3, 4, 4), atol=1e-5)  # centre kept
    # any rotation brings the fill (0, the mean colour) into the corners
    turned = ratings.augment(torch.ones(8, 1, 16, 16), torch.Generator().manual_seed(2), flip=False)
    assert (turned[:, :, 0, 0] < 1).all() and turned.min() >= 0


def test_the_twin_read_as_a_real_database_gives_the_same_data(data, env):
    real = ratings.load(str(data.root), image_size=SIZE)
    assert not real.synthetic and real.params is None and real.twin_seed is None
    for name in ("images", "split", "ids", "raters"):
        assert np.array_equal(getattr(real, name), getattr(data, name)), name
    assert real.ratings.equals(data.ratings)
    assert real.demographics["skin_tone"].isna().all()   # not in the real workbook
    again = ratings.load(str(data.root), image_size=SIZE)  # from the cache, None kept
    assert again.demographics.equals(real.demographics)


def test_a_twin_without_sex_proxies_keeps_everything_but_the_proxies(data, env):
    free = ratings.load(**OPTIONS, proxies=0.0)
    assert free.root != data.root                     # its own twin folder
    expected = [sample_face(0, i, nuisance=nuisance_config(1.0), proxies=0.0) for i in range(N)]
    assert free.params == expected and free.notes["twin_proxies"] == 0.0
    assert [p.identity.sex for p in free.params] == [p.identity.sex for p in data.params]
    assert any(a.identity.hair_length != b.identity.hair_length
               for a, b in zip(free.params, data.params))
    # read back from the cache, the twin still knows its proxies
    assert ratings.load(**OPTIONS, proxies=0.0).params == expected
