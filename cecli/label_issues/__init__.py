"""Likely label errors by confident learning (Northcutt, Jiang and Chuang, JAIR 2021).

:class:`LabelIssues` is a fold of passes over the same chunks
(thresholds, confident joint, rows, and rows again when a pair needs
it), each pass mergeable, whose rows are
those of cleanlab's ``filter.find_label_issues`` with its defaults;
:func:`find_label_issues` runs it over arrays in memory. :mod:`._joint`
holds the arithmetic of the confident joint (calibration, prune counts,
noise matrix) on its nonzero entries. :class:`LabelIssueFold` runs it over
a scoring run's checked views, of any kind (binary and multilabel as
cleanlab does, one-vs-rest), into :class:`LabelIssueFindings`.
"""

from __future__ import annotations

from cecli.label_issues._fold import RANK_BY, LabelIssues, find_label_issues
from cecli.label_issues._joint import Joint
from cecli.label_issues._result import LabelIssueResult
from cecli.label_issues._views import LabelIssueFindings, LabelIssueFold

__all__ = [
    "RANK_BY",
    "Joint",
    "LabelIssueFindings",
    "LabelIssueFold",
    "LabelIssueResult",
    "LabelIssues",
    "find_label_issues",
]
