"""Score opened inputs chunk by chunk: the one place readers meet the core.

:func:`score_inputs` checks each :class:`~cecli.inputs.Batch` once, into a
:class:`~cecli.view.ChunkView`, and feeds it to a
:class:`~cecli.folds.ScoreState`, whose folds hold every statistic; its
result is a :class:`~cecli.folds.Scored`. A problem found in a chunk (a
probability out of range, a label outside the classes) is raised again with
the name of the file it is in. Label issues take more passes over the same
rows: they are read again, or kept in a temporary file
(:class:`~cecli.spill.Replay`). ``cecli compare``'s two-sided run is in
:mod:`cecli.pairing`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from cecli.errors import CecliError, CecliWarning, LabelError, OptionError, WeightError, in_file
from cecli.folds import Scored, ScoreOptions, ScoreState
from cecli.inputs import Batch, Inputs
from cecli.losses import SampleScores
from cecli.render.progress import Progress
from cecli.view import ChunkView

__all__ = [
    "OnBatch",
    "ScoreOptions",
    "Scored",
    "checked_view",
    "finish",
    "score_inputs",
]


@contextmanager
def _file_warnings(source: str) -> Iterator[None]:
    """The core's warnings again, their message prefixed with the file they are about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, CecliWarning):
            warnings.warn(CecliWarning(f"{source}: {w.message}"), stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


#: What ``on_batch`` is given: the batch, its per-sample scores, and more per-row columns.
OnBatch = Callable[[Batch, SampleScores, dict[str, np.ndarray]], None]


def score_inputs(
    inputs: Inputs,
    options: ScoreOptions | None = None,
    on_batch: OnBatch | None = None,
    progress: Progress | None = None,
) -> Scored:
    """Score every row of ``inputs``; ``on_batch`` sees each chunk's per-sample scores.

    Each chunk is checked once (its :class:`~cecli.view.ChunkView`) and fed to
    one :class:`~cecli.folds.ScoreState`, which holds every statistic. With
    ``options.label_issues`` the rows are read again for the passes after
    the first, and ``on_batch`` sees them in a last pass, with each row's
    ``label_issue`` and ``label_quality`` among the columns.
    """
    options = options or ScoreOptions()
    try:
        state = ScoreState(inputs.kind, from_logits=inputs.options.from_logits, options=options)
        with contextlib.ExitStack() as stack:
            replay = None
            if options.label_issues:
                from cecli.spill import Replay

                replay = stack.enter_context(Replay(inputs))
            for batch in inputs.batches():
                view = checked_view(inputs, state, batch)
                if on_batch is not None and replay is None:
                    # first: the writer works while folds add
                    on_batch(batch, view.per_sample_scores(), {})
                state.add(view)
                if replay is not None:
                    replay.keep(batch)
                if progress is not None:
                    progress(batch.first_row + batch.n_rows)
                # the folds have taken what they keep: the chunk's arrays go before the next
                del view, batch
            if replay is None:
                return finish(inputs, state)
            while state.needs_another_pass:
                fold = state.next_pass()
                for batch in replay.batches():
                    fold.add(checked_view(inputs, state, batch))
                state.end_pass(fold)
            if on_batch is not None or state.slices is not None:
                _last_pass(inputs, state, replay.batches(), on_batch)
            return finish(inputs, state)
    finally:
        if progress is not None:
            progress.close()


def _last_pass(
    inputs: Inputs, state: ScoreState, batches: Iterator[Batch], on_batch: OnBatch | None
) -> None:
    """Every row again, now that each row's label issue is known.

    ``on_batch`` gets each row's ``label_issue`` and ``label_quality``; the
    slice fold counts each slice's label issues.
    """
    fold, findings = state.label_issues, state.label_issue_findings()
    for batch in batches:
        rows = np.arange(batch.first_row, batch.first_row + batch.n_rows)
        issue = None if findings is None else findings.is_issue(rows)
        if state.slices is not None and batch.slices is not None and issue is not None:
            local, where = state.slices.slice_rows(batch.slices)
            state.slices.count("label_issues", where[local][issue])
        if on_batch is not None:
            view = checked_view(inputs, state, batch)
            columns = {}
            if fold is not None and issue is not None:
                quality = fold.quality(view) if view.n_rows else np.empty(0)
                columns = {
                    "label_issue": issue,
                    "label_quality": view.per_sample_column(quality, np.nan),
                }
            on_batch(batch, view.per_sample_scores(), columns)
            del view
        del batch


def checked_view(inputs: Inputs, state: ScoreState, batch: Batch) -> ChunkView:
    """The chunk's view; a problem in it is raised again naming the file it is in."""
    try:
        with _file_warnings(inputs.source_of("predictions")):
            view = state.view(
                batch.targets,
                batch.preds,
                batch.weights,
                first_row=batch.first_row,
                ids=batch.ids,
            )
        if batch.slices is not None:  # the --by columns, for the slice fold
            view = view.with_slice_values(batch.slices)
        if batch.show is not None:  # the --show columns, for the folds that keep rows
            view = view.with_show_values(batch.show)
        return view
    except LabelError as error:
        raise in_file(inputs.source_of("labels", batch.first_row), error) from None
    except WeightError as error:
        if batch.weights is None or error.option is not None:
            raise  # not the weight column's fault
        raise in_file(inputs.source_of("weights", batch.first_row), error) from None
    except OptionError:
        raise  # a bad option, not a bad file
    except CecliError as error:
        raise in_file(inputs.source_of("predictions", batch.first_row), error) from None


def finish(inputs: Inputs, state: ScoreState) -> Scored:
    """Read the state; a problem only the whole input shows names its file."""
    try:
        return state.result()
    except WeightError as error:
        column = inputs.options.weight_col
        if column is None or error.option is not None:
            raise  # class weights: an option, not a file
        error = WeightError(f"column {column!r}: {error}")
        raise in_file(inputs.source_of("weights"), error) from None
    except OptionError:
        raise
    except CecliError as error:
        raise in_file(inputs.source_of("predictions"), error) from None
