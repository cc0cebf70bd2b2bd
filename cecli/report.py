"""The result of a ``cecli score`` run as plain data: what every renderer takes.

:func:`build_report` joins the :class:`~cecli.Summary` of the core with what
the inputs were (files, columns, class names, ids) into a :class:`Report`;
:meth:`Report.to_dict` is the JSON document. No rich, no printing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cecli._version import __version__
from cecli.accumulate import RowFacts, Summary
from cecli.calibration import CalibrationSummary, ReliabilityBin, TemperatureFit
from cecli.compare import Comparison, RowPair
from cecli.errors import OptionError, percent_hint


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A number for a table cell: fixed digits, or ``3.0e-08`` where they would show 0."""
    if value is None:
        return "-"
    if 0 < abs(value) < 10 ** -(digits - 1):
        return f"{value:.1e}"  # a probability of 3e-08 is not 0.0000
    return f"{value:.{digits}f}"


def fmt_gap(gap: float) -> str:
    """A calibration gap: ``+0.012``; one that rounds to 0 is ``0.000``, never ``-0.000``."""
    return "0.000" if abs(gap) < 0.0005 else f"{gap:+.3f}"


def _finite(value: float | None) -> float | None:
    """NaN and infinities never reach JSON: they become null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


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
            "value": _finite(self.value),
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


#: Upper edges of the loss histogram's bins, in nats (the last bin is open).


class _Named:
    """What both reports share: class names, and gates that pass or fail."""

    classes: list[str]
    gates: list[Gate]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def label_name(self, index: int) -> str:
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)


@dataclass(frozen=True)
class Report(_Named):
    """Everything a renderer shows. ``ids`` maps a row number to its id, when there are ids."""

    summary: Summary
    classes: list[str]
    inputs: dict[str, Any]
    top: int
    ids: dict[int, str] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    #: Rows per bin of per-sample loss; bin ``i`` ends at ``histogram_edges[i]``.
    histogram: list[int] = field(default_factory=list)
    histogram_edges: list[float] = field(default_factory=list)
    #: Calibration statistics (``--calibration``), and the temperature fitted.
    calibration: CalibrationSummary | None = None
    temperature: TemperatureFit | None = None
    #: Which reliability table a person sees: "uniform" (equal-width) or "adaptive" bins.
    binning: str = "uniform"

    def reliability_bins(self) -> tuple[ReliabilityBin, ...]:
        """The bins a person sees: equal-width, or equal-mass with ``--adaptive``."""
        c = self.calibration
        if c is None:
            return ()
        return c.adaptive_bins if self.binning == "adaptive" else c.bins

    def calibration_dict(self) -> dict[str, Any] | None:
        c, t = self.calibration, self.temperature
        if c is None:
            return None
        out: dict[str, Any] = {
            "n_bins": c.n_bins,
            "binned": BINNED[c.kind],
            "ece": _finite(c.ece),
            "mce": _finite(c.mce),
            "adaptive_ece": _finite(c.adaptive_ece),
            "adaptive_ece_bound": _finite(c.adaptive_ece_bound),
            "brier": _finite(c.brier),
            "mean_confidence": _finite(c.mean_confidence),
            "accuracy": _finite(c.accuracy),
            "entropy": _finite(c.entropy),
            "target_entropy": _finite(c.target_entropy),
            "kl_divergence": _finite(c.kl_divergence),
            "cross_entropy": _finite(c.cross_entropy),
            "bins": [_bin_dict(b) for b in c.bins],
            "adaptive_bins": [_bin_dict(b) for b in c.adaptive_bins],
            "temperature": None,
            "loss_at_temperature": None,
            "ece_at_temperature": None,
        }
        if t is not None:
            out |= {
                "temperature": _finite(t.temperature),
                "loss_at_temperature": _finite(t.loss),
                "ece_at_temperature": _finite(t.ece),
                "loss_before_temperature": _finite(t.loss_before),
                "ece_before_temperature": _finite(t.ece_before),
                "temperature_at_bound": t.at_bound,
                "temperature_bounds": list(t.bounds),
                "temperature_rows": t.n_samples,
            }
        return out

    def predicted_name(self, row: RowFacts) -> str:
        if self.summary.kind == "multilabel":
            return "present" if row.predicted else "absent"
        return self.label_name(row.predicted)

    def row_dict(self, row: RowFacts) -> dict[str, Any]:
        return {
            "row": row.row,
            "id": self.ids.get(row.row),
            "label": self.label_name(row.label),
            "label_index": row.label,
            "predicted": self.predicted_name(row),
            "predicted_index": row.predicted,
            "confidence": _finite(row.confidence),
            "p_true": _finite(row.p_true),
            "loss": _finite(row.loss),
        }

    def shown(self, rows: tuple[RowFacts, ...]) -> tuple[RowFacts, ...]:
        return rows if self.top == 0 else rows[: self.top]

    def per_class(self) -> list[dict[str, Any]]:
        out = []
        for c in self.summary.per_class:
            out.append(
                {
                    "class": self.label_name(c.index),
                    "count": c.count,
                    "mean_loss": _finite(c.mean_loss),
                    "accuracy": _finite(c.accuracy),
                    "flagged": c.flagged,
                }
            )
        return out

    def weights(self) -> dict[str, Any] | None:
        s = self.summary
        if s.weighting is None and not s.sample_weighted:
            return None
        return {
            "class_weights": s.weighting,
            "values": None
            if s.class_weights is None
            else dict(zip(self.classes, map(_finite, s.class_weights), strict=False)),
            "sample_weights": self.inputs.get("weight_column") if s.sample_weighted else None,
        }

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "cecli_version": __version__,
            "kind": s.kind,
            "input": "logits" if s.from_logits else "probabilities",
            "unit": s.unit,
            "n_samples": s.n_samples,
            "n_classes": s.n_classes,
            "classes": list(self.classes),
            "mean_loss": _finite(s.mean_loss),
            "sum_loss": _finite(s.sum_loss),
            "perplexity": _finite(s.perplexity),
            "accuracy": _finite(s.accuracy),
            "clipped": s.clipped,
            "threshold": s.threshold,
            "flagged_count": s.flagged_count,
            "flagged": [self.row_dict(r) for r in self.shown(s.flagged)],
            "worst": [self.row_dict(r) for r in self.shown(s.worst)],
            "per_class": self.per_class(),
            "weights": self.weights(),
            "label_smoothing": s.label_smoothing,
            "focal_gamma": s.focal_gamma,
            "files": {k: self.inputs[k] for k in ("predictions", "labels") if k in self.inputs},
            "columns": {
                "predictions": self.inputs.get("prediction_columns"),
                "labels": self.inputs.get("label_columns"),
                "id": self.inputs.get("id_column"),
                "weight": self.inputs.get("weight_column"),
                "ignored": self.inputs.get("ignored_columns", []),
            },
            "histogram": [
                {"upper": _finite(edge), "count": count}
                for edge, count in zip(
                    [*self.histogram_edges, math.inf], self.histogram, strict=False
                )
            ],
            "calibration": self.calibration_dict(),
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
        }


#: What the reliability bins hold, per kind.
BINNED = {
    "categorical": "top-1 confidence",
    "binary": "positive-class probability",
    "multilabel": "each label's probability",
}


def credit_name(c: CalibrationSummary) -> str:
    """What the calibration's accuracy is: sample-weighted, and for soft targets expected."""
    words = ["weighted"] if c.sample_weighted else []
    if c.kind == "categorical":
        return " ".join([*words, *(["expected"] if c.soft_targets else []), "accuracy"])
    return " ".join([*words, "fraction positive"])


