"""The report for a person at a terminal: rich tables, readable at 80 columns.

rich decides colour from the terminal: none when standard output is not a
terminal, none when NO_COLOR is set.
"""

from __future__ import annotations

from typing import TextIO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cecli.accumulate import RowFacts
from cecli.report import Report, fmt_number


def _summary(report: Report) -> Table:
    s = report.summary
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="cecli score", title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    files = report.inputs
    table.add_row("predictions", escape(str(files.get("predictions"))))
    if files.get("labels") != files.get("predictions"):
        table.add_row("labels", escape(str(files.get("labels"))))
    table.add_row("kind", f"{s.kind}, from {'logits' if s.from_logits else 'probabilities'}")
    table.add_row("samples", f"{s.n_samples:,}")
    table.add_row("classes" if s.kind != "multilabel" else "labels", str(s.n_classes))
    table.add_row(f"mean loss ({s.unit})", fmt_number(s.mean_loss, 6))
    table.add_row(f"sum loss ({s.unit})", fmt_number(s.sum_loss, 4))
    table.add_row("perplexity", fmt_number(s.perplexity, 4))
    table.add_row("accuracy", f"{s.accuracy:.2%}")
    table.add_row("clipped", f"{s.clipped:,} values" if s.clipped else "none")
    weights = report.weights()
    if weights is not None:
        parts = []
        if weights["class_weights"]:
            parts.append(f"class weights ({weights['class_weights']})")
        if weights["sample_weights"]:
            parts.append(escape(f"sample weights (column {weights['sample_weights']!r})"))
        table.add_row("weighting", " x ".join(parts))
    if s.label_smoothing:
        table.add_row("label smoothing", f"{s.label_smoothing:g}")
    if s.focal_gamma:
        table.add_row("focal gamma", f"{s.focal_gamma:g}")
    flagged = f"{s.flagged_count:,} (wrong with confidence >= {s.threshold:g})"
    table.add_row("flagged", f"[bold red]{flagged}[/]" if s.flagged_count else flagged)
    return table


def _per_class(report: Report) -> Table:
    s = report.summary
    title = "Per label" if s.kind == "multilabel" else "Per class, worst first"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("label" if s.kind == "multilabel" else "class")
    table.add_column("count", justify="right")
    table.add_column("mean loss", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("flagged", justify="right")
    rows = sorted(report.per_class(), key=lambda c: -(c["mean_loss"] or 0.0))
    for c in rows:
        accuracy = "-" if c["accuracy"] is None else f"{c['accuracy']:.1%}"
        table.add_row(
            escape(str(c["class"])),
            f"{c['count']:,}",
            fmt_number(c["mean_loss"]),
            accuracy,
            str(c["flagged"]),
        )
    return table


def _rows(report: Report, rows: tuple[RowFacts, ...], title: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("id" if report.ids else "row", overflow="fold")
    table.add_column("label")
    table.add_column("predicted")
    table.add_column("confidence", justify="right")
    table.add_column("p_true", justify="right")
    table.add_column("loss", justify="right")
    for r in report.shown(rows):
        d = report.row_dict(r)
        table.add_row(
            escape(str(d["id"] if d["id"] is not None else d["row"])),
            escape(str(d["label"])),
            escape(str(d["predicted"])),
            fmt_number(d["confidence"]),
            fmt_number(d["p_true"]),
            fmt_number(d["loss"]),
        )
    return table


_BLOCKS = " ▏▎▍▌▋▊▉█"


def _bar(fraction: float, width: int) -> str:
    """A bar of ``fraction * width`` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[part] if part else "")


def _histogram(report: Report) -> Table | None:
    if not report.histogram:
        return None
    unit = report.summary.unit
    table = Table(box=box.SIMPLE_HEAD, title=f"Per-sample loss ({unit})", title_justify="left")
    table.add_column("loss", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("", min_width=30)
    total = max(1, sum(report.histogram))
    peak = max(report.histogram) or 1
    lower = 0.0
    for edge, count in zip([*report.histogram_edges, None], report.histogram, strict=True):
        label = f"{lower:g} - {edge:.3g}" if edge is not None else f"> {lower:.3g}"
        share = f"{count:,} ({count / total:.0%})"
        table.add_row(label, share, f"[cyan]{_bar(count / peak, 30)}[/]")
        lower = edge if edge is not None else lower
    return table


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit with status 1; the caller decides (a gate may have failed)
        self.quiet = True
        raise BrokenPipeError


def render(report: Report, out: TextIO) -> None:
    console = _Console(file=out, width=min(100, max(80, Console(file=out).width)))
    s = report.summary
    console.print(_summary(report))
    console.print(_per_class(report))
    shown = len(report.shown(s.flagged))
    if s.flagged_count:
        title = f"Confidently wrong: {shown} of {s.flagged_count:,}, worst first"
        console.print(_rows(report, s.flagged, title))
    else:
        console.print(f"No confidently wrong rows (confidence >= {s.threshold:g}).\n")
    title = f"Highest loss: {len(report.shown(s.worst))} of {s.n_samples:,} rows"
    console.print(_rows(report, s.worst, title))
    histogram = _histogram(report)
    if histogram is not None:
        console.print(histogram)
    for gate in report.gates:
        verdict = "[green]passed[/]" if gate.passed else "[bold red]FAILED[/]"
        console.print(f"gate {verdict}  {gate.describe()}")
