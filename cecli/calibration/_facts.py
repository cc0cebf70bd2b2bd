"""What one chunk contributes to calibration: binned confidence and credit, per-row terms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _kernels, _threads, _validate
from cecli._class_bins import ClassBins
from cecli._probs_kernel import probs_hard
from cecli._row_terms import MASKED_GAP
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.calibration._bins import _safe_log
from cecli.calibration._classwise import _ClassProbs
from cecli.errors import OptionError, ShapeError
from cecli.losses import KINDS
from cecli.losses._common import _class_index_targets, _softplus
from cecli.losses._results import RowTerms
from cecli.view import ChunkView

#: A masked logit's stand-in gap (see :data:`cecli._row_terms.MASKED_GAP`).
_MASKED_GAP = MASKED_GAP


#: The fields of :class:`_Facts` that are not one value per row.
_NOT_PER_ROW = ("soft", "log_odds", "class_probs", "class_bins")


@dataclass
class _Facts:
    """What one chunk contributes: per binned value, and per row (in nats)."""

    confidence: NDArray[np.float64]
    #: float64, or bool for class-index targets (1 where the top-1 class is the true one)
    credit: NDArray[np.float64] | NDArray[np.bool_]
    #: None where the loss kernel only summed them (``class_bins.brier`` and ``.entropy``)
    brier: NDArray[np.float64] | None
    entropy: NDArray[np.float64] | None
    #: None where every row's is 0 (class-index targets)
    target_entropy: NDArray[np.float64] | None
    kl: NDArray[np.float64]
    soft: bool
    #: The log-odds ``log(c / (1 - c))`` of each confidence, when the kernel found them.
    log_odds: NDArray[np.float64] | None = None
    #: Categorical: where every class's probability comes from, for the classwise sums.
    class_probs: _ClassProbs | None = None
    #: Categorical, unweighted: every class's probability binned by the loss kernel.
    class_bins: ClassBins | None = None


def _class_major(
    preds: NDArray, lo: int, hi: int, dtype: np.dtype | type = np.float64
) -> NDArray[np.float64]:
    """Rows ``lo:hi`` as a ``K x B`` array (float64 by default): classes on the outer axis.

    Every sum or maximum over classes then runs along the outer axis, which
    NumPy vectorises across the ``B`` rows (the layout of :mod:`cecli._kernels`;
    a reduction along a short inner axis is several times slower).
    """
    return np.array(preds[lo:hi].T, dtype=dtype, order="C")


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
    n_bins: int | None = None,
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
    if targets is None and k <= _kernels.NARROW_COLUMNS:
        return _kernel_facts(preds, labels, from_logits, eps_value, row_offset, n_bins)
    return _categorical_terms(preds, labels, targets, from_logits, eps_value, row_offset)


def _kernel_facts(
    preds: NDArray,
    labels: NDArray[np.intp],
    from_logits: bool,
    eps_value: float,
    row_offset: int,
    n_bins: int | None = None,
) -> _Facts:
    """The facts of class indices over a narrow array, from the loss kernel (which checks);
    with ``n_bins``, the kernel bins every class's probability too, and only sums the
    rows' entropies and Brier scores (unweighted sums are all the accumulator needs)."""
    if from_logits:
        hard = _kernels.logits_hard(
            preds, labels, facts=True, terms=True, class_bins=n_bins, row_terms=n_bins is None
        )
    else:
        hard = probs_hard(
            preds,
            labels,
            eps_value,
            ROW_SUM_TOLERANCE,
            True,
            True,
            class_bins=n_bins,
            row_terms=n_bins is None,
        )
    if hard is None:
        _raise_bad_categorical(preds, labels, None, from_logits, row_offset)
    assert hard.confidence is not None
    assert hard.predicted is not None
    terms = RowTerms(hard.entropy, hard.brier, hard.loss, hard.log_odds, hard.class_bins)
    source = _ClassProbs(preds, from_logits, hard.predicted, hard.confidence, labels, None)
    return _hard_facts(hard.confidence, hard.predicted == labels, terms, source)


