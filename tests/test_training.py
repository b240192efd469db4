"""The study's training loop and checkpoint cache (facexai.training), checked by properties:
a linear model recovers a known linear map, fit is the textbook SGD loop, selection keeps the best
epoch, patience stops, trainable="head" leaves the body bit-identical, the augmentation hook sees
every batch, and a checkpoint reloads identically (weights_only=True) under the key of every
setting, the data and the code."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facexai import cache, compute, training
from facexai.models import tiny_cnn


def _linear_task(n=128, d=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, k, generator=g) * 3
    b = torch.randn(k, generator=g) * 5 + 10
    x = torch.randn(n, d, generator=g)
    return x, x @ w + b, w, b


@pytest.mark.parametrize("standardize", [True, False])
def test_a_linear_model_recovers_a_known_linear_map(standardize):
    x, y, w, b = _linear_task()
    torch.manual_seed(0)
    fit = training.fit(nn.Linear(x.shape[1], y.shape[1]), x, y.numpy(), loss="mse",
                       standardize=standardize, optimizer="sgd", lr=0.05, momentum=0.9,
                       epochs=40, batch_size=32, seed=1)
    assert isinstance(fit.model, training.Rescaled)
    x_new = torch.randn(50, x.shape[1], generator=torch.Generator().manual_seed(9))
    pred = training.predict(fit.model, x_new)
    truth = x_new @ w + b
    assert torch.allclose(pred, truth, atol=0.02 * float(truth.std()))
    # the history's loss falls by orders of magnitude
    assert fit.history["train_loss"].iloc[-1] < 1e-3 * fit.history["train_loss"].iloc[0]


def test_standardised_training_targets_have_zero_mean_and_unit_sd():
    _, y, _, _ = _linear_task()
    z, shift, scale = training._targets(y.numpy(), training.Options(loss="mse", standardize=True))
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0, unbiased=False), 1, atol=1e-5)
    assert np.allclose(z.numpy() * scale + shift, y.numpy(), atol=1e-4)


def _reference_sgd(model, x, y, *, epochs, batch_size, lr, momentum, weight_decay, seed):
    """The textbook loop, written out: a seeded permutation per epoch, SGD with momentum."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    losses = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for a in range(0, len(x), batch_size):
            idx = order[a:a + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x))
    return losses


def _separable(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


def test_channels_last_changes_strides_only_and_is_undone():
    """The training layout keeps the parameter objects (so an optimizer built before it still
    updates them) and their values; outputs agree with the usual layout to float rounding; after
    the block every weight is contiguous again (a view of it works)."""
    torch.manual_seed(0)
    model = tiny_cnn(2, input_size=8)
    x = torch.randn(5, 1, 8, 8)
    params, values, before = list(model.parameters()), copy.deepcopy(model.state_dict()), model(x)
    with compute.channels_last(model, torch.device("cpu")):
        conv = [p for p in model.parameters() if p.dim() == 4]
        assert conv and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv)
        assert [id(p) for p in model.parameters()] == [id(p) for p in params]
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)
    assert all(p.is_contiguous() for p in model.parameters())
    for name, v in model.state_dict().items():
        assert torch.equal(v, values[name]), name
        v.view(-1)
    linear = nn.Linear(3, 2)               # no 4-D weight: nothing to do
    with compute.channels_last(linear, torch.device("cpu")):
        assert linear.weight.is_contiguous()


