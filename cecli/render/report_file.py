"""``--json PATH``: the JSON report written to a file as well, whatever ``--format`` prints.

A CI step wants two things from one run: a report for people (``--format
markdown`` on the summary page) and numbers for the next step (the JSON's
``mean_loss``, ``passed``, ``verdict``). ``--json PATH`` gives the second
beside the first. The text is what ``--format json`` prints, byte for byte;
it goes to a temporary file beside PATH, renamed into place once complete
(the per-sample file's way, :mod:`cecli.render.per_sample`), so a failed run
leaves PATH as it was and no temporary behind. A name for a device or a pipe
(``/dev/stdout``, a FIFO) is written in place: renaming over it would
replace it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cecli.errors import InputError, OptionError, OutputError, reason_of

if TYPE_CHECKING:
    from cecli.report import CompareReport, Report

FLAG = "--json"


def check_json_path(path: str, inputs: Sequence[str | None]) -> str:
    """The checked ``--json`` path, before any input is read.

    It must name a file (not ``-``, not a folder) in a folder that exists, and
    none of the inputs.

    Parameters
    ----------
    path : str
        The value of ``--json``.
    inputs : sequence of str or None
        The command's input paths (None for one not given); ``-`` is standard input.

    Returns
    -------
    str
        ``path``, unchanged.

    Raises
    ------
    OptionError
        For ``-``, a folder, or a folder that does not exist.
    InputError
        When ``path`` is one of ``inputs``.

    Examples
    --------
    >>> check_json_path("report.json", ["preds.csv", None])
    'report.json'
    >>> check_json_path("-", ["preds.csv"])
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --json writes a file; for JSON on standard output use --format json.
    """
    if path == "-":
        raise OptionError(f"{FLAG} writes a file; for JSON on standard output use --format json.")
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise OptionError(
            f"{FLAG} {path}: is a folder; name a file in it, such as "
            f"{os.path.join(path, 'cecli.json')}."
        )
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise OptionError(f"{FLAG} {path}: the folder {folder!r} does not exist.")
    for given in inputs:
        if given is None or given == "-" or not os.path.exists(given):
            continue
        if os.path.exists(target) and os.path.samefile(given, target):
            raise InputError(path, f"is one of the input files; {FLAG} will not overwrite it.")
    return path


def write_json_report(path: str, report: Report | CompareReport) -> None:
    """Write ``report`` to ``path`` as ``--format json`` prints it, renamed into place at the end.

    Parameters
    ----------
    path : str
        A path checked by :func:`check_json_path`.
    report : Report or CompareReport
        The report of the run.

    Raises
    ------
    OutputError
        When the file cannot be written (a read-only folder, a full disk);
        ``path`` is then as it was.

    Examples
    --------
    >>> import json, os, tempfile, cecli
    >>> from cecli.report import build_report
    >>> acc = cecli.Accumulator()
    >>> _ = acc.update([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    >>> report = build_report(acc.result(), ["cat", "dog"], {}, 10, {})
    >>> folder = tempfile.mkdtemp()
    >>> write_json_report(os.path.join(folder, "r.json"), report)
    >>> with open(os.path.join(folder, "r.json"), encoding="utf-8") as f:
    ...     round(json.load(f)["mean_loss"], 4)
    0.1643
    >>> os.listdir(folder)  # no temporary left
    ['r.json']
    """
    from cecli.render import json as json_renderer
    from cecli.render.per_sample import _temporary, _unfinished

    target = os.path.abspath(path)
    try:
        in_place = os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode)
        tmp = target if in_place else _temporary(target, os.path.dirname(target))
    except OSError as error:
        raise _failed(path, error) from None
    try:
        # newline="\n": the bytes --format json prints, on every platform
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            json_renderer.render(report, out)
        if not in_place:
            os.replace(tmp, target)
    except BaseException as error:
        if not in_place:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(error, OSError):
            raise _failed(path, error) from None
        raise
    finally:
        _unfinished.discard(tmp)


def _failed(path: str, error: OSError) -> OutputError:
    return OutputError(f"{FLAG} {path}: cannot be written: {reason_of(error)}.")
