"""The start of a CSV or TSV file: what kind of text it is, and its header.

:class:`CsvStart` is a part of :class:`cecli.readers.csv.CsvSource`: it reads
the file's first bytes (``_buffer``, filled by ``_fill``) and decides whether
they are CSV text at all (UTF-16 is read as what it is; other formats, binary
data and empty files are refused), and whether the first line is a header.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import Any

from cecli.readers import Field
from cecli.readers._csv_text import BOM, INTEGER, MAGIC, blank, utf16
from cecli.readers._text import is_number


class CsvStart:
    """Checks of a CSV file's first bytes, and its header (a part of ``CsvSource``)."""

    _buffer: bytearray
    _eof: bool
    _newline: bytes
    _utf16: Any
    block_bytes: int
    _fill: Callable[[int], None]
    _transcode: Callable[..., bytes]
    _rows: Callable[[str], Iterator[list[str]]]
    error: Callable[..., Exception]

    def _check_text(self) -> None:
        head = bytes(self._buffer[:8192])
        encoding = utf16(head)
        if encoding is not None:
            # Excel's "Unicode text" and PowerShell write UTF-16: read it as what it is
            self._utf16 = codecs.getincrementaldecoder(encoding)()
            self._buffer = bytearray(self._transcode(bytes(self._buffer), final=self._eof))
            head = bytes(self._buffer[:8192])
        for magic, what in MAGIC.items():
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
        if head.startswith(BOM):
            del self._buffer[: len(BOM)]
        if blank(self._buffer):
            raise self.no_rows("is empty: there are no rows to score.")

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
        if not all(INTEGER.match(name.strip()) for name in names):
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
        return any(is_number(c) and not INTEGER.match(c.strip()) for c in cells)

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
                        if all(INTEGER.match(n) for n in names)
                        else "."
                    )
                )
            seen.add(name)
        del self._buffer[:length]
        while not self._eof and blank(self._buffer):
            self._fill(len(self._buffer) + self.block_bytes)
        if blank(self._buffer):
            raise self.no_rows("has a header but no rows: there is nothing to score.")
        return [Field(name, "number") for name in names], True, 1