def test_classification_is_the_textbook_sgd_loop_and_learns():
    x, y = _separable()
    settings = dict(epochs=15, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-5, seed=3)
    torch.manual_seed(1)
    ref = tiny_cnn(2, input_size=8)
    torch.manual_seed(1)
    model = tiny_cnn(2, input_size=8)
    with compute.channels_last(ref, torch.device("cpu")):    # the memory order fit trains in
        losses = _reference_sgd(ref, x, y, **settings)
    fit = training.fit(model, x, y, loss="cross_entropy", optimizer="sgd", **settings)
    assert fit.history["train_loss"].tolist() == losses
    for (name, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert (training.predict(model, x).argmax(1) == y).float().mean() > 0.9
    assert not model.training and fit.model is model


def test_selection_keeps_the_best_epoch_and_patience_stops():
    x, y = _separable(96)
    xv, yv = _separable(48, seed=5)
    torch.manual_seed(0)
    fit = training.fit(tiny_cnn(2, input_size=8), x, y, val=(xv, yv), metric="neg_loss",
                       optimizer="sgd", lr=0.5, epochs=40, batch_size=8, patience=3, seed=0)
    h = fit.history
    best = h.loc[h["best"]].iloc[0]
    assert h["best"].sum() == 1 and best["val_neg_loss"] == h["val_neg_loss"].max()
    # stopped either at the last epoch or exactly `patience` epochs after the best
    assert len(h) == 40 or len(h) == fit.best_epoch + 3
    # the model holds the best epoch's weights: its validation loss is the recorded one
    loss = nn.functional.cross_entropy(training.predict(fit.model, xv), yv)
    assert float(loss) == pytest.approx(best["val_loss"], rel=1e-6)


def test_an_unchanging_validation_score_stops_after_patience_epochs():
    x, y = _separable()
    torch.manual_seed(0)
    model = tiny_cnn(2, input_size=8)
    # the validation set is one class throughout, so accuracy cannot change between epochs
    fit = training.fit(model, x, y, val=(x[y == 0], y[y == 0]), optimizer="sgd", lr=1e-9,
                       epochs=50, batch_size=16, patience=4, seed=0)
    assert len(fit.history) == 1 + 4 and fit.best_epoch == 1  # a tie is no improvement


def test_trainable_head_leaves_the_body_bit_identical():
    x, y = _separable()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training.fit(model, x, y, trainable="head", optimizer="sgd", lr=0.1, epochs=3, batch_size=16)
    after = model.state_dict()
    head = {f"5.{n}" for n, _ in model[5].named_parameters()}
    for k in before:
        if k in head:
            assert not torch.equal(before[k], after[k]), f"head parameter {k} did not change"
        else:  # parameters and batch-norm statistics alike
            assert torch.equal(before[k], after[k]), f"body tensor {k} changed"
    assert all(p.requires_grad for p in model.parameters())   # the freeze is undone
    assert training.head_module(model) is model[5]
    assert training.trainable_parameters(model, "head") == list(model[5].parameters())


def test_the_augmentation_hook_sees_every_batch_and_batches_of_one_are_skipped():
    x, y = _separable(33)   # 2 batches of 16 and one of 1
    seen = []

    def hook(batch, generator):
        assert isinstance(generator, torch.Generator)
        seen.append(len(batch))
        return batch

    torch.manual_seed(0)
    a = tiny_cnn(2, input_size=8)
    torch.manual_seed(0)
    b = tiny_cnn(2, input_size=8)
    training.fit(a, x, y, augment=hook, optimizer="sgd", epochs=2, batch_size=16, seed=4)
    training.fit(b, x, y, optimizer="sgd", epochs=2, batch_size=16, seed=4)
    assert seen == [16, 16, 16, 16]
    # an identity hook that draws nothing changes nothing
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_is_seeded():
    x, y = _separable()
    runs = []
    for _ in range(2):
        torch.manual_seed(2)
        model = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 2))
        runs.append(training.fit(model, x, y, augment=lambda b, g: b + 0.1 * torch.randn(
            b.shape, generator=g), optimizer="adam", lr=0.01, epochs=3, batch_size=8, seed=7))
    pd.testing.assert_frame_equal(runs[0].history.drop(columns="seconds"),
                                  runs[1].history.drop(columns="seconds"))
    assert all(torch.equal(p, q) for p, q in zip(runs[0].model.parameters(),
                                                  runs[1].model.parameters()))


