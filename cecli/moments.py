"""Mergeable weighted central moments, and the quantiles of Student's t: pure, no SciPy.

:class:`Moments` holds, per group of values, the weight, the weighted mean and
the central sums ``M2 = sum w (x - mean)^2`` and ``M3 = sum w (x - mean)^3``.
Two sets over different rows merge by the pairwise formulas of Chan, Golub
and LeVeque (1979) and Pébay (2008, "Formulas for robust, one-pass parallel
computation of covariances and arbitrary-order statistical moments", Sandia
SAND2008-6212), extended to weights. Raw power sums (``sum w x^2``) are never
kept: their difference cancels catastrophically when the mean is large
against the spread.

:func:`t_quantile` inverts the t distribution's CDF (the regularised
incomplete beta function, by its continued fraction) for small and moderate
degrees of freedom, and uses the Cornish-Fisher expansion (Abramowitz and
Stegun 26.7.5) for large ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Array = NDArray[np.float64]


@dataclass(frozen=True)
class Moments:
    """Weighted central moments up to ``order`` (1, 2 or 3) of values in ``len(weight)`` groups.

    ``weight[g]`` is ``sum w``, ``mean[g]`` the weighted mean, ``m2[g]`` and
    ``m3[g]`` the weighted central sums of squares and cubes of group ``g``
    (zero above ``order``). An empty group has weight, mean and sums 0.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.moments import Moments
    >>> x = np.array([1.0, 2.0, 4.0, 8.0])
    >>> whole = Moments.of(x)
    >>> halves = Moments.of(x[:2]).merge(Moments.of(x[2:]))
    >>> whole.mean.tolist(), whole.m2.tolist(), whole.m3.tolist()
    ([3.75], [28.75], [50.625])
    >>> np.allclose(halves.m3, whole.m3)
    True
    """

    weight: _Array
    mean: _Array
    m2: _Array
    m3: _Array
    order: int = 3

    @classmethod
    def of(
        cls,
        values: ArrayLike,
        weights: ArrayLike | None = None,
        groups: NDArray[np.intp] | None = None,
        n_groups: int = 1,
        order: int = 3,
    ) -> Moments:
        """The moments of ``values`` (weighted by ``weights``, 1 each if None), per group.

        ``groups`` gives each value's group (0 to ``n_groups - 1``); None puts
        all in one. Two passes: the means first, then the central sums about them.
        """
        x = np.asarray(values, dtype=np.float64)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        if groups is None:
            if w is None:
                return _unweighted(x, order)
            return power_moments(x, w, powers=(1,), order=order)[0]
        total = np.bincount(groups, weights=w, minlength=n_groups).astype(np.float64)
        raw = np.bincount(groups, weights=x if w is None else w * x, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, raw / total, 0.0)
        m2 = np.zeros(n_groups)
        m3 = np.zeros(n_groups)
        if order >= 2:
            d = x - mean[groups]
            d2 = d * d
            m2 = np.bincount(groups, weights=d2 if w is None else w * d2, minlength=n_groups)
            if order >= 3:
                d2 *= d
                m3 = np.bincount(groups, weights=d2 if w is None else w * d2, minlength=n_groups)
        return cls(total, mean, m2, m3, order)

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of values, group by group (neither is changed).

        With ``W = Wa + Wb`` and ``d = mean_b - mean_a``:
        ``mean = mean_a + d Wb / W``, ``M2 = M2a + M2b + d^2 Wa Wb / W``,
        ``M3 = M3a + M3b + d^3 Wa Wb (Wa - Wb) / W^2 + 3 d (Wa M2b - Wb M2a) / W``.
        """
        order = min(self.order, other.order)
        wa, wb = self.weight, other.weight
        w = wa + wb
        d = other.mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share_b = np.where(w > 0, wb / w, 0.0)
            share_a = np.where(w > 0, wa / w, 0.0)
        mean = self.mean + d * share_b
        m2 = np.zeros_like(w)
        m3 = np.zeros_like(w)
        if order >= 2:
            m2 = self.m2 + other.m2 + d * d * wa * share_b
        if order >= 3:
            m3 = (
                self.m3
                + other.m3
                + d * d * d * wa * share_b * (share_a - share_b)
                + 3.0 * d * (share_a * other.m2 - share_b * self.m2)
            )
        return Moments(w, mean, m2, m3, order)

    def about(self, center: ArrayLike) -> tuple[_Array, _Array]:
        """``(sum w (x - c)^2, sum w (x - c)^3)`` per group, about ``center`` (one per group).

        ``sum w (x - c)^2 = M2 + W e^2`` and
        ``sum w (x - c)^3 = M3 + 3 e M2 + W e^3``, with ``e = mean - c``.
        """
        e = self.mean - np.asarray(center, dtype=np.float64)
        return self.m2 + self.weight * e * e, self.m3 + 3.0 * e * self.m2 + self.weight * e**3

    def scaled(self, factor: float) -> Moments:
        """The moments with every weight multiplied by ``factor`` (the mean does not change)."""
        if factor == 1.0:
            return self
        return Moments(
            self.weight * factor, self.mean, self.m2 * factor, self.m3 * factor, self.order
        )


