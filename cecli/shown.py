"""The ``--show`` columns' values of the listed rows: :class:`Shown`, and how cells become text.

A ``--show`` column is read with the rest of its file, chunk by chunk. A column
only shown is read as the file holds it, in Arrow's memory (a CSV cell's text
exactly as written, a Parquet, Arrow or JSON Lines cell in its own type), never
checked as data; a column that is also the labels, the ids, the weights or a
``--by`` column is shown as it is read for that. Only the cells of the rows a
report lists are turned into text (:func:`cells`, :mod:`cecli._cell_text`), so
the memory this takes is bounded by what is listed. A cell that is empty or
missing is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cecli._cell_text import cells

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


def row_values(
    columns: Sequence[Any], positions: NDArray[np.intp] | None = None
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


def value_matrix(columns: Sequence[Any], positions: NDArray[np.intp]) -> NDArray[np.object_]:
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


__all__ = ["Shown", "ShownValues", "cells", "row_values", "shown_of", "value_matrix"]
