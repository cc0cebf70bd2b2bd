"""Checks of the core's inputs, and the messages that explain a failed check.

The kernels in :mod:`cecli._kernels` only say *whether* an array is valid;
when one is not, the functions here scan it again, find the offending rows and
raise a :class:`~cecli.errors.CecliError` that says what is wrong, where (row
and column, 0-based, numbered by ``row_offset`` when scoring a chunk of a larger
input: see :data:`RowNumbers`) and what to do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli._arrays import as_array
from cecli._naming import RowNumbers, numbered, padding_hint
from cecli.errors import (
    CecliWarning,
    EmptyInputError,
    LabelError,
    OptionError,
    ProbabilityError,
    ShapeError,
    WeightError,
    percent_hint,
)

#: Categorical probability rows (and soft target rows) must sum to 1 within this.
#: It admits probabilities saved with four decimals; a value above 1 by no more
#: than this is rounding too, and is clipped (and counted) like any other.
ROW_SUM_TOLERANCE = 1e-3

#: How many offending rows a message quotes.
_QUOTE = 3

LOGITS_HINT = (
    "If these are raw scores (logits), score them as logits "
    "(from_logits=True; --logits on the command line)."
)


def fmt(value: float) -> str:
    """A number as a person wants to read it in a message."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def _blocks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    step = max(1, (1 << 20) // max(1, 8 * n_cols))
    for lo in range(0, n_rows, step):
        yield lo, min(lo + step, n_rows)


def _where(row: int, col: int | None = None) -> str:
    return f"row {row}" if col is None else f"row {row}, column {col}"


def _quote_rows(rows: NDArray, values: NDArray, verb: str) -> str:
    quoted = ", ".join(
        f"row {r} {verb} {fmt(v)}" for r, v in zip(rows[:_QUOTE], values[:_QUOTE], strict=True)
    )
    return quoted + (", ..." if len(rows) > _QUOTE else "")


# --- options -----------------------------------------------------------------


def check_unit_interval(name: str, value: float, *, open_low: bool, open_high: bool) -> float:
    """``value`` as a float, or an :class:`OptionError` naming ``name`` and the interval."""
    value = float(value)

    def fits(v: float) -> bool:
        return (v > 0 if open_low else v >= 0) and (v < 1 if open_high else v <= 1)

    if not (math.isfinite(value) and fits(value)):
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        hint = percent_hint(value, fits)
        raise OptionError(f"must lie in {lo}, {hi}; got {fmt(value)}{hint}.", option=name)
    return value


def check_gamma(value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise OptionError(f"must be a finite number >= 0; got {fmt(value)}.", option="focal_gamma")
    return value


def resolve_eps(eps: float | str, dtype: np.dtype) -> float:
    """``"auto"`` is the machine epsilon of the predictions' float type, as in scikit-learn."""
    if isinstance(eps, str):
        if eps != "auto":
            raise OptionError(f'must be "auto" or a number in (0, 0.5); got {eps!r}.', option="eps")
        return float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)
    value = float(eps)
    if not (0 < value < 0.5):
        raise OptionError(
            f'must be "auto" or a number in (0, 0.5); got {fmt(value)}.', option="eps"
        )
    return value


#: Rows checked for logits that look like probabilities: enough to tell, cheap to check.
_SAMPLE_ROWS = 4096


def warn_if_probabilities(logits: NDArray, *, categorical: bool) -> None:
    """Warn when logits look like probabilities: softmax (or the sigmoid) would apply twice.

    Softmax of a row of probabilities is a well-known beginner's trap: it
    scores nonsense without an error. Rows that all lie in ``[0, 1]`` and
    (categorical) each sum to 1 are almost surely probabilities. Only the
    first rows are checked.
    """
    sample = logits[:_SAMPLE_ROWS].reshape(min(len(logits), _SAMPLE_ROWS), -1).astype(np.float64)
    if not sample.size or not (sample.min() >= 0.0 and sample.max() <= 1.0):
        return
    if categorical:
        if not (np.abs(sample.sum(axis=1) - 1.0) <= ROW_SUM_TOLERANCE).all():
            return
        what = "lies in [0, 1] and sums to 1"
        function = "softmax"
    else:
        what = "lies in [0, 1]"
        function = "the sigmoid"
    some = len(logits) > len(sample)
    if categorical:
        subject = f"each of the first {len(sample):,} rows" if some else "every row"
    else:
        subject = f"every value of the first {len(sample):,} rows" if some else "every value"
    warnings.warn(
        f"the predictions are scored as logits, but {subject} {what}: they look like "
        f"probabilities, and {function} would be applied to them a second time. If they "
        "are probabilities, leave out from_logits=True (--logits on the command line).",
        CecliWarning,
        stacklevel=4,
    )


