"""The report's pictures as inline SVG, drawn by hand (no matplotlib).

- :func:`reliability`: accuracy per confidence bin against the diagonal, the
  bin's mean confidence as a tick, the gap hatched (red: over-confident,
  orange: under-confident), the 95% Wilson interval as a whisker, the rows
  per bin above each bar: what ``--plot`` draws.
- :func:`loss_histogram`: rows per per-sample-loss bin (the report's
  histogram), on a log scale so that a few rows still show, with the region
  where confidently wrong rows lie shaded.
- :func:`bootstrap`: the distribution of the paired bootstrap differences
  of ``cecli compare``, the interval shaded, 0 and the difference marked.

Colours come from the page's style sheet (classes, not attributes), so the
pictures follow its light and dark schemes and print in black on white. No
text from the data is drawn: only cecli's numbers and words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cecli.render.html._markup import Markup, text

if TYPE_CHECKING:
    from cecli.calibration import ReliabilityBin

#: The drawing's size in its own units, and its margins.
WIDTH, HEIGHT = 480, 300
LEFT, RIGHT, TOP, BOTTOM = 50, 12, 28, 44


def _f(x: float) -> str:
    """A coordinate, short: ``12.5``, ``3``."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


class _Frame:
    """Maps data to the drawing: x from ``x0`` to ``x1``, y from ``y0`` to ``y1`` (upwards)."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def rect(self, x0: float, x1: float, y0: float, y1: float, kind: str, tip: str = "") -> str:
        left, right = sorted((self.x(x0), self.x(x1)))
        low, high = sorted((self.y(y0), self.y(y1)))
        title = f"<title>{text(tip)}</title>" if tip else ""
        return (
            f'<rect class="{kind}" x="{_f(left)}" y="{_f(low)}" width="{_f(right - left)}" '
            f'height="{_f(max(high - low, 0.0))}">{title}</rect>'
        )

    def line(self, x0: float, y0: float, x1: float, y1: float, kind: str) -> str:
        return (
            f'<line class="{kind}" x1="{_f(self.x(x0))}" y1="{_f(self.y(y0))}" '
            f'x2="{_f(self.x(x1))}" y2="{_f(self.y(y1))}"/>'
        )


def _label(x: float, y: float, words: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{extra}>{text(words)}</text>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round numbers from ``low`` to ``high``, about ``count`` of them (1, 2 or 5 times 10^k).

    Examples
    --------
    >>> nice_ticks(0, 1)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(-0.013, 0.021, 4)
    [-0.01, 0.0, 0.01, 0.02]
    """
    span = high - low
    if not span > 0:
        return [low]
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    i = first
    while i * step <= high + step * 1e-9:
        ticks.append(round(i * step, 12) + 0.0)
        i += 1
    return ticks


