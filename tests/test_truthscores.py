"""Fair scores of explanations (facexai.truthscores): mass on a soft truth against the
face-uniform map, empty maps, the Bonferroni-corrected summary and the model-truth agreement, on
constructed maps whose answers are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facexai import stats, truthscores as ts
from facexai.faithfulness import relevance_mass_accuracy


def _face():
    face = np.zeros((3, 4, 5), bool)
    face[:, 1:4, 1:4] = True                     # 9 face pixels of 20
    truth = np.zeros((3, 4, 5))
    truth[:, 1, 1:4] = 1.0                       # 3 truth pixels, all on the face
    return face, truth


def test_mass_of_known_maps_and_the_face_uniform_chance():
    face, truth = _face()
    maps = np.zeros((3, 4, 5))
    maps[0] = truth[0]                           # all relevance on the truth
    maps[1] = face[1]                            # the face-uniform map
    maps[2, 0, 0] = 5.0                          # all relevance on the background
    maps[2, 1, 1] = -3.0                         # negative relevance is left out
    mass, empty = ts.truth_mass(maps, truth)
    np.testing.assert_allclose(mass, [1.0, 3 / 9, 0.0])
    assert not empty.any()
    np.testing.assert_allclose(ts.face_chance(truth, face), 3 / 9)
    table = ts.lift_table(maps, {"t": truth}, face, seed=0)
    np.testing.assert_allclose(table["lift"], [1 - 3 / 9, 0.0, -3 / 9])
    assert (table["seed"] == 0).all() and list(table["face"]) == [0, 1, 2]


def test_soft_mass_is_binary_mass_averaged_over_thresholds():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(4, 6, 6))
    levels = np.array([0.0, 0.25, 0.5, 1.0])
    truth = rng.choice(levels, size=(4, 6, 6))
    taus = (levels[:-1] + levels[1:]) / 2        # thresholds between the levels
    widths = np.diff(levels)
    reference = sum(w * relevance_mass_accuracy(maps, truth >= t) for w, t in zip(widths, taus))
    np.testing.assert_allclose(ts.truth_mass(maps, truth)[0], reference, rtol=1e-12)


def test_empty_maps_score_zero_and_are_counted():
    face, truth = _face()
    maps = np.zeros((3, 4, 5))
    maps[1] = -1.0                               # only negative relevance: empty too
    maps[2] = truth[2]
    mass, empty = ts.truth_mass(maps, truth)
    assert empty.tolist() == [True, True, False]
    np.testing.assert_allclose(mass, [0.0, 0.0, 1.0])
    table = ts.lift_table(maps, {"t": truth}, face)
    assert len(table) == 3 and table["empty"].sum() == 2          # never dropped
    with pytest.raises(ValueError, match="truth"):
        ts.truth_mass(maps, truth * 2)
    with pytest.raises(ValueError, match="face"):
        ts.lift_table(maps, {"t": truth}, face[:2])


def _long(lifts: dict, seeds=2, faces=6):
    rows = []
    for (attribute, name), lift in lifts.items():
        for s in range(seeds):
            for f in range(faces):
                value = lift[s, f] if np.ndim(lift) else lift
                rows.append(dict(seed=s, face=f, attribute=attribute, map=name, sign="high",
                                 ground_truth="derived", mass=0.5 + value, face_chance=0.5,
                                 lift=value, empty=False))
    return pd.DataFrame(rows)


def test_corrected_summary_uses_a_bonferroni_level_per_family():
    rng = np.random.default_rng(1)
    noise = {a: rng.normal(0, 0.05, (2, 6)) for a in "abcd"}
    lifts = {("a", "gradcam"): 0.3 + noise["a"], ("b", "gradcam"): noise["b"],
             ("c", "gradcam"): -0.3 + noise["c"], ("a", "random"): noise["d"]}
    out = ts.corrected_summary(_long(lifts), n_boot=200, alpha=0.05, seed=0)
    out = out.set_index(["map", "attribute"])
    assert out.loc[("gradcam", "a"), "level"] == pytest.approx(1 - 0.05 / 3)   # 3 attributes
    assert out.loc[("random", "a"), "level"] == pytest.approx(0.95)           # a family of 1
    assert out.loc[("gradcam", "a"), "verdict"] == "above the face-uniform map"
    assert out.loc[("gradcam", "c"), "verdict"] == "below the face-uniform map"
    assert out.loc[("gradcam", "a"), "seeds"] == 2 and out.loc[("gradcam", "a"), "faces"] == 6
    # the interval is the hierarchical bootstrap at the corrected level, drawn in group order
    rng = np.random.default_rng(0)
    _, lo, hi = stats.hierarchical_interval(lifts["a", "gradcam"], 200, 1 - 0.05 / 3, rng)
    assert out.loc[("gradcam", "a"), "lift_lo"] == pytest.approx(lo)
    assert out.loc[("gradcam", "a"), "lift_hi"] == pytest.approx(hi)
    wide = ts.corrected_summary(_long(lifts), n_boot=200, alpha=0.05, seed=0,
                                family=("ground_truth",)).set_index(["map", "attribute"])
    assert wide.loc[("random", "a"), "level"] == pytest.approx(1 - 0.05 / 4)
    with pytest.raises(ValueError, match="family"):
        ts.corrected_summary(_long(lifts), family=("nonsense",))


def test_relevance_per_area_and_agreement_with_known_effects():
    n, h, w = 2, 4, 6
    masks = np.zeros((3, n, h, w))
    for c in range(3):
        masks[c, :, :, 2 * c:2 * c + 2] = 1.0    # three disjoint strips, a third of the image each
    maps = np.zeros((n, h, w))
    maps[:, :, 0:2], maps[:, :, 2:4], maps[:, :, 4:6] = 3.0, 2.0, 1.0
    rel = ts.relevance_per_area(maps, masks)
    np.testing.assert_allclose(rel[:, 0], [3 / 6 * 3, 2 / 6 * 3, 1 / 6 * 3])
    effects = np.array([[0.9, -0.9], [0.5, -0.5], [0.1, -0.1]])     # face 1: the reverse
    np.testing.assert_allclose(ts.cause_agreement(maps, masks, effects), [1.0, -1.0])
    np.testing.assert_allclose(ts.cause_agreement(maps, masks, effects, sign=-1), [-1.0, 1.0])
    # a cause that changes nothing is left out: two causes left, undefined
    masks[2, 0] = 0.0
    got = ts.cause_agreement(maps, masks, effects)
    assert np.isnan(got[0]) and got[1] == pytest.approx(-1.0)
    assert np.isnan(ts.cause_agreement(np.zeros((n, h, w)), masks, effects)).all()   # empty
    with pytest.raises(ValueError, match="effects"):
        ts.cause_agreement(maps, masks, effects[:2])


def test_defined_spearman_counts_constant_maps():
    rng = np.random.default_rng(2)
    a = rng.random((3, 4, 4))
    b = a.copy()
    b[1] = 0.0                                   # an empty (constant) map
    rho, undefined = ts.defined_spearman(a, b)
    assert undefined == 1 and np.isnan(rho[1]) and rho[0] == pytest.approx(1.0)


def test_headline_counts_attributes_above_per_truth():
    rows = [dict(ground_truth=t, map="gradcam", sign="high", attribute=a, mass=m, face_chance=0.2,
                 empty=e, maps=10, verdict=ts.VERDICTS[0] if m > 0.3 else ts.VERDICTS[2])
            for t in ("derived", "primary") for a, m, e in (("x", 0.5, 1), ("y", 0.1, 3))]
    rows.append(dict(rows[0], map="random", sign="-"))
    out = ts.headline(pd.DataFrame(rows), "gradcam", "high")
    assert list(out.index) == ["derived", "primary"]
    assert out.loc["derived", "above"] == 1 and out.loc["derived", "empty"] == 4
    assert out.loc["derived", "mass"] == pytest.approx(0.3)
    assert out.loc["primary", "maps"] == 20
    assert ts.headline(pd.DataFrame(rows), "nonsense", "high").empty


def test_cause_agreement_is_scipys_spearman_per_face():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    masks = rng.random((5, 4, 3, 3)) * (rng.random((5, 4, 1, 1)) > 0.2)   # some causes absent
    maps = rng.random((4, 3, 3))
    effects = np.round(rng.normal(size=(5, 4)), 1)                        # ties allowed
    got = ts.cause_agreement(maps, masks, effects)
    rel = ts.relevance_per_area(maps, masks)
    for i in range(4):
        ok = np.isfinite(rel[:, i])
        ref = spearmanr(rel[ok, i], effects[ok, i]).statistic if ok.sum() >= 3 else np.nan
        np.testing.assert_allclose(got[i], ref, rtol=1e-12)