def test_predict_batches_agree_with_one_forward_and_the_mode_is_restored():
    torch.manual_seed(0)
    model = tiny_cnn(3, input_size=8)
    x = torch.randn(10, 1, 8, 8)
    model.train()
    out = training.predict(model, x, batch_size=3)
    assert model.training
    model.eval()
    with torch.no_grad():
        assert torch.allclose(out, model(x), atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (dict(loss="hinge"), "loss"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(epochs=0), "epochs"), (dict(lr=0.0), "lr"), (dict(trainable="body"), "trainable"),
    (dict(patience=1.5), "patience"), (dict(standardize=True), "standardize"),
    (dict(metric="auc"), "metric"),
])
def test_bad_options_are_named(bad, match):
    x, y = _separable(8)
    with pytest.raises(ValueError, match=match):
        training.fit(tiny_cnn(2, input_size=8), x, y, **bad)


# -- checkpoints --------------------------------------------------------------------------------

def _trainer(calls):
    def train():
        calls.append(1)
        torch.manual_seed(len(calls))
        model = tiny_cnn(2, input_size=8)
        return model, pd.DataFrame({"epoch": [1], "train_loss": [0.5]})
    return train


def test_a_checkpoint_reloads_identically_with_weights_only(tmp_path):
    settings = dict(lr=0.1, epochs=1, layers=[1, 2])
    target = training.checkpoint_path(tmp_path, "tiny", settings, data="abc")
    calls = []
    first = training.load_or_fit(target, settings, build=lambda: tiny_cnn(2, input_size=8),
                                 train=_trainer(calls))
    assert not first.from_cache and target.is_file() and calls == [1]
    blob = torch.load(target, weights_only=True)   # plain tensors and strings only
    assert set(blob["state_dict"]) == set(first.model.state_dict())
    again = training.load_or_fit(target, settings, build=lambda: tiny_cnn(2, input_size=8),
                                 train=_trainer(calls))
    assert again.from_cache and calls == [1] and again.settings == settings
    for (k, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k
    pd.testing.assert_frame_equal(again.history, first.history)
    assert training.load_checkpoint(target).train_seconds == pytest.approx(first.train_seconds)


def test_a_damaged_checkpoint_is_retrained(tmp_path):
    target = tmp_path / "tiny-x.pt"
    target.write_bytes(b"not a checkpoint")
    calls = []
    ckpt = training.load_or_fit(target, {}, build=lambda: tiny_cnn(2, input_size=8),
                                train=_trainer(calls))
    assert calls == [1] and not ckpt.from_cache
    assert training.load_checkpoint(target).state.keys() == ckpt.model.state_dict().keys()


def test_the_key_covers_every_setting_the_data_and_the_code(tmp_path, monkeypatch):
    settings = dict(lr=0.1, epochs=3)
    base = training.checkpoint_path(tmp_path, "m", settings, data="d1")
    assert training.checkpoint_path(tmp_path, "m", dict(reversed(settings.items())),
                                    data="d1") == base                 # order does not matter
    for k in settings:
        assert training.checkpoint_path(tmp_path, "m", dict(settings, **{k: 2 * settings[k]}),
                                        data="d1") != base
    assert training.checkpoint_path(tmp_path, "m", settings, data="d2") != base
    assert training.checkpoint_path(tmp_path, "m", settings, data="d1",
                                    code=("ratings.py",)) != base
    # any edit of the training code changes the key: a copy of the sources, one line added
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in training.TRAINING_CODE:
        (lib / name).write_bytes((cache.PACKAGE / name).read_bytes())
    monkeypatch.setattr(cache, "PACKAGE", lib)
    copy = training.checkpoint_path(tmp_path, "m", settings, data="d1")
    assert copy == base
    with open(lib / "training.py", "a") as fh:
        fh.write("# an edit\n")
    assert training.checkpoint_path(tmp_path, "m", settings, data="d1") != base
