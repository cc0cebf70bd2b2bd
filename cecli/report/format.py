"""How the reports put numbers: table cells, calibration gaps, and JSON's finite values."""

from __future__ import annotations

import math


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


def finite(value: float | None) -> float | None:
    """NaN and infinities never reach JSON: they become null.

    Examples
    --------
    >>> finite(float("nan")) is None, finite(2)
    (True, 2.0)
    """
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def ignored_text(summary: object, label: str) -> str:
    """The rows ``--ignore-label`` left out, for a person: ``12 rows (label -100)``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ignored_text(SimpleNamespace(n_ignored=1, kind="binary"), "-100")
    '1 row (label -100)'
    """
    n = getattr(summary, "n_ignored", 0)
    what = "row" if n == 1 else "rows"
    if getattr(summary, "kind", None) == "multilabel":
        what += " whose every cell is"
        return f"{n:,} {what} {label}"
    return f"{n:,} {what} (label {label})"


def columns_text(columns: list[object], most: int) -> str | None:
    """The prediction columns for a person, at most ``most`` named; None when not worth saying.

    One column named ``0``, ``values`` (an NPY array) or nothing says nothing.

    Examples
    --------
    >>> columns_text(["cat", "dog"], 6)
    'cat, dog'
    >>> columns_text([str(i) for i in range(10)], 6)
    '0, 1, 2, ..., 9 (10)'
    >>> columns_text(["values"], 6) is None
    True
    """
    if not (len(columns) > 1 or (columns and columns[0] not in ("0", "", "values"))):
        return None
    if len(columns) <= most:
        return ", ".join(map(str, columns))
    shown = [*columns[: most // 2], "...", columns[-1]]
    return ", ".join(map(str, shown)) + f" ({len(columns):,})"


def weighting_text(weights: dict[str, object], *, quote: bool = False) -> str:
    """The weighting of a report's :meth:`~cecli.report.Report.weights`, for a person.

    ``quote`` writes the sample weights' column as ``repr`` does.

    Examples
    --------
    >>> weighting_text({"class_weights": "balanced", "sample_weights": "w"}, quote=True)
    "class weights (balanced) x sample weights (column 'w')"
    """
    parts = []
    if weights["class_weights"]:
        parts.append(f"class weights ({weights['class_weights']})")
    if weights["sample_weights"]:
        column = weights["sample_weights"]
        parts.append(
            f"sample weights (column {column!r})" if quote else f"sample weights (column {column})"
        )
    return " x ".join(parts)
