"""Every statistic of a scoring run as a fold over checked chunks, in one mergeable state.

A fold has a small state and three methods, as torchmetrics' ``Metric``:
``add(view)`` takes one :class:`~cecli.view.ChunkView`, ``merge(other)``
adds the state of another fold over other rows (it changes only ``self``,
never ``other``), and ``result()`` reads it. The folds here are the loss
sums and kept rows (:class:`cecli.Accumulator`), the loss histograms
(:class:`LossHistogram`), the calibration sums
(:class:`~cecli.calibration.CalibrationAccumulator`), the sample the
temperature is fitted on (:class:`TemperatureSample`) and the likely label
errors (:class:`~cecli.label_issues.LabelIssueFold`). :class:`ScoreState`
holds them all: it is fed by :func:`cecli.pipeline.score_inputs`, and is what
a worker scoring part of the rows returns, to be merged in row order.

Every fold takes one pass over the rows but the label issues, which take
three or four: :attr:`ScoreState.needs_another_pass` says so, and
:meth:`ScoreState.next_pass` gives the fold to feed the same rows again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from cecli.accumulate import Summary
from cecli.errors import OptionError
from cecli.losses import unit_of
from cecli.score_options import ScoreOptions as ScoreOptions  # where it has always been
from cecli.view import ChunkView

if TYPE_CHECKING:
    from cecli.calibration import CalibrationSummary, ReservoirSample, TemperatureFit
    from cecli.el2n import El2nDistribution, El2nSummary
    from cecli.label_issues import LabelIssueFindings, LabelIssueFold
    from cecli.shown import ShownValues
    from cecli.slices import SliceFold, SliceTable

T = TypeVar("T")
#: Upper edges of the loss histogram's bins, in nats (then one bin to infinity).
HISTOGRAM_EDGES_NATS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Upper edges of the fine loss histogram, in nats: 10 bins a decade from 1e-4 to 100.
FINE_EDGES_NATS = tuple(10.0 ** (k / 10) for k in range(-40, 21))
#: The temperature is fitted on at most this many rows of a uniform sample of the
#: rows. On 1,000,000 x 10 (benchmarks/bench_calibration.py) the sample's temperature
#: is within 0.56% of all rows' root-mean-square over 40 samples (0.92% at the 95th
#: percentile), and the loss of all rows at it within 1e-5 nats of the least (median;
#: 1.1e-4 at most). 131,072 rows gave 0.32% and 2.6e-6 nats but took 17 ms more of a 1M-row
#: run (the sample's rows gathered, and every pass of the fit over four times the rows).
TEMPERATURE_SAMPLE_ROWS = 1 << 15
#: ... and on at most this many prediction values (rows x columns), 32 MiB of float32
#: or 64 MiB of float64: 8,388 rows of 1,000 classes. The fit keeps 1.5 times the
#: sample's float64 size besides.
TEMPERATURE_SAMPLE_VALUES = 1 << 23
#: The sample's seed: the same input gives the same temperature on every run.
TEMPERATURE_SEED = 0
#: Losses compared at a time by :meth:`LossHistogram.add`: 512 KiB, which stays in cache.
_HISTOGRAM_BLOCK = 1 << 16


class LossHistogram:
    """Rows per per-sample-loss bin: bin ``b`` holds ``edges[b-1] < loss <= edges[b]``.

    The last bin holds every loss above the last edge.

    Examples
    --------
    >>> from cecli.folds import LossHistogram
    >>> from cecli.view import view_of
    >>> histogram = LossHistogram([0.1, 1.0])
    >>> histogram.add(view_of("binary", [1, 1, 1], [0.99, 0.5, 0.1]))
    >>> histogram.result()
    [1, 1, 1]
    """

    def __init__(self, edges: ArrayLike) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        # ascending edges are counted by comparisons (see add); others need searchsorted's bins
        self._ascending = bool(np.all(self.edges[1:] > self.edges[:-1]))

    def add(self, view: ChunkView) -> None:
        loss = view.scores.loss
        if not self._ascending:
            bins = np.searchsorted(self.edges, loss)
            self.counts += np.bincount(bins, minlength=len(self.counts))
            return
        # Bin b holds edges[b-1] < loss <= edges[b], so the rows in bins 0..b are those with
        # loss <= edges[b]: one comparison a row per edge, on cache-sized blocks, is several
        # times faster than searchsorted's binary search and gives the same counts (a NaN is
        # above every edge, as searchsorted puts it last).
        at_most = np.zeros(len(self.edges) + 1, dtype=np.int64)
        at_most[-1] = len(loss)
        step = max(1, min(len(loss), _HISTOGRAM_BLOCK))
        below = np.empty(step, dtype=np.bool_)
        for lo in range(0, len(loss), step):
            block = loss[lo : lo + step]
            flags = below[: len(block)]
            for b, edge in enumerate(self.edges.tolist()):
                at_most[b] += np.count_nonzero(np.less_equal(block, edge, out=flags))
        self.counts[0] += at_most[0]
        self.counts[1:] += np.diff(at_most)

    def merge(self, other: LossHistogram) -> LossHistogram:
        if not np.array_equal(self.edges, other.edges):
            raise OptionError("Only loss histograms with the same edges can be merged.")
        self.counts += other.counts
        return self

    def result(self) -> list[int]:
        return self.counts.tolist()


class TemperatureSample:
    """A uniform sample of checked rows, and the temperature fitted on it at the end.

    Keeps at most :data:`TEMPERATURE_SAMPLE_ROWS` rows and
    :data:`TEMPERATURE_SAMPLE_VALUES` prediction values: every row when they
    fit. The rows are kept as checked, so the fit decodes the targets again
    but does not check the predictions again.

    Examples
    --------
    >>> from cecli.folds import TemperatureSample
    >>> from cecli.view import view_of
    >>> sample = TemperatureSample(n_bins=2)
    >>> sample.add(view_of("categorical", [0, 1, 1, 0], [[4, 0], [0, 4], [4, 0], [0, 4]],
    ...                    from_logits=True))
    >>> sample.result().temperature > 1
    True
    """

    def __init__(self, n_bins: int, eps: float | str = "auto", base: str | float = "e") -> None:
        self.n_bins, self.eps, self.base = n_bins, eps, base
        self.kind: str | None = None
        self.from_logits = False
        self.sample: ReservoirSample | None = None

    def add(self, view: ChunkView) -> None:
        if self.sample is None:
            from cecli.calibration import ReservoirSample

            columns = view.preds.shape[1] if view.preds.ndim == 2 else 1
            capacity = max(1, min(TEMPERATURE_SAMPLE_ROWS, TEMPERATURE_SAMPLE_VALUES // columns))
            self.sample = ReservoirSample(capacity, seed=TEMPERATURE_SEED)
            self.kind, self.from_logits = view.kind, view.from_logits
        # the top-1 classes too, for the ECE before and after: the fit need not find them again
        predicted = view.scores.predicted if view.kind == "categorical" else None
        self.sample.update(
            view.y_true, view.preds, view.weights, predicted, row_offset=view.first_row
        )

    def merge(self, other: TemperatureSample) -> TemperatureSample:
        if other.sample is not None:
            if self.sample is None:
                self.kind, self.from_logits = other.kind, other.from_logits
                self.sample = type(other.sample)(other.sample.capacity, seed=TEMPERATURE_SEED)
            self.sample.merge(other.sample)
        return self

    def result(self) -> TemperatureFit | None:
        if self.sample is None:
            return None
        from cecli.calibration._temperature import fit_checked_sample

        targets, preds, weights, predicted = self.sample.arrays()
        return fit_checked_sample(
            targets,
            preds,
            kind=self.kind,  # type: ignore[arg-type]
            from_logits=self.from_logits,
            sample_weights=weights,
            predicted=predicted,
            n_bins=self.n_bins,
            eps=self.eps,
            base=self.base,
        )


@dataclass(frozen=True)
class Scored:
    """The aggregate, and the ids of the rows it keeps (worst and flagged), if any."""

    summary: Summary
    ids: dict[int, str]
    #: Rows per per-sample-loss bin; the bins end at ``histogram_edges`` (in the unit), then inf.
    histogram: list[int]
    histogram_edges: list[float]
    #: Calibration statistics of every row (with calibration_bins).
    calibration: CalibrationSummary | None = None
    #: The temperature, fitted on a uniform sample of the rows (all when they fit).
    temperature: TemperatureFit | None = None
    #: Rows per fine per-sample-loss bin (with fine_histogram), ending at ``fine_edges``, then inf.
    fine_histogram: list[int] | None = None
    fine_edges: list[float] | None = None
    #: The likely label errors (with label_issues), after the last pass.
    label_issues: LabelIssueFindings | None = None
    #: Every slice of the rows (with slices), worst first.
    slices: SliceTable | None = None
    #: The distribution of the rows' EL2N scores (with the ``el2n`` option).
    el2n: El2nSummary | None = None
    #: The ``--show`` values of the rows it keeps (worst and flagged), if any.
    shown: dict[int, ShownValues] = field(default_factory=dict)


class ScoreState:
    """Every statistic of one scoring run, fed one checked chunk at a time; mergeable.

    Parameters
    ----------
    kind : {"categorical", "binary", "multilabel"}
        What the predictions are.
    from_logits : bool
        Whether they are logits.
    options : ScoreOptions
        Which statistics, with which options.

    Examples
    --------
    >>> from cecli.folds import ScoreOptions, ScoreState
    >>> left = ScoreState("categorical", from_logits=False, options=ScoreOptions())
    >>> right = ScoreState("categorical", from_logits=False, options=ScoreOptions())
    >>> left.add(left.view([0, 1], [[0.9, 0.1], [0.95, 0.05]], first_row=0))
    >>> right.add(right.view([1], [[0.2, 0.8]], first_row=2))
    >>> scored = left.merge(right).result()
    >>> scored.summary.n_samples, round(scored.summary.mean_loss, 6), scored.histogram
    (3, 1.108079, [0, 0, 0, 2, 0, 1, 0, 0])
    """

    def __init__(self, kind: str, *, from_logits: bool, options: ScoreOptions) -> None:
        self.options = options
        self.loss = options.accumulator(kind, from_logits=from_logits)
        _, ln_base = unit_of(options.base)
        self.histogram = LossHistogram(np.array(HISTOGRAM_EDGES_NATS) / ln_base)
        self.fine = None
        if options.fine_histogram:
            self.fine = LossHistogram(np.array(FINE_EDGES_NATS) / ln_base)
        self.calibration = None
        self.temperature = None
        if options.calibration_bins is not None:
            from cecli.calibration import CalibrationAccumulator

            self.calibration = CalibrationAccumulator(
                kind,  # type: ignore[arg-type]
                from_logits=from_logits,
                n_bins=options.calibration_bins,
                eps=options.eps,
                base=options.base,
            )
            if options.temperature:
                self.temperature = TemperatureSample(
                    options.calibration_bins, options.eps, options.base
                )
        #: Made at the first chunk, which tells the number of classes.
        self.label_issues: LabelIssueFold | None = None
        self._findings: LabelIssueFindings | None = None
        self.slices: SliceFold | None = None
        if options.slices:
            self.slices = _slice_fold(kind, options)
        self.el2n: El2nDistribution | None = None
        if options.el2n:
            from cecli.el2n import El2nDistribution

            self.el2n = El2nDistribution()
        self.ids: dict[int, str] = {}
        #: The ``--show`` values of the kept rows, as :func:`cecli.shown.cells` writes them.
        self.shown: dict[int, ShownValues] = {}

    def view(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weights: ArrayLike | None = None,
        *,
        first_row: int,
        ids: ArrayLike | None = None,
    ) -> ChunkView:
        """Check one chunk with this run's options (see :meth:`cecli.Accumulator.view`)."""
        return self.loss.view(
            y_true,
            y_pred,
            sample_weights,
            first_row=first_row,
            ids=ids,
            calibration=self.calibration is not None,
            el2n=self.el2n is not None,
            calibration_bins=self.options.calibration_bins,
        )

    def add(self, view: ChunkView) -> None:
        """Feed one checked chunk to every fold."""
        self.loss.add(view)
        if view.n_rows == 0:  # every row ignored: the loss fold has counted them
            return
        if view.cell_ignored is not None:
            self._check_cells_ignored()
        self.histogram.add(view)
        if self.fine is not None:
            self.fine.add(view)
        if self.calibration is not None:
            self.calibration.add(view)
        if self.temperature is not None:
            self.temperature.add(view)
        if self.options.label_issues:
            if self.label_issues is None:
                from cecli.label_issues import LabelIssueFold

                n = view.preds.shape[1] if view.preds.ndim == 2 else 1
                self.label_issues = LabelIssueFold(
                    view.kind, n, from_logits=view.from_logits, rank_by=self.options.label_quality
                )
            self.label_issues.add(view)
        if self.slices is not None:
            if view.slice_values is None:
                raise OptionError("This run slices its rows (--by); the view has no slice values.")
            self.slices.add(view, view.slice_values)
        if self.el2n is not None:
            self.el2n.add(view)
        if view.ids is not None or view.show_values is not None:
            self._note_kept(view)

    def _check_cells_ignored(self) -> None:
        """Which statistics cannot yet leave out single cells of multilabel rows."""
        asked = [
            name
            for name, on in (
                ("calibration", self.calibration is not None),
                ("label issues", self.options.label_issues),
            )
            if on
        ]
        if asked:
            raise OptionError(
                f"ignore_index leaves out single cells of multilabel rows, which {asked[0]} "
                "cannot leave out yet; score without it, or ignore whole rows only.",
                option="ignore_index",
            )

    def _note_kept(self, view: ChunkView) -> None:
        """Keep the ids and ``--show`` values of the chunk's rows that are kept now."""
        from cecli.shown import row_values

        rows, at, kept = view.rows, None, None
        numbers = rows.tolist()
        if self.loss.keep is not None:  # else every row is kept
            kept = self.loss.kept_row_array()
            first, end = int(rows[0]), int(rows[-1]) + 1
            mine = np.unique(kept[(kept >= first) & (kept < end)])
            at = mine - first if view.ignored is None else np.searchsorted(rows, mine)
            numbers = mine.tolist()
        if view.ids is not None:
            ids = view.ids if at is None else view.ids[at]
            self.ids.update(zip(numbers, map(str, ids), strict=True))
        if view.show_values is not None:
            self.shown.update(zip(numbers, row_values(view.show_values, at), strict=True))
        if kept is not None and max(len(self.ids), len(self.shown)) > len(kept):
            self._prune()

    def _prune(self) -> None:
        """Forget the ids and ``--show`` values of rows no longer kept."""
        self.ids, self.shown = self._kept_of(self.ids), self._kept_of(self.shown)

    def _kept_of(self, noted: dict[int, T]) -> dict[int, T]:
        """The values ``noted`` of the rows kept now (every row's, when every row is kept)."""
        if self.loss.keep is None:
            return dict(noted)
        kept = set(self.loss.kept_row_array().tolist())
        return {row: value for row, value in noted.items() if row in kept}

    def merge(self, other: ScoreState) -> ScoreState:
        """Add the state of another run over other rows (in place); return self."""
        self.loss.merge(other.loss)
        self.histogram.merge(other.histogram)
        for mine, theirs in (
            (self.fine, other.fine),
            (self.calibration, other.calibration),
            (self.temperature, other.temperature),
            (self.slices, other.slices),
            (self.el2n, other.el2n),
        ):
            if (mine is None) != (theirs is None):
                raise OptionError("Only score states with the same options can be merged.")
            if mine is not None:
                mine.merge(theirs)  # type: ignore[arg-type]
        if other.label_issues is not None:
            if self.label_issues is None:
                self.label_issues = other.label_issues.__class__(
                    other.label_issues.kind,
                    other.label_issues.n_classes,
                    from_logits=other.label_issues.from_logits,
                    rank_by=other.label_issues.rank_by,
                )
            self.label_issues.merge(other.label_issues)
            self._findings = None
        self.ids.update(other.ids)
        self.shown.update(other.shown)
        if self.loss.keep is not None:
            self._prune()
        return self

    # -- the passes after the first (label issues) ------------------------------------

    @property
    def needs_another_pass(self) -> bool:
        """Whether a fold needs the same rows again: feed them to :meth:`next_pass`'s fold."""
        return self.label_issues is not None and self.label_issues.needs_another_pass

    def next_pass(self) -> LabelIssueFold:
        """The empty fold of the next pass; give it back, fed, to :meth:`end_pass`."""
        if self.label_issues is None or not self.label_issues.needs_another_pass:
            raise OptionError("This score state needs no other pass over the rows.")
        return self.label_issues.next_pass()

    def end_pass(self, fold: LabelIssueFold) -> None:
        """Take the fold of a pass, fed every row (and merged over workers)."""
        self.label_issues = fold
        self._findings = None

    def label_issue_findings(self) -> LabelIssueFindings | None:
        """The label issues found, after the last pass (read once, then kept)."""
        if self.label_issues is None:
            return None
        if self._findings is None:
            self._findings = self.label_issues.result()
        return self._findings

    def result(self) -> Scored:
        """Read every statistic: the run's :class:`Scored`."""
        summary = self.loss.result()
        fine = self.fine
        return Scored(
            summary,
            self._kept_of(self.ids),
            self.histogram.result(),
            self.histogram.edges.tolist(),
            None if self.calibration is None else self.calibration.result(),
            None if self.temperature is None else self.temperature.result(),
            None if fine is None else fine.result(),
            None if fine is None else fine.edges.tolist(),
            self.label_issue_findings(),
            None if self.slices is None else self.slices.result(self.options.min_slice_rows),
            None if self.el2n is None else self.el2n.result(),
            self._kept_of(self.shown),
        )


def _slice_fold(kind: str, options: ScoreOptions) -> SliceFold:
    """The slice fold of a run with --by; class weights apply to its rows as to the mean."""
    from cecli.slices import SliceFold

    weights = options.class_weights
    if isinstance(weights, str) and kind != "multilabel":
        raise OptionError(
            "--by cannot apply balanced class weights to each slice (they depend on every "
            "row's class); give the weights as numbers, or leave out --class-weights."
        )
    explicit = None if weights is None or kind == "multilabel" else np.asarray(weights, float)
    return SliceFold(options.slices, explicit, options.calibration_bins)
