"""The result of a `cecli score` or `cecli compare` run as plain data: what renderers take.

:func:`build_report` joins the :class:`~cecli.Summary` of the core with what
the inputs were (files, columns, class names, ids) into a :class:`Report`;
:meth:`Report.to_dict` is the JSON document. :class:`CompareReport` is the
same for ``cecli compare``. No rich, no printing.

One file per job: :mod:`~cecli.report.format` (numbers in cells),
:mod:`~cecli.report.gates` (CI gates), :mod:`~cecli.report.score` and
:mod:`~cecli.report.compare` (the two reports).
"""

from __future__ import annotations

from cecli.folds import HISTOGRAM_EDGES_NATS
from cecli.report.compare import CompareReport
from cecli.report.format import finite, fmt_gap, fmt_number
from cecli.report.gates import (
    Gate,
    check_compare_gates,
    check_gate_limits,
    check_gates,
    check_max_increase,
)
from cecli.report.score import (
    BINNED,
    ROW_KEYS,
    Report,
    build_report,
    credit_name,
)

__all__ = [
    "BINNED",
    "HISTOGRAM_EDGES_NATS",
    "ROW_KEYS",
    "CompareReport",
    "Gate",
    "Report",
    "build_report",
    "check_compare_gates",
    "check_gate_limits",
    "check_gates",
    "check_max_increase",
    "credit_name",
    "finite",
    "fmt_gap",
    "fmt_number",
]
