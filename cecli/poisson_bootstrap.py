"""The streaming Poisson bootstrap: an interval from per-resample sums only.

The row bootstrap of :mod:`cecli.bootstrap` draws ``n`` rows with
replacement, so it must hold every row. The Poisson bootstrap (Chamandy,
Muralidharan, Najmi and Naidu, "Estimating uncertainty for massive data
streams", Google, 2012) gives each row, in each resample, an independent
Poisson(1) weight ``k`` instead: the number of times a row is drawn when ``n``
rows are drawn from ``n`` is Binomial(n, 1/n), which is Poisson(1) in the
limit. A resample's statistic is then a ratio of sums,

    mean_r = sum_i k_ir w_i d_i / sum_i k_ir w_i,

so the state is a few sums per resample, whatever the number of rows, and two
states over other rows merge by adding them.

Three things make the answer the same however the rows are cut into chunks
or shared among workers:

* **Each weight depends only on the seed, the resample and the row's global
  number.** The weights come from Philox-4x64 (a counter-based generator,
  Salmon et al. 2011, NumPy's :class:`numpy.random.Philox`) keyed by the seed:
  row ``i``'s draws are the words at counter ``i * steps``, so a chunk that
  starts at row ``i`` sets the counter there and draws its rows' weights
  without drawing any other row's. Each 32 bits of a row's words are one
  uniform ``u`` (see :func:`poisson_weights`), turned into a Poisson(1)
  draw by inverting its CDF: ``k`` is how many of the thresholds
  ``floor(2**32 * P(K <= j))`` are at most ``u`` (so each probability is
  right to ``2**-32``; a draw is at most 12).
* **The sums are exact.** Each row's value is rounded to a multiple of
  ``2**-156`` (about 1e-47) and split into 40-bit integer "limbs" at fixed
  binary places; a product ``k * limb`` and the sum of a block of them are
  integers below ``2**53``, so float64 adds them without rounding, in any
  order (BLAS's matrix product included), and a carry step keeps the limbs
  small. A sum is read out by :func:`math.fsum`, correctly rounded from its
  exact value. Merging is adding exact integers: bit for bit the same in any
  order and any split.
* **The interval is read from the sums alone**: the percentiles of the
  resamples' ratios. (BCa needs every row's jackknife value, so it is not
  offered here.)

The weights are drawn in blocks of rows x resamples with NumPy, with no Python
loop over rows. The cost is a uniform, a table lookup and a multiply-add per
row and resample (2.7 times the row BCa bootstrap's CPU time at 2,000
resamples of 1,000,000 rows; ``benchmarks/bench_poisson.py``); the memory is
a block of weights a thread (about 15 MB, whatever the rows) and ``resamples x
limbs`` floats per sum (313 KiB at 2,000 resamples).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli._threads import n_threads
from cecli.bootstrap import MIN_ROWS, BootstrapResult, check_bootstrap_options
from cecli.errors import OptionError, ShapeError, ValueRangeError, WeightError

#: Bits per limb, and most rows summed at a time: a draw (at most 12) times a limb (below
#: 2**40) summed over 512 rows, plus a limb, stays below 2**53, so float64 sums are exact.
LIMB_BITS = 40
BLOCK_ROWS = 512
#: Most multiply-adds (rows x limbs x resamples) in one matrix product: OpenBLAS runs a
#: product of at most 65,536 x 4 of them (its GEMM_MULTITHREAD_THRESHOLD) on the calling
#: thread. Past it, its threads start and then spin between calls: the draws of the next
#: block took twice the CPU time for the same wall time (1M rows x 500 resamples, 6.4 against
#: 2.9 CPU-s on 2 cores), unless OPENBLAS_NUM_THREADS=1, as the command line sets.
SINGLE_THREAD_PRODUCT = 1 << 18
#: Every value is rounded to a multiple of 2**-FLOOR_BITS (about 1e-47) before it is summed.
FLOOR_BITS = 156
#: Values of this size or more are refused: their limbs would overflow the readout.
MAX_VALUE = 2.0**700
#: Most cells (rows x resamples) of weights drawn at a time: 8 MB of float64 weights, about
#: 15 MB of buffers a thread in all. 1 << 18 cuts the working memory from 45 to 13 MiB but
#: takes 1.3 to 1.5 times as long (200,000 rows x 2,000 resamples, 2 threads).
BLOCK_CELLS = 1 << 20
#: The sums kept per resample: of k*w*d, of k*w, of k*a (the accuracy difference), of k.
LOSS, WEIGHT, ACCURACY, COUNT = range(4)
_RADIX = float(1 << LIMB_BITS)


def _thresholds() -> NDArray[np.uint64]:
    """``floor(2**32 * P(K <= j))`` for K ~ Poisson(1), for each j while below 2**32 - 1."""
    with localcontext() as context:
        context.prec = 50
        e_inv = Decimal(-1).exp()
        out, cdf, term, j = [], Decimal(0), e_inv, 0
        while True:
            cdf += term
            level = int(cdf * (1 << 32))
            if level >= (1 << 32) - 1:  # the draws above j would have 2**-32 or less
                return np.array(out, dtype=np.uint64)
            out.append(level)
            j += 1
            term /= j


THRESHOLDS = _thresholds()
#: The largest draw: u at or above every threshold.
MAX_DRAW = len(THRESHOLDS)


def _lookup() -> NDArray[np.uint8]:
    """The draw for each value of a uniform's top 16 bits, 255 where a threshold splits it."""
    top = np.arange(1 << 16, dtype=np.uint64) << np.uint64(16)
    low = np.searchsorted(THRESHOLDS, top, side="right")
    high = np.searchsorted(THRESHOLDS, top + np.uint64(0xFFFF), side="right")
    return np.where(low == high, low, 255).astype(np.uint8)


