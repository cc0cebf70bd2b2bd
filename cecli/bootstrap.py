"""The paired bootstrap: a confidence interval for a mean difference over rows.

:func:`paired_bootstrap` takes one value per row (the candidate's loss minus
the baseline's) and resamples the rows with replacement: each resample draws
``n`` rows uniformly, and its statistic is the (weighted) mean of the values
drawn. The spread of the statistic over the resamples gives the interval.

How it stays fast and bounded, with no Python loop over rows:

* The rows are cut into blocks of 16,384. Drawing ``n`` rows uniformly is the
  same as first drawing how many of the ``n`` fall in each block (one
  multinomial draw per resample, with probabilities in proportion to the
  blocks' sizes) and then drawing that many rows uniformly inside each block.
  A block of values fits in the CPU's cache, so the gathers are cheap; a
  full block's row numbers are exactly 14 random bits, so they come straight
  from the bit generator, with no rejection.
* Resamples are done in groups of 16, each group with its own random
  stream spawned from the seed, on two threads (NumPy releases the GIL in
  its loops). A group's memory is a few megabytes, whatever ``n`` is.
* The streams depend on the seed and the group's number only, so the result
  is the same on any number of threads and, for a given NumPy version, on
  any platform.
* A draw costs four passes of NumPy, each near what NumPy can do: its
  random bits (a quarter of a 64-bit word), their widening to a row number,
  the gather, and the sum per resample; every other step is done once per
  block for all the resamples of a group, since each NumPy call hands the
  GIL to the other thread and back. Drawing per-row counts instead (as
  multinomial or Poisson weights) needs as many random numbers and as many
  passes. ``benchmarks/bench_compare.py`` times it against a NumPy loop and
  ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli._threads import n_threads
from cecli.bootstrap_interval import mean_jackknife, read_interval
from cecli.errors import (
    EmptyInputError,
    OptionError,
    ShapeError,
    ValueRangeError,
    WeightError,
    percent_hint,
)

#: Rows per block: a power of two (so that random bits pick a row of a full block), and
#: small enough that a block, its row numbers and the values gathered stay in L2.
BLOCK_ROWS = 1 << 14
#: Resamples per random stream (and per task on the thread pool).
GROUP = 16
#: Every resample's mean is kept (8 bytes, 16 with weights): 10 million is 160 MB at
#: most, and far more than an interval's digits need.
MAX_RESAMPLES = 10_000_000

#: Fewest rows for which an interval is a verdict (``cecli compare`` says
#: "insufficient_data" below it). Measured by simulation (1,000 to 2,000 trials
#: each, ``benchmarks/bootstrap_coverage.py``): a nominal 95% interval (BCa or
#: percentile) covers the mean of normal data 53% of the time at 2 rows, 73% at 3,
#: 83% at 5, 88% at 8 and 90% at 10; of skewed, lognormal data 87% at 10. From 10 rows
#: on it misses at most about twice as often as it should, and it improves slowly
#: after that (93% at 50 rows); below 10 it falls apart.
MIN_ROWS = 10

Method = Literal["bca", "percentile"]


@dataclass(frozen=True)
class BootstrapResult:
    """A mean difference and its bootstrap confidence interval.

    ``estimate`` is the mean of the values (weighted, if there were weights);
    ``ci_low`` and ``ci_high`` bound it at ``confidence``; ``p_below_zero`` is
    the fraction of resamples whose mean is below zero (for losses: where the
    candidate is better). ``method`` is the interval actually used: ``"bca"``
    falls back to ``"percentile"`` when the bias correction is undefined (every
    resample on one side of the estimate), and both become ``"exact"`` when
    every value is the same, so that no resample can differ.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    p_below_zero: float
    n_resamples: int
    method: str
    seed: int | None
    #: The statistic of every resample, in the order drawn.
    resamples: NDArray[np.float64]


