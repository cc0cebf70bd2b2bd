"""The three public loss functions, as scikit-learn's ``log_loss`` and PyTorch's loss functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.errors import OptionError, WeightError
from cecli.losses._bernoulli import _binary, _multilabel, observed_share
from cecli.losses._categorical import _categorical
from cecli.losses._ignore import check_ignore_index, ignored_cells, kept_part
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
    >>> padded = cecli.categorical_cross_entropy([0, -100, 1], [[2.0, 1.0, 0.1], [0.0, 0.0, 0.0],
    ...     [0.5, 2.5, 0.3]], from_logits=True, ignore_index=-100, top_k=1)
    >>> round(padded.loss, 7), padded.n_ignored, padded.top_k_accuracy, padded.rank.tolist()
    (0.3185398, 1, 1.0, [1, 0, 1])
    """
    top_k = check_top_k(top_k, "categorical")

    def scoring(
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None,
        _: None,
        rows: _validate.RowNumbers,
    ) -> LossResult:
        scored = _categorical(
            y_true,
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            facts=False,
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

    return _ignoring("categorical", scoring, y_true, y_pred, sample_weights, ignore_index)


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
            y_true,
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            facts=False,
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

    return _ignoring("binary", scoring, y_true, y_pred, sample_weights, ignore_index)


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
    >>> masked = cecli.multilabel_cross_entropy([[1, -100], [0, 1]], [[0.9, 0.5], [0.2, 0.6]],
    ...                                         ignore_index=-100)
    >>> round(masked.loss, 6), masked.weight_sum  # the mean of three cells' losses
    (0.279777, 1.5)
    """
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
            y_true,
            y_pred,
            from_logits=from_logits,
            eps=eps,
            label_smoothing=label_smoothing,
            focal_gamma=focal_gamma,
            label_weights=label_weights,
            facts=False,
            ignored=cells,
            row_offset=rows,
        )
        weights = _sample_weights(sample_weights, len(scored.loss), rows)
        if cells is not None:
            share = observed_share(cells, label_weights)
            weights = share if weights is None else weights * share
        return _reduce(scored.loss, weights, reduction, base, scored.clipped, "sample weights")

    return _ignoring("multilabel", scoring, y_true, y_pred, sample_weights, ignore_index)


_Scoring = Callable[
    [ArrayLike, ArrayLike, "ArrayLike | None", "NDArray[np.bool_] | None", "_validate.RowNumbers"],
    LossResult,
]


def _ignoring(
    kind: str,
    scoring: _Scoring,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weights: ArrayLike | None,
    ignore_index: object,
) -> LossResult:
    """``scoring`` of the rows not ignored; with ``reduction="none"``, every row (0 if ignored).

    ``scoring`` takes the rows kept (targets, predictions, sample weights),
    for multilabel rows that keep only some cells which cells are ignored,
    and the rows' numbers in the input, by which its errors name them.
    """
    cells = ignored_cells(kind, y_true, check_ignore_index(ignore_index))
    if cells is None:
        return scoring(y_true, y_pred, sample_weights, None, 0)
    ignored = cells.all(axis=1) if cells.ndim == 2 else cells
    if ignored.all():
        raise OptionError(
            f"leaves out every row ({len(ignored)} of them): no row is left to score. Check "
            "that the labels are the right ones, or leave the option out.",
            option="ignore_index",
        )
    keep = ~ignored
    partial = cells[keep] if cells.ndim == 2 else None
    if partial is not None and not partial.any():
        partial = None
    if not ignored.any():  # multilabel: cells ignored, no row
        return scoring(y_true, y_pred, sample_weights, partial, 0)
    kept = _Kept(keep, np.flatnonzero(keep).astype(np.int64))
    result = scoring(
        kept_part(y_true, keep),  # type: ignore[arg-type]
        kept_part(y_pred, keep),  # type: ignore[arg-type]
        kept_part(sample_weights, keep),
        partial,
        kept.rows,
    )
    return kept.spread(result)


@dataclass(frozen=True)
class _Kept:
    """The rows kept (not ignored), and their numbers."""

    mask: NDArray[np.bool_]
    rows: NDArray[np.int64]

    def spread(self, result: LossResult) -> LossResult:
        """``result`` over the rows kept, with ``"none"``'s array over every row (0 if ignored)."""
        n_ignored = len(self.mask) - len(self.rows)
        rank = result.rank
        if rank is not None:
            rank = np.zeros(len(self.mask), np.int64)
            rank[self.mask] = result.rank
        loss = result.loss
        if result.reduction == "none":
            loss = np.zeros(len(self.mask))
            loss[self.mask] = result.loss
        return replace(result, loss=loss, n_ignored=n_ignored, rank=rank)


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
