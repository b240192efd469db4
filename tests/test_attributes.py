"""Simulated 10k-US-Adult-Faces attributes: the column layout, the documented drivers, the rater
model and the split-half reliability (against a closed-form reference). No rendering: faces are
built from generator factors directly."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facexai.synth import attributes as A
from facexai.synth.factors import AUS, FaceParams, Identity, sample_identity

# Written out from papers.md ("Final Values" order), independently of the module's tuple.
PAPER_COLUMNS = (
    "atypical boring calm cold common confident egotistic emotUnstable forgettable intelligent "
    "introverted kind responsible trustworthy unattractive unemotional unfamiliar unfriendly unhappy "
    "weird aggressive attractive caring emotStable emotional familiar friendly happy humble interesting "
    "irresponsible mean memorable normal sociable typical uncertain uncommon unintelligent untrustworthy"
).split()
REGIONS = {"background", "hair", "forehead", "right_brow", "left_brow", "right_eye", "left_eye",
           "nose", "mouth", "right_cheek", "left_cheek", "chin_jaw"}


def faces(n: int, seed: int = 0, p_au: float = 0.2) -> list[FaceParams]:
    """Sampled identities with random AU vectors (each AU on with probability ``p_au``)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 7])
        au = tuple(np.where(rng.random(len(AUS)) < p_au, rng.uniform(0.2, 1.0, len(AUS)), 0.0))
        out.append(FaceParams(identity=sample_identity(seed, i), au_left=au, au_right=au))
    return out


@pytest.fixture(scope="module")
def sample():
    return faces(400)


# ---------------------------------------------------------------- layout and table


def test_forty_columns_in_database_order_and_twenty_pairs_cover_them_once():
    assert A.ATTRIBUTE_COLUMNS == tuple(PAPER_COLUMNS)
    assert len(A.PAIRS) == 20
    flat = [c for pair in A.PAIRS for c in pair]
    assert sorted(flat) == sorted(PAPER_COLUMNS)
    assert ("calm", "aggressive") in A.PAIRS and ("emotStable", "emotUnstable") in A.PAIRS


def test_every_driver_is_a_known_factor_and_every_region_a_known_region():
    for pair in A.PAIR_TABLE:
        assert pair.drivers and all(f in A.FACTOR_REGIONS and w != 0 for f, w in pair.drivers)
        assert 0 < pair.reliability[0] < 1 and 1 < min(pair.center) < max(pair.center) < 9
    assert set(A.FACTOR_REGIONS) == set(A.FACTOR_NAMES)
    for regions in A.FACTOR_REGIONS.values():
        assert regions and set(regions) <= REGIONS and "background" not in regions


@pytest.mark.parametrize("factor,regions", [
    ("AU1", {"forehead", "right_brow", "left_brow"}), ("AU2", {"forehead", "right_brow", "left_brow"}),
    ("AU4", {"forehead", "right_brow", "left_brow"}), ("AU5", {"right_eye", "left_eye"}),
    ("AU7", {"right_eye", "left_eye"}), ("AU6", {"right_eye", "left_eye", "right_cheek", "left_cheek"}),
    ("AU9", {"nose"}), ("AU10", {"mouth", "nose"}), ("AU12", {"mouth", "right_cheek", "left_cheek"}),
    ("AU14", {"mouth", "right_cheek", "left_cheek"}), ("AU20", {"mouth", "right_cheek", "left_cheek"}),
    ("AU15", {"mouth"}), ("AU23", {"mouth"}), ("AU25", {"mouth"}), ("AU17", {"mouth", "chin_jaw"}),
    ("AU26", {"mouth", "chin_jaw"}), ("glasses", {"right_eye", "left_eye", "nose"}),
    ("jaw_width", {"chin_jaw"}),
    ("age", {"forehead", "right_eye", "left_eye", "right_cheek", "left_cheek", "hair"}),
])
def test_factor_regions_follow_facs_anatomy(factor, regions):
    assert set(A.FACTOR_REGIONS[factor]) == regions
    assert all(f"AU{a}" in A.FACTOR_REGIONS for a in AUS)


def test_driver_table_rows_and_signs():
    tab = A.driver_table()
    assert list(tab.attribute) == list(PAPER_COLUMNS)
    row = tab.set_index("attribute")
    assert row.loc["happy", "sign"] == 1 and row.loc["unhappy", "sign"] == -1
    assert row.loc["happy", "antonym"] == "unhappy" and row.loc["unhappy", "antonym"] == "happy"
    assert "+0.65*AU12" in row.loc["happy", "literature"] and "-0.65*AU12" in row.loc["unhappy", "literature"]
    assert row.loc["unhappy", "drivers"].startswith("-0.")  # the weights in use add the halo
    assert (tab.rationale.str.len() > 20).all()


