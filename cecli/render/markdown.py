"""The report as GitHub-flavoured markdown, for a pull request comment."""

from __future__ import annotations

from typing import TextIO

from cecli.report import Report, fmt_number


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render(report: Report, out: TextIO) -> None:
    s, d = report.summary, report.to_dict()
    lines = ["### cecli score", ""]
    summary = [
        ["kind", f"{s.kind}, from {d['input']}"],
        ["samples", f"{s.n_samples:,}"],
        ["classes" if s.kind != "multilabel" else "labels", str(s.n_classes)],
        [f"mean loss ({s.unit})", fmt_number(d["mean_loss"], 6)],
        ["perplexity", fmt_number(d["perplexity"])],
        ["accuracy", f"{s.accuracy:.2%}"],
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
            c["class"],
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
        rows = d[key]
        total = s.flagged_count if key == "flagged" else s.n_samples
        lines += [f"#### {title}: {len(rows)} of {total:,}", ""]
        if rows:
            with_ids = any(r["id"] is not None for r in rows)
            header = ["row", *(["id"] if with_ids else []), "label", "predicted"]
            header += ["confidence", "p_true", "loss"]
            table_rows = [
                [
                    str(r["row"]),
                    *([r["id"] or ""] if with_ids else []),
                    r["label"],
                    r["predicted"],
                    fmt_number(r["confidence"]),
                    fmt_number(r["p_true"]),
                    fmt_number(r["loss"]),
                ]
                for r in rows
            ]
            right = {0, len(header) - 3, len(header) - 2, len(header) - 1}
            lines += _table(header, table_rows, right)
        else:
            lines.append("None." if key == "flagged" else "")
        lines.append("")
    out.write("\n".join(lines))
