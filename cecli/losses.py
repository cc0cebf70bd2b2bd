"""Cross-entropy per sample: binary, categorical and multilabel, from probabilities or logits.

Pure NumPy: arrays in, arrays out, no files, no printing. The three public
functions (:func:`categorical_cross_entropy`, :func:`binary_cross_entropy`,
:func:`multilabel_cross_entropy`) reduce the per-sample losses the way
scikit-learn's ``log_loss`` and PyTorch's ``cross_entropy`` do;
:func:`score` returns the per-sample facts a report needs and the per-class
sums that :class:`cecli.Accumulator` merges.

Conventions, in one place:

* losses are in nats (natural log) unless ``base`` is 2 (bits) or 10 (bans),
  which only rescales them;
* probabilities are clipped to ``[eps, 1 - eps]`` before the log, ``eps``
  being the machine epsilon of their float type by default, as in
  scikit-learn; every value that clipping changed is counted;
* a sample's weight is its ``sample_weights`` entry times the weight of its
  class (for soft targets, the target-weighted mean of the class weights), and
  a weighted mean is ``sum_i w_i l_i / sum_i w_i``: PyTorch's convention for
  ``weight`` with class-index targets, and scikit-learn's for ``sample_weight``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _kernels, _validate
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.errors import LabelError, OptionError, ShapeError, WeightError

Kind = Literal["binary", "categorical", "multilabel"]
Reduction = Literal["none", "mean", "sum"]
ClassWeights = ArrayLike | Literal["balanced"] | None

KINDS: tuple[str, ...] = ("binary", "categorical", "multilabel")
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")
UNITS = {"e": "nats", "2": "bits", "10": "bans"}
_LOG_BASE = {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}

__all__ = [
    "ClassSums",
    "LossResult",
    "SampleScores",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "multilabel_cross_entropy",
    "score",
    "unit_of",
]


def unit_of(base: str | float) -> tuple[str, float]:
    """The unit name and ``ln(base)`` for ``base`` in ``"e"``, ``2``, ``10``."""
    key = {"e": "e", "2": "2", "10": "10", "2.0": "2", "10.0": "10"}.get(str(base).strip().lower())
    if key is None and isinstance(base, float) and base == math.e:
        key = "e"
    if key is None:
        raise OptionError(
            f'must be "e" (nats), 2 (bits) or 10 (bans); got {base!r}.', option="base"
        )
    return UNITS[key], _LOG_BASE[key]


def log_base_of(unit: str) -> float:
    """``ln(base)`` of a unit name: ``"nats"``, ``"bits"`` or ``"bans"``."""
    return _LOG_BASE[next(key for key, name in UNITS.items() if name == unit)]


# --- results ---------------------------------------------------------------------


@dataclass(frozen=True)
class LossResult:
    """A reduced cross-entropy, with what it took to compute it.

    Attributes
    ----------
    loss : float or ndarray
        The mean or sum (a float), or with ``reduction="none"`` one weighted
        loss per sample (float64 array).
    clipped : int
        How many probabilities clipping to ``[eps, 1 - eps]`` changed (always 0
        for logits).
    unit : str
        ``"nats"``, ``"bits"`` or ``"bans"``.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"``.
    weight_sum : float
        The sum of the samples' weights (the number of samples when unweighted).
    """

    loss: float | NDArray[np.float64]
    clipped: int
    unit: str
    reduction: str
    weight_sum: float

    def __float__(self) -> float:
        if self.reduction == "none":
            raise TypeError('a per-sample result (reduction="none") is not one number')
        return float(self.loss)


@dataclass(frozen=True)
class ClassSums:
    """Per-class sums for one chunk, the currency of :class:`cecli.Accumulator`.

    For categorical and binary targets, class ``c`` means the rows whose
    target is ``c`` (soft targets count towards every class in proportion
    ``t_ic``); for multilabel it means the column of label ``c`` across rows.

    ``loss``    sum of ``s_i t_ic l_i`` (multilabel: sum of ``s_i l_ic``), in the unit
    ``mass``    sum of ``s_i t_ic`` (multilabel: sum of ``s_i``)
    ``support`` sum of ``t_ic`` (unweighted; "balanced" weights come from it)
    ``count``   rows whose label is ``c`` (multilabel: rows where label ``c`` is present)
    ``correct`` of those, predicted right (multilabel: cells of label ``c`` predicted right)
    ``flagged`` of those, confidently wrong (multilabel: cells)
    """

    loss: NDArray[np.float64]
    mass: NDArray[np.float64]
    support: NDArray[np.float64]
    count: NDArray[np.int64]
    correct: NDArray[np.int64]
    flagged: NDArray[np.int64]


@dataclass(frozen=True)
class SampleScores:
    """Per-sample facts for a batch of rows, as returned by :func:`score`.

    ``loss`` is each sample's loss in ``unit`` before any weighting.
    ``label`` is the true class (the largest target for soft targets;
    ``t >= 0.5`` for binary), ``predicted`` the argmax (binary: ``p >= 0.5``),
    ``confidence`` the probability of the predicted class, ``p_true`` the
    probability given to the true class. ``flagged`` marks the confidently
    wrong: wrong with ``confidence >= threshold``.

    For multilabel rows the facts describe the row's worst label (the one with
    the highest loss): ``label`` is its column, ``predicted`` is 1 if the model
    says the label is present, ``confidence`` and ``p_true`` are that cell's.
    A multilabel row is correct when every label is, and flagged when any
    cell is confidently wrong (``t = 1, p <= 1 - threshold`` or
    ``t = 0, p >= threshold``).
    """

    kind: str
    unit: str
    row_offset: int
    loss: NDArray[np.float64]
    label: NDArray[np.intp]
    predicted: NDArray[np.intp]
    confidence: NDArray[np.float64]
    p_true: NDArray[np.float64]
    correct: NDArray[np.bool_]
    flagged: NDArray[np.bool_]
    weight: NDArray[np.float64]
    clipped: int
    classes: ClassSums = field(repr=False)

    @property
    def n_samples(self) -> int:
        return len(self.loss)

    @property
    def rows(self) -> NDArray[np.int64]:
        """Each sample's 0-based row number in the whole input."""
        return np.arange(self.row_offset, self.row_offset + len(self.loss), dtype=np.int64)


