"""The result of a ``cecli score`` run: :class:`Report`, and :func:`build_report` that makes it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cecli._version import __version__
from cecli.kept import KeptRows
from cecli.mean_interval import MIN_ROWS, NOTES
from cecli.report.format import finite, fmt_number
from cecli.report.gates import Gate, _Named
from cecli.report.label_issues import NO_LABEL_ISSUES, LabelIssueSection

if TYPE_CHECKING:
    from cecli.accumulate import RowFacts, Summary
    from cecli.calibration import CalibrationSummary, ReliabilityBin, TemperatureFit
    from cecli.el2n import El2nSummary
    from cecli.label_issues import LabelIssueFindings
    from cecli.readers.shards import ShardMap
    from cecli.shown import Shown
    from cecli.slices import SliceTable


#: Upper edges of the loss histogram's bins, in nats (the last bin is open).
#: The keys of one listed row in the JSON document, in order (see :meth:`Report.row_dict`).
ROW_KEYS = (
    "row",
    "id",
    "label",
    "label_index",
    "predicted",
    "predicted_index",
    "confidence",
    "p_true",
    "loss",
)


@dataclass(frozen=True)
class Report(_Named):
    """Everything a renderer shows. ``ids`` maps a row number to its id, when there are ids.

    ``show`` holds the ``--show`` values of every row listed (worst, flagged and
    label issues); each listed row of the JSON document gains ``"show"``, an
    object of the columns' values (text, or null where missing), after its other keys.
    """

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
    #: The likely label errors (``--label-issues``).
    label_issues: LabelIssueSection | None = None
    #: Every slice of the rows (``--by``), worst first.
    slices: SliceTable | None = None
    #: The distribution of the rows' EL2N scores (``--el2n``).
    el2n: El2nSummary | None = None
    #: For an input of many files, which file each row is in: listed rows gain
    #: ``file`` and ``file_row``. None for one file, whose rows gain nothing.
    shards: ShardMap | None = None
    #: The ``--show`` columns' values of the listed rows; None without ``--show``.
    show: Shown | None = None

    def el2n_dict(self) -> dict[str, Any] | None:
        """The EL2N distribution for JSON: mean, max, the quantiles ``p10`` to ``p99``."""
        e = self.el2n
        if e is None:
            return None
        return {
            "n_samples": e.n_samples,
            "mean": finite(e.mean),
            "max": finite(e.max),
            "upper": e.upper,
            **{f"p{round(q * 100)}": finite(v) for q, v in e.quantiles.items()},
            "quantile_error": e.quantile_error,
        }

    def ignored_dict(self) -> dict[str, Any]:
        """``ignore_label`` and ``n_ignored``, with ``--ignore-label``; else nothing."""
        s = self.summary
        if s.ignore_index is None:
            return {}
        label = self.inputs.get("ignore_label")
        return {"ignore_label": str(s.ignore_index) if label is None else label,
                "n_ignored": s.n_ignored}  # fmt: skip

    def top_k_dict(self) -> dict[str, Any]:
        """``top_k`` and ``top_k_accuracy``, with ``--top-k``; else nothing."""
        s = self.summary
        if s.top_k is None:
            return {}
        return {"top_k": s.top_k, "top_k_accuracy": finite(s.top_k_accuracy)}

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
            "ece": finite(c.ece),
            "mce": finite(c.mce),
            "rms_calibration_error": finite(c.rms_calibration_error),
            "classwise_ece": finite(c.classwise_ece),
            "adaptive_ece": finite(c.adaptive_ece),
            "adaptive_ece_bound": finite(c.adaptive_ece_bound),
            "brier": finite(c.brier),
            "brier_decomposition": _decomposition_dict(c),
            "mean_confidence": finite(c.mean_confidence),
            "accuracy": finite(c.accuracy),
            "entropy": finite(c.entropy),
            "target_entropy": finite(c.target_entropy),
            "kl_divergence": finite(c.kl_divergence),
            "cross_entropy": finite(c.cross_entropy),
            "bins": [_bin_dict(b) for b in c.bins],
            "adaptive_bins": [_bin_dict(b) for b in c.adaptive_bins],
            "temperature": None,
            "loss_at_temperature": None,
            "ece_at_temperature": None,
        }
        if t is not None:
            out |= {
                "temperature": finite(t.temperature),
                "loss_at_temperature": finite(t.loss),
                "ece_at_temperature": finite(t.ece),
                "loss_before_temperature": finite(t.loss_before),
                "ece_before_temperature": finite(t.ece_before),
                "temperature_at_bound": t.at_bound,
                "temperature_bounds": list(t.bounds),
                "temperature_rows": t.n_samples,
            }
        return out

    def slices_dict(self, rows: bool = True) -> dict[str, Any]:
        """``slicing`` and ``slices`` of the JSON document, with ``--by``; else nothing.

        With ``rows=False`` the list of slices is empty: a million are written
        as text by :mod:`cecli.render.json`, never as dicts.
        """
        if self.slices is None:
            return {}
        from cecli.report.slices import slices_list, slicing_dict

        listed = slices_list(self.slices) if rows else []
        return {"slicing": slicing_dict(self.slices), "slices": listed}

    def interval_text(self) -> str:
        """The mean loss's interval for a person (``95% CI 0.1689 to 0.4846``), or "no 95% CI"."""
        s = self.summary
        level = f"{s.ci_level:.0%}"
        if s.ci_low is None or s.ci_high is None:
            return f"no {level} CI"
        return f"{level} CI {fmt_number(s.ci_low)} to {fmt_number(s.ci_high)}"

    def interval_note(self) -> str | None:
        """Why there is no interval, or why it may be too narrow; None when nothing is known."""
        note = self.summary.ci_note
        return None if note is None else NOTES[note].format(min_rows=MIN_ROWS)

    @property
    def row_keys(self) -> tuple[str, ...]:
        """The keys of a listed row: :data:`ROW_KEYS`, and ``rank`` with ``top_k``."""
        keys = ROW_KEYS + (("rank",) if self.summary.top_k is not None else ())
        return keys + (("show",) if self.show is not None else ())

    def predicted_name(self, row: RowFacts) -> str:
        if self.summary.kind == "multilabel":
            return "present" if row.predicted else "absent"
        return self.label_name(row.predicted)

    def row_dict(self, row: RowFacts) -> dict[str, Any]:
        out: dict[str, Any] = {"row": row.row}
        if self.shards is not None:
            out["file"], out["file_row"] = self.shards.file_of(row.row)
        return (
            out
            | {
                "id": self.ids.get(row.row),
                "label": self.label_name(row.label),
                "label_index": row.label,
                "predicted": self.predicted_name(row),
                "predicted_index": row.predicted,
                "confidence": finite(row.confidence),
                "p_true": finite(row.p_true),
                "loss": finite(row.loss),
            }
            | ({} if self.summary.top_k is None else {"rank": row.rank})
            | ({} if self.show is None else {"show": self.show.as_dict(row.row)})
        )

    def shown(self, rows: Sequence[RowFacts]) -> Sequence[RowFacts]:
        """The rows of ``rows`` the report lists: the first ``top``, or all when ``top`` is 0."""
        return rows if self.top == 0 else rows[: self.top]

    def per_class(self) -> list[dict[str, Any]]:
        out = []
        for c in self.summary.per_class:
            out.append(
                {
                    "class": self.label_name(c.index),
                    "count": c.count,
                    "mean_loss": finite(c.mean_loss),
                    "accuracy": finite(c.accuracy),
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
            else dict(zip(self.classes, map(finite, s.class_weights), strict=False)),
            "sample_weights": self.inputs.get("weight_column") if s.sample_weighted else None,
        }

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """The JSON document; with ``rows=False``, its lists of rows are empty.

        Those are "flagged", "worst", "label_issues" and with ``--by`` "slices".

        The renderers that stream the rows, or show none, ask for it without them:
        with ``--top 0`` there can be millions.
        """
        s = self.summary
        return {
            "cecli_version": __version__,
            "kind": s.kind,
            "input": "logits" if s.from_logits else "probabilities",
            "unit": s.unit,
            "n_samples": s.n_samples,
            **self.ignored_dict(),
            "n_classes": s.n_classes,
            "classes": list(self.classes),
            "mean_loss": finite(s.mean_loss),
            "ci_low": finite(s.ci_low),
            "ci_high": finite(s.ci_high),
            "ci_level": s.ci_level,
            "ci_note": s.ci_note,
            "sum_loss": finite(s.sum_loss),
            "perplexity": finite(s.perplexity),
            "accuracy": finite(s.accuracy),
            **self.top_k_dict(),
            "clipped": s.clipped,
            "threshold": s.threshold,
            "flagged_count": s.flagged_count,
            "flagged": [self.row_dict(r) for r in self.shown(s.flagged)] if rows else [],
            "worst": [self.row_dict(r) for r in self.shown(s.worst)] if rows else [],
            "per_class": self.per_class(),
            "weights": self.weights(),
            "label_smoothing": s.label_smoothing,
            "focal_gamma": s.focal_gamma,
            "focal_alpha": s.focal_alpha,
            "pos_weight": s.pos_weight,
            "files": {k: self.inputs[k] for k in FILE_KEYS if k in self.inputs},
            "columns": {
                "predictions": self.inputs.get("prediction_columns"),
                "labels": self.inputs.get("label_columns"),
                "id": self.inputs.get("id_column"),
                "weight": self.inputs.get("weight_column"),
                "ignored": self.inputs.get("ignored_columns", []),
                **({"show": self.inputs["show_columns"]} if "show_columns" in self.inputs else {}),
            },
            "histogram": [
                {"upper": finite(edge), "count": count}
                for edge, count in zip(
                    [*self.histogram_edges, math.inf], self.histogram, strict=False
                )
            ],
            "calibration": self.calibration_dict(),
            **(
                NO_LABEL_ISSUES
                if self.label_issues is None
                else self.label_issues.to_dict(rows=rows)
            ),
            **self.slices_dict(rows),
            **({} if self.el2n is None else {"el2n": self.el2n_dict()}),
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
        }


#: The keys of the document's ``files``: the shards only for an input of many files.
FILE_KEYS = ("predictions", "labels", "prediction_shards", "label_shards")

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


#: What the Brier decomposition's columns are, and how their terms combine, per kind.
DECOMPOSED = {
    "categorical": "each class's probability, summed over classes",
    "binary": "positive-class probability",
    "multilabel": "each label's probability, averaged over labels",
}


def _decomposition_dict(c: CalibrationSummary) -> dict[str, Any]:
    """``brier = reliability - resolution + uncertainty + within_bins``; the first three: binned."""
    d = c.brier_decomposition
    return {
        "binned": DECOMPOSED[c.kind],
        "reliability": finite(d.reliability),
        "resolution": finite(d.resolution),
        "uncertainty": finite(d.uncertainty),
        "binned_brier": finite(d.binned_brier),
        "within_bins": finite(d.within_bins),
    }


def _bin_dict(b: ReliabilityBin) -> dict[str, Any]:
    return {
        "lower": b.lower,
        "upper": b.upper,
        "count": b.count,
        "weight": b.weight,
        "confidence": finite(b.confidence),
        "accuracy": finite(b.accuracy),
        "gap": finite(b.gap),
        "accuracy_ci_low": finite(b.accuracy_ci_low),
        "accuracy_ci_high": finite(b.accuracy_ci_high),
        "effective_count": finite(b.effective_count),
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
    label_issues: LabelIssueFindings | None = None,
    slices: SliceTable | None = None,
    el2n: El2nSummary | None = None,
    shards: ShardMap | None = None,
    show: Shown | None = None,
) -> Report:
    wanted = _row_numbers(summary.flagged) | _row_numbers(summary.worst) if ids else set()
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
        None
        if label_issues is None
        else LabelIssueSection(label_issues, classes, top, shards, show),
        slices,
        el2n,
        shards,
        show,
    )


def _row_numbers(rows: Sequence[RowFacts]) -> set[int]:
    if isinstance(rows, KeptRows):  # millions, with --top 0: read the column
        return set(rows.column("row").tolist())
    return {r.row for r in rows}
