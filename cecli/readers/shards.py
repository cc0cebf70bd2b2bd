"""Many files read as one input: a glob (``'preds/*.parquet'``) or a folder of shards.

The shards are taken in sorted path order and read one after the other, each
by its own :class:`~cecli.readers.Source`; their rows are numbered globally,
as if the files were one. :class:`ShardedSource` is that chain: a Source like
any other, so every statistic, every pass and every option works on it
unchanged. Its :class:`ShardMap` tells, for a global row number, the shard it
is in and its row there (the ``file`` and ``file_row`` that reports add for a
sharded input).

Binary shards (Parquet, NPY, NPZ, Arrow IPC) are opened once up front, to
check that they hold the same columns and to count their rows, then closed:
only the shard being read is open, however many there are. Text shards (CSV,
TSV, JSON Lines) are typed as they are reached. A shard with no rows is allowed and adds none;
only an input whose every shard is empty is an error. A shard list is also
what a task per shard on other processes would take.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from cecli.errors import InputError
from cecli.readers import (
    STDIN,
    TEXT_FORMATS,
    Field,
    Frame,
    NoRows,
    Source,
    _remote,
    check_readable,
    detect_format,
)

#: What makes a path a pattern rather than a file name (:func:`glob.glob`'s wildcards).
WILDCARDS = "*?["


def is_many(path: str, storage_options: _remote.StorageOptions = ()) -> bool:
    """Whether ``path`` names many files: a folder, or a pattern that is not itself a file.

    A remote URL is many when it holds a wildcard, or names a prefix (a folder).

    Examples
    --------
    >>> is_many("preds.csv"), is_many("preds/*.parquet"), is_many("-")
    (False, True, False)
    """
    if _remote.is_remote(path):
        if _remote.has_wildcards(path):
            return True
        return _remote.is_folder(path, storage_options)
    if path == STDIN or os.path.isfile(path):
        return False
    return os.path.isdir(path) or any(ch in path for ch in WILDCARDS)


def shard_paths(path: str, storage_options: _remote.StorageOptions = ()) -> list[str]:
    """The files ``path`` names, in sorted path order; an error when it names none.

    A folder gives the files directly inside it, leaving out names that begin
    with ``.`` or ``_`` (and the ``dataset_info.json`` and ``state.json`` of a
    saved Hugging Face dataset); a pattern gives the files it matches (``**`` matches
    folders at any depth).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.csv", "a.csv", "_SUCCESS"):
    ...     _ = (folder / name).write_text("0.5,0")
    >>> [os.path.basename(p) for p in shard_paths(str(folder))]
    ['a.csv', 'b.csv']
    >>> shard_paths(str(folder / "*.parquet"))
    Traceback (most recent call last):
    ...
    cecli.errors.InputError: ...: no such file, and as a pattern it matches none. ...
    """
    if _remote.is_remote(path):
        paths = _remote.glob(path, storage_options)
        if not paths:
            raise InputError(
                path,
                "matches no object (or its bucket is missing, or the credentials may not list "
                "it). Check the URL; quote a pattern so that the shell does not expand it.",
            )
        return paths
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if not _remote.hidden(n))
        paths = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
        if not paths:
            raise InputError(path, "is a folder with no files to read as shards.")
        return paths
    paths = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if not paths:
        raise InputError(
            path,
            "no such file, and as a pattern it matches none. Check the path; quote a pattern "
            "so that the shell does not expand it.",
        )
    return paths


def shard_format(display: str, paths: list[str], forced: str | None) -> str:
    """The one format of every shard; an error naming two shards whose formats differ."""
    formats: dict[str, str] = {}
    for p in paths:
        if not _remote.is_remote(p):  # a listed object exists; its reader opens it
            check_readable(p)
        try:
            kind = detect_format(p, forced)[0]
        except InputError as error:
            raise InputError(
                display, f"holds {p}, which is not a shard cecli can read: {_message(error, p)}"
            ) from None
        formats.setdefault(kind, p)
        if len(formats) > 1:
            (a, first), (b, other) = formats.items()
            raise InputError(
                display,
                f"mixes formats: {first} is {a} but {other} is {b}; every shard of one input "
                "must have the same format. Narrow the pattern, e.g. to '*.parquet'.",
            )
    return next(iter(formats))


def _message(error: InputError, path: str) -> str:
    text = str(error)
    return text[len(path) + 2 :] if text.startswith(f"{path}: ") else text


@dataclass
class ShardMap:
    """Where each shard's rows begin among the input's rows, and which rows are whose.

    ``starts`` grows as the shards are reached (a text shard's length is known
    once it is read), so it holds a start for every row handed out so far.

    Examples
    --------
    >>> shards = ShardMap(["a.npy", "b.npy", "c.npy"], [0, 3, 3])
    >>> index, file_row = shards.locate(np.array([0, 2, 3, 4]))
    >>> index.tolist(), file_row.tolist(), shards.file_of(3)
    ([0, 0, 2, 2], [0, 2, 0, 1], ('c.npy', 0))
    """

    paths: list[str]
    starts: list[int] = field(default_factory=list)
    #: The rows of each shard, as each is finished (all of them once reading is done).
    n_rows: list[int] = field(default_factory=list)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(shard index, row within the shard)`` of each global row number."""
        # an empty shard starts where the next one does: the last start <= row wins
        starts = np.asarray(self.starts, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        index = np.searchsorted(starts, rows, side="right") - 1
        return index, rows - starts[index]

    def file_of(self, row: int) -> tuple[str, int]:
        """The shard's path and the row within it, of one global row number."""
        index, file_row = self.locate(np.array([row]))
        return self.paths[int(index[0])], int(file_row[0])

    def describe(self) -> list[dict[str, object]]:
        """Each shard's path, first global row and row count (None until it is read)."""
        out = []
        for i, path in enumerate(self.paths):
            start = self.starts[i] if i < len(self.starts) else None
            rows = self.n_rows[i] if i < len(self.n_rows) else None
            out.append({"file": path, "first_row": start, "n_rows": rows})
        return out


#: Opens one shard as a Source (:func:`cecli.readers.open_source` with the input's options).
Opener = Callable[[str], Source]


def _same_fields(
    display: str, first: Source, other: Source, shown_only: frozenset[str] = frozenset()
) -> None:
    """An error naming the shard whose columns differ from the first shard's, and how.

    A column only shown (``shown_only``) may hold other kinds of cells in another shard
    (numbers in one, text in the next): its cells are shown as each shard holds them.
    """
    a = {f.name: f for f in first.fields}
    b = {f.name: f for f in other.fields}
    missing = [n for n in a if n not in b]
    extra = [n for n in b if n not in a]
    if missing or extra:
        how = []
        if missing:
            how.append(f"lacks {', '.join(map(repr, missing[:5]))}")
        if extra:
            how.append(f"has {', '.join(map(repr, extra[:5]))} too")
        raise InputError(
            display,
            f"the shard {other.display} {' and '.join(how)}, unlike {first.display}; every "
            "shard must hold the same columns.",
        )
    for name, f in a.items():
        g = b[name]
        if (f.kind, f.width) != (g.kind, g.width) and name not in shown_only:
            raise InputError(
                display,
                f"column {name!r} holds {_kind(f)} in {first.display} but {_kind(g)} in the "
                f"shard {other.display}; every shard must hold the same columns.",
            )


def _kind(f: Field) -> str:
    if f.kind == "matrix":
        return f"lists of {f.width} numbers"
    return {"number": "numbers", "bool": "true/false values", "string": "text"}[f.kind]


class ShardedSource(Source):
    """The shards of one input, read one after the other as one :class:`Source`.

    ``display`` is the pattern or folder as given; a problem inside one shard
    names that shard (its own Source raises it).
    """

    def __init__(self, display: str, paths: list[str], fmt: str, opener: Opener) -> None:
        self.display = display
        self.paths = paths
        self.format = fmt
        self._open = opener
        self._first: Source | None = None
        self._reading: Source | None = None
        self.shards = ShardMap(paths)
        #: Each shard's rows when known up front (binary shards), else None.
        self._known: list[int | None] = [None] * len(paths)
        #: Each shard's row groups' rows (Parquet), else None.
        self._groups: list[tuple[int, ...] | None] = [None] * len(paths)
        binary = fmt not in TEXT_FORMATS
        self.read_again = binary
        template: Source | None = None
        try:
            for i, path in enumerate(paths):
                if not binary and template is not None:
                    break  # text shards are typed when they are reached
                try:
                    source = opener(path)
                except NoRows:
                    self._known[i] = 0
                    continue
                if template is None:
                    template, self._first_index = source, i
                else:
                    try:
                        _same_fields(display, template, source)
                    finally:
                        source.close()
                self._known[i] = source.n_rows
                self._groups[i] = source.row_groups
        except BaseException:
            if template is not None:
                template.close()
            raise
        if template is None:
            raise InputError(display, f"every one of its {len(paths)} shards is empty: there are "
                             "no rows to score.")  # fmt: skip
        self._template = template
        self._first = template
        self.fields = template.fields
        self.named = template.named
        self.header_option = template.header_option
        self.archive = template.archive
        known = self._known
        self.n_rows = None if None in known else sum(n or 0 for n in known)

    @property
    def n_shards(self) -> int:
        return len(self.paths)

    def known_rows(self, index: int) -> int | None:
        """The rows of shard ``index`` known before reading it (binary shards), else None."""
        return self._known[index]

    def shard_row_groups(self, index: int) -> tuple[int, ...] | None:
        """The rows of each row group of shard ``index`` (Parquet), else None."""
        return self._groups[index]

    def shard_sources(self) -> Iterator[tuple[int, Source | None]]:
        """Each shard opened in turn (None for an empty one), closed when the next is asked for."""
        for i, path in enumerate(self.paths):
            if self._known[i] == 0:
                yield i, None
                continue
            if self._first is not None and i == self._first_index:
                source, self._first = self._first, None
            else:
                try:
                    source = self._open(path)
                except NoRows:
                    yield i, None
                    continue
                try:
                    _same_fields(self.display, self._template, source, self.shown_only)
                except InputError:
                    source.close()
                    raise
            source.nullable = self.nullable  # the --by columns, set on this source
            source.shown_only = self.shown_only  # and the columns only shown
            self._reading = source
            try:
                yield i, source
            finally:
                self._reading = None
                source.close()

    def shard_frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[tuple[Source | None, Iterator[Frame]]]:
        """Each shard's Source and its frames, numbered globally; the map kept as they go.

        The frames of one shard must be taken before the next shard is asked for.
        """
        shards = self.shards
        shards.starts.clear()
        shards.n_rows.clear()
        with contextlib.closing(self.shard_sources()) as opened:
            yield from self._numbered(opened, rows_per_frame, columns, stacked)

    def _numbered(
        self,
        opened: Iterator[tuple[int, Source | None]],
        rows_per_frame: int,
        columns: list[str],
        stacked: list[str] | None,
    ) -> Iterator[tuple[Source | None, Iterator[Frame]]]:
        shards, offset = self.shards, 0
        for i, source in opened:
            shards.starts.append(offset)
            counted = [0]
            if source is None:
                yield None, iter(())
            else:
                yield source, _offset(source.frames(rows_per_frame, columns, stacked=stacked),
                                      offset, counted)  # fmt: skip
            known = self._known[i]
            if known is not None and counted[0] != known and source is not None:
                raise source.error(f"holds {counted[0]} rows but said it held {known}.")
            shards.n_rows.append(counted[0])
            offset += counted[0]

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        for _, frames in self.shard_frames(rows_per_frame, columns, stacked=stacked):
            yield from frames

    def close(self) -> None:
        # the first shard, if never read, and the one being read when reading stopped
        for source in (self._first, self._reading):
            if source is not None:
                source.close()
        self._first = self._reading = None


def _offset(frames: Iterator[Frame], offset: int, counted: list[int]) -> Iterator[Frame]:
    for frame in frames:
        frame.first_row += offset
        counted[0] += frame.n_rows
        yield frame


def open_shards(
    path: str,
    fmt: str | None,
    opener: Callable[[str, str | None], Source],
    storage_options: _remote.StorageOptions = (),
) -> Source:
    """``path`` (a folder or a pattern) as one :class:`ShardedSource` of its files."""
    paths = shard_paths(path, storage_options)
    kind = shard_format(path, paths, fmt)
    return ShardedSource(path, paths, kind, lambda p: opener(p, fmt))


def paired(preds: Source, labels: Source) -> bool:
    """Whether two inputs are read shard by shard: both sharded. An error if counts differ."""
    if not (isinstance(preds, ShardedSource) and isinstance(labels, ShardedSource)):
        return False
    if preds.n_shards != labels.n_shards:
        raise InputError(
            labels.display,
            f"has {labels.n_shards} shards but {preds.display} has {preds.n_shards}; sharded "
            "labels line up with the predictions shard by shard, so the counts must agree.",
        )
    for i in range(preds.n_shards):
        a, b = preds.known_rows(i), labels.known_rows(i)
        if a is not None and b is not None and a != b:
            raise InputError(
                labels.paths[i],
                f"has {b} rows but its predictions shard {preds.paths[i]} has {a}; each shard "
                "of labels must hold the rows of the predictions shard in the same place "
                "in sorted order.",
            )
    return True


__all__ = ["ShardMap", "ShardedSource", "is_many", "open_shards", "paired", "shard_paths"]
