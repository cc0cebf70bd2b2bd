"""Pictures of a report, with matplotlib (an optional extra: ``pip install cecli[plot]``).

:func:`write_plot` draws one figure for a report and writes it to a .png,
.svg or .pdf file: for ``cecli score``, the reliability diagram (when the
report has calibration) and the histogram of per-sample losses with the
region where confidently wrong rows lie; for ``cecli compare``, the
distribution of the bootstrap differences with the interval. The file is
written beside its final path and renamed into place, so a failed run
leaves no half-written picture.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cecli.errors import OptionError, OutputError, reason_of
from cecli.losses import log_base_of

FORMATS = (".png", ".svg", ".pdf")
#: Figure size in inches and resolution: 1,600 x 1,000 pixels for two panels.
PANEL_INCHES = (8.0, 10.0)
DPI = 100


def check_plot_path(path: str) -> Path:
    """The path, if its extension is one matplotlib writes here and its folder exists."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise OptionError(
            f"--plot {path}: the picture's format comes from its extension; use .png, .svg or .pdf."
        )
    if target.is_dir():
        raise OptionError(
            f"--plot {path}: is a folder; name a file in it, such as {target / 'cecli.png'}."
        )
    if not target.parent.is_dir():
        raise OptionError(f"--plot {path}: the folder {str(target.parent)!r} does not exist.")
    require_matplotlib()
    return target


def require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise OptionError(
            "--plot needs matplotlib, which is not installed: pip install 'cecli[plot]' "
            "(from a checkout: pip install '.[plot]'; or pip install matplotlib)."
        ) from None
    matplotlib.use("Agg")  # files only: never a window
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    """Write the figure beside ``path``, then rename it into place."""
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent or "."
        )
    except OSError as error:
        raise _failed(path, error) from None
    try:
        os.close(fd)
        figure.savefig(temporary, dpi=DPI, format=path.suffix.lower().lstrip("."))
        # mkstemp's file is private (0600): give it the mode of the file it replaces, or
        # the one a new file would have
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            mask = os.umask(0)
            os.umask(mask)
            mode = 0o666 & ~mask
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _failed(path, error) from None
        raise


def _failed(path: Path, error: OSError) -> OutputError:
    reason = reason_of(error)
    return OutputError(f"--plot {path}: cannot be written: {reason}.")


def loss_panel(ax: Any, edges: list[float], counts: list[int], unit: str, flag_at: float) -> None:
    """Histogram of per-sample losses, log-log so that a few rare rows show; flagged region shaded.

    The first bin holds every loss up to its upper edge, 0 included.
    """
    from matplotlib.ticker import LogLocator

    lows = np.asarray(edges[:-1], dtype=float)
    highs = np.asarray(edges[1:], dtype=float)
    heights = np.asarray(counts, dtype=float)
    ax.bar(lows, heights, width=highs - lows, align="edge", color="#4c72b0", edgecolor="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.7, max(1.0, heights.max()) * 2)
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.set_xlabel(f"per-sample loss ({unit}), log scale; the first bar holds every smaller loss")
    ax.set_ylabel("rows (log scale)")
    if math.isfinite(flag_at) and flag_at > 0:
        ax.axvspan(
            flag_at,
            highs[-1] if len(highs) else flag_at * 10,
            color="#c44e52",
            alpha=0.15,
            label="where confidently wrong rows lie",
        )
        ax.axvline(flag_at, color="#c44e52", linewidth=1)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Per-sample loss")


def label_issue_overlay(ax: Any, edges: list[float], findings: Any, summary: Any) -> None:
    """The likely label errors' own losses, outlined over the loss histogram.

    A categorical or binary row's loss is ``-log p`` of its given label, which
    the findings hold, when no smoothing or focal term changes the loss; then
    the outline shows where among the losses the label errors lie. Otherwise
    (and for multilabel, whose loss is a mean over labels) only their count
    is given, in the legend.
    """
    n = findings.n_issues
    label = f"likely label errors ({n:,}, --label-issues)"
    plain = (
        summary.label_smoothing == 0
        and summary.focal_gamma == 0
        and summary.focal_alpha is None
        and summary.pos_weight is None
    )
    if summary.kind == "multilabel" or not plain or n == 0:
        ax.plot([], [], " ", label=label)  # a legend entry without a mark
    else:
        losses = -np.log(np.maximum(findings.p_given, np.finfo(np.float64).tiny))
        losses /= log_base_of(summary.unit)
        inner = np.asarray(edges[1:-1], dtype=float)
        # bin b holds edges[b] < loss <= edges[b + 1], as the loss histogram counts them
        counts = np.bincount(np.searchsorted(inner, losses), minlength=len(inner) + 1)
        ax.stairs(counts, edges, color="#dd8452", linewidth=1.5, label=label)
    ax.legend(loc="upper right", fontsize=8)


def bootstrap_panel(
    ax: Any,
    resamples: np.ndarray,
    estimate: float,
    ci_low: float,
    ci_high: float,
    confidence: float,
    unit: str,
) -> None:
    """Histogram of the bootstrap differences, the interval shaded, 0 and the estimate marked."""
    values = np.asarray(resamples, dtype=float)
    values = values[np.isfinite(values)]
    bins = min(80, max(10, int(math.sqrt(len(values)))))
    if math.isfinite(ci_low) and math.isfinite(ci_high):  # NaN: no interval was estimated
        ax.axvspan(
            ci_low,
            ci_high,
            color="#dd8452",
            alpha=0.3,
            zorder=0,
            label=f"{confidence:.0%} interval",
        )
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="none", alpha=0.85, zorder=2)
    ax.axvline(
        estimate, color="black", linewidth=1.2, zorder=3, label=f"difference {estimate:+.4g}"
    )
    ax.axvline(0.0, color="#c44e52", linewidth=1, linestyle="--", zorder=3, label="no difference")
    ax.set_xlabel(f"candidate - baseline mean loss ({unit}), per resample")
    ax.set_ylabel("resamples")
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(f"Paired bootstrap: {len(values):,} resamples")


