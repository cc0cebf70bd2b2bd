"""The loss kernel of probabilities against class indices: :func:`probs_hard`.

Laid out as the logits kernel of :mod:`cecli._kernels` is (row blocks in
cache, on its threads, narrow arrays transposed to ``K x B``), and sharing its
scratch buffers, per-row facts, terms and classwise binning.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cecli import _threads
from cecli._class_bins import BlockBinner
from cecli._kernels import (
    NARROW_COLUMNS,
    HardScores,
    _allocate,
    _argmax_of_max,
    _binner,
    _fix_ties,
    _Scratch,
    _term_rows,
    work_dtype,
)
from cecli._row_terms import probs_terms
from cecli._threads import BLOCK_BYTES

#: Block size for the plain probabilities pass, which makes few passes per block: there,
#: fewer NumPy calls (each hands the GIL over) outweigh blocks that stay in L2.
PROBS_BLOCK_BYTES = 1 << 21
#: Most values in one BLAS call (see :func:`_row_sums`): OpenBLAS computes a
#: matrix-vector product of 9,216 values or more on its own threads.
BLAS_VALUES = 8192


def probs_hard(
    probs: NDArray,
    labels: NDArray[np.intp],
    eps: float,
    sum_tolerance: float,
    facts: bool,
    terms: bool = False,
    class_bins: int | None = None,
    row_terms: bool = True,
) -> HardScores | None:
    """Cross-entropy of probabilities against class indices: ``-log(clip(p[y], eps, 1 - eps))``.

    Checks every value (none below 0, no NaN) and every row sum (within
    ``sum_tolerance`` of 1, which also bounds every value by
    ``1 + sum_tolerance``), and counts the true-class probabilities that
    clipping changed. Returns None if a check fails. ``facts``, ``terms``,
    ``class_bins`` and ``row_terms`` are as for :func:`logits_hard`.
    """
    n, k = probs.shape
    dtype = work_dtype(probs.dtype)
    narrow = k <= NARROW_COLUMNS
    block = _probs_block if not facts else _probs_narrow_block if narrow else _probs_wide_block
    step = max(1, (BLOCK_BYTES if facts else PROBS_BLOCK_BYTES) // (k * dtype.itemsize))
    with_terms = terms and narrow and facts
    binner = _binner(
        n,
        k,
        class_bins,
        narrow,
        facts,
        step,
        dtype,
        softmax=False,
        row_sums=with_terms and not row_terms,
    )
    scores = _allocate(n, facts, with_terms and not (binner is not None and binner.row_sums))

    def work(start: int, stop: int) -> int | None:
        scratch = _Scratch()
        clipped = 0
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            if binner is None:
                checked = block(probs, labels, lo, hi, dtype, scratch, scores)
            else:
                checked = _probs_narrow_block(probs, labels, lo, hi, dtype, scratch, scores, binner)
            if checked is None:
                return None
            sums, p_true = checked
            if not (sums.min() >= 1.0 - sum_tolerance and sums.max() <= 1.0 + sum_tolerance):
                return None
            clipped += clip_log_loss(p_true, eps, scores.loss[lo:hi], scratch)
            if facts:
                scores.p_true[lo:hi] = p_true
        return clipped

    # with a binner, the threads start on its slots' grid (see BlockBinner)
    if binner is None:
        results = _threads.map_row_ranges(n, k * dtype.itemsize, work)
    else:
        results = _threads.map_row_ranges(n, k * dtype.itemsize, work, align=binner.slot_rows)
    if any(r is None for r in results):
        return None
    scores.clipped = sum(results)
    if binner is not None:
        scores.class_bins = binner.result()
    return scores


def _probs_block(
    probs: NDArray,
    labels: NDArray[np.intp],
    lo: int,
    hi: int,
    dtype: np.dtype,
    scratch: _Scratch,
    scores: HardScores,
) -> tuple[NDArray, NDArray] | None:
    """``(row sums, p[y])`` for rows ``lo:hi``, or None if a value is below 0 or NaN."""
    n, k = hi - lo, probs.shape[1]
    p = scratch.rows(probs, lo, hi, dtype)
    # The sums read the block from memory first: the min then runs in cache.
    sums = _row_sums(p, scratch.ones(k, dtype), scratch.get("sums", (n,), dtype))
    if not np.minimum.reduce(p, axis=None) >= 0.0:  # NaN fails the comparison too
        return None
    true_at = np.add(scratch.arange(n, k), labels[lo:hi], out=scratch.get("at", (n,), np.intp))
    # the caller checked the labels, so mode="clip" changes nothing; it is faster than "raise"
    return sums, p.reshape(-1).take(true_at, out=scratch.get("p_true", (n,), dtype), mode="clip")


def _row_sums(p: NDArray, ones: NDArray, out: NDArray) -> NDArray:
    """``p.sum(axis=1)`` of a C-contiguous block, as products with a vector of ones, into ``out``.

    BLAS sums short rows several times faster than ``p.sum(axis=1)``. The
    block goes to BLAS as a stack of products of at most :data:`BLAS_VALUES`
    values each: OpenBLAS runs larger products on its own threads, which
    compete with this module's threads and can make the call fifty times
    slower.
    """
    n, k = p.shape
    rows = max(1, BLAS_VALUES // k)
    stacked = n - n % rows
    if stacked:
        np.matmul(p[:stacked].reshape(-1, rows, k), ones, out=out[:stacked].reshape(-1, rows))
    if stacked < n:
        np.matmul(p[stacked:], ones, out=out[stacked:])
    return out


def _probs_narrow_block(
    probs: NDArray,
    labels: NDArray[np.intp],
    lo: int,
    hi: int,
    dtype: np.dtype,
    scratch: _Scratch,
    scores: HardScores,
    binner: BlockBinner | None = None,
) -> tuple[NDArray, NDArray] | None:
    """As :func:`_probs_block`, and the predicted class and its probability (and the terms,
    and with a ``binner`` every class's probability binned)."""
    n = hi - lo
    p = scratch.columns(probs, lo, hi, dtype)
    if not p.min() >= 0.0:
        return None
    sums = np.sum(p, axis=0, out=scratch.get("sums", (n,), dtype))
    top = np.max(p, axis=0, out=scratch.get("max", (n,), dtype))
    is_max = np.equal(p, top, out=scratch.get("eq", p.shape, dtype))
    n_max = np.sum(is_max, axis=0, out=scratch.get("count", (n,), dtype))
    predicted = scores.predicted[lo:hi]
    _argmax_of_max(is_max, predicted)
    _fix_ties(probs, lo, n_max, predicted)
    scores.confidence[lo:hi] = top
    true_at = np.multiply(labels[lo:hi], n, out=scratch.get("at", (n,), np.intp))
    true_at += scratch.arange(n)  # flat positions y * n + row in the K x n block
    p_true = p.reshape(-1).take(true_at)
    # before the terms change ``p``; a block with +inf fails the caller's sum check: not binned
    if binner is not None and np.isfinite(sums).all():
        with np.errstate(all="ignore"):  # values far above 1 fail that check too
            binner.add(p, labels[lo:hi], true_at, lo, scratch)
    if scores.entropy is not None or (binner is not None and binner.row_sums):
        entropy, brier = _term_rows(scores, scratch, lo, hi)
        probs_terms(p, p_true, true_at, entropy, brier, scratch)
        if binner is not None and binner.row_sums:
            binner.add_rows(entropy, brier, lo)
    return sums, p_true


def _probs_wide_block(
    probs: NDArray,
    labels: NDArray[np.intp],
    lo: int,
    hi: int,
    dtype: np.dtype,
    scratch: _Scratch,
    scores: HardScores,
) -> tuple[NDArray, NDArray] | None:
    """As :func:`_probs_narrow_block`, for a wide array."""
    n, k = hi - lo, probs.shape[1]
    p = scratch.rows(probs, lo, hi, dtype)
    if not p.min() >= 0.0:
        return None
    sums = np.sum(p, axis=1, out=scratch.get("sums", (n,), dtype))
    predicted = np.argmax(p, axis=1, out=scores.predicted[lo:hi])
    flat = p.reshape(-1)
    row_starts = scratch.arange(n, k)
    scores.confidence[lo:hi] = flat.take(row_starts + predicted)
    return sums, flat.take(row_starts + labels[lo:hi])


def clip_log_loss(p: NDArray, eps: float, out: NDArray, scratch: _Scratch | None = None) -> int:
    """``out = -log(clip(p, eps, 1 - eps))``, in ``p``'s precision.

    Returns how many values clipping changed.
    """
    if scratch is None:
        scratch = _Scratch()
    clipped = np.clip(p, eps, 1.0 - eps, out=scratch.get("clipped", p.shape, p.dtype))
    changed = np.not_equal(clipped, p, out=scratch.get("changed", p.shape, np.bool_))
    n_clipped = int(np.count_nonzero(changed))
    np.log(clipped, out=clipped)
    np.negative(clipped, out=out)
    return n_clipped
