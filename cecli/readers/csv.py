"""CSV and TSV, plain or compressed, from a file or standard input, with pyarrow.

The text is read in blocks of about ``block_bytes``, each cut after its last
complete line (a line break inside a quoted field does not count), and the
blocks are parsed by ``pyarrow.csv.read_csv`` on a pool of one thread per
core (pyarrow lets go of the GIL), at most one block more than there are
threads at a time, and handed out in the file's order. So a file of any size
is read in bounded memory with every core. Each block is one pyarrow block,
so each of its columns is one chunk, seen by NumPy without a copy. The header
(or, without one, the first data line) is read here, once; the column types
pyarrow infers for the first block are kept for the rest, and a cell that
does not fit them is reported with its row and text. A column only shown
(``--show``, :attr:`~cecli.readers.Source.shown_only`) is read as text, each
cell exactly as written, whatever the first block holds.
"""

from __future__ import annotations

import codecs
import functools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cecli._column import join
from cecli.readers import Field, Frame, Source, display_name
from cecli.readers._arrow import bools, first_null, numbers, numbers_or_nan, stack, strings
from cecli.readers._background import OrderedPool, wait
from cecli.readers._csv_start import CsvStart
from cecli.readers._csv_text import (
    MAX_LINE_BYTES,
    CsvErrors,
    arrow_copy,
    complete_lines,
    split_lines,
)
from cecli.readers._text import profile
from cecli.readers._text_stream import BlockStream, open_text, read_bytes

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

#: The last block of a file is parsed in parts of at least this many bytes.
_MIN_PART = 256 << 10

#: pyarrow's read, parse and convert options for a file's blocks.
_Options = tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]


@dataclass
class _Block:
    """A block of text as a worker left it: its columns, or what is wrong with it.

    What is wrong is raised in the block's turn, when the rows before it are
    counted and the message can name the row.
    """

    n_rows: int = 0
    #: Whether the next result is the rest of the same block (a frame of several parts).
    more: bool = False
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    #: The stacked columns (``frames(..., stacked=...)``) as the rows of one array, or None.
    stacked: np.ndarray | None = None
    #: The text, kept when it cannot be parsed (to find the row at fault).
    text: bytes | pa.Buffer | None = None
    failure: pa.ArrowInvalid | None = None
    open_quote: bool = False
    #: The first empty cell (row in the block) of each column of numbers that has one.
    empty: dict[str, int] = field(default_factory=dict)


