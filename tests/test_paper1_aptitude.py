"""Paper 1's section-4 glue on toy inputs with known answers (no training): the probe's factor
coding, the four measures of a model compared with a richer and with a poorer copy, both
controls, the spread's counts of empty maps, the aptitude rule on points that follow the overlap
and on points that do not, and the recorded names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facexai import richness
from facexai.paper1 import aptitude as A
from facexai.paper1 import results as R
from facexai.ratings import to_tensor
from facexai.regions import FACE_REGIONS, REGIONS
from facexai.synth.attributes import PAIRS


def _measured(name, rng, *, dims, recovered, spread, mae, seeds=(0, 1, 2), n=120):
    """A Measured whose features span ``dims`` equal directions, with the given per-seed values
    (plus a little noise per seed)."""
    feats = [rng.normal(size=(n, dims)) @ rng.normal(size=(dims, 16))
             + 0.01 * rng.normal(size=(n, 16)) for _ in seeds]
    k = len(seeds)
    return A.Measured(name, list(seeds), feats, np.asarray(recovered, float),
                      spread + 0.01 * rng.normal(size=(k, 40)), mae + 0.001 * np.arange(k))


def _pair():
    rng = np.random.default_rng(0)
    rich = _measured("age", rng, dims=8, recovered=[10, 11, 12], spread=0.6, mae=0.5)
    poor = _measured("gender", rng, dims=2, recovered=[4, 5, 5], spread=0.3, mae=0.7)
    return rich, poor


def test_compare_favours_the_richer_model_on_every_measure():
    rich, poor = _pair()
    table = A.compare(rich, poor, n_boot=200)
    assert list(table.index) == list(A.MEASURES)
    assert table["favours_a"].all()
    assert table.loc["participation", "a"] == pytest.approx(
        np.mean([richness.participation_ratio(f) for f in rich.features]))
    # the error enters as the other model's minus this one's: positive favours the first
    assert table.loc["dense_mae", "difference"] == pytest.approx(0.2, abs=1e-9)
    assert table.loc["probe", "difference"] == pytest.approx(np.mean([6, 6, 7]))
    assert table.attrs["a"] == "age" and table.attrs["b"] == "gender"
    assert list(A.named(table).columns[:6]) == ["age", "age_lo", "age_hi", "gender",
                                                 "gender_lo", "gender_hi"]
    assert not table["favours_b"].any()
    reverse = A.compare(poor, rich, n_boot=200)
    assert not reverse["favours_a"].any() and reverse["favours_b"].all()


def test_the_negative_control_compares_a_model_with_its_next_seed():
    rich, _ = _pair()
    rotated = rich.rotated()
    assert rotated.seeds == rich.seeds and rotated.recovered[0] == rich.recovered[1]
    np.testing.assert_array_equal(rotated.spread[-1], rich.spread[0])
    table = A.compare(rich, rotated, n_boot=200)
    # a mean over all seeds minus the same mean: every difference is 0, no interval excludes it
    np.testing.assert_allclose(table["difference"], 0, atol=1e-12)
    assert not table["favours_a"].any()


def test_the_positive_control_is_poorer_on_every_measure():
    rng = np.random.default_rng(1)
    n, d = 300, 12
    base = rng.normal(size=(n, d))
    feats = {("age", s): base + 0.05 * rng.normal(size=(n, d)) for s in (0, 1)}
    factors = pd.DataFrame({f"f{k}": base[:, k] for k in range(4)})
    train, test = np.arange(200), np.arange(200, 300)
    probes = A.probe_table(feats, factors, train, test)
    spreads = pd.DataFrame({"task": "age", "seed": np.repeat([0, 1], 5), "face": np.tile(
        np.arange(5), 2), "spread": [0.8, np.nan, 0.7, 0.9, 0.6] * 2})
    dense = pd.DataFrame({"source": "age", "seed": [0, 1], "mae": [0.5, 0.52]})
    fc = A.Fc7(feats, factors, train, test)
    m = A.measured("age", fc, probes, spreads, dense)
    poor = A.degraded(m, fc, baseline_mae=0.9)
    assert all(f.shape == (100, A.DEGRADED_COMPONENTS) for f in poor.features)
    assert np.isnan(poor.spread[:, 1]).all()
    np.testing.assert_allclose(poor.spread[:, 0], 1 / len(FACE_REGIONS))
    assert (poor.recovered < m.recovered).all() and (poor.mae == 0.9).all()
    assert A.compare(m, poor, n_boot=200).loc[["participation", "spread", "dense_mae"],
                                             "favours_a"].all()


def test_measured_gathers_the_tables_per_seed():
    feats = {(t, s): np.arange(20.0).reshape(10, 2) + s for t in ("age", "gender")
             for s in (3, 4)}
    probes = pd.DataFrame({"task": "age", "seed": [3, 3, 4], "factor": list("abc"),
                           "r2": 0.9, "recovered": [True, True, False]})
    spreads = pd.DataFrame({"task": "age", "seed": [4, 3], "face": [0, 0], "spread": [0.2, 0.1]})
    dense = pd.DataFrame({"source": ["age"] * 4, "seed": [3, 3, 4, 4], "mae": [1, 2, 3, 5.0]})
    fc = A.Fc7(feats, None, np.arange(5, 10), np.arange(5))
    m = A.measured("age", fc, probes, spreads, dense)
    assert m.seeds == [3, 4] and list(m.recovered) == [2, 0]
    assert m.spread[:, 0].tolist() == [0.1, 0.2] and m.mae.tolist() == [1.5, 4.0]
    assert m.features[1].shape == (5, 2)
    with pytest.raises(ValueError, match="task"):
        A.measured("kdef", fc, probes, spreads, dense)


def _labels(n=3, size=20):
    """Region labels: background, then a band per face region (every region present)."""
    lab = np.zeros((n, size, size), int)
    for k, name in enumerate(FACE_REGIONS):
        lab[:, 2 + k, 2:18] = REGIONS.index(name)
    return lab


def test_spread_counts_empty_and_off_face_maps():
    lab = _labels()
    maps = np.zeros(lab.shape)
    maps[0][lab[0] > 1] = 1.0                      # uniform over the face regions: spread 1
    maps[1][0, 0] = 1.0                           # only on the background: off the face
    maps[2] = -1.0                                # no positive relevance: empty
    table = A.spread_table({("age", 0): maps}, lab)
    assert table["spread"].iloc[0] == pytest.approx(1.0)
    assert table["off_face"].tolist() == [False, True, False]
    assert table["empty"].tolist() == [False, False, True]
    assert table["spread"].iloc[1:].isna().all()


def test_overlap_lift_of_the_truth_itself_and_of_the_face():
    lab = _labels()
    truth = {"happy": (lab == REGIONS.index("mouth")).astype(float)}
    maps = {("age", 0): truth["happy"].copy(), ("gender", 0): (lab > 0).astype(float)}
    table = A.overlap_table(maps, truth, lab).set_index("task")
    assert table.loc["age", "mass"].tolist() == pytest.approx([1.0] * 3)
    np.testing.assert_allclose(table.loc["gender", "lift"], 0, atol=1e-12)
    assert set(table.columns) >= {"seed", "attribute", "face", "lift", "face_chance", "empty"}


def _points(follow: bool, seed=0):
    """Aptitude points of every attribute: r follows the overlap (per pair) or not at all."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in ("age", "gender"):
        for a, b in PAIRS:
            lift = rng.normal()
            r = lift + 0.1 * rng.normal() if follow else rng.normal()
            for name in (a, b):
                rows.append({"task": task, "attribute": name, "lift": lift, "mass": lift + 1,
                             "face_chance": 0.2, "defined": True, "r": r})
    return pd.DataFrame(rows).set_index(["task", "attribute"])