def _bin_dict(b: ReliabilityBin) -> dict[str, Any]:
    return {
        "lower": b.lower,
        "upper": b.upper,
        "count": b.count,
        "weight": b.weight,
        "confidence": _finite(b.confidence),
        "accuracy": _finite(b.accuracy),
        "gap": _finite(b.gap),
    }


def build_report(
    summary: Summary,
    classes: list[str],
    inputs: dict[str, Any],
    top: int,
    ids: dict[int, str],
    gates: list[Gate] | None = None,
    histogram: list[int] | None = None,
    histogram_edges: list[float] | None = None,
    calibration: CalibrationSummary | None = None,
    temperature: TemperatureFit | None = None,
    binning: str = "uniform",
) -> Report:
    wanted = {r.row for r in summary.flagged} | {r.row for r in summary.worst}
    return Report(
        summary,
        classes,
        inputs,
        top,
        {r: i for r, i in ids.items() if r in wanted},
        gates or [],
        histogram or [],
        histogram_edges or [],
        calibration,
        temperature,
        binning,
    )


# -- compare ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class CompareReport(_Named):
    """Everything a renderer shows for ``cecli compare``."""

    baseline: Summary
    candidate: Summary
    comparison: Comparison
    classes: list[str]
    #: The files: "baseline", "candidate", "labels".
    inputs: dict[str, Any]
    top: int
    ids: dict[int, str] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.baseline.kind

    @property
    def unit(self) -> str:
        return self.baseline.unit

    def verdict_sentence(self) -> str:
        """The verdict in words, e.g. "worse: the candidate's mean loss is higher, ..."."""
        c = self.comparison
        level = f"{c.confidence:.0%}"
        if c.verdict == "worse":
            return (
                f"worse: the candidate's mean loss is higher, and the whole {level} interval "
                "of the difference lies above 0"
            )
        if c.verdict == "better":
            return (
                f"better: the candidate's mean loss is lower, and the whole {level} interval "
                "of the difference lies below 0"
            )
        if c.verdict == "insufficient_data":
            return f"insufficient data: {c.verdict_reason}"
        if c.verdict_reason is not None:
            return f"no difference: {c.verdict_reason}"
        return f"no significant difference: the {level} interval of the difference includes 0"

    def predicted_name(self, index: int) -> str:
        if self.kind == "multilabel":
            return "present" if index else "absent"
        return self.label_name(index)

    def pair_dict(self, pair: RowPair) -> dict[str, Any]:
        return {
            "row": pair.row,
            "id": self.ids.get(pair.row),
            "label": self.label_name(pair.label),
            "baseline_predicted": self.predicted_name(pair.baseline_predicted),
            "baseline_confidence": _finite(pair.baseline_confidence),
            "baseline_loss": _finite(pair.baseline_loss),
            "candidate_predicted": self.predicted_name(pair.candidate_predicted),
            "candidate_confidence": _finite(pair.candidate_confidence),
            "candidate_loss": _finite(pair.candidate_loss),
            "delta_loss": _finite(pair.delta),
        }

    def side(self, summary: Summary, name: str) -> dict[str, Any]:
        return {
            "file": self.inputs.get(name),
            "input": "logits" if summary.from_logits else "probabilities",
            "mean_loss": _finite(summary.mean_loss),
            "accuracy": _finite(summary.accuracy),
            "n_samples": summary.n_samples,
            "perplexity": _finite(summary.perplexity),
            "clipped": summary.clipped,
            "flagged_count": summary.flagged_count,
        }

    def per_class(self) -> list[dict[str, Any]]:
        return [
            {
                "class": self.label_name(c.index),
                "count": c.count,
                "baseline_mean_loss": _finite(c.baseline_loss),
                "candidate_mean_loss": _finite(c.candidate_loss),
                "delta": _finite(c.delta),
            }
            for c in self.comparison.per_class
        ]

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        boot = c.bootstrap
        return {
            "cecli_version": __version__,
            "command": "compare",
            "kind": self.kind,
            "unit": self.unit,
            "n_samples": c.n_samples,
            "classes": list(self.classes),
            "baseline": self.side(self.baseline, "baseline"),
            "candidate": self.side(self.candidate, "candidate"),
            "labels": self.inputs.get("labels"),
            "delta_mean_loss": _finite(c.delta_mean_loss),
            "ci_low": _finite(c.ci_low),
            "ci_high": _finite(c.ci_high),
            "confidence": c.confidence,
            "p_better": _finite(c.p_better),
            "verdict": c.verdict,
            "verdict_reason": c.verdict_reason,
            "bootstrap": {
                "resamples": boot.n_resamples,
                "seed": boot.seed,
                "method": boot.method,
            },
            "delta_accuracy": _finite(c.delta_accuracy),
            "rows_better": c.rows_better,
            "rows_worse": c.rows_worse,
            "threshold": self.baseline.threshold,
            "per_class": self.per_class(),
            "regressions_count": c.regression_count,
            "regressions": [self.pair_dict(p) for p in c.regressions],
            "fixed_count": c.fixed_count,
            "fixed": [self.pair_dict(p) for p in c.fixed],
            "largest_increases": [self.pair_dict(p) for p in c.largest_increases],
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
        }
