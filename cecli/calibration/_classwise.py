"""Every column's probability binned: the classwise ECE and the Brier score's decomposition.

The top-label bins of :mod:`cecli.calibration._bins` see one number per
prediction. Here every column is binned on its own probability, in the same
equal-width bins (``lower < p <= upper``, the first also ``p = 0``): each class
of a categorical row (``p_c`` against ``o_c = [y = c]``, or the soft target
``t_c``), each label of a multilabel row, the one positive-class probability
of a binary row. Per (column, bin) three weighted sums are kept: weight,
probability and outcome; per column one more, ``sum w o (1 - o)`` (0 for
0/1 targets). From them:

* the **classwise ECE** (Kull et al. 2019, "classwise-ECE"; Nixon et al. 2019
  call it the static calibration error, SCE):
  ``(1 / C) sum_c sum_b (W_cb / W) |o_cb - p_cb|``, with ``o_cb`` and
  ``p_cb`` the bin's weighted mean outcome and probability;
* the **Brier score's decomposition** (Murphy 1973), per column
  ``REL_c = sum_b (W_cb / W) (p_cb - o_cb)^2``,
  ``RES_c = sum_b (W_cb / W) (o_cb - o_c)^2`` and
  ``UNC_c = o_c (1 - o_c) - mean(o (1 - o))``, the variance of the outcome
  (``o_c`` its weighted mean; ``o_c (1 - o_c)`` for 0/1 targets), summed over
  classes (categorical, whose Brier score sums over classes) or averaged over
  labels (multilabel, whose Brier score is a mean over labels).
  ``REL - RES + UNC`` is exactly the Brier score of the binned forecasts, each
  probability replaced by its bin's mean; the Brier score itself exceeds it by
  the within-bin terms of Stephenson, Coelho and Jolliffe (2008),
  ``WBV - WBC``: the spread of the probabilities inside their bins, less twice
  their within-bin covariance with the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from cecli import _kernels, _threads
from cecli._class_bins import ClassBins, bin_index, first_upper

if TYPE_CHECKING:
    from cecli.calibration._bins import _BinSums

#: Values binned a block at a time: a block's temporaries stay in the cache.
_BLOCK_VALUES = 1 << 18


@dataclass(frozen=True)
class _ClassProbs:
    """Where a checked categorical chunk's probabilities of every class come from.

    ``predicted`` and ``confidence`` are the top-1 class and its probability,
    as the loss kernel or the calibration facts found them: for logits
    ``p_j = exp(z_j - z_top) * confidence`` is the softmax (``confidence`` is
    ``1 / sum_j exp(z_j - z_top)``), with no second pass over the row.
    ``targets`` are soft targets, None for class indices ``labels``.
    """

    preds: NDArray
    from_logits: bool
    predicted: NDArray[np.intp]
    confidence: NDArray[np.float64]
    labels: NDArray[np.intp]
    targets: NDArray[np.float64] | None

    def probs(self, lo: int, hi: int) -> NDArray:
        """Rows ``lo:hi``'s probabilities, ``B x K``, in the predictions' work float type."""
        dtype = _kernels.work_dtype(self.preds.dtype)
        if not self.from_logits:
            return np.array(self.preds[lo:hi], dtype=dtype, order="C")
        logits = self.preds[lo:hi]
        top = logits[np.arange(hi - lo), self.predicted[lo:hi]].astype(dtype)
        block = np.empty(logits.shape, dtype)
        np.subtract(logits, top[:, None], out=block)  # <= 0; -inf stays -inf, whose exp is 0
        np.exp(block, out=block)
        block *= self.confidence[lo:hi, None].astype(dtype)
        return block


@dataclass
class _ClasswiseSums:
    """Per (column, bin) weighted sums of every column's probabilities, and per column.

    ``weight``, ``prob`` and ``outcome`` are ``C x n_bins``: ``sum w``,
    ``sum w p`` and ``sum w o`` over the values in the bin (unweighted, ``w``
    is 1 and ``weight`` the count). ``spread`` is ``C``: ``sum w o (1 - o)``
    over every row, 0 for 0/1 targets.
    """

    weight: NDArray[np.float64]
    prob: NDArray[np.float64]
    outcome: NDArray[np.float64]
    spread: NDArray[np.float64]

    @classmethod
    def zeros(cls, n_columns: int, n_bins: int) -> _ClasswiseSums:
        shape = (n_columns, n_bins)
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(n_columns))

    @classmethod
    def of_counts(cls, bins: ClassBins) -> _ClasswiseSums:
        """The sums of unweighted class-index rows, from the loss kernel's (exact) counts."""
        return cls(
            bins.count.astype(np.float64),
            bins.prob,
            bins.correct.astype(np.float64),
            np.zeros(len(bins.count)),
        )

    @classmethod
    def of_column(cls, bins: _BinSums, spread: float) -> _ClasswiseSums:
        """The one column of binary rows: the sums of its top-label ``bins``, which bin
        the positive-class probability ``p`` against the target ``t`` as this column's
        do; ``spread`` is ``sum w t (1 - t)``."""
        return cls(
            bins.weight[None, :].copy(),
            bins.confidence[None, :].copy(),
            bins.credit[None, :].copy(),
            np.array([spread]),
        )

    def copy(self) -> _ClasswiseSums:
        return _ClasswiseSums(
            self.weight.copy(), self.prob.copy(), self.outcome.copy(), self.spread.copy()
        )

    def __iadd__(self, other: _ClasswiseSums) -> _ClasswiseSums:
        self.weight += other.weight
        self.prob += other.prob
        self.outcome += other.outcome
        self.spread += other.spread
        return self

    def __getstate__(self) -> dict[str, object]:
        """The sums as pickled: only the (column, bin) cells with weight, when they are few.

        Most of a wide categorical input's classes hold their rows' small
        probabilities in the first bins only. Unweighted weights are whole
        numbers and stay exact; the round trip is exact.
        """
        used = np.flatnonzero(self.weight)
        if 4 * used.size > self.weight.size:
            return dict(self.__dict__)
        return {
            "shape": self.weight.shape,
            "used": used.astype(np.int64),
            "weight": self.weight.reshape(-1)[used],
            "prob": self.prob.reshape(-1)[used],
            "outcome": self.outcome.reshape(-1)[used],
            "spread": self.spread,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        if "used" not in state:
            self.__dict__.update(state)
            return
        shape, used = state["shape"], state["used"]
        for name in ("weight", "prob", "outcome"):
            dense = np.zeros(shape)  # type: ignore[call-overload]
            dense.reshape(-1)[used] = state[name]
            setattr(self, name, dense)
        self.spread = state["spread"]  # type: ignore[assignment]


def _bin_totals(index: NDArray[np.intp], weights: NDArray | None, size: int) -> NDArray[np.float64]:
    """``np.bincount`` as float64 (on no values it gives int64 zeros, even with weights)."""
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64, copy=False)