def test_aptitude_holds_where_r_follows_the_overlap_and_not_where_it_does_not():
    tests = A.aptitude_tests(_points(True), n_permutations=300)
    assert tests.loc[("age", "observed"), "rho"] > 0.9
    assert tests.loc[("age", "observed"), "p"] < 0.01
    assert tests.loc[("age", "observed"), "n"] == 40
    assert tests.loc[("age", "positive"), "p"] < 0.01
    assert abs(tests.loc[("age", "negative"), "null_mean"]) < 0.1
    unrelated = A.aptitude_tests(_points(False, seed=2), n_permutations=300)
    assert unrelated.loc[("age", "observed"), "p"] > 0.05
    assert unrelated.loc[("age", "positive"), "p"] < 0.01   # the positive control ignores r


def test_aptitude_leaves_out_pairs_with_an_undefined_pole():
    points = _points(True)
    points.loc[("age", PAIRS[0][1]), "defined"] = False
    tests = A.aptitude_tests(points, n_permutations=50)
    assert tests.loc[("age", "observed"), "n"] == 38
    assert tests.loc[("gender", "observed"), "n"] == 40


def test_recorded_names_every_result_of_the_section():
    rich, poor = _pair()
    main = A.compare(rich, poor, n_boot=100)
    controls = {"negative": A.compare(rich, rich.rotated(), n_boot=100), "positive": main}
    out = A.recorded(main, controls, A.aptitude_tests(_points(True), n_permutations=50))
    for task in ("age", "gender"):
        for base in (R.PARTICIPATION, R.PROBE_RECOVERED, R.SPREAD, R.DENSE_ERROR):
            assert {base.part(task), base.part(f"{task}_lo"), base.part(f"{task}_hi")} <= set(out)
        assert R.APTITUDE_RHO.part(task) in out and R.APTITUDE_P.part(task) in out
        assert R.APTITUDE_RHO.part(task).control("negative") in out
    assert out[R.N_RICHER] == 4 and out[R.N_MEASURES] == 4
    assert out[R.N_RICHER.control("negative")] == 0
    assert all(r.notebook == R.RICHNESS for r in out) and out["data"] == "synthetic twin"
    text = A.measures_text(main, controls)
    assert text.startswith("**4 of 4** measures favour the age model")
    assert "; 0 of 4 favour the gender model." in text
    assert "Negative control (age against age (next seed)): 0 of 4." in text
    lines = A.aptitude_text(A.aptitude_tests(_points(True), n_permutations=50)).splitlines()
    assert len(lines) == 2 and "(rho > 0 at p < 0.05: yes)" in lines[0]


