"""Two models on the same rows: is the candidate better, worse, or the same?

:func:`compare_rows` takes the per-row scores of a baseline and a candidate,
already lined up row by row, and returns a :class:`Comparison`: the paired
difference of their mean losses with a bootstrap confidence interval (see
:mod:`cecli.bootstrap`), a verdict, the accuracy of each, and the rows where
one is confidently wrong and the other right. Pure NumPy: no files, no printing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from cecli.accumulate import ClassSummary
from cecli.bootstrap import MIN_ROWS, BootstrapResult, Method, count_bootstrap, paired_bootstrap
from cecli.errors import OptionError, ShapeError, ValueRangeError
from cecli.paired_rows import (
    RowPair,
    RowScores,
    kept_rows,
    largest_increases,
    listed_pairs,
    top_k_accuracy,
)

__all__ = ["ClassDelta", "Comparison", "RowPair", "RowScores", "compare_rows", "verdict_of"]

VERDICTS = ("better", "worse", "no_difference", "insufficient_data")
#: Two losses this many float64 ulps of the larger apart are the same up to rounding: a
#: loss is computed to a few ulps, and the difference of two adds their errors.
ROUNDING_ULPS = 16


@dataclass(frozen=True)
class ClassDelta:
    """One class (multilabel: one label): the mean loss of each model and the difference."""

    index: int
    count: int
    baseline_loss: float | None
    candidate_loss: float | None

    @property
    def delta(self) -> float | None:
        if self.baseline_loss is None or self.candidate_loss is None:
            return None
        return self.candidate_loss - self.baseline_loss


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_rows` found.

    ``delta_mean_loss`` is the candidate's mean loss minus the baseline's,
    over the same rows with the same weights, and ``ci_low``, ``ci_high`` its
    interval at ``confidence``. ``p_better`` is the fraction of bootstrap
    resamples in which the candidate's mean loss is lower. ``verdict`` is
    "worse" when the whole interval lies above 0, "better" when it lies below,
    and "no_difference" otherwise. ``rows_better`` and ``rows_worse`` are the
    fractions of rows where the candidate's loss is lower or higher.
    "insufficient_data" when the rows cannot give an interval (see
    :func:`insufficient_data`): ``verdict_reason`` then says why, and
    ``ci_low``, ``ci_high`` and ``p_better`` are NaN (``bootstrap`` keeps what
    the resampling gave). ``regressions`` are the rows the candidate gets
    confidently wrong and the baseline right, largest loss increase first; ``fixed`` the reverse,
    largest decrease first. ``largest_increases`` are the rows whose loss rose
    the most, whether either model is right or not: a few of them can outweigh
    many small improvements. Each holds at most ``keep`` rows; the counts
    count them all.
    """

    n_samples: int
    delta_mean_loss: float
    ci_low: float
    ci_high: float
    confidence: float
    p_better: float
    verdict: str
    bootstrap: BootstrapResult
    baseline_accuracy: float
    candidate_accuracy: float
    rows_better: float
    rows_worse: float
    per_class: tuple[ClassDelta, ...]
    regression_count: int
    regressions: tuple[RowPair, ...]
    fixed_count: int
    fixed: tuple[RowPair, ...]
    #: The rows whose loss rose the most, right or wrong: what drives the difference.
    largest_increases: tuple[RowPair, ...] = ()
    #: Why the verdict is "insufficient_data" (or "no_difference" to rounding); else None.
    verdict_reason: str | None = None
    #: The interval of ``delta_accuracy`` at ``confidence`` (NaN with too few rows), and
    #: the bootstrap it came from (:func:`cecli.bootstrap.count_bootstrap`).
    accuracy_ci_low: float = math.nan
    accuracy_ci_high: float = math.nan
    accuracy_bootstrap: BootstrapResult | None = None
    #: The rows ``ignore_index`` left out of both models (``n_samples`` does not count them).
    n_ignored: int = 0
    #: With ``top_k``: each model's top-k accuracy over the rows compared (rows counted).
    top_k: int | None = None
    baseline_top_k_accuracy: float | None = None
    candidate_top_k_accuracy: float | None = None

    @property
    def insufficient(self) -> bool:
        """No interval could be estimated: the gates are not evaluated."""
        return self.verdict == "insufficient_data"

    @property
    def delta_accuracy(self) -> float:
        return self.candidate_accuracy - self.baseline_accuracy

    @property
    def delta_top_k_accuracy(self) -> float | None:
        """The candidate's top-k accuracy minus the baseline's; None without ``top_k``."""
        if self.baseline_top_k_accuracy is None or self.candidate_top_k_accuracy is None:
            return None
        return self.candidate_top_k_accuracy - self.baseline_top_k_accuracy


