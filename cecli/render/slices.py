"""The slices (``--by``) in a table, in markdown and as CSV rows.

A slice's values come from the data: they are escaped for where they go
(:mod:`cecli.render.escape`). A missing value shows as ``(missing)`` (in
italics in markdown, dim at a terminal); JSON has ``null``. The table and
markdown list the worst ``--top`` ranked slices and say how many there are;
CSV and JSON list them all.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from cecli.render.escape import markdown as md
from cecli.render.escape import spreadsheet, terminal
from cecli.report.format import fmt_number
from cecli.slices import MISSING

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from cecli.report import Report
    from cecli.slices import Slice, SliceTable


def value_text(value: object) -> str | None:
    """One column's value of a slice as plain text; None for a missing value.

    Examples
    --------
    >>> value_text(3.0), value_text(0.25), value_text(True), value_text(None)
    ('3', '0.25', 'true', None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def _values(s: Slice) -> tuple[object, ...]:
    return s.value if isinstance(s.value, tuple) else (s.value,)


def _interval(s: Slice) -> str:
    if s.ci_low is None or s.ci_high is None:
        return "-"
    return f"{fmt_number(s.ci_low)} to {fmt_number(s.ci_high)}"


def _cells(s: Slice, calibration: bool) -> list[str]:
    cells = [
        f"{s.n_samples:,}",
        fmt_number(s.mean_loss),
        _interval(s),
        f"{s.accuracy:.1%}",
        f"{s.flagged_count:,}",
    ]
    return cells + ([fmt_number(s.ece)] if calibration else [])


def _titles(table: SliceTable, top: int, name: Callable[[str], str] = str) -> tuple[str, str]:
    """The titles of the ranked and unranked tables; ``name`` escapes the column names."""
    by = ", ".join(name(str(s)) for s in table.specs)
    shown = table.n_ranked if top == 0 else min(top, table.n_ranked)
    ranked = (
        f"Slices by {by}, worst first: {shown} of {table.n_ranked:,} ranked "
        f"(>= {table.min_rows} rows)"
    )
    rest = len(table) - table.n_ranked
    unranked = (
        f"Too few rows to rank (< {table.min_rows}): "
        f"{rest if top == 0 else min(top, rest)} of {rest:,} slices"
    )
    return ranked, unranked


_HEADER = ["rows", "mean loss", "95% CI", "accuracy", "flagged"]


def _header(table: SliceTable) -> list[str]:
    level = f"{table.level:.0%} CI"
    return [*_HEADER[:2], level, *_HEADER[3:], *(["ECE"] if table.ece is not None else [])]


def rich_tables(report: Report) -> list[Table | str]:
    """The slices for a terminal: the worst ranked, then those with too few rows."""
    from rich import box
    from rich.table import Table

    table = report.slices
    if table is None:
        return []
    titles = _titles(table, report.top)
    out: list[Table | str] = []
    parts = ((table.worst(report.top), titles[0]), (table.unranked(report.top), titles[1]))
    for rows, title in parts:
        if not rows and title is titles[1]:
            continue
        t = Table(box=box.SIMPLE_HEAD, title=terminal(title), title_justify="left")
        for spec in table.specs:
            t.add_column(terminal(spec.column), overflow="fold")
        for i, name in enumerate(_header(table)):
            t.add_column(name, justify="right" if i != 2 else "left")
        for s in rows:
            t.add_row(
                *(_terminal_value(v) for v in _values(s)),
                *_cells(s, table.ece is not None),
            )
        if not rows:
            out.append(title + ": none.\n")
        else:
            out.append(t)
    return out


def _terminal_value(value: object) -> Text:
    from rich.text import Text

    text = value_text(value)
    return Text(MISSING, style="dim") if text is None else terminal(text)


def markdown_lines(report: Report) -> list[str]:
    """The slices as markdown tables: the worst ranked, then those with too few rows."""
    table = report.slices
    if table is None:
        return []
    titles = _titles(table, report.top, md)
    lines: list[str] = []
    header = [md(s.column) for s in table.specs] + _header(table)
    right = set(range(len(table.specs), len(header)))
    parts = ((table.worst(report.top), titles[0]), (table.unranked(report.top), titles[1]))
    for rows, title in parts:
        if not rows and title is titles[1]:
            continue
        lines += [f"#### {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        rule = ("---:" if i in right else "---" for i in range(len(header)))
        lines.append("|" + "|".join(rule) + "|")
        for s in rows:
            values = [_markdown_value(v) for v in _values(s)]
            lines.append("| " + " | ".join(values + _cells(s, table.ece is not None)) + " |")
        lines.append("")
    return lines


def _markdown_value(value: object) -> str:
    text = value_text(value)
    return f"*{md(MISSING)}*" if text is None else md(text)


#: The columns of a slice's CSV row, after the --by columns.
CSV_COLUMNS = ("n_samples", "mean_loss", "ci_low", "ci_high", "accuracy", "flagged_count", "ranked")


def write_csv(table: SliceTable, out: TextIO) -> None:
    """One header line, then one row per slice (all of them: ranked, worst first, then the rest).

    The first columns are the ``--by`` columns (empty for a missing value);
    text is formula-defused for spreadsheets, numbers written as they are.
    """
    calibration = table.ece is not None
    writer = csv.writer(out, lineterminator="\n")
    columns = [*CSV_COLUMNS, *(["ece"] if calibration else []), *sorted(table.marks)]
    writer.writerow([spreadsheet(s.column) for s in table.specs] + columns)
    for s in table.rows():
        values = ["" if (t := value_text(v)) is None else spreadsheet(t) for v in _values(s)]
        numbers = [
            s.n_samples,
            s.mean_loss,
            s.ci_low,
            s.ci_high,
            s.accuracy,
            s.flagged_count,
            "true" if s.ranked else "false",
            *([s.ece] if calibration else []),
            *(s.marks[name] for name in sorted(table.marks)),
        ]
        writer.writerow(values + ["" if x is None else _number(x) for x in numbers])


def _number(x: object) -> str:
    return repr(x) if isinstance(x, float) else str(x)
