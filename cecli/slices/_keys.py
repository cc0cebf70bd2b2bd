"""Slice keys: each row's slice as a small whole number, found a chunk at a time.

A column's distinct values get codes in the order they are first seen (row
order), kept in a dictionary of value to code; a chunk's values are hashed
once (:func:`pandas.factorize`, in the order they appear), and only the
chunk's distinct values are looked up in the dictionary, never its rows one
by one. Several columns: the chunk's combinations are found the same way, and
each new combination of column codes gets the next slice number. So memory
grows with the number of slices and distinct values, not with the rows, and
the numbering is the same whatever the chunk size.

Missing values (NaN in a column of numbers, an empty cell of text) share one
code per column: a slice of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

#: The code of a column's missing values, before any value is seen.
NO_CODE = -1


def _factorize(values: np.ndarray) -> tuple[NDArray[np.intp], list[object]]:
    """Codes in the order of first appearance, and the distinct values (None for missing)."""
    import pandas as pd

    if values.dtype == object:
        # an empty cell of text is how the readers give a missing one
        values = np.where(values == "", None, values)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = np.asarray(uniques).tolist()
    for i in np.flatnonzero(pd.isna(uniques)).tolist():
        distinct[i] = None  # NaN is not equal to itself: no use as a key
    return codes.astype(np.intp, copy=False), distinct


def first_rows(codes: NDArray[np.intp], n_codes: int) -> NDArray[np.intp]:
    """The first row of each code ``0..n_codes-1`` in ``codes``.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices._keys import first_rows
    >>> first_rows(np.array([2, 0, 2, 1, 0]), 3).tolist()
    [1, 3, 0]
    """
    first = np.empty(n_codes, dtype=np.intp)
    rows = np.arange(len(codes), dtype=np.intp)
    first[codes[::-1]] = rows[::-1]  # the last write wins: the first row of each code
    return first


class ValueCodes:
    """One column's distinct values and their codes, in the order first seen.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices._keys import ValueCodes
    >>> column = ValueCodes()
    >>> local, codes = column.chunk(np.array([3.0, 1.0, 3.0, np.nan]))
    >>> local.tolist(), codes.tolist(), column.values
    ([0, 1, 0, 2], [0, 1, 2], [3.0, 1.0, None])
    """

    def __init__(self) -> None:
        self.codes: dict[object, int] = {}
        #: The values in code order; None is the missing value.
        self.values: list[object] = []

    def __len__(self) -> int:
        return len(self.values)

    def code_of(self, value: object) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def codes_of(self, values: Sequence[object]) -> NDArray[np.intp]:
        """The codes of ``values`` (distinct), new ones numbered in their order."""
        found = np.fromiter(
            map(self.codes.get, values, repeat(NO_CODE)), dtype=np.intp, count=len(values)
        )
        new = np.flatnonzero(found == NO_CODE)
        if len(new):
            start = len(self.values)
            fresh = [values[i] for i in new.tolist()]
            self.codes.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            self.values.extend(fresh)
            found[new] = np.arange(start, start + len(fresh))
        return found

    def chunk(self, values: np.ndarray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Each row's local code (0.., in order of appearance), and each local code's code."""
        local, distinct = _factorize(np.asarray(values))
        return local, self.codes_of(distinct)

    def merge_codes(self, other: ValueCodes) -> NDArray[np.intp]:
        """This column's codes of ``other``'s values (added here if new), in ``other``'s order."""
        return self.codes_of(other.values)
