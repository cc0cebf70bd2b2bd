"""Slices: the loss, accuracy and flagged rows of each group of rows (``--by COLUMN``).

:func:`parse_by` reads ``--by``; :class:`SliceFold` is the mergeable fold of
per-slice sums that :class:`cecli.folds.ScoreState` runs when slicing is asked
for; :class:`SliceTable` is its result, worst slice first.
"""

from __future__ import annotations

from cecli.slices._compare import SliceComparison, SliceDelta, compare_slices, holm
from cecli.slices._fold import SliceFold
from cecli.slices._result import MISSING, Slice, SliceTable, quantile_bins, slice_table
from cecli.slices._spec import MAX_BINS, SliceSpec, check_slice_fields, parse_by

__all__ = [
    "MAX_BINS",
    "MISSING",
    "Slice",
    "SliceComparison",
    "SliceDelta",
    "SliceFold",
    "SliceSpec",
    "SliceTable",
    "check_slice_fields",
    "compare_slices",
    "holm",
    "parse_by",
    "quantile_bins",
    "slice_table",
]
