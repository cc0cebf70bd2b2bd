"""The slices (``--by``) of a score or compare report's page.

As the table and markdown show them: the worst ``--top`` ranked slices,
then (score) those with too few rows to rank; JSON and CSV list them all.
A slice's values are data, escaped; a missing one shows as ``(missing)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from cecli.render.html._markup import Cell, Column, end_section, missing, num, paragraph, section
from cecli.render.html._markup import table as write_table
from cecli.render.slices import (
    MARK_HEADERS,
    _compare_title,
    _marks,
    _titles,
    _values,
    correction_text,
    short,
    value_text,
)
from cecli.report.format import fmt_number

if TYPE_CHECKING:
    from cecli.report import CompareReport, Report


def _value(value: object) -> Cell:
    shown = value_text(value)
    return Cell(missing()) if shown is None else Cell(short(shown))


def _signed(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def score_slices(out: TextIO, report: Report) -> None:
    """The ranked slices, worst first, then those with too few rows to rank."""
    table = report.slices
    if table is None:
        return
    section(out, "slices", "Slices")
    ranked, unranked = _titles(table, report.top)
    marks = _marks(table)
    calibration = table.ece is not None
    columns = [Column(spec.column) for spec in table.specs]
    columns += [Column("rows", True), Column("mean loss", True), Column(f"{table.level:.0%} CI")]
    columns += [Column("accuracy", True), Column("flagged", True)]
    columns += [Column(MARK_HEADERS[m], True) for m in marks]
    columns += [Column("ECE", True)] if calibration else []
    loss = len(table.specs) + 1

    def cells(rows: list[Any]) -> list[list[Any]]:
        out_rows = []
        for s in rows:
            interval = "-"
            if s.ci_low is not None and s.ci_high is not None:
                interval = f"{fmt_number(s.ci_low)} to {fmt_number(s.ci_high)}"
            row: list[Any] = [_value(v) for v in _values(s)]
            row += [num(f"{s.n_samples:,}", s.n_samples), num(fmt_number(s.mean_loss), s.mean_loss)]
            row += [interval, num(f"{s.accuracy:.1%}", s.accuracy)]
            row.append(num(f"{s.flagged_count:,}", s.flagged_count))
            row += [num(f"{s.marks.get(m, 0):,}", s.marks.get(m, 0)) for m in marks]
            if calibration:
                row.append(num(fmt_number(s.ece), s.ece))
            out_rows.append(row)
        return out_rows

    worst = table.worst(report.top)
    if worst:
        rows = cells(worst)
        write_table(out, "slices", ranked, columns, rows, sorted_by=(loss, "descending"))
    else:
        out.write(paragraph(f"{ranked}: none."))
    rest = table.unranked(report.top)
    if rest:
        write_table(out, "slices_unranked", unranked, columns, cells(rest))
    end_section(out)


def compare_slices(out: TextIO, report: CompareReport) -> None:
    """A comparison's ranked slices, largest increase first, and how they were corrected."""
    c = report.slices
    if c is None:
        return
    section(out, "slices", "Slices")
    columns = [Column(spec.column) for spec in c.specs]
    columns += [Column(n, True) for n in ("rows", "baseline", "candidate", "difference")]
    columns += [Column("interval"), Column("p (Holm)", True), Column("verdict")]
    if c.n_ignored is not None:
        columns.append(Column("ignored", True))
    if c.top_k is not None:
        columns.append(Column(f"top-{c.top_k} pts", True))
    rows = []
    for s in c.worst(report.top):
        interval = "-"
        if s.ci_low is not None and s.ci_high is not None:
            interval = f"{_signed(s.ci_low)} to {_signed(s.ci_high)}"
        row: list[Any] = [_value(v) for v in _values(s)]
        row += [
            num(f"{s.n_samples:,}", s.n_samples),
            num(fmt_number(s.baseline_mean_loss), s.baseline_mean_loss),
            num(fmt_number(s.candidate_mean_loss), s.candidate_mean_loss),
            num(_signed(s.delta), s.delta),
            interval,
            num("-" if s.p_holm is None else f"{s.p_holm:.3g}", s.p_holm),
            s.verdict.replace("_", " "),
        ]
        if c.n_ignored is not None:
            row.append(num(f"{s.n_ignored or 0:,}", s.n_ignored or 0))
        if c.top_k is not None:
            d = s.delta_top_k_accuracy
            row.append(num("-" if d is None else f"{d * 100:+.2f}", d))
        rows.append(row)
    title = _compare_title(c, report.top)
    if rows:
        delta = len(c.specs) + 3
        write_table(out, "slices", title, columns, rows, sorted_by=(delta, "descending"))
    else:
        out.write(paragraph("No slice has enough rows to be ranked."))
    out.write(paragraph(correction_text(c), "muted"))
    end_section(out)