def check_bootstrap_options(
    n_resamples: int = 2000, confidence: float = 0.95, method: str = "bca", seed: int | None = None
) -> None:
    """Raise :class:`~cecli.errors.OptionError` for an option :func:`paired_bootstrap` refuses.

    Examples
    --------
    >>> check_bootstrap_options(confidence=95)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: confidence must lie in (0, 1); got 95 (for 95%, write 0.95).
    """
    whole = (int, np.integer)
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, whole)
        or not 1 <= n_resamples <= MAX_RESAMPLES
    ):
        raise OptionError(
            f"must be a whole number from 1 to {MAX_RESAMPLES:,}; got {n_resamples}.",
            option="n_resamples",
        )
    if not 0 < confidence < 1:
        hint = percent_hint(confidence, lambda f: 0 < f < 1)
        raise OptionError(f"must lie in (0, 1); got {confidence:g}{hint}.", option="confidence")
    if method not in ("bca", "percentile"):
        raise OptionError(f"must be bca or percentile; got {method!r}.", option="method")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, whole) or seed < 0):
        raise OptionError(f"must be a whole number >= 0; got {seed!r}.", option="seed")


def paired_bootstrap(
    values: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = None,
    method: Method = "bca",
) -> BootstrapResult:
    """Bootstrap confidence interval of the (weighted) mean of per-row values.

    For a paired comparison, pass ``values = loss_candidate - loss_baseline``
    row by row: resampling the differences resamples the rows of both models
    together, which keeps the pairing.

    Parameters
    ----------
    values : array-like of shape (n,)
        One finite value per row.
    weights : array-like of shape (n,), optional
        Non-negative row weights; the statistic is then ``sum(w * v) / sum(w)``
        over the rows drawn.
    n_resamples : int, default 2000
        Number of bootstrap resamples.
    confidence : float, default 0.95
        Coverage of the two-sided interval, in (0, 1).
    seed : int, optional
        Seed of NumPy's ``Generator``; the same seed gives the same result,
        on any number of threads. None (the default here; ``cecli compare``
        passes 0) draws a fresh seed from the operating system, so that each
        call resamples differently.
    method : {"bca", "percentile"}, default "bca"
        ``"bca"``: bias-corrected and accelerated percentiles (Efron 1987),
        which hold their coverage better than plain percentiles when the
        values are skewed, as per-row log losses are. ``"percentile"``: the
        plain percentiles of the resampled means.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    OptionError
        For ``n_resamples`` outside 1 to 10,000,000, a confidence outside
        (0, 1), an unknown method, or a negative seed.
    EmptyInputError
        For no values.
    ShapeError
        For values that are not one row each, or weights of another shape.
    ValueRangeError
        For values that are not finite.
    WeightError
        For weights that are negative, not finite, or all 0.

    Examples
    --------
    >>> r = paired_bootstrap([0.5, -0.1, 0.2, 0.4, 0.1, 0.3], seed=0)
    >>> round(r.estimate, 4), r.ci_low < r.estimate < r.ci_high
    (0.2333, True)
    >>> paired_bootstrap([0.0, 0.0, 0.0], seed=0).method
    'exact'
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ShapeError(f"values must be a 1-D array, one per row; got shape {v.shape}.")
    if len(v) == 0:
        raise EmptyInputError("there are no rows to resample.")
    check_bootstrap_options(n_resamples, confidence, method, seed)
    bad = ~np.isfinite(v)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueRangeError(f"row {row}: the value {float(v[row])} is not finite.")
    w = None
    if weights is not None:
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != v.shape:
            raise ShapeError(f"weights have shape {w.shape}; the values have {v.shape}.")
        if not (np.isfinite(w).all() and (w >= 0).all()) or w.sum() <= 0:
            raise WeightError("weights must be finite, non-negative and not all 0.")

    estimate = _mean(v, w)
    spread = v if w is None else v[w > 0]
    if spread.min() == spread.max():
        # every resample's mean is this same value: the interval is the point
        return BootstrapResult(
            estimate,
            estimate,
            estimate,
            confidence,
            float(estimate < 0),
            n_resamples,
            "exact",
            seed,
            np.full(n_resamples, estimate),
        )

    stats = _resample_means(v, w, n_resamples, seed)
    return read_interval(
        stats, estimate, lambda: mean_jackknife(v, w, estimate), confidence, method,
        n_resamples, seed,
    )  # fmt: skip


def count_bootstrap(
    values: ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = None,
    method: Method = "bca",
) -> BootstrapResult:
    """:func:`paired_bootstrap` of values that take only a few distinct values, drawn exactly.

    A resample draws ``n`` rows uniformly with replacement, so how many of
    them hold each distinct value is multinomial, with probabilities the
    values' shares of the rows; the mean follows from those counts. Drawing
    the counts directly gives the bootstrap distribution of the mean exactly,
    at a cost that does not grow with the rows: for an accuracy difference
    (``correct_candidate - correct_baseline``, each row -1, 0 or 1), 2,000
    resamples of 1,000,000 rows take 0.1 s CPU (most of it finding the
    distinct values), where gathering the rows again takes 5.4 s
    (``benchmarks/bench_intervals.py``). The interval is then read as :func:`paired_bootstrap`
    reads it (BCa, or percentiles). Unweighted; the resamples are not those of
    a :func:`paired_bootstrap` call, but have the same distribution.

    Examples
    --------
    >>> r = count_bootstrap([1, 0, 0, -1, 1, 1, 0, 1, 0, 1] * 10, seed=0)
    >>> round(r.estimate, 2), r.ci_low < r.estimate < r.ci_high < 0.6
    (0.4, True)
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ShapeError(f"values must be a 1-D array, one per row; got shape {v.shape}.")
    if len(v) == 0:
        raise EmptyInputError("there are no rows to resample.")
    check_bootstrap_options(n_resamples, confidence, method, seed)
    if not np.isfinite(v).all():
        raise ValueRangeError("the values must be finite.")
    distinct, counts = np.unique(v, return_counts=True)
    estimate = _mean(v, None)
    if len(distinct) == 1:
        stats = np.full(n_resamples, estimate)
        return BootstrapResult(estimate, estimate, estimate, confidence, float(estimate < 0),
                               n_resamples, "exact", seed, stats)  # fmt: skip
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(len(v), counts / len(v), size=n_resamples)
    stats = (drawn @ distinct) / len(v)
    return read_interval(
        stats, estimate, lambda: mean_jackknife(v, None, estimate), confidence, method,
        n_resamples, seed,
    )  # fmt: skip


