"""The ``--show`` columns' values of the listed rows: :class:`Shown`, and how cells become text.

A ``--show`` column is read with the rest of its file, chunk by chunk, as
the reader gives it (text, numbers, booleans); only the cells of the rows a
report lists are turned into text (:func:`cells`), so the memory this takes
is bounded by what is listed. A cell that is empty or missing is None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: A row's values of the ``--show`` columns, one per column.
ShownValues = tuple[str | None, ...]


@dataclass(frozen=True)
class Shown:
    """Extra columns of the input carried into every listed row (``--show``).

    ``names`` are the columns, in the order asked; ``values`` maps a row's
    0-based number to its values, one per name, each a string or None where
    the cell is missing. Only the rows a report lists have values, so the
    memory this takes is bounded by what is listed, not by the input.

    Examples
    --------
    >>> shown = Shown(("caption", "image"), {3: ("a cat", "img/3.png")})
    >>> shown.row(3)
    ('a cat', 'img/3.png')
    >>> shown.row(4)
    (None, None)
    >>> shown.as_dict(3)
    {'caption': 'a cat', 'image': 'img/3.png'}
    """

    names: tuple[str, ...]
    values: Mapping[int, tuple[str | None, ...]] = field(default_factory=dict)

    def row(self, row: int) -> tuple[str | None, ...]:
        """The values of ``row``, or one None per column if it has none."""
        return tuple(self.values.get(row, (None,) * len(self.names)))

    def as_dict(self, row: int) -> dict[str, str | None]:
        """The values of ``row`` keyed by column name, as JSON shows them."""
        return dict(zip(self.names, self.row(row), strict=True))


def cells(column: NDArray, positions: NDArray[np.intp] | None = None) -> list[str | None]:
    """The cells of ``column`` at ``positions`` (all when None) as text; None where missing.

    Text is kept as read, an empty cell being missing (CSV cannot tell the two
    apart); a whole number is written without ``.0``, any other number as
    ``repr`` writes it (NaN, a missing number, is None); booleans are
    ``true`` and ``false``; a row of numbers (a column of lists) is written
    as a list (``nan`` in it for NaN). A float32 is written in its own shortest form (``0.1``), not
    in that of the float64 it equals (``0.10000000149011612``).

    Examples
    --------
    >>> import numpy as np
    >>> cells(np.array(["a cat", "", None], dtype=object))
    ['a cat', None, None]
    >>> cells(np.array([3.0, 0.25, np.nan, 1e20, np.inf]))
    ['3', '0.25', None, '1e+20', 'inf']
    >>> cells(np.array([True, False])), cells(np.array([[1.0, 2.5]])), cells(np.arange(4), [3])
    (['true', 'false'], ['[1, 2.5]'], ['3'])
    >>> cells(np.array([0.1, 2.0, np.nan], dtype=np.float32)), cells(np.float32([[0.1, 3]]))
    (['0.1', '2', None], ['[0.1, 3]'])
    >>> cells(np.array([[1.0, np.nan]]))
    ['[1, nan]']
    """
    values = np.asarray(column)
    if positions is not None:
        values = values[np.asarray(positions, dtype=np.intp)]
    # a float32 as NumPy's scalar, whose str is the shortest form of its own precision
    narrow = values.dtype.kind == "f" and values.dtype.itemsize < 8
    number = _narrow if narrow else _number
    items = values if narrow else values.tolist()
    if values.ndim == 2:  # NaN in a list is written as repr writes it in one
        return ["[" + ", ".join(number(v) or "nan" for v in row) + "]" for row in items]
    if values.dtype.kind == "b":
        return ["true" if v else "false" for v in items]
    if values.dtype.kind in "fiu":
        return [number(v) for v in items]
    return [None if v is None or v == "" else str(v) for v in values.tolist()]


def _narrow(value: np.floating) -> str | None:
    """A float16 or float32 as :func:`_number` writes a float, in its own shortest form."""
    as_float = float(value)
    if math.isnan(as_float) or (as_float.is_integer() and abs(as_float) < 2**53):
        return _number(as_float)
    return str(value)


def _number(value: object) -> str | None:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    return None if value is None else str(value)


def row_values(
    columns: Sequence[NDArray], positions: NDArray[np.intp] | None = None
) -> list[ShownValues]:
    """Each row's values of ``columns`` at ``positions`` (all when None), as :func:`cells`.

    Examples
    --------
    >>> import numpy as np
    >>> row_values([np.array(["a", "b"], dtype=object), np.array([1.0, 2.0])], np.array([1]))
    [('b', '2')]
    """
    texts = [cells(column, positions) for column in columns]
    return list(zip(*texts, strict=True))


def value_matrix(columns: Sequence[NDArray], positions: NDArray[np.intp]) -> NDArray[np.object_]:
    """The values of ``columns`` at ``positions`` as an object array, a row per position.

    What a fold keeps next to each row it may list (label issues): one array, however
    many rows.

    Examples
    --------
    >>> import numpy as np
    >>> value_matrix([np.array(["a", "b", "c"], dtype=object)], np.array([2, 0])).tolist()
    [['c'], ['a']]
    """
    out = np.empty((len(positions), len(columns)), dtype=object)
    for j, column in enumerate(columns):
        out[:, j] = cells(column, positions)
    return out


def shown_of(names: Sequence[str], kept: Mapping[int, ShownValues], issues: object = None) -> Shown:
    """The :class:`Shown` of a run: the values kept of the listed rows and of the label issues.

    ``issues`` is the run's :class:`~cecli.label_issues.LabelIssueFindings`, or None.

    Examples
    --------
    >>> shown_of(["caption"], {2: ("a cat",)}).as_dict(2)
    {'caption': 'a cat'}
    """
    values = dict(kept)
    found = getattr(issues, "shown", None)
    if found is not None:
        for row, row_cells in zip(issues.rows.tolist(), found.tolist(), strict=True):  # type: ignore[attr-defined]
            values.setdefault(row, tuple(row_cells))
    return Shown(tuple(names), values)
