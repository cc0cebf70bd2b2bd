"""Class and sample weights, and the reductions ``"mean"``, ``"sum"`` and ``"none"``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.errors import OptionError, WeightError
from cecli.losses._results import LossResult, _Scored
from cecli.losses._units import REDUCTIONS, ClassWeights, unit_of


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
    sample_weights: ArrayLike | None, n: int, row_offset: _validate.RowNumbers = 0
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
