"""How an error names a row of the input, and the hints it gives about the values it quotes.

A chunk's checks name each row by its number in the whole input: the chunk's
rows follow its first row's number, or, when rows were left out between them
(``ignore_index``), each row has its own number (:data:`RowNumbers`). The
checks are given those numbers, so no message is rewritten afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["RowNumbers", "numbered", "padding_hint"]

#: Where a chunk's rows are in the whole input: the first row's number (the others
#: follow it), or each row's own number (when rows were left out between them, as
#: ``ignore_index`` leaves them out). The checks name rows by it.
RowNumbers = int | NDArray[np.int64]


def numbered(positions: int | NDArray[np.intp], rows: RowNumbers) -> Any:
    """The input's numbers of a chunk's rows at ``positions``, as ``rows`` numbers them.

    Examples
    --------
    >>> numbered(2, 10), numbered(np.array([0, 2]), np.array([3, 5, 9])).tolist()
    (12, [3, 9])
    """
    if isinstance(rows, np.ndarray):
        return rows[positions]
    return positions + rows


def padding_hint(values: ArrayLike) -> str:
    """`` (padding? ...)`` when a label is a negative whole number, as padding is; else "".

    Hugging Face ``transformers`` pads the labels of token-level outputs with -100,
    which PyTorch's ``ignore_index`` leaves out; here that takes the option.

    Examples
    --------
    >>> padding_hint([3, -100])
    ' (padding? give --ignore-label -100, or ignore_index=-100 in Python)'
    >>> padding_hint(["-1"]), padding_hint([7, 0.5])
    (' (padding? give --ignore-label -1, or ignore_index=-1 in Python)', '')
    """
    for value in np.asarray(values).reshape(-1).tolist():
        text = str(value).strip()
        if text.startswith("-") and text[1:].isdigit():
            number = int(text)
        elif isinstance(value, float) and value < 0 and value.is_integer():
            number = int(value)
        else:
            continue
        return f" (padding? give --ignore-label {number}, or ignore_index={number} in Python)"
    return ""