#: Rows per block of the one-group passes: the scratch stays in cache, and no call is a
#: large BLAS product (OpenBLAS runs those on threads of its own; see cecli._kernels).
BLOCK_ROWS = 1 << 14


def _unweighted(x: _Array, order: int) -> Moments:
    """One group, weights 1: the mean, then the central sums about it, block by block."""
    n = len(x)
    mean = float(x.sum()) / n if n else 0.0
    m2 = m3 = 0.0
    if order >= 2 and n:
        d = np.empty(min(n, BLOCK_ROWS))
        d2 = np.empty_like(d)
        parts2, parts3 = [], []
        for lo in range(0, n, BLOCK_ROWS):
            xb = x[lo : lo + BLOCK_ROWS]
            db, db2 = d[: len(xb)], d2[: len(xb)]
            np.subtract(xb, mean, out=db)
            np.multiply(db, db, out=db2)
            parts2.append(float(db2.sum()))
            if order >= 3:
                np.multiply(db2, db, out=db2)
                parts3.append(float(db2.sum()))
        m2, m3 = math.fsum(parts2), math.fsum(parts3)
    return Moments(np.array([float(n)]), np.array([mean]), np.array([m2]), np.array([m3]), order)


def power_moments(
    values: ArrayLike,
    weights: ArrayLike,
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
    powers: tuple[int, ...] = (1, 2, 3),
    order: int | None = None,
) -> list[Moments]:
    """The moments of ``values`` under the weights ``w ** k`` for each ``k`` of ``powers``.

    Under ``w ** k`` up to order ``k`` (or ``order``). One group is done in
    one pass over the values, block by block (each block's moments in cache,
    then merged); groups by :meth:`Moments.of`.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.moments import Moments, power_moments
    >>> x, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 1.0])
    >>> squared = power_moments(x, w)[1]
    >>> squared.mean.tolist(), squared.m2.tolist()
    ([2.1666666666666665], [4.833333333333333])
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    orders = [k if order is None else order for k in powers]
    if groups is not None:
        powered = {1: w}
        for k in range(2, max(powers) + 1):
            powered[k] = powered[k - 1] * w
        return [
            Moments.of(x, powered[k], groups, n_groups, order=o)
            for k, o in zip(powers, orders, strict=True)
        ]
    n = len(x)
    size = max(1, min(n, BLOCK_ROWS))
    bk, prod, d = np.empty(size), np.empty(size), np.empty(size)
    totals: list[tuple[float, float, float, float] | None] = [None] * len(powers)
    for lo in range(0, n, BLOCK_ROWS):
        xb, wb = x[lo : lo + BLOCK_ROWS], w[lo : lo + BLOCK_ROWS]
        m = len(xb)
        b, t, db = bk[:m], prod[:m], d[:m]
        for j, (k, o) in enumerate(zip(powers, orders, strict=True)):
            if j and powers[j - 1] == k - 1:  # the previous power, once more
                np.multiply(b, wb, out=b)
            else:
                np.power(wb, k, out=b)
            weight = float(b.sum())
            mean = float(np.multiply(b, xb, out=t).sum()) / weight if weight > 0 else 0.0
            m2 = m3 = 0.0
            if o >= 2 and weight > 0:
                np.subtract(xb, mean, out=db)
                np.multiply(db, db, out=t)
                np.multiply(t, b, out=t)
                m2 = float(t.sum())
                if o >= 3:
                    m3 = float(np.multiply(t, db, out=t).sum())
            block = (weight, mean, m2, m3)
            totals[j] = block if totals[j] is None else _merge_one(totals[j], block)
    out = []
    for total, o in zip(totals, orders, strict=True):
        weight, mean, m2, m3 = total or (0.0, 0.0, 0.0, 0.0)
        m2, m3 = (m2 if o >= 2 else 0.0), (m3 if o >= 3 else 0.0)  # merging made them up
        out.append(Moments(*(np.array([v]) for v in (weight, mean, m2, m3)), order=o))
    return out


def _merge_one(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """:meth:`Moments.merge` of one group, in Python floats."""
    wa, ma, m2a, m3a = a
    wb, mb, m2b, m3b = b
    w = wa + wb
    if not w > 0:
        return (w, 0.0, 0.0, 0.0)
    d = mb - ma
    share_a, share_b = wa / w, wb / w
    return (
        w,
        ma + d * share_b,
        m2a + m2b + d * d * wa * share_b,
        m3a
        + m3b
        + d**3 * wa * share_b * (share_a - share_b)
        + 3.0 * d * (share_a * m2b - share_b * m2a),
    )


# -- Student's t ---------------------------------------------------------------------------

#: Above this many degrees of freedom the Cornish-Fisher expansion is within about
#: 1e-14 of the quantile (its first neglected term is of order df^-5).
_EXPANSION_DF = 1000.0


def normal_quantile(p: float) -> float:
    """The standard normal distribution's ``p`` quantile.

    A rational first guess (Abramowitz and Stegun 26.2.23, within 4.5e-4) and
    Newton steps on ``erfc``, which is accurate in both tails.

    Examples
    --------
    >>> from cecli.moments import normal_quantile
    >>> round(normal_quantile(0.975), 10), normal_quantile(0.5)
    (1.9599639845, 0.0)
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1); got {p!r}")
    if p == 0.5:
        return 0.0
    x = _normal_upper(p if p < 0.5 else 1.0 - p)  # 1 - p is exact for p >= 0.5
    return x if p > 0.5 else -x


