"""The report for a person at a terminal: rich tables, readable at 80 columns.

rich decides colour from the terminal: none when standard output is not a
terminal, none when NO_COLOR is set. Text from the data goes in as
:func:`cecli.render.escape.terminal`, so it shows as written and never acts;
no line ends in padding, and the report ends with one newline.
"""

from __future__ import annotations

from typing import TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.segment import Segment, SegmentLines
from rich.table import Table

from cecli.accumulate import RowFacts
from cecli.render._show_cells import add_columns, fitted, terminal_cells
from cecli.render.escape import terminal
from cecli.report import BINNED, CompareReport, Report, credit_name, fmt_gap, fmt_number
from cecli.report.format import columns_text, ignored_text, weighting_text


def _shards(files: dict, role: str) -> str:
    """`` (12 files)`` after a folder or a pattern; nothing after one file."""
    shards = files.get(f"{role}_shards")
    return "" if shards is None else f" ({len(shards):,} {'file' if len(shards) == 1 else 'files'})"


def _summary(report: Report) -> Table:
    s = report.summary
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="cecli score", title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    files = report.inputs
    table.add_row("predictions", terminal(files.get("predictions")) + _shards(files, "prediction"))
    if files.get("labels") != files.get("predictions"):
        table.add_row("labels", terminal(files.get("labels")) + _shards(files, "label"))
    table.add_row("kind", f"{s.kind}, from {'logits' if s.from_logits else 'probabilities'}")
    columns = columns_text(files.get("prediction_columns") or [], 6)
    if columns is not None:
        table.add_row("columns", terminal(columns))
    ignored = files.get("ignored_columns") or []
    if ignored:
        parts = [f"{c['column']} ({c['reason']})" for c in ignored[:6]]
        more = f", ... ({len(ignored):,} in all)" if len(ignored) > 6 else ""
        table.add_row("left out", terminal(", ".join(parts) + more))
    table.add_row("samples", f"{s.n_samples:,}")
    ignored = report.ignored_dict()
    if ignored:
        table.add_row("ignored", terminal(ignored_text(s, ignored["ignore_label"])))
    table.add_row("classes" if s.kind != "multilabel" else "labels", str(s.n_classes))
    table.add_row(
        f"mean loss ({s.unit})", f"{fmt_number(s.mean_loss, 6)}   {report.interval_text()}"
    )
    note = report.interval_note()
    if note is not None:
        table.add_row("", f"[yellow]{escape(note)}[/]")
    table.add_row(f"sum loss ({s.unit})", fmt_number(s.sum_loss, 4))
    table.add_row("perplexity", fmt_number(s.perplexity, 4))
    table.add_row("accuracy", f"{s.accuracy:.2%}")
    if s.top_k is not None and s.top_k_accuracy is not None:
        table.add_row(f"top-{s.top_k} accuracy", f"{s.top_k_accuracy:.2%}")
    table.add_row("clipped", f"{s.clipped:,} values" if s.clipped else "none")
    weights = report.weights()
    if weights is not None:
        table.add_row("weighting", terminal(weighting_text(weights, quote=True)))
    if s.label_smoothing:
        table.add_row("label smoothing", f"{s.label_smoothing:g}")
    if s.focal_gamma:
        table.add_row("focal gamma", f"{s.focal_gamma:g}")
    for name, value in (("focal alpha", s.focal_alpha), ("positive weight", s.pos_weight)):
        if value is not None:
            shown = [value] if isinstance(value, float) else value
            table.add_row(name, ", ".join(f"{v:g}" for v in shown))
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
            terminal(c["class"]),
            f"{c['count']:,}",
            fmt_number(c["mean_loss"]),
            accuracy,
            str(c["flagged"]),
        )
    return table


def _rows(report: Report, rows: tuple[RowFacts, ...], title: str) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("id" if report.ids else "row", overflow="fold")
    table.add_column("label")
    table.add_column("predicted")
    table.add_column("confidence", justify="right")
    table.add_column("p_true", justify="right")
    table.add_column("loss", justify="right")
    ranked = report.summary.top_k is not None
    if ranked:
        table.add_column("rank", justify="right")
    add_columns(table, report.show)
    for r in report.shown(rows):
        d = report.row_dict(r)
        table.add_row(
            terminal(d["id"] if d["id"] is not None else d["row"]),
            terminal(d["label"]),
            terminal(d["predicted"]),
            fmt_number(d["confidence"]),
            fmt_number(d["p_true"]),
            fmt_number(d["loss"]),
            *([str(d["rank"])] if ranked else []),
            *terminal_cells(report.show, r.row),
        )
    return fitted(table, report.show)


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
        percent = f"{count / total:.0%}"
        if 0 < count < total / 200:
            percent = "<1%"
        elif total - total / 200 < count < total:
            percent = ">99%"
        bar = _bar(count / peak, 30) or ("▏" if count else "")  # a row or two still shows
        table.add_row(label, f"{count:,} ({percent})", f"[cyan]{bar}[/]")
        lower = edge if edge is not None else lower
    return table


