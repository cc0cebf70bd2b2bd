"""Confidence bins: equal-width and fine edges, per-bin sums, ECE, MCE and the adaptive ECE."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# the bin edges and index live with the loss kernels' binning; the calibration modules
# (and slices, compare) import them from here
from cecli._class_bins import bin_edges as _bin_edges  # noqa: F401
from cecli._class_bins import bin_index as _bin_index
from cecli.calibration._results import ReliabilityBin
from cecli.errors import OptionError

#: Equal-width confidence bins by default, as torchmetrics uses.
DEFAULT_BINS = 15
#: The level of each reliability bin's Wilson interval on its accuracy.
WILSON_LEVEL = 0.95
#: ``statistics.NormalDist().inv_cdf(0.975)``, its bits: the quantile of :data:`WILSON_LEVEL`.
_WILSON_Z = 1.9599639845400536
#: Fine bins behind the adaptive ECE, equal-width in ``logit(confidence)``: each
#: is 0.00113 wide in logit, 0.00028 in confidence at 0.5, 0.11% of ``1 - c`` near 1.
FINE_BINS = 65536
#: The fine bins cover ``logit(c)`` in ``[-FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT]``
#: (``c`` from about 8.5e-17 to ``1 - 8.5e-17``, past the largest float64
#: below 1); the end bins take everything beyond.
FINE_LOGIT_LIMIT = 37.0


#: ``x * log(max(x, TINY))`` is ``x log x`` for ``x > 0`` (to within one subnormal) and 0 at 0.
_TINY = float(np.finfo(np.float64).tiny)


def _safe_log(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(max(x, tiny))``: finite everywhere, so that ``x * _safe_log(x)`` is ``0`` at 0.

    ``tiny`` is the smallest normal number of ``x``'s float type.
    """
    tiny = _TINY if x.dtype == np.float64 else float(np.finfo(x.dtype).tiny)
    return np.log(np.maximum(x, tiny))


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise OptionError(f"must be a whole number >= 1; got {n_bins!r}.", option="n_bins")
    return int(n_bins)


def _fine_index(
    confidence: NDArray[np.float64],
    out: NDArray[np.intp] | None = None,
    log_odds: NDArray[np.float64] | None = None,
) -> NDArray[np.intp]:
    """The fine bin of each confidence: :data:`FINE_BINS` equal widths of ``logit(c)``.

    Equal widths in ``logit(c)`` resolve confidences near 1 (and near 0),
    where an over-confident model puts most of its predictions, as finely as
    those in the middle: ``1 - c`` is resolved to about 0.11% everywhere above
    0.99, where equal-width bins in ``c`` would put everything above
    ``1 - 1 / FINE_BINS`` in one bin. ``log_odds``, the confidences'
    ``log(c / (1 - c))`` if known, spares computing them.
    """
    if log_odds is None:
        c = np.clip(confidence, 0.0, 1.0)
        with np.errstate(divide="ignore"):
            x = np.log(c)
            x -= np.log1p(-c)
        np.clip(x, -FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT, out=x)
    else:
        x = np.clip(log_odds, -FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT)
    x += FINE_LOGIT_LIMIT
    x *= FINE_BINS / (2 * FINE_LOGIT_LIMIT)
    index = x.astype(np.intp) if out is None else out
    if out is not None:
        np.copyto(out, x, casting="unsafe")  # truncates, as astype does
    np.minimum(index, FINE_BINS - 1, out=index)
    return index


