"""JSON Lines (``.jsonl``, ``.ndjson``), plain or compressed, from a file or standard input.

One JSON object a line, as evaluation harnesses and LLM tools write them:
``{"probs": [0.1, 0.9], "label": 1, "id": "a"}``. A key holding a list of
numbers is a ``"matrix"`` column (the ``N x K`` predictions in one key, as a
Parquet list column is); a key holding numbers, text or true/false is an
ordinary column (labels, weights, ids, ``--by`` slices). The keys and their
types come from the first MiB of lines, typed by Python's :mod:`json`
(:mod:`cecli.readers._jsonl_lines`); a key pyarrow cannot hold (objects,
lists of text, numbers on one line and text on another) is a column that is
an error only when it is asked for as data, so that a harness's other keys
never stop a run. A key only shown (``--show``,
:attr:`~cecli.readers.Source.shown_only`) is never an error: it is read as the
type of its first values (integers as int64, exactly) and, in a block where it
holds anything else, by Python's json, each cell as its text.

The text is read in blocks of about ``block_bytes``, each cut after its last
line end (a JSON string holds no raw line break, so every line end ends a
row), and the blocks are parsed by ``pyarrow.json.read_json`` with the keys'
types fixed, on a pool of one thread per core, handed out in the file's
order (as the CSV reader does). So a file of any size is read in bounded
memory: a few blocks at a time, never the whole file. A block pyarrow cannot
parse is read again line by line in Python, to name the line and the key at
fault.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.json as pajson

from cecli.errors import InputError
from cecli.readers import Field, Frame, Source, display_name
from cecli.readers._background import OrderedPool, wait
from cecli.readers._columns import ArrowColumns, one_line
from cecli.readers._csv_text import BOM, MAGIC, MAX_LINE_BYTES, arrow_copy
from cecli.readers._jsonl_lines import checked_as, first_fault, key_kinds, row_lines, shown_cells
from cecli.readers._text_stream import BlockStream, open_text, read_bytes

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

#: The keys and their types come from the whole lines of this first part of the text.
SAMPLE_BYTES = 1 << 20

#: The Arrow type a key of each kind is parsed as: numbers as float64, as from CSV.
_TYPES = {
    "null": pa.float64(),
    "number": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "numbers": pa.list_(pa.float64()),
    "list": pa.list_(pa.float64()),
    "bools": pa.list_(pa.bool_()),
}


#: The Arrow type a key only shown is read as, by the kind of its first values (numbers:
#: int64 or float64, see JsonlSource._shown_type); the other kinds are read by json.
_SHOWN_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "numbers": pa.list_(pa.float64()),
    "list": pa.list_(pa.float64()),
    "bools": pa.list_(pa.bool_()),
}


def _unread_field(name: str, kind: str, width: int) -> Field:
    """A key cecli does not read, as what its first values are: an error if it is asked for."""
    if kind in ("numbers", "bools", "list"):
        return Field(name, "matrix", width)
    return Field(name, {"number": "number", "bool": "bool"}.get(kind, "string"))


_PYARROW_ROW = re.compile(r"\s*in row (\d+)\s*$")


@dataclass
class _Block:
    """A block of whole lines as a worker left it: its rows, or what is wrong with it."""

    text: pa.Buffer
    n_lines: int
    table: pa.Table | None = None
    failure: pa.ArrowInvalid | None = None
    #: A line longer than MAX_LINE_BYTES with no end: the text is not kept.
    too_long: bool = False

    @property
    def n_rows(self) -> int:
        return 0 if self.table is None else self.table.num_rows


@dataclass
class _Place:
    """A block's first row and line in the file: what a message about its rows names."""

    first_row: int
    first_line: int
    block: _Block
    #: Each row's line, found when a message needs it (in a block with blank lines).
    lines: list[int] | None = None

    def line_of(self, row: int) -> int:
        """The line of ``row`` (a row of this block, numbered in the file)."""
        r = row - self.first_row
        if self.block.n_rows == self.block.n_lines:
            return self.first_line + r  # no blank line: a row a line
        if self.lines is None:
            self.lines = row_lines(self.block.text.to_pybytes(), self.first_line)
        return self.lines[r]