def _mean(v: NDArray[np.float64], w: NDArray[np.float64] | None) -> float:
    if w is None:
        return float(np.sum(v) / len(v))
    return float(np.dot(w, v) / np.sum(w))


def _resample_means(
    v: NDArray[np.float64], w: NDArray[np.float64] | None, n_resamples: int, seed: int | None
) -> NDArray[np.float64]:
    # the values to gather: v, or (w * v, w) side by side for the ratio
    gathered = v if w is None else np.column_stack([w * v, w])
    sums = resample_sums(gathered, block_sizes(len(v)), n_resamples, seed)
    if w is None:
        return sums / len(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[:, 0] / sums[:, 1]


def block_sizes(n: int) -> NDArray[np.int64]:
    """The rows of each block of :func:`paired_bootstrap`: :data:`BLOCK_ROWS`, the last fewer.

    Examples
    --------
    >>> block_sizes(40_000).tolist()
    [16384, 16384, 7232]
    """
    sizes = np.full(-(-n // BLOCK_ROWS), BLOCK_ROWS, dtype=np.int64)
    sizes[-1] = n - BLOCK_ROWS * (len(sizes) - 1)
    return sizes


def resample_sums(
    gathered: NDArray[np.float64],
    sizes: NDArray[np.int64],
    n_resamples: int,
    seed: int | None,
    segments: NDArray[np.intp] | None = None,
    by_counts: bool = False,
) -> NDArray[np.float64]:
    """Each resample's sums of ``gathered`` (one value, or one row of values, per row).

    The rows are the consecutive blocks of ``sizes`` (at most :data:`BLOCK_ROWS`
    each); a resample draws ``n = sum(sizes)`` rows uniformly with replacement
    (a multinomial count per block, then rows uniformly inside each). The same
    ``sizes``, ``n_resamples`` and ``seed`` draw the same rows whatever is
    gathered: :func:`paired_bootstrap` of two kinds of values over the same rows
    resamples them alike. Returns ``(n_resamples, *gathered.shape[1:])``; with
    ``segments`` (the first block of each run of blocks, ascending from 0), the
    sums per run: ``(n_resamples, len(segments), *gathered.shape[1:])``.

    ``by_counts`` (for several values per row) sums each block as a product:
    the times each of its rows was drawn in each resample (one ``bincount``
    of the group's draws), times the block's values. The same draws; for
    three values per row about 25% less time than gathering them, and a
    fourth value costs almost nothing more. A block of fewer than
    :data:`BLOCK_ROWS` rows then draws its rows as 16-bit integers: the same
    distribution as without ``by_counts``, not the same draws.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.arange(5.0)
    >>> a = resample_sums(v, block_sizes(5), 4, seed=1)
    >>> b = resample_sums(np.column_stack([v, 2 * v]), block_sizes(5), 4, seed=1)
    >>> bool(np.array_equal(a, b[:, 0])), bool(np.array_equal(2 * a, b[:, 1]))
    (True, True)
    """
    n = int(sizes.sum())
    offsets = (np.cumsum(sizes) - sizes).tolist()
    n_groups = -(-n_resamples // GROUP)
    streams = np.random.SeedSequence(seed).spawn(n_groups)
    tail = gathered.shape[1:]
    if segments is None:
        sums = np.zeros((n_resamples, *tail))
    else:
        sums = np.zeros((n_resamples, len(segments), *tail))
    mask = np.uint16(BLOCK_ROWS - 1)
    shifts = np.arange(GROUP, dtype=np.intp)
    local = threading.local()

    def buffers(total: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        # reused across blocks: fresh arrays of this size cost page faults on every call
        rows, picked = getattr(local, "buffers", (np.empty(0, np.intp), None))
        if len(rows) < total:
            rows = np.empty(total + total // 4, dtype=np.intp)
            picked = np.empty((len(rows), *tail))
            local.buffers = rows, picked
        assert picked is not None
        return rows[:total], picked[:total]

    def run(group: int) -> None:
        lo = group * GROUP
        hi = min(n_resamples, lo + GROUP)
        rng = np.random.Generator(np.random.PCG64(streams[group]))
        counts = rng.multinomial(n, sizes / n, size=hi - lo)
        # the bookkeeping of every block at once: each NumPy call hands the GIL over, and
        # on a busy machine the other thread may keep it for a while
        totals = counts.sum(axis=0).tolist()
        starts = (np.cumsum(counts, axis=0) - counts).T  # where each resample's draws start
        drawn = (counts > 0).T
        every = drawn.all(axis=1).tolist()
        block_sums = np.zeros((len(sizes), hi - lo, *tail))
        for b, size in enumerate(sizes.tolist()):
            total = totals[b]
            if total == 0:
                continue
            rows, picked = buffers(total)
            if size == BLOCK_ROWS:
                # a full block's row is exactly the low bits of 16 random bits; masked as
                # 16-bit words (SIMD-wide), then widened: half the cost of one mixed-type pass
                words = rng.bit_generator.random_raw(-(-total // 4)).view(np.uint16)[:total]
                np.bitwise_and(words, mask, out=words)
                np.copyto(rows, words)
            elif by_counts:  # 16-bit draws: six times faster than 64-bit ones, and as uniform
                np.copyto(rows, rng.integers(0, size, total, dtype=np.uint16))
            else:
                rows[:] = rng.integers(0, size, total)
            block = gathered[offsets[b] : offsets[b] + size]
            if by_counts:
                # each draw's resample, as bits above the row's: one count per (resample, row)
                rows += np.repeat(shifts[: hi - lo] * size, counts[:, b])
                drawn_rows = np.bincount(rows, minlength=(hi - lo) * size)
                times = drawn_rows.reshape(hi - lo, size).astype(np.float64)
                np.matmul(times, block, out=block_sums[b])
                continue
            np.take(block, rows, axis=0, out=picked, mode="wrap")  # rows < size: no wrap
            if every[b]:
                np.add.reduceat(picked, starts[b], axis=0, out=block_sums[b])
            else:  # a resample that drew no row here adds 0 (reduceat cannot say "empty")
                filled = drawn[b]
                block_sums[b][filled] = np.add.reduceat(picked, starts[b][filled], axis=0)
        if segments is None:
            # summed over the blocks in block order, one after the other: the same bits as
            # adding each block's sums as it is done
            np.add.reduce(block_sums, axis=0, out=sums[lo:hi])
        else:
            sums[lo:hi] = np.moveaxis(np.add.reduceat(block_sums, segments, axis=0), 0, 1)

    threads = min(n_threads(), n_groups)
    if threads > 1 and n * n_resamples >= 1 << 22:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cecli-bootstrap") as pool:
            list(pool.map(run, range(n_groups)))
    else:
        for group in range(n_groups):
            run(group)
    return sums
