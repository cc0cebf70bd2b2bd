"""The result of a ``cecli compare`` run, as every renderer takes it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cecli._version import __version__
from cecli.report.format import finite
from cecli.report.gates import Gate, _Named

if TYPE_CHECKING:
    from cecli.accumulate import Summary
    from cecli.compare import Comparison, RowPair
    from cecli.compare_calibration import CalibrationComparison
    from cecli.shown import Shown
    from cecli.slices import SliceComparison


@dataclass(frozen=True)
class CompareReport(_Named):
    """Everything a renderer shows for ``cecli compare``.

    ``show`` holds the baseline's ``--show`` values of every row listed
    (regressions, fixed, largest increases); each listed row of the JSON document
    gains ``"show"``, an object of the columns' values (text, or null where
    missing), after its other keys, as ``cecli score``'s rows do.
    """

    baseline: Summary
    candidate: Summary
    comparison: Comparison
    classes: list[str]
    #: The files: "baseline", "candidate", "labels".
    inputs: dict[str, Any]
    top: int
    ids: dict[int, str] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    #: Per slice, both models and the difference (``--by``).
    slices: SliceComparison | None = None
    #: Both models' ECE and Brier score and the differences (``--calibration``).
    calibration: CalibrationComparison | None = None
    #: The ``--show`` columns' values of the listed rows; None without ``--show``.
    show: Shown | None = None

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

    def accuracy_interval_text(self) -> str:
        """The accuracy difference's interval (``-0.40 to +1.25 pts``), or "not estimated"."""
        c = self.comparison
        if not (math.isfinite(c.accuracy_ci_low) and math.isfinite(c.accuracy_ci_high)):
            return "not estimated"
        return f"{_points(c.accuracy_ci_low)} to {_points(c.accuracy_ci_high)} pts"

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
            "baseline_confidence": finite(pair.baseline_confidence),
            "baseline_loss": finite(pair.baseline_loss),
            "candidate_predicted": self.predicted_name(pair.candidate_predicted),
            "candidate_confidence": finite(pair.candidate_confidence),
            "candidate_loss": finite(pair.candidate_loss),
            "delta_loss": finite(pair.delta),
        } | ({} if self.show is None else {"show": self.show.as_dict(pair.row)})

    def side(self, summary: Summary, name: str) -> dict[str, Any]:
        c = self.comparison
        top_k = (
            {}
            if c.top_k is None
            else {
                "top_k_accuracy": finite(
                    c.baseline_top_k_accuracy if name == "baseline" else c.candidate_top_k_accuracy
                )
            }
        )
        return {
            "file": self.inputs.get(name),
            "input": "logits" if summary.from_logits else "probabilities",
            "mean_loss": finite(summary.mean_loss),
            "accuracy": finite(summary.accuracy),
            **top_k,
            "n_samples": summary.n_samples,
            "perplexity": finite(summary.perplexity),
            "clipped": summary.clipped,
            "flagged_count": summary.flagged_count,
        }

    @property
    def n_ignored(self) -> int:
        """The rows ``--ignore-label`` left out of both models."""
        return self.comparison.n_ignored

    @property
    def ignored(self) -> bool:
        """Whether ``--ignore-label`` was given."""
        return self.baseline.ignore_index is not None

    def ignored_dict(self) -> dict[str, Any]:
        """``ignore_label`` and ``n_ignored`` (rows left out of both), with ``--ignore-label``."""
        if not self.ignored:
            return {}
        label = self.inputs.get("ignore_label")
        shown = str(self.baseline.ignore_index) if label is None else label
        return {"ignore_label": shown, "n_ignored": self.comparison.n_ignored}

    def top_k_dict(self) -> dict[str, Any]:
        """``top_k`` and ``delta_top_k_accuracy`` (candidate - baseline), with ``--top-k``."""
        c = self.comparison
        if c.top_k is None:
            return {}
        return {"top_k": c.top_k, "delta_top_k_accuracy": finite(c.delta_top_k_accuracy)}

    def per_class(self) -> list[dict[str, Any]]:
        return [
            {
                "class": self.label_name(c.index),
                "count": c.count,
                "baseline_mean_loss": finite(c.baseline_loss),
                "candidate_mean_loss": finite(c.candidate_loss),
                "delta": finite(c.delta),
            }
            for c in self.comparison.per_class
        ]

    def slices_dict(self, slices: bool = True) -> dict[str, Any]:
        """``slicing`` and ``slices`` of the JSON document, with ``--by``; else nothing.

        With ``slices=False`` the list is empty (:mod:`cecli.render.json` writes it as text).
        """
        if self.slices is None:
            return {}
        from cecli.report.slices import compare_slices_list, compare_slicing_dict

        return {
            "slicing": compare_slicing_dict(self.slices),
            "slices": compare_slices_list(self.slices) if slices else [],
        }

    def calibration_dict(self) -> dict[str, Any] | None:
        """``--calibration``: each model's ECE and Brier, the differences and their intervals."""
        k = self.calibration
        if k is None:
            return None

        def interval(result: Any) -> tuple[float | None, float | None]:
            return (
                (None, None) if result is None else (finite(result.ci_low), finite(result.ci_high))
            )

        ece_low, ece_high = interval(k.ece)
        brier_low, brier_high = interval(k.brier)
        method = None if k.ece is None else k.ece.method
        return {
            "n_bins": k.n_bins,
            "baseline_ece": finite(k.baseline_ece),
            "candidate_ece": finite(k.candidate_ece),
            "delta_ece": finite(k.delta_ece),
            "ece_ci_low": ece_low,
            "ece_ci_high": ece_high,
            "ece_method": method,
            "baseline_brier": finite(k.baseline_brier),
            "candidate_brier": finite(k.candidate_brier),
            "delta_brier": finite(k.delta_brier),
            "brier_ci_low": brier_low,
            "brier_ci_high": brier_high,
            "brier_method": None if k.brier is None else k.brier.method,
        }

    def to_dict(self, slices: bool = True) -> dict[str, Any]:
        """The JSON document; with ``slices=False`` its list of slices is empty."""
        c = self.comparison
        boot = c.bootstrap
        return {
            "cecli_version": __version__,
            "command": "compare",
            "kind": self.kind,
            "unit": self.unit,
            "n_samples": c.n_samples,
            **self.ignored_dict(),
            "classes": list(self.classes),
            "baseline": self.side(self.baseline, "baseline"),
            "candidate": self.side(self.candidate, "candidate"),
            "labels": self.inputs.get("labels"),
            "delta_mean_loss": finite(c.delta_mean_loss),
            "ci_low": finite(c.ci_low),
            "ci_high": finite(c.ci_high),
            "confidence": c.confidence,
            "p_better": finite(c.p_better),
            "verdict": c.verdict,
            "verdict_reason": c.verdict_reason,
            "bootstrap": {
                "resamples": boot.n_resamples,
                "seed": boot.seed,
                "method": boot.method,
            },
            "delta_accuracy": finite(c.delta_accuracy),
            "delta_accuracy_ci_low": finite(c.accuracy_ci_low),
            "delta_accuracy_ci_high": finite(c.accuracy_ci_high),
            **self.top_k_dict(),
            "rows_better": c.rows_better,
            "rows_worse": c.rows_worse,
            "threshold": self.baseline.threshold,
            "per_class": self.per_class(),
            "regressions_count": c.regression_count,
            "regressions": [self.pair_dict(p) for p in c.regressions],
            "fixed_count": c.fixed_count,
            "fixed": [self.pair_dict(p) for p in c.fixed],
            "largest_increases": [self.pair_dict(p) for p in c.largest_increases],
            **self.slices_dict(slices),
            **({} if self.calibration is None else {"calibration": self.calibration_dict()}),
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
        }


