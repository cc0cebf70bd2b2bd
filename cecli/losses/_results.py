"""What the loss functions return: reduced losses, per-class sums, per-sample facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cecli._class_bins import ClassBins


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
        The sum of the samples' weights (the number of samples when unweighted),
        over the rows not ignored.
    n_ignored : int
        How many rows ``ignore_index`` left out (0 without it). With
        ``reduction="none"`` their losses are 0, as PyTorch gives them.
    top_k : int or None
        The ``k`` of :attr:`top_k_accuracy`, when ``top_k`` was given.
    top_k_accuracy : float or None
        With ``top_k``: the fraction of the rows not ignored whose true class
        is among the ``k`` highest predictions (rows counted, as accuracy is).
    rank : ndarray of int64 or None
        With ``top_k``: each row's rank of its true class, 1 for the top
        (ties: the higher class index first, as scikit-learn's
        ``top_k_accuracy_score``); 0 for a row ignored.
    """

    loss: float | NDArray[np.float64]
    clipped: int
    unit: str
    reduction: str
    weight_sum: float
    n_ignored: int = 0
    top_k: int | None = None
    top_k_accuracy: float | None = None
    rank: NDArray[np.int64] | None = field(default=None, repr=False)

    def __float__(self) -> float:
        if self.reduction == "none":
            raise TypeError('a per-sample result (reduction="none") is not one number')
        return float(self.loss)

    def __array__(self, dtype: object = None, copy: bool | None = None) -> NDArray:
        """The loss as an array (0-d for a mean or sum), so ``np.asarray(result)`` works.

        Examples
        --------
        >>> import numpy as np, cecli
        >>> result = cecli.binary_cross_entropy([1, 0], [0.8, 0.4], reduction="none")
        >>> np.asarray(result).round(4)
        array([0.2231, 0.5108])
        """
        return _as_array(self.loss, dtype, copy)


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
    ``observed`` multilabel: rows whose cell of label ``c`` is not ignored (None: every row)
    """

    loss: NDArray[np.float64]
    mass: NDArray[np.float64]
    support: NDArray[np.float64]
    count: NDArray[np.int64]
    correct: NDArray[np.int64]
    flagged: NDArray[np.int64]
    observed: NDArray[np.int64] | None = None

    def __add__(self, other: ClassSums) -> ClassSums:
        """The sums over both sets of rows."""
        observed = None
        if self.observed is not None or other.observed is not None:
            observed = _observed(self) + _observed(other)
        return ClassSums(
            self.loss + other.loss,
            self.mass + other.mass,
            self.support + other.support,
            self.count + other.count,
            self.correct + other.correct,
            self.flagged + other.flagged,
            observed,
        )


def _observed(sums: ClassSums) -> NDArray[np.int64]:
    """Multilabel: each label's rows not ignored."""
    if sums.observed is None:  # multilabel sums always have them; the others never
        raise ValueError("ClassSums without observed counts cannot be added to ones with them")
    return sums.observed


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

    ``targets`` are the soft targets (``N x K``; binary ``N x 2``), None for
    class indices (and for multilabel): the accumulator weighs a soft row by
    its targets' mean class weight.

    ``el2n`` is each row's EL2N score, the L2 norm of the gradient ``p - t``
    of cross-entropy with respect to the logits (see :mod:`cecli.el2n`), when
    it was asked for (:func:`score` and :meth:`cecli.Accumulator.update` ask;
    a scoring run only with ``--el2n`` or ``--per-sample``); else None.

    ``rank`` is each row's rank of its true class among the predictions (1 =
    the top one; ties put the higher class index first, as scikit-learn's
    ``top_k_accuracy_score``), when ``top_k`` asked for it; else None.

    With ``ignore_index``, the rows whose target it is are left out: the
    arrays hold the other rows, ``row_numbers`` their numbers in the whole
    input (None when no row of the batch was left out) and ``n_ignored``
    counts the rows left out. ``ignored`` is only set on the per-sample
    file's scores (:func:`cecli.view.with_ignored_rows`), which hold every
    row again, the ignored ones marked there.
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
    targets: NDArray[np.float64] | None = field(default=None, repr=False)
    el2n: NDArray[np.float64] | None = field(default=None, repr=False)
    rank: NDArray[np.int64] | None = field(default=None, repr=False)
    row_numbers: NDArray[np.int64] | None = field(default=None, repr=False)
    n_ignored: int = 0
    ignored: NDArray[np.bool_] | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return len(self.loss)

    def __array__(self, dtype: object = None, copy: bool | None = None) -> NDArray:
        """Each sample's loss, so ``np.asarray(scores)`` works."""
        return _as_array(self.loss, dtype, copy)

    @property
    def rows(self) -> NDArray[np.int64]:
        """Each sample's 0-based row number in the whole input."""
        if self.row_numbers is not None:
            return self.row_numbers
        return np.arange(self.row_offset, self.row_offset + len(self.loss), dtype=np.int64)

    @property
    def end_row(self) -> int:
        """The row after the batch's last, ignored or not."""
        return self.row_offset + len(self.loss) + self.n_ignored


@dataclass(frozen=True)
class RowTerms:
    """Per-sample terms of the calibration sums, found by the loss kernel while it held the softmax.

    Only for class-index targets without label smoothing, over at most 64
    classes (:data:`cecli._kernels.NARROW_COLUMNS`); in nats.

    ``entropy``        the prediction's entropy ``-sum_j p_j log p_j``
    ``brier``          the Brier score ``sum_j (p_j - [j = y])^2``
    ``cross_entropy``  ``-log p_y`` as the loss computes it (clipped, before any focal
                       weighting): the KL divergence from the one-hot target
    ``log_odds``       logits only: ``log(c / (1 - c))`` of the top-1 probability ``c``,
                       ``-log(S - 1)`` from the softmax's sum ``S`` (``+inf`` where ``c = 1``)
    ``class_bins``     when asked for (a number of bins): every class's probability binned,
                       the chunk's per (class, bin) sums (:class:`cecli._class_bins.ClassBins`);
                       when only the sums of the entropies and Brier scores were asked for,
                       they are there, and ``entropy`` and ``brier`` are None
    """

    entropy: NDArray[np.float64] | None
    brier: NDArray[np.float64] | None
    cross_entropy: NDArray[np.float64]
    log_odds: NDArray[np.float64] | None = None
    class_bins: ClassBins | None = None


def _as_array(loss: float | NDArray, dtype: object, copy: bool | None) -> NDArray:
    """``loss`` for ``__array__``, honouring NumPy 2's ``copy``: True always copies, False
    refuses where a copy is needed (a float, which has no array yet, or another dtype)."""
    if copy is False:
        other = dtype is not None and np.dtype(dtype) != getattr(loss, "dtype", None)  # type: ignore[call-overload]
        if not isinstance(loss, np.ndarray) or other:
            raise ValueError("the loss cannot be given as an array without a copy")
        return loss
    array = np.asarray(loss, dtype=dtype)  # type: ignore[call-overload]
    return array.copy() if copy and array is loss else array


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
    preds: NDArray | None = None  # the checked predictions, in their own float type
    truth: NDArray[np.float64] | None = None  # binary/multilabel: the checked 0..1 targets
    terms: RowTerms | None = None  # with ``terms``, where the kernel found them
