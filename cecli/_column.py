"""A column of a chunk: a NumPy array, or an Arrow array for a column that is only shown.

A ``--show`` column used for nothing else (:attr:`cecli.readers.Source.shown_only`)
is kept as the reader gives it, in Arrow's memory: a CSV column's text as
written, another format's column in its own type. It becomes Python text only
for the rows listed (:func:`cecli.shown.cells`). The functions here cut, pick
and join a column of either kind, the way the chunks of rows are cut (a frame
cut to line up with the other file, the rows of a chunk not ignored); they
import pyarrow only for an Arrow column, and build Arrow arrays from buffers
(``pa.array`` of NumPy or Python values imports pandas, see
:mod:`cecli.readers._arrow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def is_arrow(column: Any) -> bool:
    """Whether ``column`` is an Arrow array (a column only shown), not NumPy.

    Examples
    --------
    >>> import pyarrow as pa
    >>> is_arrow(np.arange(3)), is_arrow(pa.chunked_array([[1, 2]]).chunk(0))
    (False, True)
    """
    return not isinstance(column, np.ndarray) and hasattr(column, "to_pylist")


def take(column: Any, positions: Sequence[int] | NDArray[np.integer]) -> Any:
    """The cells of ``column`` at ``positions``, in that order: the same kind of column.

    Examples
    --------
    >>> import pyarrow as pa
    >>> text = pa.chunked_array([["a", "b", "c"]]).chunk(0)
    >>> take(text, np.array([2, 0])).to_pylist(), take(np.arange(3) * 10, [1]).tolist()
    (['c', 'a'], [10])
    """
    at = np.ascontiguousarray(positions, dtype=np.int64)
    if not is_arrow(column):
        return np.asarray(column)[at]
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    indices = pa.Array.from_buffers(pa.int64(), len(at), [None, pa.py_buffer(at)])
    return column.take(indices)


def keep(column: Any, mask: NDArray[np.bool_]) -> Any:
    """The cells of ``column`` where ``mask`` is True.

    Examples
    --------
    >>> keep(np.arange(4), np.array([True, False, False, True])).tolist()
    [0, 3]
    """
    if not is_arrow(column):
        return np.asarray(column)[mask]
    return take(column, np.flatnonzero(mask))


def join(parts: Sequence[Any]) -> Any:
    """Columns end to end. Arrow columns of different types (shards) are joined as their text.

    Examples
    --------
    >>> import pyarrow as pa
    >>> a, b = pa.chunked_array([[1, 2]]).chunk(0), pa.chunked_array([["x"]]).chunk(0)
    >>> join([a, a]).to_pylist(), join([a, b]).to_pylist(), join([np.arange(2)] * 2).tolist()
    ([1, 2, 1, 2], ['1', '2', 'x'], [0, 1, 0, 1])
    """
    if not any(is_arrow(part) for part in parts):
        return np.concatenate(parts)
    import pyarrow as pa

    arrays = [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts]
    if len({a.type for a in arrays}) == 1:
        return pa.concat_arrays(arrays)
    from cecli._cell_text import arrow_cells

    return nullable_strings([cell for a in arrays for cell in arrow_cells(a)])


def strings(texts: list[str]) -> Any:
    """Python strings as an Arrow string array, built from one UTF-8 buffer and its offsets.

    Examples
    --------
    >>> strings(["a", "café", ""]).to_pylist()
    ['a', 'café', '']
    """
    import pyarrow as pa

    joined = "".join(texts)
    if joined.isascii():  # the usual ids: a character is a byte
        data, lengths = joined.encode("ascii"), np.fromiter(map(len, texts), np.int64, len(texts))
    else:
        encoded = [text.encode("utf-8") for text in texts]
        data, lengths = b"".join(encoded), np.fromiter(map(len, encoded), np.int64, len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        return pa.Array.from_buffers(pa.string(), len(texts), buffers)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_string(), len(texts), buffers).cast(pa.string())


def nullable_strings(texts: Sequence[str | None]) -> Any:
    """:func:`strings` where a None is a null.

    Examples
    --------
    >>> nullable_strings(["a", None, "b"]).to_pylist()
    ['a', None, 'b']
    """
    import pyarrow as pa

    missing = np.fromiter((t is None for t in texts), bool, len(texts))
    array = strings(["" if t is None else t for t in texts] if missing.any() else list(texts))  # type: ignore[misc]
    if not missing.any():
        return array
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(array.type, len(texts), [valid, *array.buffers()[1:]])
