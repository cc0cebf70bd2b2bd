"""CSV and TSV, plain or compressed, from a file or standard input, with pyarrow.

The text is read in blocks of about ``block_bytes``, each cut after its last
complete line (a line break inside a quoted field does not count), and each
block is parsed by ``pyarrow.csv.read_csv``, whose parser uses every core. So
a file of any size is read in bounded memory as fast as pyarrow reads a
whole file. The header (or, without one, the first data line) is read here,
once; the column types pyarrow infers for the first block are kept for the
rest, and a cell that does not fit them is reported with its row and text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cecli.errors import reason_of
from cecli.readers import STDIN, Field, Frame, Source, display_name, quote_cell
from cecli.readers._background import FdStream, Handoff, read_ahead, wait
from cecli.readers._text import is_number, profile

#: The first bytes of the binary formats someone may pass by mistake.
_MAGIC = {
    b"\x93NUMPY": "an NPY file (name it .npy)",
    b"PK\x03\x04": "a zip archive, such as an NPZ file (name it .npz)",
    b"PAR1": "a Parquet file (name it .parquet)",
    b"\x1f\x8b": "gzip-compressed (name it .csv.gz)",
    b"BZh": "bzip2-compressed (name it .csv.bz2)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed (name it .csv.zst)",
}
_BOM = b"\xef\xbb\xbf"
#: A line (with its quoted fields) longer than this is an error: a quote left open.
MAX_LINE_BYTES = 64 << 20
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def _utf16(head: bytes) -> str | None:
    """The codec of UTF-16 text (by its byte-order mark, or the NUL of every other byte)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the codec reads the mark and drops it
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and odd.count(0) == len(odd) and 0 not in even:
        return "utf-16-le"
    if len(head) >= 4 and even.count(0) == len(even) and 0 not in odd:
        return "utf-16-be"
    return None


def _blank(buf: bytes | bytearray) -> bool:
    """Nothing but white space (stops at the first other byte, copies nothing)."""
    return not buf or buf.isspace()


def _complete_lines(buf: bytes | bytearray, final: bool, newline: bytes = b"\n") -> int:
    """Length of the longest prefix of ``buf`` made of whole lines (0 if none).

    A line break inside a quoted field is not the end of a line: a prefix is
    whole when it holds an even number of quote characters (an escaped quote
    is two of them, which keeps the parity). ``newline`` ends a line: ``\\n``
    (which ``\\r\\n`` ends in too), or ``\\r`` in a file with no ``\\n``.
    """
    if final:
        return len(buf)
    cut = buf.rfind(newline)
    if b'"' not in buf:
        return cut + 1
    while cut >= 0 and buf.count(b'"', 0, cut) % 2:
        cut = buf.rfind(newline, 0, cut)
    return cut + 1


def _arrow_copy(data: bytes | memoryview) -> pa.Buffer:
    """``data`` copied into memory that pyarrow owns.

    ``read_csv``'s threads may drop the last reference to its input after it
    has returned. Freeing a buffer over Python memory takes the GIL, and a
    pyarrow thread that asks for the GIL while the interpreter exits aborts the
    process ("terminate called without an active exception"); pyarrow's own
    memory is freed without Python.
    """
    out = pa.allocate_buffer(len(data))
    memoryview(out).cast("B")[:] = data
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return reason_of(exc)
    return str(exc).strip() or type(exc).__name__


