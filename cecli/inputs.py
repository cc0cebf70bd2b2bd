"""From one or two files to aligned chunks of predictions and targets.

:func:`open_inputs` opens the predictions (and the labels, if they are in a
file of their own), decides which columns are the predictions, the labels,
the ids and the weights, and what kind of loss applies. :meth:`Inputs.batches`
then reads both files in lockstep, a chunk at a time (about ``chunk_bytes``
of predictions), and yields :class:`Batch` objects that the core scores. No
chunk holds more than its share of the file, so a file of any size is scored
in bounded memory. Which column holds what is decided by
:class:`cecli._layout.InputLayout`, which :class:`Inputs` builds on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cecli._layout import KINDS, InputLayout
from cecli.align import _lockstep, _mismatch, shard_pairs
from cecli.errors import CecliError, OptionError, in_file
from cecli.labels import LabelDecoder, class_names
from cecli.readers import STDIN, Field, Frame, Source, display_name, open_source
from cecli.readers.shards import ShardedSource, ShardMap, paired


@dataclass
class InputOptions:
    """How to read the inputs; each field is a command-line option of ``cecli score``."""

    kind: str = "auto"
    from_logits: bool = False
    input_format: str | None = None
    header: bool | None = None
    pred_cols: str | None = None
    label_col: str | None = None
    id_col: str | None = None
    weight_col: str | None = None
    pred_key: str | None = None
    label_key: str | None = None
    positive: str | None = None
    chunk_bytes: int = 64 << 20
    #: Settings of the filesystem a remote URL is read through (``--storage-option``).
    storage_options: tuple[tuple[str, str], ...] = ()
    #: Columns whose values slice the rows (``--by``), in either file.
    slice_cols: tuple[str, ...] = ()
    #: Whether a --by column may be missing (compare's candidate reads the baseline's).
    slices_optional: bool = False
    #: Columns carried into every listed row (``--show``), of either file.
    show_cols: tuple[str, ...] = ()
    #: Columns of the predictions never taken as predictions unless --pred-cols names them,
    #: if there (compare's candidate: the baseline's ``--show`` columns, not read).
    reserved_cols: tuple[str, ...] = ()
    #: ``--ignore-label``: the label of rows to leave out (see :class:`cecli.labels.LabelDecoder`).
    ignore_label: str | None = None


@dataclass
class Batch:
    """Aligned rows of both inputs, ready for the core.

    ``preds`` is ``N x K`` (binary: ``N``); ``targets`` is what the core
    takes for the kind (class indices, 0/1, or ``N x K``); ``ids`` are the
    rows' ids as text, or None; ``weights`` the per-sample weights, or None.
    """

    first_row: int
    preds: np.ndarray
    targets: np.ndarray
    ids: np.ndarray | None = None
    weights: np.ndarray | None = None
    #: The values of the ``--by`` columns, one array each, or None.
    slices: tuple[np.ndarray, ...] | None = None
    #: The values of the ``--show`` columns as read, one array each, or None: a column only
    #: shown is an Arrow array, as its file holds it (:attr:`cecli.readers.Source.shown_only`).
    show: tuple[Any, ...] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.preds)


class Inputs(InputLayout):
    """The opened inputs: what they hold, and their rows as batches. Use as a context manager."""

    def __init__(
        self,
        predictions: str | Source,
        labels: str | Source | None,
        options: InputOptions,
        *,
        row_groups: tuple[int, int] | None = None,
    ) -> None:
        self.label_source: Source | None = None
        #: A run of row groups ``(first, stop)`` of one Parquet file holding the labels too:
        #: only those rows are read (a task on a worker, :mod:`cecli.dask`). None: every row.
        self.row_groups = row_groups
        try:
            self._setup(predictions, labels, options)
        except BaseException:
            self.close()  # the files opened so far, and their reading threads
            raise

    def _setup(self, predictions: str, labels: str | None, options: InputOptions) -> None:
        if options.kind not in KINDS:
            raise OptionError(f"--kind must be one of {', '.join(KINDS)}; got {options.kind!r}.")
        if predictions == STDIN and labels == STDIN:
            raise OptionError(
                "Only one of PREDICTIONS and LABELS can be standard input (-); "
                "give the other as a file."
            )
        self.options = options
        #: The paths as given: :meth:`reopen` opens them again.
        self.paths = (predictions, labels)
        self.pred_source = self._open(predictions, options.pred_key, "predictions")
        self.label_source: Source | None = None
        if labels is not None:
            self.label_source = self._open(labels, options.label_key, "labels")
        elif self.pred_source.archive and isinstance(self.pred_source, ShardedSource):
            # NPZ shards: each archive's labels member, shard by shard
            self.label_source = self._open(predictions, options.label_key, "labels")
        elif self.pred_source.archive:
            # the NPZ reader (and zipfile, mmap) loads only for an NPZ input
            from cecli.readers.npy import NpzSource

            self.label_source = NpzSource(predictions, key=options.label_key, role="labels")
        #: Whether both inputs are shards, read pair by pair (a labels glob beside a preds one).
        self._paired = self.label_source is not None and paired(self.pred_source, self.label_source)
        known = [s.n_rows for s in (self.pred_source, self.label_source) if s is not None]
        if self.label_source is not None and None not in known and known[0] != known[1]:
            _mismatch(self.pred_source, known[0], self.label_source, known[1])
        self._plan = self._layout()
        self.n_classes = self._n_columns()
        self.kind = self._kind()
        self.headers = self._plan.headers
        classes = class_names(self.headers)
        if options.positive is not None and self.kind != "binary":
            raise OptionError(
                f"--positive names the positive class of binary labels; these are scored as "
                f"{self.kind} ({self.n_classes} prediction columns). Leave --positive out."
            )
        if self.kind == "binary":
            positive = options.positive or "1"
            classes = ["0" if options.positive is None else f"not {positive}", positive]
        self.decoder = LabelDecoder(
            self.kind, classes, self.headers, options.positive, options.ignore_label
        )

    def _open(self, path: str | Source, key: str | None, role: str) -> Source:
        if isinstance(path, Source):  # a table in memory (cecli.readers.table), opened already
            return path
        o = self.options
        return open_source(
            path,
            fmt=o.input_format,
            header=o.header,
            key=key,
            key_role=role,
            chunk_bytes=o.chunk_bytes,
            storage_options=o.storage_options,
        )

    # -- the layout ------------------------------------------------------------------

    @property
    def classes(self) -> list[str]:
        return self.decoder.classes

    @property
    def ignore_index(self) -> int | None:
        """The core's ``ignore_index`` for ``--ignore-label`` (the target its rows get), or None."""
        return self.decoder.ignore_index

    @property
    def ignore_label(self) -> str | None:
        """``--ignore-label`` as the rows spell it, for reports."""
        return self.decoder.ignore

    @property
    def n_rows(self) -> int | None:
        return self.pred_source.n_rows

    def describe(self) -> dict[str, object]:
        """What was read, for reports: files, columns and kind."""
        plan = self._plan
        return (
            {
                "predictions": self.pred_source.display,
                "labels": (self.label_source or self.pred_source).display,
                "prediction_columns": [f.name for f in plan.pred_fields],
                "label_columns": [f.name for f in plan.label_fields],
                "id_column": None if plan.id_col is None else plan.id_col[1],
                "weight_column": None if plan.weight_col is None else plan.weight_col[1],
                "ignored_columns": plan.ignored,
            }
            | ({"slice_columns": [c[1] for c in plan.slice_cols]} if plan.slice_cols else {})
            | ({"show_columns": self.show_names} if plan.show_cols else {})
            | ({} if self.options.ignore_label is None else {"ignore_label": self.ignore_label})
            | (self._shards_described())
        )

    def _shards_described(self) -> dict[str, object]:
        """For a sharded input, each shard (path, first row, rows); nothing for single files."""
        out: dict[str, object] = {}
        if isinstance(self.pred_source, ShardedSource):
            out["prediction_shards"] = self.pred_source.shards.describe()
        if isinstance(self.label_source, ShardedSource) and self.label_source.display != (
            self.pred_source.display
        ):
            out["label_shards"] = self.label_source.shards.describe()
        return out

    @property
    def shard_map(self) -> ShardMap | None:
        """Which predictions shard each row is in, for a sharded input; None for one file."""
        source = self.pred_source
        return source.shards if isinstance(source, ShardedSource) else None

    def files(self) -> list[str]:
        """Every file read, shards one by one (standard input left out)."""
        out: list[str] = []
        for source, path in zip((self.pred_source, self.label_source), self.paths, strict=True):
            if isinstance(source, ShardedSource):
                out += [p for p in source.paths if p not in out]
            elif isinstance(path, str) and path != STDIN and path not in out:
                out.append(path)
        return out

    @property
    def show_names(self) -> list[str]:
        """The ``--show`` columns, as the files name them, in the order asked."""
        return [name for _, name in self._plan.show_cols]

    def slice_fields(self) -> list[tuple[Source, Field]]:
        """The ``--by`` columns: each one's file and field."""
        return [(source, source.field(name)) for source, name in self._plan.slice_cols]

    # -- reading ---------------------------------------------------------------------

    def rows_per_chunk(self) -> int:
        return max(1, self.options.chunk_bytes // max(1, 8 * self.n_classes))

    def batches(self) -> Iterator[Batch]:
        """Aligned batches of both inputs, in row order."""
        plan, preds = self._plan, self.pred_source
        labels = self.label_source or preds
        pred_columns = [f.name for f in plan.pred_fields]
        label_columns = [f.name for f in plan.label_fields]
        extra: dict[Source, list[str]] = {}
        for col in (plan.id_col, plan.weight_col, *plan.slice_cols, *plan.show_cols):
            if col is not None and col[1] not in extra.get(col[0], []):  # all may be in one file
                extra.setdefault(col[0], []).append(col[1])
        want_preds = pred_columns + (label_columns if labels is preds else [])
        want_preds += [c for c in extra.get(preds, []) if c not in want_preds]
        rows = self.rows_per_chunk()
        stacked = None if plan.pred_fields[0].kind == "matrix" else pred_columns
        if self.row_groups is not None:
            if labels is not preds or preds.row_groups is None:
                raise ValueError("row_groups reads one Parquet file that holds the labels too")
            frames = preds.frames(rows, want_preds, stacked=stacked, row_groups=self.row_groups)  # type: ignore[call-arg]
            pairs = ((frame, frame) for frame in frames)
        elif labels is preds:
            pairs = ((frame, frame) for frame in preds.frames(rows, want_preds, stacked=stacked))
        else:
            want_labels = label_columns + [
                c for c in extra.get(labels, []) if c not in label_columns
            ]
            if self._paired:  # two sets of shards, paired one by one
                pairs = shard_pairs(preds, labels, rows, want_preds, want_labels, stacked)
            else:
                pred_frames = preds.frames(rows, want_preds, stacked=stacked)
                pairs = _lockstep(preds, pred_frames, labels, labels.frames(rows, want_labels))
        for pred_frame, label_frame in pairs:
            yield self._batch(pred_frame, label_frame, labels)

    def _batch(self, pred_frame: Frame, label_frame: Frame, labels: Source) -> Batch:
        plan = self._plan
        first = pred_frame.first_row
        if plan.pred_fields[0].kind == "matrix":
            values = pred_frame.columns[plan.pred_fields[0].name]
        elif pred_frame.stacked is not None:
            values = pred_frame.stacked.T  # the reader stacked them (see below)
        else:
            # K x N, then its transpose: the core reads narrow arrays class by class,
            # and this layout costs one contiguous copy per column
            values = np.stack([pred_frame.columns[f.name] for f in plan.pred_fields]).T
        if self.kind == "binary":
            values = values.reshape(len(values))
        if len(plan.label_fields) == 1:
            raw = label_frame.columns[plan.label_fields[0].name]
        else:
            raw = np.column_stack([label_frame.columns[f.name] for f in plan.label_fields])
        try:
            targets = self.decoder.decode(raw, first)
        except CecliError as error:
            raise in_file(self.source_of("labels", first), error) from None
        frames = {self.pred_source: pred_frame, labels: label_frame}
        ids = weights = None
        if plan.id_col is not None:
            ids = _as_text(frames[plan.id_col[0]].columns[plan.id_col[1]])
        if plan.weight_col is not None:
            weights = frames[plan.weight_col[0]].columns[plan.weight_col[1]]
        slices = tuple(frames[src].columns[name] for src, name in plan.slice_cols) or None
        show = tuple(frames[src].columns[name] for src, name in plan.show_cols) or None
        return Batch(first, values, targets, ids, weights, slices, show)

    @property
    def read_again(self) -> bool:
        """Whether every source can be read again cheaply, the same (binary files on disk)."""
        return all(s.read_again for s in (self.pred_source, self.label_source) if s is not None)

    def reopen(self) -> Inputs:
        """The same inputs opened again, to read their rows another time."""
        return Inputs(*self.paths, self.options, row_groups=self.row_groups)

    def source_of(self, what: str, row: int | None = None) -> str:
        """The file a kind of problem comes from: "predictions", "labels" or "weights".

        With ``row`` (the first row of the chunk it is in), an input of many
        files names the shard too, and the global row its rows begin at.
        """
        source = self.pred_source
        if what == "weights" and self._plan.weight_col is not None:
            source = self._plan.weight_col[0]
        elif what == "labels":
            source = self.label_source or self.pred_source
        if row is None or not isinstance(source, ShardedSource):
            return source.display
        path, file_row = source.shards.file_of(row)
        start = row - file_row
        return f"{source.display}, shard {path} (its first row is row {start} of all)"

    def close(self) -> None:
        for source in (getattr(self, "pred_source", None), self.label_source):
            if source is not None:
                source.close()

    def __enter__(self) -> Inputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_text(values: np.ndarray) -> np.ndarray:
    """Ids as text; whole numbers without a trailing ``.0``."""
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if whole.all():
            return values.astype(np.int64).astype(str).astype(object)
    return values.astype(str).astype(object)


__all__ = ["Batch", "InputOptions", "Inputs", "display_name"]
