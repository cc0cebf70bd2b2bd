"""``cecli score --html``: the sections of a score report's page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TextIO

from cecli.losses import log_base_of
from cecli.render.html import _charts, _slices
from cecli.render.html._markup import (
    Column,
    Markup,
    end_section,
    facts,
    num,
    paragraph,
    section,
    table,
    text,
)
from cecli.render.html._page import foot, head, nav
from cecli.render.html._rows import label_issue_rows, score_rows
from cecli.report import BINNED, credit_name, fmt_gap, fmt_number
from cecli.report.format import columns_text, ignored_text, weighting_text

if TYPE_CHECKING:
    from cecli.report import Gate, Report


def gates_part(out: TextIO, gates: list[Gate], passed: bool) -> None:
    """The gates and their outcome: a table, and one line for the run."""
    section(out, "gates", "Gates")
    word, kind = ("all gates passed", "pass") if passed else ("a gate failed: exit 1", "fail")
    out.write(paragraph(Markup(f'<span class="badge {kind}">{text(word)}</span>')))
    measured = any(g.measure or g.reason for g in gates)
    rows = []
    for g in gates:
        outcome, kind = ("passed", "pass") if g.passed else ("FAILED", "fail")
        if not g.evaluated:
            outcome, kind = "not evaluated", "skip"
        value = "n/a" if g.value is None else f"{g.value:.6g}"
        rows.append(
            [
                g.name,
                Markup(f'<span class="{kind}">{text(outcome)}</span>'),
                num(value, g.value),
                num(f"{g.limit:g}", g.limit),
                *([g.measure or g.reason or ""] if measured else []),
            ]
        )
    columns = [Column("gate"), Column("outcome"), Column("value", True), Column("limit", True)]
    columns += [Column("measured")] if measured else []
    table(out, "gates", None, columns, rows, sortable=False)
    end_section(out)


def outcome_badge(gates: list[Gate], passed: bool) -> Markup:
    if not gates:
        return Markup("")
    word, kind = ("gates passed", "pass") if passed else ("gate failed", "fail")
    return Markup(f' <span class="badge {kind}">{text(word)}</span>')


def _summary(report: Report) -> list[tuple[object, object]]:
    s, files = report.summary, report.inputs
    pairs: list[tuple[object, object]] = [("predictions", files.get("predictions") or "")]
    if files.get("labels") != files.get("predictions"):
        pairs.append(("labels", files.get("labels") or ""))
    for role, key in (("prediction", "prediction_shards"), ("label", "label_shards")):
        if files.get(key):
            pairs.append((f"{role} files", f"{len(files[key]):,}"))
    pairs.append(("kind", f"{s.kind}, from {'logits' if s.from_logits else 'probabilities'}"))
    columns = columns_text(files.get("prediction_columns") or [], 12)
    if columns is not None:
        pairs.append(("columns", columns))
    pairs.append(("samples", f"{s.n_samples:,}"))
    ignored = report.ignored_dict()
    if ignored:
        pairs.append(("ignored", ignored_text(s, ignored["ignore_label"])))
    pairs.append(("classes" if s.kind != "multilabel" else "labels", f"{s.n_classes:,}"))
    note = report.interval_note()
    loss = f"{fmt_number(s.mean_loss, 6)}; {report.interval_text()}"
    if note is not None:
        loss = Markup(f'{text(loss)}<br><span class="skip">{text(note)}</span>')
    pairs += [
        (f"mean loss ({s.unit})", loss),
        (f"sum loss ({s.unit})", fmt_number(s.sum_loss, 4)),
        ("perplexity", fmt_number(s.perplexity, 4)),
        ("accuracy", f"{s.accuracy:.2%}"),
    ]
    if s.top_k is not None and s.top_k_accuracy is not None:
        pairs.append((f"top-{s.top_k} accuracy", f"{s.top_k_accuracy:.2%}"))
    pairs.append(("clipped", f"{s.clipped:,} values" if s.clipped else "none"))
    weights = report.weights()
    if weights is not None:
        pairs.append(("weighting", weighting_text(weights)))
    for name, value in (("label smoothing", s.label_smoothing), ("focal gamma", s.focal_gamma)):
        if value:
            pairs.append((name, f"{value:g}"))
    for name, value in (("focal alpha", s.focal_alpha), ("positive weight", s.pos_weight)):
        if value is not None:
            listed = [value] if isinstance(value, float) else value
            pairs.append((name, ", ".join(f"{v:g}" for v in listed)))
    flagged = f"{s.flagged_count:,} (wrong with confidence >= {s.threshold:g})"
    pairs.append(("flagged", Markup(f'<span class="fail">{text(flagged)}</span>')
                  if s.flagged_count else flagged))  # fmt: skip
    return pairs


def _per_class(out: TextIO, report: Report) -> None:
    s = report.summary
    multilabel = s.kind == "multilabel"
    rows = sorted(report.per_class(), key=lambda c: -(c["mean_loss"] or 0.0))
    columns = [Column("label" if multilabel else "class")]
    columns += [Column(c, True) for c in ("count", "mean loss", "accuracy", "flagged")]
    cells = [
        [
            c["class"],
            num(f"{c['count']:,}", c["count"]),
            num(fmt_number(c["mean_loss"]), c["mean_loss"]),
            num("-" if c["accuracy"] is None else f"{c['accuracy']:.1%}", c["accuracy"]),
            num(f"{c['flagged']:,}", c["flagged"]),
        ]
        for c in rows
    ]
    section(out, "per-class", "Per label" if multilabel else "Per class")
    table(out, "per_class", "worst first", columns, cells, sorted_by=(2, "descending"))
    end_section(out)


def flag_loss(report: Report) -> float:
    """The loss above which confidently wrong rows lie (NaN for multilabel, or threshold 1).

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> round(flag_loss(S(summary=S(kind="binary", threshold=0.9, unit="nats"))), 4)
    2.3026
    """
    s = report.summary
    if s.kind == "multilabel" or s.threshold >= 1:
        return math.nan
    # a confidently wrong row gave its true class at most 1 - threshold
    return -math.log1p(-s.threshold) / log_base_of(s.unit)


def _pictures(out: TextIO, report: Report) -> None:
    parts = []
    if report.histogram:
        parts.append(
            _charts.loss_histogram(
                report.histogram, report.histogram_edges, report.summary.unit, flag_loss(report)
            )
        )
    c = report.calibration
    if c is not None:
        adaptive = report.binning == "adaptive"
        shape = "equal-mass" if adaptive else "equal-width"
        ece = c.adaptive_ece if adaptive else c.ece
        bins = report.reliability_bins()
        title = f"Reliability: {len(bins)} {shape} bins, ECE {ece:.4f}"
        parts.append(_charts.reliability(bins, c.kind, title))
    if parts:
        section(out, "pictures", "Pictures")
        out.write('<div class="charts">' + "".join(parts) + "</div>\n")
        end_section(out)


def _calibration(out: TextIO, report: Report) -> None:
    c, t = report.calibration, report.temperature
    if c is None:
        return
    credit = credit_name(c)
    d = c.brier_decomposition
    pairs: list[tuple[object, object]] = [
        ("binned", f"{BINNED[c.kind]}, {c.n_bins} equal-width bins"),
        ("ECE", f"{c.ece:.4f} (expected calibration error; 0 is calibrated)"),
        ("MCE", f"{c.mce:.4f} (the largest gap of a bin)"),
        ("RMS calibration error", f"{c.rms_calibration_error:.4f}"),
    ]
    if c.kind != "binary":
        pairs.append(("classwise ECE", f"{c.classwise_ece:.4f}"))
    pairs += [
        ("adaptive ECE", f"{c.adaptive_ece:.4f} ({c.n_bins} equal-mass bins)"),
        ("mean confidence", f"{c.mean_confidence:.4f} ({credit} {c.accuracy:.4f})"),
        (
            "Brier",
            f"{c.brier:.4f} = reliability {d.reliability:.4f} - resolution {d.resolution:.4f} "
            f"+ uncertainty {d.uncertainty:.4f}, {d.within_bins:+.4f} within bins",
        ),
        (f"mean entropy ({c.unit})", f"{c.entropy:.4f}"),
    ]
    if c.kl_divergence is not None:
        pairs.append(
            (f"target entropy + KL ({c.unit})", f"{c.target_entropy:.4f} + {c.kl_divergence:.4f}")
        )
    if t is not None:
        n = report.summary.n_samples
        on = f"all {n:,} rows" if t.n_samples == n else f"a sample of {t.n_samples:,} of {n:,} rows"
        bound = " (a bound of the search)" if t.at_bound else ""
        pairs.append(("temperature", f"{t.temperature:.4f}{bound}, fitted on {on}"))
        pairs.append(
            (
                f"at T = {t.temperature:.3g}",
                f"cross-entropy {t.loss_before:.4f} -> {t.loss:.4f}, ECE {t.ece_before:.4f} -> "
                f"{t.ece:.4f}" + ("" if t.n_samples == n else ", on the sample"),
            )
        )
    section(out, "calibration", "Calibration")
    out.write(facts(pairs))
    shape = "equal-mass" if report.binning == "adaptive" else "equal-width"
    columns = [Column("bin"), Column("count", True)]
    columns += [Column("mean confidence" if c.kind == "categorical" else "mean p", True)]
    columns += [Column(credit, True), Column("95% CI"), Column("gap", True)]
    rows: list[list[Any]] = []
    for b in report.reliability_bins():
        if b.confidence is None or b.accuracy is None:
            continue
        interval = "-"
        if b.accuracy_ci_low is not None and b.accuracy_ci_high is not None:
            interval = f"{b.accuracy_ci_low:.3f} to {b.accuracy_ci_high:.3f}"
        rows.append(
            [
                f"{b.lower:.3f} - {b.upper:.3f}",
                num(f"{b.count:,}", b.count),
                num(f"{b.confidence:.3f}", b.confidence),
                num(f"{b.accuracy:.3f}", b.accuracy),
                interval,
                num(fmt_gap(b.gap), b.gap),
            ]
        )
    caption = f"Reliability, {shape} bins (empty ones left out)"
    table(out, "reliability", caption, columns, rows)
    end_section(out)


def _label_issues(out: TextIO, report: Report) -> None:
    from cecli.render.label_issues import QUALITY_NOTE, SHOWN_PAIRS, _matrix, _pair_text, headline

    li = report.label_issues
    if li is None:
        return
    section(out, "label-issues", "Likely label errors")
    out.write(paragraph(headline(li, report.summary.n_samples)))
    if li.rows():
        label_issue_rows(out, report, li)
        out.write(paragraph(QUALITY_NOTE, "muted"))
    else:
        out.write(paragraph("No likely label errors."))
    pairs = li.confused_pairs()[:SHOWN_PAIRS]
    if pairs:
        items = "".join(f"<li>{text(_pair_text(p, str))}</li>" for p in pairs)
        out.write(f"<h3>Most confused</h3>\n<ul>{items}</ul>\n")
    matrix = _matrix(li)
    if matrix is not None and li.count:
        names, cells = matrix
        columns = [Column("given \\ true"), *(Column(n, True) for n in names)]
        rows = [[name, *(num(v, None if v == "." else float(v)) for v in row)]
                for name, row in zip(names, cells, strict=True)]  # fmt: skip
        caption = "Estimated noise: P(given label | true label)"
        table(out, "noise_matrix", caption, columns, rows, sortable=False)
    elif li.count and not li.multilabel:
        out.write(paragraph("The estimated noise matrix is in -f json (noise_matrix).", "muted"))
    end_section(out)


def _el2n(out: TextIO, report: Report) -> None:
    e = report.el2n
    if e is None:
        return
    section(out, "el2n", f"How hard the rows are: EL2N = ||p - t||, from 0 to {e.upper:.4g}")
    names = ["mean", *(f"p{round(q * 100)}" for q in e.quantiles), "max"]
    values = [e.mean, *e.quantiles.values(), e.max]
    cells = [[num(f"{v:.4f}", v) for v in values]]
    table(out, "el2n", None, [Column(n, True) for n in names], cells, sortable=False)
    end_section(out)


def render_score(report: Report, out: TextIO) -> None:
    """The whole page of a score report."""
    s = report.summary
    name = report.inputs.get("predictions") or ""
    head(out, f"cecli score: {name}")
    out.write(
        f"<header><h1>cecli score{outcome_badge(report.gates, report.passed)}</h1>\n"
        f"{paragraph(name, 'muted')}"
    )
    links = [("summary", "Summary")] + ([("gates", "Gates")] if report.gates else [])
    links += [("pictures", "Pictures")] if report.histogram or report.calibration else []
    links += [
        ("per-class", "Per class"),
        ("flagged", "Confidently wrong"),
        ("worst", "Highest loss"),
    ]
    links += [("label-issues", "Label errors")] if report.label_issues is not None else []
    links += [("calibration", "Calibration")] if report.calibration is not None else []
    links += [("slices", "Slices")] if report.slices is not None else []
    links += [("el2n", "EL2N")] if report.el2n is not None else []
    out.write(nav(links) + "</header>\n<main>\n")
    section(out, "summary", "Summary")
    out.write(facts(_summary(report)))
    end_section(out)
    if report.gates:
        gates_part(out, report.gates, report.passed)
    _pictures(out, report)
    _per_class(out, report)
    section(out, "flagged", "Confidently wrong")
    listed = len(report.shown(s.flagged))
    if s.flagged_count:
        caption = f"{listed:,} of {s.flagged_count:,}, worst first"
        score_rows(out, report, s.flagged, "flagged", caption)
    else:
        out.write(paragraph(f"No confidently wrong rows (confidence >= {s.threshold:g})."))
    end_section(out)
    section(out, "worst", "Highest loss")
    caption = f"{len(report.shown(s.worst)):,} of {s.n_samples:,} rows"
    score_rows(out, report, s.worst, "worst", caption)
    end_section(out)
    _label_issues(out, report)
    _calibration(out, report)
    _slices.score_slices(out, report)
    _el2n(out, report)
    out.write("</main>\n")
    foot(out)
