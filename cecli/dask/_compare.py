"""``cecli compare`` on Dask workers: one task per shard pair, the states merged in a fixed tree.

Shard ``i`` of the baseline is compared with shard ``i`` of the candidate
(and shard ``i`` of the labels, when they are a glob of their own): the two
models' shards must line up row by row, the same number of shards and the
same rows in each pair. Joining rows by id across shards (``--id-col``) does
not run on workers.

Each task reads its pair with cecli's own readers on the worker, numbers its
rows from the pair's first global row, checks that the two sides have the
same labels and weights (as the serial run does), and returns a
:class:`CompareState`: both models' :class:`~cecli.folds.ScoreState`, the
streaming Poisson bootstrap of the loss and accuracy differences
(:class:`~cecli.poisson_bootstrap.PoissonBootstrap`, whose sums are exact
integers, so they merge to the same bits in any order), the counts of the
accuracies and of the rows better and worse, what
:func:`cecli.compare.insufficient_from` needs, and the listed rows. The
states merge in the tree of :func:`cecli.dask.merge_order`, as ``cecli
score``'s do.

Examples
--------
>>> state = CompareState(n_resamples=10, seed=0, keep=3)
>>> state.n_samples, state.merge(CompareState(n_resamples=10, seed=0, keep=3)).n_samples
(0, 0)
"""

from __future__ import annotations

import math
import pickle
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cecli.errors import CecliError, CecliWarning, InputError, OptionError, ValueRangeError

#: The three lists of rows a comparison shows, and the sign their difference is sorted by.
LISTS = {"regressions": -1, "fixed": 1, "largest_increases": -1}


@dataclass(frozen=True)
class PairTask:
    """One task: shard ``i`` of each model (and of the labels), and its first global row."""

    baseline: str
    candidate: str
    labels: str | None
    first_row: int
    baseline_options: Any
    candidate_options: Any
    baseline_score: Any
    candidate_score: Any
    kinds: tuple[str, str]
    classes: tuple[tuple[str, ...], tuple[str, ...]]
    #: Where each of the candidate's classes is among the baseline's, or None.
    order: Any
    n_resamples: int
    seed: int
    keep: int | None
    top_k: int | None = None


