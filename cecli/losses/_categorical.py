"""Categorical cross-entropy of a chunk: class indices or soft targets, probabilities or logits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _kernels, _threads, _validate
from cecli._probs_kernel import probs_hard
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.errors import ShapeError
from cecli.losses._common import _check_options, _class_index_targets, _focal, per_column
from cecli.losses._results import RowTerms, _Scored


def _categorical(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool,
    eps: float | str,
    label_smoothing: float,
    focal_gamma: float,
    facts: bool,
    row_offset: _validate.RowNumbers = 0,
    terms: bool = False,
    focal_alpha: ArrayLike | None = None,
    class_bins: int | None = None,
    row_terms: bool = True,
) -> _Scored:
    """Losses in nats; with ``facts`` the per-sample facts, with ``terms`` too the
    :class:`~cecli.losses._results.RowTerms`, where the kernel can find them (with
    ``class_bins``, every class's probability binned in that many bins as well, and
    without ``row_terms`` the entropies and Brier scores only summed)."""
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
    balance = per_column(focal_alpha, k, "focal_alpha", "class")
    labels, targets = _class_index_targets(y_true, n, k, row_offset)
    eps_value = _validate.resolve_eps(eps, preds.dtype)
    if from_logits:
        _validate.warn_if_probabilities(preds, categorical=True)

    if targets is None and alpha == 0:
        bins = class_bins if terms else None
        if from_logits:
            hard = _kernels.logits_hard(preds, labels, facts, terms, bins, row_terms)
        else:
            hard = probs_hard(
                preds, labels, eps_value, ROW_SUM_TOLERANCE, facts, terms, bins, row_terms
            )
        if hard is None:
            _raise_bad_categorical(preds, labels, None, alpha, from_logits, row_offset)
        found = None
        summed = hard.class_bins is not None and hard.class_bins.entropy is not None
        if (hard.entropy is not None and hard.brier is not None) or summed:
            # the focal weighting below changes the loss in place; the KL needs it unweighted
            focal = gamma or balance is not None
            cross_entropy = hard.loss.copy() if focal else hard.loss
            found = RowTerms(
                hard.entropy, hard.brier, cross_entropy, hard.log_odds, hard.class_bins
            )
        loss = _focal(hard.loss, gamma)
        if balance is not None:
            # Keras's CategoricalFocalCrossentropy: alpha_c times the true class's term
            loss *= balance if balance.ndim == 0 else balance[labels]
        scored = _Scored(loss, hard.clipped, labels, terms=found)
        scored.predicted, scored.confidence, scored.p_true = (
            hard.predicted,
            hard.confidence,
            hard.p_true,
        )
    else:
        scored = _categorical_general(
            preds, labels, targets, from_logits, eps_value, alpha, gamma, facts, row_offset, balance
        )
    # soft targets are kept even without facts: class weights follow them
    scored.targets = targets
    scored.preds = preds
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
    row_offset: _validate.RowNumbers,
    balance: NDArray[np.float64] | None = None,
) -> _Scored:
    """Soft targets or label smoothing: ``l_i = -sum_j a_j t_ij (1 - p_ij)^gamma log p_ij``,
    ``a`` the focal alpha (1 without)."""
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
        if balance is not None:
            terms *= balance
        np.negative(terms.sum(axis=1), out=loss[lo:hi])
        if facts:
            shown = p if from_logits else z  # facts show the probabilities as given
            rows = np.arange(hi - lo)
            best = np.argmax(z, axis=1)
            predicted[lo:hi] = best
            confidence[lo:hi] = shown[rows, best]
            p_true[lo:hi] = shown[rows, labels[lo:hi]]
        return clipped

    results = _threads.map_blocks(n, 8 * k, work)
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
    row_offset: _validate.RowNumbers,
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
