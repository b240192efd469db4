"""Paper 3's protocol: the data with the paper's split, fit_or_load's checkpoints (reload identical
with weights_only=True, retrain on change), the paper's VGG16 and Grad-CAM layer, and the settings
declared once (Paper3Settings: the notebooks' schemas, the parameter cells and the default profile
agree). The protocols themselves are facexai.regressors' (tests/test_regressors.py)."""
from __future__ import annotations

import ast
import re
from dataclasses import fields

import numpy as np
import pytest
import torch

from facexai import params, paths, regressors, training
from facexai import paper3
from facexai.models import vgg16
from facexai.paper3.schema import Paper3Settings

N, SIZE = 30, 32
TINY = dict(width=2, image_size=SIZE, epochs=2, batch_size=16, patience=5, progress=False)
NOTEBOOKS = ("paper3_predictive", "paper3_explanations", "paper3_manifolds", "paper3_bias")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir, build_dir = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("build")
    with paths.environment({"FACEXAI_DATA": str(data_dir), "FACEXAI_BUILD": str(build_dir)}):
        yield data_dir


@pytest.fixture(scope="module")
def data(env):
    return paper3.load_data(image_size=SIZE, n_targets=N, render_size=48, workers=1)


def test_load_data_has_the_paper3_split_and_the_settings_defaults(data):
    assert len(data) == N and data.images.shape[1:3] == (SIZE, SIZE)
    assert np.array_equal(data.split, paper3.split_labels(N))
    with pytest.raises(ValueError, match="image_size"):
        paper3.load_data(image_size=8)
    with pytest.raises(ValueError, match="unknown data setting.*epochs"):
        paper3.load_data(epochs=3)


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
    assert fitted.cache_file.parent == paths.models_cache()
    assert fitted.cache_file.name.startswith("paper3-vgg16-multi-")
    assert list(fitted.history.columns[:3]) == ["epoch", "train_loss", "val_r"]
    assert fitted.history["best"].sum() == 1
    pred = fitted.predict(data.images[:5])
    assert pred.shape == (5, 40) and list(pred.columns) == paper3.ATTRIBUTES
    # the checkpoint holds plain types only: it loads with weights_only=True
    blob = torch.load(fitted.cache_file, weights_only=True)
    assert "state_dict" in blob
    again = paper3.fit_or_load(data, **TINY)
    assert again.from_cache and again.cache_file == fitted.cache_file
    assert again.config == fitted.config
    assert np.array_equal(again.predict(data.images[:5]).to_numpy(), pred.to_numpy())
    changed = paper3.fit_or_load(data, **dict(TINY, lr=2e-3))
    assert not changed.from_cache and changed.cache_file != fitted.cache_file
    # same settings without the cache: the same weights (seeded)
    fresh = paper3.fit_or_load(data, **TINY, cache=False)
    assert fresh.cache_file is None
    assert np.allclose(fresh.predict(data.images[:5]).to_numpy(), pred.to_numpy(), atol=1e-5)


def test_the_multi_output_model_predicts_in_rating_units(data):
    fitted = paper3.fit_or_load(data, **TINY, cache=False)
    assert isinstance(fitted.model, training.Rescaled)
    train = data.ratings.iloc[data.indices("train")]
    # the standardisation is the training split's mean and SD of each attribute
    assert np.allclose(fitted.model.shift.numpy(), train.mean().to_numpy(), atol=1e-4)
    assert np.allclose(fitted.model.scale.numpy(), train.std(ddof=0).to_numpy(), rtol=1e-4)


def test_explainable_names_an_existing_maxpool(data):
    for bn in (False, True):
        fitted = paper3.fit_or_load(data, **dict(TINY, epochs=1, batch_norm=bn), cache=False)
        module, index, layer = fitted.explainable("happy")
        assert index == paper3.ATTRIBUTES.index("happy")
        assert isinstance(dict(module.named_modules())[layer], torch.nn.MaxPool2d)
        assert layer == ("net.features.43" if bn else paper3.CAM_LAYER)
        x = paper3.to_tensor(data.images[:2])
        assert torch.allclose(module(x)[:, index],
                              torch.tensor(fitted.predict(data.images[:2])["happy"].to_numpy(),
                                           dtype=torch.float32), atol=1e-4)
    with pytest.raises(ValueError, match="not an output"):
        fitted.explainable("grumpy")