# --- arrays ------------------------------------------------------------------


def as_float_array(values: ArrayLike, what: str) -> NDArray:
    """Numbers as a NumPy float array: float32 and float64 kept, float16 widened to float32
    (NumPy computes half floats poorly), ints and bools as float64. Every reader follows
    the same rule, so one array scores the same from every format."""
    array = as_array(values)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype.kind == "f":
        return array
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    raise ProbabilityError(
        f"{what} must be numbers; got an array of {array.dtype} "
        f"(for example {fmt_any(array.flat[0]) if array.size else 'nothing'})."
    )


def fmt_any(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_not_empty(n_rows: int, n_cols: int | None = None) -> None:
    if n_rows == 0:
        raise EmptyInputError("There are no samples to score (0 rows).")
    if n_cols == 0:
        raise EmptyInputError("The predictions have 0 columns; there must be at least one class.")


def check_same_rows(n_pred: int, n_other: int, other: str) -> None:
    if n_pred != n_other:
        raise ShapeError(
            f"The predictions have {n_pred} rows but the {other} have {n_other}; "
            "they must describe the same samples, one row each."
        )


def check_columns(n_pred_cols: int, n_target_cols: int, what: str = "targets") -> None:
    if n_pred_cols != n_target_cols:
        raise ShapeError(
            f"The predictions have {n_pred_cols} columns but the {what} have "
            f"{n_target_cols}; there must be one column per class, in the same order."
        )


def class_indices(y_true: NDArray, n_classes: int, row_offset: RowNumbers) -> NDArray[np.intp]:
    """Integer class indices in ``0..n_classes-1`` from ints, integral floats or booleans."""
    if y_true.dtype.kind == "b":
        labels = y_true.astype(np.intp)
    elif y_true.dtype.kind in "iu":
        labels = y_true.astype(np.intp, copy=False)
    elif y_true.dtype.kind == "f":
        bad = ~np.isfinite(y_true) | (y_true != np.round(y_true))
        if bad.any():
            rows = np.flatnonzero(bad)
            raise LabelError(
                "Labels must be whole class indices 0.."
                f"{n_classes - 1}; {_quote_rows(numbered(rows, row_offset), y_true[rows], 'has')}"
                f" ({len(rows)} such labels in all)."
            )
        labels = y_true.astype(np.intp)
    else:
        raise LabelError(
            f"Labels must be class indices 0..{n_classes - 1}; got values of type "
            f"{y_true.dtype} (for example {fmt_any(y_true.flat[0])}). To score class names, "
            "pass labels=[...], the classes in the order of the prediction columns (never "
            "sorted for you); the command line maps them itself."
        )
    out = (labels < 0) | (labels >= n_classes)
    if out.any():
        rows = np.flatnonzero(out)
        where = numbered(rows[0], row_offset)
        raise LabelError(
            f"Label {labels[rows[0]]} at row {where} is outside 0..{n_classes - 1} (the "
            f"predictions have {n_classes} classes); {len(rows)} labels in all are out of range"
            f"{padding_hint(labels[rows][labels[rows] < 0][:1])}. Check that the labels are "
            "0-based and the prediction columns are complete."
        )
    return labels


def one_hot_labels(targets: NDArray) -> NDArray[np.intp] | None:
    """Class indices if every row of ``targets`` is one-hot, else None."""
    if not ((targets == 0) | (targets == 1)).all():
        return None
    if not (targets.sum(axis=1) == 1).all():
        return None
    return np.argmax(targets, axis=1)


def check_soft_targets(targets: NDArray, row_offset: RowNumbers) -> None:
    """Soft targets: finite, non-negative, each row summing to 1 (within the tolerance)."""
    bad = ~np.isfinite(targets) | (targets < 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise LabelError(
            f"Target at {_where(numbered(rows[0], row_offset), cols[0])} is "
            f"{fmt(targets[rows[0], cols[0]])}; soft targets must be finite and "
            f"non-negative ({len(rows)} values in all are not)."
        )
    sums = targets.sum(axis=1)
    off = np.abs(sums - 1) > ROW_SUM_TOLERANCE
    if off.any():
        rows = np.flatnonzero(off)
        raise LabelError(
            f"{len(rows)} target rows do not sum to 1 (within {ROW_SUM_TOLERANCE:g}): "
            f"{_quote_rows(numbered(rows, row_offset), sums[rows], 'sums to')}. Soft targets are "
            "probability distributions over the classes; for several true labels per row, "
            "use multilabel_cross_entropy (--kind multilabel)."
        )


def binary_targets(y_true: NDArray, row_offset: RowNumbers) -> NDArray[np.float64]:
    """Binary or multilabel targets as float64 in [0, 1]: booleans, 0/1, or soft probabilities."""
    if y_true.dtype.kind == "b":
        return y_true.astype(np.float64)
    if y_true.dtype.kind not in "iuf":
        raise LabelError(
            f"Binary targets must be 0 or 1 (or booleans); got values of type {y_true.dtype} "
            f"(for example {fmt_any(y_true.flat[0])}). Name the positive class with "
            "pos_label= (--positive NAME on the command line)."
        )
    targets = y_true.astype(np.float64)
    if y_true.dtype.kind == "f":
        bad = ~np.isfinite(targets) | (targets < 0) | (targets > 1)
        allowed = "0 or 1 (or, for soft targets, probabilities in [0, 1])"
    else:
        bad = (targets != 0) & (targets != 1)
        allowed = "0 or 1"
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = _where(numbered(first[0], row_offset), first[1] if len(first) > 1 else None)
        hint = (
            " For more than two classes, use categorical_cross_entropy (--kind categorical)."
            if y_true.ndim == 1
            else ""
        )
        negative = targets[bad & (targets < 0)][:1]
        if (targets == -1).any():
            hint = " For targets such as {-1, 1}, name the positive class (pos_label=1)." + hint
            if (targets[bad] == -1).all():
                negative = negative[:0]  # {-1, 1} targets, not padding
        raise LabelError(
            f"Target at {where} is {fmt(targets[first])}{padding_hint(negative)}; binary "
            f"targets must be {allowed} ({int(bad.sum())} targets in all are not).{hint}"
        )
    return targets


# --- predictions: explain a failed kernel check --------------------------------


def raise_bad_probabilities(
    probs: NDArray, row_offset: RowNumbers, *, categorical: bool
) -> NoReturn:
    """Find and explain what is wrong with ``probs``; always raises."""
    probs2 = probs.reshape(len(probs), -1)
    n_bad = 0
    first: tuple[int, int, float] | None = None
    high_limit = 1 + ROW_SUM_TOLERANCE if categorical else 1.0
    for lo, hi in _blocks(*probs2.shape):
        block = probs2[lo:hi].astype(np.float64)
        bad = ~(block >= 0) | ~(block <= high_limit)
        if bad.any():
            n_bad += int(bad.sum())
            if first is None:
                r, c = np.argwhere(bad)[0]
                first = (lo + int(r), int(c), float(block[r, c]))
    if first is not None:
        row, col, value = first
        where = _where(numbered(row, row_offset), col if categorical or probs.ndim > 1 else None)
        if math.isnan(value):
            problem = f"{where} is NaN"
        else:
            problem = f"{where} is {fmt(value)}, outside [0, 1]"
        more = f" ({n_bad} values in all are NaN or outside [0, 1])" if n_bad > 1 else ""
        # logits are never NaN either: for a NaN, the fix is upstream, not --logits
        hint = (
            "A NaN is a missing prediction: fix or drop the row where the model wrote it."
            if math.isnan(value)
            else LOGITS_HINT
        )
        raise ProbabilityError(f"Probability at {problem}{more}. {hint}")
    if categorical:
        off_rows: list[NDArray] = []
        off_sums: list[NDArray] = []
        for lo, hi in _blocks(*probs2.shape):
            sums = probs2[lo:hi].astype(np.float64).sum(axis=1)
            off = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
            off_rows.append(off + lo)
            off_sums.append(sums[off])
        rows = np.concatenate(off_rows)
        if rows.size:
            sums = np.concatenate(off_sums)
            # every value is in [0, 1] here: independent per-label probabilities (a sigmoid
            # per column) are likelier than logits, and more so when some rows sum past 1
            multilabel = (
                "If each column is the probability of its own label (independent, as a "
                "sigmoid per label gives), score them as multilabel (kind='multilabel'; "
                "--kind multilabel on the command line)."
            )
            hints = [LOGITS_HINT, multilabel]
            if (sums > 1 + 0.1).any():
                hints.reverse()
            raise ProbabilityError(
                f"{len(rows)} rows of probabilities do not sum to 1 (within "
                f"{ROW_SUM_TOLERANCE:g}): "
                f"{_quote_rows(numbered(rows, row_offset), sums, 'sums to')}. "
                f"{' '.join(hints)} If they are unnormalised probabilities, divide each row by "
                "its sum."
            )
    raise AssertionError("raise_bad_probabilities found nothing wrong")  # pragma: no cover


def raise_bad_logits(
    logits: NDArray, row_offset: RowNumbers, used: Callable[[int, int], NDArray[np.bool_]]
) -> NoReturn:
    """Find and explain what is wrong with ``logits``; always raises.

    ``used(lo, hi)`` marks, for rows ``lo:hi``, the cells where the loss needs
    a logit above -inf (the true class; every class under label smoothing).
    """
    z = logits.reshape(len(logits), -1)
    for lo, hi in _blocks(*z.shape):
        block = z[lo:hi]
        bad = np.isnan(block) | np.isposinf(block)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            where = _where(numbered(lo + int(r), row_offset), int(c) if z.shape[1] > 1 else None)
            raise ProbabilityError(
                f"Logit at {where} "
                f"is {fmt(block[r, c])}; logits must be numbers (-inf is allowed for a masked "
                "class, never NaN or +inf)."
            )
        all_masked = np.isneginf(block).all(axis=1)
        if all_masked.any():
            r = int(np.flatnonzero(all_masked)[0])
            raise ProbabilityError(
                f"Row {numbered(lo + r, row_offset)} has every logit -inf; "
                "at least one class must be possible."
            )
        infinite = np.isneginf(block) & used(lo, hi)
        if infinite.any():
            r, c = np.argwhere(infinite)[0]
            raise ProbabilityError(
                f"Row {numbered(lo + int(r), row_offset)}: class {int(c)} has logit -inf "
                "(masked) but a non-zero target, so the loss is infinite. Unmask the class, or "
                "drop the row."
            )
    raise AssertionError("raise_bad_logits found nothing wrong")  # pragma: no cover


def raise_nonfinite_binary_logits(logits: NDArray, row_offset: RowNumbers) -> NoReturn:
    bad = ~np.isfinite(logits)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = _where(numbered(first[0], row_offset), first[1] if len(first) > 1 else None)
    raise ProbabilityError(
        f"Logit at {where} is {fmt(logits[first])}; binary and multilabel logits must be "
        f"finite numbers ({int(bad.sum())} values in all are not)."
    )


# --- weights -------------------------------------------------------------------


def sample_weight_array(
    sample_weights: ArrayLike, n_rows: int, row_offset: RowNumbers
) -> NDArray[np.float64]:
    weights = as_array(sample_weights)
    if weights.dtype.kind not in "biuf":
        raise WeightError(f"sample_weights must be numbers; got values of type {weights.dtype}.")
    weights = weights.astype(np.float64).reshape(-1)
    if len(weights) != n_rows:
        raise ShapeError(
            f"sample_weights has {len(weights)} values but there are {n_rows} samples; "
            "give one weight per sample."
        )
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise WeightError(
            f"Sample weights must be finite and non-negative; "
            f"{_quote_rows(numbered(rows, row_offset), weights[rows], 'has')} ({len(rows)} in all)."
        )
    return weights


def class_weight_array(
    class_weights: ArrayLike, n_classes: int, what: str = "class", option: str = "class_weights"
) -> NDArray[np.float64]:
    """One finite, non-negative weight per class (or label); errors name ``option``."""
    weights = as_array(class_weights)
    if weights.dtype.kind not in "biuf" or weights.ndim != 1:
        raise WeightError(
            f'must be a list of numbers, one per {what}, or "balanced"; '
            f"got {fmt_any(class_weights)}.",
            option=option,
        )
    weights = weights.astype(np.float64)
    plural = "classes" if what == "class" else f"{what}s"
    if len(weights) != n_classes:
        raise WeightError(
            f"has {len(weights)} {what} weights but there are {n_classes} {plural}; "
            f"give one weight per {what}, in column order.",
            option=option,
        )
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise WeightError(
            f"gives {what} {index} the weight {fmt(weights[index])}; weights must be finite "
            "and non-negative.",
            option=option,
        )
    return weights


def raise_zero_total_weight(weighted_by: str, option: str | None = None) -> NoReturn:
    if option is not None:  # the option's weights alone
        raise WeightError(
            "sum to zero over the rows present, so there is nothing to average: "
            "give some of the classes present a positive weight.",
            option=option,
        )
    raise WeightError(
        f"The {weighted_by} sum to zero over the rows present, so there is nothing to average: "
        "give some of the classes (or samples) present a positive weight."
    )
