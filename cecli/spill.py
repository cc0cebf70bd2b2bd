"""Chunks of rows kept on disk to be read again: the passes after the first.

Some statistics need more than one pass over the same rows (confident
learning, :mod:`cecli.label_issues`, needs three or four). A file of a binary
format (NPY, NPZ, Parquet) is simply read again. Text (CSV, TSV, compressed,
standard input) is parsed once: each :class:`~cecli.inputs.Batch` is written
as it is scored to an anonymous temporary file (:func:`tempfile.TemporaryFile`,
in ``TMPDIR``), raw arrays end to end, and read back a chunk at a time. The
file has no name, so nothing is left behind whatever stops the run; it takes
about the size of the predictions as numbers (rows x classes x 4 or 8 bytes),
plus the labels, weights and ids. ``cecli compare --show`` keeps the baseline's
``--show`` columns in one the same way (:class:`ShownSpill`) until it knows
which rows it lists.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from cecli._column import is_arrow
from cecli.errors import InputError, OutputError, reason_of
from cecli.inputs import Batch, Inputs
from cecli.readers import STDIN
from cecli.readers._remote import is_remote
from cecli.readers._remote import stamp as remote_stamp

if TYPE_CHECKING:
    from cecli.shown import ShownValues

#: Where each array of a chunk is in the file: (offset, dtype, shape), or None.
_Where = tuple[int, np.dtype, tuple[int, ...]] | None
_ARRAYS = ("preds", "targets", "ids", "weights")


class Spill:
    """Batches written to an unnamed temporary file as they come, read back in order.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.inputs import Batch
    >>> from cecli.spill import Spill
    >>> with Spill() as spill:
    ...     spill.write(Batch(0, np.array([[0.9, 0.1]]), np.array([0]), np.array(["a"], object)))
    ...     spill.write(Batch(1, np.array([[0.2, 0.8]]), np.array([1])))
    ...     [(b.first_row, b.preds.tolist(), b.ids) for b in spill.batches()]
    [(0, [[0.9, 0.1]], array(['a'], dtype=object)), (1, [[0.2, 0.8]], None)]
    """

    def __init__(
        self, folder: str | None = None, what: str = "the rows for the passes after the first"
    ) -> None:
        #: What the file holds, for the error when it cannot be written.
        self.what = what
        try:
            self._file: IO[bytes] = tempfile.TemporaryFile(prefix="cecli-", dir=folder)  # noqa: SIM115 - closed in close()
        except OSError as error:
            raise self._failed(error) from None
        self._chunks: list[tuple[int, dict[str, Any], list[Any] | None, list[Any] | None]] = []
        self.n_bytes = 0

    def write(self, batch: Batch) -> None:
        """Append one batch (its arrays are copied to the file; they may change after)."""
        try:
            where = {name: self._put_column(getattr(batch, name)) for name in _ARRAYS}
            slices = show = None
            if batch.slices is not None:
                slices = [self._put_column(column) for column in batch.slices]
            if batch.show is not None:
                show = [self._put_column(column) for column in batch.show]
            self._chunks.append((batch.first_row, where, slices, show))
        except OSError as error:
            raise self._failed(error) from None

    def _put_column(self, array: Any) -> tuple[str, tuple[_Where, ...]] | None:
        """An array as its raw bytes, or (objects: text) as UTF-8 text, its ends, and its Nones.

        An Arrow array (a column only shown) is written as Arrow's IPC stream writes it.
        """
        if array is None:
            return None
        if is_arrow(array):
            return "arrow", (self._put(_ipc_bytes(array)),)
        if array.dtype != object:
            return "raw", (self._put(array),)
        missing = np.fromiter((cell is None for cell in array.tolist()), bool, len(array))
        starts, data = self._put_text(array)
        return "text", (starts, data, self._put(missing) if missing.any() else None)

    def _get_column(self, record: tuple[str, tuple[_Where, ...]] | None) -> np.ndarray | None:
        if record is None:
            return None
        kind, where = record
        if kind == "raw":
            return self._get(where[0])
        if kind == "arrow":
            return _from_ipc(self._get(where[0]))
        cells = _texts(self._get(where[0]), self._get(where[1]))
        missing = self._get(where[2])
        if missing is not None:
            cells[missing] = None
        return cells

    def _put(self, array: np.ndarray | None) -> _Where:
        if array is None:
            return None
        array = np.ascontiguousarray(array)
        offset = self.n_bytes
        self._file.write(memoryview(array).cast("B"))
        self.n_bytes += array.nbytes
        return offset, array.dtype, array.shape

    def _put_text(self, ids: np.ndarray) -> tuple[_Where, _Where]:
        """Ids as UTF-8 text end to end, and where each starts and ends (Arrow's layout)."""
        import pyarrow as pa

        cells = [str(cell) for cell in ids.tolist()]
        try:
            array = pa.array(cells, pa.large_string())
            _, offsets, text = array.buffers()
            starts = np.frombuffer(offsets, dtype=np.int64, count=len(cells) + 1)
            data = np.zeros(0, np.uint8) if text is None else np.frombuffer(text, np.uint8)
        except (UnicodeEncodeError, pa.ArrowException):  # a lone surrogate: kept as it is
            encoded = [cell.encode("utf-8", "surrogatepass") for cell in cells]
            starts = np.concatenate([[0], np.cumsum([len(c) for c in encoded], dtype=np.int64)])
            data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return self._put(starts), self._put(data[: int(starts[-1])])

    def _get(self, where: _Where) -> np.ndarray | None:
        if where is None:
            return None
        offset, dtype, shape = where
        self._file.seek(offset)
        count = int(np.prod(shape, dtype=np.int64))
        array = np.fromfile(self._file, dtype=dtype, count=count)
        if array.size != count:
            raise OSError("the temporary file is shorter than what was written to it")
        return array.reshape(shape)

    def batches(self, which: Iterable[int] | None = None) -> Iterator[Batch]:
        """The batches written, in order, one in memory at a time (``which``: those alone)."""
        chunks = self._chunks if which is None else [self._chunks[i] for i in which]
        try:
            self._file.flush()
            for first_row, where, slices, show in chunks:
                arrays = {name: self._get_column(where[name]) for name in _ARRAYS}
                columns = None if slices is None else tuple(map(self._get_column, slices))
                shown = None if show is None else tuple(map(self._get_column, show))
                yield Batch(first_row, **arrays, slices=columns, show=shown)  # type: ignore[arg-type]
        except OSError as error:
            raise self._failed(error) from None

    def _failed(self, error: OSError) -> OutputError:
        return OutputError(
            f"the temporary copy of {self.what} cannot be "
            f"written: {reason_of(error)}. It needs about {self.n_bytes_hint()}; point TMPDIR "
            "at a folder with room."
        )

    def n_bytes_hint(self) -> str:
        done = getattr(self, "n_bytes", 0)
        return f"{done / 2**20:,.0f} MiB so far" if done else "the size of the predictions"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ShownSpill:
    """The ``--show`` columns of every row, kept on disk until the rows to list are known.

    ``cecli compare`` lists rows (regressions, fixed, the largest increases) only
    once both models' rows are lined up, by position or by id; until then each
    chunk's ``--show`` columns, as read, go to an unnamed temporary file
    (:class:`Spill`), and :meth:`values` reads back the chunks that hold the rows
    asked for, one at a time, keeping those rows' values alone. So memory holds a
    chunk of them at most, not every row's; the file takes about the columns' size.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.spill import ShownSpill
    >>> with ShownSpill() as spill:
    ...     spill.write(0, (np.array(["a", "b"], object), np.array([1.0, 2.5])))
    ...     spill.write(2, (np.array(["c", None], object), np.array([3.0, np.nan])))
    ...     spill.values([3, 1, 9])
    {1: ('b', '2.5'), 3: (None, None)}
    """

    def __init__(self) -> None:
        self._spill: Spill | None = None
        #: Each chunk's first row and number of rows, in the order written.
        self._chunks: list[tuple[int, int]] = []

    def write(self, first_row: int, columns: tuple[np.ndarray, ...]) -> None:
        """Keep one chunk's columns (the same rows each), its first row being ``first_row``."""
        if self._spill is None:
            self._spill = Spill(what="the --show columns")
        none = np.empty(0)
        self._spill.write(Batch(first_row, none, none, show=columns))
        self._chunks.append((first_row, len(columns[0]) if columns else 0))

    def values(self, rows: Iterable[int]) -> dict[int, ShownValues]:
        """The values of those of ``rows`` written, as :func:`cecli.shown.cells` writes them."""
        from cecli.shown import row_values

        wanted = np.unique(np.fromiter(rows, dtype=np.int64))
        out: dict[int, ShownValues] = {}
        holding = [
            i
            for i, (first, n) in enumerate(self._chunks)
            if np.any((wanted >= first) & (wanted < first + n))
        ]
        if self._spill is None or not holding:
            return out
        for batch in self._spill.batches(holding):
            assert batch.show is not None
            n = len(batch.show[0]) if batch.show else 0
            mine = wanted[(wanted >= batch.first_row) & (wanted < batch.first_row + n)]
            at = (mine - batch.first_row).astype(np.intp)
            out.update(zip(mine.tolist(), row_values(batch.show, at), strict=True))
        return out

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()

    def __enter__(self) -> ShownSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Replay:
    """The rows of ``inputs`` again, pass after pass: read again, or kept in a :class:`Spill`.

    :meth:`keep` is given every batch of the first pass; :meth:`batches`
    gives them again, as often as asked. Binary files on disk are read
    again (and must not change in between); anything else is spilled.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.inputs import Batch
    >>> from cecli.spill import Replay
    >>> class Text:  # stands for an Inputs of a CSV file
    ...     read_again, paths = False, ("-", None)
    >>> with Replay(Text()) as replay:
    ...     replay.keep(Batch(0, np.array([[0.9, 0.1]]), np.array([0])))
    ...     [b.targets.tolist() for b in replay.batches()]
    [[0]]
    """

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self.spill = None if inputs.read_again else Spill()
        # every file read: each shard of a folder or a pattern, which must not change either
        files = getattr(inputs, "files", None)
        given = [p for p in inputs.paths if p not in (None, STDIN)]
        paths = files() if files is not None else given
        self._storage = getattr(getattr(inputs, "options", None), "storage_options", ())
        self._stats = {p: self._stamp(p) for p in paths} if self.spill is None else {}

    def keep(self, batch: Batch) -> None:
        """Take one batch of the first pass."""
        if self.spill is not None:
            self.spill.write(batch)

    def batches(self) -> Iterator[Batch]:
        """Every batch of the first pass, in order."""
        if self.spill is not None:
            yield from self.spill.batches()
            return
        for path, stamp in self._stats.items():
            if self._stamp(path) != stamp:
                raise InputError(
                    path,
                    "changed while cecli was reading it (--label-issues reads it more than "
                    "once). Score a copy that does not change.",
                )
        with self.inputs.reopen() as again:
            if list(again.files()) != list(self._stats):
                raise InputError(
                    self.inputs.paths[0],
                    "its files changed while cecli was reading them (--label-issues reads them "
                    "more than once). Score a copy that does not change.",
                )
            yield from again.batches()

    def _stamp(self, path: str) -> tuple[object, ...]:
        # a remote object is read again too (in ranges, as the first time), and its size and
        # modification time, from the store, tell that it changed (over HTTP its ETag or
        # Last-Modified date; a server that gives neither has its rows spilled instead)
        if is_remote(path):
            return remote_stamp(path, self._storage)
        return _stamp(path)

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _ipc_bytes(array: Any) -> np.ndarray:
    """An Arrow array (of any type, a slice too) as the bytes of an IPC stream of it."""
    import pyarrow as pa
    import pyarrow.ipc

    batch = pa.RecordBatch.from_arrays([array], names=["cells"])
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return np.frombuffer(sink.getvalue(), dtype=np.uint8)


def _from_ipc(data: np.ndarray | None) -> Any:
    """The Arrow array :func:`_ipc_bytes` wrote."""
    import pyarrow as pa
    import pyarrow.ipc

    assert data is not None
    return pyarrow.ipc.open_stream(pa.py_buffer(data)).read_next_batch().column(0)


def _texts(starts: np.ndarray | None, data: np.ndarray | None) -> np.ndarray:
    """The ids written by :meth:`Spill._put_text`, as an object array of strings."""
    assert starts is not None
    assert data is not None
    raw = data.tobytes()
    cells = np.empty(len(starts) - 1, dtype=object)
    try:
        import pyarrow as pa

        array = pa.Array.from_buffers(
            pa.large_string(), len(cells), [None, pa.py_buffer(starts), pa.py_buffer(raw)]
        )
        cells[:] = array.to_pylist()
    except (UnicodeDecodeError, pa.ArrowException):
        bounds = starts.tolist()
        cells[:] = [
            raw[a:b].decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(bounds)
        ]
    return cells
