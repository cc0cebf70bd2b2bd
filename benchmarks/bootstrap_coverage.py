"""How often the paired bootstrap's interval covers the true mean, by the number of rows.

The numbers behind ``cecli.bootstrap.MIN_ROWS``: below it, ``cecli compare``
says "insufficient_data" instead of a verdict. Each trial draws ``n`` values
from a distribution whose mean is known (normal, or right-skewed lognormal, as
per-row log-loss differences are), computes a 95% interval, and counts
whether it holds the mean. Run by hand (a minute or two)::

    python benchmarks/bootstrap_coverage.py            # rows 2,3,5,8,10,15,20,30,50
    python benchmarks/bootstrap_coverage.py 6,8,10,12 --trials 2000
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from cecli.bootstrap import MIN_ROWS, paired_bootstrap

SIGMA = 0.75
LOGNORMAL_MEAN = math.exp(SIGMA**2 / 2)


def normal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float]:
    return rng.normal(0.3, 1.0, n), 0.3


def skewed(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float]:
    return rng.lognormal(0.0, SIGMA, n) - LOGNORMAL_MEAN + 0.1, 0.1


def coverage(case, n: int, method: str, trials: int, confidence: float) -> float:
    covered = 0
    for trial in range(trials):
        values, mean = case(np.random.default_rng([7, n, trial]), n)
        r = paired_bootstrap(
            values, n_resamples=1000, confidence=confidence, seed=trial, method=method
        )
        covered += r.ci_low <= mean <= r.ci_high
    return covered / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", default="2,3,5,8,10,15,20,30,50")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args()
    rows = [int(x) for x in args.rows.split(",")]
    print(f"coverage of a nominal {args.confidence:.0%} interval; MIN_ROWS = {MIN_ROWS}")
    print(f"{'data':8} {'method':10} " + " ".join(f"{n:>6}" for n in rows))
    for case in (normal, skewed):
        for method in ("bca", "percentile"):
            rates = [coverage(case, n, method, args.trials, args.confidence) for n in rows]
            print(f"{case.__name__:8} {method:10} " + " ".join(f"{r:6.3f}" for r in rates))


if __name__ == "__main__":
    main()
