"""A table in memory (a pandas DataFrame or a pyarrow Table) read as a file is.

The frame becomes an Arrow table column by column (``pa.Table.from_pandas``,
without its index), so each column keeps its type: a float32 column is read
as float32, as a Parquet file of it would be. From there it is read by the
Parquet reader's rules (:class:`~cecli.readers.parquet.ParquetSource`):
the same column kinds, the same checks, the same messages.

Examples
--------
>>> import pandas as pd
>>> from cecli.readers.table import TableSource
>>> source = TableSource(pd.DataFrame({"cat": [0.9, 0.2], "dog": [0.1, 0.8]}))
>>> [f.name for f in source.fields], source.n_rows
(['cat', 'dog'], 2)
>>> next(source.frames(10, ["dog"])).columns["dog"].tolist()
[0.1, 0.8]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from cecli.errors import InputError
from cecli.readers._columns import DAMAGED
from cecli.readers._columns import one_line as _one_line
from cecli.readers.parquet import ParquetSource

#: What messages call a frame given without a name.
DATAFRAME = "the DataFrame"


def as_arrow(frame: Any, display: str = DATAFRAME) -> pa.Table:
    """``frame`` (pandas or Arrow) as one Arrow table; a column Arrow cannot hold is an error."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is None or not isinstance(frame, pd.DataFrame):
        raise InputError(display, f"is a {type(frame).__name__}, not a pandas DataFrame.")
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise InputError(
            display, f"has a column named {bad[0]!r}, not by a string; name every column."
        )
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (*DAMAGED, TypeError, ValueError) as error:
        raise InputError(
            display, f"has a column Arrow cannot hold ({_one_line(error)}); give it one type."
        ) from None


class TableSource(ParquetSource):
    """A table in memory, read in frames by the Parquet reader's rules."""

    read_again = True

    def __init__(self, frame: Any, display: str = DATAFRAME) -> None:
        self.display = display
        self._remote = False
        self._table = as_arrow(frame, display).combine_chunks()
        self.n_rows = self._table.num_rows
        if self.n_rows == 0:
            raise self.no_rows("has no rows: there is nothing to score.")
        try:
            self.fields = [self._field(f) for f in self._table.schema]
        except DAMAGED as exc:
            raise self.error(f"cannot be read ({_one_line(exc)}).") from None

    def _batches(
        self, rows: int, columns: list[str], groups: range | None = None
    ) -> Iterator[pa.RecordBatch]:
        # a table has no row groups (row_groups is None): ``groups`` is never given
        yield from self._table.select(columns).to_batches(max_chunksize=rows)

    def close(self) -> None:
        """Nothing to release: the table is the caller's."""
