"""What an :class:`cecli.Accumulator` reads out: the aggregate and each class's part of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cecli.kept import KeptRows
from cecli.mean_interval import LEVEL

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cecli.losses import ClassSums


@dataclass(frozen=True)
class ClassSummary:
    """One class (for multilabel: one label) of a :class:`Summary`.

    ``count`` is the rows of this class (multilabel: rows where the label is
    present); ``mean_loss`` is the sample-weighted mean loss of those rows
    (multilabel: of this label's cells in every row), None when there are
    none; ``accuracy`` is the fraction of them predicted right (the class's
    recall; multilabel: of the label's cells); ``flagged`` how many are
    confidently wrong; ``weight`` the class weight applied, if any.
    """

    index: int
    count: int
    support: float
    mean_loss: float | None
    accuracy: float | None
    flagged: int
    weight: float | None


@dataclass(frozen=True)
class Summary:
    """The aggregate result of an :class:`Accumulator`.

    With weights, ``mean_loss`` is the weighted mean ``sum_i w_i l_i / sum_i
    w_i`` and ``sum_loss`` the weighted sum; ``weight_sum`` is ``sum_i w_i``
    (the sample count when unweighted). ``perplexity`` is
    ``exp(mean loss in nats)``. ``accuracy`` counts rows (weights do not
    change it). ``worst`` and ``flagged`` hold at most ``keep`` rows each,
    highest loss first (ties: lower row first); ``flagged_count`` counts them all.

    ``n_ignored`` counts the rows left out by ``ignore_index`` (none of the
    other numbers counts them; ``n_samples`` is the rows scored). With
    ``top_k``, ``top_k_accuracy`` is the fraction of the rows scored whose
    true class is among the ``k`` highest predictions (rows counted, as
    ``accuracy``), and each kept row has its ``rank``.

    ``ci_low`` and ``ci_high`` bound the mean loss's ``ci_level`` confidence
    interval (None when there is none); ``ci_note`` is None, or why there is
    no interval or why it may be too narrow (a key of
    :data:`cecli.mean_interval.NOTES`).

    ``pos_weight`` and ``focal_alpha`` are the options as given (one number,
    or one per class or label), None when not given.
    """

    kind: str
    from_logits: bool
    unit: str
    n_samples: int
    n_classes: int
    mean_loss: float
    sum_loss: float
    perplexity: float
    accuracy: float
    clipped: int
    threshold: float
    flagged_count: int
    weight_sum: float
    weighting: str | None
    class_weights: tuple[float, ...] | None
    sample_weighted: bool
    label_smoothing: float
    focal_gamma: float
    per_class: tuple[ClassSummary, ...]
    worst: KeptRows
    flagged: KeptRows
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = LEVEL
    ci_note: str | None = None
    pos_weight: float | tuple[float, ...] | None = None
    focal_alpha: float | tuple[float, ...] | None = None
    n_ignored: int = 0
    ignore_index: int | str | None = None
    top_k: int | None = None
    top_k_accuracy: float | None = None


def class_summaries(
    sums: ClassSums, weights: NDArray[np.float64] | None
) -> tuple[ClassSummary, ...]:
    """Each class's :class:`ClassSummary` from the sums of its rows (and its class weight).

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.losses import ClassSums
    >>> sums = ClassSums(loss=np.array([1.5, 0.0]), mass=np.array([3.0, 0.0]),
    ...                  support=np.array([3.0, 0.0]), count=np.array([3, 0]),
    ...                  correct=np.array([2, 0]), flagged=np.array([1, 0]))
    >>> first, empty = class_summaries(sums, None)
    >>> first.mean_loss, round(first.accuracy, 3), empty.mean_loss, empty.accuracy
    (0.5, 0.667, None, None)
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        class_mean = sums.loss / sums.mass
        per_row = sums.count if sums.observed is None else sums.observed
        class_accuracy = sums.correct / per_row
    return tuple(
        ClassSummary(
            index=c,
            count=int(sums.count[c]),
            support=float(sums.support[c]),
            mean_loss=float(class_mean[c]) if sums.mass[c] > 0 else None,
            accuracy=float(class_accuracy[c]) if per_row[c] > 0 else None,
            flagged=int(sums.flagged[c]),
            weight=None if weights is None else float(weights[c]),
        )
        for c in range(len(sums.loss))
    )
