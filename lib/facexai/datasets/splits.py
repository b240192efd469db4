"""The split schemes of the papers' code, reproduced exactly.

================================  ==============================================================
function                          scheme
================================  ==============================================================
:func:`subject_folds`             [KH] ``make_folds``: subject ``i`` of the sorted list -> fold
                                  ``i mod n`` (CK+, 10 folds)
:func:`rotating_scheme`           [KH] ``data_fold_loader``: test fold ``k``, validation fold
                                  ``(k + 1) mod n``, training on the rest
:func:`paper3_split`              [P3] ``dataset.py``: two ``train_test_split(test_size=0.2,
                                  random_state=42)``, giving 1,421 / 356 / 445 of 2,222
:func:`kfold`                     scikit-learn ``KFold(shuffle=True, random_state=seed)``
================================  ==============================================================

The random ones are written with NumPy's legacy ``RandomState`` exactly as scikit-learn draws them
(a test compares them with scikit-learn itself), so they need no scikit-learn at run time and stay
the same if scikit-learn changes its defaults.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .core import SplitScheme


def subject_folds(subjects: Sequence[str], n_folds: int = 10) -> np.ndarray:
    """Fold of each image: subject ``i`` of the *sorted* unique subjects goes to fold ``i mod n``.

    Returns an int array aligned with ``subjects``; all images of a subject share one fold, so
    every split built from these folds is subject-independent.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    subjects = np.asarray(subjects).astype(str)
    order = {s: i % n_folds for i, s in enumerate(sorted(set(subjects.tolist())))}
    return np.array([order[s] for s in subjects], dtype=np.int64)


def rotating_scheme(groups: np.ndarray, n_folds: int, name: str, description: str,
                    validation: bool = True) -> SplitScheme:
    """Split ``k`` tests on fold ``k``, validates on fold ``(k + 1) mod n`` and trains on the rest.

    With ``validation=False`` there is no validation fold (plain k-fold: train on the rest).
    """
    groups = np.asarray(groups, dtype=np.int64)
    roles = np.ones((len(groups), n_folds), np.int8)        # 1 = train
    for k in range(n_folds):
        roles[groups == k, k] = 3                           # 3 = test
        if validation:
            roles[groups == (k + 1) % n_folds, k] = 2       # 2 = val
    return SplitScheme(name, roles, description, groups)


def _shuffle_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split(range(n), test_size=test_size, random_state=seed)`` without sklearn.

    scikit-learn takes ``ceil(test_size * n)`` test items, the rest for training, from one
    ``RandomState(seed).permutation(n)``: test first, then train.
    """
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    if n_test < 1 or n_train < 1:
        raise ValueError(f"cannot split {n} items with test_size={test_size}")
    perm = np.random.RandomState(seed).permutation(n)
    return perm[n_test:n_test + n_train], perm[:n_test]


def paper3_split(n: int, seed: int = 42, test_size: float = 0.2,
                 valid_size: float = 0.2) -> dict[str, np.ndarray]:
    """The paper-3 split of ``n`` rows: ``{"train", "val", "test"}`` row positions.

    [P3] ``utils/dataset.py`` splits the rows of the labels sheet with
    ``train_test_split(test_size=0.2, random_state=42)`` and splits the remaining rows again with
    the same call, so 2,222 targets give 1,421 train, 356 validation and 445 test rows.
    """
    train_valid, test = _shuffle_split(n, test_size, seed)
    inner_train, inner_valid = _shuffle_split(len(train_valid), valid_size, seed)
    return {"train": train_valid[inner_train], "val": train_valid[inner_valid], "test": test}


def paper3_scheme(n: int, seed: int = 42) -> SplitScheme:
    """:func:`paper3_split` as a one-split :class:`SplitScheme`."""
    parts = paper3_split(n, seed)
    roles = np.zeros((n, 1), np.int8)
    for code, name in ((1, "train"), (2, "val"), (3, "test")):
        roles[parts[name], 0] = code
    return SplitScheme("paper3", roles, f"paper-3 code: train_test_split twice, test_size 0.2, "
                       f"random_state {seed} (2,222 rows give 1,421/356/445)")


def kfold(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each of ``n`` items as ``KFold(n_folds, shuffle=True, random_state=seed)`` makes them.

    scikit-learn shuffles ``arange(n)`` with ``RandomState(seed).shuffle`` and cuts it into
    consecutive folds, the first ``n mod n_folds`` one item larger.
    """
    if not 2 <= n_folds <= n:
        raise ValueError(f"need 2 <= n_folds <= n, got n_folds={n_folds}, n={n}")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(n_folds, n // n_folds)
    sizes[: n % n_folds] += 1
    groups = np.empty(n, np.int64)
    for k, (a, b) in enumerate(zip(np.r_[0, np.cumsum(sizes)[:-1]], np.cumsum(sizes))):
        groups[order[a:b]] = k
    return groups


def kfold_scheme(n: int, n_folds: int, seed: int) -> SplitScheme:
    """:func:`kfold` as a :class:`SplitScheme`: test on fold ``k``, train on the rest."""
    return rotating_scheme(kfold(n, n_folds, seed), n_folds, "kfold",
                           f"{n_folds}-fold cross-validation, KFold(shuffle=True, random_state={seed})",
                           validation=False)
