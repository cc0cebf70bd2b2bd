"""The slices (``--by``) in a table, in markdown and as CSV rows.

A slice's values come from the data: they are escaped for where they go
(:mod:`cecli.render.escape`). A missing value shows as ``(missing)`` (in
italics in markdown, dim at a terminal); JSON has ``null``. The table and
markdown list the worst ``--top`` ranked slices and say how many there are;
CSV and JSON list them all.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from cecli.render.escape import markdown as md
from cecli.render.escape import spreadsheet, terminal
from cecli.report.format import fmt_number
from cecli.slices import MISSING

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from cecli.report import CompareReport, Report
    from cecli.slices import Slice, SliceComparison, SliceDelta, SliceTable


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


_LONG_NUMBER = re.compile(r"-?\d+\.\d{5,}(?:e[-+]?\d+)?|-?\d\.\d+e[-+]?\d+")


def short(text: str) -> str:
    """A quantile bin's label for a person: its bounds to 4 significant digits (JSON keeps all).

    Examples
    --------
    >>> short("[-0.7042682684457762, 0.0016310000001)")
    '[-0.7043, 0.001631)'
    """
    if not text.startswith("["):
        return text
    return _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.4g}", text)


def _values(s: Slice | SliceDelta) -> tuple[object, ...]:
    return s.value if isinstance(s.value, tuple) else (s.value,)


def _interval(s: Slice) -> str:
    if s.ci_low is None or s.ci_high is None:
        return "-"
    return f"{fmt_number(s.ci_low)} to {fmt_number(s.ci_high)}"


def _cells(s: Slice, calibration: bool, marks: Sequence[str] = ()) -> list[str]:
    cells = [
        f"{s.n_samples:,}",
        fmt_number(s.mean_loss),
        _interval(s),
        f"{s.accuracy:.1%}",
        f"{s.flagged_count:,}",
    ]
    cells += [f"{s.marks.get(name, 0):,}" for name in marks]
    return cells + ([fmt_number(s.ece)] if calibration else [])


#: The per-slice counts of rows chosen at the end (see SliceFold.count), as table headers.
MARK_HEADERS = {"label_issues": "label issues"}


def _marks(table: SliceTable) -> list[str]:
    return [name for name in MARK_HEADERS if name in table.marks]


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
    marks = [MARK_HEADERS[name] for name in _marks(table)]
    return [*_HEADER[:2], level, *_HEADER[3:], *marks, *(["ECE"] if table.ece is not None else [])]


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
            t.add_column(name, justify="right" if i != 2 else "left", no_wrap=i == 2)
        for s in rows:
            t.add_row(
                *(_terminal_value(v) for v in _values(s)),
                *_cells(s, table.ece is not None, _marks(table)),
            )
        if not rows:
            out.append(title + ": none.\n")
        else:
            out.append(t)
    return out


def _terminal_value(value: object) -> Text:
    from rich.text import Text

    text = value_text(value)
    return Text(MISSING, style="dim") if text is None else terminal(short(text))


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
            cells = _cells(s, table.ece is not None, _marks(table))
            lines.append("| " + " | ".join(values + cells) + " |")
        lines.append("")
    return lines


def _markdown_value(value: object) -> str:
    text = value_text(value)
    return f"*{md(MISSING)}*" if text is None else md(short(text))


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


# -- compare ---------------------------------------------------------------------------


def correction_text(c: SliceComparison) -> str:
    """How the verdicts were corrected for the number of slices, and the levels used.

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> text = correction_text(S(n_tests=4, alpha=0.05, interval_level=0.9875))
    >>> text[:56]
    "Verdicts: Holm's step-down over 4 ranked slices, family-"
    >>> text[text.index("Bonferroni"):][:28]
    'Bonferroni level 98.75% (Hol'
    """
    m = c.n_tests
    if m == 0:
        return "No slice has enough rows to be tested."
    return (
        f"Verdicts: Holm's step-down over {m:,} ranked slices, family-wise error "
        f"{c.alpha:g} (the smallest p-value is tested at {c.alpha / m:.3g} = {c.alpha:g}/{m}); "
        f"intervals at the Bonferroni level {100 * c.interval_level:.4g}% (Holm may find a "
        "slice worse or better whose interval still reaches 0)."
    )


def _signed(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def _delta_cells(s: SliceDelta, digits: int = 4) -> list[str]:
    """A compared slice's cells; the terminal's are narrower (3 decimals) to fit 80 columns."""
    interval = "-"
    if s.ci_low is not None and s.ci_high is not None:
        between = ".." if digits < 4 else " to "
        interval = f"{_signed(s.ci_low, digits)}{between}{_signed(s.ci_high, digits)}"
    return [
        f"{s.n_samples:,}",
        fmt_number(s.baseline_mean_loss, digits),
        fmt_number(s.candidate_mean_loss, digits),
        _signed(s.delta, digits),
        interval,
        "-" if s.p_holm is None else f"{s.p_holm:.{digits - 1}g}",
        s.verdict.replace("_", " "),
    ]


_DELTA_HEADER = ["rows", "baseline", "candidate", "delta", "CI", "p (Holm)", "verdict"]
_NARROW_HEADER = ["rows", "base", "cand", "delta", "CI", "p Holm", "verdict"]


def _extra_header(c: SliceComparison) -> list[str]:
    """The columns ``--ignore-label`` and ``--top-k`` add: rows ignored, top-k change in pts."""
    header = [] if c.n_ignored is None else ["ignored"]
    if c.top_k is not None:
        header.append(f"top-{c.top_k} pts")
    return header


def _extra_cells(c: SliceComparison, s: SliceDelta) -> list[str]:
    cells = [] if c.n_ignored is None else [f"{s.n_ignored or 0:,}"]
    if c.top_k is not None:
        d = s.delta_top_k_accuracy
        cells.append("-" if d is None else f"{d * 100:+.2f}")
    return cells


def _compare_title(c: SliceComparison, top: int, name: Callable[[str], str] = str) -> str:
    by = ", ".join(name(str(s)) for s in c.specs)
    shown = c.n_ranked if top == 0 else min(top, c.n_ranked)
    return (
        f"Slices by {by}, largest increase first: {shown} of {c.n_ranked:,} ranked "
        f"(>= {c.min_rows} rows; {len(c) - c.n_ranked:,} with fewer not ranked)"
    )


def compare_rich_tables(report: CompareReport) -> list[Table | str]:
    """A comparison's slices for a terminal: the ranked ones, largest increase first."""
    from rich import box
    from rich.table import Table

    c = report.slices
    if c is None:
        return []
    t = Table(
        box=box.SIMPLE_HEAD, title=terminal(_compare_title(c, report.top)), title_justify="left"
    )
    for spec in c.specs:
        t.add_column(terminal(spec.column), overflow="fold")
    for name in _NARROW_HEADER:
        wide = name in ("CI", "verdict")  # a cut interval or verdict misleads: never folded
        t.add_column(name, justify="left" if wide else "right", no_wrap=wide)
    rows = c.worst(report.top)
    for s in rows:
        t.add_row(*(_terminal_value(v) for v in _values(s)), *_delta_cells(s, 3))
    parts: list[Table | str] = [t if rows else "No slice has enough rows to be ranked.\n"]
    if rows and (c.n_ignored is not None or c.top_k is not None):
        parts.append(_extra_table(c, rows))
    return [*parts, correction_text(c) + "\n"]