# --- shared pieces ---------------------------------------------------------------------


@dataclass
class _Scored:
    """What a kind's scorer computed: losses in nats, and the facts if asked."""

    loss: NDArray[np.float64]
    clipped: int
    labels: NDArray[np.intp]
    targets: NDArray[np.float64] | None = None  # soft targets (N x K), None for class indices
    predicted: NDArray[np.intp] | None = None
    confidence: NDArray[np.float64] | None = None
    p_true: NDArray[np.float64] | None = None
    correct: NDArray[np.bool_] | None = None
    flagged: NDArray[np.bool_] | None = None
    class_sums: ClassSums | None = None  # multilabel only; losses in nats


def _check_options(label_smoothing: float, focal_gamma: float) -> tuple[float, float]:
    alpha = _validate.check_unit_interval(
        "label_smoothing", label_smoothing, open_low=False, open_high=False
    )
    return alpha, _validate.check_gamma(focal_gamma)


def _focal(ce: NDArray[np.float64], gamma: float) -> NDArray[np.float64]:
    """``(1 - p_t)^gamma * ce`` with ``p_t = exp(-ce)``; ``-expm1(-ce)`` keeps ``1 - p_t`` exact."""
    if gamma:
        ce *= np.power(-np.expm1(-ce), gamma)
    return ce


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


#: Rows per partial sum in :func:`_class_totals`.
_TOTALS_BLOCK = 2048


