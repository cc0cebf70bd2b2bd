"""Two models' calibration on the same rows: each one's ECE and Brier score, and the differences.

:func:`compare_calibration` takes each model's per-row calibration facts
(:class:`CalibrationRows`: the binned confidence, its credit, the row's
Brier score and sample weight), lined up row by row, and returns a
:class:`CalibrationComparison`: both models' ECE (equal-width bins, as
``cecli score --calibration`` reads it) and mean Brier score, and the
differences candidate - baseline with paired bootstrap intervals.

The ECE is not a mean over rows, so its bootstrap needs every resample's
per-bin sums for both models at once. Done row by row (a weighted
``np.bincount`` per resample) that is two passes over all the rows per
resample. Here the rows are sorted once by their pair of bins (the
baseline's, the candidate's: at most ``n_bins**2`` cells), so that each
cell's rows are consecutive; :func:`cecli.bootstrap.resample_sums` then draws
the rows exactly as :func:`cecli.bootstrap.paired_bootstrap` does (a
multinomial count per block of one cell, rows uniform inside it), and sums
each resample's ``w (credit - confidence)`` per cell for both models, the
Brier differences and the weights. A resample's per-bin sums of each model
are then sums over cells, and its ECEs ``sum_b |A_b - C_b| / W``. One pass of
the bootstrap gives the ECE and the Brier difference from the same
resamples, at the cost of a :func:`~cecli.bootstrap.paired_bootstrap` of three
or four values per row (``benchmarks/bench_intervals.py``).

The interval is BCa, with the jackknife's leave-one-out ECEs in closed
form (removing row ``i`` changes only its bin's sum in each model), or
plain percentiles. The ECE of a finite sample is biased upwards (``|.|`` of
a noisy bin sum), more for the model with thinner bins; the bootstrap
carries the same bias into each resample, which BCa's bias correction
partly undoes. The interval is of the difference of the two ECEs as
estimated with these bins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cecli.bootstrap import (
    BLOCK_ROWS,
    MIN_ROWS,
    BootstrapResult,
    Method,
    check_bootstrap_options,
    resample_sums,
)
from cecli.bootstrap_interval import mean_jackknife, read_interval
from cecli.calibration._bins import _bin_edges, _bin_index, _check_bins
from cecli.errors import ShapeError


@dataclass(frozen=True)
class CalibrationRows:
    """One model's per-row calibration facts, as ``cecli score --calibration`` bins them.

    ``confidence`` is what is binned (categorical: the top-1 probability;
    binary: the positive-class probability), ``credit`` what it is compared
    with (categorical: 1 if the top-1 class is right, for soft targets its
    target probability; binary: the target), ``brier`` each row's Brier
    score, ``weight`` its sample weight (class weights do not apply).
    """

    confidence: NDArray[np.float64]
    credit: NDArray[np.float64]
    brier: NDArray[np.float64]
    weight: NDArray[np.float64]

    @classmethod
    def concatenate(cls, parts: Sequence[CalibrationRows]) -> CalibrationRows:
        if not parts:
            empty = np.empty(0)
            return cls(empty, empty, empty, empty)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def take(self, order: NDArray[np.intp]) -> CalibrationRows:
        return CalibrationRows(*(getattr(self, f)[order] for f in _FIELDS))

    def __len__(self) -> int:
        return len(self.confidence)


_FIELDS = ("confidence", "credit", "brier", "weight")


@dataclass(frozen=True)
class CalibrationComparison:
    """What :func:`compare_calibration` found.

    ``baseline_ece`` and ``candidate_ece`` are each model's ECE over
    ``n_bins`` equal-width bins, ``*_brier`` its mean Brier score (weighted by
    the sample weights). ``ece`` and ``brier`` are the bootstrap results of
    the differences candidate - baseline (``estimate``, ``ci_low``,
    ``ci_high``); both from the same resamples. They are None with fewer
    than :data:`cecli.bootstrap.MIN_ROWS` rows of non-zero weight.
    """

    n_bins: int
    baseline_ece: float
    candidate_ece: float
    baseline_brier: float
    candidate_brier: float
    ece: BootstrapResult | None
    brier: BootstrapResult | None

    @property
    def delta_ece(self) -> float:
        return self.candidate_ece - self.baseline_ece

    @property
    def delta_brier(self) -> float:
        return self.candidate_brier - self.baseline_brier


def ece_of(rows: CalibrationRows, n_bins: int) -> float:
    """The ECE of one model's rows: ``sum_b |A_b - C_b| / W`` over ``n_bins`` equal bins.

    Examples
    --------
    >>> import numpy as np
    >>> rows = CalibrationRows(np.array([0.2, 0.9, 0.6, 0.45]), np.array([0.0, 1, 1, 0]),
    ...                        np.zeros(4), np.ones(4))
    >>> round(ece_of(rows, 2), 4)  # the binary example of cecli.calibration.calibration
    0.2875
    """
    index = _bin_index(rows.confidence, _bin_edges(n_bins))
    gaps = np.bincount(
        index, weights=rows.weight * (rows.credit - rows.confidence), minlength=n_bins
    )
    return float(np.abs(gaps).sum() / rows.weight.sum())


def compare_calibration(
    baseline: CalibrationRows,
    candidate: CalibrationRows,
    *,
    n_bins: int = 15,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    method: Method = "bca",
) -> CalibrationComparison:
    """Compare two models' ECE and Brier score over the same rows, with paired intervals.

    Parameters
    ----------
    baseline, candidate : CalibrationRows
        Each model's facts, row ``i`` of one the same sample as row ``i`` of
        the other, with the same weights.
    n_bins : int, default 15
        Equal-width confidence bins.
    n_resamples, confidence, seed, method
        The bootstrap's (see :func:`cecli.bootstrap.paired_bootstrap`).

    Returns
    -------
    CalibrationComparison

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(2000)
    >>> t = (rng.random(2000) < p).astype(float)  # calibrated
    >>> sharp = np.clip(p + 0.5 * (p - 0.5), 0, 1)  # over-confident
    >>> rows = lambda q: CalibrationRows(q, t, (q - t) ** 2, np.ones(2000))
    >>> c = compare_calibration(rows(p), rows(sharp), n_bins=10, n_resamples=500)
    >>> c.delta_ece > 0, c.ece.ci_low > 0, c.brier.ci_low < c.delta_brier < c.brier.ci_high
    (True, True, True)
    """
    n_bins = _check_bins(n_bins)
    check_bootstrap_options(n_resamples, confidence, method, seed)
    n = len(baseline)
    if len(candidate) != n:
        raise ShapeError(f"the baseline has {n} rows and the candidate {len(candidate)}.")
    w = baseline.weight
    total = float(w.sum())
    b_brier = float(w @ baseline.brier / total)
    c_brier = float(w @ candidate.brier / total)
    b_ece, c_ece = ece_of(baseline, n_bins), ece_of(candidate, n_bins)
    if np.count_nonzero(w) < MIN_ROWS:
        return CalibrationComparison(n_bins, b_ece, c_ece, b_brier, c_brier, None, None)
    ece, brier = _bootstrap(baseline, candidate, n_bins, n_resamples, confidence, seed, method)
    return CalibrationComparison(n_bins, b_ece, c_ece, b_brier, c_brier, ece, brier)


def _bootstrap(
    baseline: CalibrationRows,
    candidate: CalibrationRows,
    n_bins: int,
    n_resamples: int,
    confidence: float,
    seed: int | None,
    method: Method,
) -> tuple[BootstrapResult, BootstrapResult]:
    edges = _bin_edges(n_bins)
    w = baseline.weight
    weighted = not np.all(w == 1)
    b_bin = _bin_index(baseline.confidence, edges)
    c_bin = _bin_index(candidate.confidence, edges)
    cell = b_bin * n_bins + c_bin
    order = np.argsort(cell, kind="stable")
    cells, counts = np.unique(cell[order], return_counts=True)
    # the values summed per resample and cell: each model's w (credit - confidence), the
    # Brier differences (weighted: w times them, and w)
    b_gap = w * (baseline.credit - baseline.confidence)
    c_gap = w * (candidate.credit - candidate.confidence)
    brier_diff = candidate.brier - baseline.brier
    columns = [b_gap, c_gap, w * brier_diff if weighted else brier_diff]
    if weighted:
        columns.append(w)
    gathered = np.column_stack(columns)[order]
    # blocks of at most BLOCK_ROWS rows, none across two cells
    pieces = [-(-int(k) // BLOCK_ROWS) for k in counts]
    sizes = np.concatenate(
        [_cut(int(k)) for k in counts] if len(counts) else [np.empty(0, np.int64)]
    )
    segments = np.concatenate([[0], np.cumsum(pieces)[:-1]]).astype(np.intp)
    sums = resample_sums(gathered, sizes, n_resamples, seed, segments, by_counts=True)
    # each model's per-bin sums: the cells of each of its bins
    b_of_cell, c_of_cell = cells // n_bins, cells % n_bins
    b_bins = _per_bin(sums[:, :, 0], b_of_cell, n_bins)
    c_bins = _per_bin(sums[:, :, 1], c_of_cell, n_bins)
    n = len(w)
    resampled_w = sums[:, :, 3].sum(axis=1) if weighted else np.full(n_resamples, float(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        ece_stats = (np.abs(c_bins).sum(axis=1) - np.abs(b_bins).sum(axis=1)) / resampled_w
        brier_stats = sums[:, :, 2].sum(axis=1) / resampled_w
    total = float(w.sum())
    ece_estimate = ece_of(candidate, n_bins) - ece_of(baseline, n_bins)
    brier_estimate = float(w @ brier_diff / total)
    ece_loo = _ece_jackknife(b_bin, b_gap, c_bin, c_gap, w, n_bins)
    ece = read_interval(ece_stats, ece_estimate, lambda: ece_loo, confidence, method,
                        n_resamples, seed, exact_if_constant=True)  # fmt: skip
    # the Brier difference is a mean over rows: its jackknife is the mean's, as paired_bootstrap's
    brier_w = w if weighted else None
    brier = read_interval(
        brier_stats, brier_estimate, lambda: mean_jackknife(brier_diff, brier_w, brier_estimate),
        confidence, method, n_resamples, seed, exact_if_constant=True,
    )  # fmt: skip
    return ece, brier


def _cut(rows: int) -> NDArray[np.int64]:
    """The sizes of the blocks of a cell of ``rows`` rows: full blocks, then the rest."""
    sizes = np.full(-(-rows // BLOCK_ROWS), BLOCK_ROWS, dtype=np.int64)
    sizes[-1] = rows - BLOCK_ROWS * (len(sizes) - 1)
    return sizes


def _per_bin(
    cell_sums: NDArray[np.float64], bin_of_cell: NDArray[np.intp], n_bins: int
) -> NDArray[np.float64]:
    """``(resamples, cells)`` sums to ``(resamples, n_bins)``: each bin the sum of its cells'."""
    into = np.zeros((len(bin_of_cell), n_bins))
    into[np.arange(len(bin_of_cell)), bin_of_cell] = 1.0
    return cell_sums @ into