def test_driver_table_regions_are_derived_from_factor_regions(monkeypatch):
    for attribute in PAPER_COLUMNS:
        union = set().union(*(A.FACTOR_REGIONS[f] for f, _ in A.drivers(attribute)))
        assert set(A.driving_regions(attribute)) == union
    assert "hair" not in A.driving_regions("happy")
    # Change where AU12 shows, and the table follows: nothing typed twice.
    monkeypatch.setitem(A.FACTOR_REGIONS, "AU12", ("hair",))
    assert "hair" in A.driving_regions("happy")
    assert "hair" in A.driver_table().set_index("attribute").loc["unhappy", "regions"]


def test_region_weights_sum_to_one_on_driving_regions():
    w = A.region_weights("kind")
    assert w.sum() == pytest.approx(1.0)
    assert set(w[w > 0].index) == set(A.driving_regions("kind"))
    assert w["mouth"] > w["right_brow"]  # a smile (0.45) outweighs a frown (0.30); kind has no halo


def test_unknown_attribute_is_named():
    with pytest.raises(KeyError, match="happpy.*happy"):
        A.driving_regions("happpy")


# ---------------------------------------------------------------- factors


def test_identity_factors_are_standardised_on_the_sampled_population():
    x = A.factor_vector([FaceParams(identity=sample_identity(1, i)) for i in range(4000)])
    assert x.shape == (4000, len(A.FACTORS))
    identity = [k for k, f in enumerate(A.FACTOR_NAMES)
                if not f.startswith("AU") and f != "expressiveness"]
    assert np.abs(x[:, identity].mean(0)).max() < 0.1
    assert np.all(np.abs(x[:, identity].std(0) - 1) < 0.15)


def test_factor_vector_reads_the_face():
    p = FaceParams(identity=Identity(glasses=True)).with_aus(AU12=0.6)
    x = dict(zip(A.FACTOR_NAMES, A.factor_vector([p])[0]))
    assert x["AU12"] == pytest.approx(0.6 / 0.3) and x["AU6"] == 0
    assert x["expressiveness"] == pytest.approx(0.6)
    assert x["glasses"] == pytest.approx((1 - 0.2) / 0.4)


# ---------------------------------------------------------------- directions


def test_every_column_moves_in_its_documented_direction(sample):
    """Move one standardised factor, hold all else (and every random draw) fixed."""
    x = A.factor_vector(sample)
    base = A.rate_factors(x, seed=3).raw.astype(int)
    for pair in A.PAIR_TABLE:
        cols = [A.ATTRIBUTE_COLUMNS.index(c) for c in (pair.attribute, pair.antonym)]
        for factor, weight in pair.drivers:
            moved = x.copy()
            moved[:, A.FACTOR_NAMES.index(factor)] += 2.0
            diff = A.rate_factors(moved, seed=3).raw.astype(int)[:, cols] - base[:, cols]
            # Same raters and noise: each rating can only move one way, and on average it does.
            for side, sign in ((0, 1), (1, -1)):
                d = sign * np.sign(weight) * diff[:, side]
                assert d.min() >= 0 and d.mean() > 0, (pair.attribute, pair.antonym, factor, side)


def _moved(params, **changes):
    return [replace(p, identity=replace(p.identity, **changes)) for p in params]


def _mean_shift(before, after, column, seed=5):
    return (A.rate(after, seed).means[column] - A.rate(before, seed).means[column]).mean()


def test_face_level_drivers(sample):
    plain = [p.neutral() for p in sample]
    smiling = [p.with_aus(AU12=1.0) for p in plain]
    assert _mean_shift(plain, smiling, "happy") > 1.0
    assert _mean_shift(plain, smiling, "unhappy") < -0.5
    no_glasses = _moved(plain, glasses=False)
    assert _mean_shift(no_glasses, _moved(plain, glasses=True), "intelligent") > 0.2
    assert _mean_shift(no_glasses, _moved(plain, glasses=True), "unintelligent") < -0.2
    narrow = _moved(plain, jaw_width=-0.5)
    assert _mean_shift(narrow, _moved(plain, jaw_width=0.5), "aggressive") > 0.1
    frowning = [p.with_aus(AU4=1.0, AU23=1.0) for p in plain]
    assert _mean_shift(plain, frowning, "aggressive") > 0.5
    assert _mean_shift(plain, frowning, "calm") < -0.5


def test_null_factors_change_no_rating(sample):
    """Skin tone and hair colour drive nothing: a heatmap on them is the model's, not the raters'."""
    before = A.rate(sample, seed=2).raw
    after = A.rate(_moved(sample, skin_tone=0.9, hair_color=0.1), seed=2).raw
    np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------- ratings


def test_ratings_are_integers_in_range_and_summaries_match(sample):
    r = A.rate(sample, seed=0)
    assert r.raw.dtype == np.int8 and r.raw.shape == (400, 40, 15)
    assert r.raw.min() >= 1 and r.raw.max() <= 9
    assert list(r.means.columns) == list(PAPER_COLUMNS)
    np.testing.assert_allclose(r.means.to_numpy(), r.raw.mean(axis=2))
    np.testing.assert_allclose(r.sds.to_numpy(), r.raw.std(axis=2, ddof=1))
    assert ((r.expected > 1) & (r.expected < 9)).all().all()
    long = r.to_frame()
    assert len(long) == 400 * 40 * 15 and long.rating.between(1, 9).all()


