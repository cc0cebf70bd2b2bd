"""Row-blocked, multithreaded NumPy kernels behind the per-sample losses.

The public functions in :mod:`cecli.losses` validate and interpret their
inputs; the two hot paths (class-index targets against logits, here, or
against probabilities, in :mod:`cecli._probs_kernel`, which shares this
module's scratch buffers and results) run over an ``N x K`` array in row blocks that stay
in the CPU's cache, on a small pool of threads (:mod:`cecli._threads`; NumPy
releases the GIL inside its ufunc loops, so the blocks of two threads run at
the same time). Nothing here allocates an ``N x K`` temporary.

How the work is laid out, and why (each choice was measured with
``benchmarks/bench_core.py``):

* Two loop orders, picked by the number of columns. Narrow arrays (few
  classes) are copied block by block into a transposed ``K x B`` scratch
  buffer, so that every reduction over classes runs along the *outer* axis,
  which NumPy vectorises across the ``B`` rows; reducing a ``B x 10`` block
  along its short inner axis costs a function call per row and is several
  times slower. Wide arrays are reduced along their rows.
* BLAS calls stay small: OpenBLAS runs a large product on threads of its own,
  which then compete with this module's threads, so a row-sum product of a
  whole block took up to fifty times as long as the same product cut into a
  stack of small ones.
* Only the passes over all ``N x K`` values run block by block. The per-row
  arithmetic (a log, a few adds) and the gathers of the true class run once
  per thread, over the thread's whole range: every NumPy call hands the GIL
  to the other thread and back, and on a virtual machine whose second CPU
  has gone idle each hand-over is slow, so the threads make as few calls as
  they can.

A kernel never raises for bad values: it returns ``None`` and lets the caller
run a slower pass that finds every bad row and writes a useful message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cecli import _threads
from cecli._class_bins import BlockBinner, ClassBins
from cecli._row_terms import logits_terms
from cecli._threads import BLOCK_BYTES

#: Arrays with at most this many columns use the transposed loop order.
NARROW_COLUMNS = 64


def work_dtype(dtype: np.dtype) -> np.dtype:
    """float16 and float32 input is computed in float32; everything else in float64."""
    return np.dtype(np.float32) if dtype in (np.float16, np.float32) else np.dtype(np.float64)


class _Scratch:
    """Per-thread buffers, grown on demand and reused across blocks."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}
        self._aranges: dict[int, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        size = int(np.prod(shape))
        key = (name, np.dtype(dtype))
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._buffers[key] = buf
        return buf[:size].reshape(shape)

    def arange(self, n: int, step: int = 1) -> NDArray[np.intp]:
        """``0, step, 2 * step, ...`` (``n`` values), computed once per thread."""
        cached = self._aranges.get(step)
        if cached is None or cached.size < n:
            cached = np.arange(max(n, 1), dtype=np.intp) * step
            self._aranges[step] = cached
        return cached[:n]

    def ones(self, n: int, dtype: np.dtype) -> NDArray:
        """``n`` ones, made once per thread."""
        key = ("ones", np.dtype(dtype))
        ones = self._buffers.get(key)
        if ones is None or ones.size != n:
            ones = self._buffers[key] = np.ones(n, dtype)
        return ones

    def rows(self, array: NDArray, lo: int, hi: int, dtype: np.dtype) -> NDArray:
        """Rows ``lo:hi`` as a C-contiguous array of ``dtype``, copied only if needed."""
        block = array[lo:hi]
        if block.dtype == dtype and block.flags.c_contiguous:
            return block
        out = self.get("rows", block.shape, dtype)
        np.copyto(out, block, casting="unsafe")
        return out

    def columns(self, array: NDArray, lo: int, hi: int, dtype: np.dtype) -> NDArray:
        """Rows ``lo:hi`` transposed into a C-contiguous ``K x B`` array of ``dtype``."""
        out = self.get("cols", (array.shape[1], hi - lo), dtype)
        np.copyto(out, array[lo:hi].T, casting="unsafe")
        return out


@dataclass
class HardScores:
    """Per-row results of a class-index kernel. ``loss`` is float64, in nats.

    With ``terms`` (narrow arrays only), also each row's softmax entropy
    ``-sum_j p_j log p_j`` (nats) and Brier score ``sum_j (p_j - [j = y])^2``,
    computed while the block is in cache (see :mod:`cecli._row_terms`).
    """

    loss: NDArray[np.float64]
    clipped: int = 0
    predicted: NDArray[np.intp] | None = None
    confidence: NDArray[np.float64] | None = None
    p_true: NDArray[np.float64] | None = None
    entropy: NDArray[np.float64] | None = None
    brier: NDArray[np.float64] | None = None
    #: logits only, with terms: the top-1 probability's log-odds ``log(c / (1 - c))``
    log_odds: NDArray[np.float64] | None = None
    #: with ``class_bins`` (narrow arrays only): every class's probability binned
    class_bins: ClassBins | None = None


def _allocate(n: int, facts: bool, terms: bool = False) -> HardScores:
    if not facts:
        return HardScores(np.empty(n))
    scores = HardScores(np.empty(n), 0, np.empty(n, np.intp), np.empty(n), np.empty(n))
    if terms:
        scores.entropy, scores.brier = np.empty(n), np.empty(n)
    return scores


def _argmax_of_max(is_max: NDArray, out: NDArray[np.intp]) -> None:
    """Where each column of ``is_max`` (``K x B``, 1.0 at a maximum) has its 1.0.

    ``positions @ is_max`` is the index where the maximum is unique; rows with
    ties are fixed afterwards by :func:`_fix_ties`.
    """
    positions = np.arange(is_max.shape[0], dtype=is_max.dtype)
    np.copyto(out, positions @ is_max, casting="unsafe")


def _fix_ties(array: NDArray, start: int, n_max: NDArray, predicted: NDArray[np.intp]) -> None:
    """Rows with more than one maximum take NumPy's argmax, which picks the first."""
    ties = np.flatnonzero(n_max != 1)
    if ties.size:
        predicted[ties] = np.argmax(array[start + ties], axis=1)


def _binner(
    n: int,
    k: int,
    n_bins: int | None,
    narrow: bool,
    facts: bool,
    step: int,
    dtype: np.dtype,
    softmax: bool,
    row_sums: bool,
) -> BlockBinner | None:
    """The binner of every class's probability, when asked for and the block is class-major.

    A ``softmax``'s probabilities are ``exp(d) * c`` with ``d <= 0`` and ``c <= 1``: at most 1.
    """
    if n_bins is None or not (narrow and facts):
        return None
    return BlockBinner(n, k, n_bins, step, dtype, at_most_one=softmax, row_sums=row_sums)


def _term_rows(
    scores: HardScores, scratch: _Scratch, lo: int, hi: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Where rows ``lo:hi``'s entropies and Brier scores go: their rows of the scores, or
    scratch buffers whose sums the binner keeps (see ``row_terms``)."""
    if scores.entropy is not None and scores.brier is not None:
        return scores.entropy[lo:hi], scores.brier[lo:hi]
    n = hi - lo
    return scratch.get("row_entropy", (n,), np.float64), scratch.get("row_brier", (n,), np.float64)


def logits_hard(
    logits: NDArray,
    labels: NDArray[np.intp],
    facts: bool,
    terms: bool = False,
    class_bins: int | None = None,
    row_terms: bool = True,
) -> HardScores | None:
    """Cross-entropy of logits against class indices.

    Per row: ``loss = log(sum_j exp(z_j - z_max)) + (z_max - z_y)``. Both
    terms are non-negative, so nothing cancels; the sum, ``1 + rest``, is
    formed in float64, which keeps a tiny ``rest`` (a small loss) accurate.
    With ``facts`` it also gives the predicted class, its softmax probability
    and the true class's softmax probability; with ``terms`` as well, on an
    array of at most :data:`NARROW_COLUMNS` columns, each row's entropy and
    Brier score, and the log-odds of its top-1 probability (wider arrays get
    none: ``entropy`` stays None). With ``class_bins`` (and ``facts``), on a
    narrow array, every class's softmax probability is binned in that many
    equal-width bins (:mod:`cecli._class_bins`): ``scores.class_bins``; and
    without ``row_terms``, the entropies and Brier scores are not kept row by
    row but summed over the chunk (``scores.class_bins.entropy`` and
    ``.brier``; ``scores.entropy`` and ``scores.brier`` stay None), which
    spares two arrays of a float64 per row.

    Returns None if a row's maximum is not finite (NaN, +inf, or every logit
    -inf) or a true class has a logit of -inf.
    """
    n, k = logits.shape
    dtype = work_dtype(logits.dtype)
    narrow = k <= NARROW_COLUMNS
    step = max(1, BLOCK_BYTES // (k * dtype.itemsize))
    with_terms = terms and narrow and facts
    binner = _binner(
        n,
        k,
        class_bins,
        narrow,
        facts,
        step,
        dtype,
        softmax=True,
        row_sums=with_terms and not row_terms,
    )
    scores = _allocate(n, facts, with_terms and not (binner is not None and binner.row_sums))
    if with_terms:
        scores.log_odds = np.empty(n)
    n_max = np.empty(n, dtype) if facts and narrow else None  # how many classes share the max
    predicted = scores.predicted

    def work(start: int, stop: int) -> bool:
        scratch = _Scratch()
        # Bad values (NaN, +inf, a row or a true class at -inf) end up as a loss that
        # is not finite; one check per block finds them all, silently.
        with np.errstate(all="ignore"):
            for lo in range(start, stop, step):
                hi = min(lo + step, stop)
                term_rows = None
                if narrow:
                    term_rows = _term_rows(scores, scratch, lo, hi) if with_terms else None
                    neg_gap, total = _logits_narrow_block(
                        logits, labels, lo, hi, dtype, scratch, n_max, predicted, term_rows, binner
                    )
                else:
                    neg_gap, total = _logits_wide_block(
                        logits, labels, lo, hi, dtype, scratch, n_max, predicted
                    )
                # loss = log(sum_j exp(z_j - z_max)) + (z_max - z_y)
                loss = np.log(total, out=scores.loss[lo:hi])
                if term_rows is not None:
                    # H(p) = log S - sum_j p_j d_j: the block left the sum in ``entropy``
                    entropy = term_rows[0]
                    np.subtract(loss, entropy, out=entropy)
                    # c = 1 / S, so log(c / (1 - c)) = -log(S - 1): S - 1 is exact for S < 2,
                    # one rounding fewer than 1 - c (S = 1, a rest below 1e-16, gives +inf)
                    log_odds = np.subtract(total, 1.0, out=scores.log_odds[lo:hi])  # type: ignore[index]
                    np.log(log_odds, out=log_odds)
                    np.negative(log_odds, out=log_odds)
                loss -= neg_gap
                if not np.isfinite(loss).all():
                    return False
                if binner is not None and binner.row_sums:
                    assert term_rows is not None
                    binner.add_rows(term_rows[0], term_rows[1], lo)
                if facts:
                    _logits_facts(logits, lo, hi, scores, total, neg_gap, n_max)
        return True

    # with a binner, the threads start on its slots' grid (see BlockBinner)
    if binner is None:
        done = _threads.map_row_ranges(n, k * dtype.itemsize, work)
    else:
        done = _threads.map_row_ranges(n, k * dtype.itemsize, work, align=binner.slot_rows)
    if not all(done):
        return None
    if binner is not None:
        scores.class_bins = binner.result()
    return scores


def _logits_narrow_block(
    logits: NDArray,
    labels: NDArray[np.intp],
    lo: int,
    hi: int,
    dtype: np.dtype,
    scratch: _Scratch,
    n_max: NDArray | None,
    predicted: NDArray | None,
    terms: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    binner: BlockBinner | None = None,
) -> tuple[NDArray, NDArray[np.float64]]:
    """``(z_y - z_max, sum_j exp(z_j - z_max))`` for rows ``lo:hi`` of a narrow array.

    With ``terms`` (the rows' entropies and Brier scores, see :func:`_term_rows`),
    also writes the rows' Brier scores, and ``sum_j p_j d_j`` into their
    entropies (the caller subtracts it from ``log S``). With a ``binner``,
    bins the block's softmax probabilities ``exp(d) * (1 / S)``.
    """
    n = hi - lo
    shifted = scratch.columns(logits, lo, hi, dtype)
    top = np.max(shifted, axis=0, out=scratch.get("max", (n,), dtype))
    np.subtract(shifted, top, out=shifted)
    true_at = np.multiply(labels[lo:hi], n, out=scratch.get("at", (n,), np.intp))
    true_at += scratch.arange(n)  # flat positions y * n + row in the K x n block
    neg_gap = shifted.reshape(-1).take(true_at)
    if predicted is not None:
        is_max = np.equal(shifted, 0, out=scratch.get("eq", shifted.shape, dtype))
        np.sum(is_max, axis=0, out=n_max[lo:hi])
        _argmax_of_max(is_max, predicted[lo:hi])
    # with terms the gaps d are needed again, so the exps go to a buffer of their own
    exps = np.exp(shifted, out=shifted if terms is None else scratch.get("e", shifted.shape, dtype))
    # Summed in float64, 1 + (a tiny rest) keeps the rest to 1e-16: small losses stay accurate.
    total = np.sum(exps, axis=0, dtype=np.float64, out=scratch.get("total", (n,), np.float64))
    # a row with NaN or +inf (whose sum is NaN) fails the kernel's check: nothing to bin
    if binner is not None and np.isfinite(total).all():
        # the confidence 1 / S in the work type, as the calibration facts form each p
        scale = np.divide(1.0, total, out=scratch.get("scale", (n,), np.float64))
        probs = np.multiply(exps, scale.astype(dtype), out=scratch.get("p", exps.shape, dtype))
        binner.add(probs, labels[lo:hi], true_at, lo, scratch)
    if terms is not None:
        logits_terms(exps, shifted, total, true_at, terms[0], terms[1])
    return neg_gap, total


def _logits_wide_block(
    logits: NDArray,
    labels: NDArray[np.intp],
    lo: int,
    hi: int,
    dtype: np.dtype,
    scratch: _Scratch,
    n_max: NDArray | None,
    predicted: NDArray | None,
) -> tuple[NDArray, NDArray[np.float64]]:
    """``(z_y - z_max, sum_j exp(z_j - z_max))`` for rows ``lo:hi`` of a wide array."""
    n, k = hi - lo, logits.shape[1]
    z = scratch.rows(logits, lo, hi, dtype)
    best = np.argmax(z, axis=1, out=scratch.get("argmax", (n,), np.intp))
    if predicted is not None:
        predicted[lo:hi] = best
    row_starts = scratch.arange(n, k)
    max_at = row_starts + best
    top = z.reshape(-1).take(max_at)
    exps = np.subtract(z, top[:, None], out=scratch.get("exp", (n, k), dtype))
    neg_gap = exps.reshape(-1).take(row_starts + labels[lo:hi])
    np.exp(exps, out=exps)
    # The maximum's exp(0) = 1 leaves the float32 sum and is added back in float64,
    # which keeps a tiny rest (a small loss) accurate.
    exps.reshape(-1)[max_at] = 0.0
    rest = np.sum(exps, axis=1, out=scratch.get("rest", (n,), dtype))
    return neg_gap, np.add(rest, 1.0, dtype=np.float64)


def _logits_facts(
    logits: NDArray,
    lo: int,
    hi: int,
    scores: HardScores,
    total: NDArray[np.float64],
    neg_gap: NDArray,
    n_max: NDArray | None,
) -> None:
    rows = slice(lo, hi)
    if n_max is not None:
        _fix_ties(logits, lo, n_max[rows], scores.predicted[rows])
    confidence = np.divide(1.0, total, out=scores.confidence[rows])
    np.multiply(np.exp(neg_gap), confidence, out=scores.p_true[rows])
