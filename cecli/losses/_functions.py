"""The categorical loss function, as scikit-learn's ``log_loss`` and PyTorch's ``cross_entropy``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from cecli import _validate
from cecli._arrays import as_array
from cecli.losses._axes import by_position
from cecli.losses._categorical import _categorical
from cecli.losses._ignore import ignoring
from cecli.losses._names import class_positions
from cecli.losses._rank import check_top_k, check_top_k_classes, true_class_rank
from cecli.losses._results import LossResult
from cecli.losses._units import ClassWeights, Reduction
from cecli.losses._weights import (
    _combine,
    _per_sample_class_weight,
    _reduce,
    _sample_weights,
    _weighted_by,
)


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
    focal_alpha: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    class_axis: int | None = None,
    ignore_index: int | None = None,
    top_k: int | None = None,
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
    focal_alpha : float or array-like of shape (n_classes,), optional
        Keras's ``CategoricalFocalCrossentropy(alpha=...)``: each class's term
        is multiplied by its ``alpha_c >= 0`` (one number: every class's), so
        ``l_i = -sum_j alpha_j t_ij (1 - p_ij)^gamma log p_ij``. Unlike class
        weights, it changes the loss, not the mean's denominator. None is 1.
    labels : array-like of shape (n_classes,), optional
        The classes, in the order of ``y_pred``'s columns, as scikit-learn's
        ``labels`` (but never sorted: the columns are read in the order
        given). Each value of ``y_true`` is looked up in it, so ``y_true``
        may hold class names (strings), integers other than
        ``0..n_classes-1``, or other values; a value not in ``labels`` is an
        error that names it. Without ``labels``, ``y_true`` must hold class
        indices (or targets).
    class_axis : int, optional
        PyTorch's layout for segmentation and sequences: ``y_pred`` of shape
        ``(n_samples, n_classes, d1, ..., dk)`` with ``class_axis=1``, and
        ``y_true`` of shape ``(n_samples, d1, ..., dk)`` (or targets shaped as
        ``y_pred``). Each position is scored as a row; ``sample_weights`` has
        one weight per position, or one per sample; ``reduction="none"``
        gives the losses in the shape ``(n_samples, d1, ..., dk)``. Messages
        number the positions as rows, in C order.
    ignore_index : int, optional
        Rows whose class index is this (-100, as PyTorch's ``cross_entropy``
        and Hugging Face ``transformers`` pad labels) are left out of every
        sum and count: ``"mean"`` is over the other rows, as PyTorch's, and
        ``"none"`` gives them 0, as PyTorch does. Soft or one-hot targets are
        never ignored (PyTorch's ``ignore_index`` applies to class indices
        only). Their predictions are not checked. Every row ignored is an error.
    top_k : int, optional
        Also give the fraction of rows (not ignored) whose true class is
        among the ``top_k`` highest predictions, ``.top_k_accuracy``, and each
        row's rank of its true class, ``.rank``: scikit-learn's
        ``top_k_accuracy_score``, ties broken as it breaks them (of equal
        scores, the higher class index ranks first). From 1 to ``n_classes``.
        Rows are counted, as accuracy counts them: weights do not change it.

    Returns
    -------
    LossResult
        ``.loss`` (a float, or an array for ``"none"``), ``.clipped`` (how many
        probabilities clipping changed), ``.unit``, ``.weight_sum``,
        ``.n_ignored``, and with ``top_k`` ``.top_k_accuracy`` and ``.rank``.

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
    >>> focal = cecli.categorical_cross_entropy(
    ...     [0, 1], logits, from_logits=True, focal_gamma=2, focal_alpha=[0.25, 0.5, 0.25]
    ... )
    >>> round(focal.loss, 7)
    0.0082078
    >>> named = cecli.categorical_cross_entropy(["dog", "cat"], logits, from_logits=True,
    ...                                         labels=["dog", "cat", "bird"])
    >>> round(named.loss, 7)  # the same rows as class indices [0, 1]
    0.3185398
    >>> import numpy as np
    >>> tokens = np.log([[[0.7, 0.5], [0.3, 0.5]]])  # 1 sample, 2 classes, 2 positions
    >>> cecli.categorical_cross_entropy([[0, 1]], tokens, from_logits=True, class_axis=1,
    ...                                 reduction="none").loss.round(6)
    array([[0.356675, 0.693147]])
    >>> padded = cecli.categorical_cross_entropy([0, -100, 1], [[2.0, 1.0, 0.1], [0.0, 0.0, 0.0],
    ...     [0.5, 2.5, 0.3]], from_logits=True, ignore_index=-100, top_k=1)
    >>> round(padded.loss, 7), padded.n_ignored, padded.top_k_accuracy, padded.rank.tolist()
    (0.3185398, 1, 1.0, [1, 0, 1])
    """
    if class_axis is not None:
        return by_position(
            categorical_cross_entropy,
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
            focal_alpha=focal_alpha,
            labels=labels,
            ignore_index=ignore_index,
            top_k=top_k,
        )
    top_k = check_top_k(top_k, "categorical")

    def scoring(
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None,
        _: None,
        rows: _validate.RowNumbers,
    ) -> LossResult:
        y_true, y_pred = as_array(y_true), as_array(y_pred)
        if labels is not None and y_pred.ndim == 2:
            y_true = class_positions(y_true, labels, y_pred.shape[1], rows)
        scored = _categorical(
            y_true,
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            facts=False,
            focal_alpha=focal_alpha,
            row_offset=rows,
        )
        n, k = np.shape(y_pred)
        weights = _combine(
            _per_sample_class_weight(class_weights, scored, k),
            _sample_weights(sample_weights, n, rows),
        )
        result = _reduce(
            scored.loss,
            weights,
            reduction,
            base,
            scored.clipped,
            _weighted_by(class_weights, sample_weights),
        )
        if top_k is None:
            return result
        check_top_k_classes(top_k, k)
        assert scored.preds is not None
        rank = true_class_rank(scored.preds, scored.labels)
        hits = float(np.count_nonzero(rank <= top_k)) / len(rank)
        return replace(result, top_k=top_k, top_k_accuracy=hits, rank=rank)

    return ignoring("categorical", scoring, y_true, y_pred, sample_weights, ignore_index)