def _ece_jackknife(
    b_bin: NDArray[np.intp],
    b_gap: NDArray[np.float64],
    c_bin: NDArray[np.intp],
    c_gap: NDArray[np.float64],
    w: NDArray[np.float64],
    n_bins: int,
) -> NDArray[np.float64]:
    """Each row left out in turn: the ECE difference, in closed form.

    Leaving row ``i`` out changes one bin's sum of each model, by its gap:
    ``ECE^(-i) = (sum_b |S_b| - |S_{b_i}| + |S_{b_i} - g_i|) / (W - w_i)``.
    """

    def loo_sum(index: NDArray[np.intp], gap: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.bincount(index, weights=gap, minlength=n_bins)
        mine = sums[index]
        return np.abs(sums).sum() - np.abs(mine) + np.abs(mine - gap)

    rest = w.sum() - w
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (loo_sum(c_bin, c_gap) - loo_sum(b_bin, b_gap)) / rest
    return loo[(rest > 0) & (w > 0)]


def interval_text(result: BootstrapResult | None, digits: int = 4) -> str:
    """``+0.0012 to +0.0150``, or "not estimated"."""
    if result is None or not (math.isfinite(result.ci_low) and math.isfinite(result.ci_high)):
        return "not estimated"

    def signed(x: float) -> str:
        return f"{'+' if x > 0 else ''}{x:.{digits}f}"

    return f"{signed(result.ci_low)} to {signed(result.ci_high)}"