def _svg(label: str, title: str, body: list[str], defs: str = "") -> str:
    head = (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{text(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    )
    return "\n".join(
        [
            head,
            f"<defs>{defs}</defs>" if defs else "",
            _label(LEFT, 16, title, "start", ' class="title"'),
            *body,
            "</svg>",
        ]
    )


def _grid(y: float) -> str:
    """A horizontal grid line at ``y`` (in the drawing's units), across the plot."""
    return f'<line class="grid" x1="{LEFT}" y1="{_f(y)}" x2="{WIDTH - RIGHT}" y2="{_f(y)}"/>'


def _axes(frame: _Frame, xlabel: str, ylabel: str) -> list[str]:
    bottom, top = frame.y(frame.y0), frame.y(frame.y1)
    return [
        _grid(bottom).replace("grid", "axis"),
        f'<line class="axis" x1="{LEFT}" y1="{_f(bottom)}" x2="{LEFT}" y2="{_f(top)}"/>',
        _label((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 6, xlabel),
        _label(
            12,
            (TOP + HEIGHT - BOTTOM) / 2,
            ylabel,
            extra=f' transform="rotate(-90 12 {_f((TOP + HEIGHT - BOTTOM) / 2)})"',
        ),
    ]


def _key(kind: str) -> str:
    return (
        '<svg class="key" viewBox="0 0 14 10" aria-hidden="true">'
        f'<rect class="{kind}" x="0.5" y="0.5" width="13" height="9"/></svg>'
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<ul class="legend">' + "".join(f"<li>{_key(k)}{text(w)}</li>" for k, w in items) + "</ul>"
    )


_HATCH = "".join(
    f'<pattern id="hatch-{side}" width="5" height="5" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><line class="hatch-{side}" x1="0" y1="0" x2="0" y2="5" '
    'stroke-width="2"/></pattern>'
    for side in ("over", "under")
)


def reliability(bins: Sequence[ReliabilityBin], kind: str, title: str) -> Markup:
    """The reliability diagram of ``bins`` (empty ones left out), as a ``figure``.

    Examples
    --------
    >>> from cecli.calibration import ReliabilityBin
    >>> bins = [ReliabilityBin(0.5, 1.0, 4, 4.0, 0.8, 0.5, 0.3, 0.15, 0.85)]
    >>> figure = reliability(bins, "categorical", "Reliability")
    >>> figure.count('class="bar"'), figure.count('class="over"'), figure.count('"whisker"')
    (2, 2, 3)
    """
    categorical = kind == "categorical"
    frame = _Frame(0.0, 1.0, 0.0, 1.12)
    body: list[str] = []
    for t in nice_ticks(0, 1):
        y = _f(frame.y(t))
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>')
        body.append(_label(LEFT - 6, frame.y(t) + 4, f"{t:g}", "end"))
        body.append(_label(frame.x(t), HEIGHT - BOTTOM + 15, f"{t:g}"))
    body.append(frame.line(0, 0, 1, 1, "diag"))
    used = [b for b in bins if b.count and b.accuracy is not None and b.confidence is not None]
    credit = "accuracy" if categorical else "fraction positive"
    for b in used:
        accuracy, confidence = float(b.accuracy or 0.0), float(b.confidence or 0.0)
        tip = (
            f"{b.lower:.3f} to {b.upper:.3f}: {b.count:,} rows, mean "
            f"{'confidence' if categorical else 'p'} {confidence:.3f}, {credit} {accuracy:.3f}"
        )
        body.append(frame.rect(b.lower, b.upper, 0, accuracy, "bar", tip))
        if abs(confidence - accuracy) > 1e-9:
            side = "over" if confidence > accuracy else "under"
            body.append(frame.rect(b.lower, b.upper, accuracy, confidence, side, tip))
        middle = (b.lower + b.upper) / 2
        low, high = b.accuracy_ci_low, b.accuracy_ci_high
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            body.append(frame.line(middle, low, middle, high, "whisker"))
            cap = (b.upper - b.lower) / 6
            for end in (low, high):
                body.append(frame.line(middle - cap, end, middle + cap, end, "whisker"))
        body.append(frame.line(b.lower, confidence, b.upper, confidence, "conf"))
        top = max(accuracy, confidence, high if high is not None else 0.0)
        y = frame.y(min(top + 0.015, 1.1)) - 2
        if len(used) > 10:
            x = frame.x(middle) + 3
            body.append(
                _label(
                    x,
                    y,
                    f"{b.count:,}",
                    "start",
                    f' class="small" transform="rotate(-90 {_f(x)} {_f(y)})"',
                )
            )
        else:
            body.append(_label(frame.x(middle), y, f"{b.count:,}", extra=' class="small"'))
    what = "top-1 confidence" if categorical else "predicted probability"
    body += _axes(frame, f"{what} (rows per bin above the bars)", credit)
    svg = _svg(f"Reliability diagram: {title}", title, body, _HATCH)
    legend = _legend(
        [
            ("bar", credit),
            ("conf-key", "mean confidence" if categorical else "mean p"),
            ("over", "gap: over-confident" if categorical else "gap: p too high"),
            ("under", "gap: under-confident" if categorical else "gap: p too low"),
            ("whisker-key", "95% interval (Wilson)"),
        ]
    )
    return Markup(f"<figure>{svg}<figcaption>{legend}</figcaption></figure>\n")


def _bin_names(edges: Sequence[float]) -> list[str]:
    names, lower = [], 0.0
    for edge in edges:
        names.append(f"{lower:g}-{edge:.3g}")
        lower = edge
    return [*names, f"> {lower:.3g}"]


def _flag_position(edges: Sequence[float], flag_at: float) -> float | None:
    """Where ``flag_at`` lies on the axis of equal-width bins, log-interpolated in its bin."""
    if not (math.isfinite(flag_at) and flag_at > 0) or not edges:
        return None
    lowers = [edges[0] / 3, *edges]
    uppers = [*edges, edges[-1] * 3]
    for i, (low, high) in enumerate(zip(lowers, uppers, strict=True)):
        if flag_at <= high or i == len(edges):
            share = math.log(max(flag_at, low) / low) / math.log(high / low)
            return i + min(max(share, 0.0), 1.0)
    return None


def loss_histogram(
    counts: Sequence[int], edges: Sequence[float], unit: str, flag_at: float
) -> Markup:
    """Rows per per-sample-loss bin (bin ``i`` ends at ``edges[i]``, the last open), log scale.

    Examples
    --------
    >>> figure = loss_histogram([5, 0, 1], [0.1, 1.0], "nats", 2.3)
    >>> figure.count('<rect class="bar"'), "&gt; 1" in figure, 'class="shade"' in figure
    (4, True, True)
    """
    n = len(counts)
    peak = max(max(counts, default=0), 1)
    top = math.log10(peak + 1) * 1.12
    frame = _Frame(0.0, float(n), 0.0, top)
    body: list[str] = []
    position = _flag_position(edges, flag_at)
    if position is not None:
        body.append(frame.rect(position, n, 0, top, "shade", "where confidently wrong rows lie"))
        body.append(frame.line(position, 0, position, top, "flag"))
    power = 1
    while power <= peak * 10:
        y = frame.y(math.log10(power + 1))
        if math.log10(power + 1) <= top:
            body.append(_grid(y))
            body.append(_label(LEFT - 6, y + 4, f"{power:,}", "end"))
        power *= 10
    total = max(sum(counts), 1)
    for i, (count, name) in enumerate(zip(counts, _bin_names(edges), strict=True)):
        height = math.log10(count + 1)
        tip = f"loss {name} {unit}: {count:,} rows ({count / total:.1%})"
        body.append(frame.rect(i + 0.08, i + 0.92, 0, height, "bar", tip))
        body.append(
            _label(frame.x(i + 0.5), frame.y(height) - 3, f"{count:,}", extra=' class="small"')
        )
        body.append(_label(frame.x(i + 0.5), HEIGHT - BOTTOM + 14, name, extra=' class="small"'))
    body += _axes(frame, f"per-sample loss ({unit})", "rows (log scale)")
    title = f"Per-sample loss ({unit})"
    svg = _svg(f"Histogram of per-sample loss in {unit}", title, body)
    items = [("bar", "rows per loss bin")]
    if position is not None:
        items.append(("shade", "where confidently wrong rows lie"))
    return Markup(f"<figure>{svg}<figcaption>{_legend(items)}</figcaption></figure>\n")


def bootstrap(
    resamples: Sequence[float],
    estimate: float,
    ci_low: float,
    ci_high: float,
    confidence: float,
    unit: str,
) -> Markup:
    """The bootstrap differences' histogram, the interval shaded, 0 and the estimate marked.

    Examples
    --------
    >>> figure = bootstrap([0.1, 0.2, 0.2, 0.3], 0.2, 0.1, 0.3, 0.95, "nats")
    >>> 'class="band"' in figure, 'class="zero"' in figure, "difference +0.2" in figure
    (True, True, True)
    """
    import numpy as np

    values = np.asarray(resamples, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Markup('<p class="muted">No bootstrap resamples to draw.</p>\n')
    interval = math.isfinite(ci_low) and math.isfinite(ci_high)
    points = [float(values.min()), float(values.max()), 0.0]
    points += [estimate] if math.isfinite(estimate) else []
    points += [ci_low, ci_high] if interval else []
    low, high = min(points), max(points)
    span = high - low or max(abs(low), 1e-9)
    low, high = low - span * 0.05, high + span * 0.05
    bins = min(60, max(10, int(math.sqrt(len(values)))))
    counts, edges = np.histogram(values, bins=bins)
    peak = max(int(counts.max()), 1)
    frame = _Frame(low, high, 0.0, peak * 1.1)
    body: list[str] = []
    if interval:
        tip = f"{confidence:.0%} interval {ci_low:+.4g} to {ci_high:+.4g}"
        body.append(frame.rect(ci_low, ci_high, 0, peak * 1.1, "band", tip))
    for t in nice_ticks(0, peak, 4):
        y = frame.y(t)
        body.append(_grid(y))
        body.append(_label(LEFT - 6, y + 4, f"{t:,.0f}", "end"))
    for t in nice_ticks(low, high, 5):
        body.append(_label(frame.x(t), HEIGHT - BOTTOM + 15, f"{t:+.3g}" if t else "0"))
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            body.append(
                frame.rect(
                    left,
                    right,
                    0,
                    count,
                    "bar",
                    f"{left:+.4g} to {right:+.4g}: {count:,} resamples",
                )
            )
    body.append(frame.line(0, 0, 0, peak * 1.1, "zero"))
    if math.isfinite(estimate):
        body.append(frame.line(estimate, 0, estimate, peak * 1.1, "estimate"))
    body += _axes(frame, f"candidate - baseline mean loss ({unit}), per resample", "resamples")
    title = f"Paired bootstrap: {len(values):,} resamples"
    svg = _svg("Distribution of the bootstrap differences", title, body)
    items = [("bar", "resamples")]
    if interval:
        items.append(("band", f"{confidence:.0%} interval"))
    if math.isfinite(estimate):
        items.append(("estimate-key", f"difference {estimate:+.4g}"))
    items.append(("zero-key", "no difference (0)"))
    return Markup(f"<figure>{svg}<figcaption>{_legend(items)}</figcaption></figure>\n")