class CsvSource(Source):
    """A CSV or TSV file (or standard input) read block by block."""

    header_option = True

    def __init__(
        self,
        path: str,
        *,
        delimiter: str = ",",
        codec: str | None = None,
        header: bool | None = None,
        block_bytes: int = 64 << 20,
    ) -> None:
        self.path = path
        self.display = display_name(path)
        self.delimiter = delimiter
        # text blocks of at most 8 MiB: big enough for pyarrow's threads, small enough
        # that reading, parsing and scoring overlap
        self.block_bytes = max(1 << 16, min(int(block_bytes), 8 << 20))
        self._utf16: codecs.IncrementalDecoder | None = None
        self._handoffs: list[Handoff[Frame]] = []
        self._reading: threading.Thread | None = None  # the block being read ahead
        # a pyarrow stream is read inside pyarrow, so a read of it is waited for
        self._arrow_stream = codec is not None
        self._stream = self._open(codec)
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
        if self.path == STDIN:
            if sys.stdin is None:
                raise self.error(
                    "is closed, so there is nothing to read. Pipe the predictions in "
                    "(... | cecli score - LABELS), or give the file's path instead of -."
                )
            try:
                return FdStream(sys.stdin.fileno())
            except (OSError, ValueError, AttributeError):
                return sys.stdin.buffer  # an in-memory stand-in, as a test runner gives
        try:
            if codec is None:
                return FdStream(self.path)
            return pa.input_stream(self.path, compression=codec)
        except (OSError, pa.ArrowException) as exc:
            raise self.error(f"cannot be opened ({_reason(exc)}).") from None

    def _read_block(self, size: int | None = None) -> bytes:
        try:
            data = self._stream.read(size or self.block_bytes)
        except (OSError, EOFError, ValueError, pa.ArrowException) as exc:
            hint = " Check that the extension names its compression." if self._arrow_stream else ""
            raise self.error(f"could not be read ({_reason(exc)}).{hint}") from None
        data = data if isinstance(data, bytes) else bytes(data)
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

    def _fill(self, at_least: int) -> None:
        """Read more blocks until the buffer holds ``at_least`` bytes or the input ends."""
        while not self._eof and len(self._buffer) < at_least:
            data = self._read_block()
            if not data:
                self._eof = True
            self._buffer += data

    def _check_text(self) -> None:
        head = bytes(self._buffer[:8192])
        encoding = _utf16(head)
        if encoding is not None:
            # Excel's "Unicode text" and PowerShell write UTF-16: read it as what it is
            self._utf16 = codecs.getincrementaldecoder(encoding)()
            self._buffer = bytearray(self._transcode(bytes(self._buffer), final=self._eof))
            head = bytes(self._buffer[:8192])
        for magic, what in _MAGIC.items():
            if head.startswith(magic):
                raise self.error(
                    f"is {what}, not CSV text. Give it the extension of its format, "
                    "or pass --input-format."
                )
        if b"\x00" in head:
            raise self.error(
                "holds binary data (NUL bytes), not CSV text. Give the file the extension "
                "of its format, or pass --input-format."
            )
        if head.startswith(_BOM):
            del self._buffer[: len(_BOM)]
        if _blank(self._buffer):
            raise self.error("is empty: there are no rows to score.")

    # -- header and types --------------------------------------------------------

    def _first_line(self) -> tuple[str, int]:
        """The first non-blank line's text and its length in bytes, newline included."""
        while True:
            start = 0
            while start < len(self._buffer) and self._buffer[start] in b"\r\n":
                start += 1
            end = self._buffer.find(self._newline, start)
            while end >= 0 and self._buffer.count(b'"', start, end) % 2:
                end = self._buffer.find(self._newline, end + 1)
            if end >= 0 or self._eof:
                end = len(self._buffer) if end < 0 else end + 1
                raw = bytes(self._buffer[start:end])
                try:
                    return raw.decode("utf-8"), end
                except UnicodeDecodeError:
                    raise self.error(
                        "is not UTF-8 text. Save it as UTF-8, or give a binary file the "
                        "extension of its format."
                    ) from None
            if len(self._buffer) > (64 << 20):
                raise self.error("has no line break in its first 64 MiB; it is not a CSV file.")
            self._fill(len(self._buffer) + self.block_bytes)

    def _looks_like_header(self, names: list[str], length: int) -> bool:
        """A first line with a field that is not a number is a header (np.savetxt writes none).

        So is a line of whole numbers above lines with fractions: ``0,1,2`` over
        ``0.7,0.2,0.1`` names the classes of a probability file.
        """
        if not all(is_number(name) for name in names):
            return True
        if not all(_INTEGER.match(name.strip()) for name in names):
            return False
        # class indices 0..K-1 (or 1..K) name the columns, whatever is below them: a
        # file of hard one-hot predictions (0,1,2 over 1,0,0) has no fractions to tell
        numbers = [int(name) for name in names]
        k = len(numbers)
        if k > 1 and numbers in (list(range(k)), list(range(1, k + 1))):
            return True
        rest = bytes(self._buffer[length : length + 65536])
        second = next((line for line in rest.splitlines() if line.strip()), b"")
        cells = next(self._rows(second.decode("utf-8", "replace")), [])
        return any(is_number(c) and not _INTEGER.match(c.strip()) for c in cells)

    def _read_header(self, header: bool | None) -> tuple[list[Field], bool, int]:
        text, length = self._first_line()
        line = text.rstrip("\r\n")
        unquoted = line.replace('""', "").split('"')[::2]  # the parts outside quotes
        if self._newline == b"\n" and any("\r" in part for part in unquoted):
            # pyarrow ends a line at a bare \r too: the rows would not line up with the header
            raise self.error(
                f"{'line 1' if line else 'the first line'} holds a carriage return (\\r) inside "
                "the line, where the file's lines end in \\n. Remove the stray \\r (or save the "
                "file with one kind of line end)."
            )
        names = next(self._rows(line), [])
        if header is None:
            header = self._looks_like_header(names, length)
        if not header:
            return [Field(str(i), "number") for i in range(len(names))], False, 0
        names = [name.strip() for name in names]
        names = [name or f"unnamed_{i}" for i, name in enumerate(names)]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.error(
                    f"the header names the column {name!r} twice; give every column its own "
                    "name"
                    + (
                        ". (The first line was taken for a header because it is all whole "
                        "numbers over fractions; pass --no-header if it is data.)"
                        if all(_INTEGER.match(n) for n in names)
                        else "."
                    )
                )
            seen.add(name)
        del self._buffer[:length]
        while not self._eof and _blank(self._buffer):
            self._fill(len(self._buffer) + self.block_bytes)
        if _blank(self._buffer):
            raise self.error("has a header but no rows: there is nothing to score.")
        return [Field(name, "number") for name in names], True, 1

    def _parse(
        self,
        data: bytes | memoryview | pa.Buffer,
        types: dict[str, pa.DataType] | None,
        columns: list[str] | None,
    ) -> pa.Table:
        read = pacsv.ReadOptions(column_names=[f.name for f in self.fields], use_threads=True)
        parse = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=self._quoted)
        # only an empty cell is missing: "nan" is a number (np.savetxt writes it), "NA" a label
        convert = pacsv.ConvertOptions(
            column_types=types or {}, include_columns=columns, null_values=[""]
        )
        if not isinstance(data, pa.Buffer):
            data = _arrow_copy(data)
        try:
            return pacsv.read_csv(data, read, parse, convert)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or read.block_size > data.size:
                raise
        # a line longer than pyarrow's block (1 MiB): parse the text as one block
        read.block_size = data.size + 1
        return pacsv.read_csv(data, read, parse, convert)

    def _infer_types(self) -> dict[str, pa.DataType]:
        """Column types from the first MiB (or line): numbers as float64, then bool, else text."""
        size = 1 << 20
        while True:
            self._fill(size)
            sample = bytes(self._buffer[:size])
            whole = self._eof and len(sample) == len(self._buffer)
            if whole and sample.count(b'"') % 2:
                self._open_quote(sample, 0)
            cut = _complete_lines(sample, whole, self._newline)
            if cut or whole:
                break
            if size > MAX_LINE_BYTES:  # no whole line yet: a wide row, or a quote left open
                self._open_quote(sample, 0)
            size *= 4  # a first row longer than the sample: take it whole
        sample = sample[: cut or len(sample)]
        # quoted fields may hold line breaks, which makes pyarrow's parser slower:
        # allow them only where the file quotes at all
        self._quoted = b'"' in sample
        try:
            table = self._parse(sample, None, None)
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

    def frames(self, rows_per_frame: int, columns: list[str]) -> Iterator[Frame]:
        # The text block size, not rows_per_frame, bounds a frame here; inputs
        # re-cuts frames to line up with the other file. Blocks are read and parsed
        # on a thread of their own, one block ahead of the caller, who scores the
        # previous one meanwhile (pyarrow and NumPy both let go of the GIL). That
        # thread is joined however reading ends: see cecli.readers._background.
        types = {name: self._types[name] for name in columns}
        pending = bytes(self._buffer)
        self._buffer = bytearray()
        handoff: Handoff[Frame] = Handoff(
            lambda stopped: self._parse_blocks(pending, types, columns, stopped),
            name="cecli-parse",
        )
        self._handoffs.append(handoff)
        try:
            yield from handoff
        finally:
            handoff.close()

    def _read_ahead(self) -> Future[bytes]:
        future, self._reading = read_ahead(self._read_block)
        return future

    def _parse_blocks(
        self,
        pending: bytes,
        types: dict[str, pa.DataType],
        columns: list[str],
        stopped: Callable[[], bool],
    ) -> Iterator[Frame]:
        ahead = None if self._eof else self._read_ahead()
        try:
            yield from self._parse_ahead(pending, ahead, types, columns, stopped)
        finally:
            if self._arrow_stream and self._reading is not None:
                self._reading.join()  # a read inside pyarrow ends before the process does

    def _parse_ahead(
        self,
        pending: bytes,
        ahead: Future[bytes] | None,
        types: dict[str, pa.DataType],
        columns: list[str],
        stopped: Callable[[], bool],
    ) -> Iterator[Frame]:
        first_row = 0
        while True:
            block = b"" if ahead is None else wait(ahead, stopped)
            if block is None:
                return  # the caller has stopped reading
            ahead = self._read_ahead() if block else None
            if not block:
                self._eof = True
            data = pending + block if pending else block
            if self._eof and data.count(b'"') % 2:
                self._open_quote(data, first_row)
            cut = _complete_lines(data, self._eof, self._newline)
            if cut == 0 and not self._eof:
                if len(data) > MAX_LINE_BYTES:
                    self._open_quote(data, first_row)
                pending = data  # a line longer than a block: read on
                continue
            pending = data[cut:]
            if cut == 0 or (cut < 65536 and not data[:cut].strip()):
                if self._eof:
                    return
                continue
            text = _arrow_copy(memoryview(data)[:cut])
            try:
                table = self._parse(text, types, columns)
            except pa.ArrowInvalid as exc:
                if self._quoted or b'"' not in data[:cut]:
                    self._explain(data[:cut], first_row, exc, columns)
                self._quoted = True  # quotes first seen here: they may hold line breaks
                try:
                    table = self._parse(text, types, columns)
                except pa.ArrowInvalid as again:
                    self._explain(data[:cut], first_row, again, columns)
            frame = Frame(first_row, table.num_rows)
            for name in columns:
                frame.columns[name] = self._to_numpy(table.column(name), name, first_row)
            first_row += table.num_rows
            del table, text
            yield frame
            if self._eof and not pending:
                return

    def _to_numpy(self, chunked: pa.ChunkedArray, name: str, first_row: int) -> np.ndarray:
        kind = self.field(name).kind
        # one array first: ChunkedArray.to_numpy over many chunks is 100 times slower
        column = chunked.combine_chunks()
        if column.null_count:
            if kind == "number":
                row = first_row + int(np.flatnonzero(column.is_null().to_numpy(False))[0])
                raise self.error(
                    f"{self.where(row)}, column {name!r} is empty; every cell of a column of "
                    "numbers needs a value."
                )
            column = column.fill_null(False if kind == "bool" else "")
        if kind == "string":
            return np.asarray(column.to_pylist(), dtype=object)
        return column.to_numpy(zero_copy_only=False)

    def _rows(self, text: str) -> Iterator[list[str]]:
        """The rows of ``text`` as Python's csv module reads them, cells of any length included."""
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, min(len(text) + 1, 2**31 - 1)))
        try:
            yield from csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        except csv.Error as exc:
            kind = "TSV" if self.delimiter == "\t" else "CSV"
            raise self.error(f"cannot be parsed as {kind} ({exc}).") from None
        finally:
            csv.field_size_limit(limit)

    def where(self, row: int) -> str:
        line = row + self._header_lines + 1
        return f"row {row} (line {line})"

    def _open_quote(self, data: bytes, first_row: int) -> None:
        """A quote that is never closed would swallow the rest of the file as one field."""
        at, count = -1, 0
        while True:
            quote = data.find(b'"', at + 1)
            if quote < 0:
                break
            count += 1
            if count % 2:
                opened = quote
            at = quote
        if count % 2 == 0:
            raise self.error(
                f"{self.where(first_row)} starts a line longer than {MAX_LINE_BYTES >> 20} MiB; "
                "check the line ends (or pass --input-format for a file that is not CSV)."
            )
        row = first_row + data.count(b"\n", 0, opened)
        raise self.error(
            f'{self.where(row)} opens a quote (") that is never closed, so the rest of the file '
            "would be read as one field. Close the quote, or double a quote that is part of the "
            'text ("").'
        )

    def _not_utf8(self, data: bytes, first_row: int, bad: UnicodeDecodeError) -> None:
        """The row and column of bytes that are not UTF-8 text."""
        line_start = data.rfind(b"\n", 0, bad.start) + 1
        row = first_row + data.count(b"\n", 0, line_start)
        prefix = data[line_start : bad.start].decode("utf-8", "replace")
        # the cells before the bad byte, and the one it is in (a stand-in keeps it counted)
        cells = csv.reader([prefix.replace("\r", " ") + "x"], delimiter=self.delimiter)
        column = len(next(cells)) - 1
        name = self.fields[column].name if 0 <= column < len(self.fields) else str(column)
        raise self.error(
            f"{self.where(row)}, column {name!r} holds bytes that are not UTF-8 text "
            f"({data[bad.start : bad.end]!r}). Save the file as UTF-8."
        )

    def _explain(
        self, data: bytes, first_row: int, exc: pa.ArrowInvalid, columns: list[str] | None
    ) -> None:
        """Find the row pyarrow could not parse and raise an error that names it."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            self._not_utf8(data, first_row, bad)
        rows = self._rows(text)
        width = len(self.fields)
        wanted = columns or [f.name for f in self.fields]
        index = {f.name: i for i, f in enumerate(self.fields)}
        row = first_row
        for cells in rows:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                raise self.error(
                    f"{self.where(row)} has {len(cells)} fields but the "
                    f"{'header' if self.named else 'first row'} has {width}. Check the "
                    "delimiter, and quote any field that contains it."
                )
            for name in wanted:
                kind = self.field(name).kind
                cell = cells[index[name]].strip()
                if kind == "number" and cell and not is_number(cell):
                    raise self.error(
                        f"{self.where(row)}, column {name!r} holds {quote_cell(cell)}, which is "
                        "not a number. Fix the cell, or leave the column out of the predictions "
                        "(--pred-cols)."
                    )
                if kind == "bool" and cell.lower() not in ("true", "false", "1", "0", ""):
                    raise self.error(
                        f"{self.where(row)}, column {name!r} holds {quote_cell(cell)}, but the "
                        "column starts with true/false values."
                    )
            row += 1
        message = str(exc).strip().splitlines()[0]
        raise self.error(
            f"cannot be parsed as {'TSV' if self.delimiter == chr(9) else 'CSV'} ({message})."
        )

    def close(self) -> None:
        for handoff in self._handoffs:
            handoff.close()  # its thread, and any read of a pyarrow stream, have ended
        reading = self._reading is not None and self._reading.is_alive()
        # a read of a pipe may still wait for its writer: its descriptor closes at exit
        if self.path != STDIN and not reading:
            self._stream.close()
