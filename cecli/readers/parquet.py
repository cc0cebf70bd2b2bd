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

import pyarrow as pa
import pyarrow.parquet as pq

from cecli.readers import Frame, Source
from cecli.readers._columns import DAMAGED, ArrowColumns, recut, release_decoded
from cecli.readers._columns import one_line as _one_line

if TYPE_CHECKING:
    from cecli.readers._remote import Remote


class ParquetSource(ArrowColumns, Source):
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
        groups = range(self._file.num_row_groups) if groups is None else groups
        read = self._file.iter_batches
        batches = (b for g in groups for b in read(rows, row_groups=[g], columns=columns))
        yield from recut(batches, rows)

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
                decoded = batch.nbytes
                del batch
                yield frame
                release_decoded(decoded)
        except DAMAGED as exc:
            raise self.error(
                f"could not be read past row {first_row}: the Parquet file is damaged "
                f"({_one_line(exc)}). Write it again."
            ) from None

    def close(self) -> None:
        self._file.close()
