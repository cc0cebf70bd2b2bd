"""Score opened inputs chunk by chunk: the one place readers meet the core.

:func:`score_inputs` feeds every :class:`~cecli.inputs.Batch` to an
:class:`~cecli.Accumulator` and returns its :class:`~cecli.Summary`. A
problem the core finds in a chunk (a probability out of range, a label
outside the classes) is raised again with the name of the file it is in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cecli.accumulate import Accumulator, Summary
from cecli.errors import CecliError, LabelError, OptionError, WeightError, in_file
from cecli.inputs import Batch, Inputs
from cecli.losses import ClassWeights, SampleScores, unit_of
from cecli.render.progress import Progress
from cecli.report import HISTOGRAM_EDGES_NATS


@dataclass(frozen=True)
class ScoreOptions:
    """The core's options, as ``cecli score`` passes them."""

    class_weights: ClassWeights = None
    eps: float | str = "auto"
    label_smoothing: float = 0.0
    focal_gamma: float = 0.0
    threshold: float = 0.9
    base: str | float = "e"
    keep: int | None = 10


@dataclass(frozen=True)
class Scored:
    """The aggregate, and the ids of the rows it keeps (worst and flagged), if any."""

    summary: Summary
    ids: dict[int, str]
    #: Rows per per-sample-loss bin; the bins end at ``histogram_edges`` (in the unit), then inf.
    histogram: list[int]
    histogram_edges: list[float]


def make_accumulator(inputs: Inputs, options: ScoreOptions) -> Accumulator:
    return Accumulator(
        inputs.kind,  # type: ignore[arg-type]
        from_logits=inputs.options.from_logits,
        class_weights=options.class_weights,
        eps=options.eps,
        label_smoothing=options.label_smoothing,
        focal_gamma=options.focal_gamma,
        threshold=options.threshold,
        base=options.base,
        keep=options.keep,
    )


def score_inputs(
    inputs: Inputs,
    options: ScoreOptions | None = None,
    on_batch: Callable[[Batch, SampleScores], None] | None = None,
    progress: Progress | None = None,
) -> Scored:
    """Score every row of ``inputs``; ``on_batch`` sees each chunk's per-sample scores."""
    options = options or ScoreOptions()
    try:
        return _score(inputs, options, on_batch, progress)
    finally:
        if progress is not None:
            progress.close()


def _score(
    inputs: Inputs,
    options: ScoreOptions,
    on_batch: Callable[[Batch, SampleScores], None] | None,
    progress: Progress | None,
) -> Scored:
    ids: dict[int, str] = {}
    accumulator = make_accumulator(inputs, options)
    _, ln_base = unit_of(options.base)
    edges = np.array(HISTOGRAM_EDGES_NATS) / ln_base
    histogram = np.zeros(len(edges) + 1, dtype=np.int64)
    for batch in inputs.batches():
        try:
            scores = accumulator.update(
                batch.targets, batch.preds, batch.weights, row_offset=batch.first_row
            )
        except LabelError as error:
            raise in_file(inputs.source_of("labels"), error) from None
        except WeightError as error:
            if batch.weights is None:
                raise
            raise in_file(inputs.source_of("weights"), error) from None
        except OptionError:
            raise  # a bad option, not a bad file
        except CecliError as error:
            raise in_file(inputs.source_of("predictions"), error) from None
        histogram += np.bincount(np.searchsorted(edges, scores.loss), minlength=len(histogram))
        if batch.ids is not None:
            kept = accumulator.kept_rows()
            first = batch.first_row
            for row in kept:
                if first <= row < first + batch.n_rows:
                    ids[row] = str(batch.ids[row - first])
            ids = {row: ids[row] for row in kept if row in ids}
        if on_batch is not None:
            on_batch(batch, scores)
        if progress is not None:
            progress(batch.first_row + batch.n_rows)
    return Scored(accumulator.result(), ids, histogram.tolist(), edges.tolist())
