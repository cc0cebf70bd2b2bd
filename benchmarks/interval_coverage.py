"""How often the mean loss's 95% interval covers the true mean, and whether its mark says when not.

The numbers behind ``cecli.mean_interval.MIN_ROWS`` and ``MAX_SKEWNESS``. Each
trial draws ``n`` per-row losses from a distribution whose mean is known
(light-tailed, skewed, heavy-tailed, and a mix in which 2% of rows are
confidently wrong and carry most of the loss), with and without sample
weights and "balanced" class weights, computes the interval from the
mergeable moments (:class:`cecli.mean_interval.LossSpread`, as ``cecli
score`` does), and counts whether it holds the mean. For each case and ``n``
it prints the coverage of every interval given, the share of intervals
marked unreliable ("few_rows" or "heavy_tail"), and the coverage of those
left unmarked: a good mark leaves unmarked intervals near 95%. (With
balanced weights, a trial in which a class has no rows is left out, and a
class of one row gives no interval.) Run by hand
(a minute or so)::

    python benchmarks/interval_coverage.py
    python benchmarks/interval_coverage.py 10,30,100,1000 --trials 4000
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np

from cecli.mean_interval import LEVEL, MAX_SKEWNESS, MIN_ROWS, LossSpread

Draw = Callable[[np.random.Generator, int], np.ndarray]


def _mix(rng: np.random.Generator, n: int) -> np.ndarray:
    # most rows nearly right, 2% confidently wrong (5 to 20 nats)
    wrong = rng.random(n) < 0.02
    return np.where(wrong, rng.uniform(5.0, 20.0, n), rng.exponential(0.05, n))


#: name -> (draw n losses, their true mean)
CASES: dict[str, tuple[Draw, float]] = {
    "uniform": (lambda rng, n: rng.uniform(0.0, 1.0, n), 0.5),
    "exponential": (lambda rng, n: rng.exponential(1.0, n), 1.0),
    "lognormal s=1": (lambda rng, n: rng.lognormal(0.0, 1.0, n), math.exp(0.5)),
    "lognormal s=1.5": (lambda rng, n: rng.lognormal(0.0, 1.5, n), math.exp(1.125)),
    "pareto a=2.5": (lambda rng, n: rng.pareto(2.5, n), 1.0 / 1.5),
    "2% wrong": (_mix, 0.98 * 0.05 + 0.02 * 12.5),
}


def _trial(case: str, rng: np.random.Generator, n: int, weighting: str) -> tuple[bool, str | None]:
    """One interval: (None if there was none, else whether it covered), and its note."""
    if weighting == "balanced":
        # two classes, 90% and 10% of rows, mean losses 1x and 10x the case's
        draw, mean = CASES[case]
        labels = (rng.random(n) < 0.1).astype(np.intp)
        losses = draw(rng, n) * np.where(labels == 1, 10.0, 1.0)
        truth = (mean + 10.0 * mean) / 2.0
        counts = np.bincount(labels, minlength=2)
        if not counts.all():  # the mean of the classes present is another quantity
            return None, "class absent"
        weights = n / (2.0 * counts)
        spread = LossSpread(2)
        spread.add(losses, None, labels)
        estimate = float(weights @ np.bincount(labels, losses, 2)) / float(weights @ counts)
        ci = spread.interval(estimate, weights)
    else:
        draw, truth = CASES[case]
        losses = draw(rng, n)
        weights = rng.lognormal(0.0, 1.0, n) if weighting == "sample" else None
        spread = LossSpread()
        spread.add(losses, weights)
        w = np.ones(n) if weights is None else weights
        ci = spread.interval(float(w @ losses / w.sum()))
    if ci.low is None:
        return None, ci.note
    return bool(ci.low <= truth <= ci.high), ci.note


def coverage(case: str, n: int, trials: int, weighting: str) -> tuple[float, float, float, float]:
    """(coverage of all given, share marked, coverage unmarked, share with no interval)."""
    covered = marked = unmarked_covered = missing = 0
    for trial in range(trials):
        hit, note = _trial(case, np.random.default_rng([11, n, trial]), n, weighting)
        if hit is None:
            missing += 1
            continue
        covered += hit
        if note is None:
            unmarked_covered += hit
        else:
            marked += 1
    given = trials - missing
    unmarked = given - marked
    return (
        covered / given if given else math.nan,
        marked / given if given else math.nan,
        unmarked_covered / unmarked if unmarked else math.nan,
        missing / trials,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", default="5,10,20,30,50,100,300,1000,3000,10000")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--weighting", default="none,sample,balanced")
    args = parser.parse_args()
    rows = [int(x) for x in args.rows.split(",")]
    print(
        f"nominal {LEVEL:.0%}; MIN_ROWS = {MIN_ROWS}, MAX_SKEWNESS = {MAX_SKEWNESS}; "
        f"{args.trials} trials. Each cell: coverage of all / share marked / coverage unmarked"
    )
    for weighting in args.weighting.split(","):
        print(f"\nweights: {weighting}")
        print(f"{'losses':16}" + "".join(f"{n:>17}" for n in rows))
        for case in CASES:
            cells = []
            for n in rows:
                cover, marked, clean, _ = coverage(case, n, args.trials, weighting)
                clean_text = "  -  " if math.isnan(clean) else f"{clean:.3f}"
                cells.append(f"{cover:.3f}/{marked:.2f}/{clean_text}")
            print(f"{case:16}" + "".join(f"{c:>17}" for c in cells))


if __name__ == "__main__":
    main()