def _class_bins(labels: NDArray[np.intp], k: int) -> NDArray[np.intp] | None:
    """Bin numbers ``block * k + label`` for :func:`_class_totals`.

    None where binning does not apply: one block only, or so many classes that
    ``blocks x k`` bins would outgrow the rows (then classes are sorted instead).
    """
    n = len(labels)
    n_blocks = -(-n // _TOTALS_BLOCK)
    if n <= _TOTALS_BLOCK or n_blocks * k > 4 * n + (1 << 16):
        return None
    block_of = np.arange(n, dtype=np.intp)
    block_of //= _TOTALS_BLOCK
    block_of *= k
    block_of += labels
    return block_of


def _class_totals(
    labels: NDArray[np.intp],
    values: NDArray[np.float64],
    k: int,
    bins: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """``sum_i values_i`` per class, to about 1e-13 relative even over millions of rows.

    ``np.bincount`` adds one value at a time, so its rounding error grows with
    the row count (1e-11 over a million equal losses); each block of
    :data:`_TOTALS_BLOCK` rows is binned on its own (``bins`` from
    :func:`_class_bins`) and the blocks' totals are added pairwise, as
    ``np.sum`` does.
    """
    n = len(labels)
    if n <= _TOTALS_BLOCK:
        return np.bincount(labels, weights=values, minlength=k)
    if bins is None:
        bins = _class_bins(labels, k)
    if bins is None:
        # many classes: sort by class, then sum each class's run pairwise
        order = np.argsort(labels, kind="stable")
        sorted_labels, sorted_values = labels[order], values[order]
        present, starts = np.unique(sorted_labels, return_index=True)
        ends = np.append(starts[1:], n)
        totals = np.zeros(k)
        for c, a, b in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True):
            totals[c] = sorted_values[a:b].sum()
        return totals
    n_blocks = -(-n // _TOTALS_BLOCK)
    binned = np.bincount(bins, weights=values, minlength=n_blocks * k)
    return binned.reshape(n_blocks, k).sum(axis=0)


def _hard_sums(
    labels: NDArray[np.intp],
    k: int,
    loss: NDArray[np.float64],
    weight: NDArray[np.float64] | None,
    correct: NDArray[np.bool_],
    flagged: NDArray[np.bool_],
    targets: NDArray[np.float64] | None,
) -> ClassSums:
    """Per-class sums for categorical/binary rows (soft targets spread over classes).

    ``weight`` None means every sample weighs 1: the mass of a class is its count.
    """
    count = np.bincount(labels, minlength=k).astype(np.int64)
    if targets is None:
        bins = _class_bins(labels, k)  # made once for the loss and the mass
        if weight is None:
            loss_c = _class_totals(labels, loss, k, bins)
            mass_c = count.astype(np.float64)
        else:
            loss_c = _class_totals(labels, weight * loss, k, bins)
            mass_c = _class_totals(labels, weight, k, bins)
        support = count.astype(np.float64)
    else:
        w = np.ones(len(loss)) if weight is None else weight
        loss_c = targets.T @ (w * loss)
        mass_c = targets.T @ w
        support = targets.sum(axis=0)
    return ClassSums(
        loss=loss_c,
        mass=mass_c,
        support=support,
        count=count,
        correct=np.bincount(labels[correct], minlength=k).astype(np.int64),
        flagged=np.bincount(labels[flagged], minlength=k).astype(np.int64),
    )


def _class_index_targets(
    y_true: ArrayLike, n: int, k: int, row_offset: int
) -> tuple[NDArray[np.intp], NDArray[np.float64] | None]:
    """Labels (and soft targets, if any) for ``n x k`` categorical predictions."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1 and k != 1:
        y = y[:, 0]
    if y.ndim == 1:
        _validate.check_same_rows(n, len(y), "labels")
        return _validate.class_indices(y, k, row_offset), None
    if y.ndim != 2:
        raise ShapeError(
            "Targets must be 1-D class indices or a 2-D samples x classes array; "
            f"got shape {y.shape}."
        )
    _validate.check_same_rows(n, len(y), "targets")
    _validate.check_columns(k, y.shape[1])
    if y.dtype.kind not in "biuf":
        raise LabelError(f"Soft or one-hot targets must be numbers; got values of type {y.dtype}.")
    labels = _validate.one_hot_labels(y)
    if labels is not None:
        # one-hot rows take the class-index path, so they give exactly the same losses
        return labels, None
    targets = y.astype(np.float64)
    _validate.check_soft_targets(targets, row_offset)
    return np.argmax(targets, axis=1), targets


# --- categorical -----------------------------------------------------------------------


def _categorical(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool,
    eps: float | str,
    label_smoothing: float,
    focal_gamma: float,
    facts: bool,
    row_offset: int = 0,
) -> _Scored:
    preds = _validate.as_float_array(y_pred, "Predictions")
    if preds.ndim != 2:
        raise ShapeError(
            "Categorical predictions must be 2-D (samples x classes); got shape "
            f"{preds.shape}. For one positive-class probability or logit per sample, "
            "use binary_cross_entropy."
        )
    n, k = preds.shape
    _validate.check_not_empty(n, k)
    alpha, gamma = _check_options(label_smoothing, focal_gamma)
    labels, targets = _class_index_targets(y_true, n, k, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    if from_logits:
        _validate.warn_if_probabilities(preds, categorical=True)

    if targets is None and alpha == 0:
        if from_logits:
            hard = _kernels.logits_hard(preds, labels, facts)
        else:
            hard = _kernels.probs_hard(preds, labels, eps_value, ROW_SUM_TOLERANCE, facts)
        if hard is None:
            _raise_bad_categorical(preds, labels, None, alpha, from_logits, row_offset)
        scored = _Scored(_focal(hard.loss, gamma), hard.clipped, labels)
        scored.predicted, scored.confidence, scored.p_true = (
            hard.predicted,
            hard.confidence,
            hard.p_true,
        )
    else:
        scored = _categorical_general(
            preds, labels, targets, from_logits, eps_value, alpha, gamma, facts, row_offset
        )
    # soft targets are kept even without facts: class weights follow them
    scored.targets = targets
    if facts:
        scored.correct = scored.predicted == labels
    return scored


def _dense_targets(
    labels: NDArray[np.intp], targets: NDArray[np.float64] | None, k: int, alpha: float
) -> Callable[[int, int], NDArray[np.float64]]:
    """Rows ``lo:hi`` of the (smoothed) target distribution, built one block at a time."""

    def block(lo: int, hi: int) -> NDArray[np.float64]:
        if targets is None:
            t = np.zeros((hi - lo, k))
            t[np.arange(hi - lo), labels[lo:hi]] = 1.0
        else:
            t = targets[lo:hi].copy()
        if alpha:
            # PyTorch's and Keras's label smoothing: (1 - alpha) * t + alpha / K
            t *= 1.0 - alpha
            t += alpha / k
        return t

    return block


def _categorical_general(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    from_logits: bool,
    eps: float,
    alpha: float,
    gamma: float,
    facts: bool,
    row_offset: int,
) -> _Scored:
    """Soft targets or label smoothing: ``l_i = -sum_j t_ij (1 - p_ij)^gamma log p_ij``."""
    n, k = preds.shape
    target_block = _dense_targets(labels, targets, k, alpha)
    loss = np.empty(n)
    predicted = np.empty(n, np.intp)
    confidence = np.empty(n)
    p_true = np.empty(n)

    def work(lo: int, hi: int) -> int | None:
        z = preds[lo:hi].astype(np.float64)
        t = target_block(lo, hi)
        used = t > 0
        clipped = 0
        if from_logits:
            z_max = z.max(axis=1)
            if not np.isfinite(z_max).all():
                return None
            # log-softmax: z - max - log(sum exp(z - max))
            log_p = z - z_max[:, None]
            log_p -= np.log(np.exp(log_p).sum(axis=1))[:, None]
            if np.isneginf(log_p[used]).any():
                return None
            p = np.exp(log_p)
        else:
            if not (z.min() >= 0.0 and (np.abs(z.sum(axis=1) - 1) <= ROW_SUM_TOLERANCE).all()):
                return None
            p = np.clip(z, eps, 1.0 - eps)
            clipped = int(np.count_nonzero((p != z) & used))
            log_p = np.log(p)
        # a masked class (log p = -inf) with target 0 contributes nothing, not 0 * -inf
        terms = np.multiply(t, log_p, out=np.zeros_like(log_p), where=used)
        if gamma:
            terms *= np.power(-np.expm1(log_p), gamma)  # (1 - p)^gamma
        np.negative(terms.sum(axis=1), out=loss[lo:hi])
        if facts:
            shown = p if from_logits else z  # facts show the probabilities as given
            rows = np.arange(hi - lo)
            best = np.argmax(z, axis=1)
            predicted[lo:hi] = best
            confidence[lo:hi] = shown[rows, best]
            p_true[lo:hi] = shown[rows, labels[lo:hi]]
        return clipped

    results = _kernels.map_blocks(n, 8 * k, work)
    if any(r is None for r in results):
        _raise_bad_categorical(preds, labels, targets, alpha, from_logits, row_offset)
    scored = _Scored(loss, sum(results), labels)
    if facts:
        scored.predicted, scored.confidence, scored.p_true = predicted, confidence, p_true
    return scored


def _raise_bad_categorical(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    alpha: float,
    from_logits: bool,
    row_offset: int,
) -> None:
    if not from_logits:
        _validate.raise_bad_probabilities(preds, row_offset, categorical=True)
    k = preds.shape[1]

    def used(lo: int, hi: int) -> NDArray[np.bool_]:
        if alpha:
            return np.ones((hi - lo, k), dtype=bool)
        if targets is not None:
            return targets[lo:hi] > 0
        mask = np.zeros((hi - lo, k), dtype=bool)
        mask[np.arange(hi - lo), labels[lo:hi]] = True
        return mask

    _validate.raise_bad_logits(preds, row_offset, used)


# --- binary and multilabel ---------------------------------------------------------------


def _binary_terms(
    x: NDArray[np.float64],
    t: NDArray[np.float64],
    from_logits: bool,
    eps: float,
    alpha: float,
    gamma: float,
) -> tuple[NDArray[np.float64], int, NDArray[np.float64], NDArray[np.float64]]:
    """Elementwise binary cross-entropy of checked inputs.

    Returns ``(loss, clipped, p, q)`` with ``p`` the probability of the
    positive class as shown in reports (the given one, for probabilities) and
    ``q = 1 - p``.
    """
    if from_logits:
        # log p = -softplus(-z), log(1 - p) = -softplus(z): no overflow, no cancellation
        log_p = -_softplus(-x)
        log_q = -_softplus(x)
        clipped = 0
        p, q = np.exp(log_p), np.exp(log_q)
    else:
        clipped_p = np.clip(x, eps, 1.0 - eps)
        clipped = int(np.count_nonzero(clipped_p != x))
        log_p = np.log(clipped_p)
        log_q = np.log1p(-clipped_p)
        p, q = x, 1.0 - x
    if alpha:
        t = t * (1.0 - alpha) + alpha / 2.0  # Keras's binary label smoothing
    if gamma:
        # focal: -(t (1-p)^g log p + (1-t) p^g log(1-p))
        loss = -(t * np.exp(gamma * log_q) * log_p + (1.0 - t) * np.exp(gamma * log_p) * log_q)
    else:
        loss = -(t * log_p + (1.0 - t) * log_q)
    return loss, clipped, p, q


def _check_binary_predictions(x: NDArray, from_logits: bool, row_offset: int) -> None:
    if from_logits:
        if not np.isfinite(x).all():
            _validate.raise_nonfinite_binary_logits(x, row_offset)
    elif not (x.min() >= 0.0 and x.max() <= 1.0):
        _validate.raise_bad_probabilities(x, row_offset, categorical=False)


def _binary(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool,
    eps: float | str,
    label_smoothing: float,
    focal_gamma: float,
    facts: bool,
    row_offset: int = 0,
) -> _Scored:
    preds = _validate.as_float_array(y_pred, "Predictions")
    if preds.ndim == 2 and preds.shape[1] == 1:
        preds = preds[:, 0]
    if preds.ndim != 1:
        raise ShapeError(
            "Binary predictions must be 1-D (one positive-class probability or logit per "
            f"sample); got shape {preds.shape}. For several classes use "
            "categorical_cross_entropy; for several labels per sample, multilabel_cross_entropy."
        )
    n = len(preds)
    _validate.check_not_empty(n)
    alpha, gamma = _check_options(label_smoothing, focal_gamma)
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"Binary targets must be 1-D (one per sample); got shape {y.shape}.")
    _validate.check_same_rows(n, len(y), "targets")
    t = _validate.binary_targets(y, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    x = preds.astype(np.float64)
    _check_binary_predictions(x, from_logits, row_offset)
    if from_logits:
        _validate.warn_if_probabilities(x, categorical=False)
    loss, clipped, p, q = _binary_terms(x, t, from_logits, eps_value, alpha, gamma)
    labels = (t >= 0.5).astype(np.intp)
    scored = _Scored(loss, clipped, labels)
    scored.targets = None if ((t == 0) | (t == 1)).all() else np.stack([1.0 - t, t], axis=1)
    if facts:
        positive = x >= (0.0 if from_logits else 0.5)
        scored.predicted = positive.astype(np.intp)
        scored.confidence = np.where(positive, p, q)
        scored.p_true = np.where(labels == 1, p, q)
        scored.correct = scored.predicted == labels
    return scored


def _multilabel(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool,
    eps: float | str,
    label_smoothing: float,
    focal_gamma: float,
    label_weights: NDArray[np.float64] | None,
    threshold: float = 0.9,
    sample_weight: NDArray[np.float64] | None = None,
    facts: bool,
    row_offset: int = 0,
) -> _Scored:
    preds = _validate.as_float_array(y_pred, "Predictions")
    if preds.ndim == 1:
        preds = preds[:, None]
    if preds.ndim != 2:
        raise ShapeError(
            f"Multilabel predictions must be 2-D (samples x labels); got shape {preds.shape}."
        )
    n, k = preds.shape
    _validate.check_not_empty(n, k)
    alpha, gamma = _check_options(label_smoothing, focal_gamma)
    y = np.asarray(y_true)
    if y.ndim == 1 and k == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ShapeError(
            f"Multilabel targets must be 2-D (samples x labels, 0 or 1 each); got shape {y.shape}."
        )
    _validate.check_same_rows(n, len(y), "targets")
    _validate.check_columns(k, y.shape[1])
    targets = _validate.binary_targets(y, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    if from_logits:
        _validate.warn_if_probabilities(preds, categorical=False)
    if label_weights is not None and not label_weights.sum() > 0:
        raise WeightError(
            "The label weights sum to zero; give at least one label a positive weight."
        )
    mean_weights = None if label_weights is None else label_weights / label_weights.sum()
    weight = np.ones(n) if sample_weight is None else sample_weight

    loss = np.empty(n)
    worst = np.zeros(n, np.intp)
    predicted = np.empty(n, np.intp)
    confidence = np.empty(n)
    p_true = np.empty(n)
    correct = np.empty(n, bool)
    flagged = np.empty(n, bool)

    def work(lo: int, hi: int) -> tuple[int, NDArray, NDArray, NDArray] | None:
        x = preds[lo:hi].astype(np.float64)
        if not (np.isfinite(x).all() if from_logits else (x.min() >= 0.0 and x.max() <= 1.0)):
            return None
        t = targets[lo:hi]
        cell_loss, clipped, p, q = _binary_terms(x, t, from_logits, eps_value, alpha, gamma)
        loss[lo:hi] = cell_loss.mean(axis=1) if mean_weights is None else cell_loss @ mean_weights
        if not facts:
            return clipped, cell_loss[:0], cell_loss[:0], cell_loss[:0]
        rows = np.arange(hi - lo)
        present = t >= 0.5
        positive = x >= (0.0 if from_logits else 0.5)
        right = positive == present
        cell_conf = np.where(positive, p, q)
        cell_flag = ~right & (cell_conf >= threshold)
        j = np.argmax(cell_loss, axis=1)
        worst[lo:hi] = j
        predicted[lo:hi] = positive[rows, j]
        confidence[lo:hi] = cell_conf[rows, j]
        p_true[lo:hi] = np.where(present, p, q)[rows, j]
        correct[lo:hi] = right.all(axis=1)
        flagged[lo:hi] = cell_flag.any(axis=1)
        return clipped, weight[lo:hi] @ cell_loss, right.sum(axis=0), cell_flag.sum(axis=0)

    results = _kernels.map_blocks(n, 8 * k, work)
    if any(r is None for r in results):
        if from_logits:
            _validate.raise_nonfinite_binary_logits(preds, row_offset)
        _validate.raise_bad_probabilities(preds, row_offset, categorical=False)
    scored = _Scored(loss, sum(r[0] for r in results), worst)
    if facts:
        scored.predicted, scored.confidence, scored.p_true = predicted, confidence, p_true
        scored.correct, scored.flagged = correct, flagged
        scored.class_sums = ClassSums(
            loss=np.sum([r[1] for r in results], axis=0),
            mass=np.full(k, weight.sum()),
            support=targets.sum(axis=0),
            count=(targets >= 0.5).sum(axis=0).astype(np.int64),
            correct=np.sum([r[2] for r in results], axis=0).astype(np.int64),
            flagged=np.sum([r[3] for r in results], axis=0).astype(np.int64),
        )
    return scored


# --- weights and reductions -------------------------------------------------------------


def balanced_weights(support: NDArray[np.float64]) -> NDArray[np.float64]:
    """``n_samples / (n_present * count_c)`` from per-class counts, as scikit-learn's
    ``compute_sample_weight("balanced", y)``.

    ``n_present`` is the number of classes that occur (``count_c > 0``), so the
    weights of the rows sum to ``n_samples``; a class with no samples gets
    weight 0. (scikit-learn's ``compute_class_weight("balanced", classes=...)``
    refuses a class that does not occur; ``compute_sample_weight`` balances
    over the classes in ``y``, which is what this does.) For soft targets,
    ``count_c`` is the class's target mass ``sum_i t_ic``.

    A class whose soft-target mass is subnormal gets an infinite weight here;
    :func:`balanced_dot` applies the weights without forming them.

    Examples
    --------
    >>> balanced_weights(np.array([3.0, 0.0, 1.0]))   # 4 rows, 2 classes present
    array([0.66666667, 0.        , 2.        ])
    """
    present = support > 0
    n = support.sum()
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        weights = n / (np.count_nonzero(present) * support)
    weights[~present] = 0.0
    return weights


def balanced_dot(support: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x @ balanced_weights(support)`` along the last axis, as ``(n / P) sum_c x_c / S_c``.

    ``P`` is the number of classes present (``S_c > 0``). Dividing first keeps
    it finite when a class's support is tiny (a soft target of 1e-300):
    ``x_c <= S_c`` for a per-class sum of targets.
    """
    present = support > 0
    scale = support.sum() / max(int(np.count_nonzero(present)), 1)
    return (x[..., present] / support[present]).sum(axis=-1) * scale


def _resolve_class_weights(
    class_weights: ClassWeights, k: int, support: Callable[[], NDArray[np.float64]]
) -> NDArray[np.float64] | None:
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise WeightError(
                f'must be "balanced" or one number per class; got {class_weights!r}.',
                option="class_weights",
            )
        return balanced_weights(support())
    return _validate.class_weight_array(class_weights, k)


def _reduce(
    loss_nats: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    reduction: str,
    base: str | float,
    clipped: int,
    weighted_by: str,
) -> LossResult:
    unit, ln_base = unit_of(base)
    if reduction not in REDUCTIONS:
        raise OptionError(
            f'must be "none", "mean" or "sum"; got {reduction!r}.', option="reduction"
        )
    loss = loss_nats / ln_base if ln_base != 1.0 else loss_nats
    if weights is None:
        total = float(len(loss))
    else:
        total = float(weights.sum())
        loss = weights * loss
    if reduction == "none":
        return LossResult(loss, clipped, unit, reduction, total)
    summed = float(np.sum(loss))
    if reduction == "sum":
        return LossResult(summed, clipped, unit, reduction, total)
    if not total > 0:
        _validate.raise_zero_total_weight(weighted_by)
    return LossResult(summed / total, clipped, unit, reduction, total)


def _sample_weights(
    sample_weights: ArrayLike | None, n: int, row_offset: int = 0
) -> NDArray[np.float64] | None:
    if sample_weights is None:
        return None
    return _validate.sample_weight_array(sample_weights, n, row_offset)


def _combine(
    a: NDArray[np.float64] | None, b: NDArray[np.float64] | None
) -> NDArray[np.float64] | None:
    if a is None:
        return b
    return a if b is None else a * b


def _weighted_by(class_weights: ClassWeights, sample_weights: ArrayLike | None) -> str:
    parts = (["class weights"] if class_weights is not None else []) + (
        ["sample weights"] if sample_weights is not None else []
    )
    return " times ".join(parts) or "weights"


def _per_sample_class_weight(
    class_weights: ClassWeights, scored: _Scored, k: int
) -> NDArray[np.float64] | None:
    def support() -> NDArray[np.float64]:
        if scored.targets is not None:
            return scored.targets.sum(axis=0)
        return np.bincount(scored.labels, minlength=k).astype(np.float64)

    is_balanced = isinstance(class_weights, str) and class_weights == "balanced"
    if is_balanced and scored.targets is not None:
        # a soft target's weight is t_i . w; computed without forming w, which may overflow
        return balanced_dot(support(), scored.targets)
    weights = _resolve_class_weights(class_weights, k, support)
    if weights is None:
        return None
    return weights[scored.labels] if scored.targets is None else scored.targets @ weights


def categorical_cross_entropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    class_weights: ClassWeights = None,
    sample_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    base: str | float = "e",
    reduction: Reduction = "mean",
) -> LossResult:
    """Categorical cross-entropy of predictions against class indices or target distributions.

    From probabilities ``l_i = -log(clip(p[i, y_i], eps, 1 - eps))``; from
    logits ``l_i = logsumexp(z_i) - z[i, y_i]``, computed stably (the row
    maximum is subtracted; the softmax is never formed and then logged).
    Logits may be -inf for masked classes, but not for a true class.
    With soft or one-hot targets ``l_i = -sum_j t_ij log p_ij``; one-hot rows
    give exactly what their class indices give.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_classes)
        Class indices ``0..n_classes-1`` (integers, or floats with integral
        values), or one-hot / soft targets, each row summing to 1.
    y_pred : array-like of shape (n_samples, n_classes)
        Probabilities (each row summing to 1 within ``ROW_SUM_TOLERANCE`` =
        1e-3), or logits with ``from_logits=True``. float32 input is computed
        in float32 and accumulated in float64.
    from_logits : bool, default=False
        Whether ``y_pred`` holds raw scores rather than probabilities.
    class_weights : "balanced" or array-like of shape (n_classes,), optional
        A weight per class, applied to each sample by its true class (for soft
        targets, the target-weighted mean of the weights). ``"balanced"`` is
        ``n_samples / (n_present * count_c)``, with ``n_present`` the number
        of classes that occur, as scikit-learn's ``compute_sample_weight``:
        the weights sum to ``n_samples``, and a class that does not occur
        gets 0.
    sample_weights : array-like of shape (n_samples,), optional
        A weight per sample; it multiplies the class weight.
    eps : float or "auto", default="auto"
        Probabilities are clipped to ``[eps, 1 - eps]``; "auto" is the machine
        epsilon of ``y_pred``'s float type. Ignored for logits.
    label_smoothing : float in [0, 1], default=0
        Targets become ``(1 - alpha) * t + alpha / n_classes``, as in PyTorch
        and Keras. Class weights still follow the unsmoothed targets.
    focal_gamma : float >= 0, default=0
        Focal loss: each class's term is multiplied by ``(1 - p)^gamma``;
        0 gives plain cross-entropy.
    base : "e", 2 or 10, default="e"
        Logarithm base: nats, bits or bans.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` gives ``w_i * l_i`` per sample, ``"sum"`` their sum and
        ``"mean"`` the weighted mean ``sum_i w_i l_i / sum_i w_i`` (PyTorch's
        convention for ``weight``; scikit-learn's for ``sample_weight``).

    Returns
    -------
    LossResult
        ``.loss`` (a float, or an array for ``"none"``), ``.clipped`` (how many
        probabilities clipping changed), ``.unit``, ``.weight_sum``.

    Raises
    ------
    cecli.errors.CecliError
        With a message naming the row and column, for mismatched shapes,
        NaN or out-of-range probabilities, rows not summing to 1, labels
        outside ``0..n_classes-1``, bad weights or empty input.

    Examples
    --------
    >>> import cecli
    >>> probs = [[0.91, 0.04, 0.05], [0.11, 0.8, 0.09], [0.3, 0.1, 0.6], [0.25, 0.4, 0.35]]
    >>> result = cecli.categorical_cross_entropy([0, 1, 2, 0], probs, reduction="sum")
    >>> round(result.loss, 7), result.clipped
    (2.2145742, 0)
    >>> logits = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]
    >>> round(float(cecli.categorical_cross_entropy([0, 1], logits, from_logits=True)), 7)
    0.3185398
    >>> each = cecli.categorical_cross_entropy([0, 1], logits, from_logits=True, reduction="none")
    >>> each.loss.round(7)
    array([0.41703  , 0.2200495])
    """
    scored = _categorical(
        y_true,
        y_pred,
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        facts=False,
    )
    n, k = np.shape(y_pred)
    weights = _combine(
        _per_sample_class_weight(class_weights, scored, k), _sample_weights(sample_weights, n)
    )
    return _reduce(
        scored.loss,
        weights,
        reduction,
        base,
        scored.clipped,
        _weighted_by(class_weights, sample_weights),
    )


def binary_cross_entropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    class_weights: ClassWeights = None,
    sample_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    base: str | float = "e",
    reduction: Reduction = "mean",
) -> LossResult:
    """Binary cross-entropy of positive-class probabilities (or logits) against 0/1 targets.

    ``l_i = -(t_i log p_i + (1 - t_i) log(1 - p_i))`` with ``p`` clipped to
    ``[eps, 1 - eps]``; from logits, the stable softplus form
    ``t softplus(-z) + (1 - t) softplus(z)``, as PyTorch's
    ``binary_cross_entropy_with_logits``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 or booleans; floats in [0, 1] are soft targets.
    y_pred : array-like of shape (n_samples,)
        The probability of the positive class, or its logit with ``from_logits=True``.
    from_logits : bool, default=False
        Whether ``y_pred`` holds logits (finite numbers) rather than probabilities.
    class_weights : "balanced" or array-like of shape (2,), optional
        Weights of the negative and positive class, applied to each sample by
        its target (a soft target ``t`` gets ``(1 - t) w_0 + t w_1``).
    sample_weights : array-like of shape (n_samples,), optional
        A weight per sample; it multiplies the class weight.
    eps : float or "auto", default="auto"
        Clipping for probabilities; "auto" is the machine epsilon of ``y_pred``'s type.
    label_smoothing : float in [0, 1], default=0
        Targets become ``(1 - alpha) t + alpha / 2``, as in Keras.
    focal_gamma : float >= 0, default=0
        Focal loss ``-(t (1-p)^gamma log p + (1-t) p^gamma log(1-p))``.
    base : "e", 2 or 10, default="e"
        Logarithm base: nats, bits or bans.
    reduction : {"mean", "sum", "none"}, default="mean"
        As in :func:`categorical_cross_entropy`.

    Returns
    -------
    LossResult

    Raises
    ------
    cecli.errors.CecliError
        For targets that are not 0/1 (or in [0, 1]), probabilities outside
        [0, 1] or NaN, non-finite logits, mismatched lengths, bad weights.

    Examples
    --------
    >>> import cecli
    >>> targets = [0, 1, 1, 0, 0, 1, 1]
    >>> probs = [0.07, 0.91, 0.74, 0.23, 0.85, 0.17, 0.94]
    >>> round(cecli.binary_cross_entropy(targets, probs, reduction="sum").loss, 7)
    4.4603035
    >>> round(cecli.binary_cross_entropy([1, 0], [2.0, -1.0], from_logits=True).loss, 6)
    0.220095
    """
    scored = _binary(
        y_true,
        y_pred,
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        facts=False,
    )
    n = len(scored.loss)
    weights = _combine(
        _per_sample_class_weight(class_weights, scored, 2), _sample_weights(sample_weights, n)
    )
    return _reduce(
        scored.loss,
        weights,
        reduction,
        base,
        scored.clipped,
        _weighted_by(class_weights, sample_weights),
    )


