"""The slices of a report (``--by``): their JSON, and the ``--slice-fail-above`` gate."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cecli.errors import OptionError
from cecli.report.format import finite
from cecli.report.gates import Gate

if TYPE_CHECKING:
    from cecli.slices import Slice, SliceComparison, SliceTable

#: What a slice's value is in JSON when its cell is missing.
MISSING_JSON = None


def slice_value(value: object) -> object:
    """A slice's value for JSON: a list for several columns, None (null) for missing."""
    from cecli.render._slices_json import json_value

    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return json_value(value)


def slice_dict(s: Slice, calibration: bool) -> dict[str, Any]:
    """One slice as a JSON object.

    Examples
    --------
    >>> from cecli.slices import Slice
    >>> slice_dict(Slice(("fr", None), 40, 0.5, 0.4, 0.6, 0.9, 1, True), False)["value"]
    ['fr', None]
    """
    out: dict[str, Any] = {
        "value": slice_value(s.value),
        "n_samples": s.n_samples,
        "mean_loss": finite(s.mean_loss),
        "ci_low": finite(s.ci_low),
        "ci_high": finite(s.ci_high),
        "accuracy": finite(s.accuracy),
        "flagged_count": s.flagged_count,
        "ranked": s.ranked,
    }
    if calibration:
        out["ece"] = finite(s.ece)
    out |= s.marks
    return out


def slicing_dict(table: SliceTable) -> dict[str, Any]:
    """What the slices are: the columns, bins, the least rows to be ranked, how many."""
    return {
        "by": [s.column for s in table.specs],
        "bins": {s.column: s.bins for s in table.specs if s.bins is not None},
        "min_slice_rows": table.min_rows,
        "n_slices": len(table),
        "n_ranked": table.n_ranked,
        "ci_level": table.level,
        "interval": "t interval of the (weighted) mean per slice",
    }


def slices_list(table: SliceTable) -> list[dict[str, Any]]:
    """Every slice as a JSON object, ranked ones first (worst first), then the rest."""
    calibration = table.ece is not None
    return [slice_dict(s, calibration) for s in table.rows()]


def check_slice_limit(limit: float | None) -> None:
    """Raise :class:`~cecli.errors.OptionError` for a ``--slice-fail-above`` no report can meet.

    Examples
    --------
    >>> check_slice_limit(-1.0)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --slice-fail-above must be a loss >= 0; got -1.
    """
    if limit is not None and not (math.isfinite(limit) and limit >= 0):
        raise OptionError(f"--slice-fail-above must be a loss >= 0; got {limit:g}.")


def check_slice_gate(table: SliceTable | None, limit: float | None) -> list[Gate]:
    """``--slice-fail-above``: fails when a ranked slice's mean loss is above ``limit``.

    The value is the worst ranked slice's mean loss; with no ranked slice the
    gate is not evaluated, and passes.
    """
    check_slice_limit(limit)
    if limit is None:
        return []
    name = "slice_fail_above"
    if table is None or table.n_ranked == 0:
        least = 0 if table is None else table.min_rows
        reason = f"no slice has {least} rows or more (--min-slice-rows)"
        return [Gate(name, limit, None, True, evaluated=False, reason=reason)]
    worst = float(table.mean_loss[0])
    over = int((table.mean_loss[: table.n_ranked] > limit).sum())
    measure = f"mean loss of the worst ranked slice; {over} of {table.n_ranked:,} above the limit"
    return [Gate(name, limit, worst, math.isfinite(worst) and worst <= limit, measure)]


def compare_slicing_dict(c: SliceComparison) -> dict[str, Any]:
    """What a comparison's slices are, and how they were corrected for their number."""
    return {
        "by": [s.column for s in c.specs],
        "bins": {s.column: s.bins for s in c.specs if s.bins is not None},
        "min_slice_rows": c.min_rows,
        "n_slices": len(c),
        "n_ranked": c.n_ranked,
        "n_tests": c.n_tests,
        "correction": c.correction,
        "alpha": c.alpha,
        "bonferroni_alpha": c.alpha / max(1, c.n_tests),
        "interval_level": c.interval_level,
        "interval": "paired t interval of the mean per-row loss difference, Bonferroni level",
        "n_worse": c.n_worse,
    }


def compare_slices_list(c: SliceComparison) -> list[dict[str, Any]]:
    """Every slice of a comparison as a JSON object, ranked ones first.

    With ``--ignore-label`` each has ``n_ignored``; with ``--top-k`` both
    models' top-k accuracy and the difference.
    """
    return [
        {
            "value": slice_value(s.value),
            "n_samples": s.n_samples,
            "baseline_mean_loss": finite(s.baseline_mean_loss),
            "candidate_mean_loss": finite(s.candidate_mean_loss),
            "delta_mean_loss": finite(s.delta),
            "ci_low": finite(s.ci_low),
            "ci_high": finite(s.ci_high),
            "p_value": finite(s.p_value),
            "p_holm": finite(s.p_holm),
            "verdict": s.verdict,
            "ranked": s.ranked,
            **({} if c.n_ignored is None else {"n_ignored": s.n_ignored}),
            **(
                {}
                if c.top_k is None
                else {
                    "baseline_top_k_accuracy": s.baseline_top_k_accuracy,
                    "candidate_top_k_accuracy": s.candidate_top_k_accuracy,
                    "delta_top_k_accuracy": s.delta_top_k_accuracy,
                }
            ),
        }
        for s in c.rows()
    ]


def check_slice_compare_gate(
    c: SliceComparison | None, fail_if_any_slice_worse: bool
) -> list[Gate]:
    """``--fail-if-any-slice-worse``: fails when a ranked slice is significantly worse (Holm)."""
    if not fail_if_any_slice_worse:
        return []
    name = "fail_if_any_slice_worse"
    if c is None or c.n_tests == 0:
        reason = "no slice could be tested (too few rows in each, see --min-slice-rows)"
        return [Gate(name, 0, None, True, evaluated=False, reason=reason)]
    measure = (
        f"ranked slices significantly worse of {c.n_tests:,} tested, Holm-corrected at "
        f"{c.alpha:g} (the first at {c.alpha / c.n_tests:.3g})"
    )
    return [Gate(name, 0, c.n_worse, c.n_worse == 0, measure)]
