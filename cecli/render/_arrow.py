"""NumPy arrays and Python strings to pyarrow, without the pandas import pyarrow makes.

pyarrow 26 imports pandas (some 0.2 s) on ``pa.array`` and ``pa.scalar`` of
Python or NumPy values. The writers build their arrays from buffers instead
(:meth:`pyarrow.Array.from_buffers`), which imports nothing. Only the text
functions need :mod:`pyarrow.compute` (some 25 ms to import), and import it
when called.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cecli._column import nullable_strings, strings

#: Built from buffers (:mod:`cecli._column`), as the readers build a column of text.
__all__ = [
    "float_texts",
    "indexed",
    "int_texts",
    "nullable_strings",
    "numbers",
    "scalar",
    "strings",
]


def numbers(values: np.ndarray) -> pa.Array:
    """A NumPy array of numbers or booleans as an Arrow array, from its buffer.

    Examples
    --------
    >>> import numpy as np
    >>> numbers(np.array([1.5, 2.0])).to_pylist(), numbers(np.array([True, False])).type
    ([1.5, 2.0], DataType(bool))
    """
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def indexed(codes: np.ndarray, names: pa.Array) -> pa.DictionaryArray:
    """Each row's name as a dictionary array: ``codes`` index into ``names``.

    Writers take it as the strings it stands for (a CSV writer writes the names;
    a Parquet writer writes the codes and the names once, without hashing a
    string per row).

    Examples
    --------
    >>> import numpy as np
    >>> indexed(np.array([1, 0, 1]), strings(["cat", "dog"])).to_pylist()
    ['dog', 'cat', 'dog']
    """
    codes = np.ascontiguousarray(codes, dtype=np.int32)
    kind = pa.dictionary(pa.int32(), names.type)
    buffers = [None, pa.py_buffer(codes)]
    return pa.DictionaryArray.from_buffers(kind, len(codes), buffers, dictionary=names)


def scalar(text: str) -> pa.Scalar:
    """One Arrow string scalar (``pa.scalar`` of a str imports pandas)."""
    return strings([text])[0]


def float_texts(values: np.ndarray) -> pa.Array:
    """Floats as ``repr`` writes them, and ``null`` for NaN and infinities, as JSON has them.

    pyarrow's float-to-text cast, some five times faster than ``repr``, writes the
    same shortest digits that read back as the same float; it differs only in
    the layout of some numbers (``1e-7`` and ``12345`` where ``repr`` writes
    ``1e-07`` and ``12345.0``; an exponent sooner or later). Its text is kept
    only where ``repr`` writes plain digits (``1e-4 <= |x| < 1e16``), the number
    is not whole, and pyarrow wrote no exponent; every other number gets ``repr``'s.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([0.1, 1e-07, 12345.0, 2.5e20, np.nan, -0.0, 1 / 3])
    >>> float_texts(values).to_pylist() == [repr(v) for v in values[:4].tolist()] + [
    ...     "null", "-0.0", repr(1 / 3)]
    True
    """
    import pyarrow.compute as pc

    values = np.ascontiguousarray(values, dtype=np.float64)
    texts = pc.cast(numbers(values), pa.string())
    size = np.abs(values)
    with np.errstate(invalid="ignore"):
        # a whole number has no point in pyarrow's text (repr adds ".0"); a
        # number that is not whole always has one, in both: the shortest digits
        # of a double below 2**53 that is not whole are not a whole number
        redo = ~((size >= 1e-4) & (size < 1e16)) | (values == np.trunc(values))
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(values) + 1)
    if offsets[-1]:
        data = np.frombuffer(data_buffer, dtype=np.uint8, count=int(offsets[-1]))
        exponent = np.flatnonzero(data == ord("e"))  # where pyarrow wrote one (repr may not)
        redo[np.searchsorted(offsets, exponent, side="right") - 1] = True
    if not redo.any():
        return texts
    again = values[redo]
    redone = list(map(repr, again.tolist()))
    for i in np.flatnonzero(~np.isfinite(again)).tolist():
        redone[i] = "null"
    return pc.replace_with_mask(texts, numbers(redo), strings(redone))


def int_texts(values: np.ndarray) -> pa.Array:
    """Whole numbers as decimal text, as ``str`` writes them.

    Examples
    --------
    >>> import numpy as np
    >>> int_texts(np.array([0, -12, 345])).to_pylist()
    ['0', '-12', '345']
    """
    import pyarrow.compute as pc

    return pc.cast(numbers(np.asarray(values, dtype=np.int64)), pa.string())