def _coarse_of_fine(edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """For each fine bin, the equal-width bin (of ``edges``) holding all of it, or -1.

    A fine bin that an equal-width edge cuts (or comes within a millionth of
    a fine bin of) gets -1: its values are binned one by one. Every other
    fine bin's values lie strictly between two edges, so the table gives
    exactly the bin :func:`_bin_index` would. The fine index of a value is
    off by at most about 1e-11 of a fine bin near the edges (they lie in
    ``logit(c)`` within ``log(n_bins)`` of 0), far inside that margin.
    """
    interior = edges[1:-1]
    scale = FINE_BINS / (2 * FINE_LOGIT_LIMIT)
    # the edges on the fine bins' axis: fine bin f is [f, f + 1) there
    at = (np.log(interior) - np.log1p(-interior) + FINE_LOGIT_LIMIT) * scale
    table = np.searchsorted(at, np.arange(FINE_BINS), side="left").astype(np.intp)
    margin = 1e-6
    cut = np.concatenate([np.floor(at - margin), np.floor(at + margin)]).astype(np.intp)
    table[np.clip(cut, 0, FINE_BINS - 1)] = -1
    return table


#: Values given a fine bin at a time by :func:`_binned`: few NumPy calls, small temporaries.
_BIN_BLOCK = 1 << 17


def _binned(
    confidence: NDArray[np.float64],
    credit: NDArray[np.float64] | NDArray[np.bool_],
    weight: NDArray[np.float64] | None,
    edges: NDArray[np.float64],
    table: NDArray[np.intp],
    log_odds: NDArray[np.float64] | None = None,
) -> tuple[_BinSums, _BinSums]:
    """The equal-width (``edges``) and the fine bins' sums of the values.

    An equal-width bin's sums are those of the fine bins wholly inside it
    (``table``, :func:`_coarse_of_fine` of ``edges``), plus those of the few
    values in the fine bins that an edge cuts, binned one by one by
    :func:`_bin_index`: the same bins as binning every value so. ``log_odds``
    are the values' ``log(c / (1 - c))``, if known.

    One thread: on two threads, the many short NumPy calls handing the GIL
    back and forth made this slower (14 ms against 12 for 838,860 values).
    """
    n_bins = len(edges) - 1
    n = len(confidence)
    fine = np.empty(n, np.intp)
    is_cut = table < 0
    cut = []
    for lo in range(0, n, _BIN_BLOCK):
        hi = min(lo + _BIN_BLOCK, n)
        block = _fine_index(
            confidence[lo:hi], fine[lo:hi], None if log_odds is None else log_odds[lo:hi]
        )
        at = np.flatnonzero(is_cut.take(block))
        if at.size:
            cut.append(at + lo)
    if weight is None and credit.dtype == np.bool_:
        fine_sums = _BinSums.of_correct(fine, confidence, credit, FINE_BINS)  # uses up ``fine``
    else:
        fine_sums = _BinSums.of(fine, confidence, credit, weight, FINE_BINS)
    bins = fine_sums.coarsened(table, n_bins)
    if cut:
        at = np.concatenate(cut)
        c = confidence[at]
        w = None if weight is None else weight[at]
        bins += _BinSums.of(_bin_index(c, edges), c, credit[at], w, n_bins)
    return bins, fine_sums


def _fine_edges() -> NDArray[np.float64]:
    """The fine bins' edges as confidences; the end bins reach 0 and 1."""
    x = np.linspace(-FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT, FINE_BINS + 1)
    edges = 1.0 / (1.0 + np.exp(-x))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


@dataclass
class _BinSums:
    """Per-bin totals: count, weight, weighted sums of confidence and credit, squared weights.

    ``weight_sq`` (the sum of the squared weights; the count, unweighted) gives
    a bin's effective number of predictions, ``weight**2 / weight_sq`` (Kish).
    """

    count: NDArray[np.int64]
    weight: NDArray[np.float64]
    confidence: NDArray[np.float64]
    credit: NDArray[np.float64]
    weight_sq: NDArray[np.float64]

    @classmethod
    def zeros(cls, n: int) -> _BinSums:
        return cls(np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))

    @classmethod
    def of(
        cls,
        index: NDArray[np.intp],
        confidence: NDArray[np.float64],
        credit: NDArray[np.float64],
        weight: NDArray[np.float64] | None,
        n: int,
    ) -> _BinSums:
        count = np.bincount(index, minlength=n).astype(np.int64)
        if weight is None:
            as_float = count.astype(np.float64)
            return cls(
                count,
                as_float,
                np.bincount(index, weights=confidence, minlength=n),
                np.bincount(index, weights=credit, minlength=n),
                as_float.copy(),
            )
        return cls(
            count,
            np.bincount(index, weights=weight, minlength=n),
            np.bincount(index, weights=weight * confidence, minlength=n),
            np.bincount(index, weights=weight * credit, minlength=n),
            np.bincount(index, weights=weight * weight, minlength=n),
        )

    @classmethod
    def of_correct(
        cls,
        index: NDArray[np.intp],
        confidence: NDArray[np.float64],
        correct: NDArray[np.bool_],
        n: int,
    ) -> _BinSums:
        """:meth:`of`, unweighted, with credit 0 or 1; ``index`` is used up.

        One count of ``2 index + correct`` gives both counts per bin, with no
        float copy of ``correct`` (the sums of 0s and 1s are the same).
        """
        confidence_sums = np.bincount(index, weights=confidence, minlength=n)
        np.left_shift(index, 1, out=index)
        np.add(index, correct, out=index)
        both = np.bincount(index, minlength=2 * n)
        right = both[1::2]
        count = both[0::2] + right
        as_float = count.astype(np.float64)
        return cls(count, as_float, confidence_sums, right.astype(np.float64), as_float.copy())

    def coarsened(self, table: NDArray[np.intp], n: int) -> _BinSums:
        """The sums over the bins that ``table`` maps to each of ``n`` bins (-1: to none)."""
        # only the fine bins that hold values: an empty one adds +0.0 to its bin's sums,
        # which changes no bit, and a chunk fills only some of the 65,536
        used = np.flatnonzero(self.count)
        into = table[used]
        into[into < 0] = n

        def total(values: NDArray) -> NDArray[np.float64]:
            return np.bincount(into, weights=values[used], minlength=n + 1)[:n]

        # counts below 2**53 are summed exactly in float64
        count = total(self.count).astype(np.int64)
        return _BinSums(
            count,
            total(self.weight),
            total(self.confidence),
            total(self.credit),
            total(self.weight_sq),
        )

    def __getstate__(self) -> dict[str, object]:
        """The sums as pickled: only the bins with rows, when they are few.

        A shard's 65,536 fine bins hold a few thousand with rows; the rest are
        zeros that would make a worker's state 2.6 MB instead of about 90 kB.
        Unweighted weights equal the counts and are not stored twice. The
        round trip is exact.
        """
        used = np.flatnonzero(self.count)
        if 4 * used.size > self.count.size:
            return dict(self.__dict__)
        count = self.count[used]
        state: dict[str, object] = {
            "n": self.count.size,
            "used": used.astype(np.int32),
            "count": count,
            "confidence": self.confidence[used],
            "credit": self.credit[used],
        }
        as_float = count.astype(np.float64)
        for name in ("weight", "weight_sq"):
            values = getattr(self, name)[used]
            state[name] = None if np.array_equal(values, as_float) else values
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        if "used" not in state:
            self.__dict__.update(state)
            return
        n, used = int(state["n"]), state["used"]  # type: ignore[call-overload]
        count = state["count"]
        for name in ("count", "weight", "confidence", "credit", "weight_sq"):
            values = state[name]
            if values is None:  # unweighted: the counts
                values = np.asarray(count, dtype=np.float64)
            dense = np.zeros(n, np.int64 if name == "count" else np.float64)
            dense[used] = values
            setattr(self, name, dense)

    def __iadd__(self, other: _BinSums) -> _BinSums:
        self.count += other.count
        self.weight += other.weight
        self.confidence += other.confidence
        self.credit += other.credit
        self.weight_sq += other.weight_sq
        return self

    def grouped(self, starts: NDArray[np.intp]) -> _BinSums:
        """Sums over runs of consecutive bins beginning at ``starts`` (non-empty runs)."""
        return _BinSums(
            np.add.reduceat(self.count, starts),
            np.add.reduceat(self.weight, starts),
            np.add.reduceat(self.confidence, starts),
            np.add.reduceat(self.credit, starts),
            np.add.reduceat(self.weight_sq, starts),
        )


