"""A progress bar on standard error while a large input is read, and only at a terminal."""

from __future__ import annotations

import os
import sys
from typing import Protocol

from cecli.render.escape import visible

#: Inputs with fewer rows than this (when the count is known up front) get no bar.
MIN_ROWS = 200_000
#: Text files smaller than this get no bar either.
MIN_BYTES = 32 << 20


class Progress(Protocol):
    def __call__(self, rows_done: int) -> None: ...

    def close(self) -> None: ...


class _RichProgress:
    def __init__(self, total: int | None, what: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        # the file name is shown as text, never parsed as markup
        columns = [TextColumn("[bold]scoring[/]"), TextColumn("{task.description}", markup=False)]
        columns.append(BarColumn())
        columns += [MofNCompleteColumn(), TimeElapsedColumn()]
        self._bar = Progress(*columns, console=Console(file=sys.stderr), transient=True)
        self._task = self._bar.add_task(visible(what), total=total)
        self._bar.start()

    def __call__(self, rows_done: int) -> None:
        self._bar.update(self._task, completed=rows_done)

    def close(self) -> None:
        self._bar.stop()


def stderr_progress(inputs: object) -> Progress | None:
    """A bar for ``inputs`` (an :class:`~cecli.inputs.Inputs`), or None.

    None when standard error is not a terminal (a pipe, a CI log), and for
    inputs known to be small.
    """
    if not sys.stderr.isatty():
        return None
    total = getattr(inputs, "n_rows", None)
    if total is not None and total < MIN_ROWS:
        return None
    path = getattr(getattr(inputs, "pred_source", None), "path", "-")
    local = path != "-" and "://" not in path  # a remote file's size is another request
    if total is None and local and os.path.getsize(path) < MIN_BYTES:
        return None  # a small text file: its rows are not counted up front
    return _RichProgress(total, getattr(inputs.pred_source, "display", ""))  # type: ignore[attr-defined]
