"""The core's rating regressors (facexai.regressors): both protocols on a tiny network and
constructed attribute data, the checkpoint cache, the fitted model's interface (predict,
explainable, networks) and the checks of attributes and data."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from facexai import regressors, training
from facexai.models import tiny_cnn

from _twins import attribute_data
from facexai.ratings import ATTRIBUTES, AttributeData

N, SIZE = 24, 16
OPTIONS = dict(optimizer="adam", lr=1e-2, epochs=2, batch_size=8, patience=5)


@pytest.fixture(scope="module")
def data():
    return attribute_data(N, SIZE)


def net(n_outputs: int, initialised: bool):
    return tiny_cnn(n_outputs, in_channels=3, input_size=SIZE)


def _config(protocol="multi", attributes=("happy", "calm", "attractive")):
    return dict(protocol=protocol, seed=3, image_size=SIZE, attributes=list(attributes))


def test_multi_output_regressor_is_cached_and_predicts_in_rating_units(data, tmp_path):
    fitted = regressors.fit_or_load(data, _config(), net, name="test-multi", options=OPTIONS,
                                    cache=tmp_path, progress=False, device="cpu")
    assert not fitted.from_cache and fitted.cache_file.parent == tmp_path
    assert fitted.cache_file.name.startswith("test-multi-")
    assert isinstance(fitted.model, training.Rescaled)
    train = data.ratings.iloc[data.indices("train")][fitted.attributes]
    assert np.allclose(fitted.model.shift.numpy(), train.mean().to_numpy(), atol=1e-4)
    pred = fitted.predict(data.images[:4])
    assert list(pred.columns) == ["happy", "calm", "attractive"] and pred.shape == (4, 3)
    again = regressors.fit_or_load(data, _config(), net, name="test-multi", options=OPTIONS,
                                   cache=tmp_path, progress=False, device="cpu")
    assert again.from_cache and again.cache_file == fitted.cache_file
    np.testing.assert_array_equal(again.predict(data.images[:4]).to_numpy(), pred.to_numpy())
    with pytest.raises(ValueError, match="image_size=16"):
        fitted.predict(np.zeros((1, 8, 8, 3), np.uint8))


def test_per_attribute_protocol_stacks_one_seeded_network_per_attribute(data):
    fitted = regressors.fit_or_load(data, _config("per_attribute", ("happy", "calm")), net,
                                    name="test", options=OPTIONS, cache=False, progress=False,
                                    device="cpu", cam_layer=lambda m: "net.4")
    assert isinstance(fitted.model, regressors.StackedNets) and len(fitted.model.nets) == 2
    assert fitted.cache_file is None and set(fitted.history["attribute"]) == {"happy", "calm"}
    # raw ratings: no standardisation
    assert all(float(n.scale) == 1 and float(n.shift) == 0 for n in fitted.model.nets)
    module, index, layer = fitted.explainable("calm")
    assert module is fitted.model.nets[1] and index == 0 and layer == "net.4"
    # network g is seeded with seed * 1000 + g: the second is calm's model of seed 3001
    alone, _ = regressors._train_group(data, ["calm"], net, 3001, standardize=False, name="t",
                                       progress=False, **OPTIONS)
    for v, w in zip(module.state_dict().values(), alone.state_dict().values()):
        assert torch.equal(v, w)
    with pytest.raises(ValueError, match="not an output"):
        fitted.explainable("grumpy")


def test_networks_lists_each_network_once(data):
    fitted = regressors.fit_or_load(data, _config("multi", ("happy", "calm")), net, name="t",
                                    options=dict(OPTIONS, epochs=1), cache=False, progress=False,
                                    device="cpu")
    (module, layer, members), = regressors.networks(fitted, ["happy", "calm"])
    assert module is fitted.model and layer is None and members == [("happy", 0), ("calm", 1)]


def test_the_same_seed_trains_the_same_weights(data):
    a, _ = regressors.train(data, ["happy"], net, protocol="multi", seed=5, progress=False,
                            **OPTIONS)
    b, _ = regressors.train(data, ["happy"], net, protocol="multi", seed=5, progress=False,
                            **OPTIONS)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k
    with pytest.raises(ValueError, match="protocol"):
        regressors.train(data, ["happy"], net, protocol="each", seed=5, **OPTIONS)


def test_checks_name_the_problem(data):
    assert regressors.check_attributes(None) == list(ATTRIBUTES)
    with pytest.raises(ValueError, match="grumpy"):
        regressors.check_attributes(["happy", "grumpy"])
    with pytest.raises(ValueError, match="empty"):
        regressors.check_attributes([])
    with pytest.raises(ValueError, match="image_size=32"):
        regressors.check_data(data, 32)
    few = AttributeData(**{**data.__dict__, "split": np.array(["train"] * (N - 1) + ["val"])})
    with pytest.raises(ValueError, match="at least 2"):
        regressors.check_data(few, SIZE)


def test_build_gives_the_structure_a_checkpoint_loads_into():
    multi = regressors.build(net, 3, "multi")
    assert isinstance(multi, training.Rescaled) and multi.shift.shape == (3,)
    stacked = regressors.build(net, 2, "per_attribute")
    assert isinstance(stacked, regressors.StackedNets) and len(stacked.nets) == 2
    x = torch.rand(2, 3, SIZE, SIZE)
    assert stacked(x).shape == (2, 2)


def test_vgg16_net_and_fit_options_read_the_model_settings():
    from dataclasses import fields

    from facexai.settings import RegressorSettings

    config = RegressorSettings(width=2, dropout=0.3, batch_norm=False, lr=0.01).values("model")
    model = regressors.vgg16_net(config)(3, True)
    assert model.classifier[-1].out_features == 3 and model.features[0].out_channels == 2
    assert model.classifier[2].p == pytest.approx(0.3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    options = regressors.fit_options(config, optimizer="adam", t_max=200)
    assert options == dict(lr=0.01, weight_decay=config["weight_decay"], scheduler="none",
                           epochs=config["epochs"], batch_size=config["batch_size"],
                           patience=config["patience"], optimizer="adam", t_max=200)
    assert set(options) <= {f.name for f in fields(training.Options)}


def _fit_seed(data, folder, *, seed, **kwargs):
    """A picklable ``fit`` for :func:`regressors.fit_seeds` (module level: workers import it)."""
    return regressors.fit_or_load(data, {**_config(), "seed": seed}, net, name="test-par",
                                  options=OPTIONS, cache=folder, device="cpu",
                                  **{"progress": False, **kwargs})


def test_fit_seeds_in_processes_trains_the_missing_seeds_as_one_thread_alone_would(data, tmp_path):
    """Seeds missing from the cache train in worker processes (one thread each); the models are
    those a one-thread training of each seed gives, marked as trained now; a cached seed is not
    retrained, and a second call reads everything from the cache."""
    import functools

    fit = functools.partial(_fit_seed, data, tmp_path / "par")
    assert fit(seed=5, train_missing=False) is None             # nothing cached yet
    cached = fit(seed=5, threads=1)                             # seed 5 cached beforehand
    fits = regressors.fit_seeds(fit, 3, seed=5, processes=2)
    assert fits.seeds == [5, 6, 7] and [f.from_cache for f in fits] == [True, False, False]
    assert all(f.train_seconds > 0 for f in fits)
    alone = [functools.partial(_fit_seed, data, False)(seed=s, threads=1) for s in (6, 7)]
    for f, ref in zip(fits.fits[1:], alone):
        for k, v in ref.model.state_dict().items():
            assert torch.equal(f.model.state_dict()[k], v), k
    np.testing.assert_array_equal(fits[0].predict(data.images[:3]).to_numpy(),
                                  cached.predict(data.images[:3]).to_numpy())
    assert regressors.fit_seeds(fit, 3, seed=5, processes=2).from_cache
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="processes"):
            regressors.fit_seeds(fit, 2, processes=bad)


def test_fit_seeds_trains_one_cached_model_per_seed(data, tmp_path):
    def fit(seed):
        return regressors.fit_or_load(data, {**_config(), "seed": seed}, net, name="test-seeds",
                                      options=OPTIONS, cache=tmp_path, progress=False,
                                      device="cpu")

    fits = regressors.fit_seeds(fit, 3, seed=5)
    assert fits.seeds == [5, 6, 7] and len(fits) == 3 and fits.first is fits[0]
    assert not fits.from_cache and len({f.cache_file for f in fits}) == 3
    # different seeds, different weights; each equal to a model trained alone from its seed
    first, second = (f.model.state_dict() for f in fits.fits[:2])
    assert any(not torch.equal(first[k], second[k]) for k in first)
    again = regressors.fit_seeds(fit, 3, seed=5)
    assert again.from_cache and again.train_seconds == pytest.approx(fits.train_seconds)
    hist = fits.history
    assert hist.columns[0] == "seed" and sorted(hist["seed"].unique()) == [5, 6, 7]
    assert len(hist) == sum(len(f.history) for f in fits)
    preds = fits.predict(data.images[:4])
    assert len(preds) == 3 and all(p.shape == (4, 3) for p in preds)
    assert "3 training seeds (5, 6, 7)" in fits.describe()
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_seeds"):
            regressors.fit_seeds(fit, bad)
