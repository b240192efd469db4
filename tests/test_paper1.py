"""Paper 1's protocol and numbers: the two transfer modes freeze exactly what they should
(parameters compared before and after), LRP conserves relevance on a transferred model with its
biases removed, the UTKFace faces carry the Adience age groups, and the claim's counting rules on
constructed inputs with a known answer."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from facexai import datasets
from facexai.explain import Target, explain
from facexai.paper1 import analysis, heatmaps as p1maps, protocol
from facexai.paper1.schema import Paper1Settings
from facexai.ratings import ATTRIBUTES
from facexai.synth.attributes import ADIENCE_GROUPS, adience_group
from facexai.truthscores import VERDICTS

from _twins import attribute_data

SIZE, N = 32, 24
MODEL = dict(image_size=SIZE, widths=(2, 4, 4), hidden=8, stride=2, lrn=True, dropout=0.5,
             epochs=2, batch_size=8, lr=0.01, patience=2)


@pytest.fixture(scope="module")
def tenk():
    return attribute_data(N, SIZE)


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    model = protocol.network(8, **Paper1Settings.checked("model", MODEL)).eval()
    return protocol.BaseFit("age", model, pd.DataFrame(), {"seed": 0}, None, False, 0.0)


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("mode, expected", [("dense", {"fc8.weight", "fc8.bias"}), ("whole", None)])
def test_transfer_modes_train_exactly_their_layers(tenk, base, mode, expected, tmp_path):
    fit = protocol.fit_transfer(tenk, base, mode, cache=tmp_path, seed=0, **MODEL)
    before = base.model.state_dict()
    after = {k[len("net."):]: v for k, v in fit.model.state_dict().items() if k.startswith("net.")}
    assert after["fc8.weight"].shape == (len(ATTRIBUTES), MODEL["hidden"])
    changed = _changed({k: v for k, v in before.items() if not k.startswith("fc8")},
                       {k: v for k, v in after.items() if not k.startswith("fc8")})
    if expected is None:      # the whole network: every layer moved
        assert {"conv1.weight", "conv2.weight", "conv3.weight", "fc6.weight",
                "fc7.weight"} <= changed
    else:                     # the dense layer only: the body bit-identical to the base
        assert changed == set()
    assert fit.config["source"] == base.key and fit.config["mode"] == mode


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_head_warmup_trains_the_output_layer_only(base, loss):
    model = protocol.network(8, **Paper1Settings.checked("model", MODEL))
    model.load_state_dict(base.model.state_dict())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(10, 3, SIZE, SIZE)
    y = torch.randn(10, 8) if loss == "mse" else torch.arange(10) % 8
    config = dict(Paper1Settings.checked("model", MODEL), warmup=2)
    assert protocol.head_warmup(model, x, y, loss=loss, config=config) is model
    assert _changed(before, model.state_dict()) == {"fc8.weight", "fc8.bias"}
    protocol.head_warmup(model, x, y, loss=loss, config=dict(config, warmup=0))
    after = {k: v.clone() for k, v in model.state_dict().items()}
    assert _changed(after, model.state_dict()) == set()


def test_the_warmup_keys_only_the_models_it_trains(tenk, base, tmp_path):
    """A base model and a dense-layer transfer have no warm-up: changing it retrains neither."""
    dense = protocol.fit_transfer(tenk, base, "dense", cache=tmp_path, seed=0, **MODEL)
    again = protocol.fit_transfer(tenk, base, "dense", cache=tmp_path, seed=0,
                                  **dict(MODEL, warmup=3))
    assert "warmup" not in dense.config and again.from_cache
    whole = protocol.fit_transfer(tenk, base, "whole", cache=tmp_path, seed=0,
                                  **dict(MODEL, warmup=3))
    assert whole.config["warmup"] == 3


def test_scratch_is_whole_network_only(tenk):
    with pytest.raises(ValueError, match="mode"):
        protocol.fit_transfer(tenk, None, "dense", cache=False, **MODEL)


def test_lrp_conserves_relevance_on_a_transferred_model_without_biases(tenk, base, tmp_path):
    fit = protocol.fit_transfer(tenk, base, "whole", cache=tmp_path, seed=1, **MODEL)
    model = fit.model.double().eval()
    with torch.no_grad():
        model.shift.zero_()
        for m in model.modules():
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
    x = torch.as_tensor(np.random.default_rng(2).normal(size=(4, 3, SIZE, SIZE)))
    for method in ("lrp_alpha2beta1", "lrp_epsilon_plus_flat"):
        for k in (0, 5):
            r = explain(model, x, Target.regression(index=k), method, epsilon=1e-12,
                        stabilizer=1e-12)
            score = model(x)[:, k].detach()
            assert torch.allclose(r.sum((1, 2, 3)), score, rtol=1e-6, atol=1e-9), method


def test_utkface_faces_carry_the_adience_groups(tmp_path):
    root = datasets.ensure_twin("utkface", root=tmp_path, n_images=12, seed=0, render_size=64)
    utk = protocol.load_utkface(data_dir=str(root), image_size=SIZE)
    assert utk.labels["age_group"].tolist() == [adience_group(a) for a in utk.labels["age"]]
    assert utk.classes["age_group"] == tuple(f"{lo}-{hi}" for lo, hi in ADIENCE_GROUPS)
    assert not utk.synthetic and sorted(set(utk.roles)) == [1, 2, 3]
    assert sum(utk.counts().values()) == len(utk.images) == 11   # one misnamed file skipped


def test_predicted_count_needs_every_seed():
    r = pd.DataFrame([[0.5, 0.5, 0.0], [0.5, 0.02, 0.0]], columns=["a", "b", "c"])
    out = analysis.predicted_count(r, 100)
    assert out == {"n": 1, "of": 3, "predicted": ["a"]}
    with pytest.raises(ValueError, match="n_faces"):
        analysis.predicted_count(r, 3)


def test_selected_sources_take_the_lowest_validation_error():
    rows = [dict(source=s, mode=m, seed=k, attribute=a, r=0.1, mae=1.0, val_mae=v)
            for s, m, a, v in (("age", "dense", "x", 2.0), ("age", "whole", "x", 1.0),
                               ("gender", "whole", "x", 1.5), ("age", "whole", "y", 3.0),
                               ("gender", "dense", "y", 0.5), ("scratch", "whole", "y", 0.1))
            for k in (0, 1)]
    chosen = analysis.selected_sources(pd.DataFrame(rows)).drop_duplicates("attribute")
    got = dict(zip(chosen["attribute"], zip(chosen["source"], chosen["mode"])))
    assert got == {"x": ("age", "whole"), "y": ("gender", "dense")}   # scratch is not a source


def test_above_chance_counts_every_source_and_the_controls():
    above, below = VERDICTS[0], VERDICTS[1]
    rows = [dict(ground_truth="derived", map="lrp", sign="high", attribute=a, source=s,
                 mode="whole", verdict=v)
            for a, vs in (("x", (above, above)), ("y", (above, below))) for s, v in
            zip(("age", "gender"), vs)]
    rows += [dict(ground_truth="derived", map=m, sign="-", attribute=a, source=s, mode="whole",
                  verdict=v) for m, v in ((p1maps.POSITIVE, above), ("random", below))
             for a in ("x", "y") for s in ("age", "gender")]
    assert p1maps.above_chance(pd.DataFrame(rows), "lrp") == {"n": 1, "of": 2, "positive": 2,
                                                              "negative": 0}


def test_base_table_reports_accuracy_against_chance(base):
    rng = np.random.default_rng(0)
    data = protocol.ClassData("toy", rng.integers(0, 256, (12, SIZE, SIZE, 3), dtype=np.uint8),
                              pd.DataFrame({"age_group": [4] * 12, "gender": [0] * 12}),
                              np.array([1] * 6 + [2] * 2 + [3] * 4, np.int8),
                              {"age_group": tuple("abcdefgh")}, True)
    base.history = pd.DataFrame({"epoch": [1, 2], "best": [False, True]})
    table = analysis.base_table({("age", 0): base}, data)
    assert table.loc[0, "chance"] == 1.0 and table.loc[0, ["best_epoch", "last_epoch"]].tolist() \
        == [2, 2]
    counts = analysis.base_confusion(base, data)
    assert counts.to_numpy().sum() == 4 and "e" in counts.index


def test_class_data_fingerprint_is_computed_once_and_a_base_ignores_the_warmup(tmp_path):
    rng = np.random.default_rng(1)
    data = protocol.ClassData("toy", rng.integers(0, 256, (12, SIZE, SIZE, 3), dtype=np.uint8),
                              pd.DataFrame({"age_group": np.arange(12) % 8,
                                            "gender": np.arange(12) % 2}),
                              np.array([1] * 6 + [2] * 2 + [3] * 4, np.int8),
                              {"age_group": tuple("abcdefgh")}, True)
    key = data.fingerprint()
    data.images = data.images[::-1].copy()   # the arrays must not change: the hash is kept
    assert data.fingerprint() == key
    fit = protocol.fit_base(data, "age", cache=tmp_path, **MODEL)
    again = protocol.fit_base(data, "age", cache=tmp_path, **dict(MODEL, warmup=4))
    assert "warmup" not in fit.config and again.from_cache
