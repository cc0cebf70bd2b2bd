"""A Dask DataFrame scored on the workers that hold its partitions: :func:`score_frame`.

The partitions' lengths are computed first, to number each partition's rows
from its first global row, as the serial run over the whole frame numbers
them. The first rows of the first partition that has any decide the
columns, the kind and the classes (as a file's first rows do); then each
partition is one task, on a worker: the pandas partition is read by
:class:`~cecli.readers.table.TableSource` (Arrow column by column, so a
float32 column stays float32) through cecli's own validated view, into a
:class:`~cecli.folds.ScoreState`. The states merge in the fixed tree of
:func:`~cecli.dask._tasks.reduce_ordered`. Each pass (the lengths, the
scores, each later pass of ``label_issues``) computes the partitions again:
persist the frame first (``ddf.persist()``) if making them is costly.

Examples
--------
>>> from cecli.dask._frame import FrameTask
>>> FrameTask(2, 100, None, None, "binary", ("0", "1")).display
"the Dask DataFrame's partition 2 (its first row is row 100 of all)"
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

from cecli.dask._tasks import Part, WorkerError, failed, fed, new_state, reduce_ordered, viewed
from cecli.errors import CecliError, CecliWarning, InputError, OptionError

#: What messages call the frame.
DASK_FRAME = "the Dask DataFrame"
#: Rows of the first partition that decide the layout: the Parquet reader samples as many.
LAYOUT_ROWS = 65536


@dataclass(frozen=True)
class FrameTask:
    """One partition's task: its index, its first global row, and what the client decided."""

    index: int
    first_row: int
    input_options: Any
    score_options: Any
    kind: str
    classes: tuple[str, ...]

    @property
    def display(self) -> str:
        start = f"its first row is row {self.first_row} of all"
        return f"{DASK_FRAME}'s partition {self.index} ({start})"


def _inputs(frame: Any, task: FrameTask) -> Any:
    """The partition opened as cecli's inputs, with the client's kind and classes."""
    from cecli.inputs import Inputs
    from cecli.readers.table import TableSource

    options = replace(task.input_options, kind=task.kind)
    inputs = Inputs(TableSource(frame, task.display), None, options)
    if tuple(inputs.classes) != task.classes:
        inputs.close()
        raise OptionError(
            f"{task.display}: its classes ({', '.join(inputs.classes)}) differ from the "
            f"first partition's ({', '.join(task.classes)})."
        )
    return inputs


def score_partition(frame: Any, task: FrameTask) -> Part:
    """Score one pandas partition into a :class:`~cecli.folds.ScoreState` (runs on a worker)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _inputs(frame, task) as inputs:
                state = new_state(inputs, task.score_options)
                for batch, view in viewed(inputs, state, task.first_row):
                    state.add(view)
                    del batch, view
        except CecliError as error:
            return failed(error)
    said = [str(w.message) for w in caught if issubclass(w.category, CecliWarning)]
    return Part(state, said)


def pass_partition(frame: Any, task: FrameTask, fold: Any) -> Part:
    """Feed one partition's rows to a copy of ``fold``, a later pass's label-issue fold."""
    try:
        with _inputs(frame, task) as inputs:
            return Part(fed(fold, inputs, task.score_options, task.first_row))
    except CecliError as error:
        return failed(error)


def _head(frame: Any, n: int) -> Any:
    return frame.head(n)


def score_frame(ddf: Any, client: Any = None, *, workers: int = 2, **options: Any) -> Any:
    """Score a Dask DataFrame on workers; the :class:`~cecli.folds.Scored` of the serial run.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        The predictions (a column per class, or one for binary) and the labels, as
        :func:`cecli.frame.score_frame` takes a pandas DataFrame.
    client : distributed.Client, optional
        The cluster to use; without one, a local cluster of ``workers`` processes is
        started and closed again.
    workers : int
        The local cluster's processes, when no ``client`` is given.
    **options
        Fields of :class:`~cecli.inputs.InputOptions` (``label_col``, ``pred_cols``,
        ``id_col``, ``weight_col``, ``kind``, ``from_logits``, ...) and of
        :class:`~cecli.folds.ScoreOptions` (``keep``, ``calibration_bins``, ...).

    Returns
    -------
    Scored
        What :func:`cecli.frame.score_frame` returns for ``ddf.compute()``: counts and
        rows exactly, floats to rounding.

    Examples
    --------
    >>> import cecli.dask
    >>> cecli.dask.score_frame(None, header=True)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: cecli.dask.score_frame got options ... header (an option of files).
    """
    from cecli.dask._cluster import connect
    from cecli.frame import split_options

    input_options, score_options = split_options("cecli.dask.score_frame", options, frame=True)
    if score_options.keep is None:
        raise OptionError(
            "keep=None keeps every row's state, which would all travel through the scheduler; "
            "give keep=N (N >= 1)."
        )
    if score_options.label_issues and score_options.slices:
        raise OptionError("label_issues with slices does not run on workers yet.")
    if client is not None:
        return _score_frame(ddf, client, input_options, score_options)
    with connect(workers) as started:
        return _score_frame(ddf, started, input_options, score_options)


def _score_frame(ddf: Any, client: Any, input_options: Any, score_options: Any) -> Any:
    import dask

    from cecli.folds import ScoreState
    from cecli.frame import resolved
    from cecli.inputs import Inputs
    from cecli.pipeline import finish
    from cecli.readers.table import TableSource

    if not hasattr(ddf, "to_delayed") or not hasattr(ddf, "npartitions"):
        raise InputError(
            "cecli.dask.score_frame", f"takes a Dask DataFrame, not a {type(ddf).__name__}."
        )
    parts = ddf.to_delayed()
    lengths = client.gather(client.compute([dask.delayed(len)(p) for p in parts]))
    if not sum(lengths):
        raise InputError(DASK_FRAME, "has no rows: there is nothing to score.")
    first = next(i for i, n in enumerate(lengths) if n)
    head = client.compute(dask.delayed(_head)(parts[first], LAYOUT_ROWS)).result()
    # the client's inputs decide the layout, and name the frame in a message of the whole
    inputs = Inputs(TableSource(head, DASK_FRAME), None, input_options)
    score_options = resolved(score_options, inputs)
    starts, offset = [], 0
    for n in lengths:
        starts.append(offset)
        offset += n
    common = {
        "input_options": inputs.options,
        "score_options": score_options,
        "kind": inputs.kind,
        "classes": tuple(inputs.classes),
    }
    tasks = [(parts[i], FrameTask(i, starts[i], **common)) for i, n in enumerate(lengths) if n]
    futures = client.compute(
        [dask.delayed(score_partition, pure=False)(p, task) for p, task in tasks]
    )
    part = reduce_ordered(client, futures).result()
    if part.error is not None:
        raise WorkerError(*part.error)
    for said in part.warnings:
        warnings.warn(CecliWarning(said), stacklevel=3)
    state: ScoreState = part.state
    while state.needs_another_pass:
        fold = client.scatter(state.next_pass(), broadcast=True, hash=False)
        futures = client.compute(
            [dask.delayed(pass_partition, pure=False)(p, task, fold) for p, task in tasks]
        )
        part = reduce_ordered(client, futures).result()
        if part.error is not None:
            raise WorkerError(*part.error)
        state.end_pass(part.state)
    return finish(inputs, state)
