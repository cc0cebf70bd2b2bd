"""The report as GitHub-flavoured markdown, for a pull request comment.

Every text from the data (ids, class names, labels, file names) goes through
:func:`cecli.render.escape.markdown`, so it shows as written and never acts:
no link, image, HTML, mention or table cell break.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cecli.kept import KeptRows, RowFacts
from cecli.render._show_cells import markdown_cells, markdown_header
from cecli.render.escape import markdown as md
from cecli.report import BINNED, CompareReport, Report, credit_name, fmt_gap, fmt_number
from cecli.report.compare import calibration_rows, top_k_row
from cecli.report.format import ignored_text

if TYPE_CHECKING:
    from cecli.calibration import BrierDecomposition


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    # cells are cecli's own text, or data escaped where it is put in
    return lines + _table_rows(rows)


class _Lines:
    """Lines written as they come, joined by newlines (no newline after the last)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = False

    def __iadd__(self, lines: list[str]) -> _Lines:
        if lines:
            self.out.write(("\n" if self.started else "") + "\n".join(lines))
            self.started = True
        return self


def render(report: Report | CompareReport, out: TextIO) -> None:
    if isinstance(report, CompareReport):
        _render_compare(report, out)
        return
    s, d = report.summary, report.to_dict(rows=False)
    lines = _Lines(out)
    lines += ["### cecli score", ""]
    summary = [
        ["kind", f"{s.kind}, from {d['input']}"],
        ["samples", f"{s.n_samples:,}"],
        *(
            [["ignored", ignored_text(s, md(d["ignore_label"]))]]
            if s.ignore_index is not None
            else []
        ),
        ["classes" if s.kind != "multilabel" else "labels", str(s.n_classes)],
        [f"mean loss ({s.unit})", f"{fmt_number(d['mean_loss'], 6)} ({_interval(report)})"],
        ["perplexity", fmt_number(d["perplexity"])],
        ["accuracy", f"{s.accuracy:.2%}"],
        *(
            [[f"top-{s.top_k} accuracy", f"{s.top_k_accuracy:.2%}"]]
            if s.top_k is not None and s.top_k_accuracy is not None
            else []
        ),
        ["clipped", str(s.clipped)],
        ["flagged", f"{s.flagged_count:,} (confidence >= {s.threshold:g})"],
    ]
    for gate in report.gates:
        summary.append(
            [f"gate {gate.name}", ("passed: " if gate.passed else "**FAILED**: ") + gate.describe()]
        )
    lines += [*_table(["", ""], summary, set()), ""]
    per_class = sorted(d["per_class"], key=lambda c: -(c["mean_loss"] or 0.0))
    class_rows = [
        [
            md(c["class"]),
            str(c["count"]),
            fmt_number(c["mean_loss"]),
            "-" if c["accuracy"] is None else f"{c['accuracy']:.1%}",
            str(c["flagged"]),
        ]
        for c in per_class
    ]
    header = ["class", "count", "mean loss", "accuracy", "flagged"]
    lines += ["#### Per class, worst first", "", *_table(header, class_rows, {1, 2, 3, 4}), ""]
    for key, title in (("flagged", "Confidently wrong"), ("worst", "Highest loss")):
        rows = report.shown(s.flagged if key == "flagged" else s.worst)
        total = s.flagged_count if key == "flagged" else s.n_samples
        lines += [f"#### {title}: {len(rows)} of {total:,}", ""]
        if len(rows):
            with_ids = _any_id(report, rows)
            ranked = s.top_k is not None
            header = ["row", *(["id"] if with_ids else []), "label", "predicted"]
            header += ["confidence", "p_true", "loss", *(["rank"] if ranked else [])]
            right = {0, *range(len(header) - 3 - ranked, len(header))}
            header += markdown_header(report.show)
            lines += _table(header, [], right)
            # with --top 0 there can be millions: a block of rows at a time
            for start in range(0, len(rows), _BLOCK_ROWS):
                block = rows[start : start + _BLOCK_ROWS]
                lines += _table_rows(
                    [
                        _row_cells(report.row_dict(r), with_ids)
                        + markdown_cells(report.show, r.row)
                        for r in block
                    ]
                )
        else:
            lines += ["None." if key == "flagged" else ""]
        lines += [""]
    if report.label_issues is not None:
        from cecli.render.label_issues import markdown_lines

        lines += markdown_lines(report.label_issues, s.n_samples)
    lines += _calibration(report)
    if report.slices is not None:
        from cecli.render.slices import markdown_lines

        lines += markdown_lines(report)
    lines += _el2n(report)