def _ece_mce(sums: _BinSums, total: float) -> tuple[float, float]:
    """``ECE = sum_b |A_b - C_b| / W`` and ``MCE = max_b |A_b - C_b| / W_b`` over bins with weight.

    ``A_b`` and ``C_b`` are a bin's weighted sums of credit and confidence,
    so ``|A_b - C_b| / W = (W_b / W) |acc_b - conf_b|``.
    """
    gaps = np.abs(sums.credit - sums.confidence)
    ece = float(gaps.sum() / total)
    present = sums.weight > 0
    mce = float((gaps[present] / sums.weight[present]).max()) if present.any() else 0.0
    return ece, mce


def _rms_error(sums: _BinSums, total: float) -> float:
    """``sqrt(sum_b (W_b / W) (acc_b - conf_b)^2) = sqrt(sum_b (A_b - C_b)^2 / W_b / W)``.

    torchmetrics' ``CalibrationError(norm="l2")``: the root of the
    bin-weighted mean squared gap, over bins with weight.
    """
    present = sums.weight > 0
    gaps = sums.credit[present] - sums.confidence[present]
    return math.sqrt(float((gaps * gaps / sums.weight[present]).sum() / total))


def wilson_interval(
    proportion: float, n: float, level: float = WILSON_LEVEL
) -> tuple[float, float]:
    """Wilson's score interval of a proportion observed over ``n`` trials (``n`` may be a fraction).

    ``(p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``,
    with ``z`` the normal quantile of ``(1 + level) / 2``. Unlike ``p -+ z se``
    it stays inside [0, 1] and is wide for a small ``n``, whatever ``p`` is.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(0.5, 4)]
    [0.15, 0.85]
    >>> [round(x, 4) for x in wilson_interval(1.0, 3)]
    [0.4385, 1.0]
    """
    if level == WILSON_LEVEL:
        z = _WILSON_Z
    else:
        from statistics import NormalDist  # some 3 ms to import (decimal, fractions, random)

        z = NormalDist().inv_cdf((1 + level) / 2)
    z2n = z * z / n
    centre = (proportion + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(proportion * (1 - proportion) / n + z2n / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _table(sums: _BinSums, lower: NDArray, upper: NDArray) -> tuple[ReliabilityBin, ...]:
    rows = []
    for b in range(len(sums.count)):
        weight = float(sums.weight[b])
        low = high = effective = None
        if weight > 0:
            confidence = float(sums.confidence[b] / weight)
            accuracy = float(sums.credit[b] / weight)
            gap: float | None = confidence - accuracy
            # Kish's effective count: the count, unweighted (counts below 2**53 are exact)
            effective = weight * weight / float(sums.weight_sq[b])
            low, high = wilson_interval(min(1.0, max(0.0, accuracy)), effective)
        else:
            confidence = accuracy = gap = None
        rows.append(
            ReliabilityBin(
                lower=float(lower[b]),
                upper=float(upper[b]),
                count=int(sums.count[b]),
                weight=weight,
                confidence=confidence,
                accuracy=accuracy,
                gap=gap,
                accuracy_ci_low=low,
                accuracy_ci_high=high,
                effective_count=effective,
            )
        )
    return tuple(rows)


def _equal_mass_cuts(
    cumulative: NDArray[np.float64], targets: NDArray[np.float64]
) -> NDArray[np.intp]:
    """For each target mass, the fine-bin edge whose cumulative mass is nearest (ties: lower)."""
    above = np.searchsorted(cumulative, targets, side="left")
    above = np.minimum(above, len(cumulative) - 1)
    below = np.maximum(above - 1, 0)
    nearer_below = np.abs(cumulative[below] - targets) <= np.abs(cumulative[above] - targets)
    return np.where(nearer_below, below, above)


def _adaptive(
    fine: _BinSums, n_bins: int, total: float, weighted: bool
) -> tuple[float, float, tuple[ReliabilityBin, ...]]:
    """Equal-mass ECE from the fine bins: ``(ece, bound, groups)``.

    The exact equal-mass ECE sorts the predictions by confidence and cuts
    them into ``n_bins`` groups of equal count (``np.array_split``; with
    sample weights, equal weight). Here each cut is moved to the nearest
    fine-bin edge; every group's sums stay exact. Moving a cut by ``m`` units
    of weight moves predictions whose ``credit - confidence`` lies in
    [-1, 1] between two neighbouring groups, changing their two terms of
    ``sum_b |A_b - C_b|`` by at most ``m`` each, so
    ``|ECE - exact ECE| <= 2 sum_k |moved_k| / W``: the bound returned.
    """
    cumulative = np.concatenate([[0.0], np.cumsum(fine.weight)])
    if weighted:
        targets = total * np.arange(1, n_bins) / n_bins
    else:
        # np.array_split: the first N % n_bins groups have one more
        n = round(total)
        k = np.arange(1, n_bins)
        targets = (k * (n // n_bins) + np.minimum(k, n % n_bins)).astype(np.float64)
    cuts = _equal_mass_cuts(cumulative, targets)
    # both ECEs lie in [0, 1], so they never differ by more than 1
    bound = min(1.0, float(2.0 * np.abs(cumulative[cuts] - targets).sum() / total))
    # the groups' first fine bins; a group that starts where the next does is empty
    # the cuts ascend (the targets do); np.unique would import numpy.ma, 6 ms at start-up
    starts = np.array(sorted({0, *cuts.tolist()}), dtype=np.intp)
    starts = starts[starts < FINE_BINS]
    groups = fine.grouped(starts)
    keep = groups.weight > 0
    ece = float(np.abs(groups.credit - groups.confidence).sum() / total)
    edges = _fine_edges()
    ends = np.append(starts[1:], FINE_BINS)
    groups = _BinSums(groups.count[keep], groups.weight[keep], groups.confidence[keep],
                      groups.credit[keep], groups.weight_sq[keep])  # fmt: skip
    table = _table(groups, edges[starts[keep]], edges[ends[keep]])
    return ece, bound, table
