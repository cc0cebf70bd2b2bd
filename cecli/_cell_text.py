"""A cell as ``--show`` writes it: the text of a value of any type, from any reader.

A column that is also data (the labels, the ids, a ``--by`` column) comes as a
NumPy array; a column that is only shown comes as the file holds it, in Arrow
(:attr:`cecli.readers.Source.shown_only`): a CSV cell's text as written, a
Parquet, Arrow or JSON Lines cell in its own type. :func:`cells` writes either
the same way: text as it is (an empty cell is missing), a whole number without
``.0`` and any other as ``repr`` writes it, exact integers of any size,
``true``/``false``, and a list or a struct as JSON text (``[1, 2.5]``,
``{"x": 1, "y": "z"}``, ``nan`` in it for NaN). A missing cell is None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def cells(
    column: Any, positions: Sequence[int] | NDArray[np.intp] | None = None
) -> list[str | None]:
    """The cells of ``column`` at ``positions`` (all when None) as text; None where missing.

    ``column`` is a NumPy array, or an Arrow array of any type (a column only
    shown, read as the file holds it). Text is kept as read, an empty cell
    being missing (CSV cannot tell the two apart); a whole number is written
    without ``.0``, any other number as ``repr`` writes it (NaN, a missing
    number, is None); booleans are ``true`` and ``false``; a row of numbers
    (a column of lists) is written as a list (``nan`` in it for NaN). A
    float32 is written in its own shortest form (``0.1``), not in that of the
    float64 it equals (``0.10000000149011612``).

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

    An Arrow column, as a reader gives a column only shown:

    >>> import pyarrow.csv as pacsv, io
    >>> table = pacsv.read_csv(io.BytesIO(b"n,ok\\n1152921504606846979,true\\n7,\\n"))
    >>> cells(table.column("n").chunk(0)), cells(table.column("ok").chunk(0), [1])
    (['1152921504606846979', '7'], [None])
    """
    from cecli._column import is_arrow

    if is_arrow(column):
        return arrow_cells(column, positions)
    values = np.asarray(column)
    if positions is not None:
        values = values[np.asarray(positions, dtype=np.intp)]
    # a float32 as NumPy's scalar, whose str is the shortest form of its own precision
    narrow = values.dtype.kind == "f" and values.dtype.itemsize < 8
    number = narrow_text if narrow else number_text
    items = values if narrow else values.tolist()
    if values.ndim == 2:  # NaN in a list is written as repr writes it in one
        return ["[" + ", ".join(number(v) or "nan" for v in row) + "]" for row in items]
    if values.dtype.kind == "b":
        return ["true" if v else "false" for v in items]
    if values.dtype.kind in "fiu":
        return [number(v) for v in items]
    return [None if v is None or v == "" else str(v) for v in values.tolist()]


def arrow_cells(
    array: Any, positions: Sequence[int] | NDArray[np.intp] | None = None
) -> list[str | None]:
    """The cells of an Arrow array (of any type) at ``positions`` as :func:`cells` writes them.

    Only the cells taken become Python values: a column stays in Arrow's
    memory until its listed rows are written.

    Examples
    --------
    >>> import pyarrow as pa
    >>> table = pa.table({"tags": [["dog", "t1"], None, []], "box": [{"x": 1, "y": None}] * 3})
    >>> arrow_cells(table.column("tags")), arrow_cells(table.column("box"), [0])
    (['["dog", "t1"]', None, '[]'], ['{"x": 1, "y": null}'])
    """
    import pyarrow as pa

    from cecli._column import take

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if positions is not None:
        array = take(array, positions)
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_floating(t):
        from cecli.readers._arrow import numbers, valid

        values = numbers(array)  # float16 as float32; a null slot's value is undefined
        if array.null_count:
            values = np.where(valid(array), values, np.nan)
        return cells(values)
    values = array.to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [v or None for v in values]
    return [value_text(v, t) for v in values]


def value_text(value: Any, arrow_type: Any = None) -> str | None:
    """One value (as json or pyarrow's ``to_pylist`` gives it) as :func:`cells` writes it.

    ``arrow_type`` is the value's Arrow type, when it has one: a float32 in it
    (in a list too) is written in its own shortest form.

    Examples
    --------
    >>> [value_text(v) for v in ("a", "", None, True, 2**64, 2.0, 0.1, float("nan"))]
    ['a', None, None, 'true', '18446744073709551616', '2', '0.1', None]
    >>> value_text([1, [2.5, None], {"k": "v"}]), value_text({"x": float("nan")})
    ('[1, [2.5, null], {"k": "v"}]', '{"x": nan}')
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace") or None
    if isinstance(value, float):
        return _float_text(value, arrow_type)
    if isinstance(value, (bool, int, list, tuple, dict)):
        return _item(value, arrow_type)
    return str(value)  # a date, a time, a decimal: as Python writes it


def _item(value: Any, t: Any) -> str:
    """A value inside a list or a struct, as JSON writes it (``nan`` for NaN)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value, t) or "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return _object(value.items(), lambda name: _field_type(t, name))
    if isinstance(value, (list, tuple)):
        if _is_map(t):  # a map's entries, (key, value) pairs: an object
            return _object(value, lambda _: t.item_type)
        child = getattr(t, "value_type", None)
        return "[" + ", ".join(_item(v, child) for v in value) + "]"
    if isinstance(value, bytes):
        return json.dumps(value.decode("utf-8", "backslashreplace"), ensure_ascii=False)
    text = str(value)
    return text if type(value).__name__ == "Decimal" else json.dumps(text, ensure_ascii=False)


def _float_text(value: float, t: Any) -> str | None:
    """A float as :func:`number_text` writes it, a float16 or float32 (by ``t``) in its own form."""
    narrow = _narrow_dtype(t)
    return number_text(value) if narrow is None else narrow_text(narrow.type(value))


def _narrow_dtype(t: Any) -> np.dtype | None:
    """NumPy's float16 or float32 for an Arrow type of them, else None."""
    if t is None:
        return None
    widths = {"halffloat": np.float16, "float": np.float32}
    kind = widths.get(str(t))
    return None if kind is None else np.dtype(kind)


def _object(pairs: Any, type_of: Any) -> str:
    """Named values as a JSON object: ``{"x": 1, "y": "z"}``."""
    inner = ", ".join(
        f"{json.dumps(str(k), ensure_ascii=False)}: {_item(v, type_of(k))}" for k, v in pairs
    )
    return "{" + inner + "}"


def _field_type(t: Any, name: object) -> Any:
    """The type of a struct's field ``name``; None without a type."""
    at = t.get_field_index(str(name)) if hasattr(t, "get_field_index") else -1
    return None if at < 0 else t.field(at).type


def _is_map(t: Any) -> bool:
    return t is not None and hasattr(t, "key_type") and hasattr(t, "item_type")


def narrow_text(value: np.floating) -> str | None:
    """A float16 or float32 as :func:`number_text` writes a float, in its own shortest form.

    Examples
    --------
    >>> narrow_text(np.float32(0.1)), narrow_text(np.float32(3)), narrow_text(np.float32("nan"))
    ('0.1', '3', None)
    """
    as_float = float(value)
    if math.isnan(as_float) or (as_float.is_integer() and abs(as_float) < 2**53):
        return number_text(as_float)
    return str(value)


def number_text(value: object) -> str | None:
    """A number as :func:`cells` writes it: whole without ``.0``, else ``repr``; NaN None.

    Examples
    --------
    >>> number_text(3.0), number_text(0.25), number_text(float("nan")), number_text(7)
    ('3', '0.25', None, '7')
    """
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    return None if value is None else str(value)