def _hard_facts(
    confidence: NDArray[np.float64],
    correct: NDArray[np.bool_],
    terms: RowTerms,
    class_probs: _ClassProbs,
) -> _Facts:
    """The facts of class-index targets whose terms the loss kernel found."""
    return _Facts(
        confidence=confidence,
        credit=correct,
        brier=terms.brier,
        entropy=terms.entropy,
        target_entropy=None,
        kl=terms.cross_entropy,  # KL(one-hot || p) = -log p_y
        soft=False,
        log_odds=terms.log_odds,
        class_probs=class_probs,
        class_bins=terms.class_bins,
    )


def _categorical_terms(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    from_logits: bool,
    eps_value: float,
    row_offset: int,
    predicted_all: NDArray[np.intp] | None = None,
) -> _Facts:
    """The facts of decoded targets; with ``predicted_all`` (the top-1 classes of a
    checked view), the predictions are known to be valid and are not checked again."""
    n, k = preds.shape
    checked = predicted_all is not None
    # per-row terms in the predictions' own float type, as the loss's, summed in float64
    dtype = _kernels.work_dtype(preds.dtype)
    out = {name: np.empty(n) for name in _Facts.__dataclass_fields__ if name not in _NOT_PER_ROW}
    # softmax confidences' log-odds, as the logits kernel gives them: the same fine bins
    log_odds = np.empty(n) if from_logits else None
    predicted_out = predicted_all if checked else np.empty(n, np.intp)

    def work(lo: int, hi: int) -> bool:
        p = _class_major(preds, lo, hi, dtype)
        t = None if targets is None else _class_major(targets, lo, hi)
        b = hi - lo
        y = labels[lo:hi]
        at_y = y * b + np.arange(b)  # flat positions of the true classes in the K x b block
        if from_logits:
            top = p.max(axis=0)
            if not (checked or np.isfinite(top).all()):
                return False
            d = np.subtract(p, top, out=p)  # z - max(z) <= 0, -inf for a masked class
            predicted = predicted_all[lo:hi] if checked else _top1(d, 0.0, preds, lo)
            if d.min() < _MASKED_GAP:
                masked = np.isneginf(d)
                if not checked and (masked & (t > 0) if t is not None else _take(masked, y)).any():
                    return False
                # exp(-1e30) is 0 as exp(-inf) is, and 0 * -1e30 is 0 where 0 * -inf is NaN
                np.maximum(d, _MASKED_GAP, out=d)
            p = np.exp(d)
            total = p.sum(axis=0, dtype=np.float64)
            p /= total.astype(dtype, copy=False)
            log_total = np.log(total)
            assert log_odds is not None
            # log(c / (1 - c)) = -log(S - 1) for c = 1 / S
            with np.errstate(divide="ignore"):  # S = 1: c = 1, log-odds +inf
                np.negative(np.log(total - 1.0), out=log_odds[lo:hi])
            confidence = 1.0 / total  # exp(0) / total: the top class's probability
            # H(p) = log S - sum_j p_j d_j, with S = sum_j exp(d_j): no log of a tiny p
            entropy = log_total - np.einsum("ij,ij->j", p, d, dtype=np.float64)
        else:
            if not checked and not (
                p.min() >= 0.0 and (np.abs(p.sum(axis=0) - 1) <= ROW_SUM_TOLERANCE).all()
            ):
                return False
            confidence = p.max(axis=0)
            predicted = predicted_all[lo:hi] if checked else _top1(p, confidence, preds, lo)
            entropy = -np.einsum("ij,ij->j", p, _safe_log(p), dtype=np.float64)
            d = None
        if not checked:
            predicted_out[lo:hi] = predicted
        out["confidence"][lo:hi] = confidence
        out["entropy"][lo:hi] = entropy
        if t is None:
            out["credit"][lo:hi] = predicted == y
            out["target_entropy"][lo:hi] = 0.0
            p_y = p.reshape(-1).take(at_y).astype(np.float64)
            if d is None:  # probabilities: clipped as the loss clips them
                out["kl"][lo:hi] = -np.log(np.clip(p_y, eps_value, 1.0 - eps_value))
            else:
                out["kl"][lo:hi] = log_total - d.reshape(-1).take(at_y)
            # Brier: sum_{j != y} p_j^2 + (1 - p_y)^2, without cancelling 1 against p_y
            square_sum = np.einsum("ij,ij->j", p, p, dtype=np.float64)
            out["brier"][lo:hi] = (square_sum - p_y * p_y) + np.square(1.0 - p_y)
        else:
            out["credit"][lo:hi] = _take(t, predicted)
            log_p = np.log(np.clip(p, eps_value, 1.0 - eps_value)) if d is None else d - log_total
            log_t = _safe_log(t)
            out["target_entropy"][lo:hi] = -(t * log_t).sum(axis=0)
            # KL(t || p) = sum_j t_j (log t_j - log p_j); a zero t_j adds nothing
            out["kl"][lo:hi] = (t * (log_t - log_p)).sum(axis=0)
            residual = np.subtract(p, t)
            out["brier"][lo:hi] = np.einsum("ij,ij->j", residual, residual)
        return True

    if not all(_threads.map_blocks(n, 8 * k * 4, work)):
        _raise_bad_categorical(preds, labels, targets, from_logits, row_offset)
    source = _ClassProbs(preds, from_logits, predicted_out, out["confidence"], labels, targets)
    return _Facts(**out, soft=targets is not None, log_odds=log_odds, class_probs=source)


