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


def _finite(value: float | None) -> float | None:
    """NaN and infinities never reach JSON: they become null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class Report:
    """Everything a renderer shows. ``ids`` maps a row number to its id, when there are ids."""

    summary: Summary
    classes: list[str]
    inputs: dict[str, Any]
    top: int
    ids: dict[int, str] = field(default_factory=dict)

    def label_name(self, index: int) -> str:
        if self.summary.kind == "multilabel":
            return self.classes[index] if 0 <= index < len(self.classes) else str(index)
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)

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
            "gates": [],
            "passed": True,
        }


def build_report(
    summary: Summary, classes: list[str], inputs: dict[str, Any], top: int, ids: dict[int, str]
) -> Report:
    wanted = {r.row for r in summary.flagged} | {r.row for r in summary.worst}
    return Report(summary, classes, inputs, top, {r: i for r, i in ids.items() if r in wanted})
