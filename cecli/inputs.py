"""From one or two files to aligned chunks of predictions and targets.

:func:`open_inputs` opens the predictions (and the labels, if they are in a
file of their own), decides which columns are the predictions, the labels,
the ids and the weights, and what kind of loss applies. :meth:`Inputs.batches`
then reads both files in lockstep, a chunk at a time (about ``chunk_bytes``
of predictions), and yields :class:`Batch` objects that the core scores. No
chunk holds more than its share of the file, so a file of any size is scored
in bounded memory.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cecli.align import _lockstep, _mismatch
from cecli.errors import CecliError, OptionError, in_file
from cecli.labels import LabelDecoder, class_names
from cecli.readers import STDIN, Field, Frame, Source, display_name, open_source

#: Column names taken as the labels when no --label-col is given (case-insensitive).
LABEL_COLUMNS = ("label", "labels", "target", "y", "y_true", "class")
#: Column names taken as row ids when no --id-col is given: they are never predictions.
ID_COLUMNS = ("id", "sample_id", "index", "unnamed_0", "unnamed: 0")
#: Column names that look like weights: never silently taken as predictions.
WEIGHT_COLUMNS = ("weight", "weights", "sample_weight", "sample_weights")
KINDS = ("auto", "binary", "categorical", "multilabel")


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
    #: Columns whose values slice the rows (``--by``), in either file.
    slice_cols: tuple[str, ...] = ()
    #: Whether a --by column may be missing (compare's candidate reads the baseline's).
    slices_optional: bool = False


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

    @property
    def n_rows(self) -> int:
        return len(self.preds)


@dataclass
class _Plan:
    """Which columns of which source hold what."""

    pred_fields: list[Field]
    label_fields: list[Field]
    id_col: tuple[Source, str] | None = None
    weight_col: tuple[Source, str] | None = None
    slice_cols: list[tuple[Source, str]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    #: Columns read as nothing: ``{"file", "column", "reason"}`` each.
    ignored: list[dict[str, str]] = field(default_factory=list)


def _lower_map(fields: list[Field]) -> dict[str, str]:
    return {f.name.lower(): f.name for f in fields}


def _listing(fields: list[Field]) -> str:
    names = [repr(f.name) for f in fields]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


class Inputs:
    """The opened inputs: what they hold, and their rows as batches. Use as a context manager."""

    def __init__(self, predictions: str, labels: str | None, options: InputOptions) -> None:
        self.label_source: Source | None = None
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
        elif self.pred_source.archive:
            # the NPZ reader (and zipfile, mmap) loads only for an NPZ input
            from cecli.readers.npy import NpzSource

            self.label_source = NpzSource(predictions, key=options.label_key, role="labels")
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
        self.decoder = LabelDecoder(self.kind, classes, self.headers, options.positive)

    def _open(self, path: str, key: str | None, role: str) -> Source:
        o = self.options
        return open_source(
            path,
            fmt=o.input_format,
            header=o.header,
            key=key,
            key_role=role,
            chunk_bytes=o.chunk_bytes,
        )

    # -- the layout ------------------------------------------------------------------

    @property
    def classes(self) -> list[str]:
        return self.decoder.classes

    @property
    def n_rows(self) -> int | None:
        return self.pred_source.n_rows

    def _find(self, name: str, option: str, sources: list[Source]) -> tuple[Source, str]:
        for source in sources:
            if any(f.name == name for f in source.fields):
                return source, name
        for source in sources:
            lower = _lower_map(source.fields)
            if name.lower() in lower:
                return source, lower[name.lower()]
        where = " or ".join(s.display for s in sources)
        columns = "; ".join(f"{s.display} has {_listing(s.fields)}" for s in sources)
        raise OptionError(f"{option} {name!r}: no such column in {where} ({columns}).")

    def _layout(self) -> _Plan:
        o = self.options
        preds = self.pred_source
        sources = [preds] + ([self.label_source] if self.label_source is not None else [])
        reserved: set[str] = set()
        id_col = self._find(o.id_col, "--id-col", sources) if o.id_col else None
        if id_col is None:
            lower = _lower_map(preds.fields)
            auto = next((lower[n] for n in ID_COLUMNS if n in lower), None)
            if auto is not None and o.pred_cols is None:
                id_col = (preds, auto)
        weight_col = self._find(o.weight_col, "--weight-col", sources) if o.weight_col else None
        slice_cols = []
        for name in o.slice_cols:
            try:
                slice_cols.append(self._find(name, "--by", sources))
            except OptionError:
                if not o.slices_optional:  # compare's candidate: set aside only if there
                    raise
        for col in (id_col, weight_col):
            if col is not None and col[0] is preds:
                reserved.add(col[1])
        if weight_col is not None and weight_col[0].field(weight_col[1]).kind != "number":
            source, name = weight_col
            raise source.not_numbers_error(source.field(name), "sample weights")

        # labels: a column of the predictions file, or the labels file
        if self.label_source is None:
            label_fields = [self._label_column_in_predictions(reserved)]
            reserved.add(label_fields[0].name)
        else:
            label_fields = []  # chosen once the prediction columns are known
            if not o.pred_cols:
                numeric = [
                    f
                    for f in preds.fields
                    if f.name not in reserved and f.kind in ("number", "matrix")
                ]
                lower = _lower_map(numeric)
                named = [lower[n] for n in LABEL_COLUMNS if n in lower]
                if named:
                    raise preds.error(
                        f"has a column {named[0]!r} that looks like the labels, and the labels "
                        f"come from {self.label_source.display} too; choose the prediction "
                        "columns with --pred-cols, or leave out LABELS to use that column."
                    )

        # a --by column is never a prediction, but may be the labels (--by label)
        reserved |= {name for source, name in slice_cols if source is preds}
        pred_fields = self._prediction_fields(reserved)
        if pred_fields[0].kind == "matrix":
            headers = [str(i) for i in range(pred_fields[0].width or 0)]
        elif not preds.named and len(pred_fields) > 1:
            headers = [str(i) for i in range(len(pred_fields))]
        else:
            headers = [f.name for f in pred_fields]
        plan = _Plan(pred_fields, label_fields, id_col, weight_col, slice_cols, headers)
        if self.label_source is not None:
            plan.label_fields = self._label_fields_in_file(plan)
        plan.ignored = self._ignored(plan, sources)
        return plan

    def _ignored(self, plan: _Plan, sources: list[Source]) -> list[dict[str, str]]:
        """Every column that is read as nothing, and why: the report names them all."""
        kept = (plan.id_col, plan.weight_col, *plan.slice_cols)
        used = {(id(c[0]), c[1]) for c in kept if c is not None}
        used |= {(id(self.pred_source), f.name) for f in plan.pred_fields}
        labels = self.label_source or self.pred_source
        used |= {(id(labels), f.name) for f in plan.label_fields}
        ignored = []
        for source in sources:
            for f in source.fields:
                if (id(source), f.name) in used:
                    continue
                if f.kind == "string":
                    reason = "text"
                elif f.kind == "bool":
                    reason = "true/false values"
                elif source is self.pred_source and self.options.pred_cols:
                    reason = "not in --pred-cols"
                elif f.name.lower() in ID_COLUMNS:
                    reason = "an id column"
                else:
                    reason = "not the labels"
                ignored.append({"file": source.display, "column": f.name, "reason": reason})
        return ignored

    def _label_column_in_predictions(self, reserved: set[str]) -> Field:
        preds, o = self.pred_source, self.options
        if o.label_col:
            return preds.field(self._find(o.label_col, "--label-col", [preds])[1])
        lower = _lower_map([f for f in preds.fields if f.name not in reserved])
        found = [lower[n] for n in LABEL_COLUMNS if n in lower]
        if len(found) > 1:
            raise preds.error(
                f"has several columns that could be the labels ({', '.join(map(repr, found))}); "
                "say which with --label-col NAME."
            )
        if not found:
            raise preds.error(
                f"has no label column (its columns are {_listing(preds.fields)}). Give the "
                "labels as a second file (cecli score PREDICTIONS LABELS), or name the column "
                "with --label-col NAME."
            )
        return preds.field(found[0])

    def _prediction_fields(self, reserved: set[str]) -> list[Field]:
        preds, o = self.pred_source, self.options
        if o.pred_cols:
            chosen: list[Field] = []
            for pattern in (p.strip() for p in o.pred_cols.split(",")):
                if not pattern:
                    continue
                if any(ch in pattern for ch in "*?["):
                    matched = [f for f in preds.fields if fnmatch.fnmatchcase(f.name, pattern)]
                    if not matched:
                        raise OptionError(
                            f"--pred-cols {pattern!r} matches no column of {preds.display} "
                            f"(its columns are {_listing(preds.fields)})."
                        )
                else:
                    matched = [preds.field(self._find(pattern, "--pred-cols", [preds])[1])]
                chosen += [f for f in matched if f not in chosen]
            for f in chosen:
                if f.kind not in ("number", "matrix"):
                    raise preds.not_numbers_error(f)
            if any(f.kind == "matrix" for f in chosen) and len(chosen) > 1:
                raise OptionError(
                    "--pred-cols: a column of lists holds every prediction of a row; give it alone."
                )
            return chosen
        candidates = [
            f for f in preds.fields if f.name not in reserved and f.kind in ("number", "matrix")
        ]
        # a column of numbers with a bad cell is an error, never a column left out: leaving
        # it out would change the kind or the number of classes without a word
        mixed = [f for f in preds.fields if f.name not in reserved and f.mostly_numbers]
        if mixed and not any(f.kind == "matrix" for f in candidates):
            raise preds.not_numbers_error(mixed[0])
        matrices = [f for f in candidates if f.kind == "matrix"]
        if len(matrices) == 1:
            return matrices
        if len(matrices) > 1:
            raise preds.error(
                f"has several columns of lists ({_listing(matrices)}); say which holds the "
                "predictions with --pred-cols NAME."
            )
        weighty = [f for f in candidates if f.name.lower() in WEIGHT_COLUMNS]
        if weighty:
            raise preds.error(
                f"has a column {weighty[0].name!r} that looks like sample weights; use it "
                f"with --weight-col {weighty[0].name}, or choose the prediction columns "
                "with --pred-cols."
            )
        if not candidates:
            raise preds.error(
                f"has no columns of numbers to score (its columns are {_listing(preds.fields)})."
            )
        return candidates

    def _label_fields_in_file(self, plan: _Plan) -> list[Field]:
        labels, o = self.label_source, self.options
        assert labels is not None
        if o.label_col:
            return [labels.field(self._find(o.label_col, "--label-col", [labels])[1])]
        skip = {c[1] for c in (plan.id_col, plan.weight_col) if c is not None and c[0] is labels}
        lower_ids = _lower_map(labels.fields)
        skip |= {lower_ids[n] for n in ID_COLUMNS if n in lower_ids}
        candidates = [f for f in labels.fields if f.name not in skip]
        sliced = {c[1] for c in plan.slice_cols if c[0] is labels}
        if len(candidates) > 1:  # a --by column may be the labels, when nothing else is
            candidates = [f for f in candidates if f.name not in sliced]
        if len(candidates) == 1:
            return candidates
        lower = _lower_map(candidates)
        named = [lower[n] for n in LABEL_COLUMNS if n in lower]
        if len(named) == 1:
            return [labels.field(named[0])]
        # a whole row of targets: one column per class, matched by name (or by position)
        k = len(plan.headers)
        numeric = [f for f in candidates if f.kind in ("number", "bool")]
        if len(numeric) == k and k > 1:
            if labels.named and self.pred_source.named:
                by_name = {f.name: f for f in numeric}
                stripped = dict(zip(class_names(plan.headers), plan.headers, strict=True))
                ordered = []
                for header, short in zip(plan.headers, stripped, strict=True):
                    f = by_name.get(header) or by_name.get(short)
                    if f is None:
                        raise labels.error(
                            f"its {k} columns ({_listing(numeric)}) do not match the prediction "
                            f"columns by name ({', '.join(map(repr, plan.headers))}); name them "
                            "alike, or give the label column with --label-col."
                        )
                    ordered.append(f)
                return ordered
            return numeric
        raise labels.error(
            f"has several columns ({_listing(labels.fields)}) and none is clearly the labels; "
            "name it with --label-col NAME (or give one column per class, matching the "
            f"{k} prediction columns)."
        )

    def _n_columns(self) -> int:
        fields = self._plan.pred_fields
        return (fields[0].width or 0) if fields[0].kind == "matrix" else len(fields)

    def _kind(self) -> str:
        k, kind = self.n_classes, self.options.kind
        labels = self._plan.label_fields
        label_width = labels[0].width if labels[0].kind == "matrix" else len(labels)
        if kind == "auto":
            kind = "binary" if k == 1 else "categorical"
        if kind == "categorical" and k < 2:
            raise OptionError(
                "Categorical scoring needs two or more prediction columns, one per class; "
                f"{self.pred_source.display} has one. Score it as binary (--kind binary)."
            )
        if kind == "binary" and k != 1:
            raise OptionError(
                f"Binary scoring needs one prediction column (the positive class's probability "
                f"or logit); {self.pred_source.display} has {k}. Choose it with --pred-cols, or "
                "score all columns as categorical."
            )
        if kind == "multilabel" and label_width != k:
            source = self.label_source or self.pred_source
            raise source.error(
                f"multilabel scoring needs one label column per prediction column ({k}); "
                f"found {label_width}."
            )
        if label_width not in (1, k):
            source = self.label_source or self.pred_source
            raise source.error(
                f"the labels have {label_width} columns per row but there are {k} classes."
            )
        return kind

    def describe(self) -> dict[str, object]:
        """What was read, for reports: files, columns and kind."""
        plan = self._plan
        return {
            "predictions": self.pred_source.display,
            "labels": (self.label_source or self.pred_source).display,
            "prediction_columns": [f.name for f in plan.pred_fields],
            "label_columns": [f.name for f in plan.label_fields],
            "id_column": None if plan.id_col is None else plan.id_col[1],
            "weight_column": None if plan.weight_col is None else plan.weight_col[1],
            "ignored_columns": plan.ignored,
        } | ({"slice_columns": [c[1] for c in plan.slice_cols]} if plan.slice_cols else {})

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
        for col in (plan.id_col, plan.weight_col, *plan.slice_cols):
            if col is not None and col[1] not in extra.get(col[0], []):  # all may be in one file
                extra.setdefault(col[0], []).append(col[1])
        want_preds = pred_columns + (label_columns if labels is preds else [])
        want_preds += [c for c in extra.get(preds, []) if c not in want_preds]
        rows = self.rows_per_chunk()
        stacked = None if plan.pred_fields[0].kind == "matrix" else pred_columns
        pred_frames = preds.frames(rows, want_preds, stacked=stacked)
        if labels is preds:
            pairs = ((frame, frame) for frame in pred_frames)
        else:
            want_labels = label_columns + [
                c for c in extra.get(labels, []) if c not in label_columns
            ]
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
            raise in_file(labels.display, error) from None
        frames = {self.pred_source: pred_frame, labels: label_frame}
        ids = weights = None
        if plan.id_col is not None:
            ids = _as_text(frames[plan.id_col[0]].columns[plan.id_col[1]])
        if plan.weight_col is not None:
            weights = frames[plan.weight_col[0]].columns[plan.weight_col[1]]
        slices = tuple(frames[src].columns[name] for src, name in plan.slice_cols) or None
        return Batch(first, values, targets, ids, weights, slices)

    @property
    def read_again(self) -> bool:
        """Whether every source can be read again cheaply, the same (binary files on disk)."""
        return all(s.read_again for s in (self.pred_source, self.label_source) if s is not None)

    def reopen(self) -> Inputs:
        """The same inputs opened again, to read their rows another time."""
        return Inputs(*self.paths, self.options)

    def source_of(self, what: str) -> str:
        """The file a kind of problem comes from: "predictions", "labels" or "weights"."""
        if what == "weights" and self._plan.weight_col is not None:
            return self._plan.weight_col[0].display
        if what == "labels":
            return (self.label_source or self.pred_source).display
        return self.pred_source.display

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
