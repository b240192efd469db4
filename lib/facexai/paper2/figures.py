"""The paper-2 claims page's figure, from the numbers the chapter's sections recorded."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from . import results as R

__all__ = ["claims_figure"]


def _get(results: Mapping[str, Mapping[str, Any]], result) -> float:
    value = results.get(result.notebook, {}).get(result.name)
    return float(value) if isinstance(value, (int, float)) else np.nan


def claims_figure(results: Mapping[str, Mapping[str, Any]]):
    """Left: mean test accuracy over folds of CK+ and TFD with the checkpoint chosen on the
    validation fold (95 % interval) and on the test fold (the 2015 code), beside chance. Right:
    filters selective for an AU on its mask and channels associated with the FACS labels within
    emotion, for the untrained, early and trained network and the planted controls."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, acc, bias, chance) in enumerate((
            ("CK+", R.ACCURACY_CKPLUS, R.SELECTION_BIAS_CKPLUS, R.CHANCE_CKPLUS),
            ("TFD", R.ACCURACY_TFD, R.SELECTION_BIAS_TFD, R.CHANCE_TFD))):
        mean, lo, hi = (_get(results, r) for r in (acc, acc.part("lo"), acc.part("hi")))
        left.bar(i - 0.2, mean, 0.4, yerr=[[mean - lo], [hi - mean]], color="tab:blue",
                 label="validation-fold choice" if not i else None)
        left.bar(i + 0.2, mean + _get(results, bias), 0.4, color="tab:orange",
                 label="test-fold choice (2015)" if not i else None)
        left.hlines(_get(results, chance), i - 0.4, i + 0.4, colors="k", linestyles=":",
                    label="chance" if not i else None)
    left.set(xticks=[0, 1], xticklabels=["CK+", "TFD"], ylim=(0, 1), ylabel="test accuracy",
             title="Accuracy over folds (synthetic twins)")
    left.legend(fontsize=8, loc="upper left")
    bars = {"untrained": _get(results, R.N_FILTERS_AU_PATTERN.part("untrained")),
            "early": _get(results, R.N_FILTERS_AU_PATTERN.part("early")),
            "trained": _get(results, R.N_FILTERS_AU_PATTERN)}
    labels = {"trained": _get(results, R.N_CHANNELS_AU),
              "planted AU copies": _get(results, R.N_CHANNELS_AU.control("positive")),
              "planted emotion copies": _get(results, R.N_CHANNELS_AU.control("negative"))}
    n = _get(results, R.N_FILTERS)
    right.bar(range(3), list(bars.values()), color="tab:green", label="AU-selective on its mask")
    right.bar(range(4, 7), list(labels.values()), color="tab:purple",
              label="FACS labels, within emotion")
    right.set_xticks([*range(3), *range(4, 7)], [*bars, *labels], rotation=30, ha="right",
                     fontsize=8)
    right.set(ylabel=f"channels (of {n:.0f})", title="Filters and Action Units")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig
