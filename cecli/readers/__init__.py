"""Readers: one module per file format, each turning a file into columns, chunk by chunk.

A reader knows nothing about losses or rendering. It opens one file (or
standard input) as a :class:`Source`: the file's columns (:class:`Field`:
a name and whether it holds numbers, booleans, text or a whole row of
numbers) and, on demand, :class:`Frame` chunks of rows with the columns
asked for as NumPy arrays. :mod:`cecli.inputs` decides which columns are the
predictions and the labels, and reads two sources in lockstep.

Formats come from the extension (``.csv``, ``.tsv``, ``.npy``, ``.npz``,
``.parquet``/``.pq``, JSON Lines ``.jsonl``/``.ndjson``, Arrow IPC
``.arrow``/``.feather``/``.ipc``, and CSV, TSV and JSON Lines compressed as
``.gz``, ``.bz2`` or ``.zst``); ``-`` is CSV on standard input (or TSV or JSON
Lines, forced); ``fmt`` forces a format.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from cecli.errors import InputError
from cecli.readers._remote import StorageOptions, is_remote, locate

if TYPE_CHECKING:
    from cecli.readers._text import TextProfile


class NoRows(InputError):
    """A file with no rows: an error when it is the input, nothing when it is one shard of many."""


FieldKind = Literal["number", "bool", "string", "matrix"]

#: The formats a path may be read as (``--input-format``).
FORMATS: tuple[str, ...] = ("csv", "tsv", "npy", "npz", "parquet", "jsonl", "arrow")
#: The formats read as text, as it streams in: from standard input or a pipe, compressed or not.
TEXT_FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
#: Compression suffixes read transparently, and pyarrow's codec for each.
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}

STDIN = "-"


@dataclass(frozen=True)
class Field:
    """One column of a source. ``width`` is the row length of a ``"matrix"`` column.

    A ``"string"`` column carries the :class:`~cecli.readers._text.TextProfile`
    of its sampled cells: how much of it looks like numbers, and its first cell
    that is not one.
    """

    name: str
    kind: FieldKind
    width: int | None = None
    profile: TextProfile | None = None

    @property
    def mostly_numbers(self) -> bool:
        """A text column most of whose cells are numbers: a column of numbers with bad cells."""
        return self.kind == "string" and self.profile is not None and self.profile.mostly_numbers


@dataclass
class Frame:
    """Consecutive rows of a source: ``columns`` maps a field's name to its values.

    A ``"matrix"`` column is a 2-D array (rows x width); the others are 1-D; a column
    of the source's :attr:`Source.shown_only` is an Arrow array (see :mod:`cecli._column`).
    ``first_row`` is the 0-based number of the frame's first row in the file.
    ``stacked``, when the source gives it, holds the columns asked for with
    ``frames(..., stacked=names)`` as the rows of one ``len(names) x n_rows``
    array, what ``np.stack`` of them would give; each of them is in ``columns``
    too, as a row of it.
    """

    first_row: int
    n_rows: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    stacked: np.ndarray | None = None


class Source:
    """A file opened for reading: its fields, and its rows as frames.

    Subclasses set ``fields`` (and ``n_rows`` when the format knows it
    without reading everything) in ``__init__`` and implement
    :meth:`frames`.
    """

    #: What messages call the file: the path as given, or "standard input".
    display: str
    n_rows: int | None = None
    #: Whether the column names came from the file (a header, NPZ keys) or were made up.
    named: bool = True
    #: Whether --header/--no-header applies (CSV and TSV).
    header_option: bool = False
    #: Whether the file is an archive of arrays, whose other members may hold the labels (NPZ).
    archive: bool = False
    #: Whether reading the rows again is cheap and gives the same rows: a binary file on
    #: disk. Text is parsed once; its rows are kept in a temporary file (:mod:`cecli.spill`).
    read_again: bool = True
    #: Columns of numbers whose empty cells are NaN, not an error (the --by columns:
    #: a missing value is a slice of its own). Set before :meth:`frames` is called.
    nullable: frozenset[str] = frozenset()
    #: Columns only shown (``--show``, used for nothing else): read as the file holds them,
    #: never checked as data, and given in :attr:`Frame.columns` as Arrow arrays (CSV and
    #: TSV: the cells' text as written; the other formats: the column's own type), not
    #: NumPy. Set before :meth:`frames` is called.
    shown_only: frozenset[str] = frozenset()
    #: The rows of each row group, when the file is cut into them (Parquet), else None:
    #: a task on a worker may read a run of them (:meth:`frames`' ``row_groups``).
    row_groups: tuple[int, ...] | None = None

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        """Frames of about ``rows_per_frame`` rows holding ``columns``; each source is read once.

        ``stacked`` names columns of numbers (of ``columns``) that the caller
        puts side by side: a source that can give them as one array at less cost
        sets :attr:`Frame.stacked`; the others leave it None.
        """
        raise NotImplementedError

    @property
    def fields(self) -> list[Field]:
        """The columns, in file order."""
        return self._fields

    @fields.setter
    def fields(self, fields: list[Field]) -> None:
        self._fields = list(fields)
        # looked up once per column: a dict keeps a 100,000-column file linear
        self._by_name = {f.name: f for f in self._fields}

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def error(self, message: str) -> InputError:
        return InputError(self.display, message)

    def no_rows(self, message: str) -> NoRows:
        """The error for a file that holds no rows: one input's error, an empty shard's none."""
        return NoRows(self.display, message)

    def where(self, row: int) -> str:
        """A row as messages name it (CSV adds its line number)."""
        return f"row {row}"

    def not_numbers_error(self, f: Field, role: str = "predictions") -> InputError:
        """The error for a text column ``f`` that is needed as numbers (``role``)."""
        p = f.profile
        if p is None or p.first_bad is None:
            return self.error(f"the column {f.name!r} holds {f.kind}s, not numbers.")
        where = (
            f"{self.where(p.first_bad)}, column {f.name!r} holds {quote_cell(p.first_bad_value)}"
        )
        if p.mostly_numbers:
            leave_out = (
                "; or, if the column is not predictions, leave it out with --pred-cols"
                if role == "predictions"
                else ""
            )
            return self.error(
                f"{where}, which cecli does not read as a number, in a column of numbers "
                f"({p.number_share:.0%} of its cells are numbers or written like one). Fix the "
                "cell (numbers are written like 0.25 "
                f"or 1e-3, and no cell may be empty){leave_out}."
            )
        return self.error(
            f"{where}: the column is text, not numbers ({p.number_share:.0%} of its cells look "
            "like numbers), so it cannot be " + role + "."
        )

    def close(self) -> None:
        """Release the file; reading is over."""


def quote_cell(cell: str) -> str:
    """A cell quoted for a message, cut short when long: a message is one line.

    Examples
    --------
    >>> quote_cell("oops")
    "'oops'"
    >>> quote_cell("9" * 100)
    "'9999999999999999999999999999999999999999'... (100 characters)"
    """
    if len(cell) <= 60:
        return repr(cell)
    return f"{cell[:40]!r}... ({len(cell):,} characters)"


def display_name(path: str) -> str:
    return "standard input" if path == STDIN else path


def detect_format(path: str, forced: str | None = None) -> tuple[str, str | None]:
    """``(format, compression codec or None)`` of ``path``, from its extension or ``forced``."""
    # an HTTP URL's query (?download=1) is no part of its name
    name = os.path.basename(path.split("?", 1)[0] if path.startswith(("http", "HTTP")) else path)
    name = name.lower()
    codec = None
    stem, ext = os.path.splitext(name)
    if ext in COMPRESSION:
        codec = COMPRESSION[ext]
        stem, ext = os.path.splitext(stem)
    if forced is not None:
        if forced not in FORMATS:
            raise InputError(
                display_name(path),
                f"unknown input format {forced!r}; use one of {', '.join(FORMATS)}.",
            )
        # a forced format is for what the extension does not tell: standard input,
        # an unknown or generic extension; `- labels.npy` keeps its NPY labels
        if path == STDIN or ext not in _EXTENSIONS or ext == ".txt":
            return forced, codec
    if path == STDIN:
        return "csv", None
    fmt = _EXTENSIONS.get(ext)
    if fmt is None or (codec is not None and fmt not in TEXT_FORMATS):
        known = ", ".join(sorted(set(_EXTENSIONS) - {".tab", ".txt"}))
        lines = (
            " If it holds one JSON object per line, name it .jsonl (or pass --input-format "
            "jsonl); a single JSON document (an array of rows) is not read."
            if ext == ".json"
            else ""
        )
        raise InputError(
            path,
            f"cannot tell the format from the extension {ext or '(none)'!r}; "
            f"name the file with one of {known} (CSV, TSV and JSON Lines may add .gz, .bz2 or "
            f".zst), or pass --input-format {'|'.join(FORMATS)}.{lines}",
        )
    return fmt, codec


def check_readable(path: str, storage_options: StorageOptions = ()) -> None:
    """A clear error for a path (or a remote URL) that is missing, a folder or unreadable."""
    if path == STDIN:
        return
    if is_remote(path):
        locate(path, storage_options).check_file()
        return
    if not os.path.exists(path):
        raise InputError(path, "no such file. Check the path.")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, not a file. Give the path of a file inside it.")
    if not os.access(path, os.R_OK):
        raise InputError(path, "cannot be read (permission denied). Check its permissions.")


def open_source(
    path: str,
    *,
    fmt: str | None = None,
    header: bool | None = None,
    key: str | None = None,
    key_role: str = "predictions",
    chunk_bytes: int = 64 << 20,
    storage_options: StorageOptions = (),
) -> Source:
    """Open ``path`` (or ``"-"`` for standard input) as a :class:`Source`.

    A folder, or a pattern such as ``'preds/*.parquet'``, is one input of many
    files (:mod:`cecli.readers.shards`).

    ``header`` forces (True) or refuses (False) a CSV header row; None
    detects it. ``key`` picks an NPZ member; otherwise ``key_role``
    ("predictions" or "labels") picks one by its usual names. A URL
    (``s3://``, ``gs://``, ``abfs://``) is read through pyarrow.fs
    (:mod:`cecli.readers._remote`), with ``storage_options`` for its filesystem.
    """
    from cecli.readers.shards import is_many

    if is_many(path, storage_options):  # a folder or a pattern: its files, one after the other
        from cecli.readers.shards import open_shards

        def one(shard: str, forced: str | None) -> Source:
            return open_source(
                shard,
                fmt=forced,
                header=header,
                key=key,
                key_role=key_role,
                chunk_bytes=chunk_bytes,
                storage_options=storage_options,
            )

        return open_shards(path, fmt, one, storage_options)
    if is_remote(path):
        return _open_remote(path, fmt, header, chunk_bytes, storage_options)
    check_readable(path)
    kind, codec = detect_format(path, fmt)
    if kind in ("csv", "tsv"):
        from cecli.readers.csv import CsvSource

        return CsvSource(
            path,
            delimiter="\t" if kind == "tsv" else ",",
            codec=codec,
            header=header,
            block_bytes=chunk_bytes,
        )
    if kind == "jsonl":
        from cecli.readers.jsonl import JsonlSource

        return JsonlSource(path, codec=codec, block_bytes=chunk_bytes)
    if path == STDIN:
        raise InputError(
            display_name(path), f"standard input is read as CSV, TSV or JSON Lines, not {kind}."
        )
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(
            path,
            f"is a pipe or a device, not a file; {kind.upper()} is read by seeking in the file, "
            "so save it to a file first (only CSV, TSV and JSON Lines can be read as they "
            "stream in).",
        )
    if kind == "npy":
        from cecli.readers.npy import NpySource

        return NpySource(path)
    if kind == "npz":
        from cecli.readers.npy import NpzSource

        return NpzSource(path, key=key, role=key_role)
    if kind == "arrow":
        from cecli.readers.ipc import IpcSource

        return IpcSource(path)
    from cecli.readers.parquet import ParquetSource

    return ParquetSource(path)


def _open_remote(
    url: str,
    fmt: str | None,
    header: bool | None,
    chunk_bytes: int,
    storage_options: StorageOptions,
) -> Source:
    """A remote file as its reader's Source: Parquet, NPY and Arrow IPC files by ranged reads,
    CSV, JSON Lines and Arrow IPC streams as a stream."""
    remote = locate(url, storage_options)
    remote.check_file()  # a missing object first, as for a file: its name may be wrong too
    kind, codec = detect_format(url, fmt)
    if kind in ("csv", "tsv"):
        from cecli.readers.csv import CsvSource

        return CsvSource(
            url,
            delimiter="\t" if kind == "tsv" else ",",
            codec=codec,
            header=header,
            block_bytes=chunk_bytes,
            remote=remote,
        )
    if kind == "jsonl":
        from cecli.readers.jsonl import JsonlSource

        return JsonlSource(url, codec=codec, block_bytes=chunk_bytes, remote=remote)
    if kind == "npy":
        from cecli.readers.npy import NpySource

        return _unvalidated(NpySource(url, remote=remote), remote)
    if kind == "arrow":
        from cecli.readers.ipc import IpcSource

        return _unvalidated(IpcSource(url, remote=remote), remote)
    if kind == "npz":
        raise remote.error(
            "NPZ archives are read from local files only (a zip is read in many small "
            "pieces); copy it here first, or save the arrays as .npy or Parquet."
        )
    from cecli.readers.parquet import ParquetSource

    return _unvalidated(ParquetSource(url, remote=remote), remote)


def _unvalidated(source: Source, remote: object) -> Source:
    """``source``, kept on disk for a second pass when its server cannot tell a change.

    A file over HTTP is read again (by ranges) only when the server gives an ETag or a
    Last-Modified date, which tell whether it changed in between; without either, its rows
    are spilled to a temporary file as standard input's are (:mod:`cecli.spill`).
    """
    if getattr(remote, "validated", True) is False:
        source.read_again = False
    return source
