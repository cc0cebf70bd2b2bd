"""The tasks of ``cecli score`` on workers, and the fixed tree their states merge in.

Examples
--------
>>> from cecli.dask._tasks import merge_order
>>> merge_order(3)
[[(0, 1), (2,)], [(0, 1)]]
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from cecli.errors import CecliError, CecliWarning, ExitStatus, OptionError


@dataclass(frozen=True)
class ShardTask:
    """One task: a shard (and its labels shard, if apart), and the global row it begins at."""

    predictions: str
    labels: str | None
    first_row: int
    input_options: Any
    score_options: Any
    kind: str
    classes: tuple[str, ...]
    #: A run of the shard's row groups ``(first, stop)``, read alone (a large Parquet
    #: shard is several tasks); None: the whole shard.
    row_groups: tuple[int, int] | None = None
    #: Where this task's per-sample rows go (``--per-sample DIR/``): a ``PartFile``, or None.
    per_sample: Any = None
    #: The rows it reads, where known before reading (-1: not known), for grouping.
    n_rows: int = -1


#: The least a task reads of a shard cut by row groups: 2**23 values (64 MiB of float64,
#: a chunk's worth at the default --chunk-size), so that a task outweighs its overhead.
TASK_VALUES = 1 << 23


def row_group_windows(sizes: tuple[int, ...], columns: int) -> list[tuple[int, int]]:
    """Runs of consecutive row groups of at least :data:`TASK_VALUES` values each.

    Cut by the file alone (not by the number of workers), so that a run gives the
    same bits on any cluster. The last run may be smaller.

    Examples
    --------
    >>> row_group_windows((1 << 20,) * 5, 10)
    [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    >>> row_group_windows((1 << 19,) * 5, 10)
    [(0, 2), (2, 4), (4, 5)]
    >>> row_group_windows((100,), 10)
    [(0, 1)]
    """
    windows, first, values = [], 0, 0
    for i, rows in enumerate(sizes):
        values += rows * max(1, columns)
        if values >= TASK_VALUES:
            windows.append((first, i + 1))
            first, values = i + 1, 0
    if first < len(sizes):
        windows.append((first, len(sizes)))
    return windows


def task_groups(tasks: list[ShardTask], columns: int) -> list[tuple[ShardTask, ...]]:
    """Consecutive tasks run as one, together reading at least :data:`TASK_VALUES` values.

    A scheduled task costs the scheduler, the client and the worker a few
    milliseconds whatever it does, and a merge more; a shard of 250,000 x 10
    takes about 40 ms to score. Small shards therefore go in runs, cut by
    :func:`row_group_windows` over the tasks' rows: by the files alone, so a
    run gives the same bits on any cluster. A task of unknown size is a run
    of its own.

    Examples
    --------
    >>> t = ShardTask("a.parquet", None, 0, None, None, "categorical", ("0", "1"), n_rows=1 << 20)
    >>> [len(g) for g in task_groups([t] * 10, 2)]
    [4, 4, 2]
    """
    groups: list[tuple[ShardTask, ...]] = []
    run: list[ShardTask] = []
    for task in tasks:
        if task.n_rows < 0:
            groups += [tuple(run)] if run else []
            groups.append((task,))
            run = []
            continue
        run.append(task)
    if run:
        groups.append(tuple(run))
    cut = []
    for group in groups:
        windows = row_group_windows(tuple(max(t.n_rows, 0) for t in group), columns)
        cut += [group[a:b] for a, b in windows]
    return cut


def run_group(work: Any, group: tuple[ShardTask, ...], *args: Any) -> Part:
    """``work(task, *args)`` for each task of ``group`` in turn, their parts merged in order.

    Runs on a worker; the first error in shard order wins, as in the tree.
    """
    part = work(group[0], *args)
    for task in group[1:]:
        if part.error is not None:
            return part
        part = merge_parts(part, work(task, *args))
    return part


def submit_groups(client: Any, tasks: list[ShardTask], columns: int, work: Any, *args: Any) -> Any:
    """The merged part of ``work`` over ``tasks``, run in :func:`task_groups` on ``client``."""
    futures = [
        client.submit(run_group, work, group, *args, pure=False)
        for group in task_groups(tasks, columns)
    ]
    return reduce_ordered(client, futures)


@dataclass
class Part:
    """What a task returns: its state (None if it failed), warnings, or the first error."""

    state: Any
    warnings: list[str] = field(default_factory=list)
    #: ``(message, exit status)`` of the first error, in shard order.
    error: tuple[str, int] | None = None


class WorkerError(CecliError):
    """A problem a task met on a worker, raised again on the client with its message."""

    def __init__(self, message: str, exit_status: int = int(ExitStatus.INPUT_ERROR)) -> None:
        super().__init__(message)
        self.exit_status = ExitStatus(exit_status)


def viewed(inputs: Any, state: Any, first_row: int) -> Iterator[tuple[Any, Any]]:
    """Each batch of opened ``inputs``, its rows numbered from ``first_row``, and its view.

    The views are checked by ``state`` (:func:`cecli.pipeline.checked_view`), as
    the serial run checks them; a problem names the task's file.
    """
    from cecli.pipeline import checked_view

    for batch in inputs.batches():
        batch.first_row += first_row
        yield batch, checked_view(inputs, state, batch)


def new_state(inputs: Any, score_options: Any) -> Any:
    """An empty :class:`~cecli.folds.ScoreState` for ``inputs``' rows."""
    from cecli.folds import ScoreState

    return ScoreState(inputs.kind, from_logits=inputs.options.from_logits, options=score_options)


def failed(error: CecliError) -> Part:
    """The part of a task that met ``error``: its message and exit status travel back."""
    return Part(None, error=(str(error), int(error.exit_status)))


def score_shard(task: ShardTask) -> Part:
    """Score one shard into a :class:`~cecli.folds.ScoreState` (runs on a worker)."""
    from cecli.inputs import Inputs

    options = replace(task.input_options, kind=task.kind)
    writer = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Inputs(
                task.predictions, task.labels, options, row_groups=task.row_groups
            ) as inputs:
                if tuple(inputs.classes) != task.classes:
                    raise OptionError(
                        f"{task.predictions}: its classes ({', '.join(inputs.classes)}) differ "
                        f"from the first shard's ({', '.join(task.classes)})."
                    )
                state = new_state(inputs, task.score_options)
                if task.per_sample is not None:
                    writer = task.per_sample.open()
                for batch, view in viewed(inputs, state, task.first_row):
                    if writer is not None:
                        writer.write(view.per_sample_scores(), batch.ids, show=batch.show)
                    state.add(view)
                    del batch, view
                if writer is not None:
                    writer.commit()
        except BaseException as error:
            if writer is not None:
                writer.abort()
            if not isinstance(error, CecliError):
                raise
            return failed(error)
    said = [str(w.message) for w in caught if issubclass(w.category, CecliWarning)]
    return Part(state, said)


def pass_shard(task: ShardTask, fold: Any) -> Part:
    """Feed one shard's rows to a copy of ``fold``, a later pass's label-issue fold."""
    from cecli.inputs import Inputs

    options = replace(task.input_options, kind=task.kind)
    try:
        with Inputs(task.predictions, task.labels, options, row_groups=task.row_groups) as inputs:
            return Part(fed(fold, inputs, task.score_options, task.first_row))
    except CecliError as error:
        return failed(error)


def fed(fold: Any, inputs: Any, score_options: Any, first_row: int) -> Any:
    """A copy of ``fold`` (a later pass's label-issue fold) fed every row of ``inputs``."""
    # the fold may be one object shared by this worker's tasks: feed a copy
    fold = pickle.loads(pickle.dumps(fold, protocol=pickle.HIGHEST_PROTOCOL))
    for batch, view in viewed(inputs, new_state(inputs, score_options), first_row):
        fold.add(view)
        del batch, view
    return fold


def merge_parts(left: Part, right: Part) -> Part:
    """``left`` then ``right``, merged into a new part; neither input is changed.

    The first error in shard order wins, so a failed run names the same
    shard every time.
    """
    if left.error is not None:
        return left
    if right.error is not None:
        return right
    # a worker may hold ``left`` for another reduction (a persisted state): merge a copy
    state = pickle.loads(pickle.dumps(left.state, protocol=pickle.HIGHEST_PROTOCOL))
    said = left.warnings + [w for w in right.warnings if w not in left.warnings]
    return Part(state.merge(right.state), said)


def merge_order(n: int) -> list[list[tuple[int, ...]]]:
    """The fixed tree: at each level, neighbours in shard order merged pairwise.

    Each level lists, for each node of the next level, the indices (into the
    current level) it is made of; an odd one out goes up alone.
    """
    levels = []
    while n > 1:
        level = [tuple(range(i, min(i + 2, n))) for i in range(0, n, 2)]
        levels.append(level)
        n = len(level)
    return levels


def reduce_ordered(client: Any, futures: list[Any]) -> Any:
    """Merge the parts of ``futures`` (in shard order) by :func:`merge_order`'s tree."""
    for level in merge_order(len(futures)):
        futures = [
            futures[group[0]]
            if len(group) == 1
            else client.submit(merge_parts, futures[group[0]], futures[group[1]], pure=False)
            for group in level
        ]
    return futures[0]


def count_rows(path: str, input_options: Any) -> int:
    """The rows of one text shard, read on a worker: its rows' global numbers need them."""
    from cecli.readers import NoRows, open_source

    o = input_options
    try:
        source = open_source(
            path,
            fmt=o.input_format,
            header=o.header,
            chunk_bytes=o.chunk_bytes,
            storage_options=o.storage_options,
        )
    except NoRows:
        return 0
    with contextlib.closing(source):
        rows = max(1, o.chunk_bytes // 8)
        return sum(f.n_rows for f in source.frames(rows, [source.fields[0].name]))


def _shard_lists(inputs: Any) -> tuple[list[str], list[str | None]]:
    """The predictions shards and the labels shard beside each (None: in the shard)."""
    from cecli.readers.shards import ShardedSource

    preds, labels = inputs.pred_source, inputs.label_source
    label_path = inputs.paths[1]
    if not isinstance(preds, ShardedSource):
        if isinstance(labels, ShardedSource):
            raise OptionError(
                "--workers reads sharded labels beside sharded predictions only; give the "
                "predictions as shards too, or run without --workers."
            )
        return [inputs.paths[0]], [label_path]
    if label_path is None:  # the labels are in the shards (NPZ: each archive's member)
        return list(preds.paths), [None] * len(preds.paths)
    if not isinstance(labels, ShardedSource):
        raise OptionError(
            "--workers needs the labels in the shards, or a glob of label shards lined up "
            f"with them; {label_path} is one file. Run without --workers."
        )
    return list(preds.paths), list(labels.paths)


def _row_counts(client: Any, inputs: Any, paths: list[str]) -> list[int]:
    """Each shard's rows: known for binary shards, counted on the workers for text ones."""
    from cecli.readers.shards import ShardedSource

    source = inputs.pred_source
    if not isinstance(source, ShardedSource):
        return [-1]  # one file: one task from row 0; its count is not needed
    known = [source.known_rows(i) for i in range(len(paths))]
    missing = [i for i, n in enumerate(known) if n is None]
    counted = [client.submit(count_rows, paths[i], inputs.options, pure=False) for i in missing]
    for i, n in zip(missing, client.gather(counted), strict=True):
        known[i] = n
    return [int(n or 0) for n in known]


def _row_groups(inputs: Any, n: int) -> list[tuple[int, ...] | None]:
    """Each shard's row groups' rows (Parquet or Arrow IPC files with their labels), else None."""
    from cecli.readers.shards import ShardedSource

    source = inputs.pred_source
    if inputs.label_source is not None:
        return [None] * n  # the labels are read beside: not cut
    if isinstance(source, ShardedSource):
        return [source.shard_row_groups(i) for i in range(n)]
    return [source.row_groups]


def shard_tasks(inputs: Any, options: Any, client: Any, folder: Any = None) -> list[ShardTask]:
    """The tasks of opened ``inputs``, in row order: a shard each, or a run of its row groups.

    Text shards are counted on ``client``'s workers first (their global rows need
    it); a Parquet (or Arrow IPC file) shard holding its labels and more than :data:`TASK_VALUES`
    values is cut into runs of row groups (:func:`row_group_windows`). Sets the
    inputs' shard map (each reported row's file and file row). With ``folder``
    (``--per-sample DIR/``), each task writes its rows to its part.
    """
    preds, labels = _shard_lists(inputs)
    counts = _row_counts(client, inputs, preds)
    starts, offset = [], 0
    for n in counts:
        starts.append(offset)
        offset += max(n, 0)
    shard_map = inputs.shard_map
    if shard_map is not None:  # the report's file and file_row of each kept row
        shard_map.starts[:] = starts
        shard_map.n_rows[:] = counts
    common = {
        "input_options": inputs.options,
        "score_options": options,
        "kind": inputs.kind,
        "classes": tuple(inputs.classes),
    }
    groups = _row_groups(inputs, len(preds))
    tasks = []
    for i, (p, lab, start, n, sizes) in enumerate(
        zip(preds, labels, starts, counts, groups, strict=True)
    ):
        if n == 0:
            continue  # an empty shard adds no rows
        windows: list[tuple[int, int] | None] = [None]
        if lab is None and sizes is not None and len(sizes) > 1:  # a large Parquet shard
            windows = [*row_group_windows(sizes, inputs.n_classes)]
            windows = [None] if len(windows) == 1 else windows
        for run, window in enumerate(windows):
            part = None
            if folder is not None:  # the shard's part, or its run's
                part = folder.part(i, None if window is None else run)
            rows = n if window is None else sum(sizes[window[0] : window[1]])
            tasks.append(
                ShardTask(p, lab, start, **common, row_groups=window, per_sample=part, n_rows=rows)
            )
    return tasks


def score_on_workers(inputs: Any, options: Any, client: Any, per_sample: str | None = None) -> Any:
    """Score opened ``inputs`` on ``client``'s workers; the serial run's :class:`Scored`.

    ``inputs`` (:class:`~cecli.inputs.Inputs`, opened here) decides the
    layout, kind and classes once; each task reads its shard with them.
    With ``per_sample`` (a folder), each task also writes its shard's rows
    there (:mod:`cecli.dask._per_sample`); ``options.el2n`` must be set.
    """
    from cecli.folds import ScoreState
    from cecli.pipeline import finish

    if options.keep is None:
        raise OptionError(
            "--top 0 keeps every row's state, which would all travel through the scheduler; "
            "with --workers give --top N (N >= 1)."
        )
    if "-" in inputs.paths:
        raise OptionError("--workers reads files, not standard input (-); give a file.")
    folder = None
    if per_sample is not None:
        from cecli.dask._per_sample import PartsFolder

        weighted = inputs.options.weight_col is not None or options.class_weights is not None
        folder = PartsFolder(
            per_sample,
            inputs,
            weighted=weighted,
            label_issues=options.label_issues,
            ranks=options.top_k is not None,
            ignored=options.ignore_index is not None,
            show=tuple(inputs.show_names),
        )
    try:
        tasks = shard_tasks(inputs, options, client, folder)
        # with label issues the rows are written in a last pass, once each row's issue is known
        first = [replace(t, per_sample=None) for t in tasks] if options.label_issues else tasks
        part = submit_groups(client, first, inputs.n_classes, score_shard).result()
        if part.error is not None:
            raise WorkerError(*part.error)
        for said in part.warnings:
            warnings.warn(CecliWarning(said), stacklevel=2)
        state: ScoreState = part.state
        # label issues: each later pass is a map over the shards and an ordered merge again
        while state.needs_another_pass:
            fold = client.scatter(state.next_pass(), broadcast=True, hash=False)
            part = submit_groups(client, first, inputs.n_classes, pass_shard, fold).result()
            if part.error is not None:
                raise WorkerError(*part.error)
            state.end_pass(part.state)
        if options.label_issues:  # the parts' label_issue column, the slices' issue counts
            from cecli.dask._last_pass import last_pass

            last_pass(client, tasks, state)
        if folder is not None:
            folder.commit()
    except BaseException:
        if folder is not None:
            folder.abort()
        raise
    return finish(inputs, state)
