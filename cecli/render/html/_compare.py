"""``cecli compare --html``: the sections of a comparison's page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

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
from cecli.render.html._rows import pair_rows
from cecli.render.html._score import gates_part, outcome_badge
from cecli.report.compare import calibration_rows, top_k_row
from cecli.report.format import fmt_number, ignored_text

if TYPE_CHECKING:
    from cecli.report import CompareReport

_VERDICT_KIND = {"better": "pass", "worse": "fail", "insufficient_data": "skip"}


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + fmt_number(value, digits)


def _files(report: CompareReport) -> list[tuple[object, object]]:
    b, k, c = report.baseline, report.candidate, report.comparison
    files = report.inputs
    pairs: list[tuple[object, object]] = [
        ("baseline", files.get("baseline") or ""),
        ("candidate", files.get("candidate") or ""),
    ]
    if files.get("labels"):
        pairs.append(("labels", files["labels"]))

    def given(s: Any) -> str:
        return "logits" if s.from_logits else "probabilities"

    same = given(b) == given(k)
    source = f"from {given(b)}" if same else f"baseline from {given(b)}, candidate from {given(k)}"
    pairs += [("kind", f"{report.kind}, {source}"), ("samples", f"{c.n_samples:,}, paired")]
    ignored = report.ignored_dict()
    if ignored:
        pairs.append(("ignored", ignored_text(report, ignored["ignore_label"])))
    return pairs


def _summary(out: TextIO, report: CompareReport) -> None:
    b, k, c = report.baseline, report.candidate, report.comparison
    level = f"{c.confidence:.0%}"
    interval = "not estimated" if c.insufficient else f"{_signed(c.ci_low)} to {_signed(c.ci_high)}"
    points = f"{'+' if c.delta_accuracy > 0 else ''}{c.delta_accuracy * 100:.2f} pts"
    rows: list[list[Any]] = [
        [
            f"mean loss ({report.unit})",
            num(fmt_number(b.mean_loss, 6), b.mean_loss),
            num(fmt_number(k.mean_loss, 6), k.mean_loss),
            num(_signed(c.delta_mean_loss, 6), c.delta_mean_loss),
            interval,
        ],
        [
            "accuracy",
            num(f"{b.accuracy:.2%}", b.accuracy),
            num(f"{k.accuracy:.2%}", k.accuracy),
            num(points, c.delta_accuracy),
            report.accuracy_interval_text(),
        ],
    ]
    top_k = top_k_row(report)
    if top_k is not None:
        rows.append([top_k[0], num(top_k[1], None), num(top_k[2], None), num(top_k[3], None), ""])
    for name, baseline, candidate, difference, ci in calibration_rows(report):
        rows.append([name, num(baseline, None), num(candidate, None), num(difference, None), ci])
    rows.append(
        [
            "flagged",
            num(f"{b.flagged_count:,}", b.flagged_count),
            num(f"{k.flagged_count:,}", k.flagged_count),
            "",
            "",
        ]
    )
    columns = [Column(""), Column("baseline", True), Column("candidate", True)]
    columns += [Column("candidate - baseline", True), Column(f"{level} interval")]
    table(out, "summary", None, columns, rows, sortable=False)
    boot = c.bootstrap
    seed = boot.seed if boot.seed is not None else "random"
    p_better = "not estimated" if c.insufficient else f"{c.p_better:.3f}"
    out.write(
        paragraph(
            f"p_better {p_better}; the candidate's loss is lower on {c.rows_better:.1%} of "
            f"rows and higher on {c.rows_worse:.1%}. Bootstrap: {boot.n_resamples:,} "
            f"resamples, {boot.method} interval, seed {seed}.",
            "muted",
        )
    )


def _per_class(out: TextIO, report: CompareReport) -> None:
    multilabel = report.kind == "multilabel"
    columns = [Column("label" if multilabel else "class")]
    columns += [Column(n, True) for n in ("count", "baseline", "candidate", "difference")]
    rows = [
        [
            r["class"],
            num(f"{r['count']:,}", r["count"]),
            num(fmt_number(r["baseline_mean_loss"]), r["baseline_mean_loss"]),
            num(fmt_number(r["candidate_mean_loss"]), r["candidate_mean_loss"]),
            num(_signed(r["delta"]), r["delta"]),
        ]
        for r in report.per_class()
    ]
    section(out, "per-class", "Per label" if multilabel else "Per class")
    table(out, "per_class", "largest increase first", columns, rows, sorted_by=(4, "descending"))
    end_section(out)


#: The listed rows: key, anchor, title, and how they come sorted by the difference.
_LISTS = (
    ("regressions", "Regressions (candidate confidently wrong, baseline right)", "descending"),
    ("fixed", "Fixed (baseline confidently wrong, candidate right)", "ascending"),
    ("largest_increases", "Largest loss increases, right or wrong", "descending"),
)


def render_compare(report: CompareReport, out: TextIO) -> None:
    """The whole page of a comparison."""
    c = report.comparison
    head(out, f"cecli compare: {report.inputs.get('candidate') or ''}")
    kind = _VERDICT_KIND.get(c.verdict, "")
    verdict = Markup(
        f'<span class="badge {kind}">{text(c.verdict.replace("_", " "))}</span> '
        f"{text(report.verdict_sentence())}."
    )
    out.write(
        f"<header><h1>cecli compare{outcome_badge(report.gates, report.passed)}</h1>\n"
        f"{paragraph(verdict)}"
    )
    links = [("summary", "Summary")] + ([("gates", "Gates")] if report.gates else [])
    links += [("pictures", "Bootstrap"), ("per-class", "Per class")]
    links += [
        (key.replace("_", "-"), title.split(" (")[0].split(",")[0]) for key, title, _ in _LISTS
    ]
    links += [("slices", "Slices")] if report.slices is not None else []
    out.write(nav(links) + "</header>\n<main>\n")
    section(out, "summary", "Summary")
    out.write(facts(_files(report)))
    _summary(out, report)
    end_section(out)
    if report.gates:
        gates_part(out, report.gates, report.passed)
    section(out, "pictures", "Bootstrap")
    boot = c.bootstrap
    picture = _charts.bootstrap(
        boot.resamples, c.delta_mean_loss, c.ci_low, c.ci_high, c.confidence, report.unit
    )
    out.write(f'<div class="charts">{picture}</div>\n')
    end_section(out)
    _per_class(out, report)
    counts = {"regressions": c.regression_count, "fixed": c.fixed_count}
    for key, title, order in _LISTS:
        pairs = getattr(c, key)
        section(out, key.replace("_", "-"), title)
        count = counts.get(key)
        caption = f"{len(pairs):,}" + ("" if count is None else f" of {count:,}")
        if pairs:
            pair_rows(out, report, pairs, key, caption, order)
        else:
            out.write(paragraph("None."))
        end_section(out)
    _slices.compare_slices(out, report)
    out.write("</main>\n")
    foot(out)
