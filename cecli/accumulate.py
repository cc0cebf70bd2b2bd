"""The mergeable accumulator: per-sample scores in, aggregate cross-entropy out.

An :class:`Accumulator` keeps only small sums (per-class loss, weight mass,
support, counts), two counters and two short lists of rows (the worst by
loss, and the worst of the confidently wrong), so an input of any length can
be scored chunk by chunk in bounded memory. Two accumulators over different
rows of the same input merge into one whose result is the same, to
floating-point rounding, as scoring everything in one go, in any order.

Class weights, including "balanced", are applied only when the result is
read: a weighted mean is ``sum_c w_c L_c / sum_c w_c M_c`` with ``L_c`` the
class's (sample-weighted) loss sum and ``M_c`` its weight mass, and balanced
weights come from the per-class support, so one pass over the input suffices.

The mean's confidence interval comes from mergeable moments of the
per-sample losses (:class:`cecli.mean_interval.LossSpread`), one set of them
(one per class with "balanced" weights).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.errors import EmptyInputError, OptionError, ShapeError, WeightError
from cecli.kept import RowFacts as RowFacts  # where cecli.RowFacts has always been
from cecli.kept import TopRows
from cecli.losses import (
    KINDS,
    ClassSums,
    ClassWeights,
    Kind,
    SampleScores,
    balanced_dot,
    balanced_weights,
    unit_of,
)
from cecli.losses._axes import Positions
from cecli.losses._common import per_column
from cecli.losses._ignore import check_ignore_index
from cecli.losses._names import check_labels
from cecli.losses._rank import check_top_k, check_top_k_classes
from cecli.losses._score import check_naming_kind, check_pos_weight_kind
from cecli.mean_interval import LossSpread
from cecli.summary import ClassSummary as ClassSummary  # where it has always been
from cecli.summary import Summary as Summary
from cecli.summary import class_summaries
from cecli.view import ChunkView, view_of


class Accumulator:
    """Aggregate cross-entropy over chunks of rows, mergeable across workers.

    Parameters
    ----------
    kind : {"categorical", "binary", "multilabel"}, default="categorical"
        Which loss to compute; see the loss functions.
    from_logits, eps, label_smoothing, focal_gamma, base
        As in :func:`cecli.categorical_cross_entropy`.
    class_weights : "balanced" or array-like, optional
        Per-class weights (multilabel: per-label weights, used in each
        sample's mean over its labels; "balanced" is not defined there).
        "balanced" is computed from all rows seen, when the result is read:
        ``n_samples / (n_present * count_c)`` over the classes present, as
        scikit-learn's ``compute_sample_weight("balanced", y)``.
    threshold : float in (0, 1], default=0.9
        A wrong prediction with confidence at or above this is flagged.
    keep : int or None, default=10
        How many of the worst rows, and of the worst flagged rows, to keep
        (None keeps all, which is not bounded memory).
    pos_weight, focal_alpha, labels, pos_label, class_axis, ignore_index, top_k
        As in the loss functions (:func:`cecli.categorical_cross_entropy`,
        :func:`cecli.binary_cross_entropy`, :func:`cecli.multilabel_cross_entropy`),
        and they compose as there: ``ignore_index`` is compared with the
        targets as given, before ``labels`` or ``pos_label`` map them, and
        with ``class_axis`` it leaves out positions (a padded token, -100).
        ``pos_label`` checks each chunk on its own (its targets may take one
        value besides it; ``labels`` checks every value). ``class_axis``
        numbers the positions in C order over the chunks. The rows ignored
        are counted apart (:attr:`Summary.n_ignored`); ``top_k`` gives
        :attr:`Summary.top_k_accuracy` and each row's :attr:`SampleScores.rank`.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> acc = cecli.Accumulator("categorical", threshold=0.9)
    >>> _ = acc.update([0, 1], [[0.9, 0.1], [0.95, 0.05]])
    >>> _ = acc.update([1], [[0.2, 0.8]])
    >>> s = acc.result()
    >>> s.n_samples, round(s.mean_loss, 6), s.flagged_count, s.flagged[0].row
    (3, 1.108079, 1, 1)
    >>> left, right = cecli.Accumulator(), cecli.Accumulator()
    >>> _ = left.update([0, 1], [[0.9, 0.1], [0.95, 0.05]])
    >>> _ = right.update([1], [[0.2, 0.8]], row_offset=2)
    >>> round(right.merge(left).result().mean_loss, 6)
    1.108079
    """

    def __init__(
        self,
        kind: Kind = "categorical",
        *,
        from_logits: bool = False,
        class_weights: ClassWeights = None,
        eps: float | str = "auto",
        label_smoothing: float = 0.0,
        focal_gamma: float = 0.0,
        threshold: float = 0.9,
        base: str | float = "e",
        keep: int | None = 10,
        pos_weight: ArrayLike | None = None,
        focal_alpha: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        pos_label: object | None = None,
        class_axis: int | None = None,
        ignore_index: int | None = None,
        top_k: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise OptionError(f"must be one of {', '.join(KINDS)}; got {kind!r}.", option="kind")
        if keep is not None and (not isinstance(keep, (int, np.integer)) or keep < 0):
            raise OptionError(
                f"must be a whole number >= 0, or None for all; got {keep!r}.", option="keep"
            )
        self.kind = kind
        self.from_logits = bool(from_logits)
        _validate.resolve_eps(eps, np.dtype(np.float64))  # a bad eps fails now, not later
        self.eps = eps
        self.label_smoothing = _validate.check_unit_interval(
            "label_smoothing", label_smoothing, open_low=False, open_high=False
        )
        self.focal_gamma = _validate.check_gamma(focal_gamma)
        self.threshold = _validate.check_unit_interval(
            "threshold", threshold, open_low=True, open_high=False
        )
        self.base = base
        self.unit, self._ln_base = unit_of(base)
        self.keep = keep
        if isinstance(class_weights, str) and class_weights != "balanced":
            raise WeightError(
                f'must be "balanced" or one number per class; got {class_weights!r}.',
                option="class_weights",
            )
        if kind == "multilabel" and isinstance(class_weights, str):
            raise WeightError(
                'cannot be "balanced" for multilabel targets; give one weight per label.',
                option="class_weights",
            )
        self.class_weights = class_weights
        check_pos_weight_kind(kind, pos_weight)
        # the values are checked now; their count, at the first chunk (it needs the columns)
        self.pos_weight = per_column(pos_weight, None, "pos_weight", "label")
        self.focal_alpha = per_column(
            focal_alpha,
            None,
            "focal_alpha",
            "class" if kind == "categorical" else "label",
            at_most_one=kind != "categorical",
        )
        self.labels = check_labels(labels)
        self.pos_label = pos_label
        check_naming_kind(kind, labels, pos_label)
        if class_axis is not None and kind == "binary":
            raise OptionError(
                "is for categorical and multilabel predictions; binary ones have no class axis.",
                option="class_axis",
            )
        self.class_axis = class_axis
        self.ignore_index = check_ignore_index(ignore_index)
        self.top_k = check_top_k(top_k, kind)
        self.n_ignored = 0
        self.top_k_hits = 0
        self.n_classes: int | None = None
        self.n_samples = 0
        self.clipped = 0
        self.correct = 0
        self.flagged_count = 0
        self.sample_weighted = False
        self._sums: ClassSums | None = None
        self._spread: LossSpread | None = None
        self._weight_vector: NDArray[np.float64] | None = None  # explicit class weights
        self._worst = TopRows(keep)
        self._flagged = TopRows(keep)
        self._next_row = 0

    # -- feeding ---------------------------------------------------------------------

    def update(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None = None,
        *,
        row_offset: int | None = None,
        el2n: bool = True,
    ) -> SampleScores:
        """Score one chunk of rows, add it, and return its per-sample scores.

        ``row_offset`` is the chunk's first row in the whole input; by default
        the chunk follows the rows added so far. ``el2n`` also gives each
        row's EL2N score (:attr:`SampleScores.el2n`); False spares its cost.
        """
        offset = self._next_row if row_offset is None else int(row_offset)
        view = self.view(y_true, y_pred, sample_weights, first_row=offset, el2n=el2n)
        self.add(view)
        return view.scores

    def view(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None = None,
        *,
        first_row: int = 0,
        ids: ArrayLike | None = None,
        calibration: bool = False,
        el2n: bool = False,
        calibration_bins: int | None = None,
    ) -> ChunkView:
        """Check one chunk with this accumulator's options: its :class:`~cecli.view.ChunkView`.

        The view is what :meth:`add` takes, and what every other statistic
        of the chunk (calibration, histograms, ...) reads; ``calibration``
        asks it for the calibration sums' per-row terms too (see
        :func:`~cecli.view.view_of`), and ``calibration_bins`` (their number
        of bins) for every class's probability binned; ``el2n`` for each
        row's EL2N score.

        Examples
        --------
        >>> import cecli
        >>> acc = cecli.Accumulator("binary", threshold=0.8)
        >>> view = acc.view([1, 0], [0.3, 0.85], first_row=5)
        >>> view.scores.flagged.tolist(), view.scores.rows.tolist()
        ([False, True], [5, 6])
        """
        label_weights = None
        if self.kind == "multilabel" and self.class_weights is not None:
            label_weights = self.class_weights
        if self.class_axis is not None:
            grid = Positions(y_true, y_pred, sample_weights, class_axis=self.class_axis)
            y_true, y_pred, sample_weights = grid.y_true, grid.y_pred, grid.sample_weights
        return view_of(
            self.kind,
            y_true,
            y_pred,
            sample_weights,
            from_logits=self.from_logits,
            label_weights=label_weights,
            eps=self.eps,
            label_smoothing=self.label_smoothing,
            focal_gamma=self.focal_gamma,
            threshold=self.threshold,
            base=self.base,
            first_row=first_row,
            ids=ids,
            calibration=calibration,
            el2n=el2n,
            pos_weight=self.pos_weight,
            focal_alpha=self.focal_alpha,
            labels=self.labels,
            pos_label=self.pos_label,
            ignore_index=self.ignore_index,
            rank=self.top_k is not None,
            calibration_bins=calibration_bins,
        )

    def add(self, scores: SampleScores | ChunkView) -> None:
        """Add a checked chunk: its view (see :meth:`view`), or per-sample scores computed
        elsewhere (by :func:`cecli.losses.score`)."""
        if isinstance(scores, ChunkView):
            self.sample_weighted |= scores.weights is not None
            weights = scores.weights
            if scores.cell_ignored is not None:
                # a multilabel row weighs its share of the cells kept (see score_parts)
                weights = scores.scores.weight
            scores = scores.scores
        else:
            weights = scores.weight
        if scores.kind != self.kind or scores.unit != self.unit:
            raise OptionError(
                f"Cannot add {scores.kind} scores in {scores.unit} to a {self.kind} "
                f"accumulator in {self.unit}."
            )
        self._add_sums(scores.classes)
        self.n_ignored += scores.n_ignored
        self._next_row = max(self._next_row, scores.end_row)
        if scores.n_samples == 0:  # every row of the chunk ignored
            return
        if self.top_k is not None:
            if scores.rank is None:
                raise OptionError(
                    "This accumulator counts top-k accuracy; these scores have no ranks "
                    "(make them with its view or update)."
                )
            self.top_k_hits += int(np.count_nonzero(scores.rank <= self.top_k))
        self._add_spread(scores, weights)
        self.n_samples += scores.n_samples
        self.clipped += scores.clipped
        self.correct += int(np.count_nonzero(scores.correct))
        self.flagged_count += int(np.count_nonzero(scores.flagged))
        self._worst.update(scores)
        self._flagged.update(scores, scores.flagged)

    def _add_sums(self, sums: ClassSums) -> None:
        k = len(sums.loss)
        if self.n_classes is None:
            if self.class_weights is not None and not isinstance(self.class_weights, str):
                # a wrong count fails at the first chunk, not after the last one
                what = "label" if self.kind == "multilabel" else "class"
                self._weight_vector = _validate.class_weight_array(self.class_weights, k, what)
            if self.top_k is not None:
                check_top_k_classes(self.top_k, k)
            self.n_classes = k
        elif k != self.n_classes:
            raise ShapeError(
                f"This chunk has {k} classes but earlier ones had {self.n_classes}; every "
                "chunk must have the same columns."
            )
        self._sums = sums if self._sums is None else self._sums + sums

    def _add_spread(self, scores: SampleScores, weights: NDArray[np.float64] | None) -> None:
        """Add the chunk's losses to the interval's moments, each row weighted as in the mean."""
        balanced = isinstance(self.class_weights, str) and self.kind != "multilabel"
        if self._spread is None:
            self._spread = LossSpread(len(scores.classes.loss) if balanced else 1)
        if self.kind == "multilabel" or self.class_weights is None:
            # a multilabel row's loss is already its label-weighted mean
            self._spread.add(scores.loss, weights)
        elif balanced:
            if scores.targets is not None:
                # the weight of a soft row is its targets' mean class weight, known only
                # at the end: no per-class sums give its variance
                self._spread.refuse("soft_targets_balanced")
            else:
                self._spread.add(scores.loss, weights, scores.label)
        else:
            w = self._weight_vector
            assert w is not None
            row = w[scores.label] if scores.targets is None else scores.targets @ w
            self._spread.add(scores.loss, row if weights is None else row * weights)

    def merge(self, other: Accumulator) -> Accumulator:
        """Add another accumulator's rows to this one (in place) and return self.

        Both must have the same options and cover different rows.
        """
        for name in _MERGE_OPTIONS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if not (mine == theirs if name in _PLAIN_OPTIONS else _same_values(mine, theirs)):
                raise OptionError(
                    f"Only accumulators with the same options can be merged; their {name} differ."
                )
        if other._sums is not None:
            self._add_sums(other._sums)
        if other._spread is not None:
            if self._spread is None:
                self._spread = LossSpread(other._spread.n_groups)
            self._spread.merge(other._spread)
        self.n_samples += other.n_samples
        self.n_ignored += other.n_ignored
        self.top_k_hits += other.top_k_hits
        self.clipped += other.clipped
        self.correct += other.correct
        self.flagged_count += other.flagged_count
        self.sample_weighted |= other.sample_weighted
        self._worst.merge(other._worst)
        self._flagged.merge(other._flagged)
        self._next_row = max(self._next_row, other._next_row)
        return self

    # -- reading -----------------------------------------------------------------------

    def kept_row_array(self) -> NDArray[np.int64]:
        """The row numbers of the worst and flagged rows kept so far (may repeat)."""
        return np.concatenate([self._worst.row_numbers(), self._flagged.row_numbers()])

    def kept_rows(self) -> set[int]:
        """The row numbers of the worst and flagged rows kept so far."""
        return set(self.kept_row_array().tolist())

    def class_weight_vector(self) -> NDArray[np.float64] | None:
        """The class (or label) weights as applied to the rows seen so far."""
        if self.class_weights is None or self._sums is None:
            return None
        if isinstance(self.class_weights, str):
            return balanced_weights(self._sums.support)
        what = "label" if self.kind == "multilabel" else "class"
        return _validate.class_weight_array(self.class_weights, len(self._sums.loss), what)

    def result(self) -> Summary:
        """The aggregate over every row added so far."""
        sums = self._sums
        if self.n_samples == 0 and self.n_ignored:
            raise OptionError(
                f"leaves out every row ({self.n_ignored} of them): no row is left to score. "
                "Check that the labels are the right ones, or leave the option out.",
                option="ignore_index",
            )
        if sums is None or self.n_samples == 0:
            raise EmptyInputError("There are no samples to score (0 rows).")
        weights = self.class_weight_vector()
        w = np.ones(len(sums.loss)) if weights is None else weights
        if isinstance(self.class_weights, str):
            # balanced: divide by the support before weighting, so nothing overflows
            denominator = float(balanced_dot(sums.support, sums.mass))
            numerator = float(balanced_dot(sums.support, sums.loss))
        else:
            denominator = float(w @ sums.mass)
            numerator = float(w @ sums.loss)
        if not denominator > 0:
            parts = ["class weights"] if weights is not None else []
            parts += ["sample weights"] if self.sample_weighted else []
            only_option = "class_weights" if parts == ["class weights"] else None
            _validate.raise_zero_total_weight(" times ".join(parts) or "weights", only_option)
        mean = numerator / denominator
        # multilabel weights act inside each sample's mean over labels
        weight_sum = denominator / w.sum() if self.kind == "multilabel" else denominator
        try:
            perplexity = math.exp(mean * self._ln_base)
        except OverflowError:
            perplexity = math.inf
        assert self._spread is not None
        balanced = isinstance(self.class_weights, str) and self.kind != "multilabel"
        interval = self._spread.interval(mean, weights if balanced else None)
        return Summary(
            kind=self.kind,
            from_logits=self.from_logits,
            unit=self.unit,
            n_samples=self.n_samples,
            n_classes=len(sums.loss),
            mean_loss=mean,
            sum_loss=mean * weight_sum,
            perplexity=perplexity,
            accuracy=self.correct / self.n_samples,
            clipped=self.clipped,
            threshold=self.threshold,
            flagged_count=self.flagged_count,
            weight_sum=weight_sum,
            weighting=None
            if self.class_weights is None
            else ("balanced" if isinstance(self.class_weights, str) else "explicit"),
            class_weights=None if weights is None else tuple(float(x) for x in weights),
            sample_weighted=self.sample_weighted,
            label_smoothing=self.label_smoothing,
            focal_gamma=self.focal_gamma,
            per_class=class_summaries(sums, weights),
            worst=self._worst.result(),
            flagged=self._flagged.result(),
            ci_low=interval.low,
            ci_high=interval.high,
            ci_level=interval.level,
            ci_note=interval.note,
            pos_weight=_as_given(self.pos_weight),
            focal_alpha=_as_given(self.focal_alpha),
            n_ignored=self.n_ignored,
            ignore_index=self.ignore_index,
            top_k=self.top_k,
            top_k_accuracy=None if self.top_k is None else self.top_k_hits / self.n_samples,
        )


def _as_given(values: NDArray[np.float64] | None) -> float | tuple[float, ...] | None:
    if values is None:
        return None
    return float(values) if values.ndim == 0 else tuple(float(v) for v in values)


#: The options two accumulators must share to merge; those of _PLAIN_OPTIONS compare with ==.
_MERGE_OPTIONS = (
    "kind", "from_logits", "unit", "threshold", "keep", "eps", "label_smoothing",
    "focal_gamma", "ignore_index", "top_k", "labels", "pos_label",
    "class_weights", "pos_weight", "focal_alpha",
)  # fmt: skip
_PLAIN_OPTIONS = frozenset(_MERGE_OPTIONS[:-3])


def _same_values(mine: object, theirs: object) -> bool:
    """Class weights (or pos_weight, focal_alpha) alike: both None, both "balanced", or equal."""
    if mine is None or theirs is None or isinstance(mine, str) or isinstance(theirs, str):
        return (mine is None and theirs is None) or (
            isinstance(mine, str) and isinstance(theirs, str) and mine == theirs
        )
    a, b = np.asarray(mine), np.asarray(theirs)
    return a.shape == b.shape and bool(np.array_equal(a, b))