def _extra_table(c: SliceComparison, rows: list[SliceDelta]) -> Table:
    """The same slices' rows ignored and top-k accuracies: a table of its own, to fit 80 columns."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD)
    for spec in c.specs:
        t.add_column(terminal(spec.column), overflow="fold")
    if c.n_ignored is not None:
        t.add_column("rows ignored", justify="right")
    if c.top_k is not None:
        for name in ("baseline", "candidate", "difference"):
            t.add_column(f"top-{c.top_k} {name}" if name != "difference" else name, justify="right")
    for s in rows:
        cells = [] if c.n_ignored is None else [f"{s.n_ignored or 0:,}"]
        if c.top_k is not None:
            b, k, d = s.baseline_top_k_accuracy, s.candidate_top_k_accuracy, s.delta_top_k_accuracy
            cells += ["-" if x is None else f"{x:.2%}" for x in (b, k)]
            cells.append("-" if d is None else f"{d * 100:+.2f} pts")
        t.add_row(*(_terminal_value(v) for v in _values(s)), *cells)
    return t


def compare_markdown_lines(report: CompareReport) -> list[str]:
    """A comparison's slices as a markdown table, and how they were corrected."""
    c = report.slices
    if c is None:
        return []
    lines = [f"#### {_compare_title(c, report.top, md)}", ""]
    rows = c.worst(report.top)
    if rows:
        extra = _extra_header(c)
        header = [md(s.column) for s in c.specs] + _DELTA_HEADER + extra
        right = {len(c.specs) + i for i in (0, 1, 2, 3, 5)}
        right |= set(range(len(header) - len(extra), len(header)))
        lines.append("| " + " | ".join(header) + " |")
        rule = ("---:" if i in right else "---" for i in range(len(header)))
        lines.append("|" + "|".join(rule) + "|")
        for s in rows:
            values = [_markdown_value(v) for v in _values(s)]
            lines.append("| " + " | ".join(values + _delta_cells(s) + _extra_cells(c, s)) + " |")
        lines.append("")
    return [*lines, correction_text(c), ""]


#: The columns of a compared slice's CSV row, after the --by columns.
COMPARE_CSV_COLUMNS = (
    "n_samples",
    "baseline_mean_loss",
    "candidate_mean_loss",
    "delta_mean_loss",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "verdict",
    "ranked",
)


def write_compare_csv(c: SliceComparison, out: TextIO) -> None:
    """One header line, then one row per compared slice (ranked first).

    ``--ignore-label`` adds ``n_ignored``; ``--top-k`` both models' top-k
    accuracy and the difference.
    """
    writer = csv.writer(out, lineterminator="\n")
    extra = [] if c.n_ignored is None else ["n_ignored"]
    if c.top_k is not None:
        extra += [f"{side}_top_k_accuracy" for side in ("baseline", "candidate", "delta")]
    header = [spreadsheet(s.column) for s in c.specs] + list(COMPARE_CSV_COLUMNS) + extra
    writer.writerow(header)
    for s in c.rows():
        values = ["" if (t := value_text(v)) is None else spreadsheet(t) for v in _values(s)]
        numbers = [
            s.n_samples,
            s.baseline_mean_loss,
            s.candidate_mean_loss,
            s.delta,
            s.ci_low,
            s.ci_high,
            s.p_value,
            s.p_holm,
            s.verdict,
            "true" if s.ranked else "false",
        ]
        if c.n_ignored is not None:
            numbers.append(s.n_ignored)
        if c.top_k is not None:
            numbers += [
                s.baseline_top_k_accuracy,
                s.candidate_top_k_accuracy,
                s.delta_top_k_accuracy,
            ]
        writer.writerow(values + ["" if x is None else _number(x) for x in numbers])
