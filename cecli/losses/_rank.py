"""Each row's rank of its true class, and top-k accuracy from it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cecli import _threads
from cecli._threads import BLOCK_BYTES
from cecli.errors import OptionError

#: Arrays with at most this many classes are ranked a column at a time (see
#: :func:`true_class_rank`); wider ones a block of rows at a time.
NARROW_CLASSES = 64


def true_class_rank(preds: NDArray, labels: NDArray[np.intp]) -> NDArray[np.int64]:
    """The rank of each row's true class among its predictions: 1 for the highest.

    A tie is broken as scikit-learn's ``top_k_accuracy_score`` breaks it (a
    stable sort of the scores, reversed): of equal scores, the higher class
    index ranks first. So ``rank = 1 + #{j: s_j > s_y} + #{j > y: s_j = s_y}``.
    Logits and their softmax rank alike; the scores are compared as given.
    The rows are shared out over cecli's threads (:mod:`cecli._threads`).

    Examples
    --------
    >>> true_class_rank(np.array([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4]]), np.array([2, 0])).tolist()
    [2, 2]
    """
    n, k = preds.shape
    out = np.empty(n, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.intp)
    narrow = k <= NARROW_CLASSES and preds.dtype.itemsize in (4, 8)

    def work(start: int, stop: int) -> None:
        if stop > start:
            (_narrow_ranks if narrow else _wide_ranks)(preds, labels, start, stop, out)

    _threads.map_row_ranges(n, k * preds.dtype.itemsize, work)
    return out


def _next_below(values: NDArray, out: NDArray, scratch: NDArray[np.bool_]) -> NDArray:
    """``np.nextafter(values, -inf)`` for float32 or float64 values above -inf, in integer steps.

    A float's bits, read as a signed integer, step to the next float below by
    one less for a positive value and one more for a negative one (-0.0
    too); +0.0 steps to the negative value nearest 0. (Twice as fast as
    ``np.nextafter``.) ``out`` is a float array of the values' size and type.

    Examples
    --------
    >>> x = np.array([1.0, -1.0, 0.0, -0.0], dtype=np.float32)
    >>> below = _next_below(x, np.empty_like(x), np.empty(4, bool))
    >>> bool((below == np.nextafter(x, np.float32(-np.inf))).all())
    True
    """
    ints = np.int32 if values.dtype.itemsize == 4 else np.int64
    bits, stepped = values.view(ints), out.view(ints)
    np.subtract(bits, 1, out=stepped)
    np.less_equal(bits, 0, out=scratch)
    np.add(bits, 1, out=stepped, where=scratch)
    np.equal(bits, 0, out=scratch)
    stepped[scratch] = np.iinfo(ints).min + 1
    return out


def _narrow_ranks(
    preds: NDArray, labels: NDArray[np.intp], start: int, stop: int, out: NDArray[np.int64]
) -> None:
    """Ranks of rows ``start:stop`` of a narrow array: each value compared once, in one pass.

    Column ``j`` of a row is ahead of its true class ``y`` when ``s_j > s_y``
    for ``j < y`` and ``s_j >= s_y`` for ``j > y``, that is ``s_j > t`` with
    ``t`` the true score up to column ``y`` and the next float below it after.
    So each column is compared with a threshold per row, and a row's threshold
    steps down once, after its true class's column (the rows of each class
    found by one stable sort of the block's labels, a radix sort of bytes).
    The counts are summed in a byte per row. Every scratch array is a block's,
    made once: a fresh array is slow to fill the first time it is touched.
    A block with a true score of -inf goes to :func:`_wide_ranks` (no float
    is below -inf).
    """
    k = preds.shape[1]
    flat = preds.reshape(-1) if preds.flags.c_contiguous else None
    step = min(max(1, BLOCK_BYTES // (k * preds.dtype.itemsize)), stop - start)
    at = np.empty(step, dtype=np.intp)
    offsets = np.arange(step, dtype=np.intp) * k
    own = np.empty(step, dtype=preds.dtype)
    below = np.empty(step, dtype=preds.dtype)
    threshold = np.empty(step, dtype=preds.dtype)
    mask = np.empty(step, dtype=bool)
    rank = np.empty(step, dtype=np.uint8)
    y = np.empty(step, dtype=np.uint8)
    for lo in range(start, stop, step):
        hi = min(lo + step, stop)
        m = hi - lo
        if flat is not None:  # one flat gather: cheaper than a 2-D fancy index
            np.add(offsets[:m], lo * k, out=at[:m])
            at[:m] += labels[lo:hi]
            np.take(flat, at[:m], out=own[:m])
        else:
            own[:m] = preds[np.arange(lo, hi), labels[lo:hi]]
        if np.isneginf(own[:m]).any():
            _wide_ranks(preds, labels, lo, hi, out)
            continue
        _next_below(own[:m], below[:m], mask[:m])
        y[:m] = labels[lo:hi]
        by_class = np.argsort(y[:m], kind="stable")
        ends = np.cumsum(np.bincount(y[:m], minlength=k)).tolist()
        threshold[:m] = own[:m]
        rank[:m] = 1
        first = 0
        for j in range(k):
            np.greater(preds[lo:hi, j], threshold[:m], out=mask[:m])
            rank[:m] += mask[:m]
            if j + 1 < k:  # the rows whose true class is j compare >= from here on
                rows = by_class[first : ends[j]]
                threshold[rows] = below[rows]
            first = ends[j]
        out[lo:hi] = rank[:m]


def _wide_ranks(
    preds: NDArray, labels: NDArray[np.intp], start: int, stop: int, out: NDArray[np.int64]
) -> None:
    """Ranks of rows ``start:stop``, a block of rows at a time: ``#{s_j > s_y}`` along each row,
    and ``#{s_j >= s_y}`` to find the rows with ties, whose columns after ``y`` are then counted.
    """
    k = preds.shape[1]
    step = max(1, BLOCK_BYTES // (k * preds.dtype.itemsize))
    for lo in range(start, stop, step):
        hi = min(lo + step, stop)
        block, y = preds[lo:hi], labels[lo:hi]
        score = block[np.arange(hi - lo), y][:, None]
        rank = 1 + np.count_nonzero(block > score, axis=1)
        tied = np.flatnonzero(np.count_nonzero(block >= score, axis=1) > rank)
        if len(tied):  # another class has the true class's score: the later ones rank first
            after = np.arange(k) > y[tied, None]
            rank[tied] += np.count_nonzero((block[tied] == score[tied]) & after, axis=1)
        out[lo:hi] = rank


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