def test_probe_factors_code_categories_as_one_column_per_level():
    from facexai.synth.generate import sample_face

    params = [sample_face(0, k) for k in range(6)]
    table = A.probe_factors(params)
    assert {"emotion", "emotion_name", "age_group", "hair_style"}.isdisjoint(table.columns)
    emotions = table.filter(like="emotion_")
    assert (emotions.sum(axis=1) == 1).all()
    assert (table.filter(like="hair_style_").sum(axis=1) == 1).all()
    assert all(pd.api.types.is_numeric_dtype(c) or pd.api.types.is_bool_dtype(c)
               for _, c in table.items())


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))


class _Fit:
    def __init__(self):
        self.model = _net().eval()


def test_features_are_the_named_layer_and_maps_explain_the_predicted_class():
    fit = _Fit()
    images = np.random.default_rng(3).integers(0, 255, (4, 2, 2, 3), dtype=np.uint8)
    feats = A.base_features({("age", 0): fit}, images, layer="2")
    x = to_tensor(images)
    hidden = torch.relu(fit.model[1](x.flatten(1))).detach().numpy()
    np.testing.assert_allclose(feats["age", 0], hidden, rtol=1e-6)
    maps = A.base_maps({("age", 0): fit}, x, method="gradient")
    predicted = fit.model(x).argmax(1)
    xg = x.clone().requires_grad_(True)
    fit.model(xg).gather(1, predicted[:, None]).sum().backward()
    np.testing.assert_allclose(maps["age", 0], xg.grad.sum(1).numpy(), rtol=1e-6)


def test_derived_truth_over_processes_and_from_the_cache_is_the_cores(tmp_path, monkeypatch):
    from facexai import causemaps
    from facexai.synth.generate import sample_face

    monkeypatch.setenv("FACEXAI_CACHE", str(tmp_path))
    params = [sample_face(0, k) for k in range(3)]
    attributes = ("happy", "intelligent")
    serial = causemaps.derived_truth(params, attributes, 48, 48)
    assert not (tmp_path / "truth").exists()                   # not cached unless asked
    split = causemaps.derived_truth(params, attributes, 48, 48, workers=2, cache=True)
    assert list(split) == ["happy", "intelligent"]
    assert len(list((tmp_path / "truth").glob("derived-*.npz"))) == 1
    monkeypatch.setattr(causemaps, "_truth_maps", None)        # the second call must not render
    cached = causemaps.derived_truth(params, attributes, 48, 48, cache=True)
    for a in serial:
        np.testing.assert_array_equal(split[a], serial[a])
        np.testing.assert_array_equal(cached[a], serial[a])
    with pytest.raises(ValueError, match="workers"):
        causemaps.derived_truth(params, ["happy"], 48, 48, workers=0)