def test_ratings_of_an_image_do_not_depend_on_the_batch(sample):
    batch = A.rate(sample[:30], seed=11, indices=range(100, 130))
    for i in (0, 17, 29):
        alone = A.rate([sample[i]], seed=11, indices=[100 + i])
        np.testing.assert_array_equal(alone.raw[0], batch.raw[i])
    order = np.arange(30)[::-1]
    reversed_batch = A.rate([sample[i] for i in order], seed=11, indices=100 + order)
    np.testing.assert_array_equal(reversed_batch.raw[::-1], batch.raw)
    assert not np.array_equal(A.rate(sample[:30], seed=12).raw, A.rate(sample[:30], seed=11).raw)


def test_smaller_panels_are_the_first_raters_of_larger_ones(sample):
    big = A.rate(sample[:20], seed=0, n_raters=15).raw
    small = A.rate(sample[:20], seed=0, n_raters=6).raw
    np.testing.assert_array_equal(big[:, :, :6], small)


def test_antonyms_are_anticorrelated(sample):
    """Without per-face terms an antonym differs from its attribute only through its own halo
    loading, slope and centre (all functions of rendered factors), so the noise-free means are
    close to mirror images; the panel means are not (real: happy-unhappy -0.89, calm-aggressive
    -0.59)."""
    r = A.rate(sample, seed=0)
    for a, b in (("happy", "unhappy"), ("calm", "aggressive"), ("memorable", "forgettable")):
        assert np.corrcoef(r.expected[a], r.expected[b])[0, 1] < -0.9, (a, b)
        assert -0.95 < np.corrcoef(r.means[a], r.means[b])[0, 1] < -0.1, (a, b)


# ---------------------------------------------------------------- reliability


def test_split_half_matches_closed_form_reliability():
    """Gaussian consensus (var 1) + rater noise (var 4), 16 raters: R = 16 / (16 + 4) = 0.8."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(3000, 3, 1)) + 2 * rng.normal(size=(3000, 3, 16))
    rel = A.split_half_reliability(raw, n_splits=20)
    assert list(rel.index) == [0, 1, 2]
    np.testing.assert_allclose(rel, 0.8, atol=0.03)


def test_pure_noise_has_zero_reliability_and_noiseless_raters_one(sample):
    rng = np.random.default_rng(1)
    noise = rng.integers(1, 10, size=(1000, 40, 15))
    rel = A.split_half_reliability(noise, n_splits=20)
    assert abs(rel.mean()) < 0.05 and rel.abs().max() < 0.3
    clean = A.rate(sample, seed=0, rater_noise=0).reliability(n_splits=10)
    noisy = A.rate(sample, seed=0).reliability(n_splits=10)
    assert (clean > noisy).all()
    strong = ["happy", "unhappy", "friendly", "aggressive", "attractive", "kind"]
    assert (clean[strong] > 0.95).all()  # only the integer rounding is left


def test_strong_attributes_are_more_reliable_than_weak_ones(sample):
    rel = A.rate(sample, seed=0).reliability(n_splits=20)
    assert rel["happy"] > 0.65 and rel["friendly"] > 0.6
    for weak in ("unfamiliar", "typical", "atypical", "common", "familiar"):
        assert rel[weak] < 0.45 and rel["happy"] - rel[weak] > 0.3, weak
    ceiling = A.noise_ceiling(A.rate(sample, seed=0), n_splits=20)
    np.testing.assert_allclose(ceiling, np.sqrt(rel.clip(lower=0)), atol=1e-12)


# ---------------------------------------------------------------- age and gender


@pytest.mark.parametrize("age,group", [
    (0, 0), (2, 0), (2.9, 0), (3, 0), (3.1, 1), (4, 1), (6, 1), (7, 1), (7.5, 2), (12, 2),
    (13.5, 2), (13.6, 3), (20, 3), (22.5, 3), (22.6, 4), (32, 4), (35, 4), (35.1, 5), (43, 5),
    (45.5, 5), (46, 6), (53, 6), (56.5, 6), (56.6, 7), (60, 7), (80, 7), (100, 7), (120, 7),
])
def test_adience_group_edges(age, group):
    assert A.adience_group(age) == group
    lo, hi = A.ADIENCE_GROUPS[group]
    if lo <= age <= hi:
        assert all(not (l <= age <= h) for k, (l, h) in enumerate(A.ADIENCE_GROUPS) if k != group)


def test_adience_group_rejects_bad_ages():
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            A.adience_group(bad)


def test_age_gender_labels(sample):
    lab = A.age_gender_labels(sample[:50], indices=range(10, 60))
    assert list(lab.columns) == ["age", "age_group", "sex"] and list(lab.index) == list(range(10, 60))
    assert lab.age.tolist() == [p.identity.age for p in sample[:50]]
    assert lab.sex.tolist() == [p.identity.sex for p in sample[:50]]
    assert lab.age_group.between(3, 7).all()  # the sampler draws adults of 18-80