def reliability_panel(ax: Any, bins: Any, kind: str, title: str) -> None:
    """Accuracy per bin against the diagonal, each bin's mean confidence marked, the gap hatched.

    The bar is the accuracy (fraction positive); a black tick marks the bin's
    mean confidence; the gap between them is hatched red where the model is
    over-confident (the tick above the bar) and orange where it is
    under-confident (the tick inside the bar). A whisker on each bar is the
    95% Wilson interval of its accuracy, so that a thin bin's gap is not read
    as a large one. The rows in each bin are written above it.
    """
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    used = [b for b in bins if b.count and b.accuracy is not None and b.confidence is not None]
    categorical = kind == "categorical"
    if used:
        lows = np.array([b.lower for b in used])
        widths = np.array([b.upper - b.lower for b in used])
        accuracy = np.array([b.accuracy for b in used])
        confidence = np.array([b.confidence for b in used])
        ax.bar(
            lows,
            accuracy,
            width=widths,
            align="edge",
            color="#4c72b0",
            edgecolor="white",
            label="accuracy" if categorical else "fraction positive",
        )
        for over, colour, name in (
            (True, "#c44e52", "gap: over-confident" if categorical else "gap: p too high"),
            (False, "#dd8452", "gap: under-confident" if categorical else "gap: p too low"),
        ):
            pick = confidence > accuracy if over else confidence < accuracy
            if pick.any():
                low = np.minimum(accuracy, confidence)[pick]
                ax.bar(
                    lows[pick],
                    np.abs(confidence - accuracy)[pick],
                    bottom=low,
                    width=widths[pick],
                    align="edge",
                    facecolor="none",
                    edgecolor=colour,
                    hatch="///",
                    linewidth=1,
                    label=name,
                )
        low_ci = np.array([b.accuracy_ci_low for b in used], dtype=float)
        high_ci = np.array([b.accuracy_ci_high for b in used], dtype=float)
        if np.isfinite(low_ci).all() and np.isfinite(high_ci).all():
            # a thin bin's bar is noise: the whisker says how much
            ax.errorbar(
                lows + widths / 2,
                accuracy,
                yerr=np.vstack([accuracy - low_ci, high_ci - accuracy]).clip(0),
                fmt="none",
                ecolor="#222222",
                elinewidth=1,
                capsize=2,
                label="95% interval (Wilson)",
                zorder=4,
            )
        ax.hlines(
            confidence,
            lows,
            lows + widths,
            colors="black",
            linewidth=2,
            label="mean confidence" if categorical else "mean p",
        )
        for b, low, width in zip(used, lows, widths, strict=True):
            top = max(b.accuracy, b.confidence, b.accuracy_ci_high or 0.0)
            ax.text(
                low + width / 2,
                min(top + 0.02, 1.02),
                f"{b.count:,}",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90 if len(used) > 10 else 0,
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.15)
    what = "top-1 confidence" if categorical else "predicted probability"
    ax.set_xlabel(f"{what} (rows per bin written above the bars)")
    ax.set_ylabel("accuracy" if categorical else "fraction positive")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)


def write_score_plot(path: Path, report: Any, scored: Any, *, adaptive: bool = False) -> None:
    """The reliability diagram and the per-sample loss histogram of a ``cecli score`` run."""
    plt = require_matplotlib()
    s = report.summary
    c = scored.calibration
    figure, (top, bottom) = plt.subplots(2, 1, figsize=PANEL_INCHES)
    bins = c.adaptive_bins if adaptive else c.bins
    shape = "equal-mass" if adaptive else "equal-width"
    ece = c.adaptive_ece if adaptive else c.ece
    reliability_panel(top, bins, s.kind, f"Reliability: {len(bins)} {shape} bins, ECE {ece:.4f}")
    # a confidently wrong row gave its true class at most 1 - threshold (multilabel: one cell)
    flag_at = math.nan
    if s.kind != "multilabel" and s.threshold < 1:
        flag_at = -math.log1p(-s.threshold) / log_base_of(s.unit)
    edges = [0.0, *scored.fine_edges]
    # the open last bin, drawn as one more decade-tenth
    edges.append(edges[-1] * edges[-1] / edges[-2])
    edges[0] = (
        edges[1] * edges[1] / edges[2]
    )  # losses of 0 go in the first bin, drawn on a log axis
    loss_panel(bottom, edges, scored.fine_histogram, s.unit, flag_at)
    if scored.label_issues is not None:
        label_issue_overlay(bottom, edges, scored.label_issues, s)
    figure.suptitle(
        f"cecli score: {s.n_samples:,} rows, mean loss {s.mean_loss:.4f} {s.unit} "
        f"({report.interval_text()})"
    )
    figure.tight_layout()
    try:
        _save(figure, path)
    finally:
        plt.close(figure)


def write_compare_plot(path: Path, report: Any) -> None:
    """The bootstrap distribution of a :class:`~cecli.report.CompareReport`."""
    plt = require_matplotlib()
    c = report.comparison
    figure, ax = plt.subplots(figsize=(PANEL_INCHES[0], PANEL_INCHES[1] / 2))
    bootstrap_panel(
        ax,
        c.bootstrap.resamples,
        c.delta_mean_loss,
        c.ci_low,
        c.ci_high,
        c.confidence,
        report.unit,
    )
    figure.suptitle(f"cecli compare: {c.verdict.replace('_', ' ')}")
    figure.tight_layout()
    try:
        _save(figure, path)
    finally:
        plt.close(figure)
