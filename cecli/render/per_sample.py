"""``--per-sample PATH``: one row per input row, streamed to CSV, Parquet or NPY.

The rows go to a temporary file beside PATH, which is renamed into place only
when every row is written: an interrupted run leaves neither a half-written
file nor the temporary one, and an existing PATH is untouched until the end.

The rows are written on a thread of their own, in order, while the next chunk
is scored: :meth:`PerSampleWriter.write` hands a chunk over and returns,
waiting only while :data:`QUEUE_CHUNKS` chunks are already waiting. A
failure of that thread (a full disk) is raised by the next ``write`` or by
``commit``, as the one-line error it always was. The columns go to pyarrow as
buffers (:meth:`pyarrow.Array.from_buffers`), not through ``pyarrow.array``,
which imports pandas; the ``label`` and ``predicted`` columns as dictionary
arrays (each row's code, and the names once).

A CSV file's text is made on every core at once (:class:`~cecli.render._csv_file.CSVFile`):
it costs more than the scoring. A Parquet file dictionary-encodes only the
columns of names, and does not store the Arrow schema, which would make readers
give those two columns as dictionaries: read back, they are strings, as the
Parquet schema says.

A CSV file is for spreadsheets too: its text cells (``id``, ``label``,
``predicted``) that a spreadsheet would run as a formula get a leading ``'``
(:func:`cecli.render.escape.spreadsheet`). Parquet and NPY files are data
files: they hold the values as they were read.
"""

from __future__ import annotations

import contextlib
import os
import queue
import stat
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cecli.errors import InputError, OptionError, OutputError, reason_of
from cecli.render._atomic import _unfinished
from cecli.render._atomic import temporary as _temporary
from cecli.render._show_cells import per_sample_names
from cecli.render.escape import spreadsheet, spreadsheet_array

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cecli.losses import SampleScores
    from cecli.readers.shards import ShardMap
    from cecli.render._csv_file import CSVFile

#: pyarrow's modules, imported by the writing thread (while the main one reads and scores).
_PYARROW = ("pa", "CSVFile", "_indexed", "_numbers", "_strings", "_nullable_strings")

#: The Parquet columns worth a dictionary: the names, of which there are few. A
#: dictionary of a million distinct numbers only costs time before pyarrow gives up on it.
_DICTIONARY_COLUMNS = ["label", "predicted"]
#: The key, among a chunk's columns, of each row's shard index (an input of many files).
_FILE = "file_index"
#: Before a ``--show`` column's name among the columns handed to the writing thread.
_SHOW = "show:"


def _load_pyarrow() -> None:
    global pa, CSVFile, _indexed, _numbers, _strings, _nullable_strings
    import pyarrow as pa

    from cecli.render._arrow import indexed as _indexed
    from cecli.render._arrow import nullable_strings as _nullable_strings
    from cecli.render._arrow import numbers as _numbers
    from cecli.render._arrow import strings as _strings
    from cecli.render._csv_file import CSVFile


def __getattr__(name: str) -> Any:
    if name in _PYARROW:
        _load_pyarrow()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SUFFIXES = (".csv", ".parquet", ".pq", ".npy")
#: Chunks handed to the writing thread and not yet taken up; with the one it is
#: writing and the one being scored, at most three chunks' scores are held.
QUEUE_CHUNKS = 1
#: The columns ``--label-issues`` adds, and their NPY types.
LABEL_ISSUE_COLUMNS = {"label_issue": "?", "label_quality": "<f8"}


def _el2n(scores: SampleScores) -> np.ndarray:
    if scores.el2n is None:
        raise OptionError("per-sample rows need their EL2N scores: score them with el2n=True.")
    return scores.el2n


def _ranks(scores: SampleScores) -> np.ndarray:
    if scores.rank is None:
        raise OptionError("per-sample rows need their ranks: score them with top_k.")
    return scores.rank


def _ignored(scores: SampleScores) -> np.ndarray:
    if scores.ignored is None:
        return np.zeros(scores.n_samples, dtype=np.bool_)
    return scores.ignored


