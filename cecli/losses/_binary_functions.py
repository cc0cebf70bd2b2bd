"""The binary and multilabel loss functions, as PyTorch's ``binary_cross_entropy``
and ``BCEWithLogitsLoss``, and scikit-learn's ``log_loss`` of two classes."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli._arrays import as_array
from cecli.losses._axes import by_position
from cecli.losses._bernoulli import _binary, _multilabel, observed_share
from cecli.losses._ignore import ignoring
from cecli.losses._names import binary_positives
from cecli.losses._results import LossResult
from cecli.losses._units import ClassWeights, Reduction
from cecli.losses._weights import (
    _combine,
    _multilabel_weights,
    _per_sample_class_weight,
    _reduce,
    _sample_weights,
    _weighted_by,
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
    pos_weight: ArrayLike | None = None,
    focal_alpha: float | None = None,
    pos_label: object | None = None,
    labels: ArrayLike | None = None,
    ignore_index: int | None = None,
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
    pos_weight : float, optional
        PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: the positive term is
        multiplied by it, ``l_i = -(w t_i log p_i + (1 - t_i) log(1 - p_i))``
        (from logits, PyTorch's stable form). It changes the loss, not the
        mean's denominator. None is 1.
    focal_alpha : float in [0, 1], optional
        Keras's ``BinaryFocalCrossentropy(apply_class_balancing=True,
        alpha=...)``: the positive term is multiplied by ``alpha`` and the
        negative one by ``1 - alpha``. For 0/1 targets this is Keras's loss
        exactly; for soft (or smoothed) targets each term is weighted on its
        own, as ``pos_weight`` is, where Keras weights the whole loss by
        ``t alpha + (1 - t)(1 - alpha)``. None applies no balancing.
    pos_label : optional
        The value of ``y_true`` that is the positive class, as scikit-learn's
        ``pos_label``: ``1`` for targets in ``{-1, 1}``, ``"spam"`` for
        ``{"ham", "spam"}``; every other value is the negative class, and
        ``y_true`` may take only one other value.
    labels : array-like of shape (2,), optional
        The two classes as ``[negative, positive]`` (the columns of a
        two-column ``predict_proba``, whose second one ``y_pred`` is); every
        value of ``y_true`` must be one of them. The positive class is
        ``labels[1]`` unless ``pos_label`` says otherwise.
    ignore_index : int, optional
        Rows whose target is this are left out, as torchmetrics' binary
        metrics leave them out (PyTorch's ``binary_cross_entropy`` has no
        ``ignore_index``); as in :func:`categorical_cross_entropy`.

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
    >>> each = cecli.binary_cross_entropy([1, 0], [0.8, 0.4], pos_weight=3, reduction="none")
    >>> each.loss.round(6)  # -3 log 0.8 and -log 0.6
    array([0.669431, 0.510826])
    >>> spam = cecli.binary_cross_entropy(["spam", "ham"], [0.8, 0.4], pos_label="spam")
    >>> round(spam.loss, 6)  # -(log 0.8 + log 0.6) / 2
    0.366985
    >>> cecli.binary_cross_entropy([1, -100, 0], [0.8, 0.5, 0.4], ignore_index=-100).n_ignored
    1
    """

    def scoring(
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None,
        _: None,
        rows: _validate.RowNumbers,
    ) -> LossResult:
        scored = _binary(
            binary_positives(y_true, pos_label, labels, rows),
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            facts=False,
            pos_weight=pos_weight,
            focal_alpha=focal_alpha,
            row_offset=rows,
        )
        n = len(scored.loss)
        weights = _combine(
            _per_sample_class_weight(class_weights, scored, 2),
            _sample_weights(sample_weights, n, rows),
        )
        return _reduce(
            scored.loss,
            weights,
            reduction,
            base,
            scored.clipped,
            _weighted_by(class_weights, sample_weights),
        )

    return ignoring("binary", scoring, y_true, y_pred, sample_weights, ignore_index)


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
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
    pos_label: object | None = None,
    class_axis: int | None = None,
    ignore_index: int | None = None,
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
    pos_weight : float or array-like of shape (n_labels,), optional
        PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: each label's
        positive term is multiplied by its weight (one number: every label's).
    focal_alpha : float or array-like of shape (n_labels,), in [0, 1], optional
        Keras's focal class balancing, per label: as in :func:`binary_cross_entropy`.
    pos_label : optional
        The value of a cell of ``y_true`` that means the label is present
        (``1`` for cells in ``{-1, 1}``); the cells may take one other value.
    class_axis : int, optional
        The label axis of ``y_pred`` and ``y_true`` (both of shape
        ``(n_samples, n_labels, d1, ...)`` with ``class_axis=1``): each
        position is scored as a row, as in :func:`categorical_cross_entropy`.
    ignore_index : int, optional
        Cells whose target is this are left out, as torchmetrics' multilabel
        metrics leave out the elements it marks: a row's loss is the mean
        over its other cells, and the row weighs its share of the cells (of
        the label weight) kept, so that ``"mean"`` is the mean over every
        cell kept, ``binary_cross_entropy(p[mask], t[mask])`` in PyTorch's
        terms. A row whose every cell is ignored is left out (``"none"``
        gives it 0); every cell ignored is an error. ``"sum"`` and
        ``"none"`` are rows' means, weighted by that share.

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
    >>> weighted = cecli.multilabel_cross_entropy(targets, probs, pos_weight=[1, 2, 3])
    >>> round(weighted.loss, 6)
    0.506061
    >>> masked = cecli.multilabel_cross_entropy([[1, -100], [0, 1]], [[0.9, 0.5], [0.2, 0.6]],
    ...                                         ignore_index=-100)
    >>> round(masked.loss, 6), masked.weight_sum  # the mean of three cells' losses
    (0.279777, 1.5)
    """
    if class_axis is not None:
        return by_position(
            multilabel_cross_entropy,
            y_true,
            y_pred,
            sample_weights,
            class_axis,
            from_logits=from_logits,
            class_weights=class_weights,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            base=base,
            reduction=reduction,
            pos_weight=pos_weight,
            focal_alpha=focal_alpha,
            pos_label=pos_label,
            ignore_index=ignore_index,
        )
    y_pred = as_array(y_pred)
    preds_shape = np.shape(y_pred)
    k = preds_shape[1] if len(preds_shape) == 2 else 1
    label_weights = _multilabel_weights(class_weights, k)

    def scoring(
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None,
        cells: NDArray[np.bool_] | None,
        rows: _validate.RowNumbers,
    ) -> LossResult:
        scored = _multilabel(
            # an ignored cell's value is neither pos_label nor the other one
            binary_positives(y_true, pos_label, None, rows, ignored=cells),
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            label_weights=label_weights,
            facts=False,
            pos_weight=pos_weight,
            focal_alpha=focal_alpha,
            ignored=cells,
            row_offset=rows,
        )
        weights = _sample_weights(sample_weights, len(scored.loss), rows)
        if cells is not None:
            share = observed_share(cells, label_weights)
            weights = share if weights is None else weights * share
        return _reduce(scored.loss, weights, reduction, base, scored.clipped, "sample weights")

    return ignoring("multilabel", scoring, y_true, y_pred, sample_weights, ignore_index)