def multilabel_cross_entropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    class_weights: ArrayLike | None = None,
    sample_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    base: str | float = "e",
    reduction: Reduction = "mean",
) -> LossResult:
    """Multilabel cross-entropy: binary cross-entropy per (sample, label) cell.

    A sample's loss is the mean of its cells' binary cross-entropies over its
    labels (with ``class_weights``, their weighted mean ``sum_j w_j l_ij /
    sum_j w_j``), so it stays on the scale of one binary decision whatever the
    number of labels; PyTorch's ``BCEWithLogitsLoss(reduction="mean")`` gives
    the same mean over all cells.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_labels)
        0/1 or booleans per cell; floats in [0, 1] are soft targets.
    y_pred : array-like of shape (n_samples, n_labels)
        Per-label probabilities (each in [0, 1]; rows need not sum to 1), or
        logits with ``from_logits=True``.
    from_logits : bool, default=False
        Whether ``y_pred`` holds logits.
    class_weights : array-like of shape (n_labels,), optional
        A weight per label, used in each sample's mean over its labels.
        ("balanced" is not defined for multilabel targets.)
    sample_weights : array-like of shape (n_samples,), optional
        A weight per sample.
    eps, label_smoothing, focal_gamma, base, reduction
        As in :func:`binary_cross_entropy`.

    Returns
    -------
    LossResult

    Examples
    --------
    >>> import cecli
    >>> targets = [[1, 0, 1], [0, 1, 0]]
    >>> probs = [[0.9, 0.2, 0.6], [0.1, 0.7, 0.3]]
    >>> cecli.multilabel_cross_entropy(targets, probs, reduction="none").loss.round(6)
    array([0.279777, 0.272903])
    """
    preds_shape = np.shape(y_pred)
    k = preds_shape[1] if len(preds_shape) == 2 else 1
    label_weights = _multilabel_weights(class_weights, k)
    scored = _multilabel(
        y_true,
        y_pred,
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        label_weights=label_weights,
        facts=False,
    )
    weights = _sample_weights(sample_weights, len(scored.loss))
    return _reduce(scored.loss, weights, reduction, base, scored.clipped, "sample weights")


