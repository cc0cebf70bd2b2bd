"""Calibration: is the model wrong, or right but over- or under-confident?

Pure NumPy, like :mod:`cecli.losses`: arrays in, numbers and plain result
objects out. Three pieces:

* :class:`CalibrationAccumulator` (and the one-shot :func:`calibration`)
  keeps per-bin sums, fed chunk by chunk and mergeable across workers, and
  reads from them the expected and maximum calibration error (ECE, MCE), the
  reliability table, an adaptive (equal-mass) ECE, the Brier score, the mean
  predictive entropy and, for soft targets, the split of cross-entropy into
  the targets' entropy plus the KL divergence.
* :func:`fit_temperature` finds the single temperature ``T`` that minimises
  the mean cross-entropy of ``softmax(logits / T)`` (for probabilities, of
  ``log p / T``), and reports the loss and ECE before and after.
* :class:`ReservoirSample` keeps a uniform random sample of a stream's rows in
  bounded memory, for fitting a temperature when the input cannot be read twice.

Conventions, in one place:

* **What is binned.** Categorical: the top-1 confidence ``max_k p_k``, and
  whether the top-1 class is the true one. Binary: the positive-class
  probability ``p``, and the target ``t`` (scikit-learn's
  ``calibration_curve``: per bin, mean predicted probability against the
  fraction of positives). Multilabel: every (sample, label) cell as a binary
  prediction. With soft targets ``t`` the "accuracy" credit of a row is the
  target probability of the predicted class, ``t[argmax p]`` (binary: ``t``):
  the chance that the prediction is right under the target distribution,
  which is 0 or 1 for one-hot targets.
* **Bin edges.** ``n_bins`` equal-width bins with edges ``b / n_bins``;
  bin ``b`` holds ``lower < c <= upper`` and the first bin also holds
  ``c = 0`` (``np.searchsorted(edges[1:-1], c)``). These are the bins of
  Guo et al. (2017), of scikit-learn's ``calibration_curve(strategy="uniform")``
  and of torchmetrics' original loop (``conf > lower & conf <= upper``).
  torchmetrics' later ``torch.bucketize(..., right=True)`` binning uses
  ``lower <= c < upper`` and counts ``c = 1`` in a hidden extra bin
  (Lightning-AI/torchmetrics#3510); that is not copied. The edges are
  correctly rounded, where scikit-learn's ``np.linspace(0, 1, n_bins + 1)``
  can be one ulp off (its ``linspace(0, 1, 6)[3]`` is 0.6000000000000001):
  all of these agree unless a confidence lies exactly on an edge.
* **ECE and MCE.** ``ECE = sum_b (W_b / W) |acc_b - conf_b|`` and
  ``MCE = max_b |acc_b - conf_b|`` over bins with positive weight, where
  ``W_b`` is the bin's weight (its count, unweighted), ``acc_b`` and
  ``conf_b`` its weighted mean credit and confidence.
* **Weights.** Sample weights make every mean a weighted mean
  ``sum_i w_i x_i / sum_i w_i`` and every bin's share its weight; class
  weights do not apply (calibration describes the data as it comes).
* **Units.** Entropies, KL divergence and losses are in the unit of ``base``
  (nats, bits or bans), as everywhere in cecli; the Brier score and the
  calibration errors are probabilities and have no unit.
* **Precision.** Per-row values are computed in float64 whatever the input's
  type (float32 logits included), and summed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _kernels, _validate
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.errors import EmptyInputError, OptionError, ShapeError

# Reused, not copied: target parsing and the stable softplus of the loss functions.
from cecli.losses import KINDS, Kind, unit_of
from cecli.losses._common import _class_index_targets, _softplus

__all__ = [
    "DEFAULT_BINS",
    "FINE_BINS",
    "TEMPERATURE_BOUNDS",
    "CalibrationAccumulator",
    "CalibrationSummary",
    "ReliabilityBin",
    "ReservoirSample",
    "TemperatureFit",
    "calibration",
    "fit_temperature",
]

#: Equal-width confidence bins by default, as torchmetrics uses.
DEFAULT_BINS = 15
#: Fine bins behind the adaptive ECE, equal-width in ``logit(confidence)``: each
#: is 0.00113 wide in logit, 0.00028 in confidence at 0.5, 0.11% of ``1 - c`` near 1.
FINE_BINS = 65536
#: The fine bins cover ``logit(c)`` in ``[-FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT]``
#: (``c`` from about 8.5e-17 to ``1 - 8.5e-17``, past the largest float64
#: below 1); the end bins take everything beyond.
FINE_LOGIT_LIMIT = 37.0
#: The temperatures :func:`fit_temperature` searches, ``T_min <= T <= T_max``.
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: A masked logit (-inf) is stood in for by this many below the row's maximum:
#: ``exp(beta * d)`` is still exactly 0 for every ``beta >= 1e-27``, ``d * 0`` is 0
#: where ``-inf * 0`` would be NaN, and the value is finite in float32 too.
_MASKED_GAP = -1e30
#: The temperature search stops when its Newton step is below this, relative to ``1 / T``.
_TOLERANCE = 1e-7
#: A cap on the temperature search's evaluations; bisection alone needs fewer than 50.
_MAX_EVALUATIONS = 100


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """One row of a reliability table.

    ``lower < confidence <= upper`` (the first bin includes 0). ``count`` is
    how many predictions fell in the bin and ``weight`` their total sample
    weight (the count, unweighted). ``confidence`` is the bin's weighted mean
    confidence and ``accuracy`` its weighted mean credit: for categorical
    predictions the fraction whose top-1 class is right, for binary the
    fraction of positives. ``gap = confidence - accuracy``: positive where the
    model is over-confident (binary: where it over-predicts the positive
    class). The three are None for a bin with no weight.
    """

    lower: float
    upper: float
    count: int
    weight: float
    confidence: float | None
    accuracy: float | None
    gap: float | None


@dataclass(frozen=True)
class CalibrationSummary:
    """What a :class:`CalibrationAccumulator` read from every row it was given.

    Attributes
    ----------
    kind : str
        ``"categorical"``, ``"binary"`` or ``"multilabel"``.
    unit : str
        The unit of ``entropy``, ``target_entropy``, ``kl_divergence`` and
        ``cross_entropy``: ``"nats"``, ``"bits"`` or ``"bans"``.
    n_samples : int
        Rows seen.
    n_predictions : int
        Predictions binned: one per row, or one per cell for multilabel.
    weight_sum : float
        The total sample weight of the rows (``n_samples`` when unweighted).
    sample_weighted : bool
        Whether any chunk came with sample weights.
    n_bins : int
        Equal-width bins in ``bins``, and groups in ``adaptive_bins``.
    ece, mce : float
        Expected and maximum calibration error over ``bins``.
    bins : tuple of ReliabilityBin
        All ``n_bins`` equal-width bins, empty ones included.
    mean_confidence, accuracy : float
        Weighted means over every prediction; ``mean_confidence - accuracy``
        is the overall over-confidence.
    adaptive_ece : float
        ECE over ``n_bins`` groups of about equal weight (equal-mass binning),
        approximated from fine bins; see :meth:`CalibrationAccumulator.result`.
    adaptive_ece_bound : float
        A bound on ``|adaptive_ece - exact equal-mass ECE|``.
    adaptive_bins : tuple of ReliabilityBin
        The non-empty equal-mass groups (at most ``n_bins``).
    brier : float
        Mean Brier score: categorical ``sum_k (p_k - t_k)^2`` per row (one-hot
        or soft ``t``, in [0, 2]); binary ``(p - t)^2`` (in [0, 1], as
        scikit-learn's ``brier_score_loss``); multilabel the mean over a
        row's labels of the binary score.
    entropy : float
        Mean entropy of the predicted distribution, ``-sum_k p_k log p_k``
        (binary and multilabel: of each cell's Bernoulli, averaged over labels).
    soft_targets : bool
        Whether any row had a soft (not 0/1, not one-hot) target.
    target_entropy, kl_divergence, cross_entropy : float or None
        With soft targets, the mean entropy of the targets ``H(t)``, the mean
        ``KL(t || p)`` and their sum, the mean cross-entropy
        ``H(t) + KL(t || p) = -sum_k t_k log p_k`` (probabilities clipped to
        ``[eps, 1 - eps]`` as in the loss functions). None without soft targets.
    """

    kind: str
    unit: str
    n_samples: int
    n_predictions: int
    weight_sum: float
    sample_weighted: bool
    n_bins: int
    ece: float
    mce: float
    bins: tuple[ReliabilityBin, ...]
    mean_confidence: float
    accuracy: float
    adaptive_ece: float
    adaptive_ece_bound: float
    adaptive_bins: tuple[ReliabilityBin, ...]
    brier: float
    entropy: float
    soft_targets: bool
    target_entropy: float | None
    kl_divergence: float | None
    cross_entropy: float | None


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature that minimises the mean cross-entropy, and what it changes.

    ``loss_before`` and ``ece_before`` are at ``T = 1`` on the same rows,
    computed the same way as ``loss`` and ``ece`` at ``temperature``, so the
    two pairs compare like with like (``loss_before - loss`` is the part of
    the loss that over- or under-confidence alone explains). ``at_bound`` is
    True when the minimum lies at or beyond an end of ``bounds``: then the
    true minimiser is that far out or further (``T = T_min`` when the
    predictions are all right and separable: the loss keeps falling as
    ``T -> 0``). ``evaluations`` counts passes of the objective over the rows.
    """

    temperature: float
    loss: float
    loss_before: float
    ece: float
    ece_before: float
    unit: str
    n_samples: int
    n_bins: int
    bounds: tuple[float, float]
    at_bound: bool
    evaluations: int


# --- shared pieces -------------------------------------------------------------------


#: ``x * log(max(x, TINY))`` is ``x log x`` for ``x > 0`` (to within one subnormal) and 0 at 0.
_TINY = float(np.finfo(np.float64).tiny)


def _safe_log(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(max(x, tiny))``: finite everywhere, so that ``x * _safe_log(x)`` is ``0`` at 0."""
    return np.log(np.maximum(x, _TINY))


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise OptionError(f"must be a whole number >= 1; got {n_bins!r}.", option="n_bins")
    return int(n_bins)


def _bin_edges(n_bins: int) -> NDArray[np.float64]:
    """``b / n_bins``, correctly rounded (``np.linspace(0, 1, 6)[3]`` is 0.6000000000000001)."""
    return np.arange(n_bins + 1) / n_bins


def _bin_index(confidence: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin ``b`` holds ``edges[b] < c <= edges[b + 1]``; 0 goes in the first, >1 in the last.

    The same as ``np.searchsorted(edges[1:-1], c)``, five times faster:
    ``ceil(c n) - 1``, then moved by one wherever rounding put ``c`` on the
    wrong side of an edge.
    """
    n = len(edges) - 1
    scaled = np.multiply(confidence, n)
    np.ceil(scaled, out=scaled)
    np.clip(scaled, 1, n, out=scaled)
    index = scaled.astype(np.intp)
    index -= 1
    index -= confidence <= edges[index]
    index += confidence > edges[index + 1]
    return np.clip(index, 0, n - 1, out=index)


def _fine_index(confidence: NDArray[np.float64]) -> NDArray[np.intp]:
    """The fine bin of each confidence: :data:`FINE_BINS` equal widths of ``logit(c)``.

    Equal widths in ``logit(c)`` resolve confidences near 1 (and near 0),
    where an over-confident model puts most of its predictions, as finely as
    those in the middle: ``1 - c`` is resolved to about 0.11% everywhere above
    0.99, where equal-width bins in ``c`` would put everything above
    ``1 - 1 / FINE_BINS`` in one bin.
    """
    c = np.clip(confidence, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        x = np.log(c)
        x -= np.log1p(-c)
    np.clip(x, -FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT, out=x)
    x += FINE_LOGIT_LIMIT
    x *= FINE_BINS / (2 * FINE_LOGIT_LIMIT)
    index = x.astype(np.intp)
    np.minimum(index, FINE_BINS - 1, out=index)
    return index


def _fine_edges() -> NDArray[np.float64]:
    """The fine bins' edges as confidences; the end bins reach 0 and 1."""
    x = np.linspace(-FINE_LOGIT_LIMIT, FINE_LOGIT_LIMIT, FINE_BINS + 1)
    edges = 1.0 / (1.0 + np.exp(-x))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


@dataclass
class _BinSums:
    """Per-bin totals: count, weight, and weighted sums of confidence and credit."""

    count: NDArray[np.int64]
    weight: NDArray[np.float64]
    confidence: NDArray[np.float64]
    credit: NDArray[np.float64]

    @classmethod
    def zeros(cls, n: int) -> _BinSums:
        return cls(np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n))

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
            return cls(
                count,
                count.astype(np.float64),
                np.bincount(index, weights=confidence, minlength=n),
                np.bincount(index, weights=credit, minlength=n),
            )
        return cls(
            count,
            np.bincount(index, weights=weight, minlength=n),
            np.bincount(index, weights=weight * confidence, minlength=n),
            np.bincount(index, weights=weight * credit, minlength=n),
        )

    def __iadd__(self, other: _BinSums) -> _BinSums:
        self.count += other.count
        self.weight += other.weight
        self.confidence += other.confidence
        self.credit += other.credit
        return self

    def grouped(self, starts: NDArray[np.intp]) -> _BinSums:
        """Sums over runs of consecutive bins beginning at ``starts`` (non-empty runs)."""
        return _BinSums(
            np.add.reduceat(self.count, starts),
            np.add.reduceat(self.weight, starts),
            np.add.reduceat(self.confidence, starts),
            np.add.reduceat(self.credit, starts),
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


def _table(sums: _BinSums, lower: NDArray, upper: NDArray) -> tuple[ReliabilityBin, ...]:
    rows = []
    for b in range(len(sums.count)):
        weight = float(sums.weight[b])
        if weight > 0:
            confidence = float(sums.confidence[b] / weight)
            accuracy = float(sums.credit[b] / weight)
            gap: float | None = confidence - accuracy
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
    starts = np.unique(np.concatenate([[0], cuts]))
    starts = starts[starts < FINE_BINS]
    groups = fine.grouped(starts)
    keep = groups.weight > 0
    ece = float(np.abs(groups.credit - groups.confidence).sum() / total)
    edges = _fine_edges()
    ends = np.append(starts[1:], FINE_BINS)
    groups = _BinSums(groups.count[keep], groups.weight[keep], groups.confidence[keep],
                      groups.credit[keep])  # fmt: skip
    table = _table(groups, edges[starts[keep]], edges[ends[keep]])
    return ece, bound, table


# --- per-chunk facts -----------------------------------------------------------------


@dataclass
class _Facts:
    """What one chunk contributes: per binned value, and per row (in nats)."""

    confidence: NDArray[np.float64]
    credit: NDArray[np.float64]
    brier: NDArray[np.float64]
    entropy: NDArray[np.float64]
    target_entropy: NDArray[np.float64]
    kl: NDArray[np.float64]
    soft: bool


def _class_major(preds: NDArray, lo: int, hi: int) -> NDArray[np.float64]:
    """Rows ``lo:hi`` as a ``K x B`` float64 array: classes on the outer axis.

    Every sum or maximum over classes then runs along the outer axis, which
    NumPy vectorises across the ``B`` rows (the layout of :mod:`cecli._kernels`;
    a reduction along a short inner axis is several times slower).
    """
    return np.array(preds[lo:hi].T, dtype=np.float64, order="C")


def _top1(
    values: NDArray[np.float64], top: NDArray[np.float64], preds: NDArray, lo: int
) -> NDArray[np.intp]:
    """The first class attaining ``top`` in each column of ``values``, as ``np.argmax`` gives."""
    is_max = np.equal(values, top).astype(np.float64)
    predicted = np.empty(values.shape[1], np.intp)
    _kernels._argmax_of_max(is_max, predicted)
    _kernels._fix_ties(preds, lo, is_max.sum(axis=0), predicted)
    return predicted


def _take(values: NDArray[np.float64], classes: NDArray[np.intp]) -> NDArray[np.float64]:
    """``values[classes[i], i]`` for each column ``i`` of a ``K x B`` array."""
    b = values.shape[1]
    return values.reshape(-1).take(classes * b + np.arange(b))


def _categorical_facts(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    eps: float | str,
    row_offset: int,
) -> _Facts:
    preds = _validate.as_float_array(y_pred, "Predictions")
    if preds.ndim != 2:
        raise ShapeError(
            "Categorical predictions must be 2-D (samples x classes); got shape "
            f"{preds.shape}. For one positive-class probability or logit per sample, "
            'use kind="binary".'
        )
    n, k = preds.shape
    _validate.check_not_empty(n, k)
    labels, targets = _class_index_targets(y_true, n, k, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    out = {name: np.empty(n) for name in _Facts.__dataclass_fields__ if name != "soft"}

    def work(lo: int, hi: int) -> bool:
        p = _class_major(preds, lo, hi)
        t = None if targets is None else _class_major(targets, lo, hi)
        if from_logits:
            top = p.max(axis=0)
            if not np.isfinite(top).all():
                return False
            d = np.subtract(p, top, out=p)  # z - max(z) <= 0, -inf for a masked class
            predicted = _top1(d, 0.0, preds, lo)
            masked = np.isneginf(d)
            if masked.any():
                if (masked & (t > 0) if t is not None else _take(masked, labels[lo:hi])).any():
                    return False
                # exp(-1e30) is 0 as exp(-inf) is, and 0 * -1e30 is 0 where 0 * -inf is NaN
                d[masked] = _MASKED_GAP
            p = np.exp(d)
            total = p.sum(axis=0)
            p /= total
            log_total = np.log(total)
            confidence = 1.0 / total  # exp(0) / total: the top class's probability
            # H(p) = log S - sum_j p_j d_j, with S = sum_j exp(d_j): no log of a tiny p
            entropy = log_total - (p * d).sum(axis=0)
            log_p = np.subtract(d, log_total, out=d)
        else:
            if not (p.min() >= 0.0 and (np.abs(p.sum(axis=0) - 1) <= ROW_SUM_TOLERANCE).all()):
                return False
            confidence = p.max(axis=0)
            predicted = _top1(p, confidence, preds, lo)
            entropy = -(p * _safe_log(p)).sum(axis=0)
            log_p = None  # formed below only where it is needed
        out["confidence"][lo:hi] = confidence
        out["entropy"][lo:hi] = entropy
        if t is None:
            y = labels[lo:hi]
            out["credit"][lo:hi] = predicted == y
            out["target_entropy"][lo:hi] = 0.0
            if log_p is None:  # probabilities: clipped as the loss clips them
                p_true = np.clip(_take(p, y), eps_value, 1.0 - eps_value)
                out["kl"][lo:hi] = -np.log(p_true)
            else:
                out["kl"][lo:hi] = -_take(log_p, y)
            # Brier: sum_j (p_j - [j = y])^2, formed without cancelling 1 against p_y
            b = p.shape[1]
            p.reshape(-1)[y * b + np.arange(b)] -= 1.0
            residual = p
        else:
            out["credit"][lo:hi] = _take(t, predicted)
            if log_p is None:
                log_p = np.log(np.clip(p, eps_value, 1.0 - eps_value))
            log_t = _safe_log(t)
            out["target_entropy"][lo:hi] = -(t * log_t).sum(axis=0)
            # KL(t || p) = sum_j t_j (log t_j - log p_j); a zero t_j adds nothing
            out["kl"][lo:hi] = (t * (log_t - log_p)).sum(axis=0)
            residual = np.subtract(p, t, out=p)
        np.square(residual, out=residual)
        out["brier"][lo:hi] = residual.sum(axis=0)
        return True

    if not all(_kernels.map_blocks(n, 8 * k * 4, work)):
        if not from_logits:
            _validate.raise_bad_probabilities(preds, row_offset, categorical=True)
        _validate.raise_bad_logits(preds, row_offset, _true_cells(labels, targets, k))
    return _Facts(**out, soft=targets is not None)


def _true_cells(
    labels: NDArray[np.intp], targets: NDArray[np.float64] | None, k: int
) -> Callable[[int, int], NDArray[np.bool_]]:
    """For :func:`cecli._validate.raise_bad_logits`: the cells whose logit must not be -inf."""

    def used(lo: int, hi: int) -> NDArray[np.bool_]:
        if targets is not None:
            return targets[lo:hi] > 0
        mask = np.zeros((hi - lo, k), dtype=bool)
        mask[np.arange(hi - lo), labels[lo:hi]] = True
        return mask

    return used


def _bernoulli_facts(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    eps: float | str,
    row_offset: int,
    multilabel: bool,
) -> _Facts:
    """Binary rows, or multilabel cells (each a binary prediction), averaged per row."""
    preds = _validate.as_float_array(y_pred, "Predictions")
    y = np.asarray(y_true)
    if multilabel:
        if preds.ndim == 1:
            preds = preds[:, None]
            y = y[:, None] if y.ndim == 1 else y
        if preds.ndim != 2 or y.ndim != 2:
            raise ShapeError(
                "Multilabel predictions and targets must be 2-D (samples x labels); got "
                f"shapes {preds.shape} and {y.shape}."
            )
        _validate.check_columns(preds.shape[1], y.shape[1])
    else:
        if preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if preds.ndim != 1 or y.ndim != 1:
            raise ShapeError(
                "Binary predictions and targets must be 1-D (one per sample); got shapes "
                f"{preds.shape} and {y.shape}. For several classes use "
                'kind="categorical"; for several labels per sample, kind="multilabel".'
            )
    n = len(preds)
    _validate.check_not_empty(n, preds.shape[1] if preds.ndim == 2 else None)
    _validate.check_same_rows(n, len(y), "targets")
    t = _validate.binary_targets(y, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    x = preds.astype(np.float64)
    if from_logits:
        if not np.isfinite(x).all():
            _validate.raise_nonfinite_binary_logits(preds, row_offset)
        # log p = -softplus(-z), log(1 - p) = -softplus(z): no overflow, no cancellation
        log_p, log_q = -_softplus(-x), -_softplus(x)
        p, q = np.exp(log_p), np.exp(log_q)
        entropy = -(p * log_p + q * log_q)
    else:
        if not (x.min() >= 0.0 and x.max() <= 1.0):
            _validate.raise_bad_probabilities(preds, row_offset, categorical=False)
        p, q = x, 1.0 - x
        clipped = np.clip(x, eps_value, 1.0 - eps_value)
        log_p, log_q = np.log(clipped), np.log1p(-clipped)
        entropy = -(p * _safe_log(p) + q * _safe_log(q))
    s = 1.0 - t
    log_t, log_s = _safe_log(t), _safe_log(s)
    target_entropy = -(t * log_t + s * log_s)
    # KL(t || p) term by term, as for categorical targets: no cancellation of H(t)
    kl = t * (log_t - log_p) + s * (log_s - log_q)
    brier = np.square(p - t)
    soft = not bool(((t == 0) | (t == 1)).all())

    def per_row(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values.mean(axis=1) if multilabel else values

    return _Facts(
        confidence=p.reshape(-1),
        credit=t.reshape(-1),
        brier=per_row(brier),
        entropy=per_row(entropy),
        target_entropy=per_row(target_entropy),
        kl=per_row(kl),
        soft=soft,
    )


def _facts(
    kind: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    eps: float | str,
    row_offset: int,
) -> _Facts:
    if kind == "categorical":
        return _categorical_facts(y_true, y_pred, from_logits, eps, row_offset)
    return _bernoulli_facts(y_true, y_pred, from_logits, eps, row_offset, kind == "multilabel")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise OptionError(f"must be one of {', '.join(KINDS)}; got {kind!r}.", option="kind")
    return kind


# --- the accumulator -----------------------------------------------------------------


class CalibrationAccumulator:
    """Calibration statistics over chunks of rows, mergeable across workers.

    Keeps only sums: per equal-width bin and per fine bin (:data:`FINE_BINS`
    of them, for the adaptive ECE), the count, weight and weighted sums of
    confidence and credit, and the weighted sums of the per-row Brier score,
    entropy, target entropy and KL divergence, all in float64. Memory does
    not grow with the input.

    Parameters
    ----------
    kind : {"categorical", "binary", "multilabel"}, default="categorical"
        What the predictions are; see the module's conventions.
    from_logits : bool, default=False
        Whether the predictions are logits (softmax for categorical, sigmoid
        otherwise) rather than probabilities.
    n_bins : int, default=15
        Equal-width confidence bins, and groups of the adaptive ECE.
    eps : float or "auto", default="auto"
        Probabilities are clipped to ``[eps, 1 - eps]`` before a log (in the
        KL divergence and cross-entropy only), as in the loss functions.
    base : "e", 2 or 10, default="e"
        The unit of entropies and the KL divergence: nats, bits or bans.

    Examples
    --------
    >>> from cecli.calibration import CalibrationAccumulator
    >>> acc = CalibrationAccumulator("categorical", n_bins=5)
    >>> acc.update([0, 1], [[0.9, 0.1], [0.7, 0.3]])
    >>> acc.update([1, 1], [[0.3, 0.7], [0.4, 0.6]])
    >>> s = acc.result()
    >>> round(s.ece, 4), round(s.mce, 4), round(s.brier, 4)
    (0.225, 0.4, 0.375)
    >>> [(b.lower, b.upper, b.count, b.accuracy) for b in s.bins if b.count]
    [(0.4, 0.6, 1, 1.0), (0.6, 0.8, 2, 0.5), (0.8, 1.0, 1, 1.0)]
    >>> other = CalibrationAccumulator("categorical", n_bins=5)
    >>> other.update([2], [[0.2, 0.2, 0.6]])
    >>> _ = acc.merge(other)
    Traceback (most recent call last):
    ...
    cecli.errors.ShapeError: Cannot merge calibration sums over 3 columns into sums over 2.
    """

    def __init__(
        self,
        kind: Kind = "categorical",
        *,
        from_logits: bool = False,
        n_bins: int = DEFAULT_BINS,
        eps: float | str = "auto",
        base: str | float = "e",
    ) -> None:
        self.kind = _check_kind(kind)
        self.from_logits = bool(from_logits)
        self.n_bins = _check_bins(n_bins)
        self.eps = eps
        _validate.resolve_eps(eps, np.dtype(np.float64))  # fail on a bad eps now, not later
        self.base = base
        self.unit, self._ln_base = unit_of(base)
        self.n_columns: int | None = None
        self.n_samples = 0
        self.n_predictions = 0
        self.sample_weighted = False
        self.soft_targets = False
        self.weight_sum = 0.0
        self._edges = _bin_edges(self.n_bins)
        self._bins = _BinSums.zeros(self.n_bins)
        self._fine = _BinSums.zeros(FINE_BINS)
        # weighted sums over rows, in nats
        self._brier = 0.0
        self._entropy = 0.0
        self._target_entropy = 0.0
        self._kl = 0.0
        self._next_row = 0

    def update(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None = None,
        *,
        row_offset: int | None = None,
    ) -> None:
        """Add one chunk of rows.

        ``y_true`` and ``y_pred`` are as for the loss functions of ``kind``:
        class indices or one-hot/soft target rows with an ``N x K`` array of
        probabilities or logits (categorical); 0/1 or soft targets with one
        positive-class probability or logit per row (binary); ``N x L`` of
        each (multilabel). ``row_offset`` (the chunk's first row in the whole
        input, by default following the rows added so far) only numbers rows
        in error messages.

        Raises
        ------
        cecli.errors.CecliError
            For input the loss functions would refuse (shapes, NaN, rows not
            summing to 1, labels out of range, a true class masked with -inf,
            bad weights), naming the row. A chunk that fails adds nothing.
        """
        offset = self._next_row if row_offset is None else int(row_offset)
        columns = np.shape(y_pred)[1] if np.ndim(y_pred) == 2 else 1
        if self.n_columns is not None and columns != self.n_columns:
            what = "labels" if self.kind == "multilabel" else "classes"
            raise ShapeError(
                f"This chunk has {columns} {what} but earlier ones had {self.n_columns}; every "
                "chunk must have the same columns."
            )
        facts = _facts(self.kind, y_true, y_pred, self.from_logits, self.eps, offset)
        n = len(facts.brier)
        weight = None
        if sample_weights is not None:
            weight = _validate.sample_weight_array(sample_weights, n, offset)
        per_row = [facts.brier, facts.entropy, facts.target_entropy, facts.kl]
        if weight is None:
            sums = [float(np.sum(v)) for v in per_row]
            row_weight = float(n)
            value_weight = None
        else:
            sums = [float(weight @ v) for v in per_row]
            row_weight = float(np.sum(weight))
            per_value = len(facts.confidence) // n
            value_weight = weight if per_value == 1 else np.repeat(weight, per_value)
        bins = _BinSums.of(
            _bin_index(facts.confidence, self._edges),
            facts.confidence,
            facts.credit,
            value_weight,
            self.n_bins,
        )
        fine = _BinSums.of(
            _fine_index(facts.confidence), facts.confidence, facts.credit, value_weight, FINE_BINS
        )
        # all checks passed: only now does the state change
        self.n_columns = columns
        self._bins += bins
        self._fine += fine
        self._brier += sums[0]
        self._entropy += sums[1]
        self._target_entropy += sums[2]
        self._kl += sums[3]
        self.weight_sum += row_weight
        self.n_samples += n
        self.n_predictions += len(facts.confidence)
        self.sample_weighted |= weight is not None
        self.soft_targets |= facts.soft
        self._next_row = max(self._next_row, offset + n)

    def merge(self, other: CalibrationAccumulator) -> CalibrationAccumulator:
        """Add another accumulator's rows to this one (in place) and return self.

        Both must have the same options; the result is the same, to float
        rounding, as one accumulator fed every row.
        """
        mine = (self.kind, self.from_logits, self.n_bins, self.eps, self.unit)
        theirs = (other.kind, other.from_logits, other.n_bins, other.eps, other.unit)
        if mine != theirs:
            raise OptionError("Only calibration accumulators with the same options can be merged.")
        if (
            self.n_columns is not None
            and other.n_columns is not None
            and self.n_columns != other.n_columns
        ):
            raise ShapeError(
                f"Cannot merge calibration sums over {other.n_columns} columns into sums over "
                f"{self.n_columns}."
            )
        if other.n_columns is not None:
            self.n_columns = other.n_columns
        self._bins += other._bins
        self._fine += other._fine
        self._brier += other._brier
        self._entropy += other._entropy
        self._target_entropy += other._target_entropy
        self._kl += other._kl
        self.weight_sum += other.weight_sum
        self.n_samples += other.n_samples
        self.n_predictions += other.n_predictions
        self.sample_weighted |= other.sample_weighted
        self.soft_targets |= other.soft_targets
        self._next_row = max(self._next_row, other._next_row)
        return self

    def result(self) -> CalibrationSummary:
        """Read the calibration statistics of every row added so far.

        The adaptive ECE is approximate: the exact one cuts the predictions,
        sorted by confidence, into ``n_bins`` groups of equal count; here the
        cuts fall on the edges of :data:`FINE_BINS` fine bins, equal-width in
        ``logit(confidence)``, each at the edge nearest the exact cut. Each
        group's sums are exact; ``adaptive_ece_bound`` bounds the difference
        from the exact equal-mass ECE (``2 / W`` times the weight between
        the exact and the chosen cuts), and is small unless many predictions
        share nearly the same confidence.

        Raises
        ------
        cecli.errors.EmptyInputError
            If no rows were added.
        cecli.errors.WeightError
            If the sample weights sum to zero.
        """
        if self.n_samples == 0:
            raise EmptyInputError("There are no samples to score (0 rows).")
        if not self.weight_sum > 0:
            _validate.raise_zero_total_weight("sample weights")
        value_weight = float(self._bins.weight.sum())
        ece, mce = _ece_mce(self._bins, value_weight)
        adaptive_ece, bound, adaptive_bins = _adaptive(
            self._fine, self.n_bins, value_weight, self.sample_weighted
        )
        scale = 1.0 / (self.weight_sum * self._ln_base)
        soft = self.soft_targets
        target_entropy = self._target_entropy * scale if soft else None
        kl = self._kl * scale if soft else None
        return CalibrationSummary(
            kind=self.kind,
            unit=self.unit,
            n_samples=self.n_samples,
            n_predictions=self.n_predictions,
            weight_sum=self.weight_sum,
            sample_weighted=self.sample_weighted,
            n_bins=self.n_bins,
            ece=ece,
            mce=mce,
            bins=_table(self._bins, self._edges[:-1], self._edges[1:]),
            mean_confidence=float(self._bins.confidence.sum() / value_weight),
            accuracy=float(self._bins.credit.sum() / value_weight),
            adaptive_ece=adaptive_ece,
            adaptive_ece_bound=bound,
            adaptive_bins=adaptive_bins,
            brier=self._brier / self.weight_sum,
            entropy=self._entropy * scale,
            soft_targets=soft,
            target_entropy=target_entropy,
            kl_divergence=kl,
            cross_entropy=None if kl is None else target_entropy + kl,
        )


def calibration(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    kind: Kind = "categorical",
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    n_bins: int = DEFAULT_BINS,
    eps: float | str = "auto",
    base: str | float = "e",
) -> CalibrationSummary:
    """Calibration statistics of one batch of predictions (a one-chunk accumulator).

    Parameters are those of :class:`CalibrationAccumulator` and its
    :meth:`~CalibrationAccumulator.update`.

    Examples
    --------
    >>> from cecli.calibration import calibration
    >>> s = calibration([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.45], kind="binary", n_bins=2)
    >>> round(s.ece, 4), round(s.brier, 6)
    (0.2875, 0.103125)
    >>> [(b.count, b.confidence, b.accuracy) for b in s.bins]
    [(2, 0.325, 0.0), (2, 0.75, 1.0)]
    >>> soft = calibration([[0.8, 0.2]], [[0.6, 0.4]])
    >>> round(soft.target_entropy + soft.kl_divergence, 6) == round(soft.cross_entropy, 6)
    True
    """
    acc = CalibrationAccumulator(kind, from_logits=from_logits, n_bins=n_bins, eps=eps, base=base)
    acc.update(y_true, y_pred, sample_weights)
    return acc.result()


# --- temperature scaling ---------------------------------------------------------------


@dataclass
class _Evaluation:
    """The objective at ``beta``: value, first and second derivative (nats), and confidences.

    ``precise`` evaluations run in float64; the others in float32 (see
    :meth:`_Objective.__call__`).
    """

    beta: float
    f: float
    grad: float
    curvature: float
    confidence: NDArray[np.float64]
    precise: bool


@dataclass
class _Objective:
    """The mean cross-entropy as a function of ``beta = 1 / T``, with what ECE needs.

    Categorical: ``gaps`` is ``z - max(z)`` class-major (``K x N``, see
    :func:`_class_major`) and ``target_gap`` is ``sum_k t_k gaps_k`` (the
    true class's gap, for class indices), so the loss of a row is
    ``log(sum_k exp(beta gaps_k)) - beta target_gap``. Binary: ``gaps`` is
    the logit of each prediction and ``target_gap`` its target. ``credit``
    and ``weight`` are per prediction.
    """

    kind: str
    gaps: NDArray[np.float64]
    target_gap: NDArray[np.float64]
    credit: NDArray[np.float64]
    weight: NDArray[np.float64] | None
    n_samples: int
    gaps32: NDArray[np.float32] | None = None
    weight_sum: float = field(init=False)

    def __post_init__(self) -> None:
        self.weight_sum = (
            float(len(self.credit)) if self.weight is None else float(np.sum(self.weight))
        )

    def _total(self, values: NDArray, lo: int = 0, hi: int | None = None) -> float:
        if self.weight is None:
            return float(np.sum(values, dtype=np.float64))
        return float(self.weight[lo:hi] @ values.astype(np.float64, copy=False))

    def __call__(self, beta: float, precise: bool = True) -> _Evaluation:
        """``f``, ``f'`` and ``f''`` at ``beta`` (in nats), and the confidences there.

        Categorical objectives run in float32 unless ``precise``: float64
        ``exp`` has no SIMD loop on many CPUs and costs four times as much.
        Float32 evaluations locate the minimiser to about 1e-7 relative; the
        numbers reported come from float64 evaluations.
        """
        if self.kind == "categorical":
            return self._categorical(beta, precise)
        return self._binary(beta)

    def _binary(self, beta: float) -> _Evaluation:
        z, t = self.gaps, self.target_gap
        x = beta * z
        # l = t softplus(-x) + (1 - t) softplus(x); dl/dbeta = z (p - t); d2l = z^2 p (1 - p)
        log_p, log_q = -_softplus(-x), -_softplus(x)
        p = np.exp(log_p)
        loss = -(t * log_p + (1.0 - t) * log_q)
        grad = z * (p - t)
        curvature = z * z * p * np.exp(log_q)
        f, g, c = (self._total(v) / self.weight_sum for v in (loss, grad, curvature))
        return _Evaluation(beta, f, g, c, p, True)

    def _categorical(self, beta: float, precise: bool) -> _Evaluation:
        gaps = self.gaps if precise or self.gaps32 is None else self.gaps32
        target_gap = self.target_gap
        k, n = gaps.shape
        confidence = np.empty(n)

        def work(start: int, stop: int) -> tuple[float, float, float]:
            step = max(1, _kernels.BLOCK_BYTES // (8 * k))
            e = np.empty((k, min(step, stop - start)), gaps.dtype)
            totals = [0.0, 0.0, 0.0]
            for lo in range(start, stop, step):
                hi = min(lo + step, stop)
                d, e_block = gaps[:, lo:hi], e[:, : hi - lo]
                np.multiply(d, beta, out=e_block)
                np.exp(e_block, out=e_block)
                # s_m = sum_j d_j^m exp(beta d_j); the top class adds exp(0) = 1, so s_0 >= 1
                s0 = e_block.sum(axis=0).astype(np.float64, copy=False)
                e_block *= d
                s1 = e_block.sum(axis=0).astype(np.float64, copy=False)
                e_block *= d
                s2 = e_block.sum(axis=0).astype(np.float64, copy=False)
                mean_d = s1 / s0
                # l = log s_0 - beta g; dl/dbeta = E_p[d] - g; d2l/dbeta2 = Var_p[d] >= 0
                loss = np.log(s0)
                loss -= beta * target_gap[lo:hi]
                grad = mean_d - target_gap[lo:hi]
                curvature = s2 / s0 - mean_d * mean_d
                np.divide(1.0, s0, out=confidence[lo:hi])
                for i, values in enumerate((loss, grad, curvature)):
                    totals[i] += self._total(values, lo, hi)
            return totals[0], totals[1], totals[2]

        parts = _kernels.map_row_ranges(n, 8 * k * 4, work)
        f, grad, curvature = (sum(part[i] for part in parts) / self.weight_sum for i in range(3))
        return _Evaluation(beta, f, grad, curvature, confidence, precise)


def _categorical_objective(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    eps: float | str,
    weight: NDArray[np.float64] | None,
) -> _Objective:
    preds = _validate.as_float_array(y_pred, "Predictions")
    if preds.ndim != 2:
        raise ShapeError(
            f"Categorical predictions must be 2-D (samples x classes); got shape {preds.shape}."
        )
    n, k = preds.shape
    _validate.check_not_empty(n, k)
    labels, targets = _class_index_targets(y_true, n, k, 0)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    gaps = np.empty((k, n))
    gaps32 = np.empty((k, n), np.float32)
    target_gap = np.empty(n)
    credit = np.empty(n)

    def work(lo: int, hi: int) -> bool:
        z = gaps[:, lo:hi]
        np.copyto(z, preds[lo:hi].T, casting="unsafe")
        if not from_logits:
            if not (z.min() >= 0.0 and (np.abs(z.sum(axis=0) - 1) <= ROW_SUM_TOLERANCE).all()):
                return False
            # temperature acts on log p; a 0 is clipped to eps, as the loss clips it
            np.log(np.clip(z, eps_value, 1.0, out=z), out=z)
        top = z.max(axis=0)
        if not np.isfinite(top).all():
            return False
        d = np.subtract(z, top, out=z)
        predicted = _top1(d, 0.0, preds, lo)
        t = None if targets is None else _class_major(targets, lo, hi)
        if d.min() < _MASKED_GAP:
            masked = np.isneginf(d)
            if ((masked & (t > 0)) if t is not None else _take(masked, labels[lo:hi])).any():
                return False
            # -inf, and finite gaps beyond float32's range, become the stand-in: exp is 0
            # either way
            np.maximum(d, _MASKED_GAP, out=d)
        if t is None:
            y = labels[lo:hi]
            target_gap[lo:hi] = _take(d, y)
            credit[lo:hi] = predicted == y
        else:
            target_gap[lo:hi] = (t * d).sum(axis=0)
            credit[lo:hi] = _take(t, predicted)
        gaps32[:, lo:hi] = d
        return True

    if not all(_kernels.map_blocks(n, 8 * k * 3, work)):
        if not from_logits:
            _validate.raise_bad_probabilities(preds, 0, categorical=True)
        _validate.raise_bad_logits(preds, 0, _true_cells(labels, targets, k))
    return _Objective("categorical", gaps, target_gap, credit, weight, n, gaps32)


def _bernoulli_objective(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    eps: float | str,
    weight: NDArray[np.float64] | None,
    multilabel: bool,
) -> _Objective:
    preds = _validate.as_float_array(y_pred, "Predictions")
    y = np.asarray(y_true)
    if not multilabel:
        preds = preds[:, 0] if preds.ndim == 2 and preds.shape[1] == 1 else preds
        y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if preds.shape != y.shape or preds.ndim != (2 if multilabel else 1):
        raise ShapeError(
            f"{'Multilabel' if multilabel else 'Binary'} predictions and targets must have the "
            f"same {'2-D' if multilabel else '1-D'} shape; got {preds.shape} and {y.shape}."
        )
    n = len(preds)
    _validate.check_not_empty(n, preds.shape[1] if multilabel else None)
    t = _validate.binary_targets(y, 0)
    x = preds.astype(np.float64)
    if from_logits:
        if not np.isfinite(x).all():
            _validate.raise_nonfinite_binary_logits(preds, 0)
        z = x
    else:
        if not (x.min() >= 0.0 and x.max() <= 1.0):
            _validate.raise_bad_probabilities(preds, 0, categorical=False)
        eps_value = _validate.resolve_eps(eps, preds.dtype)
        clipped = np.clip(x, eps_value, 1.0 - eps_value)
        z = np.log(clipped) - np.log1p(-clipped)  # the logit
    per_row = z.shape[1] if multilabel else 1
    if weight is not None and per_row > 1:
        weight = np.repeat(weight, per_row)
    kind = "multilabel" if multilabel else "binary"
    return _Objective(kind, z.reshape(-1), t.reshape(-1), t.reshape(-1), weight, n)


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise OptionError(
            f"must be two temperatures (low, high); got {bounds!r}.", option="bounds"
        ) from None
    # within 1e-6..1e6, beta times a masked class's stand-in gap still has exp 0
    if not (1e-6 <= low < high <= 1e6):
        raise OptionError(
            f"must be two temperatures with 1e-6 <= low < high <= 1e6; got {bounds!r}.",
            option="bounds",
        )
    return low, high


def fit_temperature(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    kind: Kind = "categorical",
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    n_bins: int = DEFAULT_BINS,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    eps: float | str = "auto",
    base: str | float = "e",
) -> TemperatureFit:
    """The temperature ``T`` that minimises the mean cross-entropy, found in ``bounds``.

    Categorical: the loss of ``softmax(z / T)`` for logits ``z``; for
    probabilities ``z = log(clip(p, eps, 1))``, so that ``softmax(z / T)`` is
    ``p^(1/T)`` renormalised (at ``T = 1`` this is ``p`` itself, renormalised:
    for rows that sum to 1 only within the tolerance, ``loss_before`` differs
    slightly from the loss functions' value). Binary and multilabel: the
    logit ``z`` (for a probability, ``log(p / (1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]``) is scaled to ``z / T``; multilabel fits one ``T`` for
    every cell. ``T > 1`` softens over-confident predictions, ``T < 1``
    sharpens under-confident ones; the top-1 class never changes.

    The search is bounded: ``T`` in ``bounds``, by default ``[0.05, 20]``.
    It runs over ``beta = 1 / T``, in which the mean cross-entropy is convex
    (a log-sum-exp of ``beta z`` minus a linear term), so the minimiser in
    the interval is unique and is where the derivative changes sign. A
    safeguarded Newton iteration finds it (see :func:`_minimise`): steps in
    ``log beta`` from ``T = 1``, bisection whenever a step leaves the
    bracket, float32 passes until the step is below 1e-5 relative, then
    float64 passes until it is below 1e-7 (usually one); 4 to 8 passes in
    all, each over every prediction, multithreaded.

    The rows must be in memory, and the fit keeps ``1.5`` times their
    float64 size besides: pass every row, or a :class:`ReservoirSample` of
    them when the input is streamed.

    Parameters
    ----------
    y_true, y_pred, kind, from_logits, sample_weights, eps, base
        As for :func:`calibration`.
    n_bins : int, default=15
        Equal-width bins for the ECE before and after.
    bounds : (float, float), default=(0.05, 20.0)
        The smallest and largest temperature searched, within [1e-6, 1e6].

    Returns
    -------
    TemperatureFit

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.calibration import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(0.0, 2.0, size=(20_000, 5))
    >>> p = np.exp(logits - logits.max(axis=1, keepdims=True))
    >>> p /= p.sum(axis=1, keepdims=True)
    >>> labels = (p.cumsum(axis=1) > rng.random((20_000, 1))).argmax(axis=1)
    >>> fit = fit_temperature(labels, 3 * logits, from_logits=True)
    >>> round(fit.temperature, 1), fit.ece < fit.ece_before, fit.loss < fit.loss_before
    (3.0, True, True)
    """
    kind = _check_kind(kind)
    n_bins = _check_bins(n_bins)
    t_min, t_max = _check_bounds(bounds)
    unit, ln_base = unit_of(base)
    n_rows = len(np.asarray(y_pred)) if np.ndim(y_pred) else 0
    weight = None
    if sample_weights is not None:
        weight = _validate.sample_weight_array(sample_weights, n_rows, 0)
    if kind == "categorical":
        objective = _categorical_objective(y_true, y_pred, from_logits, eps, weight)
    else:
        objective = _bernoulli_objective(
            y_true, y_pred, from_logits, eps, weight, kind == "multilabel"
        )
    weight_sum = objective.weight_sum
    if not weight_sum > 0:
        _validate.raise_zero_total_weight("sample weights")
    edges = _bin_edges(n_bins)

    def ece_of(at: _Evaluation) -> float:
        confidence = at.confidence
        sums = _BinSums.of(
            _bin_index(confidence, edges), confidence, objective.credit, objective.weight, n_bins
        )
        return _ece_mce(sums, weight_sum)[0]

    low, high = 1.0 / t_max, 1.0 / t_min
    start = objective(min(max(1.0, low), high))
    before = start if start.beta == 1.0 else objective(1.0)
    best, evaluations, at_bound = _minimise(objective, start, low, high)
    return TemperatureFit(
        temperature=1.0 / best.beta,
        loss=best.f / ln_base,
        loss_before=before.f / ln_base,
        ece=ece_of(best),
        ece_before=ece_of(before),
        unit=unit,
        n_samples=objective.n_samples,
        n_bins=n_bins,
        bounds=(t_min, t_max),
        at_bound=at_bound,
        evaluations=evaluations,
    )


def _minimise(
    objective: _Objective, start: _Evaluation, low: float, high: float
) -> tuple[_Evaluation, int, bool]:
    """Minimise a convex ``f`` over ``beta`` in ``[low, high]``: ``(at, evaluations, at_bound)``.

    A safeguarded Newton iteration for ``f'(beta) = 0``, its steps taken in
    ``u = log beta`` (``u -= g' / g''`` with ``g(u) = f(e^u)``), which
    overshoots far less than steps in ``beta`` when the curvature grows
    towards small ``beta``. It keeps a bracket ``[a, b]`` known to hold the
    minimiser (``f' < 0`` left of it, ``f' > 0`` right of it). A step that
    leaves the bracket becomes a try of the interval's end (once) if it left
    on that side, else the geometric midpoint of the bracket, as does any
    step where ``g'' <= 0``.

    Categorical objectives first run on float32 passes, until a step is
    below 1e-5 relative; that step is taken, and float64 passes continue
    until one is below :data:`_TOLERANCE` (usually the first: float32 puts
    the root within about 1e-7). The bracket is reset at the switch, since
    float32 signs that close to the root may be wrong.
    """
    a, b = low, high
    at, beta = start, start.beta
    precise = start.precise and objective.kind != "categorical"
    tolerance = _TOLERANCE if precise else 1e-5
    tried_low = tried_high = False
    evaluations = 1
    at_bound = False
    while evaluations < _MAX_EVALUATIONS:
        if at.beta != beta or (precise and not at.precise):
            at = objective(beta, precise)
            evaluations += 1
        grad = at.grad
        if (beta == high and grad <= 0) or (beta == low and grad >= 0):
            at_bound = grad != 0
            break
        tried_high |= beta == high
        tried_low |= beta == low
        if grad > 0:
            b = beta
        elif grad < 0:
            a = beta
        else:
            break
        # in u = log beta: g' = beta f', g'' = beta f' + beta^2 f''
        g1 = beta * grad
        g2 = g1 + beta * beta * at.curvature
        step = g1 / g2 if g2 > 0 else math.nan
        converged = abs(step) <= tolerance or b - a <= 1e-13 * b
        if converged and precise:
            break
        if converged or (not precise and evaluations >= _MAX_EVALUATIONS // 2):
            precise, tolerance, a, b = True, _TOLERANCE, low, high
            if not converged:
                continue
        if math.isnan(step):
            beta = math.sqrt(a * b)
            continue
        proposal = beta * math.exp(-min(max(step, -700.0), 700.0))
        if not a < proposal < b and not converged:
            if proposal >= b and b == high and not tried_high:
                proposal = high
            elif proposal <= a and a == low and not tried_low:
                proposal = low
            else:
                proposal = math.sqrt(a * b)
        beta = min(max(proposal, low), high)
    if not at.precise:
        at = objective(at.beta, True)
        evaluations += 1
    return at, evaluations, at_bound


# --- a reservoir of rows -----------------------------------------------------------------


class ReservoirSample:
    """A uniform random sample of at most ``capacity`` rows of a stream, mergeable.

    Every row gets a random key, uniform in [0, 1), from a seeded NumPy
    ``Generator``; the sample is the ``capacity`` rows with the smallest keys
    (bottom-k sampling). So every set of ``capacity`` rows is equally likely,
    whatever the chunk sizes, and merging two samples of different rows
    (keep the smallest keys of both) is a uniform sample of their union. The
    keys come from the generator in row order, so the same seed and the same
    rows give the same sample however the rows are chunked. Samplers that
    will be merged must have independent seeds:
    ``np.random.SeedSequence(seed).spawn(n_workers)`` gives them.

    Parameters
    ----------
    capacity : int
        The most rows kept.
    seed : int, SeedSequence or Generator, optional
        As for ``np.random.default_rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.calibration import ReservoirSample
    >>> sample = ReservoirSample(3, seed=0)
    >>> for lo in range(0, 10, 4):
    ...     rows = np.arange(lo, min(lo + 4, 10))
    ...     sample.update(rows * 10, rows % 2)
    >>> sample.n_seen, len(sample.rows)
    (10, 3)
    >>> values, parity = sample.arrays()
    >>> bool((values == sample.rows * 10).all() and (parity == sample.rows % 2).all())
    True
    """

    def __init__(
        self,
        capacity: int,
        seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
            raise OptionError(f"capacity must be a whole number >= 1; got {capacity!r}.")
        if capacity < 1:
            raise OptionError(f"capacity must be a whole number >= 1; got {capacity!r}.")
        self.capacity = int(capacity)
        self._rng = np.random.default_rng(seed)
        self.n_seen = 0
        self._keys = np.empty(0)
        self._rows = np.empty(0, np.int64)
        self._arrays: list[NDArray | None] | None = None
        self._next_row = 0

    @property
    def rows(self) -> NDArray[np.int64]:
        """The sampled rows' 0-based numbers in the stream, ascending."""
        return self._rows[np.argsort(self._rows, kind="stable")]

    def arrays(self) -> tuple[NDArray | None, ...]:
        """The sampled rows of each array given to :meth:`update`, in stream order."""
        if self._arrays is None:
            return ()
        order = np.argsort(self._rows, kind="stable")
        return tuple(None if a is None else a[order] for a in self._arrays)

    def update(self, *arrays: ArrayLike | None, row_offset: int | None = None) -> None:
        """Offer one chunk of rows: arrays aligned on their first axis (None stays None).

        ``row_offset`` is the chunk's first row in the stream (by default,
        following the rows offered so far).
        """
        values = [None if a is None else np.asarray(a) for a in arrays]
        present = [v for v in values if v is not None]
        if not present:
            raise OptionError("ReservoirSample.update needs at least one array.")
        n = len(present[0])
        if any(len(v) != n for v in present):
            raise ShapeError(
                "The arrays given to ReservoirSample.update must have the same number of rows; "
                f"got {[len(v) for v in present]}."
            )
        self._check_layout(values)
        offset = self._next_row if row_offset is None else int(row_offset)
        keys = self._rng.random(n)
        rows = np.arange(offset, offset + n, dtype=np.int64)
        self.n_seen += n
        self._next_row = max(self._next_row, offset + n)
        if len(self._keys) == self.capacity:
            # only a key below the largest kept one can enter
            pick = np.flatnonzero(keys < self._keys.max())
            keys, rows = keys[pick], rows[pick]
            values = [None if v is None else v[pick] for v in values]
        self._absorb(keys, rows, values)

    def merge(self, other: ReservoirSample) -> ReservoirSample:
        """Add another sample of different rows of the same stream (in place); return self."""
        if other.capacity != self.capacity:
            raise OptionError("Only reservoir samples of the same capacity can be merged.")
        if other._arrays is not None:
            self._check_layout(other._arrays)
            self._absorb(other._keys, other._rows, list(other._arrays))
        self.n_seen += other.n_seen
        self._next_row = max(self._next_row, other._next_row)
        return self

    def _check_layout(self, values: list[NDArray | None]) -> None:
        if self._arrays is None:
            return
        layout = [None if a is None else a.shape[1:] for a in self._arrays]
        if [None if v is None else v.shape[1:] for v in values] != layout:
            raise ShapeError(
                "Every chunk given to a ReservoirSample must hold the same arrays, with the "
                "same shapes apart from the number of rows."
            )

    def _absorb(
        self, keys: NDArray[np.float64], rows: NDArray[np.int64], values: list[NDArray | None]
    ) -> None:
        if self._arrays is None:
            self._arrays = [None if v is None else v[:0] for v in values]
        keys = np.concatenate([self._keys, keys])
        rows = np.concatenate([self._rows, rows])
        merged = [
            None if mine is None else np.concatenate([mine, new])
            for mine, new in zip(self._arrays, values, strict=True)
        ]
        if len(keys) > self.capacity:
            keep = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            keys, rows = keys[keep], rows[keep]
            merged = [None if m is None else m[keep] for m in merged]
        self._keys, self._rows, self._arrays = keys, rows, merged
