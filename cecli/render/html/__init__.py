"""``--html PATH``: the report as one self-contained HTML page.

The page takes the same :class:`~cecli.report.Report` or
:class:`~cecli.report.CompareReport` as the other renderers and holds all
it needs (style, pictures as inline SVG, a small optional script that sorts
a table by the header clicked): it loads nothing but the pictures a
``--show`` column names, which the browser loads, never cecli. Text from
the data is escaped (:func:`cecli.render.escape.html`), and the page's
Content-Security-Policy lets no other script run.

One file per job: :mod:`._page` (head, style, script, policy),
:mod:`._markup` (escaped text, tables), :mod:`._charts` (SVG),
:mod:`._rows` (listed rows and ``--show`` columns), :mod:`._slices`,
:mod:`._score` and :mod:`._compare` (the two pages).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cecli.errors import InputError, OptionError, OutputError, reason_of
from cecli.report import CompareReport, Report

SUFFIXES = (".html", ".htm")


def render(report: Report | CompareReport, out: TextIO) -> None:
    """Write ``report`` to ``out`` as an HTML page.

    Parameters
    ----------
    report : Report or CompareReport
        What ``cecli score`` or ``cecli compare`` found.
    out : TextIO
        Where the page goes.

    Examples
    --------
    >>> import io
    >>> from cecli import Accumulator
    >>> from cecli.report import build_report
    >>> acc = Accumulator("categorical")
    >>> scores = acc.update([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    >>> report = build_report(acc.result(), ["<cat>", "dog"], {"predictions": "p.csv"}, 10, {})
    >>> page = io.StringIO()
    >>> render(report, page)
    >>> text = page.getvalue()
    >>> text.startswith("<!DOCTYPE html>"), "&lt;cat&gt;" in text, "<cat>" in text
    (True, True, False)
    """
    if isinstance(report, CompareReport):
        from cecli.render.html._compare import render_compare

        render_compare(report, out)
    else:
        from cecli.render.html._score import render_score

        render_score(report, out)


def check_html_path(path: str | None, inputs: Sequence[str | None] = ()) -> Path | None:
    """The checked ``--html`` path, before any input is read; None without ``--html``.

    Examples
    --------
    >>> check_html_path(None) is None
    True
    >>> check_html_path("report.txt")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --html report.txt: name the file .html (or .htm).
    """
    if path is None:
        return None
    if path == "-":
        raise OptionError(
            "--html writes a file, not standard output (which --format is for); name one, "
            "such as report.html."
        )
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise OptionError(f"--html {path}: name the file .html (or .htm).")
    if target.is_dir():
        raise OptionError(
            f"--html {path}: is a folder; name a file in it, such as {target / 'report.html'}."
        )
    folder = target.absolute().parent
    if not folder.is_dir():
        raise OptionError(f"--html {path}: the folder {str(folder)!r} does not exist.")
    for given in inputs:
        exists = given and given != "-" and os.path.exists(given) and target.exists()
        if exists and os.path.samefile(given, target):
            raise InputError(path, "is one of the input files; --html will not overwrite it.")
    return target


def write_html(path: Path | str, report: Report | CompareReport) -> None:
    """Write the page beside ``path``, then rename it into place.

    A failed or interrupted write leaves ``path`` as it was and no temporary
    file (:func:`cecli.render._atomic.write_text`).

    Raises
    ------
    OutputError
        The file cannot be written (a full disk, a folder without permission).

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from cecli import Accumulator
    >>> from cecli.report import build_report
    >>> acc = Accumulator("binary")
    >>> scores = acc.update([0, 1], [0.2, 0.7])
    >>> path = os.path.join(tempfile.mkdtemp(), "report.html")
    >>> write_html(path, build_report(acc.result(), ["0", "1"], {}, 10, {}))
    >>> Path(path).read_text(encoding="utf-8").endswith("</html>\\n")
    True
    """
    from cecli.render._atomic import write_text

    try:
        write_text(str(path), lambda out: render(report, out))
    except OSError as error:
        raise OutputError(f"--html {path}: cannot be written: {reason_of(error)}.") from None