def verdict_of(ci_low: float, ci_high: float) -> str:
    """ "worse" if the interval of candidate - baseline lies above 0, "better" if below."""
    if ci_low > 0:
        return "worse"
    if ci_high < 0:
        return "better"
    return "no_difference"


def insufficient_data(
    baseline_loss: NDArray[np.float64],
    candidate_loss: NDArray[np.float64],
    weights: NDArray[np.float64] | None = None,
) -> tuple[str, str] | None:
    """The verdict the rows force, whatever the bootstrap says, and why; or None.

    * Fewer than :data:`cecli.bootstrap.MIN_ROWS` rows (of non-zero weight):
      "insufficient_data". Below it a nominal 95% bootstrap interval of a mean
      misses far more often than 5% of the time (see ``MIN_ROWS``).
    * The two losses equal on every row, to rounding: "no_difference".
    * The difference the same on every row (to rounding) but not 0:
      "insufficient_data". Every resample then has the same mean, so the
      interval is the point itself ("exact"), which measures no noise at all.

    Examples
    --------
    >>> import numpy as np
    >>> insufficient_data(np.array([0.1]), np.array([0.3]))[0]
    'insufficient_data'
    >>> b = np.linspace(0.1, 2.0, 50)
    >>> insufficient_data(b, b + 0.25)[1][:60]
    "every row's loss differs by the same amount, +0.25, so the r"
    >>> insufficient_data(b, b)[0], insufficient_data(b, b[::-1]) is None
    ('no_difference', True)
    """
    used = slice(None) if weights is None else weights > 0
    b, c = baseline_loss[used], candidate_loss[used]
    if len(b) < MIN_ROWS:
        return insufficient_from(len(b), weights is not None, 0.0, 0.0, 0.0, 0.0)
    diff = c - b
    scale = float(np.max(np.maximum(np.abs(b), np.abs(c))))
    low, high = float(np.min(diff)), float(np.max(diff))
    return insufficient_from(len(b), weights is not None, scale, low, high, float(np.mean(diff)))


def insufficient_from(
    n: int, weighted: bool, scale: float, low: float, high: float, mean: float
) -> tuple[str, str] | None:
    """:func:`insufficient_data` from what it reads of the rows, which states can merge.

    ``n`` rows of non-zero weight (``weighted``: there are weights), the
    largest loss of either model over them, and the smallest, largest and
    mean difference.

    Examples
    --------
    >>> insufficient_from(100, False, 2.0, 0.25, 0.25, 0.25)[0]
    'insufficient_data'
    >>> insufficient_from(100, False, 2.0, -0.5, 0.25, 0.01) is None
    True
    """
    if n < MIN_ROWS:
        rows = f"{n} row{'s' if n != 1 else ''}" + (" of non-zero weight" if weighted else "")
        return (
            "insufficient_data",
            f"only {rows}; the bootstrap interval needs at least {MIN_ROWS} to hold its "
            "coverage, so it cannot tell better from worse",
        )
    rounding = ROUNDING_ULPS * float(np.finfo(np.float64).eps) * scale
    if max(abs(low), abs(high)) <= rounding:
        return "no_difference", "the two losses are the same on every row, to rounding"
    if high - low <= rounding:
        return (
            "insufficient_data",
            f"every row's loss differs by the same amount, {mean:+.6g}, so "
            "the rows do not vary and the bootstrap cannot estimate an interval",
        )
    return None


