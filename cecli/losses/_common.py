"""Pieces every kind shares: option checks, focal and softplus terms, per-class sums, targets."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli._arrays import as_array
from cecli.errors import LabelError, OptionError, ShapeError, WeightError
from cecli.losses._results import ClassSums


def _check_options(label_smoothing: float, focal_gamma: float) -> tuple[float, float]:
    alpha = _validate.check_unit_interval(
        "label_smoothing", label_smoothing, open_low=False, open_high=False
    )
    return alpha, _validate.check_gamma(focal_gamma)


_PLURAL = {"class": "classes"}


def per_column(
    values: ArrayLike | None,
    k: int | None,
    option: str,
    what: str,
    *,
    at_most_one: bool = False,
) -> NDArray[np.float64] | None:
    """``pos_weight`` or ``focal_alpha``: one number, or one per column (class or label).

    Returns None for None, a 0-d array for one number (a list of one is one
    number, as PyTorch broadcasts it), else one value per column; ``k`` None
    checks only the values (before the columns are known). Values must be
    finite and >= 0, and with ``at_most_one`` at most 1 too (Keras's
    ``alpha`` of binary focal loss, which gives ``1 - alpha`` to the negatives).

    Examples
    --------
    >>> per_column(3, 4, "pos_weight", "label").tolist(), per_column([1, 2], 2, "p", "label")
    (3.0, array([1., 2.]))
    >>> per_column([1, 2], 3, "pos_weight", "label")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.WeightError: pos_weight has 2 values but there are 3 labels; give one number, ...
    """
    if values is None:
        return None
    error = WeightError if option == "pos_weight" else OptionError
    array = as_array(values)
    allowed = "in [0, 1]" if at_most_one else "finite and >= 0"
    if array.dtype.kind not in "biuf" or array.ndim > 1:
        raise error(
            f"must be a number or a list of numbers, one per {what}; "
            f"got {_validate.fmt_any(values)}.",
            option=option,
        )
    array = array.astype(np.float64)
    if array.ndim == 1 and len(array) == 1:
        array = array.reshape(())
    if array.ndim == 1 and k == 1:
        raise error(
            f"has {len(array)} values, but there is one positive class (binary predictions); "
            "give one number.",
            option=option,
        )
    if array.ndim == 1 and k is not None and len(array) != k:
        raise error(
            f"has {len(array)} values but there are {k} {_PLURAL.get(what, what + 's')}; "
            "give one number, "
            f"or one per {what} in column order.",
            option=option,
        )
    bad = ~np.isfinite(array) | (array < 0) | ((array > 1) if at_most_one else False)
    if bad.any():
        if array.ndim == 0:
            raise error(f"must be {allowed}; got {_validate.fmt(float(array))}.", option=option)
        index = int(np.flatnonzero(bad)[0])
        raise error(
            f"gives {what} {index} the value {_validate.fmt(array[index])}; "
            f"each must be {allowed}.",
            option=option,
        )
    return array


def _focal(ce: NDArray[np.float64], gamma: float) -> NDArray[np.float64]:
    """``(1 - p_t)^gamma * ce`` with ``p_t = exp(-ce)``; ``-expm1(-ce)`` keeps ``1 - p_t`` exact."""
    if gamma:
        ce *= np.power(-np.expm1(-ce), gamma)
    return ce


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


#: Rows per partial sum in :func:`_class_totals`.
_TOTALS_BLOCK = 2048


def _class_bins(labels: NDArray[np.intp], k: int) -> NDArray[np.intp] | None:
    """Bin numbers ``block * k + label`` for :func:`_class_totals`.

    None where binning does not apply: one block only, or so many classes that
    ``blocks x k`` bins would outgrow the rows (then classes are sorted instead).
    """
    n = len(labels)
    n_blocks = -(-n // _TOTALS_BLOCK)
    if n <= _TOTALS_BLOCK or n_blocks * k > 4 * n + (1 << 16):
        return None
    # one pass into one new array: each full block's labels plus its first bin, broadcast
    # (an arange of n, divided, scaled and added to, made four passes over a fresh array)
    bins = np.empty(n, dtype=np.intp)
    full = n // _TOTALS_BLOCK
    cut = full * _TOTALS_BLOCK
    first_bins = np.arange(0, full * k, k, dtype=np.intp)[:, None]
    np.add(labels[:cut].reshape(full, _TOTALS_BLOCK), first_bins, out=bins[:cut].reshape(full, -1))
    np.add(labels[cut:], full * k, out=bins[cut:])
    return bins


def _class_totals(
    labels: NDArray[np.intp],
    values: NDArray[np.float64],
    k: int,
    bins: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """``sum_i values_i`` per class, to about 1e-13 relative even over millions of rows.

    ``np.bincount`` adds one value at a time, so its rounding error grows with
    the row count (1e-11 over a million equal losses); each block of
    :data:`_TOTALS_BLOCK` rows is binned on its own (``bins`` from
    :func:`_class_bins`) and the blocks' totals are added pairwise, as
    ``np.sum`` does.
    """
    n = len(labels)
    if n <= _TOTALS_BLOCK:
        return np.bincount(labels, weights=values, minlength=k)
    if bins is None:
        bins = _class_bins(labels, k)
    if bins is None:
        # many classes: sort by class, then sum each class's run pairwise
        order = np.argsort(labels, kind="stable")
        sorted_labels, sorted_values = labels[order], values[order]
        present, starts = np.unique(sorted_labels, return_index=True)
        ends = np.append(starts[1:], n)
        totals = np.zeros(k)
        for c, a, b in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True):
            totals[c] = sorted_values[a:b].sum()
        return totals
    n_blocks = -(-n // _TOTALS_BLOCK)
    binned = np.bincount(bins, weights=values, minlength=n_blocks * k)
    return binned.reshape(n_blocks, k).sum(axis=0)


def _hard_sums(
    labels: NDArray[np.intp],
    k: int,
    loss: NDArray[np.float64],
    weight: NDArray[np.float64] | None,
    correct: NDArray[np.bool_],
    flagged: NDArray[np.bool_],
    targets: NDArray[np.float64] | None,
) -> ClassSums:
    """Per-class sums for categorical/binary rows (soft targets spread over classes).

    ``weight`` None means every sample weighs 1: the mass of a class is its count.
    """
    count = np.bincount(labels, minlength=k).astype(np.int64)
    if targets is None:
        bins = _class_bins(labels, k)  # made once for the loss and the mass
        if weight is None:
            loss_c = _class_totals(labels, loss, k, bins)
            mass_c = count.astype(np.float64)
        else:
            loss_c = _class_totals(labels, weight * loss, k, bins)
            mass_c = _class_totals(labels, weight, k, bins)
        support = count.astype(np.float64)
    else:
        w = np.ones(len(loss)) if weight is None else weight
        loss_c = targets.T @ (w * loss)
        mass_c = targets.T @ w
        support = targets.sum(axis=0)
    return ClassSums(
        loss=loss_c,
        mass=mass_c,
        support=support,
        count=count,
        correct=np.bincount(labels[correct], minlength=k).astype(np.int64),
        flagged=np.bincount(labels[flagged], minlength=k).astype(np.int64),
    )


def _class_index_targets(
    y_true: ArrayLike, n: int, k: int, row_offset: _validate.RowNumbers
) -> tuple[NDArray[np.intp], NDArray[np.float64] | None]:
    """Labels (and soft targets, if any) for ``n x k`` categorical predictions."""
    y = as_array(y_true)
    if y.ndim == 2 and y.shape[1] == 1 and k != 1:
        y = y[:, 0]
    if y.ndim == 1:
        _validate.check_same_rows(n, len(y), "labels")
        return _validate.class_indices(y, k, row_offset), None
    if y.ndim != 2:
        raise ShapeError(
            "Targets must be 1-D class indices or a 2-D samples x classes array; "
            f"got shape {y.shape}."
        )
    _validate.check_same_rows(n, len(y), "targets")
    _validate.check_columns(k, y.shape[1])
    if y.dtype.kind not in "biuf":
        raise LabelError(f"Soft or one-hot targets must be numbers; got values of type {y.dtype}.")
    labels = _validate.one_hot_labels(y)
    if labels is not None:
        # one-hot rows take the class-index path, so they give exactly the same losses
        return labels, None
    targets = y.astype(np.float64)
    _validate.check_soft_targets(targets, row_offset)
    return np.argmax(targets, axis=1), targets
