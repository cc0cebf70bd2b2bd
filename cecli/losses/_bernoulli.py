"""Binary and multilabel cross-entropy of a chunk: one Bernoulli prediction per cell."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _threads, _validate
from cecli._arrays import as_array
from cecli.errors import ShapeError, WeightError
from cecli.losses._common import _check_options, _softplus, per_column
from cecli.losses._results import ClassSums, _Scored


def _binary_terms(
    x: NDArray[np.float64],
    t: NDArray[np.float64],
    from_logits: bool,
    eps: float,
    alpha: float,
    gamma: float,
    pos_weight: NDArray[np.float64] | None = None,
    focal_alpha: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], int, NDArray[np.float64], NDArray[np.float64]]:
    """Elementwise binary cross-entropy of checked inputs.

    Returns ``(loss, clipped, p, q)`` with ``p`` the probability of the
    positive class as shown in reports (the given one, for probabilities) and
    ``q = 1 - p``. ``pos_weight`` (PyTorch's) and ``focal_alpha`` (Keras's
    class balancing) scale the positive term, ``1 - focal_alpha`` the
    negative one; both broadcast over the last axis (one per label).
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
    positive = t * log_p
    negative = (1.0 - t) * log_q
    if gamma:
        # focal: -(t (1-p)^g log p + (1-t) p^g log(1-p))
        positive *= np.exp(gamma * log_q)
        negative *= np.exp(gamma * log_p)
    if pos_weight is not None:
        # PyTorch: -(w_pos t log p + (1-t) log(1-p)); from logits log p = -softplus(-z),
        # so this is its (1 + (w_pos - 1) t) softplus(-z) + (1 - t) z, without overflow
        positive *= pos_weight
    if focal_alpha is not None:
        # Keras's class balancing: alpha on the positive term, 1 - alpha on the negative
        positive *= focal_alpha
        negative *= 1.0 - focal_alpha
    loss = positive
    loss += negative
    np.negative(loss, out=loss)
    return loss, clipped, p, q


