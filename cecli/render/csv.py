"""The summary as CSV: one header line and one row, for spreadsheets and ``csv`` readers.

Text cells are formula-defused (:func:`cecli.render.escape.spreadsheet`);
numbers are written as they are.
"""

from __future__ import annotations

import csv
import json
from typing import TextIO

from cecli.render.escape import spreadsheet
from cecli.report import CompareReport, Report

COLUMNS = (
    "kind",
    "input",
    "unit",
    "n_samples",
    "n_classes",
    "mean_loss",
    "ci_low",
    "ci_high",
    "ci_note",
    "sum_loss",
    "perplexity",
    "accuracy",
    "clipped",
    "threshold",
    "flagged_count",
    "passed",
)


#: With ``--calibration``, before ``passed``.
CALIBRATION_COLUMNS = (
    "ece",
    "mce",
    "adaptive_ece",
    "brier",
    "temperature",
    "loss_at_temperature",
    "ece_at_temperature",
)


#: With ``--label-issues``, before ``passed`` (after the calibration's).
LABEL_ISSUE_COLUMNS = ("label_issue_count", "label_issues_estimated")

#: With ``--ignore-label``, and with ``--top-k``, before the calibration's.
IGNORE_COLUMNS = ("ignore_label", "n_ignored")
TOP_K_COLUMNS = ("top_k", "top_k_accuracy")


COMPARE_COLUMNS = (
    "kind",
    "unit",
    "n_samples",
    "baseline_mean_loss",
    "candidate_mean_loss",
    "delta_mean_loss",
    "ci_low",
    "ci_high",
    "confidence",
    "p_better",
    "verdict",
    "verdict_reason",
    "baseline_accuracy",
    "candidate_accuracy",
    "delta_accuracy",
    "delta_accuracy_ci_low",
    "delta_accuracy_ci_high",
    "regressions_count",
    "fixed_count",
    "passed",
)


#: ``compare --ignore-label`` and ``compare --top-k`` add these, before the calibration's.
COMPARE_IGNORE_COLUMNS = ("ignore_label", "n_ignored")
COMPARE_TOP_K_COLUMNS = (
    "top_k",
    "baseline_top_k_accuracy",
    "candidate_top_k_accuracy",
    "delta_top_k_accuracy",
)

#: ``compare --calibration`` adds these, before "passed".
COMPARE_CALIBRATION_COLUMNS = (
    "baseline_ece",
    "candidate_ece",
    "delta_ece",
    "ece_ci_low",
    "ece_ci_high",
    "baseline_brier",
    "candidate_brier",
    "delta_brier",
    "brier_ci_low",
    "brier_ci_high",
)


def render(report: Report | CompareReport, out: TextIO) -> None:
    if isinstance(report, Report) and report.slices is not None:
        from cecli.render.slices import write_csv

        write_csv(report.slices, out)  # with --by, a row per slice (see cecli.render.slices)
        return
    if isinstance(report, CompareReport) and report.slices is not None:
        from cecli.render.slices import write_compare_csv

        write_compare_csv(report.slices, out)
        return
    # the summary only: with --top 0 the rows would be millions of dicts for nothing
    data = report.to_dict() if isinstance(report, CompareReport) else report.to_dict(rows=False)
    columns = COLUMNS
    if isinstance(report, CompareReport):
        for side in ("baseline", "candidate"):
            data[f"{side}_mean_loss"] = data[side]["mean_loss"]
            data[f"{side}_accuracy"] = data[side]["accuracy"]
            data[f"{side}_top_k_accuracy"] = data[side].get("top_k_accuracy")
        extra = COMPARE_IGNORE_COLUMNS if report.ignored else ()
        extra += COMPARE_TOP_K_COLUMNS if report.comparison.top_k is not None else ()
        if report.calibration is not None:
            extra += COMPARE_CALIBRATION_COLUMNS
            data |= {k: data["calibration"][k] for k in COMPARE_CALIBRATION_COLUMNS}
        columns = (*COMPARE_COLUMNS[:-1], *extra, COMPARE_COLUMNS[-1])
    else:
        extra = IGNORE_COLUMNS if report.summary.ignore_index is not None else ()
        extra += TOP_K_COLUMNS if report.summary.top_k is not None else ()
        extra += CALIBRATION_COLUMNS if report.calibration is not None else ()
        if report.calibration is not None:
            data |= {k: data["calibration"][k] for k in CALIBRATION_COLUMNS}
        if report.label_issues is not None:
            extra += LABEL_ISSUE_COLUMNS
        columns = (*COLUMNS[:-1], *extra, COLUMNS[-1])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow(["" if data[c] is None else _cell(data[c]) for c in columns])


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return spreadsheet(value if isinstance(value, str) else json.dumps(value))