def _normal_upper(q: float) -> float:
    """The ``x > 0`` with ``P(Z > x) = q``, for ``0 < q < 0.5``."""
    t = math.sqrt(-2.0 * math.log(q))
    x = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3
    )
    for _ in range(6):
        # the upper tail 0.5 erfc(x / sqrt 2) against q; the density is its derivative
        gap = 0.5 * math.erfc(x / math.sqrt(2.0)) - q
        step = gap / (math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi))
        x += step
        if abs(step) <= 1e-16 * x:
            break
    return x


def _incomplete_beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of ``I_x(a, b)`` (modified Lentz), for ``x < (a+1)/(a+b+2)``."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h


def _beta_tail(a: float, b: float, x: float, y: float, log_x: float | None = None) -> float:
    """``I_x(a, b)``, the regularised incomplete beta function, with ``y = 1 - x`` given exactly.

    ``log_x`` may be given where ``x`` itself underflows.
    """
    if log_x is None:
        if x <= 0.0:
            return 0.0
        log_x = math.log(x)
    if y <= 0.0:
        return 1.0
    log_front = a * log_x + b * math.log(y) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - front * _incomplete_beta_fraction(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom (``df > 0``, not whole only).

    ``P(T > t) = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t^2)``, for ``t >= 0``.

    Examples
    --------
    >>> from cecli.moments import t_sf
    >>> round(t_sf(12.706204736174707, 1), 12), t_sf(0.0, 5)
    (0.025, 0.5)
    """
    if t < 0:
        return 1.0 - t_sf(-t, df)
    r = t / math.sqrt(df)
    if r > 1e150:  # r^2 would overflow: x = 1 / (1 + r^2) is 1 / r^2, and 1 - x is 1
        return 0.5 * _beta_tail(0.5 * df, 0.5, 0.0, 1.0, log_x=-2.0 * math.log(r))
    return 0.5 * _beta_tail(0.5 * df, 0.5, 1.0 / (1.0 + r * r), r * r / (1.0 + r * r))


def _t_density(t: float, df: float) -> float:
    r = abs(t) / math.sqrt(df)
    log_scale = 2.0 * math.log(r) if r > 1e150 else math.log1p(r * r)
    log_norm = math.lgamma(0.5 * (df + 1.0)) - math.lgamma(0.5 * df) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - 0.5 * (df + 1.0) * log_scale)


def _t_expansion(z: float, df: float) -> float:
    """The Cornish-Fisher expansion of the t quantile about the normal one, to df^-4."""
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def t_quantile(p: float, df: float) -> float:
    """Student's t distribution's ``p`` quantile with ``df`` degrees of freedom (``df > 0``).

    As ``scipy.stats.t.ppf(p, df)``, to about 1e-12 relative; ``df`` need
    not be a whole number, and ``inf`` gives the normal quantile.

    Examples
    --------
    >>> from cecli.moments import t_quantile
    >>> round(t_quantile(0.975, 1), 9), round(t_quantile(0.975, 10), 9)
    (12.706204736, 2.228138852)
    >>> round(t_quantile(0.025, 1e6), 9)
    -1.959966357
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1); got {p!r}")
    if not df > 0:
        raise ValueError(f"df must be > 0; got {df!r}")
    if p == 0.5:
        return 0.0
    x = _t_upper(p if p < 0.5 else 1.0 - p, float(df))  # 1 - p is exact for p >= 0.5
    return x if p > 0.5 else -x


def _t_upper(q: float, df: float) -> float:
    """The ``t > 0`` with ``P(T > t) = q``, for ``0 < q < 0.5``."""
    z = _normal_upper(q)
    if math.isinf(df):
        return z
    if df >= _EXPANSION_DF and z * z <= df / 20.0:
        return _t_expansion(z, df)
    if df == 1.0:  # Cauchy: cot(pi q)
        return 1.0 / math.tan(math.pi * q)
    if df == 2.0:
        return (1.0 - 2.0 * q) / math.sqrt(2.0 * q * (1.0 - q))
    # Newton on the tail, kept inside a bracket [low, high] that always holds the root
    low, high = 0.0, max(z, 1.0)
    while t_sf(high, df) > q:
        low, high = high, 2.0 * high
    x = min(max(_t_expansion(z, df), low), high)
    for _ in range(400):
        gap = t_sf(x, df) - q  # > 0: x is below the quantile
        if gap > 0:
            low = x
        else:
            high = x
        density = _t_density(x, df)
        nxt = x + gap / density if density > 0 else high
        if not low < nxt < high:
            nxt = 0.5 * (low + high)
        if abs(nxt - x) <= 4e-16 * nxt or high - low <= 4e-16 * high:
            return nxt
        x = nxt
    return x
