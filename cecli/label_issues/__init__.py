"""Likely label errors by confident learning (Northcutt, Jiang and Chuang, JAIR 2021).

:class:`LabelIssues` is a fold of passes over the same chunks
(thresholds, confident joint, rows, and rows again when a pair needs
it), each pass mergeable, whose rows are
those of cleanlab's ``filter.find_label_issues`` with its defaults;
:func:`find_label_issues` runs it over arrays in memory. :mod:`._joint`
holds the arithmetic of the confident joint (calibration, prune counts,
noise matrix) on its nonzero entries.
"""

from __future__ import annotations

from cecli.label_issues._fold import RANK_BY, LabelIssues, find_label_issues
from cecli.label_issues._joint import Joint
from cecli.label_issues._result import LabelIssueResult

__all__ = ["RANK_BY", "Joint", "LabelIssueResult", "LabelIssues", "find_label_issues"]
