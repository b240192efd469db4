"""Paper-3 data loading and training: the twin read back through the real loader, the shared
preprocessing, and fit_or_load's cache (reload identical with weights_only=True, retrain on change)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexai import datasets, paper3, paths
from facexai.models import vgg16
from facexai.synth.attributes import rate
from facexai.synth.dataset import nuisance_config
from facexai.synth.generate import sample_face

N, SIZE = 30, 32
TINY = dict(width=2, image_size=SIZE, epochs=2, batch_size=16, patience=5, progress=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir, build_dir = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("build")
    with paths.environment({"FACEXAI_DATA": str(data_dir), "FACEXAI_BUILD": str(build_dir)}):
        yield data_dir


@pytest.fixture(scope="module")
def data(env):
    return paper3.load_data(image_size=SIZE, n_targets=N, render_size=48, workers=1)


def test_load_data_reads_the_twin_with_the_paper3_split(data):
    assert data.synthetic and len(data) == N
    assert data.images.shape == (N, SIZE, SIZE, 3) and data.images.dtype == np.uint8
    assert list(data.ratings.columns) == paper3.ATTRIBUTES
    assert data.ratings.to_numpy().min() >= 1 and data.ratings.to_numpy().max() <= 9
    assert data.landmarks.shape == (N, 68, 2) and np.isfinite(data.landmarks).all()
    assert np.array_equal(data.split, paper3.split_labels(N))
    assert np.array_equal(data.ids, np.arange(1, N + 1))
    # ratings are the means of the per-rater ratings, which are SynthFace's panel
    assert np.allclose(data.raters.mean(axis=2), data.ratings.to_numpy(), atol=1e-9)
    assert set(data.demographics["sex"]) <= {"female", "male"}
    sexes = ["male" if sample_face(0, i, nuisance=nuisance_config(1.0)).identity.sex else "female"
             for i in range(N)]
    assert data.demographics["sex"].tolist() == sexes


def test_raters_read_from_the_all_data_sheet_equal_the_panel(data):
    raters = paper3.read_raters(data.root / datasets.tenk.WORKBOOK, data.ids)
    expected = rate([sample_face(0, i, nuisance=nuisance_config(1.0)) for i in range(N)], 0).raw
    assert raters.shape == (N, 40, 15) and np.array_equal(raters, expected.astype(float))


def test_load_data_is_cached_and_stable(data):
    again = paper3.load_data(image_size=SIZE, n_targets=N, render_size=48, workers=1)
    assert np.array_equal(again.images, data.images) and np.array_equal(again.split, data.split)
    assert again.fingerprint() == data.fingerprint()
    with pytest.raises(ValueError, match="image_size"):
        paper3.load_data(image_size=8)
    # a missing database names the expected layout and where it can be requested
    with pytest.raises(FileNotFoundError, match=r"(?s)Expected this layout.*Full Attribute Scores"
                       r".*on request"):
        paper3.load_data("/no/such/folder")


def test_to_tensor_normalises_with_imagenet_statistics():
    img = np.zeros((1, 2, 2, 3), np.uint8)
    img[..., 0] = 255
    x = paper3.to_tensor(img)
    assert x.shape == (1, 3, 2, 2)
    assert torch.allclose(x[0, 0], torch.full((2, 2), (1 - 0.485) / 0.229))
    assert torch.allclose(x[0, 1], torch.full((2, 2), -0.456 / 0.224))
    with pytest.raises(ValueError, match="images must have shape"):
        paper3.to_tensor(np.zeros((2, 4, 4)))


def test_augment_flips_and_rotates_by_at_most_the_angle():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    flipped = paper3.augment(x, torch.Generator().manual_seed(0), max_degrees=0)
    for k in range(2):  # each image is itself or its mirror image
        assert torch.equal(flipped[k], x[k]) or torch.equal(flipped[k], x[k].flip(-1))
    still = paper3.augment(x, torch.Generator().manual_seed(0), max_degrees=0, flip=False)
    assert torch.allclose(still, x, atol=1e-4)  # identity warp
    rot = paper3.augment(torch.ones(4, 3, 16, 16), torch.Generator().manual_seed(1), flip=False)
    assert torch.allclose(rot[:, :, 6:10, 6:10], torch.ones(4, 3, 4, 4), atol=1e-5)  # centre kept


def test_width_reduced_vgg16_keeps_the_layer_structure():
    full, narrow = vgg16(3), vgg16(3, width=8)
    names = lambda m: [(n, type(c).__name__) for n, c in m.named_modules()]  # noqa: E731
    assert names(full) == names(narrow)
    assert isinstance(narrow.features[30], torch.nn.MaxPool2d) and narrow.features[28].out_channels == 64
    with pytest.raises(ValueError, match="width"):
        vgg16(1, width=8, weights="imagenet")


def test_fit_or_load_caches_reloads_identically_and_retrains_on_change(data, env):
    fitted = paper3.fit_or_load(data, **TINY)
    assert not fitted.from_cache and fitted.cache_file.is_file()
    assert list(fitted.history.columns[:3]) == ["epoch", "train_loss", "val_r"]
    assert fitted.history["best"].sum() == 1
    pred = fitted.predict(data.images[:5])
    assert pred.shape == (5, 40) and list(pred.columns) == paper3.ATTRIBUTES
    # the checkpoint holds plain types only: it loads with weights_only=True
    blob = torch.load(fitted.cache_file, weights_only=True)
    assert "state_dict" in blob
    again = paper3.fit_or_load(data, **TINY)
    assert again.from_cache and again.cache_file == fitted.cache_file
    assert np.array_equal(again.predict(data.images[:5]).to_numpy(), pred.to_numpy())
    changed = paper3.fit_or_load(data, **dict(TINY, lr=1e-3))
    assert not changed.from_cache and changed.cache_file != fitted.cache_file
    # same settings without the cache: the same weights (seeded)
    fresh = paper3.fit_or_load(data, **TINY, cache=False)
    assert np.allclose(fresh.predict(data.images[:5]).to_numpy(), pred.to_numpy(), atol=1e-5)


def test_explainable_names_an_existing_maxpool(data):
    for bn in (False, True):
        fitted = paper3.fit_or_load(data, **dict(TINY, epochs=1, batch_norm=bn), cache=False)
        module, index, layer = fitted.explainable("happy")
        assert index == paper3.ATTRIBUTES.index("happy")
        assert isinstance(dict(module.named_modules())[layer], torch.nn.MaxPool2d)
        assert layer == ("net.features.43" if bn else "net.features.30")
        x = paper3.to_tensor(data.images[:2])
        assert torch.allclose(module(x)[:, index],
                              torch.tensor(fitted.predict(data.images[:2])["happy"].to_numpy(),
                                           dtype=torch.float32), atol=1e-4)
    with pytest.raises(ValueError, match="not an output"):
        fitted.explainable("grumpy")


def test_per_attribute_protocol_stacks_one_network_per_attribute(data):
    fitted = paper3.fit_or_load(data, protocol="per_attribute", attributes=["happy", "calm"],
                                **dict(TINY, epochs=1), cache=False)
    assert isinstance(fitted.model, paper3.StackedNets) and len(fitted.model.nets) == 2
    module, index, layer = fitted.explainable("calm")
    assert module is fitted.model.nets[1] and index == 0
    assert set(fitted.history["attribute"]) == {"happy", "calm"}
    assert fitted.predict(data.images[:3]).shape == (3, 2)


@pytest.mark.parametrize("bad, match", [
    (dict(protocol="each"), "protocol"), (dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"),
    (dict(attributes=["grumpy"]), "attributes"), (dict(image_size=64), "image_size"),
    (dict(scheduler="step"), "scheduler"), (dict(batch_size=1.5), "batch_size"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_settings_are_named(data, bad, match):
    with pytest.raises(ValueError, match=match):
        paper3.fit_or_load(data, **dict(TINY, **bad), cache=False)


def test_settings_helpers_pick_the_notebook_parameters():
    params = dict(seed=1, data_dir=None, n_targets=30, render_size=48, workers=1, image_size=32,
                  protocol="multi", weights="none", width=2, batch_norm=True, epochs=1, batch_size=8,
                  lr=1e-3, weight_decay=0.0, patience=2, augment=False, scheduler="none",
                  baselines=["landmarks"])
    assert paper3.data_settings(params) == dict(data_dir=None, image_size=32, n_targets=30, seed=1,
                                                workers=1, render_size=48)
    m = paper3.model_settings(params)
    assert "baselines" not in m and m["batch_norm"] is True and m["seed"] == 1
    assert set(m) == set(paper3.MODEL_SETTINGS) - {"dropout"}  # what the parameters hold


def test_shared_schema_covers_exactly_the_data_and_model_settings():
    from facexai.schemas import paper3_model_params

    assert set(paper3_model_params()) == set(paper3.MODEL_SETTINGS) | set(paper3.DATA_SETTINGS)
