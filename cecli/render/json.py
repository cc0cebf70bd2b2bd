"""The report as one JSON object on standard output (and nothing else there)."""

from __future__ import annotations

import json
from typing import TextIO

from cecli.report import Report


def render(report: Report, out: TextIO) -> None:
    out.write(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    out.write("\n")