class JsonlSource(BlockStream, ArrowColumns, Source):
    """A JSON Lines file (or standard input) read block by block."""

    read_again = False
    column_word = "key"

    def __init__(
        self,
        path: str,
        *,
        codec: str | None = None,
        block_bytes: int = 64 << 20,
        remote: Remote | None = None,
    ) -> None:
        self.path = path
        self.display = display_name(path)
        # one parsing thread per core; blocks of at most 8 MiB of text, as for CSV
        self.workers = max(1, os.cpu_count() or 1)
        self.block_bytes = max(1 << 16, min(int(block_bytes), 8 << 20))
        self._pools: list[OrderedPool[_Block]] = []
        self._reading: threading.Thread | None = None  # the block being read ahead
        self._place: _Place | None = None
        self._compressed = codec is not None or remote is not None
        self._stream = open_text(path, codec, remote, self.error)
        # a read inside pyarrow (a decompressed or remote stream), or of a regular file, is
        # waited for before the source closes; a read of a pipe may wait for ever
        self._wait_reads = self._compressed or getattr(self._stream, "regular", False)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- the keys ----------------------------------------------------------------

    def _start(self) -> None:
        """Read the first MiB of lines: the keys, and the type of each."""
        self._buffer = bytearray()
        self._eof = False
        self._fill(SAMPLE_BYTES)
        head = bytes(self._buffer[:8])
        for magic, what in MAGIC.items():
            if head.startswith(magic):
                raise self.error(
                    f"is {what.replace('.csv', '.jsonl')}, not JSON Lines text. Give it the "
                    "extension of its format, or pass --input-format."
                )
        if self._buffer.startswith(BOM):
            del self._buffer[: len(BOM)]
        sample = self._sample()
        kinds, fault = key_kinds(sample)
        if fault is not None:
            raise self.error(fault)
        if kinds.rows == 0:
            raise self.no_rows("holds no JSON object (no rows): there is nothing to score.")
        self._unread = kinds.unread
        self._kinds, self._fractions = kinds.kinds, kinds.fractions
        readable = {k: kind for k, kind in kinds.kinds.items() if k not in self._unread}
        self._schema = pa.schema([(k, _TYPES[kind]) for k, kind in readable.items()])
        self._checked_as = {k: checked_as(kind) for k, kind in readable.items()}
        block = self._parse_block(arrow_copy(sample), sample.count(b"\n"), self._schema)
        # the sample's rows are the first frame's: messages about them name their lines
        self._place = _Place(0, 1, block)
        self._check(self._place, self._checked_as)
        assert block.table is not None
        self._sample_table = block.table.combine_chunks()
        self.fields = [
            _unread_field(k, kind, kinds.widths.get(k, 0))
            if k in self._unread
            else self._field(self._schema.field(k))
            for k, kind in kinds.kinds.items()
        ]

    def _first_rows(self, n: int, name: str) -> pa.Array:
        """The first ``n`` rows (or fewer: all the sample holds) of the key ``name``."""
        return self._sample_table.column(name).combine_chunks().slice(0, n)

    def _sample(self) -> bytes:
        """The whole lines of the first MiB (the first line whole, however long)."""
        size = SAMPLE_BYTES
        while True:
            self._fill(size)
            head = bytes(self._buffer[:size])
            if self._eof and len(head) == len(self._buffer):
                return head + (b"" if head.endswith(b"\n") or not head else b"\n")
            cut = head.rfind(b"\n") + 1
            if cut:
                return head[:cut]
            if size > MAX_LINE_BYTES:
                raise self.error(self._too_long(1))
            size *= 4  # a first line longer than the sample: take it whole

    # -- reading text ------------------------------------------------------------

    def _read_block(self) -> bytes:
        return read_bytes(self._stream, self.block_bytes, self.error, compressed=self._compressed)

    # -- rows --------------------------------------------------------------------

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        """The frames: a block of text each (``rows_per_frame`` does not bound them).

        The caller re-cuts frames to line up with the other file, as for CSV.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
        >>> rows = '{"probs": [0.9, 0.1], "label": 0}\\n{"probs": [0.3, 0.7], "label": 1}\\n'
        >>> with open(path, "w") as f:
        ...     _ = f.write(rows)
        >>> source = JsonlSource(path)
        >>> [(f.name, f.kind, f.width) for f in source.fields]
        [('probs', 'matrix', 2), ('label', 'number', None)]
        >>> frame = next(source.frames(100, ["probs", "label"]))
        >>> frame.columns["probs"].tolist(), frame.columns["label"].tolist()
        ([[0.9, 0.1], [0.3, 0.7]], [0.0, 1.0])
        >>> source.close()
        """
        shown = [name for name in columns if name in self.shown_only]
        for name in columns:
            if name in self._unread and name not in shown:
                raise self.error(self._unread[name])
        # a key only shown is read by pyarrow as the type of its first values; where it
        # holds other values (or values pyarrow cannot hold), by Python's json: never an error
        typed = {name: t for name in shown if (t := self._shown_type(name)) is not None}
        by_python = tuple(name for name in shown if name not in typed)
        schema = pa.schema(
            [
                pa.field(name, typed[name]) if name in typed else self._schema.field(name)
                for name in columns
                if name not in by_python
            ]
        )
        parse = functools.partial(
            self._parse_block, schema=schema, typed=tuple(typed), by_python=by_python
        )
        checked_as = {name: self._checked_as[name] for name in columns if name not in shown}
        pending = bytes(self._buffer)
        self._buffer = bytearray()
        pool = OrderedPool(
            lambda stopped: self._blocks(pending, parse, stopped),
            workers=self.workers,
            name="cecli-json",
            spare=2,
        )
        self._pools.append(pool)
        first_row, first_line = 0, 1
        try:
            for block in pool:
                place = self._place = _Place(first_row, first_line, block)
                self._check(place, checked_as)
                first_line += block.n_lines
                if not block.n_rows:
                    continue
                assert block.table is not None
                batches = block.table.to_batches()
                batch = batches[0] if len(batches) == 1 else block.table.combine_chunks()
                frame = Frame(first_row, block.n_rows)
                for name in columns:
                    frame.columns[name] = self._to_numpy(batch.column(name), name, first_row)
                first_row += block.n_rows
                del batch, batches
                yield frame
                del frame
        finally:
            pool.close()

    def _blocks(
        self, pending: bytes, parse: Callable[..., _Block], stopped: Callable[[], bool]
    ) -> Iterator[Callable[[], _Block]]:
        """The tasks of the pool: parse each block of whole lines (cut on the feeder thread)."""
        ahead = None if self._eof else self._read_ahead()
        try:
            # what the first lines left in the buffer, in blocks of the block size too
            while len(pending) > self.block_bytes:
                end = pending.rfind(b"\n", 0, self.block_bytes) + 1
                if end == 0:
                    break  # a line longer than a block: it goes with the next one
                yield functools.partial(
                    parse, arrow_copy(memoryview(pending)[:end]), pending.count(b"\n", 0, end),
                )  # fmt: skip
                pending = pending[end:]
            while True:
                block = b"" if ahead is None else wait(ahead, stopped)
                if block is None:
                    return  # the caller has stopped reading
                if not block:
                    self._eof = True
                    if pending:  # the last line, with or without its line end
                        lines = pending.count(b"\n") + (not pending.endswith(b"\n"))
                        yield functools.partial(parse, arrow_copy(pending), lines)
                    return
                ahead = self._read_ahead()
                end = block.rfind(b"\n") + 1
                if end == 0:  # a line longer than a block: read on
                    pending += block
                    if len(pending) > MAX_LINE_BYTES:
                        lines = pending.count(b"\n")
                        yield functools.partial(_Block, pa.py_buffer(b""), lines, too_long=True)
                        return
                    continue
                text = arrow_copy(pending, memoryview(block)[:end])
                lines = pending.count(b"\n") + block.count(b"\n", 0, end)
                pending = block[end:]
                del block
                yield functools.partial(parse, text, lines)
        finally:
            if self._wait_reads and self._reading is not None:
                self._reading.join()  # a read inside pyarrow ends before the process does

    def _shown_type(self, name: str) -> pa.DataType | None:
        """The Arrow type a key only shown is read as, from its first values; None: by json.

        Integers stay integers (exact, of any size an int64 holds); a key whose first
        values are objects, lists of text, of several types, or nulls alone is read by
        Python's json.
        """
        if name in self._unread:
            return None
        kind = self._kinds.get(name, "nested")
        if kind == "number":
            return pa.float64() if name in self._fractions else pa.int64()
        return _SHOWN_TYPES.get(kind)

    @staticmethod
    def _parse_block(
        text: pa.Buffer,
        n_lines: int,
        schema: pa.Schema,
        typed: tuple[str, ...] = (),
        by_python: tuple[str, ...] = (),
    ) -> _Block:
        """A block parsed, on a thread of the pool: each key as its type, ``by_python`` by json.

        ``typed`` keys are only shown: if the block cannot be read with them, it is read
        without, and they are read by json too. The keys read by json are text, each
        cell as :func:`cecli._cell_text.value_text` writes it.
        """
        block = JsonlSource._read_block_of(text, n_lines, schema)
        if block.failure is not None and typed:
            others = pa.schema([f for f in schema if f.name not in typed])
            block = JsonlSource._read_block_of(text, n_lines, others)
            by_python = (*by_python, *typed)
        if not by_python or block.table is None:
            return block
        found = shown_cells(text.to_pybytes(), by_python, block.n_rows)
        if found is None:  # a line that is not one object: found again, and said, by _check
            return _Block(text, n_lines, failure=pa.ArrowInvalid("a row a line"))
        table = block.table
        for name, texts in found.items():
            table = table.append_column(name, _text_array(texts))
        block.table = table
        return block

    @staticmethod
    def _read_block_of(text: pa.Buffer, n_lines: int, schema: pa.Schema) -> _Block:
        """A block parsed by pyarrow, each key of ``schema`` as its type, the others left out."""
        # one chunk per column (a block larger than the text), no pyarrow threads (the pool
        # parses blocks side by side), keys not asked for left out
        read = pajson.ReadOptions(use_threads=False, block_size=max(len(text) + 1, 1 << 16))
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            table = pajson.read_json(text, read_options=read, parse_options=parse)
        except pa.ArrowInvalid as exc:
            return _Block(text, n_lines, failure=exc)
        return _Block(text, n_lines, table)

    # -- what is wrong -----------------------------------------------------------

    def _check(self, place: _Place, checked_as: dict[str, str]) -> None:
        """Raise what is wrong with a block: a line that is not one JSON object that fits."""
        block = place.block
        if block.too_long:
            raise self.error(self._too_long(place.first_line + block.n_lines))
        if block.failure is None and block.n_rows == block.n_lines:
            return
        text = block.text.to_pybytes()
        if block.failure is None:  # blank lines; or a line of two objects, or half of one
            place.lines = row_lines(text, place.first_line)
            if len(place.lines) == block.n_rows:
                return
        fault = first_fault(text, place.first_line, place.first_row, checked_as)
        if fault is not None:
            raise self.error(fault)
        # what Python reads and pyarrow does not: say pyarrow's reason, at its row
        reason = one_line(block.failure) if block.failure is not None else "a row a line"
        at = _PYARROW_ROW.search(reason)
        where = f"line {place.first_line}"
        if at is not None:
            reason = reason[: at.start()]
            lines = place.lines or row_lines(text, place.first_line)
            row = int(at.group(1))
            if row < len(lines):
                where = f"row {place.first_row + row} (line {lines[row]})"
        raise self.error(f"cannot be read at {where} ({reason}). Check that line.")

    def _too_long(self, line: int) -> str:
        return (
            f"line {line} runs on for more than {MAX_LINE_BYTES >> 20} MiB without a line end; "
            "JSON Lines has one object a line. Check that the file is JSON Lines."
        )

    def where(self, row: int) -> str:
        place = self._place
        if place is not None and place.first_row <= row < place.first_row + place.block.n_rows:
            return f"row {row} (line {place.line_of(row)})"
        return f"row {row}"

    def not_numbers_error(self, f: Field, role: str = "predictions") -> InputError:
        if f.name in self._unread:  # a key of numbers whose value on a line is not one
            return self.error(self._unread[f.name])
        return super().not_numbers_error(f, role)

    def _null_error(self, row: int, name: str) -> InputError:
        return self.error(
            f"{self.where(row)}, key {name!r} is null or missing; give every row a value."
        )


def _text_array(texts: list[str | None]) -> pa.Array:
    """Cells as an Arrow string array; a lone surrogate (``"\\ud800"`` in JSON) escaped."""
    from cecli._column import nullable_strings

    try:
        return nullable_strings(texts)
    except UnicodeEncodeError:
        clean = [t if t is None else t.encode("utf-8", "backslashreplace").decode() for t in texts]
        return nullable_strings(clean)
