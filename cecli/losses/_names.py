"""Naming the classes as scikit-learn does: ``labels=`` (y_pred's column order) and ``pos_label``.

``labels`` lists the classes in the order of ``y_pred``'s columns, and each
value of ``y_true`` is looked up in it: strings, integers other than
``0..K-1``, floats, anything hashable. It is never sorted. (scikit-learn's
``log_loss`` sorts ``labels`` and so reads the columns in sorted order, the
trap of scikit-learn #30910; cecli reads them in the order given.) A value
not in ``labels`` is an error that names it and its row.

For binary targets, ``pos_label`` names the positive class (``1`` of
``{-1, 1}``, ``"spam"`` of ``{"ham", "spam"}``), and ``labels`` may list the
two classes as ``[negative, positive]``, the columns of a two-column
``predict_proba`` whose second column ``y_pred`` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cecli._arrays import as_array
from cecli._naming import RowNumbers, numbered
from cecli.errors import LabelError, OptionError

_QUOTE = 5


def _quote(values: Sequence[object]) -> str:
    shown = ", ".join(repr(_plain(v)) for v in list(values)[:_QUOTE])
    return shown + (", ..." if len(values) > _QUOTE else "")


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def check_labels(labels: Any, k: int | None = None) -> list[object] | None:
    """``labels`` as a list of distinct classes (``k`` of them, when ``k`` is known).

    Examples
    --------
    >>> check_labels(("dog", "cat")), check_labels(None)
    (['dog', 'cat'], None)
    >>> check_labels(["dog", "cat", "dog"])
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: labels names 'dog' twice; each class must appear once.
    """
    if labels is None:
        return None
    if isinstance(labels, str):
        raise OptionError(
            f"must be a list of the classes, in y_pred's column order; got the text {labels!r}.",
            option="labels",
        )
    values = [_plain(v) for v in as_array(labels).ravel().tolist()]
    if not values:
        raise OptionError("is empty; list the classes, in y_pred's column order.", option="labels")
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise OptionError(
                f"names {value!r} twice; each class must appear once.", option="labels"
            )
        seen.add(value)
    if k is not None and len(values) != k:
        raise OptionError(
            f"lists {len(values)} classes but y_pred has {k} columns; list one class per "
            "column, in column order.",
            option="labels",
        )
    return values


def _positions(y: NDArray, labels: Sequence[object]) -> NDArray[np.intp]:
    """Each value's position in ``labels``, -1 where it is not one (hash lookups, via pandas)."""
    import pandas as pd

    index = pd.Index(list(labels), dtype=object)
    values = pd.Index(y.ravel().tolist(), dtype=object) if y.dtype == object else y.ravel()
    return np.asarray(index.get_indexer(values), dtype=np.intp).reshape(y.shape)


def _unknown(
    y: NDArray, codes: NDArray[np.intp], row_offset: RowNumbers, labels: Sequence[object]
) -> LabelError:
    rows = np.flatnonzero(codes.reshape(len(codes), -1).min(axis=1) < 0)
    first = rows[0]
    value = y.reshape(len(y), -1)[first][codes.reshape(len(codes), -1)[first] < 0][0]
    unknown = list(dict.fromkeys(_plain(v) for v in y[codes < 0].tolist()))
    others = (
        "no other row has one"
        if len(rows) == 1
        else f"{len(rows)} rows in all have labels not listed ({_quote(unknown)})"
    )
    return LabelError(
        f"row {numbered(first, row_offset)} has the label {_plain(value)!r}, which is not in "
        f"labels ({_quote(labels)}); {others}. Add the missing classes to labels, in y_pred's "
        "column order."
    )


def class_positions(
    y_true: Any, labels: Sequence[object] | None, k: int, row_offset: RowNumbers = 0
) -> NDArray:
    """Categorical ``y_true`` as class indices into ``labels``; unchanged without labels.

    Soft or one-hot targets (2-D) are already in column order: ``labels``
    only names their columns.

    Examples
    --------
    >>> class_positions(["dog", "cat", "dog"], ["dog", "cat"], 2).tolist()
    [0, 1, 0]
    >>> class_positions([7, 3], [3, 5, 7], 3).tolist()
    [2, 0]
    """
    y = as_array(y_true)
    if labels is None:
        return y
    labels = check_labels(labels, k)
    assert labels is not None
    if y.ndim == 2 and y.shape[1] == k and not (k == 1 and y.dtype.kind not in "biuf"):
        return y  # soft or one-hot targets: their columns are the classes
    codes = _positions(y, labels)
    if (codes < 0).any():
        raise _unknown(y, codes, row_offset, labels)
    return codes


def binary_positives(
    y_true: Any,
    pos_label: object | None,
    labels: Sequence[object] | None,
    row_offset: RowNumbers = 0,
    ignored: NDArray[np.bool_] | None = None,
) -> NDArray:
    """Binary ``y_true`` as 0/1 targets: ``pos_label`` is 1, the other class 0.

    ``labels`` (``[negative, positive]``) gives the positive class when
    ``pos_label`` is None, and refuses any other value; without it, the
    targets may take only two values, ``pos_label`` and one other.
    ``ignored`` marks the multilabel cells that ``ignore_index`` leaves out:
    their value is neither class, and is not looked up (they come out 1).

    Examples
    --------
    >>> binary_positives([-1, 1, 1], 1, None).tolist()
    [0.0, 1.0, 1.0]
    >>> binary_positives(["ham", "spam"], None, ["ham", "spam"]).tolist()
    [0.0, 1.0]
    """
    y = as_array(y_true)
    if pos_label is None and labels is None:
        return y
    if labels is not None:
        labels = check_labels(labels)
        assert labels is not None
        if len(labels) != 2:
            raise OptionError(
                f"lists {len(labels)} classes; binary targets have two, [negative, positive].",
                option="labels",
            )
        if pos_label is None:
            pos_label = labels[1]
        elif _plain(pos_label) not in labels:
            raise OptionError(
                f"is {_plain(pos_label)!r}, which is not one of labels ({_quote(labels)}).",
                option="pos_label",
            )
    if ignored is not None and ignored.shape == y.shape:
        y = y.astype(object)
        y[ignored] = _plain(pos_label)
    if labels is not None:
        codes = _positions(y, labels)
        if (codes < 0).any():
            raise _unknown(y, codes, row_offset, labels)
        return (codes == labels.index(_plain(pos_label))).astype(np.float64)
    codes = _positions(y, [_plain(pos_label)])
    others = y[codes < 0]
    if others.size:
        distinct = list(dict.fromkeys(_plain(v) for v in others.ravel().tolist()))
        if len(distinct) > 1:
            second = _positions(y, distinct[1:2]).reshape(len(y), -1)
            row = int(np.flatnonzero((second >= 0).any(axis=1))[0])
            raise LabelError(
                f"binary targets take two values, pos_label {_plain(pos_label)!r} and one "
                f"other, but these take {len(distinct) + 1} (besides pos_label: "
                f"{_quote(distinct)}; row {numbered(row, row_offset)} has {distinct[1]!r}). For "
                "more classes, use categorical_cross_entropy."
            )
    return (codes >= 0).astype(np.float64)
