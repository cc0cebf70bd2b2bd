"""Parquet files, read record batch by record batch with pyarrow.

A remote file (:mod:`cecli.readers._remote`) is read a row group at a time,
each row group's column chunks fetched in a few coalesced requests
(pre-buffering), so memory holds about one row group whatever the file's
size; its frames are cut where a local file's are, so the sums agree to the bit.

Columns of numbers, booleans and strings are read like CSV columns. A column
holding a list (or fixed-size list) of numbers per row, as pandas and Hugging
Face datasets save arrays, is a ``"matrix"``: the N x K predictions in one
column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cecli.readers import Field, Frame, Source, quote_cell
from cecli.readers._arrow import bools, first_null, integers, numbers, numbers_or_nan, strings
from cecli.readers._text import profile

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

#: Rows of a text column sampled to tell numbers stored as text from text.
SAMPLE_ROWS = 65536
#: What pyarrow raises for a damaged file: its own errors (a page header that does not
#: deserialize, a dictionary index out of bounds, invalid UTF-8 in a cell), OSError (a
#: codec that fails, a page shorter than its header says) and UnicodeDecodeError (a
#: column name in the footer that is not UTF-8).
DAMAGED = (pa.ArrowException, OSError, UnicodeDecodeError)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _one_line(error: BaseException) -> str:
    """pyarrow's message on one line (its messages end in, and hold, line breaks)."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Record batches end to end as one (copied only when there are several)."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class ParquetSource(Source):
    """A ``.parquet`` file."""

    def __init__(self, path: str, *, remote: Remote | None = None) -> None:
        self.display = path
        self._remote = remote is not None
        try:
            if remote is not None:
                # one ranged GET per read otherwise (~11 a row group): pre-buffered, a row
                # group's column chunks come in a few large, coalesced requests
                self._file = pq.ParquetFile(remote.open_file(), pre_buffer=True)
            else:
                # buffered page reads: a large row group is decoded a page at a time
                self._file = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
            meta = self._file.metadata
            self.n_rows = int(meta.num_rows)
            self.row_groups = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
            if self.n_rows == 0:
                raise self.no_rows("has no rows: there is nothing to score.")
            # typing a column reads its first rows: a damaged page can fail here already
            self.fields = [self._field(f) for f in self._file.schema_arrow]
        except DAMAGED as exc:
            raise self.error(f"is not a valid Parquet file ({_one_line(exc)}).") from None

    def _field(self, f: pa.Field) -> Field:
        t = f.type
        if _is_number(t) or pa.types.is_null(t):
            return Field(f.name, "number")
        if pa.types.is_boolean(t):
            return Field(f.name, "bool")
        if _is_list(t) and (_is_number(t.value_type) or pa.types.is_boolean(t.value_type)):
            if pa.types.is_fixed_size_list(t):
                return Field(f.name, "matrix", t.list_size)
            first = self._first_rows(1, f.name)
            if first.null_count or first[0].as_py() is None:
                raise self.error(f"row 0, column {f.name!r} is empty; a list of numbers is needed.")
            return Field(f.name, "matrix", len(first[0]))
        if _is_text(t):
            # numbers stored as text are numbers, as in a CSV file; a column of them with
            # a bad cell is an error (in inputs), never a column silently left out
            sample = self._first_rows(SAMPLE_ROWS, f.name)
            p = profile(sample)
            if p.cells and p.first_bad is None and sample.null_count == 0:
                return Field(f.name, "number", profile=p)
            return Field(f.name, "string", profile=p)
        # anything else (dates, nested data) is read as text: ids and class names
        return Field(f.name, "string")

    def _first_rows(self, n: int, name: str) -> pa.Array:
        """The first ``n`` rows (or fewer: all there are) of the column ``name``."""
        return next(self._batches(n, [name])).column(0)

    def _batches(
        self, rows: int, columns: list[str], groups: range | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The columns in record batches of ``rows`` rows (the last one shorter).

        ``groups``, a run of row groups, reads only those (all of them: None).
        """
        if not self._remote:
            chosen = None if groups is None else list(groups)
            yield from self._file.iter_batches(batch_size=rows, row_groups=chosen, columns=columns)
            return
        # a row group at a time: iter_batches over them all would pre-buffer them all (memory
        # growing with the file). A local file's batches run on across row groups; these are
        # cut in the same places, so that the frames, and the sums' last bits, are the same.
        pending: list[pa.RecordBatch] = []
        held = 0
        for group in range(self._file.num_row_groups) if groups is None else groups:
            for batch in self._file.iter_batches(rows, row_groups=[group], columns=columns):
                while batch.num_rows:
                    take = min(rows - held, batch.num_rows)
                    pending.append(batch.slice(0, take))
                    held += take
                    batch = batch.slice(take)
                    if held == rows:
                        yield _joined(pending)
                        pending, held = [], 0
        if held:
            yield _joined(pending)

    def frames(
        self,
        rows_per_frame: int,
        columns: list[str],
        *,
        stacked: list[str] | None = None,
        row_groups: tuple[int, int] | None = None,
    ) -> Iterator[Frame]:
        """The frames; ``row_groups`` ``(first, stop)`` reads only those row groups.

        A frame's ``first_row`` is its row in the file, whichever groups are read.

        Examples
        --------
        >>> import os, tempfile
        >>> import pyarrow as pa, pyarrow.parquet as pq
        >>> path = os.path.join(tempfile.mkdtemp(), "p.parquet")
        >>> pq.write_table(pa.table({"p": [0.1, 0.2, 0.3, 0.4, 0.5]}), path, row_group_size=2)
        >>> source = ParquetSource(path)
        >>> source.row_groups
        (2, 2, 1)
        >>> [(f.first_row, f.n_rows) for f in source.frames(10, ["p"], row_groups=(1, 3))]
        [(2, 3)]
        >>> source.close()
        """
        groups = None if row_groups is None else range(*row_groups)
        sizes = self.row_groups or ()
        first_row = 0 if groups is None else sum(sizes[: groups.start])
        try:
            batches = self._batches(max(1, rows_per_frame), columns, groups)
            for batch in batches:
                frame = Frame(first_row, batch.num_rows)
                for name in columns:
                    frame.columns[name] = self._to_numpy(batch.column(name), name, first_row)
                first_row += batch.num_rows
                del batch
                yield frame
                # give the decoded pages back: the allocator would keep them for reuse,
                # and a wide file's resident memory would creep up batch by batch
                pa.default_memory_pool().release_unused()
        except DAMAGED as exc:
            raise self.error(
                f"could not be read past row {first_row}: the Parquet file is damaged "
                f"({_one_line(exc)}). Write it again."
            ) from None

    def _to_numpy(self, column: pa.Array, name: str, first_row: int) -> np.ndarray:
        f = self.field(name)
        nullable = f.kind == "number" and name in self.nullable and not _is_text(column.type)
        if column.null_count and nullable:
            return numbers_or_nan(column)
        if column.null_count and f.kind != "string":
            row = first_row + (first_null(column) or 0)
            raise self.error(f"row {row}, column {name!r} is empty (null); give every row a value.")
        if f.kind == "number":
            if _is_text(column.type):
                return self._parse_numbers(column, f, first_row)
            return numbers(column)
        if f.kind == "bool":
            return bools(column)
        if f.kind == "string":
            return strings(column)
        return self._matrix(column, f, first_row)

    def _parse_numbers(self, column: pa.Array, f: Field, first_row: int) -> np.ndarray:
        """Numbers stored as text, read as float64; a cell that is not one names its row."""
        p = profile(column)
        if p.first_bad is not None:
            raise self.error(
                f"row {first_row + p.first_bad}, column {f.name!r} holds "
                f"{quote_cell(p.first_bad_value or '')}, "
                "which is not a number, in a column of numbers stored as text. Fix the cell, or "
                "leave the column out of the predictions with --pred-cols."
            )
        import pyarrow.compute as pc  # only for numbers stored as text

        trimmed = pc.utf8_trim_whitespace(column.cast(pa.string()))
        return numbers(trimmed.cast(pa.float64()))

    def _matrix(self, column: pa.Array, f: Field, first_row: int) -> np.ndarray:
        n, k = len(column), f.width
        if not pa.types.is_fixed_size_list(column.type):
            offsets = integers(column.offsets)
            lengths = np.diff(offsets)
            uneven = np.flatnonzero(lengths != k)
            if uneven.size:
                r = int(uneven[0])
                raise self.error(
                    f"row {first_row + r}, column {f.name!r} holds {int(lengths[r])} numbers "
                    f"but row 0 holds {k}; every row needs one number per class "
                    f"({uneven.size} rows in this batch differ)."
                )
        values = column.flatten()
        if values.null_count:
            at = first_null(values) or 0
            raise self.error(
                f"row {first_row + at // k}, column {f.name!r} holds a null at position "
                f"{at % k}; every prediction needs a value."
            )
        # float32 stays float32, and a single chunk's values are not copied
        return numbers(values).reshape(n, k)

    def close(self) -> None:
        self._file.close()