def compare_rows(
    baseline: RowScores,
    candidate: RowScores,
    *,
    baseline_classes: Sequence[ClassSummary] = (),
    candidate_classes: Sequence[ClassSummary] = (),
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    method: Method | Literal["poisson"] = "bca",
    keep: int | None = 10,
    top_k: int | None = None,
) -> Comparison:
    """Compare two models' per-row scores over the same rows.

    Parameters
    ----------
    baseline, candidate : RowScores
        Each model's facts, row ``i`` of one the same sample as row ``i`` of
        the other, with the same weights. The rows ``ignore_index`` left out
        (:attr:`RowScores.ignored`, the same in both) are left out of
        everything, and counted (:attr:`Comparison.n_ignored`); the rows
        listed keep their numbers in the input.
    baseline_classes, candidate_classes : sequence of ClassSummary
        Each model's per-class summary (:attr:`cecli.Summary.per_class`), in
        the same class order; they give the per-class table.
    n_resamples, confidence, seed, method
        The bootstrap's (see :func:`cecli.bootstrap.paired_bootstrap`); method
        ``"poisson"`` is the streaming Poisson bootstrap of both intervals
        (:mod:`cecli.poisson_bootstrap`).
    keep : int or None, default 10
        Most regressions and fixed rows to keep; None keeps all.
    top_k : int, optional
        Also each model's top-k accuracy and the difference (the rows need
        their ranks, :attr:`RowScores.rank`). It has no interval.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.losses import score
    >>> y = [0, 1, 1, 0] * 5
    >>> a = RowScores.concatenate([score("binary", y, [0.2, 0.7, 0.6, 0.1] * 5)])
    >>> b = RowScores.concatenate([score("binary", y, [0.1, 0.9, 0.8, 0.05] * 5)])
    >>> c = compare_rows(a, b, seed=0)
    >>> c.verdict, c.delta_mean_loss < 0, c.rows_better
    ('better', True, 1.0)
    >>> compare_rows(a, a).verdict
    'no_difference'
    >>> first = np.arange(4)  # too few rows to tell
    >>> compare_rows(a.take(first), b.take(first)).verdict
    'insufficient_data'
    """
    n = len(baseline)
    if len(candidate) != n:
        raise ShapeError(
            f"the baseline has {n} rows and the candidate {len(candidate)}; they must be the same."
        )
    kept = kept_rows(baseline, candidate)
    baseline, candidate, numbers = kept.baseline, kept.candidate, kept.row_numbers
    n = len(baseline)
    if n == 0 and kept.n_ignored:
        raise OptionError(
            f"leaves out every row ({kept.n_ignored} of them): no row is left to compare. "
            "Check that the labels are the right ones, or leave the option out.",
            option="ignore_index",
        )
    if len(baseline_classes) != len(candidate_classes):
        raise ShapeError("the two models' per-class summaries have different numbers of classes.")
    diff = candidate.loss - baseline.loss
    bad = ~np.isfinite(diff)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        row = at if numbers is None else int(numbers[at])
        which, side = (
            ("baseline", baseline)
            if not np.isfinite(baseline.loss[at])
            else ("candidate", candidate)
        )
        raise ValueRangeError(
            f"row {row}: the {which}'s loss is {float(side.loss[at])}, so the difference has no "
            f"mean ({int(bad.sum())} rows in all). A probability of exactly 0 for the true class "
            "gives an infinite loss; leave eps at auto to clip it."
        )
    weights = None if np.all(baseline.weight == 1) else baseline.weight
    accuracy: BootstrapResult | None
    if method == "poisson":
        from cecli.poisson_bootstrap import poisson_compare

        correct = candidate.correct.astype(np.float64) - baseline.correct.astype(np.float64)
        diff_rows, row_weights, counted = diff, weights, None
        if numbers is not None:  # each row resampled by its number in the input
            counted = kept.spread(np.ones(n))
            diff_rows, correct = kept.spread(diff), kept.spread(correct)
            row_weights = kept.spread(np.ones(n) if weights is None else weights)
        result, accuracy = poisson_compare(
            diff_rows,
            row_weights,
            correct,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            counted=counted,
        )
    else:
        result = paired_bootstrap(
            diff,
            weights,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            method=method,
        )
        accuracy = _accuracy_interval(baseline, candidate, n_resamples, confidence, seed, method)
    regressed = candidate.flagged & baseline.correct
    fixed = baseline.flagged & candidate.correct
    forced = insufficient_data(baseline.loss, candidate.loss, weights)
    verdict, reason = forced or (verdict_of(result.ci_low, result.ci_high), None)
    ci_low, ci_high, p_better = result.ci_low, result.ci_high, result.p_below_zero
    if verdict == "insufficient_data":
        ci_low = ci_high = p_better = math.nan  # no interval to speak of
    return Comparison(
        n_samples=n,
        delta_mean_loss=result.estimate,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        p_better=p_better,
        verdict=verdict,
        verdict_reason=reason,
        bootstrap=result,
        baseline_accuracy=float(np.mean(baseline.correct)),
        candidate_accuracy=float(np.mean(candidate.correct)),
        rows_better=float(np.mean(diff < 0)),
        rows_worse=float(np.mean(diff > 0)),
        per_class=_per_class(baseline_classes, candidate_classes),
        regression_count=int(np.count_nonzero(regressed)),
        regressions=listed_pairs(
            baseline, candidate, np.flatnonzero(regressed), diff, -1, keep, candidate, numbers
        ),
        fixed_count=int(np.count_nonzero(fixed)),
        fixed=listed_pairs(
            baseline, candidate, np.flatnonzero(fixed), diff, 1, keep, baseline, numbers
        ),
        largest_increases=listed_pairs(
            baseline, candidate, largest_increases(diff, keep), diff, -1, keep, candidate, numbers
        ),
        accuracy_ci_low=math.nan if accuracy is None else accuracy.ci_low,
        accuracy_ci_high=math.nan if accuracy is None else accuracy.ci_high,
        accuracy_bootstrap=accuracy,
        n_ignored=kept.n_ignored,
        top_k=top_k,
        baseline_top_k_accuracy=top_k_accuracy(baseline, top_k),
        candidate_top_k_accuracy=top_k_accuracy(candidate, top_k),
    )