def _raise_bad_categorical(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    from_logits: bool,
    row_offset: int,
) -> None:
    if not from_logits:
        _validate.raise_bad_probabilities(preds, row_offset, categorical=True)
    _validate.raise_bad_logits(preds, row_offset, _true_cells(labels, targets, preds.shape[1]))


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
    return _bernoulli_terms(preds, t, from_logits, eps_value, row_offset, multilabel)


def _bernoulli_terms(
    preds: NDArray,
    t: NDArray[np.float64],
    from_logits: bool,
    eps_value: float,
    row_offset: int,
    multilabel: bool,
    checked: bool = False,
) -> _Facts:
    """The facts of checked targets ``t``; ``checked`` predictions are not checked again."""
    x = preds.astype(np.float64)
    if from_logits:
        if not checked and not np.isfinite(x).all():
            _validate.raise_nonfinite_binary_logits(preds, row_offset)
        # log p = -softplus(-z), log(1 - p) = -softplus(z): no overflow, no cancellation
        log_p, log_q = -_softplus(-x), -_softplus(x)
        p, q = np.exp(log_p), np.exp(log_q)
        entropy = -(p * log_p + q * log_q)
    else:
        if not checked and not (x.min() >= 0.0 and x.max() <= 1.0):
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
    n_bins: int | None = None,
) -> _Facts:
    """What one chunk contributes; with ``n_bins``, categorical class indices over a narrow
    array have every class's probability binned by the loss kernel (unweighted sums)."""
    if kind == "categorical":
        return _categorical_facts(y_true, y_pred, from_logits, eps, row_offset, n_bins)
    return _bernoulli_facts(y_true, y_pred, from_logits, eps, row_offset, kind == "multilabel")


def facts_of_view(view: ChunkView, n_bins: int | None = None) -> _Facts:
    """What a checked :class:`~cecli.view.ChunkView` contributes: nothing is checked again.

    ``n_bins`` is passed on to the loss kernel when the view holds no terms
    and the kernel runs again (see :func:`_facts`).
    """
    if view.kind == "categorical" and view.terms is not None:
        scores = view.scores
        source = _ClassProbs(
            view.preds, view.from_logits, scores.predicted, scores.confidence, view.labels, None
        )
        return _hard_facts(scores.confidence, scores.correct, view.terms, source)
    if view.kind == "categorical" and view.targets is None and _narrow(view.preds):
        # a view not asked for the terms: the kernel again, as the checking update does
        return _kernel_facts(
            view.preds, view.labels, view.from_logits, view.eps, view.first_row, n_bins
        )
    if view.kind == "categorical":
        return _categorical_terms(
            view.preds,
            view.labels,
            view.targets,
            view.from_logits,
            view.eps,
            view.first_row,
            predicted_all=view.scores.predicted,
        )
    assert view.targets is not None
    return _bernoulli_terms(
        view.preds,
        view.targets,
        view.from_logits,
        view.eps,
        view.first_row,
        view.kind == "multilabel",
        checked=True,
    )


def _narrow(preds: NDArray) -> bool:
    """Whether the loss kernel finds the terms of these (2-D) predictions."""
    return preds.shape[1] <= _kernels.NARROW_COLUMNS


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise OptionError(f"must be one of {', '.join(KINDS)}; got {kind!r}.", option="kind")
    return kind
