"""Speed and memory of ``cecli compare``'s paired bootstrap, against the target of issue #5.

Run by hand (never in the test suite)::

    python benchmarks/bench_compare.py            # 2,000 resamples x 1,000,000 rows
    python benchmarks/bench_compare.py --rounds 5 --cli

The target: 2,000 resamples over 1,000,000 rows in under 10 seconds on the
project's 2-core machine. Timed, on the same per-row differences (skewed, as
log-loss differences are):

* ``cecli`` :func:`cecli.bootstrap.paired_bootstrap`, unweighted and weighted
  (BCa interval; both threads);
* the same on one thread (``CECLI_NUM_THREADS=1``);
* a plain NumPy loop, the bootstrap most people write first: per resample,
  ``rng.integers`` row numbers, a gather and a mean (timed on 200 resamples,
  scaled to 2,000);
* ``scipy.stats.bootstrap`` with ``vectorized=True``, percentile method,
  ``batch=20`` to bound its memory (timed on 200 resamples, scaled; its BCa
  jackknife needs ``n x n`` memory at this size, so it is not timed).

It also prints the peak memory the bootstrap allocates (tracemalloc sees
NumPy's allocations). With ``--cli`` it times the whole command on two
1,000,000 x 10 probability files in .npy (reading, scoring both, bootstrap).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from cecli import _kernels
from cecli.bootstrap import paired_bootstrap

N_ROWS = 1_000_000
N_RESAMPLES = 2000


def differences(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Skewed per-row differences of log losses, and row weights."""
    rng = np.random.default_rng(seed)
    p_base = rng.beta(8, 2, n)
    p_cand = np.clip(p_base + rng.normal(0.01, 0.05, n), 1e-6, 1 - 1e-6)
    diff = -np.log(p_cand) + np.log(p_base)
    return diff, rng.uniform(0.5, 2.0, n)


def timed(work, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def naive(diff: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(diff)
    return np.array([diff[rng.integers(0, n, n)].mean() for _ in range(n_resamples)])


def scipy_percentile(diff: np.ndarray, n_resamples: int, seed: int) -> object:
    from scipy import stats

    return stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=n_resamples,
        vectorized=True,
        method="percentile",
        batch=20,
        random_state=np.random.default_rng(seed),
    )


def peak_mib(work) -> float:
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def bench_cli(rounds: int) -> None:
    rng = np.random.default_rng(1)
    n, k = N_ROWS, 10
    with tempfile.TemporaryDirectory() as tmp:
        labels = rng.integers(0, k, n)
        for name, scale in (("baseline", 2.0), ("candidate", 2.1)):
            logits = rng.standard_normal((n, k)) + scale * np.eye(k)[labels]
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            np.save(Path(tmp) / f"{name}.npy", probs.astype(np.float32))
        np.save(Path(tmp) / "labels.npy", labels)
        files = [str(Path(tmp) / f) for f in ("baseline.npy", "candidate.npy", "labels.npy")]
        command = [sys.executable, "-m", "cecli", "compare", *files, "--format", "json"]
        score = [sys.executable, "-m", "cecli", "score", files[0], files[2], "--format", "json"]
        for what, argv in (("cecli compare (whole command)", command), ("cecli score", score)):
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            usage = subprocess.run(
                ["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True
            )
            rss = int(usage.stderr.strip().splitlines()[-1]) / 1024
            print(f"{what:38s} {statistics.median(times):7.2f} s   peak RSS {rss:6.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="also time the whole command")
    args = parser.parse_args()

    diff, weights = differences(N_ROWS)
    print(f"{N_RESAMPLES:,} resamples x {N_ROWS:,} rows, {os.cpu_count()} CPUs, "
          f"median of {args.rounds}\n")  # fmt: skip
    rows = []
    t, result = timed(lambda: paired_bootstrap(diff, seed=0), args.rounds)
    rows.append(("cecli, 2 threads", t, result))
    t, result = timed(lambda: paired_bootstrap(diff, weights, seed=0), args.rounds)
    rows.append(("cecli, 2 threads, weighted", t, result))
    os.environ["CECLI_NUM_THREADS"] = "1"
    t, result = timed(lambda: paired_bootstrap(diff, seed=0), args.rounds)
    rows.append(("cecli, 1 thread", t, result))
    del os.environ["CECLI_NUM_THREADS"]
    assert _kernels.n_threads() >= 1
    short = N_RESAMPLES // 10
    t, _ = timed(lambda: naive(diff, short, 0), 1)
    rows.append(("numpy loop (200, x10)", t * 10, None))
    try:
        t, scipy_result = timed(lambda: scipy_percentile(diff, short, 0), 1)
        rows.append(("scipy.stats.bootstrap pct (200, x10)", t * 10, scipy_result))
    except ImportError:
        print("(scipy not installed: skipped)")

    for name, seconds, result in rows:
        interval = ""
        if result is not None and hasattr(result, "ci_low"):
            interval = f"CI [{result.ci_low:+.6f}, {result.ci_high:+.6f}] ({result.method})"
        elif result is not None:
            ci = result.confidence_interval
            interval = f"CI [{ci.low:+.6f}, {ci.high:+.6f}] (percentile)"
        print(f"{name:38s} {seconds:7.2f} s   {interval}")
    print(f"{'target':38s} {'< 10':>7s} s")
    mib = peak_mib(lambda: paired_bootstrap(diff, seed=0, n_resamples=200))
    print(f"\npeak allocation of the bootstrap: {mib:.0f} MiB "
          f"(the differences themselves: {diff.nbytes / 2**20:.0f} MiB)\n")  # fmt: skip
    if args.cli:
        bench_cli(args.rounds)


if __name__ == "__main__":
    main()
