"""Paper 3's Bias section has no module of its own: its computations are facexai.groups'
(tests/test_groups.py); here, the section's figure, drawn from a constructed comparison of several
group variables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from facexai import groups
from facexai import charts


def _comparison(n=240, seed=0):
    rng = np.random.default_rng(seed)
    truth = pd.DataFrame({"happy": rng.normal(size=n), "calm": rng.normal(size=n)})
    pred = truth + rng.normal(0, 0.5, size=(n, 2))
    demo = pd.DataFrame({"sex": rng.choice(["female", "male"], n),
                         "age_group": rng.choice(["young", "middle", "old"], n)})
    return groups.compare_groups(truth, pred, demo, ["sex", "age_group"], n_boot=30,
                                 n_permutations=20, min_size=20)


def test_group_figure_has_one_panel_per_variable_and_one_series_per_group():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = _comparison()
    for value in ("r", "mae", "mean_error"):
        fig = charts.group_figure(c.metrics, ["happy", "calm"], value)
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert [ax.get_title() for ax in panels] == ["sex", "age group"]
        labels = [t.get_text() for t in panels[1].get_legend().get_texts()]
        sizes = c.counts.loc["age_group", "faces"]
        assert labels == [f"{g} (n={sizes[g]})" for g in sorted(sizes.index)]
        plt.close(fig)


def test_shrinkage_figure_draws_each_variable_and_fills_the_significant_groups():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = _comparison()
    fig = charts.shrinkage_figure(c.signed, 0.05)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sex", "age group"]
    own = c.signed[~c.signed["mirror"].astype(bool)]
    # two collections per variable (open: not significant; filled: significant), every point once
    assert sum(len(col.get_offsets()) for col in ax.collections) == len(own)
    plt.close(fig)
