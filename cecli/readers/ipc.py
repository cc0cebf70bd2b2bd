"""Arrow IPC files and streams (``.arrow``, ``.feather``, ``.ipc``), record batch by record batch.

Two layouts share the extensions. The IPC *file* format (Feather version 2,
what ``pandas.DataFrame.to_feather`` and ``pyarrow.feather.write_feather``
write) begins with the magic bytes ``ARROW1`` and ends in a footer that lists
its record batches; the IPC *stream* format (what Hugging Face ``datasets``
keeps on disk as ``.arrow`` files, and ``pyarrow.ipc.new_stream`` writes) is
the same messages without the footer. The magic bytes tell them apart.

A local file is memory-mapped: a record batch's columns are views of the
mapped file (no copy unless its buffers are compressed, as Feather's are by
default), and only the batch being scored is decoded, so memory holds about
one frame whatever the file's size. The rows of each record batch are read
from the messages' headers alone (:func:`batch_rows`), without decoding a
batch. Columns are typed and read by the Parquet reader's rules
(:class:`~cecli.readers._columns.ArrowColumns`): float32 stays float32, and a
list (or fixed-size list) column of numbers is the ``N x K`` predictions.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.ipc as ipc

from cecli.readers import Frame, Source
from cecli.readers._columns import DAMAGED, ArrowColumns, one_line, recut, release_decoded

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

#: The first bytes of an IPC file (Feather version 2), and of a Feather version 1 file.
FILE_MAGIC = b"ARROW1"
FEATHER_V1_MAGIC = b"FEA1"


def _table_field(buf: memoryview, table: int, index: int) -> int | None:
    """Where field ``index`` of the flatbuffer table at ``table`` is, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    size = struct.unpack_from("<H", buf, vtable)[0]
    at = 4 + 2 * index
    if at + 2 > size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + at)[0]
    return table + offset if offset else None


def _record_batch_length(metadata: pa.Buffer) -> int:
    """The rows of a record batch message, read from its flatbuffer header.

    ``Message { version, header_type, header, bodyLength, ... }`` and
    ``RecordBatch { length: long, ... }`` (Arrow's ``Message.fbs``): field 2 of
    the message is the offset of the record batch, whose field 0 is its length.
    """
    buf = memoryview(metadata)
    message = struct.unpack_from("<I", buf, 0)[0]
    header = _table_field(buf, message, 2)
    if header is None:
        return 0
    batch = header + struct.unpack_from("<I", buf, header)[0]
    length = _table_field(buf, batch, 0)
    return 0 if length is None else struct.unpack_from("<q", buf, length)[0]