def test_per_attribute_protocol_stacks_one_network_per_attribute(data):
    fitted = paper3.fit_or_load(data, protocol="per_attribute", attributes=["happy", "calm"],
                                **dict(TINY, epochs=1), cache=False)
    assert isinstance(fitted.model, regressors.StackedNets) and len(fitted.model.nets) == 2
    module, index, layer = fitted.explainable("calm")
    assert module is fitted.model.nets[1] and index == 0
    assert set(fitted.history["attribute"]) == {"happy", "calm"}
    assert fitted.predict(data.images[:3]).shape == (3, 2)
    # the paper's protocol trains on raw ratings: no standardisation
    assert all(float(n.scale) == 1 and float(n.shift) == 0 for n in fitted.model.nets)


@pytest.mark.parametrize("bad, match", [
    (dict(protocol="each"), "protocol"), (dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"),
    (dict(attributes=["grumpy"]), "attributes"), (dict(image_size=64), "image_size"),
    (dict(scheduler="step"), "scheduler"), (dict(batch_size=1.5), "batch_size"),
    (dict(dropout=1.0), "dropout"), (dict(n_targets=50), "unknown model setting.*n_targets"),
])
def test_bad_settings_are_named(data, bad, match):
    with pytest.raises(ValueError, match=match):
        paper3.fit_or_load(data, **dict(TINY, **bad), cache=False)


def test_settings_helpers_pick_the_notebook_parameters():
    values = dict(seed=1, data_dir=None, n_targets=30, render_size=48, workers=1, image_size=32,
                  protocol="multi", weights="none", width=2, batch_norm=True, epochs=1, batch_size=8,
                  lr=1e-3, weight_decay=0.0, patience=2, augment=False, scheduler="none",
                  baselines=["landmarks"])
    assert paper3.data_settings(values) == dict(data_dir=None, image_size=32, n_targets=30, seed=1,
                                                workers=1, render_size=48)
    m = paper3.model_settings(values)
    assert "baselines" not in m and m["batch_norm"] is True and m["seed"] == 1
    assert set(m) == set(paper3.MODEL_SETTINGS) - {"dropout"}  # what the parameters hold
    assert paper3.model_settings(values, epochs=5)["epochs"] == 5


# -- one declaration of every setting ------------------------------------------------------------

def test_every_setting_is_a_data_model_or_seeds_setting_with_a_default_inside_its_bounds():
    defaults = Paper3Settings()
    assert set(paper3.DATA_SETTINGS) | set(paper3.MODEL_SETTINGS) | {"n_seeds"} == {
        f.name for f in fields(Paper3Settings)}
    assert paper3.seed_settings({"n_seeds": 3, "seed": 1}) == {"n_seeds": 3}
    for f in fields(Paper3Settings):
        assert f.metadata["param"].check(f.name, getattr(defaults, f.name)) == getattr(defaults, f.name)


def test_each_notebook_schema_holds_the_settings_params_themselves():
    for notebook in NOTEBOOKS:
        schema = params.schema(notebook).params
        for f in fields(Paper3Settings):
            assert schema[f.name] is f.metadata["param"], (notebook, f.name)


def _parameter_cell(notebook: str) -> dict:
    text = (paths.notebooks_dir() / f"{notebook}.md").read_text(encoding="utf-8")
    cell = re.search(r"```\{code-cell\}[^\n]*\n:tags: \[parameters\]\n(.*?)```", text, re.S)
    tree = ast.parse(cell.group(1))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_parameter_cells_and_the_default_profile_hold_the_declared_defaults(notebook):
    defaults = {f.name: getattr(Paper3Settings(), f.name) for f in fields(Paper3Settings)}
    cell = _parameter_cell(notebook)
    assert {k: cell[k] for k in defaults} == defaults
    profile = params.load_profile("default")[notebook]
    assert {k: profile[k] for k in defaults} == defaults
