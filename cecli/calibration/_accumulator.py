"""The mergeable calibration accumulator, and the one-shot :func:`calibration`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.calibration._bins import (
    DEFAULT_BINS,
    FINE_BINS,
    _adaptive,
    _bin_edges,
    _binned,
    _BinSums,
    _check_bins,
    _coarse_of_fine,
    _ece_mce,
    _rms_error,
    _table,
)
from cecli.calibration._classwise import (
    _ClasswiseSums,
    bernoulli_sums,
    brier_terms,
    categorical_sums,
    classwise_ece,
)
from cecli.calibration._facts import _check_kind, _Facts, _facts, facts_of_view
from cecli.calibration._results import BrierDecomposition, CalibrationSummary
from cecli.errors import EmptyInputError, OptionError, ShapeError
from cecli.losses import Kind, unit_of
from cecli.view import ChunkView


class CalibrationAccumulator:
    """Calibration statistics over chunks of rows, mergeable across workers.

    Keeps only sums: per equal-width bin and per fine bin (:data:`FINE_BINS`
    of them, for the adaptive ECE), the count, weight and weighted sums of
    confidence and credit; per column (class or label) and equal-width bin
    of that column's own probability, the weight and weighted sums of the
    probability and the outcome (the classwise ECE and the Brier
    decomposition); and the weighted sums of the per-row Brier score,
    entropy, target entropy and KL divergence, all in float64. Memory does
    not grow with the input (it grows with the columns: ``3 x n_bins``
    sums of 8 bytes each).

    Parameters
    ----------
    kind : {"categorical", "binary", "multilabel"}, default="categorical"
        What the predictions are; see the module's conventions.
    from_logits : bool, default=False
        Whether the predictions are logits (softmax for categorical, sigmoid
        otherwise) rather than probabilities.
    n_bins : int, default=15
        Equal-width confidence bins, and groups of the adaptive ECE.
    eps : float or "auto", default="auto"
        Probabilities are clipped to ``[eps, 1 - eps]`` before a log (in the
        KL divergence and cross-entropy only), as in the loss functions.
    base : "e", 2 or 10, default="e"
        The unit of entropies and the KL divergence: nats, bits or bans.

    Examples
    --------
    >>> from cecli.calibration import CalibrationAccumulator
    >>> acc = CalibrationAccumulator("categorical", n_bins=5)
    >>> acc.update([0, 1], [[0.9, 0.1], [0.7, 0.3]])
    >>> acc.update([1, 1], [[0.3, 0.7], [0.4, 0.6]])
    >>> s = acc.result()
    >>> round(s.ece, 4), round(s.mce, 4), round(s.brier, 4)
    (0.225, 0.4, 0.375)
    >>> [(b.lower, b.upper, b.count, b.accuracy) for b in s.bins if b.count]
    [(0.4, 0.6, 1, 1.0), (0.6, 0.8, 2, 0.5), (0.8, 1.0, 1, 1.0)]
    >>> round(s.rms_calibration_error, 4), round(s.classwise_ece, 4)
    (0.25, 0.375)
    >>> d = s.brier_decomposition
    >>> round(d.reliability - d.resolution + d.uncertainty + d.within_bins, 4)
    0.375
    >>> other = CalibrationAccumulator("categorical", n_bins=5)
    >>> other.update([2], [[0.2, 0.2, 0.6]])
    >>> _ = acc.merge(other)
    Traceback (most recent call last):
    ...
    cecli.errors.ShapeError: Cannot merge calibration sums over 3 columns into sums over 2.
    """

    def __init__(
        self,
        kind: Kind = "categorical",
        *,
        from_logits: bool = False,
        n_bins: int = DEFAULT_BINS,
        eps: float | str = "auto",
        base: str | float = "e",
    ) -> None:
        self.kind = _check_kind(kind)
        self.from_logits = bool(from_logits)
        self.n_bins = _check_bins(n_bins)
        self.eps = eps
        _validate.resolve_eps(eps, np.dtype(np.float64))  # fail on a bad eps now, not later
        self.base = base
        self.unit, self._ln_base = unit_of(base)
        self.n_columns: int | None = None
        self.n_samples = 0
        self.n_predictions = 0
        self.sample_weighted = False
        self.soft_targets = False
        self.weight_sum = 0.0
        self._edges = _bin_edges(self.n_bins)
        self._coarse_of_fine = _coarse_of_fine(self._edges)
        self._bins = _BinSums.zeros(self.n_bins)
        self._fine = _BinSums.zeros(FINE_BINS)
        # every column's probability binned (classwise ECE, Brier decomposition): C x n_bins
        # sums, made when the first chunk says how many columns there are
        self._classwise: _ClasswiseSums | None = None
        # weighted sums over rows, in nats
        self._brier = 0.0
        self._entropy = 0.0
        self._target_entropy = 0.0
        self._kl = 0.0
        self._next_row = 0

    def update(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None = None,
        *,
        row_offset: int | None = None,
    ) -> None:
        """Add one chunk of rows.

        ``y_true`` and ``y_pred`` are as for the loss functions of ``kind``:
        class indices or one-hot/soft target rows with an ``N x K`` array of
        probabilities or logits (categorical); 0/1 or soft targets with one
        positive-class probability or logit per row (binary); ``N x L`` of
        each (multilabel). ``row_offset`` (the chunk's first row in the whole
        input, by default following the rows added so far) only numbers rows
        in error messages.

        Raises
        ------
        cecli.errors.CecliError
            For input the loss functions would refuse (shapes, NaN, rows not
            summing to 1, labels out of range, a true class masked with -inf,
            bad weights), naming the row. A chunk that fails adds nothing.
        """
        offset = self._next_row if row_offset is None else int(row_offset)
        columns = np.shape(y_pred)[1] if np.ndim(y_pred) == 2 else 1
        self._check_columns(columns)
        # the kernel's classwise sums are unweighted: with sample weights, not asked for
        n_bins = self.n_bins if sample_weights is None else None
        facts = _facts(self.kind, y_true, y_pred, self.from_logits, self.eps, offset, n_bins)
        weight = None
        if sample_weights is not None:
            weight = _validate.sample_weight_array(sample_weights, len(facts.kl), offset)
        self._absorb(facts, weight, offset, columns)

    def add(self, view: ChunkView) -> None:
        """Add one checked chunk (see :func:`cecli.view.view_of`); nothing is checked again.

        Examples
        --------
        >>> from cecli.calibration import CalibrationAccumulator
        >>> from cecli.view import view_of
        >>> acc = CalibrationAccumulator("binary", n_bins=2)
        >>> acc.add(view_of("binary", [0, 1, 1, 0], [0.2, 0.9, 0.6, 0.45]))
        >>> round(acc.result().ece, 4)
        0.2875
        """
        if (view.kind, view.from_logits) != (self.kind, self.from_logits):
            raise OptionError(
                f"Cannot add a {view.kind} view{' of logits' * view.from_logits} to a "
                f"{self.kind} calibration accumulator{' of logits' * self.from_logits}."
            )
        if _validate.resolve_eps(self.eps, view.preds.dtype) != view.eps:
            raise OptionError("Cannot add a view clipped with another eps.", option="eps")
        columns = view.preds.shape[1] if view.preds.ndim == 2 else 1
        self._check_columns(columns)
        n_bins = self.n_bins if view.weights is None else None
        self._absorb(facts_of_view(view, n_bins), view.weights, view.first_row, columns)

    def _check_columns(self, columns: int) -> None:
        if self.n_columns is not None and columns != self.n_columns:
            what = "labels" if self.kind == "multilabel" else "classes"
            raise ShapeError(
                f"This chunk has {columns} {what} but earlier ones had {self.n_columns}; every "
                "chunk must have the same columns."
            )

    def _absorb(
        self, facts: _Facts, weight: NDArray[np.float64] | None, offset: int, columns: int
    ) -> None:
        n = len(facts.kl)
        per_row = [facts.brier, facts.entropy, facts.target_entropy, facts.kl]
        if weight is None:
            sums = [0.0 if v is None else float(np.sum(v)) for v in per_row]
            summed = facts.class_bins
            if facts.brier is None and summed is not None and summed.brier is not None:
                # the kernel summed them block by block
                sums[0], sums[1] = summed.brier, summed.entropy
            row_weight = float(n)
            value_weight = None
        else:
            assert facts.brier is not None  # the kernel sums them only for unweighted rows
            sums = [0.0 if v is None else float(weight @ v) for v in per_row]
            row_weight = float(np.sum(weight))
            per_value = len(facts.confidence) // n
            value_weight = weight if per_value == 1 else np.repeat(weight, per_value)
        bins, fine = _binned(
            facts.confidence,
            facts.credit,
            value_weight,
            self._edges,
            self._coarse_of_fine,
            facts.log_odds,
        )
        kernel_bins = facts.class_bins
        if weight is None and kernel_bins is not None and kernel_bins.n_bins == self.n_bins:
            classwise = _ClasswiseSums.of_counts(kernel_bins)
        elif facts.class_probs is not None:
            classwise = categorical_sums(facts.class_probs, weight, self._edges)
        elif self.kind == "binary":
            # one column, binned as the top-label bins bin it: their sums, and no second pass
            classwise = _ClasswiseSums.of_column(bins, _spread(facts, weight))
        else:
            classwise = bernoulli_sums(facts.confidence, facts.credit, weight, columns, self._edges)
        # all checks passed: only now does the state change
        self.n_columns = columns
        self._bins += bins
        self._fine += fine
        if self._classwise is None:
            self._classwise = classwise
        else:
            self._classwise += classwise
        self._brier += sums[0]
        self._entropy += sums[1]
        self._target_entropy += sums[2]
        self._kl += sums[3]
        self.weight_sum += row_weight
        self.n_samples += n
        self.n_predictions += len(facts.confidence)
        self.sample_weighted |= weight is not None
        self.soft_targets |= facts.soft
        self._next_row = max(self._next_row, offset + n)

    def __getstate__(self) -> dict[str, object]:
        # the fine-to-coarse table follows from the edges: made again, not shipped
        state = dict(self.__dict__)
        del state["_coarse_of_fine"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._coarse_of_fine = _coarse_of_fine(self._edges)

    def merge(self, other: CalibrationAccumulator) -> CalibrationAccumulator:
        """Add another accumulator's rows to this one (in place) and return self.

        Both must have the same options; the result is the same, to float
        rounding, as one accumulator fed every row.
        """
        mine = (self.kind, self.from_logits, self.n_bins, self.eps, self.unit)
        theirs = (other.kind, other.from_logits, other.n_bins, other.eps, other.unit)
        if mine != theirs:
            raise OptionError("Only calibration accumulators with the same options can be merged.")
        if (
            self.n_columns is not None
            and other.n_columns is not None
            and self.n_columns != other.n_columns
        ):
            raise ShapeError(
                f"Cannot merge calibration sums over {other.n_columns} columns into sums over "
                f"{self.n_columns}."
            )
        if other.n_columns is not None:
            self.n_columns = other.n_columns
        self._bins += other._bins
        self._fine += other._fine
        if other._classwise is not None:
            if self._classwise is None:
                self._classwise = other._classwise.copy()  # never share the argument's arrays
            else:
                self._classwise += other._classwise
        self._brier += other._brier
        self._entropy += other._entropy
        self._target_entropy += other._target_entropy
        self._kl += other._kl
        self.weight_sum += other.weight_sum
        self.n_samples += other.n_samples
        self.n_predictions += other.n_predictions
        self.sample_weighted |= other.sample_weighted
        self.soft_targets |= other.soft_targets
        self._next_row = max(self._next_row, other._next_row)
        return self

    def result(self) -> CalibrationSummary:
        """Read the calibration statistics of every row added so far.

        The adaptive ECE is approximate: the exact one cuts the predictions,
        sorted by confidence, into ``n_bins`` groups of equal count; here the
        cuts fall on the edges of :data:`FINE_BINS` fine bins, equal-width in
        ``logit(confidence)``, each at the edge nearest the exact cut. Each
        group's sums are exact; ``adaptive_ece_bound`` bounds the difference
        from the exact equal-mass ECE (``2 / W`` times the weight between
        the exact and the chosen cuts), and is small unless many predictions
        share nearly the same confidence.

        Raises
        ------
        cecli.errors.EmptyInputError
            If no rows were added.
        cecli.errors.WeightError
            If the sample weights sum to zero.
        """
        if self.n_samples == 0:
            raise EmptyInputError("There are no samples to score (0 rows).")
        if not self.weight_sum > 0:
            _validate.raise_zero_total_weight("sample weights")
        value_weight = float(self._bins.weight.sum())
        ece, mce = _ece_mce(self._bins, value_weight)
        adaptive_ece, bound, adaptive_bins = _adaptive(
            self._fine, self.n_bins, value_weight, self.sample_weighted
        )
        assert self._classwise is not None
        brier = self._brier / self.weight_sum
        reliability, resolution, uncertainty = brier_terms(
            self._classwise, mean_over_columns=self.kind == "multilabel"
        )
        binned = reliability - resolution + uncertainty
        decomposition = BrierDecomposition(
            reliability=reliability,
            resolution=resolution,
            uncertainty=uncertainty,
            binned_brier=binned,
            within_bins=brier - binned,
        )
        scale = 1.0 / (self.weight_sum * self._ln_base)
        soft = self.soft_targets
        target_entropy = self._target_entropy * scale if soft else None
        kl = self._kl * scale if soft else None
        return CalibrationSummary(
            kind=self.kind,
            unit=self.unit,
            n_samples=self.n_samples,
            n_predictions=self.n_predictions,
            weight_sum=self.weight_sum,
            sample_weighted=self.sample_weighted,
            n_bins=self.n_bins,
            ece=ece,
            mce=mce,
            bins=_table(self._bins, self._edges[:-1], self._edges[1:]),
            mean_confidence=float(self._bins.confidence.sum() / value_weight),
            accuracy=float(self._bins.credit.sum() / value_weight),
            adaptive_ece=adaptive_ece,
            adaptive_ece_bound=bound,
            adaptive_bins=adaptive_bins,
            brier=brier,
            entropy=self._entropy * scale,
            soft_targets=soft,
            target_entropy=target_entropy,
            kl_divergence=kl,
            cross_entropy=None if kl is None else target_entropy + kl,
            rms_calibration_error=_rms_error(self._bins, value_weight),
            classwise_ece=classwise_ece(self._classwise),
            brier_decomposition=decomposition,
        )


def _spread(facts: _Facts, weight: NDArray[np.float64] | None) -> float:
    """``sum w t (1 - t)`` over binary targets ``t``: 0 for 0/1 targets."""
    if not facts.soft:
        return 0.0
    t = facts.credit
    spread = t * (1.0 - t)
    return float(np.sum(spread)) if weight is None else float(weight @ spread)


def calibration(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    kind: Kind = "categorical",
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    n_bins: int = DEFAULT_BINS,
    eps: float | str = "auto",
    base: str | float = "e",
) -> CalibrationSummary:
    """Calibration statistics of one batch of predictions (a one-chunk accumulator).

    Parameters are those of :class:`CalibrationAccumulator` and its
    :meth:`~CalibrationAccumulator.update`.

    Examples
    --------
    >>> from cecli.calibration import calibration
    >>> s = calibration([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.45], kind="binary", n_bins=2)
    >>> round(s.ece, 4), round(s.brier, 6)
    (0.2875, 0.103125)
    >>> [(b.count, b.confidence, b.accuracy) for b in s.bins]
    [(2, 0.325, 0.0), (2, 0.75, 1.0)]
    >>> soft = calibration([[0.8, 0.2]], [[0.6, 0.4]])
    >>> round(soft.target_entropy + soft.kl_divergence, 6) == round(soft.cross_entropy, 6)
    True
    """
    acc = CalibrationAccumulator(kind, from_logits=from_logits, n_bins=n_bins, eps=eps, base=base)
    acc.update(y_true, y_pred, sample_weights)
    return acc.result()