def _calibration(report: Report) -> Table | None:
    c, t = report.calibration, report.temperature
    if c is None:
        return None
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="Calibration", title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("binned", f"{BINNED[c.kind]}, {c.n_bins} equal-width bins")
    table.add_row("ECE", f"{c.ece:.4f} (expected calibration error; 0 is calibrated)")
    table.add_row("MCE", f"{c.mce:.4f} (the largest gap of a bin)")
    table.add_row("RMS CE", f"{c.rms_calibration_error:.4f} (root-mean-square gap of the bins)")
    if c.kind != "binary":  # a binary one is the ECE
        every = "class's" if c.kind == "categorical" else "label's"
        table.add_row("classwise ECE", f"{c.classwise_ece:.4f} (every {every} probability binned)")
    within = f"; within {c.adaptive_ece_bound:.4f} of exact" if c.adaptive_ece_bound >= 5e-5 else ""
    table.add_row("adaptive ECE", f"{c.adaptive_ece:.4f} ({c.n_bins} equal-mass bins{within})")
    over = c.mean_confidence - c.accuracy
    if c.kind == "categorical":
        lean = "over-confident" if over > 0 else "under-confident" if over < 0 else "calibrated"
        table.add_row(
            "mean confidence",
            f"{c.mean_confidence:.4f} vs {credit_name(c)} {c.accuracy:.4f}: {abs(over):.4f} {lean}",
        )
    else:
        lean = "too high" if over > 0 else "too low" if over < 0 else "even"
        table.add_row(
            "mean p",
            f"{c.mean_confidence:.4f} vs {c.accuracy:.4f} positive: {abs(over):.4f} {lean}",
        )
    table.add_row("Brier", f"{c.brier:.4f}")
    d = c.brier_decomposition
    table.add_row(
        " reliability", f"{d.reliability:.4f} (binned p against outcomes; 0 is calibrated)"
    )
    table.add_row(" resolution", f"{d.resolution:.4f} (bins' outcomes against the base rate)")
    table.add_row(" uncertainty", f"{d.uncertainty:.4f} (the outcomes' variance)")
    table.add_row(
        " within bins", f"{d.within_bins:+.4f} (what binning the probabilities leaves out)"
    )
    table.add_row(f"entropy ({c.unit})", f"{c.entropy:.4f} mean, of the predictions")
    if c.kl_divergence is not None:
        table.add_row(
            f"split ({c.unit})",
            f"cross-entropy {c.cross_entropy:.4f} = H(targets) {c.target_entropy:.4f} "
            f"+ KL {c.kl_divergence:.4f}",
        )
    if t is not None:
        n = report.summary.n_samples
        rows = (
            f"all {n:,} rows" if t.n_samples == n else f"a sample of {t.n_samples:,} of {n:,} rows"
        )
        bound = " (a bound of the search)" if t.at_bound else ""
        table.add_row("temperature", f"{t.temperature:.4f}{bound}, fitted on {rows}")
        on = "" if t.n_samples == n else ", on the sample"
        table.add_row(
            f"at T = {t.temperature:.3g}",
            f"cross-entropy {t.loss_before:.4f} -> {t.loss:.4f} {t.unit}, ECE "
            f"{t.ece_before:.4f} -> {t.ece:.4f}{on}",
        )
    return table


def _gap_bar(accuracy: float, confidence: float, width: int) -> str:
    """█ up to the lower of the two, then the gap: ░ (over-confident) or ▓ (under-confident)."""
    low, high = sorted((accuracy, confidence))
    solid = round(max(0.0, min(1.0, low)) * width)
    gap = round(max(0.0, min(1.0, high)) * width) - solid
    if confidence > accuracy:
        return f"[cyan]{'█' * solid}[/][red]{'░' * gap}[/]"
    return f"[cyan]{'█' * solid}[/][blue]{'▓' * gap}[/]"


