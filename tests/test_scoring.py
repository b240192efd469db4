"""Relevance per face region and faithfulness against known causes (facexai.scoring), checked
against second computations: masks from regions.region_masks, np.bincount, scipy, a hand-written
bootstrap, maps whose answer is known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from facexai import scoring
from facexai.regions import (FACE_REGIONS, REGIONS, average_heatmap, face_mask, region_label_maps,
                             region_masks)
from facexai.synth.attributes import driving_regions, region_weights
from facexai.synth.generate import sample_face
from facexai.synth.landmarks import landmarks

SIZE = 32


@pytest.fixture(scope="module")
def faces():
    lms = np.stack([landmarks(sample_face(0, i), SIZE) for i in range(3)])
    return lms, region_label_maps(lms, SIZE)


def _maps(n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, SIZE, SIZE))


def test_region_shares_equal_sums_over_region_masks(faces):
    lms, labels = faces
    maps = _maps()
    shares, area = scoring.region_shares(maps, labels)
    for i, lm in enumerate(lms):
        masks = region_masks(lm, SIZE)               # (regions, H, W), an independent labelling
        pos = np.clip(maps[i], 0, None)
        np.testing.assert_allclose(shares.loc[i], (masks * pos).sum((1, 2)) / pos.sum(), rtol=1e-12)
        np.testing.assert_allclose(area.loc[i], masks.mean((1, 2)), rtol=1e-12)
        # the face regions hold exactly the relevance inside the face outline
        inside = pos[face_mask(lm, SIZE)].sum() / pos.sum()
        assert shares.loc[i, list(FACE_REGIONS)].sum() == pytest.approx(inside, rel=1e-12)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(area.sum(axis=1), 1.0)
    assert list(shares.columns) == list(REGIONS)


def test_area_shares_equal_a_bincount(faces):
    _, labels = faces
    ref = np.stack([np.bincount(lab.ravel(), minlength=len(REGIONS)) / lab.size for lab in labels])
    np.testing.assert_allclose(scoring.area_shares(labels), ref, rtol=0, atol=0)


def test_faces_without_landmarks_and_maps_without_relevance_are_nan(faces):
    lms, _ = faces
    lms = lms.copy()
    lms[1] = np.nan
    labels = region_label_maps(lms, SIZE)
    maps = np.abs(_maps())
    maps[2] = -1.0                                    # no positive relevance
    shares, area = scoring.region_shares(maps, labels)
    assert shares.loc[1].isna().all() and area.loc[1].isna().all()
    assert shares.loc[2].isna().all() and area.loc[2].notna().all()
    assert shares.loc[0].notna().all()
    table = scoring.faithfulness_table(maps, labels, "happy")
    assert table["face"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="must both be"):
        scoring.region_shares(maps[:2], labels)


def test_long_region_table_is_the_wide_one(faces):
    lms, labels = faces
    maps = _maps()
    shares, area = scoring.region_shares(maps, labels)
    long = scoring.region_relevance_many(maps, lms, regions=("mouth", "nose"))
    assert len(long) == 6 and long["face"].tolist() == [0, 0, 1, 1, 2, 2]
    row = long[(long["face"] == 1) & (long["region"] == "nose")].iloc[0]
    assert row["relevance_share"] == shares.loc[1, "nose"]
    assert row["area_share"] == area.loc[1, "nose"]
    assert row["relevance_per_area"] == pytest.approx(shares.loc[1, "nose"] / area.loc[1, "nose"])
    one = scoring.region_relevance(maps[0], lms[0])
    assert list(one.index) == list(REGIONS) and one.index.name == "region"
    np.testing.assert_allclose(one["relevance_share"], shares.loc[0])
    # a uniform map gives every region its area: relevance per area 1
    uniform = scoring.region_relevance(np.ones((SIZE, SIZE)), lms[0])
    np.testing.assert_allclose(uniform["relevance_share"], uniform["area_share"])
    np.testing.assert_allclose(uniform["relevance_per_area"].dropna(), 1.0)
    with pytest.raises(ValueError, match="one map"):
        scoring.region_relevance(maps, lms[0])


def test_faithfulness_of_a_map_on_the_drivers_and_of_one_off_them(faces):
    _, labels = faces
    attribute = "happy"   # AU12, AU6, AU15, AU1: mouth, cheeks, eyes, brows, forehead
    truth = scoring.truth_masks(labels, attribute)
    assert set(driving_regions(attribute)) >= {"mouth", "right_cheek", "forehead"}
    on = truth.astype(float) * np.linspace(1, 2, SIZE)[None, None, :]
    off = (~truth).astype(float)
    t_on = scoring.faithfulness_table(on, labels, attribute, method="on")
    t_off = scoring.faithfulness_table(off, labels, attribute, method="off")
    np.testing.assert_allclose(t_on["mass_accuracy"], 1.0)
    np.testing.assert_allclose(t_on["rank_accuracy"], 1.0)
    np.testing.assert_allclose(t_on["pointing"], 1.0)
    np.testing.assert_allclose(t_off["mass_accuracy"], 0.0)
    np.testing.assert_allclose(t_on["chance"], truth.reshape(3, -1).mean(1))
    assert (t_on["method"] == "on").all()
    uniform = scoring.faithfulness_table(np.ones_like(on), labels, attribute)
    np.testing.assert_allclose(uniform["mass_accuracy"], uniform["chance"])
    assert uniform["pointing"].isna().all()   # a flat map has no maximum


def test_summary_interval_is_a_percentile_bootstrap_of_the_lift():
    rng = np.random.default_rng(0)
    n = 200
    chance = np.full(n, 0.3)
    rows = [pd.DataFrame({"mass_accuracy": chance + shift + rng.normal(0, 0.05, n),
                          "chance": chance, "rank_accuracy": 0.5, "pointing": 1.0,
                          "attribute": name})
            for name, shift in (("a", 0.2), ("b", 0.0), ("c", -0.2))]
    table = pd.concat(rows)
    summary = scoring.faithfulness_summary(table, by=("attribute",), n_boot=300, seed=1)
    summary = summary.set_index("attribute")
    assert summary.loc["a", "verdict"] == "above chance"
    assert summary.loc["c", "verdict"] == "below chance"
    # the same resampling written out: one generator, group after group
    gen = np.random.default_rng(1)
    for name, part in zip("abc", rows):
        lift = (part["mass_accuracy"] - part["chance"]).to_numpy()
        means = lift[gen.integers(0, n, size=(300, n))].mean(1)
        assert summary.loc[name, "lift_lo"] == pytest.approx(np.quantile(means, 0.025), abs=1e-15)
        assert summary.loc[name, "lift_hi"] == pytest.approx(np.quantile(means, 0.975), abs=1e-15)
        assert summary.loc[name, "lift"] == pytest.approx(lift.mean())
    with pytest.raises(ValueError, match="n_boot"):
        scoring.faithfulness_summary(table, by=("attribute",), n_boot=1)


def test_region_verdicts_name_found_missed_and_spurious():
    cols = pd.Index(REGIONS, name="region")
    area = pd.DataFrame([np.full(len(REGIONS), 1 / len(REGIONS))], columns=cols)
    share = pd.Series(0.0, index=cols)
    share["mouth"], share["background"] = 0.7, 0.3
    v = scoring.region_verdicts(pd.DataFrame([share]), area, "happy")
    assert v["found"] == ["mouth"]
    assert "forehead" in v["missed"] and "mouth" not in v["missed"]
    assert v["spurious"] == ["background"]
    assert v["top"] == "mouth"
    assert v["per_area"]["mouth"] == pytest.approx(0.7 * len(REGIONS))
    # the same from the means (Series), and the sentence from lists or comma-joined names
    assert scoring.region_verdicts(share, area.mean(), "happy")["found"] == ["mouth"]
    joined = {k: ", ".join(v[k]) for k in ("found", "missed", "spurious")}
    assert scoring.describe_regions(joined) == scoring.describe_regions(v)
    assert scoring.describe_regions(v).startswith("finds mouth; misses forehead")


def test_primary_regions_hold_half_the_weight_with_sides_together():
    for attribute in ("happy", "confident", "intelligent", "unattractive", "emotional"):
        primary = scoring.primary_regions(attribute)
        w = region_weights(attribute)
        assert w[list(primary)].sum() >= 0.5
        assert set(primary) <= set(driving_regions(attribute))
        least = w[list(primary)].min()
        assert w[[r for r in primary if not np.isclose(w[r], least)]].sum() < 0.5
        for side in ("eye", "brow", "cheek"):
            assert (f"right_{side}" in primary) == (f"left_{side}" in primary)
    assert scoring.truth_regions("happy", "driving") == driving_regions("happy")
    assert scoring.truth_regions("happy", "primary") == scoring.primary_regions("happy")
    with pytest.raises(ValueError, match="ground_truth"):
        scoring.truth_regions("happy", "all")


def test_profile_correlation_is_scipys_spearman_and_one_for_the_cause_density(faces):
    _, labels = faces
    w = region_weights("happy").reindex(REGIONS).to_numpy()
    area = scoring.area_shares(labels)
    on = np.stack([(w / np.maximum(a, 1e-9))[lab] for a, lab in zip(area.to_numpy(), labels)])
    shares, area = scoring.region_shares(on, labels)
    np.testing.assert_allclose(shares.to_numpy(), np.broadcast_to(w, shares.shape), atol=1e-9)
    np.testing.assert_allclose(scoring.profile_correlation(shares, area, "happy"), 1.0)
    shares, area = scoring.region_shares(np.abs(_maps()), labels)
    got = scoring.profile_correlation(shares, area, "happy")
    for i in range(len(labels)):
        s, a = shares.loc[i].to_numpy(), area.loc[i].to_numpy()
        ok = a > 0
        assert got[i] == pytest.approx(spearmanr(s[ok] / a[ok], w[ok] / a[ok])[0])


def _sets(labels, seed=0):
    rng = np.random.default_rng(seed)
    for attribute in ("happy", "trustworthy"):
        for method in ("m1", "m2"):
            for sign in (1, -1):
                yield (attribute, method, sign), rng.normal(size=labels.shape)


def test_score_maps_is_the_per_set_computation(faces):
    lms, labels = faces
    template = lms.mean(0)
    scores = scoring.score_maps(_sets(labels), labels, keep=2, landmarks=lms, template=template)
    ref_tables = []
    for (attribute, method, sign), maps in _sets(labels):
        shares, area = scoring.region_shares(maps, labels)
        pd.testing.assert_series_equal(scores.shares.loc[(attribute, method, sign)],
                                       shares.mean(), check_names=False)
        profile = scoring.profile_correlation(shares, area, attribute)
        for truth in scoring.GROUND_TRUTHS:
            t = scoring.faithfulness_table(maps, labels, attribute, truth, method=method, sign=sign)
            ref_tables.append(t.assign(profile_r=profile[t["face"]]))
        np.testing.assert_array_equal(scores.examples[attribute, method, sign], maps[:2])
        if sign == 1:
            np.testing.assert_allclose(scores.averages[attribute, method, sign],
                                       average_heatmap(maps, lms, template)[0])
        else:
            assert (attribute, method, sign) not in scores.averages
    pd.testing.assert_frame_equal(scores.faces, pd.concat(ref_tables, ignore_index=True))
    pd.testing.assert_series_equal(scores.area, scoring.area_shares(labels).mean())
    assert scores.n_maps == 8 * len(labels)
    np.testing.assert_allclose(scores.per_area, scores.shares / scores.area)
    summary = scores.summary(n_boot=50, seed=3)
    direct = scoring.faithfulness_summary(scores.faces, n_boot=50, seed=3)
    pd.testing.assert_frame_equal(summary.drop(columns="profile_r"), direct)
    verdicts = scores.verdicts(summary, "m1", 1).set_index("attribute")
    for attribute in ("happy", "trustworthy"):
        v = scoring.region_verdicts(scores.shares.loc[(attribute, "m1", 1)], scores.area, attribute)
        assert verdicts.loc[attribute, "found"] == ", ".join(v["found"])
        assert verdicts.loc[attribute, "top_region"] == v["top"]
        row = summary[(summary["attribute"] == attribute) & (summary["method"] == "m1")
                      & (summary["sign"] == 1) & (summary["ground_truth"] == "primary")].iloc[0]
        assert verdicts.loc[attribute, "primary"] == row["verdict"]
        assert verdicts.loc[attribute, "lift_primary"] == row["lift"]
    with pytest.raises(ValueError, match="no maps"):
        scoring.score_maps([], labels)


def test_ground_truth_table(faces):
    _, labels = faces
    table = scoring.ground_truth_table(["happy"], labels)
    assert table.loc["happy", "primary regions"] == ", ".join(scoring.primary_regions("happy"))
    share = scoring.truth_masks(labels, "happy").mean()
    assert table.iloc[0, 2].startswith(f"{share:.0%} / ")
