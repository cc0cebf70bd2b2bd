"""Calibration's bins and errors from their definitions, one bin at a time, for the tests.

Nothing here imports cecli. A bin holds ``lower < c <= upper`` (the first also
``c = 0``), with edges ``b / n_bins``; ``ECE = sum_b (W_b / W) |acc_b - conf_b|``
and ``MCE = max_b |acc_b - conf_b|`` over bins with weight.
"""

from __future__ import annotations

import numpy as np


def reference_bins(confidence, credit, n_bins, weight=None) -> list[dict]:
    """Every equal-width bin, one at a time: ``lower < c <= upper``, the first from 0."""
    confidence = np.asarray(confidence, dtype=np.float64)
    credit = np.asarray(credit, dtype=np.float64)
    weight = np.ones(len(confidence)) if weight is None else np.asarray(weight, np.float64)
    bins = []
    for b in range(n_bins):
        lower, upper = b / n_bins, (b + 1) / n_bins
        inside = (confidence > lower) & (confidence <= upper)
        if b == 0:
            inside |= confidence == 0.0
        w = weight[inside]
        total = float(w.sum())
        bins.append(
            {
                "lower": lower,
                "upper": upper,
                "count": int(inside.sum()),
                "weight": total,
                "confidence": float(w @ confidence[inside]) / total if total else None,
                "accuracy": float(w @ credit[inside]) / total if total else None,
            }
        )
    return bins


def reference_ece_mce(bins: list[dict]) -> tuple[float, float]:
    """``ECE = sum_b (W_b / W) |acc_b - conf_b|`` and ``MCE = max_b |acc_b - conf_b|``."""
    total = sum(b["weight"] for b in bins)
    used = [b for b in bins if b["weight"] > 0]
    ece = sum(b["weight"] / total * abs(b["accuracy"] - b["confidence"]) for b in used)
    mce = max(abs(b["accuracy"] - b["confidence"]) for b in used)
    return ece, mce
