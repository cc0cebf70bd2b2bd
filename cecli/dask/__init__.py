"""``cecli score`` on Dask workers: one task per shard, the states merged in a fixed tree.

A sharded input (a glob or a folder, :mod:`cecli.readers.shards`) is split
into one task per shard; a single file is one task. Each task opens its
shard with cecli's own readers *on the worker* (no array travels through
the graph, and no engine reader changes the dtypes or the clipping),
numbers its rows from the shard's first global row, as the serial run
numbers them, and returns its :class:`~cecli.folds.ScoreState`. The states
are merged pairwise, left to right by shard, level by level: the same tree
on every run, so a run gives the same bits every time, and the serial
run's counts and rows exactly (its floats to rounding).

Dask is optional (``pip install "cecli[dask]"``); this module imports it
only when a cluster is asked for.

Examples
--------
>>> import cecli.dask
>>> cecli.dask.merge_order(5)
[[(0, 1), (2, 3), (4,)], [(0, 1), (2,)], [(0, 1)]]
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from cecli.dask._cluster import INSTALL, _distributed, connect, local_cluster
from cecli.dask._compare import CompareState, PairTask, compare_on_workers, compare_shard
from cecli.dask._frame import score_frame
from cecli.dask._tasks import (
    Part,
    ShardTask,
    WorkerError,
    merge_order,
    merge_parts,
    pass_shard,
    reduce_ordered,
    score_on_workers,
    score_shard,
)
from cecli.errors import OptionError

__all__ = [
    "INSTALL",
    "CompareState",
    "PairTask",
    "Part",
    "ShardTask",
    "WorkerError",
    "_distributed",
    "compare",
    "compare_on_workers",
    "compare_shard",
    "connect",
    "local_cluster",
    "merge_order",
    "merge_parts",
    "pass_shard",
    "reduce_ordered",
    "score",
    "score_frame",
    "score_on_workers",
    "score_shard",
]


def score(
    paths: str,
    labels: str | None = None,
    client: Any = None,
    *,
    workers: int = 2,
    per_sample: str | None = None,
    **options: Any,
) -> Any:
    """Score predictions on Dask workers; the same :class:`~cecli.folds.Scored` as serially.

    Parameters
    ----------
    paths : str
        The predictions: a file, a glob (``"preds/*.parquet"``) or a folder of shards.
    labels : str, optional
        The labels, if not in the predictions: a file, or a glob of shards lined up with them.
    client : distributed.Client, optional
        The cluster to use; without one, a local cluster of ``workers`` processes is
        started and closed again.
    workers : int
        The local cluster's processes, when no ``client`` is given.
    per_sample : str, optional
        A folder the workers write each shard's per-sample rows to, as
        ``part-00000.parquet`` ... (see :mod:`cecli.dask._per_sample`).
    **options
        Fields of :class:`~cecli.inputs.InputOptions` (``kind``, ``from_logits``,
        ``label_col``, ...) and of :class:`~cecli.folds.ScoreOptions` (``keep``,
        ``calibration_bins``, ``temperature``, ...).

    Returns
    -------
    Scored
        What :func:`cecli.pipeline.score_inputs` returns for the same rows.

    Examples
    --------
    >>> import cecli.dask
    >>> cecli.dask.score("preds/*.parquet", client=None, nonsense=1)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: cecli.dask.score got options it does not know: nonsense.
    """
    from cecli.frame import resolved, split_options
    from cecli.inputs import Inputs

    input_options, score_options = split_options("cecli.dask.score", options)
    if per_sample is not None:  # the per-sample rows have each row's EL2N
        score_options = replace(score_options, el2n=True)
    with Inputs(paths, labels, input_options) as inputs:
        score_options = resolved(score_options, inputs)
        if client is not None:
            return score_on_workers(inputs, score_options, client, per_sample)
        with connect(workers) as started:
            return score_on_workers(inputs, score_options, started, per_sample)


def compare(
    baseline: str,
    candidate: str,
    labels: str | None = None,
    client: Any = None,
    *,
    workers: int = 2,
    **options: Any,
) -> Any:
    """Compare two models on Dask workers; the same :class:`~cecli.pairing.Compared` as serially.

    Shard ``i`` of ``baseline`` is compared with shard ``i`` of ``candidate``
    (and of ``labels``, when they are a glob of their own): the shards must
    line up row by row. The interval is the streaming Poisson bootstrap's
    (``method="poisson"``, the only one offered here).

    Parameters
    ----------
    baseline, candidate : str
        Each model's predictions: a file, a glob or a folder of shards.
    labels : str, optional
        The labels, if not in the predictions: a file, or a glob of shards.
    client : distributed.Client, optional
        The cluster to use; without one, a local cluster of ``workers``
        processes is started and closed again.
    workers : int
        The local cluster's processes, when no ``client`` is given.
    **options
        Fields of :class:`~cecli.inputs.InputOptions` (for both inputs), of
        :class:`~cecli.folds.ScoreOptions` (``keep``, ``class_weights``,
        ``ignore_index`` or ``ignore_label``, ``top_k``, ...) and of
        :class:`~cecli.pairing.CompareOptions` (``n_resamples``,
        ``confidence``, ``seed``).

    Returns
    -------
    Compared
        What :func:`cecli.pairing.compare_inputs` returns for the same rows
        with ``method="poisson"``.

    Examples
    --------
    >>> import cecli.dask
    >>> cecli.dask.compare("a/*.parquet", "b/*.parquet", method="bca")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --ci-method bca resamples rows, ... (the default there).
    """
    from cecli.folds import ScoreOptions
    from cecli.frame import split_options
    from cecli.inputs import InputOptions, Inputs
    from cecli.pairing import CompareOptions

    groups = [{f.name for f in fields(c)} for c in (InputOptions, ScoreOptions, CompareOptions)]
    unknown = sorted(set(options) - set().union(*groups))
    if unknown:
        raise OptionError(f"cecli.dask.compare got options it does not know: {', '.join(unknown)}.")
    compare_options = CompareOptions(**{k: v for k, v in options.items() if k in groups[2]})
    # ignore_index=-100 (or ignore_label="PAD"), top_k=5: as cecli.dask.score takes them
    input_options, score_options = split_options(
        "cecli.dask.compare", {k: v for k, v in options.items() if k not in groups[2]}
    )
    if "method" not in options:
        compare_options = replace(compare_options, method="poisson")
    if compare_options.method != "poisson" or compare_options.calibration_bins is not None:
        compare_on_workers(None, None, score_options, compare_options, None)  # says why not
    with (
        Inputs(baseline, labels, input_options) as base_inputs,
        # show_cols: the baseline's columns, carried into the listed rows (in the candidate's
        # file, if there, they are never predictions either)
        Inputs(
            candidate,
            labels,
            replace(input_options, show_cols=(), reserved_cols=input_options.show_cols),
        ) as cand_inputs,
    ):
        if client is not None:
            return compare_on_workers(
                base_inputs, cand_inputs, score_options, compare_options, client
            )
        with connect(workers) as started:
            return compare_on_workers(
                base_inputs, cand_inputs, score_options, compare_options, started
            )
