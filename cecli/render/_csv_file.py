"""A CSV file written from Arrow tables, its rows turned into text on every core at once.

pyarrow's CSV writer turns a table into text on one thread (a float column of a
million rows takes it some 70 ms) and lets go of the GIL while it does. So
:class:`CSVFile` cuts each table into slices of :data:`SLICE_ROWS` rows, has
:func:`pyarrow.csv.write_csv` write each slice's text on a pool of threads, one
a core, and writes the texts to the file in order as they come. The bytes are
the ones one :class:`pyarrow.csv.CSVWriter` writes for the same tables: a CSV
row's text depends on that row alone, and only the first slice has the header.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

if TYPE_CHECKING:
    from typing import BinaryIO

#: Rows a thread turns into text at a time: some 5 MiB of text, so the last
#: slice of a table (which no other thread can share) is short.
SLICE_ROWS = 1 << 16


def cores() -> int:
    """The processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _open(path: str) -> BinaryIO:
    """``path`` for writing from its start, emptied if it is a file with bytes in it."""
    # not truncated when already empty (the new temporary file): ext4 flushes a file
    # truncated and written again to disk when it is closed (some 50 ms for 80 MB),
    # a guard for programs that rewrite a file in place
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size > 0:
            os.ftruncate(fd, 0)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _text(table: pa.Table, header: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header))
    return sink.getvalue()


class CSVFile:
    """Writes tables as CSV rows to ``path``, the header before the first.

    At most one slice's text per thread waits to be written, so the text held
    is a few slices' whatever the tables' size.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pyarrow as pa
    >>> path = Path(tempfile.mkdtemp()) / "rows.csv"
    >>> out = CSVFile(str(path), threads=2)
    >>> out.write_table(pa.table({"row": [0, 1], "loss": [0.5, 1.25]}))
    >>> out.write_table(pa.table({"row": [2], "loss": [2.0]}))
    >>> out.close()
    >>> print(path.read_text(), end="")
    "row","loss"
    0,0.5
    1,1.25
    2,2
    """

    def __init__(self, path: str, *, threads: int | None = None) -> None:
        self._threads = threads or cores()
        self._file = _open(path)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="cecli-csv")
        self._pending: collections.deque[Future[pa.Buffer]] = collections.deque()
        self._header = True

    def write_table(self, table: pa.Table) -> None:
        """Hand the table's slices to the threads, and write those whose text is ready."""
        if table.num_rows == 0 and not self._header:
            return
        for start in range(0, max(table.num_rows, 1), SLICE_ROWS):
            piece = table.slice(start, SLICE_ROWS)
            self._pending.append(self._pool.submit(_text, piece, self._header))
            self._header = False
            while len(self._pending) > self._threads:
                self._write_next()

    def _write_next(self) -> None:
        self._file.write(self._pending.popleft().result())

    def close(self) -> None:
        """Write the rows still being turned into text, and close the file."""
        try:
            while self._pending:
                self._write_next()
        except BaseException:
            self.discard()
            raise
        self._pool.shutdown()
        self._file.close()

    def discard(self) -> None:
        """Stop: the rows not yet written are dropped, and the file closed as it is."""
        for pending in self._pending:
            pending.cancel()
        self._pending.clear()
        self._pool.shutdown(cancel_futures=True)
        self._file.close()