class CsvSource(BlockStream, CsvStart, CsvErrors, Source):
    """A CSV or TSV file (or standard input) read block by block."""

    header_option = True
    read_again = False

    def __init__(
        self,
        path: str,
        *,
        delimiter: str = ",",
        codec: str | None = None,
        header: bool | None = None,
        block_bytes: int = 64 << 20,
        remote: Remote | None = None,
    ) -> None:
        self.path = path
        self._remote = remote
        self.display = display_name(path)
        self.delimiter = delimiter
        # one parsing thread per core; a block each, and two more (see frames)
        self.workers = max(1, os.cpu_count() or 1)
        # text blocks of at most 8 MiB: small enough that reading, parsing and scoring
        # overlap. A block is a frame, and the per-class sums depend (in their last bits)
        # on where frames end, so the block size stays what it was.
        self.block_bytes = max(1 << 16, min(int(block_bytes), 8 << 20))
        self._utf16: codecs.IncrementalDecoder | None = None
        self._pools: list[OrderedPool[_Block]] = []
        self._reading: threading.Thread | None = None  # the block being read ahead
        # a pyarrow stream is read inside pyarrow, so a read of it is waited for
        self._arrow_stream = codec is not None or remote is not None
        self._stream = self._open(codec)
        # so is a read of a regular file, which ends soon, so that the file is closed with
        # the source (a read of a pipe may wait for its writer for ever)
        self._wait_reads = self._arrow_stream or getattr(self._stream, "regular", False)
        try:
            self._start(header)
        except BaseException:
            self.close()
            raise

    def _start(self, header: bool | None) -> None:
        """Read the first MiB: the header, and the column types."""
        self._buffer = bytearray(self._read_block(1 << 20))
        self._eof = False
        if not self._buffer:
            self._eof = True
        self._check_text()  # UTF-16 is UTF-8 from here on
        # old Mac files end their lines in \r alone; pyarrow reads them as they are
        head = bytes(self._buffer[: 1 << 20])
        self._newline = b"\r" if b"\n" not in head and b"\r" in head else b"\n"
        self.fields, self.named, self._header_lines = self._read_header(header)
        self._types = self._infer_types()

    # -- opening -----------------------------------------------------------------

    def _open(self, codec: str | None):
        return open_text(self.path, codec, self._remote, self.error)

    def _read_block(self, size: int | None = None) -> bytes:
        data = read_bytes(
            self._stream, size or self.block_bytes, self.error, compressed=self._arrow_stream
        )
        if self._utf16 is not None:
            return self._transcode(data, final=not data)
        return data

    def _transcode(self, data: bytes, final: bool) -> bytes:
        """UTF-16 text as UTF-8, block by block (a code unit split between blocks waits)."""
        try:
            return self._utf16.decode(data, final=final).encode("utf-8")  # type: ignore[union-attr]
        except UnicodeDecodeError as exc:
            raise self.error(
                f"is UTF-16 text with an invalid code unit ({exc.reason}). Save it as UTF-8."
            ) from None

    def _options(self, types: dict[str, pa.DataType] | None, columns: list[str] | None) -> _Options:
        """How pyarrow is to parse a block: made once for all the blocks of a file.

        Made anew for each block, the options of a 1,000-column file cost a
        tenth of a second over a 700 MB file (a dict of 1,000 column types).
        """
        # The text is one pyarrow block (a text is at most a 64 MiB line and a block, or
        # the first line's 256 MiB sample): each column comes
        # back as one chunk (joining chunks would copy it), and pyarrow never splits the
        # text at a line break inside quotes. No pyarrow threads: the pool parses blocks
        # side by side, and one text parsed on pyarrow's threads was 3x slower at
        # 100,000 columns.
        read = pacsv.ReadOptions(column_names=self._names, use_threads=False, block_size=1 << 30)
        parse = pacsv.ParseOptions(delimiter=self.delimiter)
        # only an empty cell is missing: "nan" is a number (np.savetxt writes it), "NA" a label
        convert = pacsv.ConvertOptions(
            column_types=types or {}, include_columns=columns, null_values=[""]
        )
        return read, parse, convert

    @staticmethod
    def _parse(data: bytes | memoryview | pa.Buffer, options: _Options) -> pa.Table:
        if not isinstance(data, pa.Buffer):
            data = arrow_copy(data)
        return pacsv.read_csv(data, *options)

    def _infer_types(self) -> dict[str, pa.DataType]:
        """Column types from the first MiB (or line): numbers as float64, then bool, else text."""
        size = 1 << 20
        while True:
            self._fill(size)
            sample = bytes(self._buffer[:size])
            whole = self._eof and len(sample) == len(self._buffer)
            if whole and sample.count(b'"') % 2:
                self._open_quote(sample, 0)
            cut = complete_lines(sample, whole, self._newline)
            if cut or whole:
                break
            if size > MAX_LINE_BYTES:  # no whole line yet: a wide row, or a quote left open
                self._open_quote(sample, 0)
            size *= 4  # a first row longer than the sample: take it whole
        sample = sample[: cut or len(sample)]
        self._names = [f.name for f in self.fields]
        # Most files are numbers alone, and every column pyarrow would infer as numbers or
        # nulls is read as float64: a sample that parses as float64 throughout is typed
        # without inference, which costs four times as long (23 ms for 1,000 columns).
        numbers_only = {name: pa.float64() for name in self._names}
        try:
            self._parse(sample, self._options(numbers_only, None))
        except pa.ArrowInvalid:
            pass  # text, booleans, or a row that cannot be parsed: inferred (and explained)
        else:
            return numbers_only
        try:
            table = self._parse(sample, self._options(None, None))
        except pa.ArrowInvalid as exc:
            self._explain(sample, 0, exc, None)
        types: dict[str, pa.DataType] = {}
        fields = []
        for f, column in zip(self.fields, table.columns, strict=True):
            t = column.type
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t):
                types[f.name] = pa.float64()
                fields.append(Field(f.name, "number"))
            elif pa.types.is_boolean(t):
                types[f.name] = pa.bool_()
                fields.append(Field(f.name, "bool"))
            elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
                # pyarrow reads a column holding bytes that are not UTF-8 as binary
                try:
                    sample.decode("utf-8")
                except UnicodeDecodeError as bad:
                    self._not_utf8(sample, 0, bad)
                raise self.error(f"column {f.name!r} is not UTF-8 text. Save the file as UTF-8.")
            else:
                # text: kept as text, with how much of it looks like numbers, so that a
                # column of numbers with a bad cell is an error, never left out
                types[f.name] = pa.string()
                fields.append(Field(f.name, "string", profile=profile(column)))
        self.fields = fields
        return types

    # -- rows --------------------------------------------------------------------

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        # The text block size, not rows_per_frame, bounds a frame here; inputs
        # re-cuts frames to line up with the other file. A feeder thread reads the
        # text and cuts it into blocks, a pool of threads parses them side by side,
        # and they come back here in order, where the rows before each are counted and
        # an error can name its row. Every thread is joined however reading ends: see
        # cecli.readers._background.
        # a column only shown is its cells' text, exactly as written (an empty cell "")
        shown = self.shown_only
        types = {name: pa.string() if name in shown else self._types[name] for name in columns}
        kinds = {name: "shown" if name in shown else self.field(name).kind for name in columns}
        options = self._options(types, list(kinds))
        if not stacked or any(kinds.get(name) != "number" for name in stacked):
            stacked = None
        pending = bytes(self._buffer)
        self._buffer = bytearray()
        # Two spare blocks: a block parsed before the one ahead of it waits for its turn,
        # and with one spare its worker then waited too (the workers of a 1,000,000 x 10
        # file were busy 1.5 to 1.8 of 2 cores' time, and 1.9 with two).
        pool = OrderedPool(
            lambda stopped: self._blocks(pending, options, kinds, stacked, stopped),
            workers=self.workers,
            name="cecli-parse",
            spare=2,
        )
        self._pools.append(pool)
        first_row = 0
        parts: list[_Block] = []
        try:
            for part in pool:
                parts.append(part)
                if part.more:
                    continue
                frame = self._frame(first_row, parts, columns, stacked)
                first_row += frame.n_rows
                parts = []
                yield frame
                del frame
        finally:
            pool.close()

    def _frame(
        self, first_row: int, parts: list[_Block], columns: list[str], stacked: list[str] | None
    ) -> Frame:
        """The frame of a block parsed in one part or several; raise what is wrong with it.

        What is wrong is said as a block parsed whole would say it: a row that cannot
        be parsed first, then the first column (in the order asked for) with an empty
        cell, at its first empty row.
        """
        row = first_row
        for part in parts:
            if part.open_quote:
                self._open_quote(bytes(part.text or b""), row)
            if part.failure is not None:
                self._explain(bytes(part.text or b""), row, part.failure, columns)
            row += part.n_rows
        for name in columns:
            row = first_row
            for part in parts:
                if name in part.empty:
                    raise self.error(
                        f"{self.where(row + part.empty[name])}, column {name!r} is empty; "
                        "every cell of a column of numbers needs a value."
                    )
                row += part.n_rows
        if len(parts) == 1:
            return Frame(first_row, parts[0].n_rows, parts[0].columns, parts[0].stacked)
        joined_stack = None
        if stacked is not None and all(part.stacked is not None for part in parts):
            joined_stack = np.concatenate([part.stacked for part in parts], axis=1)
            joined_stack.flags.writeable = False
        joined = {} if joined_stack is None else dict(zip(stacked, joined_stack, strict=True))
        for name in columns:
            if name not in joined:
                joined[name] = join([part.columns[name] for part in parts])
        return Frame(first_row, row - first_row, joined, joined_stack)

    def _blocks(
        self,
        pending: bytes,
        options: _Options,
        kinds: dict[str, str],
        stacked: list[str] | None,
        stopped: Callable[[], bool],
    ) -> Iterator[Callable[[], _Block]]:
        """The tasks of the pool: parse each block of whole lines (on the feeder thread)."""
        ahead = None if self._eof else self._read_ahead()
        try:
            while True:
                block = b"" if ahead is None else wait(ahead, stopped)
                if block is None:
                    return  # the caller has stopped reading
                ahead = self._read_ahead() if block else None
                if not block:
                    self._eof = True
                elif len(block) == self.block_bytes and b'"' not in block and b'"' not in pending:
                    # a full block and no quotes (a file of numbers): the last line end is
                    # in the block, and the text goes to pyarrow in one copy, not two
                    end = block.rfind(self._newline) + 1
                    if end and len(pending) + end >= 65536:
                        text = arrow_copy(pending, memoryview(block)[:end])
                        pending = block[end:]
                        del block
                        yield functools.partial(
                            self._parse_block, text, options, kinds, stacked, False
                        )
                        continue
                data = pending + block if pending else block
                if self._eof and data.count(b'"') % 2:
                    yield functools.partial(_Block, text=data, open_quote=True)
                    return  # raised in its turn, when its row is known
                cut = complete_lines(data, self._eof, self._newline)
                if cut == 0 and not self._eof:
                    if len(data) > MAX_LINE_BYTES:
                        yield functools.partial(_Block, text=data, open_quote=True)
                        return
                    pending = data  # a line longer than a block: read on
                    continue
                pending = data[cut:]
                if cut == 0 or (cut < 65536 and not data[:cut].strip()):
                    if self._eof:
                        return
                    continue
                # the last block (a short read: the file ends) is parsed in parts, one a
                # thread, which keep every core busy to the end; the frame is the same
                last = self._eof or len(block) < self.block_bytes
                parts = min(self.workers, cut // _MIN_PART) if last else 1
                ends = split_lines(data, cut, parts, self._newline) if parts > 1 else [cut]
                del block
                for start, end in zip([0, *ends[:-1]], ends, strict=True):
                    text = arrow_copy(memoryview(data)[start:end])
                    more = end < cut
                    yield functools.partial(self._parse_block, text, options, kinds, stacked, more)
                del data
                if self._eof and not pending:
                    return
        finally:
            if self._wait_reads and self._reading is not None:
                self._reading.join()  # a read inside pyarrow ends before the process does

    def _parse_block(
        self,
        text: pa.Buffer,
        options: _Options,
        kinds: dict[str, str],
        stacked: list[str] | None,
        more: bool,
    ) -> _Block:
        """A block (or a part of one) parsed, on a thread of the pool: its columns as NumPy."""
        try:
            table = self._parse(text, options)
        except pa.ArrowInvalid as exc:
            return _Block(text=text, failure=exc)
        block = _Block(table.num_rows, more=more)
        every = stacked == list(kinds)  # the table's columns, in the order asked for
        if stacked is not None:
            block.stacked = stack(table if every else table.select(stacked))
        if block.stacked is not None:
            block.columns = dict(zip(stacked, block.stacked, strict=True))
            if every:
                return block
            table = table.drop_columns(stacked)
        # one pyarrow block is one record batch, whose columns are arrays (not chunked,
        # which saves a step per column); they come in the order asked for
        batches = table.to_batches()
        arrays = batches[0].columns if len(batches) == 1 else table.columns
        names = table.column_names
        for name, column in zip(names, arrays, strict=True):
            kind = kinds[name]
            if kind == "number":
                at = first_null(column)
                if at is not None and name in self.nullable:
                    block.columns[name] = numbers_or_nan(column)
                    continue
                if at is not None:
                    block.empty[name] = at
                    continue
                block.columns[name] = numbers(column)  # float64, pyarrow's memory, no copy
            elif kind == "bool":
                block.columns[name] = bools(column)
            elif kind == "shown":  # pyarrow's memory, no Python strings
                chunked = isinstance(column, pa.ChunkedArray)
                block.columns[name] = column.combine_chunks() if chunked else column
            else:
                block.columns[name] = strings(column)
        return block
