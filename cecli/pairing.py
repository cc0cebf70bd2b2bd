"""``cecli compare``'s run: score two models' inputs, line their rows up, compare them.

Each side is scored by :func:`cecli.pipeline.score_inputs`, keeping every
row's facts; the rows are lined up by position or by id, checked to have the
same labels and weights (:mod:`cecli.pairing_checks`), and passed to
:func:`cecli.compare.compare_rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from cecli.accumulate import Summary
from cecli.compare import Comparison, RowScores, compare_rows
from cecli.errors import InputError, OptionError
from cecli.folds import ScoreOptions
from cecli.inputs import Batch, Inputs
from cecli.losses import SampleScores
from cecli.pairing_checks import _join, _same_rows, _same_targets, _same_weights
from cecli.pipeline import score_inputs
from cecli.render.progress import Progress

if TYPE_CHECKING:
    # imported when --calibration asks: calibration's modules cost start-up time
    from cecli.compare_calibration import CalibrationComparison, CalibrationRows
    from cecli.shown import ShownValues
    from cecli.slices import SliceComparison, SliceSpec
    from cecli.spill import ShownSpill


@dataclass(frozen=True)
class CompareOptions:
    """The bootstrap's options, as ``cecli compare`` passes them."""

    n_resamples: int = 2000
    confidence: float = 0.95
    seed: int | None = 0
    method: str = "bca"
    #: Equal-width confidence bins of the calibration comparison, or None for none.
    calibration_bins: int | None = None


@dataclass(frozen=True)
class Side:
    """One model's rows, scored: the aggregate, and every row's facts, ids and targets."""

    summary: Summary
    rows: RowScores
    ids: np.ndarray | None
    #: One number per row that is equal for equal targets: the two sides' labels must agree.
    target_key: np.ndarray
    #: The targets each row's class weight depends on (None when there are no class weights).
    targets: np.ndarray | None
    #: The final class weights (balanced ones depend on every row), or None.
    class_weights: np.ndarray | None
    #: Each row's values of the --by columns (the baseline's, with --by), or None.
    slice_values: tuple[np.ndarray, ...] | None = None
    #: Every row's calibration facts, when asked for.
    calibration: CalibrationRows | None = None


@dataclass(frozen=True)
class Compared:
    baseline: Summary
    candidate: Summary
    comparison: Comparison
    #: Ids of the rows the comparison lists, by baseline row.
    ids: dict[int, str]
    #: Per slice, both models and the difference (with --by).
    slices: SliceComparison | None = None
    #: Both models' ECE and Brier score and their differences (with calibration_bins).
    calibration: CalibrationComparison | None = None
    #: The baseline's ``--show`` values of the rows the comparison lists, by baseline row.
    shown: dict[int, ShownValues] = field(default_factory=dict)


def target_key_mix(n_classes: int, order: np.ndarray | None) -> np.ndarray:
    """Random weights that turn a row of soft targets into one number (see :func:`target_key`).

    ``order`` maps the input's classes to another model's (see :func:`class_order`).

    Examples
    --------
    >>> target_key_mix(3, None).shape
    (3,)
    """
    mix = np.random.default_rng(20261123).random(max(1, n_classes))
    return mix if order is None else mix[order]  # column j is the other model's class order[j]


def target_key(
    targets: np.ndarray, mix: np.ndarray, order: np.ndarray | None, kind: str
) -> np.ndarray:
    """Each row's targets as one number, the same for both models when the labels agree.

    Class indices are mapped through ``order``; a row of soft (or multilabel)
    targets is mixed by ``mix`` (:func:`target_key_mix`). A value that is
    no class (the ``ignore_index`` of a row left out, -100) is kept as it is.

    Examples
    --------
    >>> order = np.array([1, 2, 0])
    >>> target_key(np.array([2, 0, -100]), target_key_mix(3, None), order, "categorical")
    array([   0.,    1., -100.])
    """
    t = np.asarray(targets)
    if t.ndim == 2:
        return t @ mix[: t.shape[1]]
    if order is not None and kind == "categorical":
        return class_mapped(order, t.astype(np.intp)).astype(np.float64)
    return t.astype(np.float64)