def _el2n(report: Report) -> list[str]:
    """``--el2n``: the distribution of the rows' gradient norms ``||p - t||``."""
    e = report.el2n
    if e is None:
        return []
    header = ["mean", *(f"p{round(q * 100)}" for q in e.quantiles), "max"]
    cells = [f"{v:.4f}" for v in (e.mean, *e.quantiles.values(), e.max)]
    title = f"#### How hard the rows are: EL2N = ‖p - t‖, from 0 to {e.upper:.4g}"
    return [title, "", *_table(header, [cells], set(range(len(header)))), ""]


#: Rows of a long table put in text per write.
_BLOCK_ROWS = 8192


def _interval(report: Report) -> str:
    """The mean loss's interval, and its note if any: cecli's own words, no data."""
    note = report.interval_note()
    return report.interval_text() + ("" if note is None else f"; {note}")


def _any_id(report: Report, rows: Sequence[RowFacts]) -> bool:
    ids = report.ids
    if not ids:
        return False
    numbers = rows.column("row").tolist() if isinstance(rows, KeptRows) else [r.row for r in rows]
    return any(ids.get(n) is not None for n in numbers)


def _row_cells(r: dict[str, Any], with_ids: bool) -> list[str]:
    return [
        str(r["row"]),
        *([md(r["id"] or "")] if with_ids else []),
        md(r["label"]),
        md(r["predicted"]),
        fmt_number(r["confidence"]),
        fmt_number(r["p_true"]),
        fmt_number(r["loss"]),
        *([str(r["rank"])] if "rank" in r else []),
    ]


def _table_rows(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(row) + " |" for row in rows]


def _brier_split(brier: float, d: BrierDecomposition) -> str:
    """The Brier score and its terms, which add up to it (``within bins``: what binning left out).

    ``0.0865 = reliability 0.0281 - resolution 0.8418 + uncertainty 0.8999, +0.0003 within bins``
    """
    return (
        f"{brier:.4f} = reliability {d.reliability:.4f} - resolution {d.resolution:.4f} "
        f"+ uncertainty {d.uncertainty:.4f}, {d.within_bins:+.4f} within bins"
    )


def _calibration(report: Report) -> list[str]:
    c, t = report.calibration, report.temperature
    if c is None:
        return []
    credit = credit_name(c)
    rows = [
        ["binned", f"{BINNED[c.kind]}, {c.n_bins} equal-width bins"],
        ["ECE", f"{c.ece:.4f}"],
        ["MCE", f"{c.mce:.4f}"],
        ["RMS calibration error", f"{c.rms_calibration_error:.4f}"],
        *([] if c.kind == "binary" else [["classwise ECE", f"{c.classwise_ece:.4f}"]]),
        ["adaptive ECE", f"{c.adaptive_ece:.4f}"],
        ["mean confidence", f"{c.mean_confidence:.4f} ({credit} {c.accuracy:.4f})"],
        ["Brier", _brier_split(c.brier, c.brier_decomposition)],
        [f"mean entropy ({c.unit})", f"{c.entropy:.4f}"],
    ]
    if c.kl_divergence is not None:
        rows.append(
            [f"target entropy + KL ({c.unit})", f"{c.target_entropy:.4f} + {c.kl_divergence:.4f}"]
        )
    if t is not None:
        n = report.summary.n_samples
        on = f"all {n:,} rows" if t.n_samples == n else f"a sample of {t.n_samples:,} of {n:,} rows"
        rows.append(["temperature", f"{t.temperature:.4f}, fitted on {on}"])
        rows.append(
            [
                f"at T = {t.temperature:.3g}",
                f"cross-entropy {t.loss_before:.4f} -> {t.loss:.4f}, ECE {t.ece_before:.4f} -> "
                f"{t.ece:.4f}" + ("" if t.n_samples == n else ", on the sample"),
            ]
        )
    lines = ["#### Calibration", "", *_table(["", ""], rows, set()), ""]
    shape = "equal-mass" if report.binning == "adaptive" else "equal-width"
    header = [
        "bin",
        "count",
        "mean confidence" if c.kind == "categorical" else "mean p",
        credit,
        "95% CI",
        "gap",
    ]
    bins = [
        [
            f"{b.lower:.3f} - {b.upper:.3f}",
            f"{b.count:,}",
            f"{b.confidence:.3f}",
            f"{b.accuracy:.3f}",
            _wilson_text(b.accuracy_ci_low, b.accuracy_ci_high),
            fmt_gap(b.gap),
        ]
        for b in report.reliability_bins()
        if b.confidence is not None and b.accuracy is not None
    ]
    lines += [f"#### Reliability, {shape} bins", "", *_table(header, bins, {1, 2, 3, 4, 5}), ""]
    return lines


def _wilson_text(low: float | None, high: float | None) -> str:
    """A bin's Wilson interval on its accuracy, or "-" when it has none."""
    return "-" if low is None or high is None else f"{low:.3f} to {high:.3f}"


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + fmt_number(value, digits)


