"""Paper-3 metrics: the paper's table, the comparison table, and the paper-3 split as the chapter
uses it (the statistics are facexai.stats', tested in tests/test_stats.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facexai import paper3
from facexai.paper3 import metrics


def test_paper_table_has_the_40_attributes_and_the_published_means():
    t = metrics.paper_table()
    assert sorted(t["attribute"]) == sorted(paper3.ATTRIBUTES) and len(t) == 40
    # column means over the 40 attributes, as computed in shared/research/papers.md
    means = t[["human", "geometric", "vgg16", "vgg16_aug", "vit"]].mean().round(4)
    assert means.tolist() == [0.517, 0.6145, 0.6395, 0.6695, 0.678]
    assert t.set_index("attribute").loc["happy", "vgg16_aug"] == 0.91
    assert t.set_index("attribute").loc["emotStable", "target"] == "emotionally stable"


def test_comparison_table_columns_and_alignment():
    vgg = pd.Series(np.linspace(0, 1, 40), index=paper3.ATTRIBUTES[::-1])
    ceiling = pd.Series(0.9, index=paper3.ATTRIBUTES)
    t = metrics.comparison_table(vgg, {"hog_svr": vgg * 0.5}, ceiling)
    assert list(t.columns) == ["attribute", "paper_human", "paper_geometric", "paper_vgg16",
                               "paper_vgg16_aug", "paper_vit", "vgg16", "vgg16_lo", "vgg16_hi",
                               "hist_svr", "lbp_svr", "hog_svr", "landmarks", "landmarks_exact",
                               "oracle", "noise_ceiling", "reliability"]
    assert t["attribute"].tolist() == paper3.ATTRIBUTES
    row = t.set_index("attribute").loc["happy"]
    assert row["vgg16"] == vgg["happy"] and row["hog_svr"] == 0.5 * vgg["happy"]
    assert row["paper_vgg16"] == 0.84 and np.isnan(row["lbp_svr"]) and np.isnan(row["vgg16_lo"])
    assert row["reliability"] == pytest.approx(0.81) and np.isnan(row["oracle"])
    with pytest.raises(ValueError, match="unknown baseline"):
        metrics.comparison_table(vgg, {"sift": vgg})


def test_comparison_table_of_seeds_has_the_mean_and_the_t_interval():
    from scipy import stats as sps

    rng = np.random.default_rng(0)
    seeds = pd.DataFrame(rng.uniform(0.2, 0.6, (3, 40)), columns=paper3.ATTRIBUTES)
    oracle = pd.Series(0.7, index=paper3.ATTRIBUTES)
    t = metrics.comparison_table(seeds, oracle=oracle).set_index("attribute")
    v = seeds["happy"].to_numpy()
    lo, hi = sps.t.interval(0.95, 2, loc=v.mean(), scale=sps.sem(v))
    assert t.loc["happy", "vgg16"] == pytest.approx(v.mean())
    assert (t.loc["happy", "vgg16_lo"], t.loc["happy", "vgg16_hi"]) == pytest.approx((lo, hi))
    assert (t["oracle"] == 0.7).all() and t["noise_ceiling"].isna().all()


def test_paper3_split_labels_have_the_paper_sizes_and_are_stable():
    # facexai.datasets.splits.paper3_split is checked against scikit-learn in test_datasets.py;
    # here: the labels the chapter uses, their counts on 2,222 rows, and stability across calls
    a, b = paper3.split_labels(2222), paper3.split_labels(2222)
    assert np.array_equal(a, b)
    assert {r: int((a == r).sum()) for r in ("train", "val", "test")} == {"train": 1421, "val": 356,
                                                                          "test": 445}
    assert not np.array_equal(a, paper3.split_labels(2222, seed=0))