def class_mapped(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``order[values]`` for the values that are classes; any other value as it is.

    The rows ``ignore_index`` left out hold no class (-100 as a target, one
    past the last class as a label), and are never compared.

    Examples
    --------
    >>> class_mapped(np.array([2, 0, 1]), np.array([0, 3, -100, 2])).tolist()
    [2, 3, -100, 1]
    """
    inside = (values >= 0) & (values < len(order))
    return np.where(inside, order[np.where(inside, values, 0)], values)


def collect_side(
    inputs: Inputs,
    options: ScoreOptions,
    progress: Progress | None = None,
    order: np.ndarray | None = None,
    slices: bool = False,
    calibration: bool = False,
    shown: ShownSpill | None = None,
) -> Side:
    """Score every row of ``inputs`` and keep each row's facts (about 60 bytes a row).

    ``order`` maps the input's classes to another model's (see
    :func:`class_order`), so that the target keys of both can be compared.
    ``calibration`` keeps each row's calibration facts too (32 bytes a row).
    ``shown`` is given each chunk's ``--show`` columns, which go to disk: which
    rows are listed is known only once both models' rows are lined up.
    """
    parts: list[SampleScores] = []
    ids: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    sliced: list[tuple[np.ndarray, ...]] = []
    calibration_parts: list[CalibrationRows] = []
    weighted = options.class_weights is not None and inputs.kind != "multilabel"
    mix = target_key_mix(inputs.n_classes, order)

    def keep(batch: Batch, scores: SampleScores, columns: dict[str, np.ndarray]) -> None:
        parts.append(scores)
        if batch.ids is not None:
            ids.append(batch.ids)
        keys.append(target_key(batch.targets, mix, order, inputs.kind))
        if weighted:
            targets.append(np.asarray(batch.targets))
        if slices and batch.slices is not None:
            sliced.append(batch.slices)
        if shown is not None and batch.show is not None:
            shown.write(batch.first_row, batch.show)
        if calibration:
            calibration_parts.append(
                calibration_rows(inputs.kind, batch, scores, inputs.options.from_logits)
            )

    # the calibration facts need each row's Brier score: its EL2N squared
    options = replace(options, keep=0, el2n=options.el2n or calibration)
    scored = score_inputs(inputs, options, on_batch=keep, progress=progress)
    accumulator_weights = None
    if weighted:
        accumulator_weights = _final_class_weights(scored.summary)
    return Side(
        summary=scored.summary,
        rows=RowScores.concatenate(parts),
        ids=np.concatenate(ids) if ids else None,
        target_key=np.concatenate(keys) if keys else np.empty(0),
        targets=np.concatenate(targets) if targets else None,
        class_weights=accumulator_weights,
        slice_values=tuple(np.concatenate(parts) for parts in zip(*sliced, strict=True))
        if sliced
        else None,
        calibration=_concatenated(calibration_parts) if calibration else None,
    )


def _concatenated(parts: list[CalibrationRows]) -> CalibrationRows:
    from cecli.compare_calibration import CalibrationRows

    return CalibrationRows.concatenate(parts)


def calibration_rows(
    kind: str, batch: Batch, scores: SampleScores, from_logits: bool
) -> CalibrationRows:
    """One chunk's calibration facts, binned as ``cecli score --calibration`` bins them.

    Categorical: the top-1 confidence and whether it is right (soft targets:
    the target probability of the top-1 class); binary: the positive-class
    probability and the target. The Brier score is the EL2N score squared.
    """
    from cecli.compare_calibration import CalibrationRows

    assert scores.el2n is not None
    brier = np.square(scores.el2n)
    if kind == "categorical":
        confidence = scores.confidence
        if scores.targets is None:
            credit = scores.correct.astype(np.float64)
        else:
            credit = scores.targets[np.arange(len(confidence)), scores.predicted]
    else:
        x = np.asarray(batch.preds, dtype=np.float64).reshape(-1)
        if from_logits:
            with np.errstate(over="ignore"):  # exp(800) is inf, and 1 / (1 + inf) the 0 it is
                confidence = 1.0 / (1.0 + np.exp(-x))
        else:
            confidence = x
        credit = scores.label.astype(np.float64) if scores.targets is None else scores.targets[:, 1]
    return CalibrationRows(confidence, credit, brier, scores.weight)


def _final_class_weights(summary: Summary) -> np.ndarray | None:
    if summary.class_weights is None:
        return None
    return np.array(summary.class_weights, dtype=np.float64)


def _row_weights(side: Side, kind: str) -> np.ndarray:
    """Each row's whole weight in the mean loss: sample weight times class weight.

    A row ``ignore_index`` left out has no weight (NaN): it is never compared.
    """
    w = side.rows.weight
    if side.class_weights is None or side.targets is None:
        return w
    t, cw = side.targets, side.class_weights
    ignored = side.rows.ignored
    if ignored is not None:  # their targets are no class
        t = np.where(ignored if t.ndim == 1 else ignored[:, None], 0, t)
    if kind == "binary":
        row = cw[1] * t + cw[0] * (1.0 - t)
    elif t.ndim == 1:
        row = cw[t.astype(np.intp)]
    else:
        row = t @ cw
    return w * row


def class_order(baseline: Inputs, candidate: Inputs) -> np.ndarray | None:
    """Where each of the candidate's classes is among the baseline's; None if in the same order.

    Raises OptionError when the two do not score the same classes.
    """
    b, c = baseline.classes, candidate.classes
    b_file, c_file = baseline.pred_source.display, candidate.pred_source.display
    if baseline.n_classes != candidate.n_classes:
        # a missing column first: it is what makes the kinds differ, if they do
        b_cols = baseline.describe()["prediction_columns"]
        c_cols = candidate.describe()["prediction_columns"]
        missing = [x for x in b_cols if x not in c_cols]  # type: ignore[union-attr]
        extra = [x for x in c_cols if x not in b_cols]  # type: ignore[union-attr]
        detail = ""
        if missing or extra:
            detail = "; " + ", ".join(
                [f"{c_file} lacks {', '.join(map(repr, missing))}"] * bool(missing)
                + [f"{c_file} adds {', '.join(map(repr, extra))}"] * bool(extra)
            )
        raise OptionError(
            f"{b_file} has {baseline.n_classes} prediction columns and {c_file} has "
            f"{candidate.n_classes}{detail}. The two models must predict the same classes."
        )
    if baseline.kind != candidate.kind:
        raise OptionError(
            f"{b_file} is scored as {baseline.kind} and {c_file} as {candidate.kind}; compare "
            "models of the same kind (see --kind)."
        )
    if len(b) != len(c):
        raise OptionError(
            f"{b_file} has {len(b)} classes and {c_file} has {len(c)}; the two models must "
            "predict the same classes."
        )
    if b == c or _positional(b) or _positional(c):
        return None
    if sorted(b) != sorted(c):
        differ = [name for name in c if name not in b][:3]
        raise OptionError(
            f"{c_file} has classes {', '.join(map(repr, differ))} that {b_file} does not "
            f"({', '.join(map(repr, b[:8]))}{', ...' if len(b) > 8 else ''}); the two models "
            "must predict the same classes, with the same column names."
        )
    if baseline.kind == "binary":
        return None
    where = {name: i for i, name in enumerate(b)}
    return np.array([where[name] for name in c], dtype=np.intp)


def _positional(names: list[str]) -> bool:
    return names == [str(i) for i in range(len(names))]


def compare_inputs(
    baseline: Inputs,
    candidate: Inputs,
    options: ScoreOptions,
    compare: CompareOptions,
    *,
    join_on_ids: bool = False,
    shared_labels: bool = False,
    progress: Callable[[Inputs], Progress | None] | None = None,
    slices: tuple[SliceSpec, ...] = (),
    min_slice_rows: int = 30,
) -> Compared:
    """Score both inputs, line their rows up, and compare them.

    ``join_on_ids`` lines the rows up by their ids instead of their order;
    ``shared_labels`` says both sides read their labels from one LABELS file,
    which lines up with each side's rows by position. The baseline's ``--show``
    columns (:attr:`cecli.inputs.Inputs.show_names`), if any, are kept on disk
    until the rows listed are known (:class:`cecli.spill.ShownSpill`).
    """
    if not baseline.show_names:
        return _compared(baseline, candidate, options, compare, join_on_ids, shared_labels,
                         progress, slices, min_slice_rows, None)  # fmt: skip
    from cecli.spill import ShownSpill

    with ShownSpill() as spill:
        return _compared(baseline, candidate, options, compare, join_on_ids, shared_labels,
                         progress, slices, min_slice_rows, spill)  # fmt: skip


def _compared(
    baseline: Inputs,
    candidate: Inputs,
    options: ScoreOptions,
    compare: CompareOptions,
    join_on_ids: bool,
    shared_labels: bool,
    progress: Callable[[Inputs], Progress | None] | None,
    slices: tuple[SliceSpec, ...],
    min_slice_rows: int,
    spill: ShownSpill | None,
) -> Compared:
    from cecli.frame import resolved

    order = class_order(baseline, candidate)
    with_calibration = compare.calibration_bins is not None
    if with_calibration and baseline.kind == "multilabel":
        raise OptionError(
            "compare --calibration compares categorical and binary predictions; for multilabel "
            "ones, run cecli score --calibration on each model."
        )
    b = collect_side(
        baseline,
        resolved(options, baseline),
        None if progress is None else progress(baseline),
        slices=bool(slices),
        calibration=with_calibration,
        shown=spill,
    )
    c_options = options
    explicit = options.class_weights is not None and not isinstance(options.class_weights, str)
    if order is not None and explicit:  # weights given in the baseline's class order
        weights = np.asarray(options.class_weights, dtype=np.float64)[order]
        c_options = replace(options, class_weights=weights)
    c = collect_side(
        candidate,
        resolved(c_options, candidate),  # a class named by --ignore-label: its index here
        None if progress is None else progress(candidate),
        order,
        calibration=with_calibration,
    )
    b_file, c_file = baseline.pred_source.display, candidate.pred_source.display
    c_rows, c_key = c.rows, c.target_key
    if order is not None:  # the candidate's classes, in the baseline's order
        c_rows = _reorder_classes(c_rows, order, candidate.kind)
    if join_on_ids:
        position = _join(b.ids, b_file, c.ids, c_file)
        if shared_labels and not np.array_equal(position, np.arange(len(position))):
            row = int(np.flatnonzero(position != np.arange(len(position)))[0])
            raise InputError(
                c_file,
                f"row {int(position[row])} has id {b.ids[row]!r}, which is row {row} of "
                f"{b_file}: with a separate LABELS file, both prediction files must list the "
                "rows in the labels' order. Put each model's labels in its own file to join "
                "rows by id in any order.",
            )
        c_rows, c_key = c_rows.take(position), c_key[position]
        if c.calibration is not None:
            c = replace(c, calibration=c.calibration.take(position))
    else:
        _same_rows(b, b_file, c, c_file)
    _same_targets(b.target_key, b_file, c_key, c_file, b.ids)
    _same_weights(b.rows.weight, b_file, c_rows.weight, c_file, b.ids, b.rows.ignored)
    weight = _row_weights(b, baseline.kind)
    c_classes = c.summary.per_class
    if order is not None:
        c_classes = tuple(sorted(c_classes, key=lambda k: order[k.index]))
        c_classes = tuple(replace(k, index=int(order[k.index])) for k in c_classes)
    comparison = compare_rows(
        b.rows.with_weight(weight),
        c_rows.with_weight(weight),
        baseline_classes=b.summary.per_class,
        candidate_classes=c_classes,
        n_resamples=compare.n_resamples,
        confidence=compare.confidence,
        seed=compare.seed,
        method=compare.method,  # type: ignore[arg-type]
        keep=options.keep,
        top_k=options.top_k,
    )
    listed = (*comparison.regressions, *comparison.fixed, *comparison.largest_increases)
    listed_rows = {p.row for p in listed}
    ids = {} if b.ids is None else {row: str(b.ids[row]) for row in listed_rows}
    sliced = None
    if slices:
        from cecli.slices import compare_slices

        assert b.slice_values is not None
        weighted = b.summary.sample_weighted or options.class_weights is not None
        sliced = compare_slices(
            slices,
            b.slice_values,
            b.rows.loss,
            c_rows.loss,
            weight if weighted else None,
            min_rows=min_slice_rows,
            confidence=compare.confidence,
            ignored=b.rows.ignored,
            top_k=options.top_k,
            baseline_rank=b.rows.rank,
            candidate_rank=c_rows.rank,
        )
    calibration = None
    if b.calibration is not None and c.calibration is not None:
        from cecli.compare_calibration import compare_calibration

        b_calibration, c_calibration = b.calibration, c.calibration
        if b.rows.ignored is not None:  # the rows compared
            kept = np.flatnonzero(~b.rows.ignored)
            b_calibration, c_calibration = b_calibration.take(kept), c_calibration.take(kept)
        calibration = compare_calibration(
            b_calibration,
            c_calibration,
            n_bins=compare.calibration_bins,  # type: ignore[arg-type]
            n_resamples=compare.n_resamples,
            confidence=compare.confidence,
            seed=compare.seed,
            method=compare.method,  # type: ignore[arg-type]
        )
    shown = {} if spill is None else spill.values(listed_rows)
    return Compared(b.summary, c.summary, comparison, ids, sliced, calibration, shown)


def _reorder_classes(rows: RowScores, order: np.ndarray, kind: str) -> RowScores:
    predicted = rows.predicted if kind == "multilabel" else class_mapped(order, rows.predicted)
    return replace(rows, label=class_mapped(order, rows.label), predicted=predicted)