def _render_compare(report: CompareReport, out: TextIO) -> None:
    b, k, c, d = report.baseline, report.candidate, report.comparison, report.to_dict()
    lines = ["### cecli compare", "", f"**Verdict: {report.verdict_sentence()}.**", ""]
    summary = [
        ["file", md(d["baseline"]["file"] or ""), md(d["candidate"]["file"] or ""), ""],
        [
            f"mean loss ({report.unit})",
            fmt_number(b.mean_loss, 6),
            fmt_number(k.mean_loss, 6),
            _signed(c.delta_mean_loss, 6),
        ],
        [
            f"{c.confidence:.0%} interval",
            "",
            "",
            "not estimated"
            if c.insufficient
            else f"{_signed(c.ci_low, 6)} to {_signed(c.ci_high, 6)}",
        ],
        [
            "accuracy",
            f"{b.accuracy:.2%}",
            f"{k.accuracy:.2%}",
            f"{'+' if c.delta_accuracy > 0 else ''}{c.delta_accuracy * 100:.2f} pts",
        ],
        [
            f"accuracy {c.confidence:.0%} interval",
            "",
            "",
            report.accuracy_interval_text(),
        ],
        ["flagged", f"{b.flagged_count:,}", f"{k.flagged_count:,}", ""],
    ]
    top_k = top_k_row(report)
    if top_k is not None:  # after the accuracy's interval
        summary.insert(5, list(top_k))
    for name, baseline, candidate, difference, interval in calibration_rows(report):
        summary += [
            [name, baseline, candidate, difference],
            [f"{name} {c.confidence:.0%} interval", "", "", interval],
        ]
    header = ["", "baseline", "candidate", "candidate - baseline"]
    lines += [*_table(header, summary, {1, 2, 3}), ""]
    boot = c.bootstrap
    ignored = report.ignored_dict()
    left_out = f"; {ignored_text(report, md(ignored['ignore_label']))} ignored" if ignored else ""
    lines += [
        f"{c.n_samples:,} paired samples ({report.kind}){left_out}; p_better "
        f"{'not estimated' if c.insufficient else f'{c.p_better:.3f}'}; the "
        f"candidate's loss is lower on {c.rows_better:.1%} of rows and higher on "
        f"{c.rows_worse:.1%}. Bootstrap: {boot.n_resamples:,} resamples, {boot.method} "
        f"interval, seed {boot.seed if boot.seed is not None else 'random'}.",
        "",
    ]
    for gate in report.gates:
        lines.append(
            f"- gate {gate.name}: "
            + (
                "not evaluated: "
                if not gate.evaluated
                else "passed: "
                if gate.passed
                else "**FAILED**: "
            )
            + gate.describe()
        )
    if report.gates:
        lines.append("")
    class_rows = [
        [
            md(row["class"]),
            f"{row['count']:,}",
            fmt_number(row["baseline_mean_loss"]),
            fmt_number(row["candidate_mean_loss"]),
            _signed(row["delta"]),
        ]
        for row in d["per_class"]
    ]
    title = "Per label" if report.kind == "multilabel" else "Per class"
    header = [title.split()[1], "count", "baseline", "candidate", "difference"]
    lines += [f"#### {title}, largest increase first", ""]
    lines += [*_table(header, class_rows, {1, 2, 3, 4}), ""]
    for key, count, title in (
        (
            "regressions",
            c.regression_count,
            "Regressions (candidate confidently wrong, baseline right)",
        ),
        ("fixed", c.fixed_count, "Fixed (baseline confidently wrong, candidate right)"),
        ("largest_increases", None, "Largest loss increases, right or wrong"),
    ):
        rows = d[key]
        lines += [f"#### {title}: {len(rows)}" + ("" if count is None else f" of {count:,}"), ""]
        if not rows:
            lines += ["None.", ""]
            continue
        with_ids = any(r["id"] is not None for r in rows)
        header = ["row", *(["id"] if with_ids else []), "label", "baseline", "candidate"]
        header += ["baseline loss", "candidate loss", *markdown_header(report.show)]
        table_rows = [
            [
                str(r["row"]),
                *([md(r["id"] or "")] if with_ids else []),
                md(r["label"]),
                f"{md(r['baseline_predicted'])} ({fmt_number(r['baseline_confidence'], 2)})",
                f"{md(r['candidate_predicted'])} ({fmt_number(r['candidate_confidence'], 2)})",
                fmt_number(r["baseline_loss"]),
                fmt_number(r["candidate_loss"]),
                *markdown_cells(report.show, r["row"]),
            ]
            for r in rows
        ]
        losses = len(header) - len(markdown_header(report.show))
        right = {0, losses - 2, losses - 1}
        lines += [*_table(header, table_rows, right), ""]
    if report.slices is not None:
        from cecli.render.slices import compare_markdown_lines

        lines += compare_markdown_lines(report)
    out.write("\n".join(lines))