def _multilabel_weights(
    class_weights: ArrayLike | str | None, k: int
) -> NDArray[np.float64] | None:
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        raise WeightError(
            'cannot be "balanced" for multilabel targets; give one weight per label.',
            option="class_weights",
        )
    return _validate.class_weight_array(class_weights, k, what="label")


# --- per-sample facts for reports and the accumulator ------------------------------------


def score(
    kind: Kind,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    label_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    threshold: float = 0.9,
    base: str | float = "e",
    row_offset: int = 0,
) -> SampleScores:
    """Per-sample losses and facts for one batch of rows, with the batch's per-class sums.

    Parameters are those of the loss functions; ``kind`` picks which.
    ``threshold`` is the confidence at or above which a wrong prediction is
    flagged; ``row_offset`` is the batch's first row in the whole input (it
    numbers the rows in :attr:`SampleScores.rows` and in error messages).
    ``label_weights`` are multilabel class weights (per-label, applied inside
    a sample's mean); class weights for the other kinds are applied by
    :class:`cecli.Accumulator`, which knows all the rows.

    Examples
    --------
    >>> from cecli.losses import score
    >>> s = score("categorical", [0, 1], [[0.95, 0.05], [0.97, 0.03]])
    >>> s.predicted.tolist(), s.flagged.tolist(), s.p_true.round(2).tolist()
    ([0, 0], [False, True], [0.95, 0.03])
    """
    if kind not in KINDS:
        raise OptionError(f"must be one of {', '.join(KINDS)}; got {kind!r}.", option="kind")
    threshold = _validate.check_unit_interval(
        "threshold", threshold, open_low=True, open_high=False
    )
    unit, ln_base = unit_of(base)
    options = dict(
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        facts=True,
        row_offset=row_offset,
    )
    if kind == "categorical":
        scored = _categorical(y_true, y_pred, **options)
        k = np.shape(y_pred)[1]
    elif kind == "binary":
        scored = _binary(y_true, y_pred, **options)
        k = 2
    n = len(scored.loss) if kind != "multilabel" else len(np.asarray(y_pred))
    weight = _sample_weights(sample_weights, n, row_offset)
    if kind == "multilabel":
        k = np.shape(y_pred)[1] if np.ndim(y_pred) == 2 else 1
        scored = _multilabel(
            y_true,
            y_pred,
            label_weights=None if label_weights is None else _multilabel_weights(label_weights, k),
            threshold=threshold,
            sample_weight=weight,
            **options,
        )
    weighted = weight is not None
    if weight is None:
        weight = np.ones(n)
    loss = scored.loss / ln_base if ln_base != 1.0 else scored.loss
    if scored.flagged is None:
        scored.flagged = ~scored.correct & (scored.confidence >= threshold)
    if scored.class_sums is not None:
        sums = scored.class_sums
        classes = ClassSums(
            sums.loss / ln_base, sums.mass, sums.support, sums.count, sums.correct, sums.flagged
        )
    else:
        classes = _hard_sums(
            scored.labels,
            k,
            loss,
            weight if weighted else None,
            scored.correct,
            scored.flagged,
            scored.targets,
        )
    return SampleScores(
        kind=kind,
        unit=unit,
        row_offset=row_offset,
        loss=loss,
        label=scored.labels,
        predicted=scored.predicted,
        confidence=scored.confidence,
        p_true=scored.p_true,
        correct=scored.correct,
        flagged=scored.flagged,
        weight=weight,
        clipped=scored.clipped,
        classes=classes,
    )