def _check_binary_predictions(
    x: NDArray, from_logits: bool, row_offset: _validate.RowNumbers
) -> None:
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
    row_offset: _validate.RowNumbers = 0,
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
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
    positive_weight = per_column(pos_weight, 1, "pos_weight", "label")
    balance = per_column(focal_alpha, 1, "focal_alpha", "label", at_most_one=True)
    y = as_array(y_true)
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
    loss, clipped, p, q = _binary_terms(
        x, t, from_logits, eps_value, alpha, gamma, positive_weight, balance
    )
    labels = (t >= 0.5).astype(np.intp)
    scored = _Scored(loss, clipped, labels)
    scored.targets = None if ((t == 0) | (t == 1)).all() else np.stack([1.0 - t, t], axis=1)
    scored.preds, scored.truth = preds, t
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
    row_offset: _validate.RowNumbers = 0,
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
    ignored: NDArray[np.bool_] | None = None,
) -> _Scored:
    """Losses in nats, and with ``facts`` the row facts and per-label sums.

    ``ignored`` marks cells left out (their target is ``ignore_index``): a
    row's loss is the (label-weighted) mean over its other cells, and the
    facts and sums count only those, as torchmetrics' multilabel metrics
    leave out the elements ``ignore_index`` marks.
    """
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
    positive_weight = per_column(pos_weight, k, "pos_weight", "label")
    balance = per_column(focal_alpha, k, "focal_alpha", "label", at_most_one=True)
    y = as_array(y_true)
    if y.ndim == 1 and k == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ShapeError(
            f"Multilabel targets must be 2-D (samples x labels, 0 or 1 each); got shape {y.shape}."
        )
    _validate.check_same_rows(n, len(y), "targets")
    _validate.check_columns(k, y.shape[1])
    if ignored is not None:
        y = np.where(ignored, 0, y)  # any valid target: the cell is left out below
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
        if ignored is not None:
            # an ignored cell's prediction is not checked: one that clips nothing stands in
            x[ignored[lo:hi]] = 0.0 if from_logits else 0.5
        if not (np.isfinite(x).all() if from_logits else (x.min() >= 0.0 and x.max() <= 1.0)):
            return None
        t = targets[lo:hi]
        cell_loss, clipped, p, q = _binary_terms(
            x, t, from_logits, eps_value, alpha, gamma, positive_weight, balance
        )
        seen = None if ignored is None else ~ignored[lo:hi]
        if seen is None:
            loss[lo:hi] = (
                cell_loss.mean(axis=1) if mean_weights is None else cell_loss @ mean_weights
            )
        else:
            cell_loss *= seen  # an ignored cell adds nothing to any sum
            share = seen if mean_weights is None else seen * mean_weights
            total = share.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                # the mean over the cells kept; a row whose kept cells all weigh 0 weighs 0
                loss[lo:hi] = np.where(total > 0, (cell_loss * share).sum(axis=1) / total, 0.0)
        if not facts:
            return clipped, cell_loss[:0], cell_loss[:0], cell_loss[:0]
        rows = np.arange(hi - lo)
        present = t >= 0.5
        positive = x >= (0.0 if from_logits else 0.5)
        right = positive == present
        cell_conf = np.where(positive, p, q)
        cell_flag = ~right & (cell_conf >= threshold)
        if seen is not None:
            right |= ~seen
            cell_flag &= seen
        j = np.argmax(cell_loss if seen is None else np.where(seen, cell_loss, -np.inf), axis=1)
        worst[lo:hi] = j
        predicted[lo:hi] = positive[rows, j]
        confidence[lo:hi] = cell_conf[rows, j]
        p_true[lo:hi] = np.where(present, p, q)[rows, j]
        correct[lo:hi] = right.all(axis=1)
        flagged[lo:hi] = cell_flag.any(axis=1)
        if seen is not None:
            right &= seen
        return clipped, weight[lo:hi] @ cell_loss, right.sum(axis=0), cell_flag.sum(axis=0)

    results = _threads.map_blocks(n, 8 * k, work)
    if any(r is None for r in results):
        if ignored is not None:  # the message names a cell that was checked
            preds = np.where(ignored, 0.0 if from_logits else 0.5, preds)
        if from_logits:
            _validate.raise_nonfinite_binary_logits(preds, row_offset)
        _validate.raise_bad_probabilities(preds, row_offset, categorical=False)
    scored = _Scored(loss, sum(r[0] for r in results), worst)
    scored.preds, scored.truth = preds, targets
    if facts:
        scored.predicted, scored.confidence, scored.p_true = predicted, confidence, p_true
        scored.correct, scored.flagged = correct, flagged
        if ignored is None:
            mass, support = np.full(k, weight.sum()), targets.sum(axis=0)
            count = (targets >= 0.5).sum(axis=0).astype(np.int64)
            observed = np.full(k, n, dtype=np.int64)
        else:
            seen = ~ignored
            mass, support = weight @ seen, (targets * seen).sum(axis=0)
            count = ((targets >= 0.5) & seen).sum(axis=0).astype(np.int64)
            observed = seen.sum(axis=0).astype(np.int64)
        scored.class_sums = ClassSums(
            loss=np.sum([r[1] for r in results], axis=0),
            mass=mass,
            support=support,
            count=count,
            correct=np.sum([r[2] for r in results], axis=0).astype(np.int64),
            flagged=np.sum([r[3] for r in results], axis=0).astype(np.int64),
            observed=observed,
        )
    return scored


def observed_share(
    ignored: NDArray[np.bool_], label_weights: NDArray[np.float64] | None
) -> NDArray[np.float64]:
    """Each row's share of the label weight in cells not ignored: its weight in a mean over cells.

    With it, a mean over rows of the rows' losses is the mean over every cell
    kept, as torchmetrics' masked elements give.
    """
    seen = ~ignored
    if label_weights is None:
        return seen.mean(axis=1)
    return (seen @ label_weights) / label_weights.sum()
