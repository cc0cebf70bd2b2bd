"""Rows whose target is ``ignore_index``: found once, and left out of every sum and count.

PyTorch's ``cross_entropy(ignore_index=-100)`` and torchmetrics' metrics leave
out the rows (torchmetrics' binary and multilabel metrics: the elements)
whose target is ``ignore_index``; Hugging Face ``transformers`` pads the
labels of token-level outputs with -100. Here the rows are found before
anything is checked, and the others are scored as if they were the whole
input, with their numbers in it (:data:`cecli._validate.RowNumbers`): an
error found in them names its row in the whole input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli._arrays import as_array
from cecli._naming import RowNumbers
from cecli.errors import OptionError
from cecli.losses._results import LossResult


def check_ignore_index(value: object) -> int | str | None:
    """``ignore_index`` as an int (a class name: a str), or None; anything else is an option error.

    A str is a class name as ``y_true`` spells it, for targets named by
    ``labels=`` or ``pos_label=`` (``"<pad>"``, say).

    Examples
    --------
    >>> check_ignore_index(-100), check_ignore_index("<pad>"), check_ignore_index(None)
    (-100, '<pad>', None)
    >>> check_ignore_index(1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: ignore_index must be a whole number ..., or None; got 1.5.
    """
    if value is None:
        return None
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise OptionError(
            f"must be a whole number (a target value such as -100) or a class name as the "
            f"targets spell it, or None; got {value!r}.",
            option="ignore_index",
        )
    return int(value)


def ignored_cells(
    kind: str, y_true: ArrayLike, ignore_index: int | str | None
) -> NDArray[np.bool_] | None:
    """The targets equal to ``ignore_index``: a row mask (multilabel: a cell mask); None if none.

    Categorical targets are ignored only as class indices or names (1-D), as
    PyTorch's ``ignore_index`` applies only to class indices: soft or one-hot
    rows are scored. The targets are compared as given, before ``labels=``
    or ``pos_label=`` map them; in text targets a whole number matches its
    text (NumPy makes ``["dog", -100]`` text), and in numbers a name matches
    nothing.

    Examples
    --------
    >>> ignored_cells("categorical", [2, -100, 0], -100).tolist()
    [False, True, False]
    >>> ignored_cells("categorical", [[0.5, 0.5]], -100) is None
    True
    >>> ignored_cells("multilabel", [[1, -100], [0, 1]], -100).tolist()
    [[False, True], [False, False]]
    >>> ignored_cells("categorical", ["dog", -100, "cat"], -100).tolist()
    [False, True, False]
    """
    if ignore_index is None:
        return None
    y = as_array(y_true)
    if kind != "multilabel":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            return None
    elif y.ndim == 1:
        y = y[:, None]
    if y.dtype.kind in "iuf":
        if isinstance(ignore_index, str):
            return None
        mask = y == ignore_index
    elif y.dtype.kind in "US":
        mask = y == str(ignore_index)
    elif y.dtype.kind == "O":
        mask = np.fromiter(
            (_same(v, ignore_index) for v in y.ravel().tolist()), dtype=bool, count=y.size
        ).reshape(y.shape)
    else:
        return None  # booleans cannot hold it
    return mask if mask.any() else None


def _same(value: object, ignore_index: int | str) -> bool:
    """Whether one target of an array of objects is ``ignore_index`` (never a bool, never NaN)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(ignore_index, str):
        return isinstance(value, (str, np.str_)) and value == ignore_index
    return isinstance(value, (int, float, np.integer, np.floating)) and value == ignore_index


def kept_part(values: ArrayLike | None, keep: NDArray[np.bool_]) -> ArrayLike | None:
    """The rows of ``values`` that ``keep`` marks; as given when its length differs.

    A length that differs is an error the checks explain (naming both lengths);
    it is left to them.
    """
    if values is None:
        return None
    array = as_array(values)
    if array.ndim == 0 or len(array) != len(keep):
        return values
    return array[keep]


#: What :func:`ignoring` scores: targets, predictions and sample weights of the rows kept,
#: which of their multilabel cells are ignored, and the rows' numbers in the input.
Scoring = Callable[
    [ArrayLike, ArrayLike, "ArrayLike | None", "NDArray[np.bool_] | None", RowNumbers],
    LossResult,
]


def ignoring(
    kind: str,
    scoring: Scoring,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weights: ArrayLike | None,
    ignore_index: object,
) -> LossResult:
    """``scoring`` of the rows not ignored; with ``reduction="none"``, every row (0 if ignored).

    ``scoring`` takes the rows kept (targets, predictions, sample weights),
    for multilabel rows that keep only some cells which cells are ignored,
    and the rows' numbers in the input, by which its errors name them.
    """
    cells = ignored_cells(kind, y_true, check_ignore_index(ignore_index))
    if cells is None:
        return scoring(y_true, y_pred, sample_weights, None, 0)
    ignored = cells.all(axis=1) if cells.ndim == 2 else cells
    if ignored.all():
        raise OptionError(
            f"leaves out every row ({len(ignored)} of them): no row is left to score. Check "
            "that the labels are the right ones, or leave the option out.",
            option="ignore_index",
        )
    keep = ~ignored
    partial = cells[keep] if cells.ndim == 2 else None
    if partial is not None and not partial.any():
        partial = None
    if not ignored.any():  # multilabel: cells ignored, no row
        return scoring(y_true, y_pred, sample_weights, partial, 0)
    kept = _Kept(keep, np.flatnonzero(keep).astype(np.int64))
    result = scoring(
        kept_part(y_true, keep),  # type: ignore[arg-type]
        kept_part(y_pred, keep),  # type: ignore[arg-type]
        kept_part(sample_weights, keep),
        partial,
        kept.rows,
    )
    return kept.spread(result)


@dataclass(frozen=True)
class _Kept:
    """The rows kept (not ignored), and their numbers."""

    mask: NDArray[np.bool_]
    rows: NDArray[np.int64]

    def spread(self, result: LossResult) -> LossResult:
        """``result`` over the rows kept, with ``"none"``'s array over every row (0 if ignored)."""
        n_ignored = len(self.mask) - len(self.rows)
        rank = result.rank
        if rank is not None:
            rank = np.zeros(len(self.mask), np.int64)
            rank[self.mask] = result.rank
        loss = result.loss
        if result.reduction == "none":
            loss = np.zeros(len(self.mask))
            loss[self.mask] = result.loss
        return replace(result, loss=loss, n_ignored=n_ignored, rank=rank)
