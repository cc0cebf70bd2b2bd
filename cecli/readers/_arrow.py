"""pyarrow columns as NumPy arrays, read from their buffers.

pyarrow imports pandas the first time an array becomes NumPy through
``Array.to_numpy`` (and whenever a Python value becomes an Arrow scalar or
array: ``pa.array``, ``pa.scalar``, ``fill_null("")``, ``pc.equal(a, "")``),
which costs a fifth of a second and tens of MiB on every run. The readers
never need it: a column of numbers is its values buffer, seen through
``np.frombuffer`` from the array's offset on (no copy), and a null or boolean
is a bit of a bitmap. Nothing here converts a Python value to Arrow.

The caller checks for nulls first (:func:`first_null`): a null is an error in
a column of numbers, and the value under a null slot is undefined.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    """Bits ``offset .. offset + length`` of an Arrow bitmap (least significant bit first)."""
    start, stop = offset // 8, (offset + length + 7) // 8
    raw = np.frombuffer(buffer, np.uint8, count=stop - start, offset=start)
    skip = offset - 8 * start
    return np.unpackbits(raw, bitorder="little")[skip : skip + length].view(np.bool_)


def valid(array: pa.Array) -> np.ndarray:
    """Which slots of ``array`` hold a value (not null), as booleans.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> column = pacsv.read_csv(pa.py_buffer(b"x,y\\n1,a\\n,b\\n3,c\\n")).column("x").chunk(0)
    >>> valid(column).tolist(), valid(column.slice(1)).tolist()
    ([True, False, True], [False, True])
    """
    n = len(array)
    if array.null_count == 0:
        return np.ones(n, dtype=bool)
    if array.null_count == n:  # a null array has no bitmap at all
        return np.zeros(n, dtype=bool)
    return _bits(array.buffers()[0], array.offset, n)


def first_null(array: pa.Array | pa.ChunkedArray) -> int | None:
    """The index of the first null of ``array``, or None when it holds none.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> table = pacsv.read_csv(pa.py_buffer(b"x,y\\n1,2\\n2,\\n3,\\n"))
    >>> first_null(table.column("x")), first_null(table.column("y"))
    (None, 1)
    """
    if array.null_count == 0:
        return None
    if isinstance(array, pa.ChunkedArray):
        start = 0
        for chunk in array.chunks:
            at = first_null(chunk)
            if at is not None:
                return start + at
            start += len(chunk)
        return None  # pragma: no cover - null_count said there was one
    return int(np.flatnonzero(~valid(array))[0])


def first_valid(array: pa.Array) -> int | None:
    """The index of the first slot of ``array`` that holds a value, or None when none does.

    Examples
    --------
    >>> first_valid(pa.chunked_array([[None, None, 3]]).chunk(0)), first_valid(pa.nulls(2))
    (2, None)
    """
    if array.null_count == 0:
        return 0 if len(array) else None
    found = np.flatnonzero(valid(array))
    return int(found[0]) if found.size else None


def _chunks(array: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    if isinstance(array, pa.ChunkedArray):
        return [array.chunk(i) for i in range(array.num_chunks)]
    return [array]


#: The float types kept as they are, and their NumPy types.
_KEPT = {pa.float64(): np.dtype(np.float64), pa.float32(): np.dtype(np.float32)}


def _join(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate(parts)


def _values(array: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The values buffer of a fixed-width array, as NumPy, from the array's offset on."""
    n = len(array)
    if n == 0:
        return np.empty(0, dtype=dtype)
    out = np.frombuffer(
        array.buffers()[1], dtype=dtype, count=n, offset=array.offset * dtype.itemsize
    )
    out.flags.writeable = False  # pyarrow's memory, as to_numpy hands it out
    return out