class PerSampleWriter:
    """Writes per-sample rows chunk by chunk; :meth:`commit` puts the file in place.

    The last column, ``el2n``, is each row's EL2N score (:mod:`cecli.el2n`):
    the scores written must have it (:attr:`SampleScores.el2n`). With
    ``ranks`` (``--top-k``) a ``rank`` column holds each row's rank of its
    true class (:attr:`SampleScores.rank`); with ``ignored``
    (``--ignore-label``) an ``ignored`` column marks the rows left out, which
    are written all the same, so that the rows still line up with the input:
    their label, predicted class, confidence, ``p_true``, loss, EL2N and
    weight are empty (NaN; in an NPY file the label and predicted class are
    -1), their rank 0.
    """

    def __init__(
        self,
        path: str,
        *,
        inputs: Sequence[str],
        classes: Sequence[str],
        kind: str,
        weighted: bool,
        label_issues: bool = False,
        shards: ShardMap | None = None,
        ranks: bool = False,
        ignored: bool = False,
        show: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.ranks, self.ignored = ranks, ignored
        #: For an input of many files: each row's ``file`` and ``file_row`` follow ``row``.
        self.shards = shards
        self.format = os.path.splitext(path)[1].lower()
        if self.format not in SUFFIXES:
            raise OptionError(
                f"--per-sample {path}: name the file .csv, .parquet or .npy, "
                "and cecli writes that format."
            )
        target = os.path.abspath(path)
        for given in inputs:
            exists = given != "-" and os.path.exists(given) and os.path.exists(target)
            if exists and os.path.samefile(given, target):
                raise InputError(
                    path, "is one of the input files; --per-sample will not overwrite it."
                )
        if os.path.isdir(target):
            raise OptionError(
                f"--per-sample {path}: is a folder; name a file in it, such as "
                f"{os.path.join(path, 'per_sample' + self.format)}."
            )
        #: The ``--show`` columns, last, as text: named as in the input (``show_`` before a
        #: name the file has already).
        self.show = per_sample_names(show, self.format)
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            raise InputError(path, f"cannot be written: the folder {folder} does not exist.")
        self.classes = list(classes)
        if self.format == ".csv":
            self.classes = [spreadsheet(str(name)) for name in self.classes]
        self.kind = kind
        self.weighted = weighted
        #: More per-row columns, given to :meth:`write` (``--label-issues``).
        self.extra = LABEL_ISSUE_COLUMNS if label_issues else {}
        try:
            # a device or a pipe (/dev/null, /dev/stdout, a FIFO) is written in place:
            # renaming a file over it would replace it
            in_place = os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode)
            tmp = target if in_place else _temporary(target, folder)
        except OSError as error:
            raise self._failed(error) from None
        self._tmp, self._in_place = tmp, in_place
        self._writer: CSVFile | pq.ParquetWriter | None = None
        self._npy = None
        self._rows = 0
        self._header_len = 0
        self._names: pa.Array | None = None
        self._codes: np.ndarray | None = None
        self._present: pa.Array | None = None
        self._files: pa.Array | None = None
        self._queue: queue.Queue[tuple[SampleScores, np.ndarray | None, dict] | None] = queue.Queue(
            QUEUE_CHUNKS
        )
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cecli-per-sample", daemon=True)
        self._thread.start()

    # -- rows ---------------------------------------------------------------------------

    def write(
        self,
        scores: SampleScores,
        ids: np.ndarray | None,
        columns: dict[str, np.ndarray] | None = None,
        show: tuple[np.ndarray, ...] | None = None,
    ) -> None:
        """Hand one chunk's rows to the writing thread (the arrays must not change after).

        ``columns`` holds the writer's :attr:`extra` columns, one value per row;
        ``show`` the chunk's ``--show`` columns as read, with :attr:`show`.
        """
        self._raise_failure()
        columns = columns or {}
        if set(columns) != set(self.extra):
            raise ValueError(f"expected the columns {sorted(self.extra)}, got {sorted(columns)}")
        if self.show:
            if show is None or len(show) != len(self.show):
                raise ValueError(f"expected the --show columns {self.show}")
            columns = {
                **columns,
                **{_SHOW + name: v for name, v in zip(self.show, show, strict=True)},
            }
        if self.shards is not None:
            # now, on this thread: the map has the start of every shard read so far
            index, file_row = self.shards.locate(scores.rows)
            columns = {**columns, _FILE: index.astype(np.int32), "file_row": file_row}
        self._queue.put((scores, ids, columns))

    def _run(self) -> None:
        if self.format != ".npy":
            try:
                _load_pyarrow()
                if self.format != ".csv":
                    import pyarrow.parquet  # noqa: F401 - now, not on the first chunk
                # the class names once each (a Parquet dictionary holds no name twice), and
                # each class index's code among them; an index past the names (or before
                # them) is clipped, the last one being ""
                names = [*self.classes, ""]
                unique = list(dict.fromkeys(names))
                self._names = _strings(unique)
                self._codes = np.array([unique.index(name) for name in names], dtype=np.int32)
                self._present = _strings(["absent", "present", ""])
            except BaseException as error:
                self._error = error
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure the rest is only taken off the queue
                try:
                    self._write(*item)
                except BaseException as error:
                    self._error = error

    def _raise_failure(self) -> None:
        error = self._error
        if error is None:
            return
        if isinstance(error, OSError):
            raise self._failed(error) from None
        raise error

    def _stop(self, *, drop: bool) -> None:
        """Let the writing thread finish what it has (or, with ``drop``, only its current chunk)."""
        if not self._thread.is_alive():
            return
        if drop:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
        self._queue.put(None)
        self._thread.join()

    def _failed(self, error: OSError) -> OutputError:
        reason = reason_of(error)
        return OutputError(f"--per-sample {self.path}: cannot be written: {reason}.")

    def _class_names(self, index: np.ndarray) -> pa.Array:
        return _indexed(np.take(self._codes, index, mode="clip"), self._names)

    def _write(
        self, scores: SampleScores, ids: np.ndarray | None, extra: dict[str, np.ndarray]
    ) -> None:
        n = scores.n_samples
        if self.format == ".npy":
            self._write_npy(scores, extra)
            return
        id_column = pa.nulls(n, pa.string()) if ids is None else _strings(ids.tolist())
        if self.format == ".csv" and ids is not None:
            id_column = spreadsheet_array(id_column)
        if self.kind == "multilabel":
            present = (scores.predicted == 1).astype(np.int32)
            if scores.ignored is not None:
                present[scores.ignored] = 2  # no prediction shown for a row left out
            predicted = _indexed(present, self._present)
        else:
            predicted = self._class_names(scores.predicted)
        columns: dict[str, pa.Array] = {"row": _numbers(scores.rows)}
        if self.shards is not None:
            if self._files is None:
                files = self.shards.paths
                self._files = _strings(
                    [spreadsheet(p) for p in files] if self.format == ".csv" else list(files)
                )
            columns["file"] = _indexed(extra[_FILE], self._files)
            columns["file_row"] = _numbers(extra["file_row"])
        columns |= {
            "id": id_column,
            "label": self._class_names(scores.label),
            "predicted": predicted,
            "confidence": _numbers(scores.confidence),
            "p_true": _numbers(scores.p_true),
            "loss": _numbers(scores.loss),
            "flagged": _numbers(scores.flagged),
        }
        if self.ranks:
            columns["rank"] = _numbers(_ranks(scores))
        if self.ignored:
            columns["ignored"] = _numbers(_ignored(scores))
        if self.weighted:
            columns["weight"] = _numbers(scores.weight)
        for name in self.extra:
            columns[name] = _numbers(extra[name])
        columns["el2n"] = _numbers(_el2n(scores))
        for name in self.show:
            from cecli.shown import cells

            text = _nullable_strings(cells(extra[_SHOW + name]))
            columns[name] = spreadsheet_array(text) if self.format == ".csv" else text
        table = pa.table(columns)
        if self._writer is None:
            if self.format == ".csv":
                self._writer = CSVFile(self._tmp)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(
                    self._tmp,
                    table.schema,
                    use_dictionary=_DICTIONARY_COLUMNS + (["file"] if self.shards else []),
                    store_schema=False,
                )
        self._writer.write_table(table)
        self._rows += n

    def _dtype(self) -> np.dtype:
        fields = [("row", "<i8")]
        if self.shards is not None:
            width = max(1, *(len(p) for p in self.shards.paths))
            fields += [("file", f"<U{width}"), ("file_row", "<i8")]
        fields += [
            ("label", "<i8"),
            ("predicted", "<i8"),
            ("confidence", "<f8"),
            ("p_true", "<f8"),
            ("loss", "<f8"),
            ("flagged", "?"),
        ]
        if self.ranks:
            fields.append(("rank", "<i8"))
        if self.ignored:
            fields.append(("ignored", "?"))
        if self.weighted:
            fields.append(("weight", "<f8"))
        fields += list(self.extra.items())
        fields.append(("el2n", "<f8"))
        return np.dtype(fields)

    def _npy_header(self, n_rows: int) -> bytes:
        """An NPY 1.0 header whose length does not depend on ``n_rows`` (it is rewritten)."""
        header = {"descr": self._dtype().descr, "fortran_order": False, "shape": (n_rows,)}
        text = repr(header).encode("latin1")
        longest = len(repr({**header, "shape": (10**18,)}))
        body = 128 - 10  # magic (6) + version (2) + length (2) + text, to a multiple of 64
        while longest + 1 > body:
            body += 64
        text = text + b" " * (body - len(text) - 1) + b"\n"
        return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text

    def _write_npy(self, scores: SampleScores, extra: dict[str, np.ndarray]) -> None:
        if self._npy is None:
            self._npy = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/abort
            self._npy.write(self._npy_header(0))
        out = np.empty(scores.n_samples, dtype=self._dtype())
        out["row"] = scores.rows
        if self.shards is not None:
            out["file"] = np.asarray(self.shards.paths)[extra[_FILE]]
            out["file_row"] = extra["file_row"]
        out["label"] = scores.label
        out["predicted"] = scores.predicted
        if scores.ignored is not None:  # an ignored row has no class: -1, as no index is
            out["label"][scores.ignored] = -1
            out["predicted"][scores.ignored] = -1
        out["confidence"] = scores.confidence
        out["p_true"] = scores.p_true
        out["loss"] = scores.loss
        out["flagged"] = scores.flagged
        if self.ranks:
            out["rank"] = _ranks(scores)
        if self.ignored:
            out["ignored"] = _ignored(scores)
        if self.weighted:
            out["weight"] = scores.weight
        for name in self.extra:
            out[name] = extra[name]
        out["el2n"] = _el2n(scores)
        self._npy.write(out.tobytes())
        self._rows += scores.n_samples

    # -- the end ------------------------------------------------------------------------

    def commit(self) -> None:
        """Wait for the rows handed over, close the temporary file and rename it to ``path``."""
        self._stop(drop=False)
        self._raise_failure()
        try:
            if self._npy is not None:
                self._npy.seek(0)
                self._npy.write(self._npy_header(self._rows))
                self._npy.close()
            if self._writer is not None:
                self._writer.close()
            if not self._in_place:
                os.replace(self._tmp, self.path)
                _unfinished.discard(self._tmp)
        except OSError as error:
            raise self._failed(error) from None

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is as it was."""
        self._stop(drop=True)
        for stream in (self._npy, self._writer):
            # closing flushes, which fails again after a failed write: the file goes anyway
            if stream is None:
                continue
            with contextlib.suppress(Exception):
                # a CSV file drops the rows still being made into text
                getattr(stream, "discard", stream.close)()
        if not self._in_place:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            _unfinished.discard(self._tmp)
