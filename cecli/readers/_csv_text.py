"""Text-level helpers of the CSV reader: where lines end, and errors that name the row.

The reader cuts text into blocks at line ends (:func:`complete_lines`) and,
when pyarrow cannot parse a block, finds the row and column at fault with
Python's own csv module (:class:`CsvErrors`), so that a message names the
line a person can open the file at.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pyarrow as pa

from cecli.errors import reason_of
from cecli.readers import Field, quote_cell
from cecli.readers._text import is_number

#: The first bytes of the binary formats someone may pass by mistake.
MAGIC = {
    b"\x93NUMPY": "an NPY file (name it .npy)",
    b"PK\x03\x04": "a zip archive, such as an NPZ file (name it .npz)",
    b"PAR1": "a Parquet file (name it .parquet)",
    b"\x1f\x8b": "gzip-compressed (name it .csv.gz)",
    b"BZh": "bzip2-compressed (name it .csv.bz2)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed (name it .csv.zst)",
}
BOM = b"\xef\xbb\xbf"
#: A line (with its quoted fields) longer than this is an error: a quote left open.
MAX_LINE_BYTES = 64 << 20
INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def utf16(head: bytes) -> str | None:
    """The codec of UTF-16 text (by its byte-order mark, or the NUL of every other byte)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the codec reads the mark and drops it
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and odd.count(0) == len(odd) and 0 not in even:
        return "utf-16-le"
    if len(head) >= 4 and even.count(0) == len(even) and 0 not in odd:
        return "utf-16-be"
    return None


def blank(buf: bytes | bytearray) -> bool:
    """Nothing but white space (stops at the first other byte, copies nothing)."""
    return not buf or buf.isspace()


def complete_lines(buf: bytes | bytearray, final: bool, newline: bytes = b"\n") -> int:
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


def split_lines(buf: bytes, end: int, parts: int, newline: bytes = b"\n") -> list[int]:
    """Where to cut ``buf[:end]`` (whole lines) into about ``parts`` pieces of equal size.

    The ends of the pieces, in order, the last one ``end``; a cut is a line end
    outside quotes, as in :func:`complete_lines`.

    Examples
    --------
    >>> split_lines(b"a,1\\nb,2\\nc,3\\nd,4\\n", 16, 2)
    [8, 16]
    >>> split_lines(b'"a\\nb",1\\nc,2\\nd,3\\n', 16, 2)  # not inside the quotes
    [8, 16]
    """
    quoted = buf.find(b'"', 0, end) >= 0
    ends: list[int] = []
    for i in range(1, parts):
        start = ends[-1] if ends else 0
        cut = buf.rfind(newline, start, end * i // parts)
        while quoted and cut >= 0 and buf.count(b'"', 0, cut) % 2:
            cut = buf.rfind(newline, start, cut)
        if cut >= 0 and cut + 1 > start:
            ends.append(cut + 1)
    return [*ends, end] if not ends or ends[-1] < end else ends


def arrow_copy(*parts: bytes | memoryview) -> pa.Buffer:
    """``parts`` copied, one after the other, into memory that pyarrow owns.

    ``read_csv``'s threads may drop the last reference to its input after it
    has returned. Freeing a buffer over Python memory takes the GIL, and a
    pyarrow thread that asks for the GIL while the interpreter exits aborts the
    process ("terminate called without an active exception"); pyarrow's own
    memory is freed without Python.
    """
    out = pa.allocate_buffer(sum(len(part) for part in parts))
    view = memoryview(out).cast("B")
    at = 0
    for part in parts:
        view[at : at + len(part)] = part
        at += len(part)
    return out


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return reason_of(exc)
    return str(exc).strip() or type(exc).__name__


class CsvErrors:
    """The messages of a CSV source about rows it cannot read (mixed into ``CsvSource``).

    It uses the source's ``error``, ``field``, ``fields`` and ``shown_only``.
    """

    delimiter: str
    fields: list[Field]
    shown_only: frozenset[str]
    named: bool
    _header_lines: int

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
                if name in self.shown_only:  # any text: its cells are shown as written
                    continue
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