def _walk(file: Any, start: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The rows of each record batch message from byte ``start`` on, and where each begins."""
    file.seek(start)
    reader = ipc.MessageReader.open_stream(file)
    rows, starts = [], []
    while True:
        at = file.tell()
        try:
            message = reader.read_next_message()
        except StopIteration:
            break
        if message.type == "record batch":
            rows.append(_record_batch_length(message.metadata))
            starts.append(at)
    return tuple(rows), tuple(starts)


def batch_rows(file: Any, start: int = 0) -> tuple[int, ...]:
    """The rows of each record batch of the IPC messages in ``file`` from byte ``start`` on.

    Only the messages' headers are read: no batch is decoded (or decompressed),
    and a memory-mapped file's bodies are not touched.

    Examples
    --------
    >>> import pyarrow as pa
    >>> table = pa.table({"p": [0.1, 0.2, 0.3, 0.4, 0.5]})
    >>> sink = pa.BufferOutputStream()
    >>> with pa.ipc.new_stream(sink, table.schema) as writer:
    ...     writer.write_table(table, max_chunksize=2)
    >>> batch_rows(pa.BufferReader(sink.getvalue()))
    (2, 2, 1)
    """
    return _walk(file, start)[0]


class _Mapped:
    """A file mapped read-only, whose pages are given back once their batches are read.

    Pages read through a map stay resident (and count as the process's) until
    unmapped; giving them back as reading goes on keeps a file of any size from
    ending up resident. The map is shared and read-only: a page given back and
    read again (an array still in use) is read from the file again.
    """

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.buffer: pa.Buffer | None = pa.py_buffer(self._map)
        self._released = 0

    def reader(self) -> pa.BufferReader:
        return pa.BufferReader(self.buffer)

    def release(self, stop: int) -> None:
        """Give back the pages before byte ``stop`` (those not given back already)."""
        page = mmap.PAGESIZE
        stop -= stop % page
        if stop <= self._released or not hasattr(mmap, "MADV_DONTNEED"):
            return
        with contextlib.suppress(OSError, ValueError):  # an advice, not a requirement
            self._map.madvise(mmap.MADV_DONTNEED, self._released, stop - self._released)
        self._released = stop

    def close(self) -> None:
        self.buffer = None
        with contextlib.suppress(BufferError):  # arrays still use it: it goes with them
            self._map.close()


class IpcSource(ArrowColumns, Source):
    """An Arrow IPC file or stream (``.arrow``, ``.feather``, ``.ipc``)."""

    def __init__(self, path: str, *, remote: Remote | None = None) -> None:
        self.display = path
        self._path = path
        self._remote = remote
        self._file: Any = None
        self._mapped: _Mapped | None = None
        #: Where each record batch begins in a local file (its pages are given back after).
        self._starts: tuple[int, ...] = ()
        self._drawn = -1
        try:
            if remote is not None:
                self._file = remote.open_file()
            else:
                if os.path.getsize(path) == 0:
                    raise self.no_rows("is empty: there is nothing to score.")
                self._mapped = _Mapped(path)
                self._file = self._mapped.reader()
            head = self._file.read_at(8, 0) if self._file.size() >= 8 else b""
            if head.startswith(FEATHER_V1_MAGIC):
                raise self.error(
                    "is a Feather version 1 file, which cannot be read in record batches. Write "
                    "it again as Feather version 2 (pandas.DataFrame.to_feather and "
                    "pyarrow.feather.write_feather write it by default)."
                )
            #: Whether the file has the IPC file format's footer (else it is a stream).
            self.random_access = head.startswith(FILE_MAGIC)
            if self.random_access:
                self._reader = ipc.open_file(self._file)
                self.schema = self._reader.schema
            else:
                with self._stream() as stream:
                    self.schema = ipc.open_stream(stream).schema
            if remote is None:
                # a stream's rows are known from its headers too: a mapped file is cheap to walk
                self.row_groups, self._starts = _walk(self._file, 8 if self.random_access else 0)
                self.n_rows = sum(self.row_groups)
                if not self.random_access:
                    self.row_groups = None  # a stream's batches are not read one by one
                if self.n_rows == 0:
                    raise self.no_rows("has no rows: there is nothing to score.")
            else:
                # a remote stream is read once, as it comes (kept on disk for later passes)
                self.read_again = self.random_access
            self.fields = [self._field(f) for f in self.schema]
        except DAMAGED as exc:
            self.close()
            raise self.error(
                f"is not a valid Arrow IPC (Feather) file or stream ({one_line(exc)})."
            ) from None
        except BaseException:
            self.close()
            raise

    def _first_rows(self, n: int, name: str) -> pa.Array:
        """The first ``n`` rows (or fewer: all there are) of the column ``name``."""
        batch = next(recut(self._record_batches([name]), n), None)
        if batch is None:
            raise self.no_rows("has no rows: there is nothing to score.")
        return batch.column(0)

    def _record_batches(
        self, columns: list[str], groups: range | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The file's record batches as its writer made them, holding ``columns`` alone."""
        if self.random_access:
            reader = self._reader
            indices = range(reader.num_record_batches) if groups is None else groups
            for i in indices:
                yield self._selected(reader.get_batch(i), columns, i)
            return
        with self._stream() as stream:
            for i, batch in enumerate(ipc.open_stream(stream)):
                yield self._selected(batch, columns, i)

    def _selected(self, batch: pa.RecordBatch, columns: list[str], index: int) -> pa.RecordBatch:
        """Batch ``index`` holding ``columns`` alone (the last one drawn, see :meth:`frames`)."""
        self._drawn = index
        return pa.RecordBatch.from_arrays([batch.column(c) for c in columns], names=columns)

    def _give_back(self) -> None:
        """Give back the mapped pages before the last batch drawn: every frame of them is out.

        Not sooner: a frame may join the rest of one batch to the next ones, and a
        page given back before it is copied would be read in again, and kept.
        """
        if self._mapped is not None and 0 <= self._drawn < len(self._starts):
            self._mapped.release(self._starts[self._drawn])

    def _stream(self) -> Any:
        """The stream from its start, opened anew: a mapped file again, a remote one as it comes."""
        if self._mapped is None:
            assert self._remote is not None
            return self._remote.open_stream(None)
        return self._mapped.reader()

    def frames(
        self,
        rows_per_frame: int,
        columns: list[str],
        *,
        stacked: list[str] | None = None,
        row_groups: tuple[int, int] | None = None,
    ) -> Iterator[Frame]:
        """The frames; ``row_groups`` ``(first, stop)`` reads only those record batches.

        An IPC file's record batches are its row groups (:attr:`row_groups`): a
        task on a worker may read a run of them. A frame's ``first_row`` is its
        row in the file, whichever batches are read.

        Examples
        --------
        >>> import os, tempfile
        >>> import pyarrow as pa, pyarrow.feather as feather
        >>> path = os.path.join(tempfile.mkdtemp(), "p.feather")
        >>> feather.write_feather(pa.table({"p": [0.1, 0.2, 0.3, 0.4, 0.5]}), path, chunksize=2)
        >>> source = IpcSource(path)
        >>> source.n_rows, source.row_groups
        (5, (2, 2, 1))
        >>> [(f.first_row, f.n_rows) for f in source.frames(10, ["p"], row_groups=(1, 3))]
        [(2, 3)]
        >>> source.close()
        """
        groups = None if row_groups is None else range(*row_groups)
        first_row = 0 if groups is None else sum((self.row_groups or ())[: groups.start])
        try:
            for batch in recut(self._record_batches(columns, groups), max(1, rows_per_frame)):
                frame = Frame(first_row, batch.num_rows)
                for name in columns:
                    frame.columns[name] = self._to_numpy(batch.column(name), name, first_row)
                first_row += batch.num_rows
                decoded = batch.nbytes
                del batch
                yield frame
                # give decompressed buffers, and the mapped pages read, back
                release_decoded(decoded)
                self._give_back()
        except DAMAGED as exc:
            raise self.error(
                f"could not be read past row {first_row}: the Arrow IPC file is damaged "
                f"({one_line(exc)}). Write it again."
            ) from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._mapped is not None:
            self._mapped.close()
