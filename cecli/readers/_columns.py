"""Arrow columns read as a reader's fields: what Parquet, Arrow IPC and JSON Lines share.

A file that comes as Arrow record batches (Parquet, Arrow IPC / Feather, JSON
Lines parsed by ``pyarrow.json``, a table in memory) has its columns typed
and turned into NumPy here, by one set of rules: numbers (float32 and float64
kept), booleans, text (numbers stored as text are numbers, as in a CSV file),
and a column holding a list (or fixed-size list) of numbers per row, the
``N x K`` predictions in one column (:class:`ArrowColumns`). Record batches of
any size are cut into frames of the rows asked for (:func:`recut`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from cecli.errors import InputError
from cecli.readers import Field, quote_cell
from cecli.readers._arrow import (
    bools,
    first_null,
    first_valid,
    integers,
    numbers,
    numbers_or_nan,
    strings,
)
from cecli.readers._text import profile

#: Rows of a text column sampled to tell numbers stored as text from text.
SAMPLE_ROWS = 65536
#: Rows of a list column whose first row is empty searched for the width of its lists.
LIST_ROWS = 4096
#: What pyarrow raises for a damaged file: its own errors (a page header that does not
#: deserialize, a dictionary index out of bounds, invalid UTF-8 in a cell), OSError (a
#: codec that fails, a page shorter than its header says) and UnicodeDecodeError (a
#: column name in the footer that is not UTF-8).
DAMAGED = (pa.ArrowException, OSError, UnicodeDecodeError)


def is_number(t: pa.DataType) -> bool:
    """Whether an Arrow type holds numbers (integers, floats, decimals).

    Examples
    --------
    >>> is_number(pa.float32()), is_number(pa.decimal128(5, 2)), is_number(pa.string())
    (True, True, False)
    """
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_text(t: pa.DataType) -> bool:
    """Whether an Arrow type holds text (a dictionary of text too).

    Examples
    --------
    >>> is_text(pa.large_string()), is_text(pa.dictionary(pa.int8(), pa.string()))
    (True, True)
    """
    if pa.types.is_dictionary(t):
        return is_text(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def is_list(t: pa.DataType) -> bool:
    """Whether an Arrow type is a list (of any length, or of a fixed one).

    Examples
    --------
    >>> is_list(pa.list_(pa.float32(), 3)), is_list(pa.large_list(pa.int64())), is_list(pa.int8())
    (True, True, False)
    """
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def one_line(error: BaseException) -> str:
    """pyarrow's message on one line (its messages end in, and hold, line breaks).

    Examples
    --------
    >>> one_line(ValueError("Invalid: bad\\n  at line 3\\n"))
    'Invalid: bad; at line 3'
    """
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Record batches end to end as one (copied only when there are several).

    Examples
    --------
    >>> batch = pa.RecordBatch.from_pydict({"p": [0.1, 0.2]})
    >>> joined([batch, batch.slice(1)]).column(0).to_pylist()
    [0.1, 0.2, 0.2]
    """
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def recut(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` cut into batches of ``rows`` rows (the last one shorter).

    A long batch is sliced (no copy); short ones are joined. So the frames of
    a file are cut in the same places whatever batches its writer made.

    Examples
    --------
    >>> batch = pa.RecordBatch.from_pydict({"p": [0.1, 0.2, 0.3]})
    >>> [b.num_rows for b in recut([batch, batch, batch], 4)]
    [4, 4, 1]
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == rows:
                yield joined(pending)
                pending, held = [], 0
    if held:
        yield joined(pending)


class ArrowColumns:
    """The typing of Arrow fields and the reading of Arrow columns, for a Source.

    Mixed in before :class:`~cecli.readers.Source` (whose ``error``, ``where``,
    ``field`` and ``nullable`` it uses); a subclass gives :meth:`_first_rows`.
    Messages name a row by the source's ``where`` and a column by
    :attr:`column_word` (JSON Lines says "key").
    """

    column_word = "column"

    def _first_rows(self, n: int, name: str) -> pa.Array:
        """The first ``n`` rows (or fewer: all there are) of the column ``name``."""
        raise NotImplementedError

    def _field(self, f: pa.Field) -> Field:
        t = f.type
        if is_number(t) or pa.types.is_null(t):
            return Field(f.name, "number")
        if pa.types.is_boolean(t):
            return Field(f.name, "bool")
        if is_list(t) and (is_number(t.value_type) or pa.types.is_boolean(t.value_type)):
            if pa.types.is_fixed_size_list(t):
                return Field(f.name, "matrix", t.list_size)
            # the width of the first row that holds a list: an empty row 0 is an error only
            # if the column is read as data (a column only shown may have empty cells)
            first = self._first_rows(1, f.name)
            if first.null_count:
                first = self._first_rows(LIST_ROWS, f.name)
            at = first_valid(first)
            if at is None:
                raise self.error(
                    f"{self.where(0)}, {self.column_word} {f.name!r} is empty; a list of "
                    "numbers is needed."
                )
            return Field(f.name, "matrix", len(first[at]))
        if is_text(t):
            # numbers stored as text are numbers, as in a CSV file; a column of them with
            # a bad cell is an error (in inputs), never a column silently left out
            sample = self._first_rows(SAMPLE_ROWS, f.name)
            p = profile(sample)
            if p.cells and p.first_bad is None and sample.null_count == 0:
                return Field(f.name, "number", profile=p)
            return Field(f.name, "string", profile=p)
        # anything else (dates, nested data) is read as text: ids and class names
        return Field(f.name, "string")

    def _null_error(self, row: int, name: str) -> InputError:
        return self.error(
            f"{self.where(row)}, {self.column_word} {name!r} is empty (null); give every row "
            "a value."
        )

    def _to_numpy(self, column: pa.Array, name: str, first_row: int) -> np.ndarray:
        if name in self.shown_only:  # as the file holds it: text only for the rows listed
            return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        f = self.field(name)
        nullable = f.kind == "number" and name in self.nullable and not is_text(column.type)
        if column.null_count and nullable:
            return numbers_or_nan(column)
        if column.null_count and f.kind != "string":
            raise self._null_error(first_row + (first_null(column) or 0), name)
        if f.kind == "number":
            if is_text(column.type):
                return self._parse_numbers(column, f, first_row)
            return numbers(column)
        if f.kind == "bool":
            return bools(column)
        if f.kind == "string":
            return self._strings(column)
        return self._matrix(column, f, first_row)

    def _strings(self, column: pa.Array) -> np.ndarray:
        return strings(column)

    def _parse_numbers(self, column: pa.Array, f: Field, first_row: int) -> np.ndarray:
        """Numbers stored as text, read as float64; a cell that is not one names its row."""
        p = profile(column)
        if p.first_bad is not None:
            raise self.error(
                f"{self.where(first_row + p.first_bad)}, {self.column_word} {f.name!r} holds "
                f"{quote_cell(p.first_bad_value or '')}, "
                "which is not a number, in a column of numbers stored as text. Fix the cell, or "
                "leave the column out of the predictions with --pred-cols."
            )
        import pyarrow.compute as pc  # only for numbers stored as text

        trimmed = pc.utf8_trim_whitespace(column.cast(pa.string()))
        return numbers(trimmed.cast(pa.float64()))

    def _matrix(self, column: pa.Array, f: Field, first_row: int) -> np.ndarray:
        n, k = len(column), f.width
        assert k is not None
        if not pa.types.is_fixed_size_list(column.type):
            offsets = integers(column.offsets)
            lengths = np.diff(offsets)
            uneven = np.flatnonzero(lengths != k)
            if uneven.size:
                r = int(uneven[0])
                raise self.error(
                    f"{self.where(first_row + r)}, {self.column_word} {f.name!r} holds "
                    f"{int(lengths[r])} numbers but row 0 holds {k}; every row needs one number "
                    f"per class ({uneven.size} rows in this batch differ)."
                )
        values = column.flatten()
        if values.null_count:
            at = first_null(values) or 0
            raise self.error(
                f"{self.where(first_row + at // k)}, {self.column_word} {f.name!r} holds a null "
                f"at position {at % k}; every prediction needs a value."
            )
        # float32 stays float32, and a single chunk's values are not copied
        return numbers(values).reshape(n, k)


#: Decoded bytes (the default chunk) after which the allocator's unused pages go back.
RELEASE_BYTES = 64 << 20
_decoded = [0]


def release_decoded(nbytes: int) -> None:
    """Give the allocator's unused pages back once ``RELEASE_BYTES`` have been decoded.

    mimalloc keeps freed pages for reuse, and a wide file's resident memory
    would creep up batch by batch; but releasing after every batch makes the
    next one fault its pages in again (reading 40 shards of 20 MB made
    189,000 page faults; never releasing, 10,000). The count runs on across
    files, so a glob of small shards releases as seldom as one large file.

    Examples
    --------
    >>> _decoded[0] = 0
    >>> release_decoded(RELEASE_BYTES - 1)
    >>> _decoded[0] == RELEASE_BYTES - 1
    True
    >>> release_decoded(1)  # the pages go back, and the count starts again
    >>> _decoded[0]
    0
    """
    _decoded[0] += nbytes
    if _decoded[0] >= RELEASE_BYTES:
        _decoded[0] = 0
        pa.default_memory_pool().release_unused()