def numbers(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column of numbers in its float type, without nulls (check :func:`first_null` first).

    float32 and float64 are kept (no copy for a single chunk), float16 is
    widened to float32, and every other type (integers, decimals, booleans) is
    cast to float64 by pyarrow: the rule every reader follows, so one array
    scores the same from every format.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> table = pacsv.read_csv(pa.py_buffer(b"p,y\\n0.25,1\\n0.75,2\\n"))
    >>> numbers(table.column("p")), numbers(table.column("y")).dtype
    (array([0.25, 0.75]), dtype('float64'))
    >>> numbers(table.column("p").chunk(0).cast(pa.float16())).dtype
    dtype('float32')
    """
    parts = []
    for chunk in _chunks(array):
        dtype = _KEPT.get(chunk.type)
        if dtype is None:
            chunk = chunk.cast(pa.float32() if pa.types.is_float16(chunk.type) else pa.float64())
            dtype = _KEPT[chunk.type]
        parts.append(_values(chunk, dtype))
    return _join(parts, np.dtype(np.float64))


def numbers_or_nan(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`numbers`, with NaN where ``array`` is null (a column that may be empty).

    Examples
    --------
    >>> numbers_or_nan(pa.array([1.5, None, 2.0])).tolist()
    [1.5, nan, 2.0]
    """
    if not array.null_count:
        return numbers(array)
    import pyarrow.compute as pc

    target = pa.float32() if array.type in (pa.float16(), pa.float32()) else pa.float64()
    return numbers(pc.fill_null(array.cast(target), float("nan")))


def stack(table: pa.Table) -> np.ndarray | None:
    """A table of float64 columns as the rows of one C-contiguous array; None if one has a null.

    What ``np.stack`` of the columns gives, made by pyarrow in one call that
    lets go of the GIL: a table of 1,000 columns would otherwise take 1,000
    steps in Python, each longer than its column's copy.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> table = pacsv.read_csv(pa.py_buffer(b"a,b\\n0.25,0.75\\n0.5,0.5\\n1,0\\n"))
    >>> stack(table)
    array([[0.25, 0.5 , 1.  ],
           [0.75, 0.5 , 0.  ]])
    >>> stack(pacsv.read_csv(pa.py_buffer(b"a,b\\n0.25,\\n"))) is None
    True
    """
    try:
        # column-major (the columns' own layout): the copy is one memcpy per column
        tensor = table.to_tensor(null_to_nan=False, row_major=False)
    except pa.ArrowTypeError:  # a null: the caller finds it, column by column
        return None
    out = tensor.to_numpy().T
    out.flags.writeable = False  # pyarrow's memory, as to_numpy hands it out
    return out


def integers(array: pa.Array) -> np.ndarray:
    """An integer array (a list column's offsets) as NumPy, in its own integer type.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> integers(pacsv.read_csv(pa.py_buffer(b"n\\n3\\n4\\n")).column("n").chunk(0))
    array([3, 4])
    """
    return _values(array, np.dtype(array.type.to_pandas_dtype()))


def bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column of booleans as NumPy; a null reads as False.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> bools(pacsv.read_csv(pa.py_buffer(b"b,y\\ntrue,1\\n,2\\nfalse,3\\ntrue,4\\n")).column("b"))
    array([ True, False, False,  True])
    """
    parts = []
    for chunk in _chunks(array):
        n = len(chunk)
        if n == 0 or chunk.null_count == n:
            parts.append(np.zeros(n, dtype=bool))
            continue
        bits = _bits(chunk.buffers()[1], chunk.offset, n)
        parts.append(bits & valid(chunk) if chunk.null_count else bits)
    return _join(parts, np.dtype(bool))


def strings(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column as Python strings (an object array); a null reads as ``""``.

    Examples
    --------
    >>> import pyarrow.csv as pacsv
    >>> strings(pacsv.read_csv(pa.py_buffer(b"id,x\\na,1\\n,2\\n")).column("id"))
    array(['a', ''], dtype=object)
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    cells = array.to_pylist()
    if array.null_count:
        cells = ["" if cell is None else cell for cell in cells]
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    return out
