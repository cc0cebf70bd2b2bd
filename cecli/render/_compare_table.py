"""``cecli compare``'s report for a person at a terminal (see :mod:`cecli.render.table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from cecli.render._show_cells import add_columns, fitted, terminal_cells
from cecli.render.escape import terminal
from cecli.render.table import _gates
from cecli.report import CompareReport, fmt_number
from cecli.report.compare import calibration_rows, top_k_row
from cecli.report.format import ignored_text

if TYPE_CHECKING:
    from cecli.compare import RowPair

_VERDICT_STYLE = {
    "better": "bold green",
    "worse": "bold red",
    "no_difference": "bold",
    "insufficient_data": "bold yellow",
}


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + fmt_number(value, digits)


def _compare_files(report: CompareReport) -> Table:
    b, k, c = report.baseline, report.candidate, report.comparison
    table = Table(
        box=box.SIMPLE_HEAD, show_header=False, title="cecli compare", title_justify="left"
    )
    table.add_column("what", style="bold")
    table.add_column("value")
    files = report.inputs
    table.add_row("baseline", terminal(files.get("baseline")))
    table.add_row("candidate", terminal(files.get("candidate")))
    if files.get("labels"):
        table.add_row("labels", terminal(files["labels"]))
    inputs = {"logits" if s.from_logits else "probabilities" for s in (b, k)}
    given = (
        f"from {inputs.pop()}"
        if len(inputs) == 1
        else f"baseline from {'logits' if b.from_logits else 'probabilities'}, candidate from "
        f"{'logits' if k.from_logits else 'probabilities'}"
    )
    table.add_row("kind", f"{report.kind}, {given}")
    table.add_row("samples", f"{c.n_samples:,}, paired")
    ignored = report.ignored_dict()
    if ignored:
        table.add_row("ignored", terminal(ignored_text(report, ignored["ignore_label"])))
    return table


def _compare_summary(report: CompareReport) -> Table:
    b, k, c = report.baseline, report.candidate, report.comparison
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("candidate", justify="right")
    table.add_column("difference", justify="right")
    table.add_column(f"{c.confidence:.0%} interval", justify="right")
    table.add_row(
        f"mean loss ({report.unit})",
        fmt_number(b.mean_loss, 6),
        fmt_number(k.mean_loss, 6),
        _signed(c.delta_mean_loss, 6),
        "not estimated" if c.insufficient else f"{_signed(c.ci_low)} to {_signed(c.ci_high)}",
    )
    table.add_row(
        "accuracy",
        f"{b.accuracy:.2%}",
        f"{k.accuracy:.2%}",
        f"{'+' if c.delta_accuracy > 0 else ''}{c.delta_accuracy * 100:.2f} pts",
        report.accuracy_interval_text(),
    )
    top_k = top_k_row(report)
    if top_k is not None:
        table.add_row(*top_k, "not estimated")
    table.add_row("flagged", f"{b.flagged_count:,}", f"{k.flagged_count:,}", "", "")
    for name, *cells in calibration_rows(report):
        table.add_row(name, *cells)
    if b.clipped or k.clipped:
        table.add_row("clipped", f"{b.clipped:,}", f"{k.clipped:,}", "", "")
    return table


def _compare_facts(report: CompareReport) -> Table:
    c = report.comparison
    boot = c.bootstrap
    table = Table(box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    style = _VERDICT_STYLE[c.verdict]
    table.add_row("verdict", f"[{style}]{escape(report.verdict_sentence())}[/]")
    if not c.insufficient:
        table.add_row(
            "p_better",
            f"{c.p_better:.4f}: the candidate was better in {c.p_better:.2%} of resamples",
        )
    table.add_row(
        "rows",
        f"the candidate's loss is lower on {c.rows_better:.1%} of rows, higher on "
        f"{c.rows_worse:.1%}",
    )
    seed = "random" if boot.seed is None else str(boot.seed)
    table.add_row(
        "bootstrap", f"{boot.n_resamples:,} paired resamples, {boot.method} interval, seed {seed}"
    )
    return table


def _compare_classes(report: CompareReport) -> Table:
    title = "Per label" if report.kind == "multilabel" else "Per class"
    table = Table(
        box=box.SIMPLE_HEAD, title=f"{title}, largest increase first", title_justify="left"
    )
    table.add_column("label" if report.kind == "multilabel" else "class")
    table.add_column("count", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("candidate", justify="right")
    table.add_column("difference", justify="right")
    for row in report.per_class():
        delta = row["delta"]
        shown = _signed(delta)
        if delta is not None and delta > 0:
            shown = f"[red]{shown}[/]"
        table.add_row(
            terminal(row["class"]),
            f"{row['count']:,}",
            fmt_number(row["baseline_mean_loss"]),
            fmt_number(row["candidate_mean_loss"]),
            shown,
        )
    return table


def _pairs(report: CompareReport, pairs: tuple[RowPair, ...], title: str) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("id" if report.ids else "row", overflow="fold")
    table.add_column("label")
    table.add_column("baseline", justify="right")
    table.add_column("candidate", justify="right")
    table.add_column("loss, baseline -> candidate", justify="right")
    add_columns(table, report.show)
    for pair in pairs:
        d = report.pair_dict(pair)
        table.add_row(
            terminal(d["id"] if d["id"] is not None else d["row"]),
            terminal(d["label"]),
            terminal(f"{d['baseline_predicted']} ({fmt_number(d['baseline_confidence'], 2)})"),
            terminal(f"{d['candidate_predicted']} ({fmt_number(d['candidate_confidence'], 2)})"),
            f"{fmt_number(d['baseline_loss'], 3)} -> {fmt_number(d['candidate_loss'], 3)}",
            *terminal_cells(report.show, pair.row),
        )
    return fitted(table, report.show)


def compare_parts(report: CompareReport) -> list[RenderableType]:
    """The tables of a comparison, in the order a person reads them."""
    c = report.comparison
    parts: list[RenderableType] = [
        _compare_files(report),
        _compare_summary(report),
        _compare_facts(report),
        _compare_classes(report),
    ]
    threshold = f"{report.baseline.threshold:g}"
    for pairs, count, what in (
        (c.regressions, c.regression_count, "Regressions: candidate confidently wrong"),
        (c.fixed, c.fixed_count, "Fixed: baseline confidently wrong"),
    ):
        other = "baseline" if what.startswith("Regressions") else "candidate"
        if count:
            title = f"{what}, {other} right: {len(pairs)} of {count:,}, largest change first"
            parts.append(_pairs(report, pairs, title))
        else:
            parts.append(f"{what}, {other} right: none.\n")
    if report.slices is not None:
        from cecli.render.slices import compare_rich_tables

        parts += compare_rich_tables(report)
    if c.largest_increases:
        title = f"Largest loss increases, right or wrong: {len(c.largest_increases)}"
        parts.append(_pairs(report, c.largest_increases, title))
    parts.append(
        f"Confidently wrong: wrong with confidence >= {threshold}. Losses in {report.unit}.\n"
    )
    return parts + _gates(report)