def _block_sums(
    probs: NDArray,
    labels: NDArray[np.intp] | None,
    targets: NDArray[np.float64] | None,
    weight: NDArray[np.float64] | None,
    edges: NDArray[np.float64],
) -> _ClasswiseSums:
    """The sums of one ``B x C`` block of probabilities.

    The outcomes are class indices ``labels`` (``o_c = [y = c]``: only the true
    class's cell of a row adds to ``outcome``) or ``B x C`` targets in [0, 1].

    Most probabilities of a row over many classes are small: only the values
    above the first bin are binned one by one, and the first bin's sums are
    each column's totals less theirs. Its count is exact (whole numbers), so
    an empty first bin is empty, not a rounding residue.
    """
    b, c = probs.shape
    n_bins = len(edges) - 1
    shape = (c, n_bins)
    # in the probabilities' own type, compared exactly (see first_upper)
    above = np.flatnonzero(probs > first_upper(edges, probs.dtype))
    values = probs.reshape(-1).take(above)
    column = above % c
    index = bin_index(values, edges)
    index += column * n_bins  # column c's bins are c * n_bins, ...
    size = c * n_bins
    in_first = b - np.bincount(column, minlength=c)
    if weight is None:
        weight_sums = _bin_totals(index, None, size).reshape(shape)
        weight_sums[:, 0] = in_first
        prob_sums = _bin_totals(index, values, size).reshape(shape)
        # a matrix-vector product on a float64 copy of the block: twice as fast as
        # np.einsum("ij->j", probs, dtype=np.float64), which casts as it goes, and
        # several times faster than a sum down the short rows
        column_prob = np.ones(b) @ probs.astype(np.float64, copy=False)
    else:
        value_weight = weight.take(above // c)
        weight_sums = _bin_totals(index, value_weight, size).reshape(shape)
        weight_sums[:, 0] = weight.sum() - weight_sums[:, 1:].sum(axis=1)
        prob_sums = _bin_totals(index, value_weight * values, size).reshape(shape)
        column_prob = weight @ probs.astype(np.float64, copy=False)
    prob_sums[:, 0] = column_prob - prob_sums[:, 1:].sum(axis=1)
    if targets is None:
        assert labels is not None
        rows = np.arange(b)
        true_bins = bin_index(probs[rows, labels], edges)
        true_bins += labels * n_bins
        outcome = _bin_totals(true_bins, weight, size).reshape(shape)
        spread = np.zeros(c)
    else:
        t = np.asarray(targets, dtype=np.float64)
        t_above = t.reshape(-1).take(above)
        if weight is None:
            outcome = _bin_totals(index, t_above, size).reshape(shape)
            column_outcome = np.ones(b) @ t
            spread = np.einsum("ij,ij->j", t, 1.0 - t)
        else:
            outcome = _bin_totals(index, value_weight * t_above, size).reshape(shape)
            column_outcome = weight @ t
            spread = weight @ (t * (1.0 - t))
        outcome[:, 0] = column_outcome - outcome[:, 1:].sum(axis=1)
    # the first bin's sums, where it holds nothing: 0, not the residue of a subtraction
    empty = in_first == 0
    for sums in (weight_sums, prob_sums, outcome):
        sums[empty, 0] = 0.0
        np.maximum(sums[:, 0], 0.0, out=sums[:, 0])
    return _ClasswiseSums(weight_sums, prob_sums, outcome, spread)


def _block_rows(n_columns: int, n_bins: int) -> int:
    """Rows per block: about :data:`_BLOCK_VALUES` values, and never fewer rows than
    ``4 n_bins``, so that a wide block's ``C x n_bins`` sums cost less than its values."""
    return max(_BLOCK_VALUES // n_columns, 4 * n_bins)


def _summed_blocks(
    n: int, n_columns: int, n_bins: int, block: Callable[[int, int], _ClasswiseSums]
) -> _ClasswiseSums:
    """``block(lo, hi)``'s sums over one grid of row blocks from row 0, added in row order.

    The blocks run on :func:`cecli._threads.map_blocks`: the same grid and the
    same order of additions on any number of threads, so the same bits.
    """
    row_bytes = max(1, _threads.BLOCK_BYTES // _block_rows(n_columns, n_bins))
    parts = _threads.map_blocks(n, row_bytes, block)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def categorical_sums(
    source: _ClassProbs, weight: NDArray[np.float64] | None, edges: NDArray[np.float64]
) -> _ClasswiseSums:
    """Every class's probability of a checked categorical chunk, binned; blocks summed in order.

    For what the loss kernel does not bin (soft targets, sample weights, more
    than :data:`cecli._kernels.NARROW_COLUMNS` classes).
    """
    n, k = source.preds.shape

    def block(lo: int, hi: int) -> _ClasswiseSums:
        return _block_sums(
            source.probs(lo, hi),
            source.labels[lo:hi],
            None if source.targets is None else source.targets[lo:hi],
            None if weight is None else weight[lo:hi],
            edges,
        )

    return _summed_blocks(n, k, len(edges) - 1, block)


def bernoulli_sums(
    probs: NDArray[np.float64],
    targets: NDArray[np.float64],
    weight: NDArray[np.float64] | None,
    n_columns: int,
    edges: NDArray[np.float64],
) -> _ClasswiseSums:
    """Multilabel (``n_columns`` labels) or binary cells, each label binned alone."""
    n = len(probs) // n_columns
    p, t = probs.reshape(n, n_columns), targets.reshape(n, n_columns)

    def block(lo: int, hi: int) -> _ClasswiseSums:
        w = None if weight is None else weight[lo:hi]
        return _block_sums(p[lo:hi], None, t[lo:hi], w, edges)

    return _summed_blocks(n, n_columns, len(edges) - 1, block)


def classwise_ece(sums: _ClasswiseSums) -> float:
    """``(1 / C) sum_c sum_b |O_cb - P_cb| / W``: the weighted sums' gaps, each column's mean.

    Every row adds its weight to every column, so each column's total is ``W``.
    """
    total = sums.weight.sum(axis=1)
    per_column = np.abs(sums.outcome - sums.prob).sum(axis=1) / total
    return float(per_column.mean())


def brier_terms(sums: _ClasswiseSums, mean_over_columns: bool) -> tuple[float, float, float]:
    """``(REL, RES, UNC)`` summed over the columns, or averaged with ``mean_over_columns``.

    Per column, from bins with weight:
    ``REL = sum_b (O_b - P_b)^2 / W_b / W``,
    ``RES = sum_b W_b (O_b / W_b - o)^2 / W`` and
    ``UNC = o (1 - o) - S / W``, with ``o = sum_b O_b / W`` and ``S`` the
    column's ``sum w t (1 - t)``.
    """
    total = sums.weight.sum(axis=1)
    present = sums.weight > 0
    bin_weight = np.where(present, sums.weight, 1.0)
    gap = sums.outcome - sums.prob
    reliability = (gap * gap / bin_weight).sum(axis=1) / total
    base_rate = sums.outcome.sum(axis=1) / total
    off = np.where(present, sums.outcome / bin_weight - base_rate[:, None], 0.0)
    resolution = (sums.weight * off * off).sum(axis=1) / total
    uncertainty = base_rate * (1.0 - base_rate) - sums.spread / total
    combine = np.mean if mean_over_columns else np.sum
    return (
        float(combine(reliability)),
        float(combine(resolution)),
        float(combine(uncertainty)),
    )