def calibration_rows(report: CompareReport) -> list[tuple[str, str, str, str, str]]:
    """``--calibration``'s rows of the summary table: name, baseline, candidate, difference,
    interval; none without it."""
    from cecli.compare_calibration import interval_text

    k = report.calibration
    if k is None:
        return []
    return [
        (f"ECE ({k.n_bins} bins)", f"{k.baseline_ece:.4f}", f"{k.candidate_ece:.4f}",
         f"{k.delta_ece:+.4f}", interval_text(k.ece)),
        ("Brier", f"{k.baseline_brier:.4f}", f"{k.candidate_brier:.4f}",
         f"{k.delta_brier:+.4f}", interval_text(k.brier)),
    ]  # fmt: skip


def top_k_row(report: CompareReport) -> tuple[str, str, str, str] | None:
    """``--top-k``'s row of the summary table: name, baseline, candidate, difference; or None.

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> c = S(top_k=5, baseline_top_k_accuracy=0.9, candidate_top_k_accuracy=0.925,
    ...       delta_top_k_accuracy=0.025)
    >>> top_k_row(S(comparison=c))
    ('top-5 accuracy', '90.00%', '92.50%', '+2.50 pts')
    """
    c = report.comparison
    if c.top_k is None or c.delta_top_k_accuracy is None:
        return None
    return (
        f"top-{c.top_k} accuracy",
        f"{c.baseline_top_k_accuracy:.2%}",
        f"{c.candidate_top_k_accuracy:.2%}",
        f"{_points(c.delta_top_k_accuracy)} pts",
    )


def _points(difference: float) -> str:
    """An accuracy difference in percentage points, signed: ``+1.25``, ``-0.40``, ``0.00``."""
    return f"{'+' if difference > 0 else ''}{difference * 100:.2f}"
