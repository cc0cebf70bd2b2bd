"""Which columns of the inputs are the predictions, the labels, the ids, the weights.

:class:`InputLayout` is the part of :class:`cecli.inputs.Inputs` that
decides, from the opened sources' fields and the options, which column holds
what (a :class:`_Plan`), how many classes there are and what kind of loss
applies, with a clear error for every input that leaves it in doubt.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cecli.errors import OptionError
from cecli.labels import class_names
from cecli.readers import Field, Source

if TYPE_CHECKING:
    from cecli.inputs import InputOptions

#: Column names taken as the labels when no --label-col is given (case-insensitive).
LABEL_COLUMNS = ("label", "labels", "target", "y", "y_true", "class")
#: Column names taken as row ids when no --id-col is given: they are never predictions.
ID_COLUMNS = ("id", "sample_id", "index", "unnamed_0", "unnamed: 0")
#: Column names that look like weights: never silently taken as predictions.
WEIGHT_COLUMNS = ("weight", "weights", "sample_weight", "sample_weights")
KINDS = ("auto", "binary", "categorical", "multilabel")


@dataclass
class _Plan:
    """Which columns of which source hold what."""

    pred_fields: list[Field]
    label_fields: list[Field]
    id_col: tuple[Source, str] | None = None
    weight_col: tuple[Source, str] | None = None
    slice_cols: list[tuple[Source, str]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    #: The ``--show`` columns: carried into the listed rows, whatever else they are.
    show_cols: list[tuple[Source, str]] = field(default_factory=list)
    #: Columns read as nothing: ``{"file", "column", "reason"}`` each.
    ignored: list[dict[str, str]] = field(default_factory=list)


def _lower_map(fields: list[Field]) -> dict[str, str]:
    return {f.name.lower(): f.name for f in fields}


def _listing(fields: list[Field]) -> str:
    names = [repr(f.name) for f in fields]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


class InputLayout:
    """The columns' roles, decided once when the inputs are opened (a mixin of Inputs)."""

    options: InputOptions
    pred_source: Source
    label_source: Source | None
    _plan: _Plan
    n_classes: int

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
            # with --pred-cols, an id column is still the ids unless it is chosen as a prediction
            chosen = [c.strip() for c in (o.pred_cols or "").split(",") if c.strip()]
            named = any(fnmatch.fnmatchcase(auto or "", c) or (auto or "").lower() == c.lower()
                        for c in chosen)  # fmt: skip
            if auto is not None and not named:
                id_col = (preds, auto)
        weight_col = self._find(o.weight_col, "--weight-col", sources) if o.weight_col else None
        slice_cols = []
        for name in o.slice_cols:
            try:
                slice_cols.append(self._find(name, "--by", sources))
            except OptionError:
                if not o.slices_optional:  # compare's candidate: set aside only if there
                    raise
        for source, name in slice_cols:  # a missing value is a slice of its own, not an error
            source.nullable = source.nullable | {name}
        show_cols = self._show_columns(sources)
        # --show columns, and the columns set aside (compare's candidate: the baseline's
        # --show columns, if this file has them too), are never taken as predictions
        lower = _lower_map(preds.fields)
        set_aside = {name for source, name in show_cols if source is preds}
        set_aside |= {lower[n.lower()] for n in o.reserved_cols if n.lower() in lower}
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
                    if f.name not in reserved | set_aside and f.kind in ("number", "matrix")
                ]
                lower = _lower_map(numeric)
                named = [lower[n] for n in LABEL_COLUMNS if n in lower]
                if named:
                    raise preds.error(
                        f"has a column {named[0]!r} that looks like the labels, and the labels "
                        f"come from {self.label_source.display} too; choose the prediction "
                        "columns with --pred-cols, or leave out LABELS to use that column."
                    )

        # a --by or --show column is never taken as a prediction unless --pred-cols names it,
        # but may be the labels (--by label, --show label)
        reserved |= {name for source, name in slice_cols if source is preds} | set_aside
        pred_fields = self._prediction_fields(reserved, set_aside)
        if pred_fields[0].kind == "matrix":
            headers = [str(i) for i in range(pred_fields[0].width or 0)]
        elif not preds.named and len(pred_fields) > 1:
            headers = [str(i) for i in range(len(pred_fields))]
        else:
            headers = [f.name for f in pred_fields]
        plan = _Plan(pred_fields, label_fields, id_col, weight_col, slice_cols, headers)
        plan.show_cols = show_cols
        if self.label_source is not None:
            plan.label_fields = self._label_fields_in_file(plan)
        self._mark_shown_only(plan)
        plan.ignored = self._ignored(plan, sources)
        return plan

    def _show_columns(self, sources: list[Source]) -> list[tuple[Source, str]]:
        """The ``--show`` columns, found by name, each once, in the order asked.

        A column may be shown that is also the predictions (named in --pred-cols), the
        labels, the ids, the weights or a ``--by`` column; it is never taken as a
        prediction column otherwise, nor as the labels when another column may be.
        """
        names = self.options.show_cols
        if not names:
            return []
        named = [s for s in sources if s.named]
        if not named:
            files = " and ".join(s.display for s in sources)
            raise OptionError(
                f"--show {names[0]!r}: {files} has no named columns (NPY and NPZ arrays, and "
                "CSV without a header, have none); give the columns to show in a file with a "
                "header (CSV, TSV, Parquet, JSON Lines or Arrow), such as the LABELS file."
            )
        found = [self._find(name, "--show", named) for name in names]
        return list(dict.fromkeys(found))

    def _mark_shown_only(self, plan: _Plan) -> None:
        """Mark the ``--show`` columns used for nothing else: read as the file holds them.

        Such a column is never checked as data: its cells are shown as written (CSV) or
        as their type writes them, empty cells as missing (:attr:`Source.shown_only`).
        """
        kept = (plan.id_col, plan.weight_col, *plan.slice_cols)
        used = {(id(c[0]), c[1]) for c in kept if c is not None}
        used |= {(id(self.pred_source), f.name) for f in plan.pred_fields}
        labels = self.label_source or self.pred_source
        used |= {(id(labels), f.name) for f in plan.label_fields}
        for source, name in plan.show_cols:
            if (id(source), name) not in used:
                source.shown_only = source.shown_only | {name}

    def _ignored(self, plan: _Plan, sources: list[Source]) -> list[dict[str, str]]:
        """Every column that is read as nothing, and why: the report names them all."""
        kept = (plan.id_col, plan.weight_col, *plan.slice_cols, *plan.show_cols)
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

    def _prediction_fields(
        self, reserved: set[str], shown: set[str] | frozenset[str] = frozenset()
    ) -> list[Field]:
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
            numbers = [
                f for f in preds.fields if f.name in shown and f.kind in ("number", "matrix")
            ]
            hint = (
                f"; a --show column ({_listing(numbers)}) is not taken as predictions: name "
                "it in --pred-cols to score it too"
                if numbers
                else ""
            )
            raise preds.error(
                f"has no columns of numbers to score (its columns are "
                f"{_listing(preds.fields)}){hint}."
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
        sliced = {c[1] for c in (*plan.slice_cols, *plan.show_cols) if c[0] is labels}
        if len(candidates) > 1:  # a --by or --show column may be the labels, if nothing else is
            candidates = [f for f in candidates if f.name not in sliced] or candidates
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
