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

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli.errors import OptionError


def check_ignore_index(value: object) -> int | None:
    """``ignore_index`` as an int, or None; anything else is an option error.

    Examples
    --------
    >>> check_ignore_index(-100), check_ignore_index(None)
    (-100, None)
    >>> check_ignore_index(1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: ignore_index must be a whole number ..., or None; got 1.5.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise OptionError(
            f"must be a whole number (a target value such as -100), or None; got {value!r}.",
            option="ignore_index",
        )
    return int(value)


def ignored_cells(
    kind: str, y_true: ArrayLike, ignore_index: int | None
) -> NDArray[np.bool_] | None:
    """The targets equal to ``ignore_index``: a row mask (multilabel: a cell mask); None if none.

    Categorical targets are ignored only as class indices (1-D), as PyTorch's
    ``ignore_index`` applies only to them: soft or one-hot rows are scored.

    Examples
    --------
    >>> ignored_cells("categorical", [2, -100, 0], -100).tolist()
    [False, True, False]
    >>> ignored_cells("categorical", [[0.5, 0.5]], -100) is None
    True
    >>> ignored_cells("multilabel", [[1, -100], [0, 1]], -100).tolist()
    [[False, True], [False, False]]
    """
    if ignore_index is None:
        return None
    y = np.asarray(y_true)
    if y.dtype.kind not in "iuf":
        return None  # booleans cannot hold it; text labels were decoded before this
    if kind != "multilabel":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            return None
    elif y.ndim == 1:
        y = y[:, None]
    mask = y == ignore_index
    return mask if mask.any() else None


def kept_part(values: ArrayLike | None, keep: NDArray[np.bool_]) -> ArrayLike | None:
    """The rows of ``values`` that ``keep`` marks; as given when its length differs.

    A length that differs is an error the checks explain (naming both lengths);
    it is left to them.
    """
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim == 0 or len(array) != len(keep):
        return values
    return array[keep]
