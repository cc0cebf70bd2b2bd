"""CI gates: a value against a limit, for ``cecli score`` and ``cecli compare``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cecli.errors import OptionError, percent_hint
from cecli.report.format import finite

if TYPE_CHECKING:
    from cecli.accumulate import Summary
    from cecli.compare import Comparison


@dataclass(frozen=True)
class Gate:
    """A CI check: ``value`` against ``limit``; ``passed`` says whether the run may go on."""

    name: str
    limit: float
    value: float | None
    passed: bool
    #: What the value is, when its name does not say (e.g. "upper end of the 95% interval").
    measure: str | None = None
    #: False when the data could not answer the gate (``cecli compare`` on too few rows):
    #: the gate then passes, and ``reason`` says why it was not evaluated.
    evaluated: bool = True
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.limit,
            "value": finite(self.value),
            "passed": self.passed,
            "evaluated": self.evaluated,
        }

    def describe(self) -> str:
        if not self.evaluated:
            return f"{self.name}: {self.reason}; the gate passes"
        shown = "n/a" if self.value is None else f"{self.value:.6g}"
        measure = f" ({self.measure})" if self.measure else ""
        return f"{self.name}: {shown}{measure} against a limit of {self.limit:g}"


def check_gate_limits(
    *,
    fail_above: float | None = None,
    max_flagged: int | None = None,
    min_accuracy: float | None = None,
) -> None:
    """Raise :class:`~cecli.errors.OptionError` for a gate's limit that no report can meet.

    Examples
    --------
    >>> check_gate_limits(min_accuracy=90)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: min_accuracy must lie in [0, 1]; got 90 (for 90%, write 0.9).
    """
    if fail_above is not None and not (math.isfinite(fail_above) and fail_above >= 0):
        raise OptionError(f"must be a loss >= 0; got {fail_above:g}.", option="fail_above")
    if max_flagged is not None and (
        isinstance(max_flagged, bool) or not isinstance(max_flagged, int) or max_flagged < 0
    ):
        raise OptionError(
            f"must be a whole number >= 0; got {max_flagged!r}.", option="max_flagged"
        )
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        hint = percent_hint(min_accuracy, lambda f: 0 <= f <= 1)
        raise OptionError(f"must lie in [0, 1]; got {min_accuracy:g}{hint}.", option="min_accuracy")


def check_gates(
    summary: Summary,
    *,
    fail_above: float | None = None,
    max_flagged: int | None = None,
    min_accuracy: float | None = None,
) -> list[Gate]:
    """The gates asked for, evaluated: mean loss (in the report's unit), flagged rows, accuracy."""
    check_gate_limits(fail_above=fail_above, max_flagged=max_flagged, min_accuracy=min_accuracy)
    gates = []
    if fail_above is not None:
        value = summary.mean_loss
        gates.append(
            Gate("fail_above", fail_above, value, math.isfinite(value) and value <= fail_above)
        )
    if max_flagged is not None:
        n = summary.flagged_count
        gates.append(Gate("max_flagged", max_flagged, n, n <= max_flagged))
    if min_accuracy is not None:
        gates.append(
            Gate("min_accuracy", min_accuracy, summary.accuracy, summary.accuracy >= min_accuracy)
        )
    return gates


class _Named:
    """What both reports share: class names, and gates that pass or fail."""

    classes: list[str]
    gates: list[Gate]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def label_name(self, index: int) -> str:
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)


def check_max_increase(max_increase: float | None) -> None:
    """Raise :class:`~cecli.errors.OptionError` for a tolerance that is not a finite number."""
    if max_increase is not None and not math.isfinite(max_increase):
        raise OptionError(f"must be a finite number; got {max_increase:g}.", option="max_increase")


def check_compare_gates(
    comparison: Comparison, *, fail_if_worse: bool = False, max_increase: float | None = None
) -> list[Gate]:
    """``cecli compare``'s gates: a significant increase of the loss, or one above a tolerance.

    With "insufficient_data" neither can be evaluated: each passes, marked not evaluated.
    """
    check_max_increase(max_increase)
    level = f"{comparison.confidence:.0%}"
    if comparison.insufficient:
        asked = [("fail_if_worse", 0.0)] if fail_if_worse else []
        asked += [] if max_increase is None else [("max_increase", max_increase)]
        reason = comparison.verdict_reason
        return [
            Gate(name, limit, None, True, evaluated=False, reason=reason) for name, limit in asked
        ]
    gates = []
    if fail_if_worse:
        gates.append(
            Gate(
                "fail_if_worse",
                0.0,
                comparison.ci_low,
                comparison.verdict != "worse",
                f"lower end of the {level} interval of the loss difference",
            )
        )
    if max_increase is not None:
        gates.append(
            Gate(
                "max_increase",
                max_increase,
                comparison.ci_high,
                comparison.ci_high <= max_increase,
                f"upper end of the {level} interval of the loss difference",
            )
        )
    return gates