@dataclass(eq=False)
class CompareState:
    """The mergeable state of a comparison over some rows; ``merge`` changes only ``self``."""

    n_resamples: int
    seed: int
    keep: int | None
    baseline: Any = None
    candidate: Any = None
    bootstrap: Any = None
    n_samples: int = 0
    baseline_correct: int = 0
    candidate_correct: int = 0
    rows_better: int = 0
    rows_worse: int = 0
    regression_count: int = 0
    fixed_count: int = 0
    #: Whether every row's weight is 1 (then the serial run passes no weights).
    unit_weights: bool = True
    #: The largest loss of either model over rows of non-zero weight, and the sum of
    #: their differences (for insufficient_from's message).
    scale: float = 0.0
    diff_sum: float = 0.0
    #: Per list of LISTS, at most ``keep`` rows: (RowPair, the baseline's id or None, the
    #: baseline's ``--show`` values or None).
    rows: dict[str, list[tuple[Any, str | None, Any]]] = field(default_factory=dict)
    #: The rows ``ignore_index`` left out of both models.
    n_ignored: int = 0
    #: With ``top_k``: each model's rows whose true class ranks ``top_k`` or better.
    top_k: int | None = None
    baseline_top_k: int = 0
    candidate_top_k: int = 0

    def __post_init__(self) -> None:
        from cecli.poisson_bootstrap import PoissonBootstrap

        if self.bootstrap is None:
            self.bootstrap = PoissonBootstrap(self.n_resamples, self.seed)
        for name in LISTS:
            self.rows.setdefault(name, [])

    def add_pair(
        self, first_row: int, b: Any, c: Any, weight: np.ndarray, ids: Any, shown: Any = None
    ) -> None:
        """Add one shard pair's rows (:class:`~cecli.compare.RowScores`, lined up).

        The rows ``ignore_index`` left out are left out of both (as
        :func:`cecli.compare.compare_rows` leaves them out), and the Poisson
        bootstrap weighs every other row by its number in the input, as the
        serial run does. ``shown``, a :class:`~cecli.spill.ShownSpill` of the
        baseline's ``--show`` columns (rows numbered in the input), gives the
        listed rows' values.
        """
        from cecli.paired_rows import kept_rows, largest_increases, listed_pairs

        kept = kept_rows(b, c)
        b, c, numbers = kept.baseline, kept.candidate, kept.row_numbers
        if numbers is not None:
            weight = weight[numbers]
        self.n_ignored += kept.n_ignored
        diff = c.loss - b.loss
        correct = c.correct.astype(np.float64) - b.correct.astype(np.float64)
        unit = bool(np.all(weight == 1))
        if numbers is None:
            self.bootstrap.add(first_row, diff, None if unit else weight, correct)
        else:
            spread = kept.spread
            counted = spread(np.ones(len(diff)))
            self.bootstrap.add(first_row, spread(diff), spread(weight), spread(correct), counted)
        if self.top_k is not None:
            assert b.rank is not None
            assert c.rank is not None
            self.baseline_top_k += int(np.count_nonzero(b.rank <= self.top_k))
            self.candidate_top_k += int(np.count_nonzero(c.rank <= self.top_k))
        used = slice(None) if unit else weight > 0
        if len(diff[used]):
            biggest = np.maximum(np.abs(b.loss[used]), np.abs(c.loss[used]))
            self.scale = max(self.scale, float(np.max(biggest)))
            self.diff_sum += float(np.sum(diff[used]))
        self.unit_weights = self.unit_weights and unit
        self.n_samples += len(diff)
        self.baseline_correct += int(np.count_nonzero(b.correct))
        self.candidate_correct += int(np.count_nonzero(c.correct))
        self.rows_better += int(np.count_nonzero(diff < 0))
        self.rows_worse += int(np.count_nonzero(diff > 0))
        regressed = np.flatnonzero(c.flagged & b.correct)
        fixed = np.flatnonzero(b.flagged & c.correct)
        self.regression_count += len(regressed)
        self.fixed_count += len(fixed)
        most = largest_increases(diff, self.keep)
        found = {  # rows named by their place in the shard, ignored rows counted
            "regressions": listed_pairs(b, c, regressed, diff, -1, self.keep, c, numbers),
            "fixed": listed_pairs(b, c, fixed, diff, 1, self.keep, b, numbers),
            "largest_increases": listed_pairs(b, c, most, diff, -1, self.keep, c, numbers),
        }
        values = {}
        if shown is not None:
            values = shown.values(first_row + p.row for pairs in found.values() for p in pairs)
        for name, pairs in found.items():
            listed = [
                (
                    replace(p, row=first_row + p.row),
                    None if ids is None else str(ids[p.row]),
                    values.get(first_row + p.row),
                )
                for p in pairs
            ]
            self.rows[name] = self._kept(name, self.rows[name] + listed)

    def _kept(self, name: str, rows: list[tuple[Any, Any, Any]]) -> list[tuple[Any, Any, Any]]:
        # the serial order: by the signed difference, ties by the lower row
        rows = sorted(rows, key=lambda r: (LISTS[name] * r[0].delta, r[0].row))
        return rows if self.keep is None else rows[: self.keep]

    def merge(self, other: CompareState) -> CompareState:
        """Add the state of another pair's rows (later ones, for the warnings' order)."""
        if other.baseline is not None:
            if self.baseline is None:  # a copy: a later merge must not change ``other``
                copied = pickle.loads(pickle.dumps(other, protocol=pickle.HIGHEST_PROTOCOL))
                self.baseline, self.candidate = copied.baseline, copied.candidate
            else:
                self.baseline = self.baseline.merge(other.baseline)
                self.candidate = self.candidate.merge(other.candidate)
        self.bootstrap = self.bootstrap.merge(other.bootstrap)
        for name in (
            "n_samples",
            "baseline_correct",
            "candidate_correct",
            "rows_better",
            "rows_worse",
            "regression_count",
            "fixed_count",
            "diff_sum",
            "n_ignored",
            "baseline_top_k",
            "candidate_top_k",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unit_weights = self.unit_weights and other.unit_weights
        self.scale = max(self.scale, other.scale)
        for name in LISTS:
            self.rows[name] = self._kept(name, self.rows[name] + other.rows[name])
        return self


def _side(
    path: str, labels: str | None, task: PairTask, which: int, shown: Any = None
) -> tuple[Any, Any]:
    """One model's shard: its ScoreState over the rows, and a :class:`~cecli.pairing.Side`.

    ``shown`` (a :class:`~cecli.spill.ShownSpill`) is given each chunk's ``--show`` columns.
    """
    from cecli.compare import RowScores
    from cecli.dask._tasks import new_state, viewed
    from cecli.inputs import Inputs
    from cecli.pairing import Side, target_key, target_key_mix

    options = (task.baseline_options, task.candidate_options)[which]
    options = replace(options, kind=task.kinds[which])
    score_options = (task.baseline_score, task.candidate_score)[which]
    order = task.order if which else None
    weighted = score_options.class_weights is not None and task.kinds[which] != "multilabel"
    parts, ids, keys, targets = [], [], [], []
    with Inputs(path, labels, options) as inputs:
        if tuple(inputs.classes) != task.classes[which]:
            raise OptionError(
                f"{path}: its classes ({', '.join(inputs.classes)}) differ from the first "
                f"shard's ({', '.join(task.classes[which])})."
            )
        # the target keys of cecli.pairing.collect_side
        mix = target_key_mix(inputs.n_classes, order)
        state = new_state(inputs, score_options)
        for batch, view in viewed(inputs, state, task.first_row):
            parts.append(view.per_sample_scores())  # every row, the ignored marked
            if batch.ids is not None:
                ids.append(batch.ids)
            keys.append(target_key(batch.targets, mix, order, inputs.kind))
            if weighted:
                targets.append(np.asarray(batch.targets))
            if shown is not None and batch.show is not None:
                shown.write(batch.first_row, batch.show)
            state.add(view)
            del view, batch
        class_weights = None
        if weighted:
            from cecli._validate import class_weight_array

            class_weights = class_weight_array(score_options.class_weights, inputs.n_classes)
    side = Side(
        summary=None,  # type: ignore[arg-type]  # the state's, read on the client
        rows=RowScores.concatenate(parts),
        ids=np.concatenate(ids) if ids else None,
        target_key=np.concatenate(keys) if keys else np.empty(0),
        targets=np.concatenate(targets) if targets else None,
        class_weights=class_weights,
    )
    return state, side


def compare_shard(task: PairTask) -> Any:
    """Compare one shard pair into a :class:`CompareState` (runs on a worker)."""
    from cecli.dask._tasks import Part, failed
    from cecli.pairing import _reorder_classes, _row_weights
    from cecli.pairing_checks import _same_rows, _same_targets, _same_weights
    from cecli.spill import ShownSpill

    with warnings.catch_warnings(record=True) as caught, ShownSpill() as spill:
        warnings.simplefilter("always")
        try:
            b_state, b = _side(task.baseline, task.labels, task, 0, spill)
            c_state, c = _side(task.candidate, task.labels, task, 1)
            _same_rows(b, task.baseline, c, task.candidate)
            c_rows = c.rows
            if task.order is not None:
                c_rows = _reorder_classes(c_rows, task.order, task.kinds[1])
            _same_targets(b.target_key, task.baseline, c.target_key, task.candidate, b.ids)
            ignored = b.rows.ignored
            _same_weights(
                b.rows.weight, task.baseline, c_rows.weight, task.candidate, b.ids, ignored
            )
            weight = _row_weights(b, task.kinds[0])
            _finite(b.rows.loss, task.baseline, c_rows.loss, task.candidate, ignored)
            state = CompareState(
                task.n_resamples, task.seed, task.keep, b_state, c_state, top_k=task.top_k
            )
            b_rows, c_rows = b.rows.with_weight(weight), c_rows.with_weight(weight)
            state.add_pair(task.first_row, b_rows, c_rows, weight, b.ids, spill)
        except CecliError as error:
            return failed(error)
    said = [str(w.message) for w in caught if issubclass(w.category, CecliWarning)]
    return Part(state, said)


def _finite(
    b_loss: np.ndarray,
    b_file: str,
    c_loss: np.ndarray,
    c_file: str,
    ignored: np.ndarray | None = None,
) -> None:
    bad = ~np.isfinite(c_loss - b_loss)
    if ignored is not None:  # their losses are NaN: they are never compared
        bad &= ~ignored
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        which, file, loss = (
            ("baseline", b_file, b_loss) if not np.isfinite(b_loss[row]) else
            ("candidate", c_file, c_loss)
        )  # fmt: skip
        raise ValueRangeError(
            f"{file}: row {row}: the {which}'s loss is {float(loss[row])}, so the difference "
            f"has no mean ({int(bad.sum())} rows in all). A probability of exactly 0 for the "
            "true class gives an infinite loss; leave eps at auto to clip it."
        )


def _pairs_of(baseline: Any, candidate: Any) -> list[tuple[str, str, str | None]]:
    """The shard pairs: (baseline shard, candidate shard, labels shard or None)."""
    from cecli.dask._tasks import _shard_lists

    b_preds, b_labels = _shard_lists(baseline)
    c_preds, _c_labels = _shard_lists(candidate)
    if len(b_preds) != len(c_preds):
        raise OptionError(
            f"{baseline.pred_source.display} has {len(b_preds)} shard(s) and "
            f"{candidate.pred_source.display} has {len(c_preds)}; on workers shard i of one "
            "model is compared with shard i of the other, so the shards must line up one to one."
        )
    return list(zip(b_preds, c_preds, b_labels, strict=True))


def compare_on_workers(
    baseline: Any, candidate: Any, options: Any, compare: Any, client: Any
) -> Any:
    """Compare opened inputs on ``client``'s workers; the serial run's ``Compared``.

    ``options`` are the :class:`~cecli.folds.ScoreOptions` of both models,
    ``compare`` the :class:`~cecli.pairing.CompareOptions` (its method must be
    "poisson"). The result is that of :func:`cecli.pairing.compare_inputs`
    with the same options: counts and rows exactly, the intervals to the bit.

    Examples
    --------
    >>> from cecli.pairing import CompareOptions
    >>> compare_on_workers(None, None, None, CompareOptions(method="bca"), None)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --ci-method bca resamples rows, ... (the default there).
    """
    from cecli.dask._tasks import WorkerError, _row_counts, reduce_ordered
    from cecli.frame import resolved
    from cecli.pairing import class_order

    if compare.method != "poisson":
        raise OptionError(
            f"--ci-method {compare.method} resamples rows, so it keeps every row; on workers "
            "use --ci-method poisson (the default there)."
        )
    if compare.calibration_bins is not None:
        raise OptionError(
            "--calibration's intervals resample rows, which keeps every row; leave out "
            "--workers to compare calibration."
        )
    if options.keep is None:
        raise OptionError(
            "--top 0 keeps every row's state, which would all travel through the scheduler; "
            "with --workers give --top N (N >= 1)."
        )
    if isinstance(options.class_weights, str):
        raise OptionError(
            "--class-weights balanced weighs each row by its class's count over every row, "
            "which a shard does not know; on workers give one weight per class."
        )
    if "-" in (*baseline.paths, *candidate.paths):
        raise OptionError("--workers reads files, not standard input (-); give a file.")
    order = class_order(baseline, candidate)
    pairs = _pairs_of(baseline, candidate)
    b_counts = _row_counts(client, baseline, [p[0] for p in pairs])
    c_counts = _row_counts(client, candidate, [p[1] for p in pairs])
    for (b_path, c_path, _), nb, nc in zip(pairs, b_counts, c_counts, strict=True):
        if nb != nc:
            raise InputError(
                c_path,
                f"has {nc} rows but {b_path} has {nb}; on workers each pair of shards must "
                "hold the same rows, in the same order.",
            )
    c_options = options
    if order is not None and options.class_weights is not None:  # given in the baseline's order
        weights = np.asarray(options.class_weights, dtype=np.float64)[order]
        c_options = replace(options, class_weights=weights)
    common = {
        "baseline_options": baseline.options,
        # the listed rows' --show values are the baseline's: the candidate needs no such column
        "candidate_options": replace(candidate.options, show_cols=()),
        # each side's summary is the serial run's: no worst rows of its own, no EL2N; a
        # class that --ignore-label names has each side's own index
        "baseline_score": resolved(replace(options, keep=0), baseline),
        "candidate_score": resolved(replace(c_options, keep=0), candidate),
        "kinds": (baseline.kind, candidate.kind),
        "classes": (tuple(baseline.classes), tuple(candidate.classes)),
        "order": order,
        "n_resamples": compare.n_resamples,
        "seed": compare.seed,
        "keep": options.keep,
        "top_k": options.top_k,
    }
    tasks, start = [], 0
    for (b_path, c_path, labels), n in zip(pairs, b_counts, strict=True):
        if n != 0:  # an empty pair adds no rows
            tasks.append(PairTask(b_path, c_path, labels, start, **common))
        start += max(n, 0)
    if not tasks:
        from cecli.errors import EmptyInputError

        raise InputError(
            baseline.pred_source.display, str(EmptyInputError("There are no samples (0 rows)."))
        )
    futures = [client.submit(compare_shard, task, pure=False) for task in tasks]
    part = reduce_ordered(client, futures).result()
    if part.error is not None:
        raise WorkerError(*part.error)
    for said in part.warnings:
        warnings.warn(CecliWarning(said), stacklevel=2)
    return compared(baseline, candidate, part.state, compare.confidence, order)


def compared(
    baseline: Any, candidate: Any, state: CompareState, confidence: float, order: Any
) -> Any:
    """The :class:`~cecli.pairing.Compared` the merged ``state`` gives, as the serial run's."""
    from cecli.bootstrap import MIN_ROWS
    from cecli.compare import Comparison, _per_class, insufficient_from, verdict_of
    from cecli.pairing import Compared
    from cecli.pipeline import finish

    b_summary = finish(baseline, state.baseline).summary
    c_summary = finish(candidate, state.candidate).summary
    fold, n = state.bootstrap, state.n_samples
    result = fold.result(confidence)
    accuracy = None if n < MIN_ROWS else fold.accuracy_result(confidence)
    used = fold.n_weighted
    mean = state.diff_sum / used if used else 0.0
    forced = insufficient_from(used, not state.unit_weights, state.scale, fold.low, fold.high, mean)
    verdict, reason = forced or (verdict_of(result.ci_low, result.ci_high), None)
    ci_low, ci_high, p_better = result.ci_low, result.ci_high, result.p_below_zero
    if verdict == "insufficient_data":
        ci_low = ci_high = p_better = math.nan
    c_classes = c_summary.per_class
    if order is not None:
        c_classes = tuple(sorted(c_classes, key=lambda k: order[k.index]))
        c_classes = tuple(replace(k, index=int(order[k.index])) for k in c_classes)
    rows = {name: tuple(r[0] for r in state.rows[name]) for name in LISTS}
    comparison = Comparison(
        n_samples=n,
        delta_mean_loss=result.estimate,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        p_better=p_better,
        verdict=verdict,
        verdict_reason=reason,
        bootstrap=result,
        baseline_accuracy=state.baseline_correct / n,
        candidate_accuracy=state.candidate_correct / n,
        rows_better=state.rows_better / n,
        rows_worse=state.rows_worse / n,
        per_class=_per_class(b_summary.per_class, c_classes),
        regression_count=state.regression_count,
        regressions=rows["regressions"],
        fixed_count=state.fixed_count,
        fixed=rows["fixed"],
        largest_increases=rows["largest_increases"],
        accuracy_ci_low=math.nan if accuracy is None else accuracy.ci_low,
        accuracy_ci_high=math.nan if accuracy is None else accuracy.ci_high,
        accuracy_bootstrap=accuracy,
        n_ignored=state.n_ignored,
        top_k=state.top_k,
        baseline_top_k_accuracy=None if state.top_k is None else state.baseline_top_k / n,
        candidate_top_k_accuracy=None if state.top_k is None else state.candidate_top_k / n,
    )
    listed = [r for name in LISTS for r in state.rows[name]]
    ids = {p.row: i for p, i, _ in listed if i is not None}
    shown = {p.row: values for p, _, values in listed if values is not None}
    return Compared(b_summary, c_summary, comparison, ids, shown=shown)