_TABLE = _lookup()


def _key(seed: int) -> NDArray[np.uint64]:
    # a seed of any size, spread over Philox's 128-bit key as NumPy spreads seeds
    return np.random.SeedSequence(seed).generate_state(2, np.uint64)


def _cells_per_row(n_resamples: int) -> int:
    # a whole number of Philox blocks (4 words, 8 uniforms) per row, so a row starts a block
    return -(-n_resamples // 8) * 8


def poisson_weights(
    seed: int, first_row: int, n_rows: int, n_resamples: int, out: NDArray[np.uint8] | None = None
) -> NDArray[np.uint8]:
    """The Poisson(1) weights of rows ``first_row`` to ``first_row + n_rows - 1``.

    Row ``i``'s weights are the same whatever rows are drawn with it: they
    depend on ``seed``, ``i`` and ``n_resamples`` only. ``out``, if given, is
    filled (shape ``(n_rows, n_resamples)``).

    Returns
    -------
    ndarray of uint8, shape (n_rows, n_resamples)

    Examples
    --------
    >>> w = poisson_weights(0, 0, 10, 5)
    >>> w.shape, bool((poisson_weights(0, 3, 2, 5) == w[3:5]).all())
    ((10, 5), True)
    """
    cells = _cells_per_row(n_resamples)
    generator = np.random.Philox(key=_key(seed), counter=first_row * (cells // 8))
    # each row's words as 16-bit pieces, in little-endian order on any platform: the first
    # `cells` are the top halves of its uniforms, the next `cells` their bottom halves (so
    # the lookup reads the top halves contiguously)
    pieces = generator.random_raw(n_rows * cells // 2).astype("<u8", copy=False).view("<u2")
    pieces = pieces.reshape(n_rows, 2 * cells)
    draws = np.take(_TABLE, pieces[:, :n_resamples], out=out)
    split = np.flatnonzero(draws == 255)
    if len(split):  # about 1 cell in 8,000: its top 16 bits straddle a threshold
        rows, columns = np.divmod(split, n_resamples)
        top = pieces[rows, columns].astype(np.uint64)
        exact = (top << np.uint64(16)) | pieces[rows, cells + columns]
        draws[rows, columns] = np.searchsorted(THRESHOLDS, exact, side="right")
    return draws


def _limbs(x: NDArray[np.float64]) -> tuple[list[int], NDArray[np.float64]]:
    """``x`` rounded to multiples of ``2**-FLOOR_BITS``, as signed 40-bit limbs.

    Returns the limb numbers that are not all 0 (limb ``j`` counts
    ``2**(40 j - FLOOR_BITS)``) and an array of shape ``(len(x), len(numbers))``.
    """
    q = np.rint(np.ldexp(x, FLOOR_BITS))
    biggest = float(np.max(np.abs(q))) if len(q) else 0.0
    n_limbs = max(1, math.frexp(biggest)[1] // LIMB_BITS + 1)
    numbers, columns = [], []
    rest = q
    for j in range(n_limbs):
        limb = np.fmod(rest, _RADIX)  # exact: rest is an integer-valued float
        if limb.any():
            numbers.append(j)
            columns.append(limb)
        rest = np.trunc(np.ldexp(rest, -LIMB_BITS))
        if not rest.any():
            break
    if not columns:
        return [], np.empty((len(x), 0))
    return numbers, np.column_stack(columns)


@dataclass(eq=False)
class PoissonBootstrap:
    """The fold: per-resample sums of the Poisson bootstrap, exact, mergeable.

    ``add`` takes a chunk of consecutive rows (their global first row number,
    each row's value, and optionally its weight and accuracy difference);
    ``merge`` adds the sums of another fold of the same seed and resamples
    over other rows (it changes only ``self``); ``result`` reads the interval.
    The sums are exact, so folds over any split of the rows, merged in any
    order, give the same bits as one fold over all of them.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.random.default_rng(0).normal(0.3, 1.0, 200)
    >>> whole = PoissonBootstrap(500, seed=1).add(0, d)
    >>> halves = PoissonBootstrap(500, seed=1).add(0, d[:73])
    >>> halves = halves.merge(PoissonBootstrap(500, seed=1).add(73, d[73:]))
    >>> bool(np.array_equal(whole.sums(), halves.sums()))
    True
    >>> r = whole.result()
    >>> r.method, r.ci_low < r.estimate < r.ci_high
    ('poisson', True)
    """

    n_resamples: int = 2000
    seed: int = 0
    #: Rows added, and rows of non-zero weight (what "insufficient_data" counts).
    n_rows: int = 0
    n_weighted: int = 0
    #: The smallest and largest value of non-zero weight: equal, every resample is the same.
    low: float = math.inf
    high: float = -math.inf
    #: Whether any row had an accuracy difference.
    accuracy: bool = False
    #: Limbs of each sum: shape (4, limbs, 1 + n_resamples); column 0 is the sample itself.
    limbs: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if self.seed is None:  # a fresh seed, kept: every add and merge must use the same
            self.seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
        check_poisson_options(self.n_resamples, 0.95, self.seed)
        if self.limbs is None:
            self.limbs = np.zeros((4, 1, 1 + self.n_resamples))

    def add(
        self,
        first_row: int,
        values: ArrayLike,
        weights: ArrayLike | None = None,
        accuracy: ArrayLike | None = None,
        counted: ArrayLike | None = None,
    ) -> PoissonBootstrap:
        """Add rows ``first_row``, ``first_row + 1``, ... and return ``self``.

        ``values`` is each row's difference (finite), ``weights`` its
        non-negative weight (1 if None), ``accuracy`` its accuracy difference
        (-1, 0 or 1), summed unweighted. ``counted`` (0 or 1 a row; all 1 if
        None) leaves out rows that are there only to keep the numbering (rows
        ``ignore_index`` left out): give them value, weight and accuracy 0.
        """
        if isinstance(first_row, bool) or not isinstance(first_row, (int, np.integer)):
            raise OptionError(f"first_row must be a whole number; got {first_row!r}.")
        if first_row < 0:
            raise OptionError(f"first_row must be >= 0; got {first_row}.")
        d = np.ascontiguousarray(values, dtype=np.float64)
        n = len(d)
        if d.ndim != 1:
            raise ShapeError(f"values must be a 1-D array, one per row; got shape {d.shape}.")
        if not np.isfinite(d).all() or (n and float(np.max(np.abs(d))) >= MAX_VALUE):
            raise ValueRangeError("the values must be finite and below 2**700 in size.")
        w = None
        if weights is not None:
            w = np.ascontiguousarray(weights, dtype=np.float64)
            if w.shape != d.shape:
                raise ShapeError(f"weights have shape {w.shape}; the values have {d.shape}.")
            if not (np.isfinite(w).all() and (w >= 0).all()) or (n and w.max() >= MAX_VALUE):
                raise WeightError("weights must be finite and non-negative.")
        a = None
        if accuracy is not None:
            a = np.ascontiguousarray(accuracy, dtype=np.float64)
            if a.shape != d.shape:
                raise ShapeError(f"accuracy has shape {a.shape}; the values have {d.shape}.")
            self.accuracy = True
        c = None if counted is None else np.ascontiguousarray(counted, dtype=np.float64)
        if c is not None and c.shape != d.shape:
            raise ShapeError(f"counted has shape {c.shape}; the values have {d.shape}.")
        if n == 0:
            return self
        used = d if w is None else d[w > 0]
        if len(used):
            self.low = min(self.low, float(used.min()))
            self.high = max(self.high, float(used.max()))
        self.n_weighted += len(used)
        self.n_rows += n if c is None else int(np.count_nonzero(c))
        # exact sums: threads over consecutive parts of the rows, merged, give the same bits
        parts = 1
        if n * self.n_resamples >= 1 << 23:
            parts = min(n_threads(), -(-n // BLOCK_ROWS))
        cuts = [n * p // parts for p in range(parts + 1)]

        def run(p: int) -> NDArray[np.float64]:
            lo, hi = cuts[p], cuts[p + 1]
            part = (None if x is None else x[lo:hi] for x in (w, a, c))
            return _row_sums(self.seed, self.n_resamples, first_row + lo, d[lo:hi], *part)

        if parts > 1:
            with ThreadPoolExecutor(parts, thread_name_prefix="cecli-poisson") as pool:
                found = list(pool.map(run, range(parts)))
        else:
            found = [run(0)]
        assert self.limbs is not None
        for limbs in found:
            self.limbs = _carried(_added(self.limbs, limbs))
        return self

    def merge(self, other: PoissonBootstrap) -> PoissonBootstrap:
        """Add the sums of ``other`` (over other rows) to ``self``; ``other`` is not changed."""
        if (other.n_resamples, other.seed) != (self.n_resamples, self.seed):
            raise OptionError(
                f"cannot merge a Poisson bootstrap of {other.n_resamples} resamples, seed "
                f"{other.seed}, into one of {self.n_resamples}, seed {self.seed}."
            )
        assert self.limbs is not None
        assert other.limbs is not None
        self.limbs = _carried(_added(self.limbs, other.limbs))
        self.n_rows += other.n_rows
        self.n_weighted += other.n_weighted
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.accuracy = self.accuracy or other.accuracy
        return self

    def sums(self) -> NDArray[np.float64]:
        """Each sum, correctly rounded: shape (4, 1 + n_resamples), column 0 the sample's."""
        assert self.limbs is not None
        scales = [math.ldexp(1.0, LIMB_BITS * j - FLOOR_BITS) for j in range(self.limbs.shape[1])]
        out = np.empty(self.limbs.shape[::2])
        for statistic in range(4):
            terms = (self.limbs[statistic].T * scales).tolist()  # exact: powers of two
            out[statistic] = [math.fsum(t) for t in terms]
        return out

    def result(self, confidence: float = 0.95) -> BootstrapResult:
        """The mean value and its Poisson bootstrap percentile interval."""
        check_poisson_options(self.n_resamples, confidence, self.seed)
        sums = self.sums()
        return _read(sums[LOSS], sums[WEIGHT], self.low == self.high, confidence, self)

    def accuracy_result(self, confidence: float = 0.95) -> BootstrapResult:
        """The mean accuracy difference (unweighted) and its interval."""
        check_poisson_options(self.n_resamples, confidence, self.seed)
        sums = self.sums()
        return _read(sums[ACCURACY], sums[COUNT], False, confidence, self)


def _grown(limbs: NDArray[np.float64], n_limbs: int) -> NDArray[np.float64]:
    if limbs.shape[1] >= n_limbs:
        return limbs
    pad = np.zeros((4, n_limbs - limbs.shape[1], limbs.shape[2]))
    return np.concatenate([limbs, pad], axis=1)


def _added(limbs: NDArray[np.float64], other: NDArray[np.float64]) -> NDArray[np.float64]:
    """``limbs + other`` (both carried, so below 2**41: exact), as a new array."""
    out = _grown(limbs, other.shape[1]).copy()
    out[:, : other.shape[1]] += other
    return out


def _carried(limbs: NDArray[np.float64]) -> NDArray[np.float64]:
    """Move each limb's excess over 2**40 to the next, in place: the same value, small limbs."""
    if float(np.max(np.abs(limbs[:, -1]))) >= _RADIX / 2:
        limbs = _grown(limbs, limbs.shape[1] + 1)
    for j in range(limbs.shape[1] - 1):
        carry = np.trunc(limbs[:, j] / _RADIX)  # exact: integers below 2**53, a power of two
        limbs[:, j] -= carry * _RADIX
        limbs[:, j + 1] += carry
    return limbs


def _row_sums(
    seed: int,
    n_resamples: int,
    first_row: int,
    d: NDArray[np.float64],
    w: NDArray[np.float64] | None,
    a: NDArray[np.float64] | None,
    c: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The limbs of the four sums over consecutive rows, from ``first_row`` on."""
    limbs = np.zeros((4, 1, 1 + n_resamples))
    block = max(1, min(BLOCK_ROWS, BLOCK_CELLS // n_resamples))
    draws = np.empty((block, n_resamples), dtype=np.uint8)  # reused: fresh ones cost page faults
    weights = np.empty((block, n_resamples))
    for lo in range(0, len(d), block):
        hi = min(len(d), lo + block)
        m = hi - lo
        d_block = d[lo:hi]
        columns = [
            (LOSS, d_block if w is None else w[lo:hi] * d_block),
            (WEIGHT, None if w is None else w[lo:hi]),
            (COUNT, None if c is None else c[lo:hi]),
        ]
        if a is not None:
            columns.append((ACCURACY, a[lo:hi]))
        where, parts = [], []
        for statistic, x in columns:
            if x is None:  # all ones: limb 0 of 2**FLOOR_BITS is 1 row
                where.append((statistic, FLOOR_BITS // LIMB_BITS))
                parts.append(np.full((m, 1), float(1 << (FLOOR_BITS % LIMB_BITS))))
                continue
            numbers, found = _limbs(x)
            where += [(statistic, j) for j in numbers]
            parts.append(found)
        values = np.concatenate(parts, axis=1)
        if not values.shape[1]:  # every value 0 (rows only counted=0): nothing to add
            continue
        poisson_weights(seed, first_row + lo, m, n_resamples, out=draws[:m])
        np.copyto(weights[:m], draws[:m])
        sums = np.empty((values.shape[1], 1 + n_resamples))
        sums[:, 0] = values.sum(axis=0)  # exact: integers below 2**53
        # in products small enough for OpenBLAS to keep them on this thread (see
        # SINGLE_THREAD_PRODUCT): the products are a small part of the work, its threads not
        piece = max(1, SINGLE_THREAD_PRODUCT // (m * values.shape[1]))
        for r in range(0, n_resamples, piece):
            r_end = min(n_resamples, r + piece)
            sums[:, 1 + r : 1 + r_end] = values.T @ weights[:m, r:r_end]
        limbs = _grown(limbs, max(j for _, j in where) + 2)
        for (statistic, j), row in zip(where, sums, strict=True):
            limbs[statistic, j] += row
        limbs = _carried(limbs)
    return limbs


def _read(
    top: NDArray[np.float64],
    bottom: NDArray[np.float64],
    constant: bool,
    confidence: float,
    fold: PoissonBootstrap,
) -> BootstrapResult:
    if bottom[0] <= 0:
        raise WeightError("weights must not be all 0.")
    estimate = float(top[0] / bottom[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = top[1:] / bottom[1:]
    if constant:  # every resample's mean is the one value there is
        stats = np.full(fold.n_resamples, estimate)
        return BootstrapResult(estimate, estimate, estimate, confidence, float(estimate < 0),
                               fold.n_resamples, "exact", fold.seed, stats)  # fmt: skip
    used = stats[np.isfinite(stats)]  # a resample may give every row weight 0
    if not len(used):  # every one did (a row or two, a resample or two): no interval
        return BootstrapResult(estimate, math.nan, math.nan, confidence, math.nan,
                               fold.n_resamples, "poisson", fold.seed, used)  # fmt: skip
    alpha = (1 - confidence) / 2
    low, high = np.quantile(used, (alpha, 1 - alpha))
    return BootstrapResult(estimate, float(low), float(high), confidence,
                           float(np.mean(used < 0)), fold.n_resamples, "poisson", fold.seed,
                           used)  # fmt: skip


def check_poisson_options(n_resamples: int, confidence: float, seed: int | None) -> None:
    """Raise :class:`~cecli.errors.OptionError` for an option :class:`PoissonBootstrap` refuses.

    The same limits as :func:`cecli.bootstrap.check_bootstrap_options`.

    Examples
    --------
    >>> check_poisson_options(0, 0.95, 0)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: n_resamples must be a whole number from 1 to 10,000,000; got 0.
    """
    check_bootstrap_options(n_resamples, confidence, "percentile", seed)


def poisson_compare(
    diff: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    accuracy: NDArray[np.float64],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    counted: NDArray[np.float64] | None = None,
) -> tuple[BootstrapResult, BootstrapResult | None]:
    """The loss difference's and the accuracy difference's Poisson bootstrap intervals.

    As ``cecli compare --ci-method poisson`` computes them: one fold over the
    rows numbered from 0, both sums from the same weights. The accuracy's is
    None with fewer than :data:`cecli.bootstrap.MIN_ROWS` rows. ``counted``
    is that of :meth:`PoissonBootstrap.add`.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.linspace(-1.0, 2.0, 50)
    >>> loss, acc = poisson_compare(d, None, np.sign(d), n_resamples=200)
    >>> round(loss.estimate, 6), loss.method, acc.ci_low <= acc.estimate <= acc.ci_high
    (0.5, 'poisson', True)
    """
    fold = PoissonBootstrap(n_resamples, seed)  # type: ignore[arg-type]
    fold.add(0, diff, weights, accuracy, counted)
    loss = fold.result(confidence)
    if fold.n_rows < MIN_ROWS:
        return loss, None
    return loss, fold.accuracy_result(confidence)
