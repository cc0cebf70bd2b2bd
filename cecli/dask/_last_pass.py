"""Label issues' last pass on workers: what needs each row's issue known.

The serial run reads every row once more when label issues are found
(:func:`cecli.pipeline._last_pass`): the ``--per-sample`` file gains each
row's ``label_issue`` and ``label_quality``, and each ``--by`` slice counts
its label issues. On workers that pass is a task per shard again (reading
it again, as the earlier passes do): a task writes its shard's part and
returns its slices' issue counts, numbered as the merged slice fold numbers
them; the counts are whole numbers, added up in shard order.

Examples
--------
>>> import numpy as np
>>> from cecli.dask._last_pass import added
>>> added([np.array([1, 0, 2]), None, np.array([0, 3])])
array([1, 3, 2])
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np


def added(counts: list[np.ndarray | None]) -> np.ndarray | None:
    """Per-slice counts of several shards added up (the shorter padded with zeros)."""
    present = [c for c in counts if c is not None]
    if not present:
        return None
    total = np.zeros(max(len(c) for c in present), dtype=np.int64)
    for c in present:
        total[: len(c)] += c
    return total


def last_pass_shard(
    task: Any, fold: Any, findings: Any, slices: Any
) -> tuple[tuple[str, int] | None, np.ndarray | None]:
    """One shard's rows with their label issues (runs on a worker).

    Writes the task's per-sample part, if it has one, and counts the issues of
    each slice of ``slices`` (the merged slice fold, which knows every slice),
    if given. Returns the error's ``(message, exit status)`` (or None) and the
    counts (or None).
    """
    from cecli.errors import CecliError
    from cecli.folds import ScoreState
    from cecli.inputs import Inputs
    from cecli.pipeline import checked_view

    options = replace(task.input_options, kind=task.kind)
    writer = None
    counts = None if slices is None else np.zeros(slices.n_slices, dtype=np.int64)
    try:
        with Inputs(task.predictions, task.labels, options, row_groups=task.row_groups) as inputs:
            state = ScoreState(
                inputs.kind, from_logits=options.from_logits, options=task.score_options
            )
            if task.per_sample is not None:
                writer = task.per_sample.open()
            for batch in inputs.batches():
                batch.first_row += task.first_row
                rows = np.arange(batch.first_row, batch.first_row + batch.n_rows)
                issue = findings.is_issue(rows)
                if counts is not None and batch.slices is not None:
                    # every slice was seen in the first pass: the fold only looks them up
                    local, where = slices.slice_rows(batch.slices)
                    chosen = where[local][issue]
                    counts += np.bincount(chosen, minlength=len(counts))[: len(counts)]
                if writer is not None:  # as the serial run's last pass gives them
                    view = checked_view(inputs, state, batch)
                    quality = fold.quality(view) if view.n_rows else np.empty(0)
                    columns = {
                        "label_issue": issue,
                        "label_quality": view.per_sample_column(quality, np.nan),
                    }
                    writer.write(view.per_sample_scores(), batch.ids, columns, batch.show)
                    del view
                del batch
            if writer is not None:
                writer.commit()
    except BaseException as error:
        if writer is not None:
            writer.abort()
        if not isinstance(error, CecliError):
            raise
        return (str(error), int(error.exit_status)), None
    return None, counts


def last_pass(client: Any, tasks: list[Any], state: Any) -> None:
    """Every shard's last pass on the workers; the slices' label-issue counts into ``state``.

    Nothing to do unless label issues were found and either a task writes a
    per-sample part or the rows are sliced.
    """
    from cecli.dask._tasks import WorkerError

    findings = state.label_issue_findings()
    sliced = state.slices is not None
    if findings is None or not (sliced or any(t.per_sample is not None for t in tasks)):
        return
    shared = client.scatter(
        [state.label_issues, findings, state.slices if sliced else None],
        broadcast=True,
        hash=False,
    )
    futures = [client.submit(last_pass_shard, task, *shared, pure=False) for task in tasks]
    results = client.gather(futures)
    for error, _ in results:  # the first error in shard order
        if error is not None:
            raise WorkerError(*error)
    total = added([counts for _, counts in results])
    if sliced and total is not None:
        state.slices.count_totals("label_issues", total)
