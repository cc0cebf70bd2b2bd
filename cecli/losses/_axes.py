"""``N x C x d1 x ...`` inputs with the class axis second, as PyTorch's losses take them.

For segmentation and sequences PyTorch's ``cross_entropy`` takes predictions
of shape ``(N, C, d1, ..., dk)`` and class indices of shape ``(N, d1, ...,
dk)``. With ``class_axis``, cecli scores each position as a row: the class
axis is moved last and the other axes are flattened in C order, so position
``(n, i1, ..., ik)`` is row ``np.ravel_multi_index((n, i1, ...), (N, d1, ...))``.
Per-sample results of ``reduction="none"`` come back in the shape ``(N, d1,
..., dk)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from cecli._arrays import as_array
from cecli.errors import CecliError, OptionError, ShapeError
from cecli.losses._results import LossResult

T = TypeVar("T")


class Positions:
    """Inputs with a class axis, as rows: the flattened arrays, and the positions' shape.

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.zeros((2, 3, 4))           # N=2 samples, C=3 classes, 4 positions each
    >>> grid = Positions(np.zeros((2, 4), int), logits, None, class_axis=1)
    >>> grid.y_pred.shape, grid.y_true.shape, grid.shape
    ((8, 3), (8,), (2, 4))
    """

    def __init__(self, y_true: Any, y_pred: Any, sample_weights: Any, *, class_axis: int) -> None:
        preds = as_array(y_pred)
        if isinstance(class_axis, bool) or not isinstance(class_axis, (int, np.integer)):
            raise OptionError(
                f"must be a whole number (1 for PyTorch's N x C x d1 x ...); got {class_axis!r}.",
                option="class_axis",
            )
        if preds.ndim < 2 or not -preds.ndim <= class_axis < preds.ndim:
            raise ShapeError(
                f"class_axis={class_axis} needs predictions with that axis; got shape "
                f"{preds.shape}."
            )
        axis = int(class_axis) % preds.ndim
        k = preds.shape[axis]
        moved = np.moveaxis(preds, axis, -1)
        self.shape: tuple[int, ...] = moved.shape[:-1]
        self.y_pred = moved.reshape(-1, k)
        targets = as_array(y_true)
        if targets.shape == preds.shape:
            # one target per class and position: soft or one-hot targets, or multilabel cells
            self.y_true = np.moveaxis(targets, axis, -1).reshape(-1, k)
        elif targets.shape == self.shape:
            self.y_true = targets.reshape(-1)
        else:
            raise ShapeError(
                f"With class_axis={class_axis}, predictions of shape {preds.shape} take class "
                f"indices of shape {self.shape} (or targets of shape {preds.shape}); got "
                f"targets of shape {targets.shape}."
            )
        self.class_axis = class_axis
        self.sample_weights = None if sample_weights is None else self._weights(sample_weights)

    def _weights(self, sample_weights: Any) -> NDArray:
        weights = as_array(sample_weights)
        if weights.shape == self.shape:
            return weights.reshape(-1)
        if weights.ndim == 1 and len(weights) == self.shape[0]:
            # a weight per sample, shared by all its positions
            spread = weights.reshape((-1,) + (1,) * (len(self.shape) - 1))
            return np.broadcast_to(spread, self.shape).reshape(-1)
        raise ShapeError(
            f"With class_axis={self.class_axis}, sample_weights must have shape {self.shape} "
            f"(one per position) or ({self.shape[0]},) (one per sample); got {weights.shape}."
        )

    def result(self, result: LossResult) -> LossResult:
        """``result`` with per-position losses (and ranks) in the positions' shape."""
        changes: dict[str, Any] = {}
        if result.reduction == "none":
            changes["loss"] = np.asarray(result.loss).reshape(self.shape)
        if result.rank is not None:
            changes["rank"] = result.rank.reshape(self.shape)
        return replace(result, **changes) if changes else result

    def scored(self, work: Callable[[], T]) -> T:
        """``work()``, with a message that numbers rows saying how rows map to positions."""
        try:
            return work()
        except CecliError as error:
            if "row" not in str(error).lower() or error.option is not None:
                raise
            note = (
                f" (With class_axis={self.class_axis}, rows number the positions of shape "
                f"{self.shape} in C order: row r is position np.unravel_index(r, {self.shape}).)"
            )
            raise type(error)(str(error) + note) from error


def by_position(
    loss_function: Callable[..., LossResult],
    y_true: Any,
    y_pred: Any,
    sample_weights: Any,
    class_axis: int,
    **options: Any,
) -> LossResult:
    """``loss_function`` of each position as a row, its per-position arrays in their shape.

    ``options`` are the loss function's other arguments (``ignore_index``
    leaves out positions, ``top_k`` ranks each position's true class).

    Examples
    --------
    >>> import numpy as np, cecli
    >>> logits = np.zeros((1, 2, 3))  # 1 sample, 2 classes, 3 positions
    >>> result = by_position(cecli.categorical_cross_entropy, [[0, -100, 1]], logits, None, 1,
    ...                      from_logits=True, ignore_index=-100, reduction="none")
    >>> result.loss.round(4).tolist(), result.n_ignored
    ([[0.6931, 0.0, 0.6931]], 1)
    """
    grid = Positions(y_true, y_pred, sample_weights, class_axis=class_axis)
    return grid.result(
        grid.scored(
            lambda: loss_function(
                grid.y_true, grid.y_pred, sample_weights=grid.sample_weights, **options
            )
        )
    )