def _accuracy_interval(
    baseline: RowScores,
    candidate: RowScores,
    n_resamples: int,
    confidence: float,
    seed: int | None,
    method: Method,
) -> BootstrapResult | None:
    """The bootstrap interval of the accuracy difference; None with too few rows.

    Each row's difference is -1, 0 or 1, so its bootstrap is drawn exactly from
    the counts (:func:`~cecli.bootstrap.count_bootstrap`): drawing the loss's
    resamples' rows again would double the bootstrap's time. The same rows
    are used as for the accuracies (all of them, unweighted).
    """
    if len(baseline) < MIN_ROWS:
        return None
    diff = candidate.correct.astype(np.int8) - baseline.correct.astype(np.int8)
    return count_bootstrap(
        diff, n_resamples=n_resamples, confidence=confidence, seed=seed, method=method
    )


def _per_class(
    baseline: Sequence[ClassSummary], candidate: Sequence[ClassSummary]
) -> tuple[ClassDelta, ...]:
    """Classes with their two mean losses, the largest increase first (then by class)."""
    rows = [
        ClassDelta(b.index, b.count, b.mean_loss, c.mean_loss)
        for b, c in zip(baseline, candidate, strict=True)
    ]
    return tuple(sorted(rows, key=lambda r: (r.delta is None, -(r.delta or 0.0), r.index)))
