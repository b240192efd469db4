"""Tests between groups, their power and the control variants (facexai.group_tests): the tests
against scipy written out, the power formulas against simulations of the tests, an injected rater
bias found and permuted labels not."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from facexai import group_controls as gc
from facexai import group_tests as gt


def _correlated(n, r, rng, size=1):
    """``size`` samples of n pairs with correlation r: arrays (size, n)."""
    x = rng.normal(size=(size, n))
    y = r * x + np.sqrt(1 - r ** 2) * rng.normal(size=(size, n))
    return x, y


def test_homogeneity_of_two_correlations_is_the_fisher_z_test():
    r, n = np.array([0.6, 0.3]), np.array([50, 80])
    q, p = gt.correlation_homogeneity(r, n)
    z = (np.arctanh(0.6) - np.arctanh(0.3)) / np.sqrt(1 / 47 + 1 / 77)
    assert q == pytest.approx(z ** 2) and p == pytest.approx(2 * st.norm.sf(abs(z)))
    # equal correlations: Q = 0, p = 1; columns tested independently
    q2, p2 = gt.correlation_homogeneity(np.array([[0.4, 0.6], [0.4, 0.3], [0.4, 0.5]]),
                                        [30, 40, 50])
    assert q2[0] == pytest.approx(0) and p2[0] == pytest.approx(1)
    with pytest.raises(ValueError, match="n must exceed 3"):
        gt.correlation_homogeneity(r, [3, 80])


def test_anova_and_welch_match_scipy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(90, 2))
    codes = np.repeat([0, 1, 2], 30)
    v[codes == 2, 1] += 1
    p = gt.anova_p(v, codes, 3)
    assert p[0] == pytest.approx(st.f_oneway(*[v[codes == c, 0] for c in range(3)]).pvalue)
    assert p[1] < 0.01
    t, pw = gt.welch_vs_rest(v, codes, 3)
    ref = st.ttest_ind(v[codes == 2, 1], v[codes != 2, 1], equal_var=False)
    assert t[2, 1] == pytest.approx(ref.statistic) and pw[2, 1] == pytest.approx(ref.pvalue)
    with pytest.raises(ValueError, match="codes"):
        gt.welch_vs_rest(v, codes[:-1], 3)


@pytest.mark.parametrize("sizes,r0,alpha", [((60, 90), 0.4, 0.01), ((40, 50, 70), 0.5, 0.05)])
def test_detectable_r_gap_has_the_stated_power_in_simulation(sizes, r0, alpha):
    from scipy.optimize import brentq

    gap = gt.detectable_r_gap(sizes, r0, alpha, power=0.8)
    # the configuration of the formula: the two smallest groups at z0 +- d/2 on Fisher's z scale,
    # the others at z0; d recovered from the gap tanh(z0 + d/2) - tanh(z0 - d/2) (monotone in d)
    z0 = np.arctanh(r0)
    dz = brentq(lambda x: np.tanh(z0 + x / 2) - np.tanh(z0 - x / 2) - gap, 1e-9, 10)
    order = np.argsort(sizes)
    rs = np.full(len(sizes), r0, float)
    rs[order[0]], rs[order[1]] = np.tanh(z0 + dz / 2), np.tanh(z0 - dz / 2)
    rng = np.random.default_rng(1)
    reps = 3000
    observed = np.empty((len(sizes), reps))
    for g, (n, r) in enumerate(zip(sizes, rs)):
        x, y = _correlated(n, r, rng, reps)
        xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
        observed[g] = (xc * yc).sum(1) / np.sqrt((xc ** 2).sum(1) * (yc ** 2).sum(1))
    _, p = gt.correlation_homogeneity(observed, sizes)
    assert (p < alpha).mean() == pytest.approx(0.8, abs=0.035)
    # smaller at a laxer level, larger for smaller groups
    assert gt.detectable_r_gap(sizes, r0, alpha * 5) < gap
    assert gt.detectable_r_gap([s // 2 for s in sizes], r0, alpha) > gap


def test_detectable_shift_has_the_stated_power_in_simulation():
    n1, n2, sd, alpha = 40, 120, 2.0, 0.005
    shift = gt.detectable_shift(n1, n2, sd, alpha)
    rng = np.random.default_rng(2)
    a = rng.normal(shift, sd, size=(4000, n1))
    b = rng.normal(0, sd, size=(4000, n2))
    p = st.ttest_ind(a, b, equal_var=False, axis=1).pvalue
    assert (p < alpha).mean() == pytest.approx(0.8, abs=0.03)
    with pytest.raises(ValueError, match="power"):
        gt.detectable_shift(n1, n2, sd, 0.05, power=0.01)


def test_inject_bias_shifts_one_group_by_sds_and_permute_keeps_the_groups():
    truth = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [0.0, 0, 2, 2]})
    out = gt.inject_bias(truth, [True, False, True, False], ["x"], 0.5)
    sd = truth["x"].std(ddof=1)
    np.testing.assert_allclose(out["x"], truth["x"] + 0.5 * sd * np.array([1, 0, 1, 0]))
    assert out["y"].equals(truth["y"])
    with pytest.raises(ValueError, match="attributes"):
        gt.inject_bias(truth, [True] * 4, ["z"], 1.0)
    demo = pd.DataFrame({"sex": list("ffmmfm"), "age": list("yyooyo")})
    perm = gt.permute_groups(demo, seed=3)
    assert perm["sex"].value_counts().sort_index().equals(demo["sex"].value_counts().sort_index())
    assert list(perm.index) == list(demo.index)
    assert sorted(zip(perm["sex"], perm["age"])) == sorted(zip(demo["sex"], demo["age"]))


def test_an_injected_bias_is_found_and_permuted_labels_give_none():
    rng = np.random.default_rng(5)
    n = 400
    truth = pd.DataFrame(rng.normal(5, 1, (n, 12)), columns=[f"a{i}" for i in range(12)])
    pred = 5 + 0.5 * (truth - 5) + rng.normal(0, 0.5, (n, 12))
    demo = pd.DataFrame({"sex": rng.choice(["female", "male"], n),
                         "tone": rng.choice(["light", "medium", "dark"], n)})
    controls = gc.bias_controls(truth, pred, demo, ["sex", "tone"], n_biased=3, shift=0.8,
                                seed=1, min_size=20)
    found = controls.positive.signed.query("variable == 'sex' and group == 'female'")
    shifted = found[found["attribute"].isin(controls.attributes)]
    assert len(controls.attributes) == 3 and (shifted["verdict"] == "under-rated").all()
    assert controls.positive.n_gaps >= 3 and controls.positive.n_signed_gaps >= 3
    assert controls.negative.n_gaps == 0
    with pytest.raises(ValueError, match="biased"):
        gc.bias_controls(truth, pred, demo, ["sex"], biased=("sex", "other"))


def _comparison(seed=5, n=300):
    from facexai import groups

    rng = np.random.default_rng(seed)
    truth = pd.DataFrame(rng.normal(5, 1, (n, 4)), columns=[f"a{i}" for i in range(4)])
    preds = [5 + 0.5 * (truth - 5) + rng.normal(0, 0.5, (n, 4)) for _ in range(3)]
    demo = pd.DataFrame({"sex": rng.choice(["female", "male"], n)})
    pred = sum(preds) / 3
    comparison = groups.compare_groups(truth, pred, demo, ["sex", "skin_tone"], n_boot=20,
                                       n_permutations=5, min_size=20, max_detectable=0.2)
    controls = gc.bias_controls(truth, pred, demo, ["sex"], n_biased=2, shift=1.0, seed=1,
                                min_size=20)
    return truth, preds, demo, comparison, controls


def test_row_gap_over_seeds_is_the_seed_interval_of_the_rows_gap():
    from facexai import stats

    truth, preds, demo, comparison, _ = _comparison()
    top = comparison.largest("r")
    expected = stats.seed_interval(gt.gap_over_seeds(truth, preds, demo["sex"], top["attribute"],
                                                     top["r_best_group"], top["r_worst_group"]))
    assert gt.row_gap_over_seeds(truth, preds, demo, top) == pytest.approx(expected)
    assert np.isnan(gt.row_gap_over_seeds(truth, preds, demo, None)).all()


def test_control_outcomes_and_the_texts_on_a_constructed_comparison():
    _, _, _, c, controls = _comparison()
    out = gc.control_outcomes(c, controls)
    assert list(out) == ["data", "positive", "negative"]
    assert out["positive"] == {"gaps": controls.positive.n_gaps,
                               "signed gaps": controls.positive.n_signed_gaps,
                               "inconclusive": int((controls.positive.gaps["verdict"]
                                                    == "inconclusive").sum())}
    assert gt.comparison_text(c, 1.25) == ("Group variables found: sex; not known for this data: "
                                           f"skin_tone. {c.family_size} tests in one family, "
                                           "computed in 1.2 s.")
    text = gt.power_text(c, (0.1, 0.05, 0.15))
    assert text.startswith(f"Family of {c.family_size} tests at level {c.test_level:.2g} each")
    assert "(stated bound 0.2)" in text and f"of {len(c.gaps)} rows are inconclusive" in text
    assert text.endswith("mean 0.10, 95 % interval over seeds 0.05 to 0.15.")
    text = gc.summary_text(c, controls)
    assert text.startswith(f"Over 4 attribute-variable rows ({c.family_size} tests in one family "
                           f"at a false discovery rate of 0.05), {c.n_gaps} show a gap")
    found = "found" if out["positive"]["gaps"] else "missed"
    assert (f"The injected bias (women +1.0 SD on 2 attributes) is {found} "
            f"({out['positive']['gaps']} gaps)") in text and "Skin tone" not in text
