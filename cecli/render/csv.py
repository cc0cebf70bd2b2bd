"""The summary as CSV: one header line and one row, for spreadsheets and ``csv`` readers."""

from __future__ import annotations

import csv
import json
from typing import TextIO

from cecli.report import Report

COLUMNS = (
    "kind",
    "input",
    "unit",
    "n_samples",
    "n_classes",
    "mean_loss",
    "sum_loss",
    "perplexity",
    "accuracy",
    "clipped",
    "threshold",
    "flagged_count",
    "passed",
)


def render(report: Report, out: TextIO) -> None:
    data = report.to_dict()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow(["" if data[c] is None else _cell(data[c]) for c in COLUMNS])


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else json.dumps(value)
