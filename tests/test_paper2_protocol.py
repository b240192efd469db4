"""Paper 2's protocol: CK+ folds and classes, the network, Normer3, augmentation, iteration-based
training with sampling with replacement, and the two checkpoint-selection protocols."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

from facexai import paper2, preprocess, steps
from facexai.paper2 import accuracy as acc
from facexai.datasets import ckplus

TINY = dict(image_size=16, widths=[2, 3, 4], hidden=5, iterations=4, eval_every=2, batch_size=8)


@pytest.fixture(scope="module")
def ck_root(tmp_path_factory):
    """A CK+ twin of 12 subjects (one labelled sequence of 6 frames each), as data_dir/CK+."""
    base = tmp_path_factory.mktemp("p2data")
    ckplus.write_twin(base / "CK+", n_subjects=12, sequences_per_subject=1, n_frames=6, seed=1,
                      render_size=48)
    return base


@pytest.fixture(scope="module")
def ck8(ck_root):
    return paper2.load_ckplus(8, data_dir=str(ck_root), image_size=24)


def test_folds_are_sorted_subject_index_mod_10_with_validation_k_plus_1(ck8):
    order = sorted(set(ck8.subjects.tolist()))
    expected = np.array([order.index(s) % 10 for s in ck8.subjects])
    assert np.array_equal(ck8.folds, expected)
    for k in range(10):
        part = ck8.split(k)
        assert np.array_equal(part["test"], np.flatnonzero(expected == k))
        assert np.array_equal(part["val"], np.flatnonzero(expected == (k + 1) % 10))
        assert np.array_equal(part["train"],
                              np.flatnonzero((expected != k) & (expected != (k + 1) % 10)))
        roles = {r: set(ck8.subjects[i]) for r, i in part.items()}
        assert not (roles["train"] & roles["val"] or roles["train"] & roles["test"]
                    or roles["val"] & roles["test"])
    with pytest.raises(ValueError, match="k must be"):
        ck8.split(10)


def test_condensing_keeps_the_first_frame_as_neutral_and_the_last_three(ck8):
    assert len(ck8) == 12 * 4 and ck8.images.shape[1:] == (24, 24)
    for _, seq in ck8.frames.groupby("sequence"):
        assert seq["frame"].tolist() == [1, 4, 5, 6]            # frames 2 and 3 of 6 dropped
        assert seq["role"].tolist() == ["first", "last3", "last3", "last3"]
        labels = ck8.labels[seq.index]
        assert labels[0] == 0 and len(set(labels[1:])) == 1 and labels[1] != 0


def test_six_class_remap_drops_neutral_and_contempt(ck_root, ck8):
    keep, new = paper2.six_class(np.arange(8))
    assert keep.tolist() == [False, True, False, True, True, True, True, True]
    assert new.tolist() == [-1, 0, -1, 1, 2, 3, 4, 5]
    six = paper2.load_ckplus(6, data_dir=str(ck_root), image_size=24)
    kept = ~np.isin(ck8.labels, [0, 2])
    assert len(six) == kept.sum() and six.classes[0] == "anger" and len(six.classes) == 6
    assert np.array_equal(six.labels, [{1: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5}[c]
                                       for c in ck8.labels[kept]])
    assert np.array_equal(six.roles, ck8.roles[kept])
    with pytest.raises(ValueError, match="labels"):
        paper2.six_class([0, 9])
    with pytest.raises(ValueError, match="classes"):
        paper2.load_ckplus(7, data_dir=str(ck_root))


@pytest.mark.parametrize("size,widths", [(96, (64, 128, 256)), (48, (8, 16, 32))])
def test_quadrant_pooling_gives_two_by_two_maps(size, widths):
    model = paper2.untrained_model(8, **dict(TINY, image_size=size, widths=list(widths)))
    feats = model[:model_index(model, "pool3") + 1](torch.zeros(2, 1, size, size))
    assert feats.shape == (2, widths[2], 2, 2)
    assert model.pool3.kernel_size == size // 8 and model.fc4.in_features == 4 * widths[2]
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 8)


def model_index(model, name: str) -> int:
    return [n for n, _ in model.named_children()].index(name)


def test_conv_layers_have_no_bias_and_the_codes_initialisation():
    s = dict(TINY, image_size=96, widths=[64, 128, 256], hidden=300, seed=7)
    model = paper2.untrained_model(8, **s)
    k = paper2.init_scale(7)
    assert 0.2 <= k <= 1.2 and k != paper2.init_scale(8)
    for name in ("conv1", "conv2", "conv3"):
        conv = getattr(model, name)
        assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
        fan_in = conv.weight[0].numel()
        assert conv.weight.std().item() == pytest.approx(k / math.sqrt(fan_in), rel=0.1)
    assert torch.all(model.fc4.bias == 1.0) and torch.all(model.output.bias == 0.0)
    fc4 = model.fc4.weight.std().item()
    assert fc4 == pytest.approx(k / math.sqrt(1024 * 8), rel=0.05)          # batch 8 in the fan-in
    plain = paper2.untrained_model(8, **dict(s, fc4_batch_fan_in=False)).fc4.weight.std().item()
    assert plain == pytest.approx(k / math.sqrt(1024), rel=0.05)
    assert paper2.untrained_model(8, "cnn_d", **s).dropout.p == 0.5
    with pytest.raises(ValueError, match="variant"):
        paper2.untrained_model(8, "cnn_x", **s)


def test_selection_protocols_on_a_hand_made_history():
    h = pd.DataFrame({"iteration": [1000, 2000, 3000, 4000],
                      "val_accuracy": [0.50, 0.70, 0.60, 0.70],
                      "test_accuracy": [0.80, 0.60, 0.90, 0.90]})
    assert steps.select_checkpoint(h, "val_accuracy") == 1            # earliest of the ties
    table = steps.selection_table({0: h, 1: h.assign(val_accuracy=[0.9, 0, 0, 0])},
                                  paper2.PROTOCOLS, "test_accuracy")
    assert table.loc[0, "validation"] == 0.60 and table.loc[0, "validation_iteration"] == 2000
    assert table.loc[0, "test"] == 0.90 and table.loc[0, "test_iteration"] == 3000
    assert table.loc[1, "validation"] == 0.80 and table.loc[1, "test"] == 0.90
    with pytest.raises(ValueError, match="by="):
        steps.select_checkpoint(h, "nope")
    with pytest.raises(ValueError, match="no finite"):
        steps.select_checkpoint(h.assign(val_accuracy=np.nan), "val_accuracy")


def test_batches_are_drawn_uniformly_with_replacement_and_seeded():
    def draw(seed):
        return steps.uniform_batches(5, 64, 400, torch.Generator().manual_seed(seed))
    a, b, c = draw(3), draw(3), draw(4)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == (400, 64)
    assert all(len(set(row.tolist())) < 64 for row in a[:10])          # repeats within a batch
    counts = np.bincount(a.flatten().numpy(), minlength=5)
    from scipy.stats import chisquare
    assert chisquare(counts).pvalue > 1e-3 and counts.sum() == 400 * 64
    with pytest.raises(ValueError, match="batch_size"):
        steps.uniform_batches(5, 0, 1, torch.Generator())


def test_torch_sgd_is_annas_momentum_update():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    model = torch.nn.Linear(3, 2)
    theta = [p.detach().clone() for p in model.parameters()]
    v = [torch.zeros_like(p) for p in theta]
    lr, wd, mu = 0.01, 1e-2, 0.9
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu, weight_decay=wd)
    for _ in range(5):
        ref = torch.nn.Linear(3, 2)
        with torch.no_grad():
            ref.weight.copy_(theta[0]), ref.bias.copy_(theta[1])
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(ref(x), y),
                                    list(ref.parameters()))
        v = [mu * vi - wd * lr * t - lr * g for vi, t, g in zip(v, theta, grads)]
        theta = [t + vi for t, vi in zip(theta, v)]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for p, t in zip(model.parameters(), theta):
        assert torch.allclose(p, t, atol=1e-6)


def test_normer3_against_a_zero_padded_box_filter():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 2, (1, 1, 9, 11)).astype(np.float32)
    box = ndimage.uniform_filter(img[0, 0].astype(float), 5, mode="constant")
    got = preprocess.local_normalise(torch.from_numpy(img), 5, 0.0)[0, 0].numpy()
    assert np.allclose(got, img[0, 0] - box, atol=1e-5)
    var = ndimage.uniform_filter((img[0, 0] - box) ** 2, 5, mode="constant")
    got = preprocess.local_normalise(torch.from_numpy(img), 5, 0.5)[0, 0].numpy()
    assert np.allclose(got, (img[0, 0] - box) / np.sqrt(var + preprocess.EPS), atol=1e-4)
    x = paper2.model_input(np.full((1, 8, 8), 255, np.uint8))
    assert x[0, 0, 4, 4].item() == pytest.approx(0.0, abs=1e-6)        # interior of a flat image
    with pytest.raises(ValueError, match="size"):
        preprocess.local_normalise(torch.zeros(1, 1, 4, 4), 4)


def test_augmentation_is_seeded_min_max_scaled_and_the_identity_when_switched_off():
    x = preprocess.scaled_input(np.random.default_rng(1).integers(0, 256, (6, 20, 20), np.uint8))
    a = preprocess.random_affine_gray(x, torch.Generator().manual_seed(2))
    b = preprocess.random_affine_gray(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and a.shape == x.shape
    assert torch.allclose(a.amin((1, 2, 3)), torch.zeros(6)) and \
        torch.allclose(a.amax((1, 2, 3)), torch.full((6,), 2.0))
    same = preprocess.random_affine_gray(x, torch.Generator(), max_angle=0.0,
                                         scale_range=(1.0, 1.0), flip=False, gray=False)
    assert torch.allclose(same, x, atol=1e-5)
    flipped = preprocess.random_affine_gray(x, torch.Generator().manual_seed(0), max_angle=0.0,
                                            scale_range=(1.0, 1.0), gray=False)
    mirror = [torch.allclose(f, x[i].flip(-1), atol=1e-5) for i, f in enumerate(flipped)]
    plain = [torch.allclose(f, x[i], atol=1e-5) for i, f in enumerate(flipped)]
    assert all(m or p for m, p in zip(mirror, plain)) and any(mirror)
    with pytest.raises(ValueError, match="scale_range"):
        preprocess.random_affine_gray(x, torch.Generator(), scale_range=(0.0, 1.0))


def _toy_data(n=60, size=16, classes=3, n_splits=2):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    for c in range(classes):                     # a bright band whose row gives the class
        images[labels == c, 4 * c + 2: 4 * c + 5, :] = 250
    groups = np.arange(n) // (n // 5) % 5
    roles = np.stack([np.where(groups == k, 3, np.where(groups == (k + 1) % 5, 2, 1))
                      for k in range(n_splits)], 1).astype(np.int8)
    return paper2.Paper2Data("toy", images, labels, ("a", "b", "c"), groups.astype(str), roles)


def test_fit_folds_trains_each_fold_once_and_reads_it_back(tmp_path):
    data = _toy_data()
    s = dict(TINY, iterations=6, eval_every=2)
    fits = paper2.fit_folds(data, "cnn_a", cache=tmp_path, keep=[2], device="cpu", **s)
    assert fits.folds == [0, 1] and len(fits.models) == 2 and not any(fits.from_cache)
    h = fits.histories[0]
    assert h["iteration"].tolist() == [2, 4, 6]
    assert {"val_accuracy", "test_accuracy", "train_loss"} <= set(h.columns)
    table = fits.selection()
    pos = steps.select_checkpoint(h, "val_accuracy")
    assert table.loc[0, "validation"] == h["test_accuracy"].iloc[pos]
    assert table.loc[0, "test"] == h["test_accuracy"].max()
    again = paper2.fit_folds(data, "cnn_a", cache=tmp_path, keep=[2], device="cpu", **s)
    assert all(again.from_cache)
    for a, b in zip(fits.models, again.models):
        for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(p, q)
    assert fits.model(1, "iter_2") is not None and len(fits.predict(data, 0)) == 12
    with pytest.raises(ValueError, match="variant"):
        paper2.fit_folds(data, "cnn_z", **s)
    with pytest.raises(ValueError, match="which"):
        fits.model(0, "best")


def test_fit_many_trains_missing_networks_in_workers_as_one_thread_would(tmp_path):
    """The networks missing from the cache train in spawned one-thread workers (even a single
    one); each equals a one-thread training of that fold, is reported as trained now, and is read
    from the cache the second time."""
    data = _toy_data()
    s = dict(TINY, iterations=6, eval_every=2)
    paper2.fit_folds(data, "cnn", [0], cache=tmp_path, device="cpu", threads=1, **s)
    fits, = paper2.fit_many([(data, "cnn", None)], processes=2, cache=tmp_path, device="cpu", **s)
    assert fits.folds == [0, 1] and fits.from_cache == [True, False]
    assert fits.train_seconds[1] > 0
    alone = paper2.fit_folds(data, "cnn", [1], cache=False, device="cpu", threads=1, **s)
    for (_, p), (_, q) in zip(fits.models[1].state_dict().items(),
                              alone.models[0].state_dict().items()):
        assert torch.equal(p, q)
    again, = paper2.fit_many([(data, "cnn", None)], processes=2, cache=tmp_path, device="cpu", **s)
    assert all(again.from_cache)
    with pytest.raises(ValueError, match="processes"):
        paper2.fit_many([(data, "cnn", None)], processes=0, cache=tmp_path, **s)


def test_fit_steps_is_reproducible_and_checks_keep():
    data = _toy_data()
    x = preprocess.scaled_input(data.images)
    y = torch.as_tensor(data.labels)

    def run():
        model = paper2.untrained_model(3, **TINY)
        return steps.fit_steps(model, x, y, iterations=4, eval_every=2, batch_size=8,
                               evals={"val": (paper2.model_input(data.images), y)}, seed=5)
    a, b = run(), run()
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    assert set(a.states) == {"best_val", "last"}
    with pytest.raises(ValueError, match="keep"):
        steps.fit_steps(paper2.untrained_model(3, **TINY), x, y, iterations=4, eval_every=2,
                        keep=[3])


def test_chance_is_the_training_majority_class_on_the_test_folds():
    labels = np.array([0, 0, 1, 1, 1, 2, 0, 0])
    roles = np.array([[1, 3], [1, 3], [1, 1], [1, 1], [1, 1], [3, 1], [3, 1], [2, 2]], np.int8)
    data = paper2.Paper2Data("hand", np.zeros((8, 8, 8), np.uint8), labels, ("a", "b", "c"),
                             np.arange(8).astype(str), roles)
    # split 0 trains on 0,0,1,1,1 (majority b): tests 2, 0 -> 0 hits; split 1 trains on
    # 1,1,1,2,0 (majority b): tests 0, 0 -> 0 hits
    assert acc.chance(data) == 0.0
    data.labels = np.array([1, 1, 1, 1, 1, 1, 0, 0])
    assert acc.chance(data) == pytest.approx(3 / 4)                  # 1 of 2, then 2 of 2


def test_selection_bias_and_summary_on_a_hand_made_fold_table():
    from scipy.stats import t as student
    table = pd.DataFrame({"data": "d", "variant": "v", "fold": [0, 1, 2],
                          "validation": [0.5, 0.6, 0.7], "test": [0.6, 0.6, 0.9]})
    b = acc.selection_bias(table)
    diff = np.array([0.1, 0.0, 0.2])
    half = student.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
    assert b["mean"] == pytest.approx(0.1) and b["wins"] == 2 and b["ties"] == 1
    assert (b["lo"], b["hi"]) == pytest.approx((0.1 - half, 0.1 + half))
    s = acc.summary([table]).iloc[0]
    assert s["folds"] == 3 and s["accuracy"] == pytest.approx(0.6)
    assert s["sd"] == pytest.approx(0.1) and s["test-selected"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="validation"):
        acc.selection_bias(table.drop(columns="test"))


def test_plateau_compares_the_last_quarter_of_checkpoints_with_the_one_before():
    h = pd.DataFrame({"iteration": np.tile(np.arange(1, 9) * 10, 2), "fold": np.repeat([0, 1], 8),
                      "val_accuracy": np.r_[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                                            [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]})
    p = acc.plateau(h)                               # means 0.2 .. 0.9; quarters of 8 = 2
    assert p["last"] == pytest.approx(0.85) and p["before"] == pytest.approx(0.65)
    assert p["change"] == pytest.approx(0.2) and p["from_iteration"] == 70
    assert p["gain"] == pytest.approx(0.85 - 0.2) and p["fraction"] == pytest.approx(0.2 / 0.65)
    assert p["lo"] == pytest.approx(0.2) and p["hi"] == pytest.approx(0.2)   # same rise per fold
    with pytest.raises(ValueError, match="share"):
        acc.plateau(h, 0.9)


def test_confusion_pools_the_test_folds(tmp_path):
    data = _toy_data()
    fits = paper2.fit_folds(data, "cnn", cache=False, device="cpu", **TINY)
    m = acc.confusion(fits, data)
    assert m.shape == (3, 3) and m.to_numpy().sum() == sum(len(data.split(k)["test"])
                                                           for k in fits.folds)
    hits = sum((fits.predict(data, k) == data.labels[data.split(k)["test"]]).sum()
               for k in fits.folds)
    assert np.trace(m.to_numpy()) == hits
    assert np.array_equal(m.sum(axis=1).to_numpy(),
                          np.bincount(np.concatenate([data.labels[data.split(k)["test"]]
                                                      for k in fits.folds]), minlength=3))


def test_tfd_keeps_its_five_official_folds_and_seven_classes(tmp_path):
    from facexai.datasets import tfd
    tfd.write_twin(tmp_path / "TFD", n_labelled=70, n_unlabelled=5, seed=2)
    data = paper2.load_tfd(data_dir=str(tmp_path), image_size=32)
    assert data.name == "tfd" and len(data) == 70 and data.images.shape[1:] == (32, 32)
    assert data.n_splits == 5 and len(data.classes) == 7 and set(data.labels) == set(range(7))
    identity = np.arange(70) // 7                                   # the twin's identities
    for k in range(5):
        part = data.split(k)
        assert set(identity[part["test"]] % 5) == {k}
        assert set(identity[part["val"]] % 5) == {(k + 1) % 5}