def _reliability(report: Report) -> Table | None:
    c = report.calibration
    if c is None:
        return None
    shape = "equal-mass" if report.binning == "adaptive" else "equal-width"
    bins = report.reliability_bins()
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"Reliability, {shape} bins (empty ones left out)",
        title_justify="left",
    )
    credit = "accuracy" if c.kind == "categorical" else "positive"
    table.add_column("bin")
    table.add_column("count", justify="right")
    table.add_column("confidence" if c.kind == "categorical" else "mean p", justify="right")
    table.add_column(credit, justify="right")
    table.add_column("gap", justify="right")
    table.add_column("", min_width=20)
    for b in bins:
        if b.confidence is None or b.accuracy is None:
            continue  # an empty bin
        interval = f"{b.lower:.3f} - {b.upper:.3f}"
        table.add_row(
            interval,
            f"{b.count:,}",
            f"{b.confidence:.3f}",
            f"{b.accuracy:.3f}",
            fmt_gap(b.gap),
            _gap_bar(b.accuracy, b.confidence, 20),
        )
    if c.kind == "categorical":
        legend = "over-confident: █ accuracy + ░ gap; under-confident: █ confidence + ▓ gap"
    else:
        legend = "p too high: █ fraction positive + ░ gap; too low: █ mean p + ▓ gap"
    table.caption = legend
    table.caption_justify = "left"
    return table


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit with status 1; the caller decides (a gate may have failed)
        self.quiet = True
        raise BrokenPipeError


def _blank(segment: Segment) -> bool:
    """Whether the spaces of ``segment`` show nothing (no background, no underline)."""
    style = segment.style
    shows = style is not None and bool(
        style.bgcolor or style.underline or style.reverse or style.strike or style.overline
    )
    return not segment.control and not shows


def _rstrip(line: list[Segment]) -> list[Segment]:
    """``line`` without the spaces that pad it on the right (a table pads every cell)."""
    line = list(line)
    while line and _blank(line[-1]) and not line[-1].text.rstrip(" "):
        line.pop()
    if line and _blank(line[-1]):
        last = line[-1]
        line[-1] = Segment(last.text.rstrip(" "), last.style)
    return line


def _print(console: Console, parts: list[RenderableType]) -> None:
    """Print ``parts`` with no trailing spaces on a line and no blank lines at the end."""
    lines: list[list[Segment]] = []
    for part in parts:
        lines += [_rstrip(line) for line in console.render_lines(part, pad=False)]
    while lines and not lines[-1]:
        lines.pop()
    console.print(SegmentLines(lines, new_lines=True), end="")


def render(report: Report | CompareReport, out: TextIO) -> None:
    console = _Console(file=out, width=min(100, max(80, Console(file=out).width)), emoji=False)
    if isinstance(report, CompareReport):
        from cecli.render._compare_table import compare_parts

        _print(console, compare_parts(report))
        return
    s = report.summary
    parts: list[RenderableType] = [_summary(report), _per_class(report)]
    shown = len(report.shown(s.flagged))
    if s.flagged_count:
        title = f"Confidently wrong: {shown} of {s.flagged_count:,}, worst first"
        parts.append(_rows(report, s.flagged, title))
    else:
        parts.append(f"No confidently wrong rows (confidence >= {s.threshold:g}).\n")
    title = f"Highest loss: {len(report.shown(s.worst))} of {s.n_samples:,} rows"
    parts.append(_rows(report, s.worst, title))
    if report.label_issues is not None:
        from cecli.render.label_issues import table_parts

        parts += table_parts(report.label_issues, s.n_samples, console.width)
    for table in (_histogram(report), _calibration(report), _reliability(report), _el2n(report)):
        if table is not None:
            parts.append(table)
    if report.slices is not None:
        from cecli.render.slices import rich_tables

        parts += rich_tables(report)
    parts += _gates(report)
    _print(console, parts)


def _el2n(report: Report) -> Table | None:
    """``--el2n``: the distribution of the rows' gradient norms ``||p - t||``."""
    e = report.el2n
    if e is None:
        return None
    title = f"How hard the rows are: EL2N = ||p - t||, from 0 to {e.upper:.4g}"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for name in ("mean", *(f"p{round(q * 100)}" for q in e.quantiles), "max"):
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.4f}" for v in (e.mean, *e.quantiles.values(), e.max)))
    return table


def _gates(report: Report | CompareReport) -> list[RenderableType]:
    lines: list[RenderableType] = []
    for gate in report.gates:
        verdict = "[green]passed[/]" if gate.passed else "[bold red]FAILED[/]"
        if not gate.evaluated:
            verdict = "[yellow]not evaluated[/]"
        lines.append(f"gate {verdict}  {escape(gate.describe())}")
    return lines
