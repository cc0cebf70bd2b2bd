"""The mean loss's confidence interval, from mergeable moments: :class:`LossSpread`.

The mean loss is a ratio estimator, ``m = sum_i b_i l_i / sum_i b_i``, with
``b_i`` a row's weight: its sample weight times its class weight (for soft
targets, the target-weighted mean of the class weights). Linearised, its
variance is ``sum_i b_i^2 (l_i - m)^2 / (sum_i b_i)^2``, times a small-sample
factor that makes it unbiased when the losses are independent and share a
variance: ``1 / (1 - 2 S3 / (S1 S2) + S2 / S1^2)``, with ``Sk = sum_i b_i^k``
(``n / (n - 1)`` when the weights are equal). The interval is
``m +- t(df) * sqrt(variance)``, ``df = n_eff - 1`` with Kish's effective
number of rows ``n_eff = S1^2 / S2``.

"balanced" class weights are known only at the end, and depend on the class
counts, so each class is kept as a group of its own and the classes combine
as strata: each centred on its own mean, its variance weighted by its class
weight squared, the degrees of freedom by Welch and Satterthwaite's formula.

The interval is marked unreliable (``note``) when there are few rows
(:data:`MIN_ROWS`), and when the losses are so skewed that a handful of rows
carry much of the mean: Cochran's rule (Sampling Techniques, 1977, section
2.15) asks ``n > 25 G1^2`` of a mean of ``n`` rows whose skewness is ``G1``,
that is a skewness of the mean ``G1 / sqrt(n)`` below 1/5; here the skewness
of the mean is estimated as ``sum_i z_i^3 / (sum_i z_i^2)^(3/2)`` with
``z_i = b_i (l_i - m)``, which is ``G1 / sqrt(n)`` for equal weights.
``benchmarks/interval_coverage.py`` measures how often the interval covers
the true mean, with and without the mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli.moments import Moments, power_moments, t_quantile

#: The interval's confidence level.
LEVEL = 0.95
#: Below this many effective rows (``df + 1``) the interval is marked "few_rows": the
#: skewness it is judged by is itself too uncertain (benchmarks/interval_coverage.py).
MIN_ROWS = 30
#: Above this estimated skewness of the mean the interval is marked "heavy_tail"
#: (Cochran's rule ``n > 25 G1^2``).
MAX_SKEWNESS = 0.2

#: Why an interval is missing (``low`` and ``high`` None) or may be too narrow, in words.
NOTES = {
    "too_few_rows": "too few rows for an interval (with balanced weights: in some class)",
    "few_rows": "fewer than {min_rows} rows: it may be too narrow",
    "heavy_tail": "a few rows carry much of the loss: it may be too narrow",
    "soft_targets_balanced": "none for soft targets with balanced class weights",
    "not_finite": "the losses or weights are too large for an interval",
}


@dataclass(frozen=True)
class LossInterval:
    """A confidence interval of the mean loss.

    ``low`` and ``high`` are None when there is none (``note`` says why);
    ``note`` is None when nothing is known against it, else a key of
    :data:`NOTES`. ``se`` is the standard error, ``df`` the degrees of
    freedom of the t quantile, ``n_eff`` Kish's effective number of rows,
    ``skewness`` the estimated skewness of the mean (0 for a normal one).
    """

    low: float | None
    high: float | None
    level: float
    se: float | None = None
    df: float | None = None
    n_eff: float | None = None
    skewness: float | None = None
    note: str | None = None

    @property
    def reason(self) -> str | None:
        """The note in words, or None."""
        if self.note is None:
            return None
        return NOTES[self.note].format(min_rows=MIN_ROWS)


class LossSpread:
    """Mergeable moments of per-row losses, in groups: what the mean loss's interval needs.

    Per group it keeps the moments of the losses under the row weights
    ``b``, ``b^2`` and ``b^3`` (:class:`cecli.moments.Moments`: the mean;
    the mean and central sum of squares; and up to the central sum of cubes),
    one set when every weight is 1. One group, unless class weights are
    applied at the end ("balanced": one group per class).

    Parameters
    ----------
    n_groups : int, default=1
        How many groups.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.mean_interval import LossSpread
    >>> losses = np.array([0.1, 0.5, 0.2, 1.6, 0.3, 0.4])
    >>> spread = LossSpread()
    >>> spread.add(losses[:4])
    >>> other = LossSpread()
    >>> other.add(losses[4:])
    >>> ci = spread.merge(other).interval(losses.mean())
    >>> round(ci.low, 6), round(ci.high, 6), ci.note    # scipy.stats.t.interval's
    (-0.059727, 1.093061, 'few_rows')
    """

    def __init__(self, n_groups: int = 1) -> None:
        self.n_groups = int(n_groups)
        #: Moments under b (the mean), b^2 (the spread), b^3 (the skewness); None before any row.
        self.moments: tuple[Moments, Moments, Moments] | None = None
        #: The moments' weights are the rows' weights over this (a power of two).
        self.scale = 1.0
        #: Why there can be no interval however many rows come (a key of NOTES), or None.
        self.refused: str | None = None

    def add(
        self,
        losses: ArrayLike,
        weights: ArrayLike | None = None,
        groups: NDArray[np.intp] | None = None,
    ) -> None:
        """Add rows: their losses, weights ``b`` (1 each if None) and groups (0 each if None)."""
        if self.refused is not None:
            return
        x = np.asarray(losses, dtype=np.float64)
        n_groups = self.n_groups
        if groups is None and n_groups != 1:
            raise ValueError(f"Rows of a spread of {n_groups} groups need their groups.")
        with np.errstate(over="ignore", invalid="ignore"):  # huge losses: "not_finite" at the end
            if weights is None:
                # every power of 1 is 1: one set of moments serves all three
                one = Moments.of(x, None, groups, n_groups)
                self._absorb((one, one, one), 1.0)
                return
            b = np.asarray(weights, dtype=np.float64)
            top = float(b.max()) if len(b) else 0.0
            # the weights over a power of two near the largest (exact): b^3 can neither
            # overflow nor underflow, and the interval does not change with their scale
            scale = math.ldexp(1.0, math.frexp(top)[1]) if 0.0 < top < math.inf else 1.0
            self._absorb(tuple(power_moments(x, b / scale, groups, n_groups)), scale)

    def refuse(self, reason: str) -> None:
        """Give up the interval for good: ``reason`` (a key of :data:`NOTES`) says why."""
        self.refused = reason
        self.moments = None

    def _absorb(self, moments: tuple[Moments, ...], scale: float) -> None:
        """Merge in moments whose weights are ``b / scale``."""
        if self.moments is None:
            self.moments = _merged(moments, None)
            self.scale = scale
            return
        big = max(self.scale, scale)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            self.moments = _merged(
                _rescaled(self.moments, self.scale / big), _rescaled(moments, scale / big)
            )
        self.scale = big

    def merge(self, other: LossSpread) -> LossSpread:
        """Add the rows of ``other`` (over other rows) to this one; ``other`` is not changed."""
        if other.n_groups != self.n_groups:
            raise ValueError("Only loss spreads with the same groups can be merged.")
        if self.refused is not None:
            return self
        if other.refused is not None:
            self.refuse(other.refused)
            return self
        if other.moments is not None:
            self._absorb(other.moments, other.scale)
        return self

    def interval(
        self,
        mean: float,
        group_weights: ArrayLike | None = None,
        level: float = LEVEL,
    ) -> LossInterval:
        """The ``level`` interval of ``mean``, the groups weighted by ``group_weights``.

        ``mean`` is the estimate the interval is about (``sum_g w_g sum b l /
        sum_g w_g sum b``); each group is centred on its own mean.
        """
        if self.refused is not None:
            return LossInterval(None, None, level, note=self.refused)
        if self.moments is None:
            return LossInterval(None, None, level, note="too_few_rows")
        first, second, third = self.moments
        w = np.ones(self.n_groups) if group_weights is None else np.asarray(group_weights, float)
        s1, s2, s3 = first.weight, second.weight, third.weight
        used = (w > 0) & (s1 > 0)
        if not used.any():
            return LossInterval(None, None, level, note="too_few_rows")
        w, s1, s2, s3 = w[used], s1[used], s2[used], s3[used]
        center = first.mean[used]
        with np.errstate(all="ignore"):
            v2 = second.about(first.mean)[0][used]
            v3 = third.about(first.mean)[1][used]
            n_eff_group = s1 * s1 / s2
            total = float(np.dot(w, s1))
            n_eff = total * total / float(np.dot(w * w, s2))
            # unbiased for independent losses of one variance: E sum b^2 (l - m)^2 is
            # sigma^2 (S2 - 2 S3 / S1 + S2^2 / S1^2)
            shrink = 1.0 - 2.0 * s3 / (s1 * s2) + s2 / (s1 * s1)
            part = w * w * v2 / shrink / (total * total)
            variance = float(part.sum())
            cubes = float(np.dot(w**3, v3)) / total**3  # sum z^3 / (sum b)^3
        if (n_eff_group < 2.0).any() or (shrink <= 0).any():
            return LossInterval(None, None, level, n_eff=n_eff, note="too_few_rows")
        finite = np.isfinite([total, n_eff, variance, cubes, *center, *part]).all()
        if not finite or not math.isfinite(mean):
            return LossInterval(None, None, level, note="not_finite")
        if variance > 0:
            with np.errstate(all="ignore"):
                df = variance * variance / float(np.sum(part * part / (n_eff_group - 1.0)))
                skewness = cubes / variance**1.5
            if not (math.isfinite(df) and df > 0 and math.isfinite(skewness)):
                return LossInterval(None, None, level, n_eff=n_eff, note="not_finite")
        else:  # every loss the same
            df, skewness = float(np.sum(n_eff_group - 1.0)), 0.0
        se = math.sqrt(variance)
        half = t_quantile(0.5 + level / 2.0, df) * se
        note = None
        if df + 1.0 < MIN_ROWS:
            note = "few_rows"
        elif abs(skewness) > MAX_SKEWNESS:
            note = "heavy_tail"
        mean = float(mean)
        return LossInterval(mean - half, mean + half, level, se, df, n_eff, skewness, note)


def _rescaled(moments: tuple[Moments, ...], factor: float) -> tuple[Moments, ...]:
    """Moments under ``b``, ``b^2``, ``b^3`` with ``b`` multiplied by ``factor``."""
    if factor == 1.0:
        return moments
    return tuple(m.scaled(factor**k) for k, m in enumerate(moments, start=1))


def _merged(
    mine: tuple[Moments, ...], theirs: tuple[Moments, ...] | None
) -> tuple[Moments, Moments, Moments]:
    """Merge the three sets pairwise; a set shared by all three (weights 1) merges once."""
    first, second, third = mine
    if theirs is None:
        return first, second, third
    if first is second is third and theirs[0] is theirs[1] is theirs[2]:
        one = first.merge(theirs[0])
        return one, one, one
    return first.merge(theirs[0]), second.merge(theirs[1]), third.merge(theirs[2])
