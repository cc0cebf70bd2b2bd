"""Each row's rank of its true class, and top-k accuracy from it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cecli.errors import OptionError

#: Prediction values compared at a time: 512 KiB of float64, which stays in cache.
_BLOCK_VALUES = 1 << 16


def true_class_rank(preds: NDArray, labels: NDArray[np.intp]) -> NDArray[np.int64]:
    """The rank of each row's true class among its predictions: 1 for the highest.

    A tie is broken as scikit-learn's ``top_k_accuracy_score`` breaks it (a
    stable sort of the scores, reversed): of equal scores, the higher class
    index ranks first. So ``rank = 1 + #{j: s_j > s_y} + #{j > y: s_j = s_y}``.
    Logits and their softmax rank alike; the scores are compared as given.

    Examples
    --------
    >>> true_class_rank(np.array([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4]]), np.array([2, 0])).tolist()
    [2, 2]
    """
    n, k = preds.shape
    out = np.empty(n, dtype=np.int64)
    columns = np.arange(k)
    step = max(1, _BLOCK_VALUES // max(1, k))
    for lo in range(0, n, step):
        block = preds[lo : lo + step]
        y = labels[lo : lo + step]
        own = block[np.arange(len(block)), y][:, None]
        ahead = (block > own) | ((block == own) & (columns > y[:, None]))
        out[lo : lo + step] = 1 + np.count_nonzero(ahead, axis=1)
    return out


def check_top_k(top_k: object, kind: str) -> int | None:
    """``top_k`` as an int >= 1, or None; it applies to categorical predictions only.

    Examples
    --------
    >>> check_top_k(5, "categorical"), check_top_k(None, "binary")
    (5, None)
    >>> check_top_k(2, "binary")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: top_k applies to categorical predictions, ...; these are binary ...
    """
    if top_k is None:
        return None
    if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, (int, np.integer)):
        raise OptionError(f"must be a whole number >= 1, or None; got {top_k!r}.", option="top_k")
    if top_k < 1:
        raise OptionError(f"must be a whole number >= 1; got {top_k}.", option="top_k")
    if kind != "categorical":
        raise OptionError(
            f"applies to categorical predictions, whose classes can be ranked; these are {kind} "
            "(for them the top-1 accuracy is the accuracy). Leave it out.",
            option="top_k",
        )
    return int(top_k)


def check_top_k_classes(top_k: int, n_classes: int) -> None:
    """``top_k`` must be at most the number of classes (``k = n_classes`` counts every row).

    Examples
    --------
    >>> check_top_k_classes(5, 3)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: top_k must be from 1 to the number of classes, 3; got 5.
    """
    if top_k > n_classes:
        raise OptionError(
            f"must be from 1 to the number of classes, {n_classes}; got {top_k}.", option="top_k"
        )
