"""Time and memory of ``cecli compare --ci-method poisson``'s bootstrap against the row bootstrap.

Run by hand (never in the test suite)::

    python benchmarks/bench_poisson.py               # 2,000 resamples x 1,000,000 rows, 5 rounds
    python benchmarks/bench_poisson.py --rounds 9 --rows 200000

Every figure comes from a process of its own, which builds the same data as
``benchmarks/bench_compare.py`` (two models' per-row log losses on 1,000,000
rows, the candidate slightly better, and each row's accuracy difference), then
times the two intervals ``cecli compare`` reports (the mean loss difference
and the accuracy difference):

* ``row BCa``: :func:`cecli.bootstrap.paired_bootstrap` (BCa, the default) and
  :func:`cecli.bootstrap.count_bootstrap` for the accuracy, as
  :func:`cecli.compare.compare_rows` calls them;
* ``poisson``: :func:`cecli.poisson_bootstrap.poisson_compare`, one fold over
  all rows giving both;
* ``poisson, 10 chunks``: the same fold fed 100,000 rows at a time, as a
  stream is (its sums are checked, after the clock stops, to equal the
  one-chunk fold's, bit for bit).

Processes are alternated (row BCa, poisson, chunks, row BCa, ...) so that the
load of a busy machine falls on all alike; medians of wall and CPU seconds
(user + sys) are printed, with the ratio to the row BCa's, and the peak RSS
above a process that only builds the data. The fold's state (its limbs) is
printed too: it is what a worker would send.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from bench_compare import losses

N_ROWS = 1_000_000
N_RESAMPLES = 2000
CASES = ("row-bca", "poisson", "poisson-chunks")


def work(name: str, rows: int, n_resamples: int) -> dict:
    loss_b, loss_c, _ = losses(rows)
    diff = loss_c - loss_b
    rng = np.random.default_rng(2)
    correct_b, correct_c = rng.random(rows) < 0.8, rng.random(rows) < 0.81
    accuracy = correct_c.astype(np.int8) - correct_b.astype(np.int8)
    from cecli.bootstrap import count_bootstrap, paired_bootstrap
    from cecli.poisson_bootstrap import PoissonBootstrap, poisson_compare

    state = 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if name == "row-bca":
        loss = paired_bootstrap(diff, n_resamples=n_resamples, seed=0, method="bca")
        count_bootstrap(accuracy, n_resamples=n_resamples, seed=0, method="bca")
    elif name == "poisson":
        loss, _ = poisson_compare(diff, None, accuracy, n_resamples=n_resamples, seed=0)
    elif name == "poisson-chunks":
        fold = PoissonBootstrap(n_resamples, 0)
        step = -(-rows // 10)
        for lo in range(0, rows, step):
            fold.add(lo, diff[lo : lo + step], None, accuracy[lo : lo + step])
        loss = fold.result()
        state = fold.limbs.nbytes
    else:  # "data": the arrays only, for the baseline of the peak memory
        loss = None
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    interval = (loss.ci_low, loss.ci_high) if loss is not None else (0.0, 0.0)
    if name == "poisson-chunks":  # checked after the clock stops
        whole = PoissonBootstrap(n_resamples, 0).add(0, diff, None, accuracy)
        if not np.array_equal(whole.sums(), fold.sums()):
            raise SystemExit("the chunked fold's sums differ from the whole one's")
    return {"seconds": seconds, "cpu": cpu, "peak_kib": after.ru_maxrss,
            "interval": interval, "state_bytes": state}  # fmt: skip


def measure(name: str, rows: int, n_resamples: int) -> dict:
    argv = [sys.executable, __file__, "--work", name, "--rows", str(rows)]
    argv += ["--resamples", str(n_resamples)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=N_ROWS)
    parser.add_argument("--resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        print(json.dumps(work(args.work, args.rows, args.resamples)))
        return
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    base = measure("data", args.rows, 1)["peak_kib"]
    runs: dict[str, list[dict]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name in CASES:  # alternated
            runs[name].append(measure(name, args.rows, args.resamples))
    print(f"\n2 models x {args.rows:,} rows, {args.resamples:,} resamples, median of "
          f"{args.rounds} (the loss and the accuracy intervals)")  # fmt: skip
    print(f"{'':22s} {'wall s':>7s} {'ratio':>6s} {'CPU s':>7s} {'ratio':>6s} {'peak MiB':>9s}"
          "  loss interval (2.5%, 97.5%)")  # fmt: skip
    wall0 = statistics.median(r["seconds"] for r in runs["row-bca"])
    cpu0 = statistics.median(r["cpu"] for r in runs["row-bca"])
    for name in CASES:
        wall = statistics.median(r["seconds"] for r in runs[name])
        cpu = statistics.median(r["cpu"] for r in runs[name])
        peak = max(0.0, (max(r["peak_kib"] for r in runs[name]) - base) / 1024)
        low, high = runs[name][0]["interval"]
        print(f"{name:22s} {wall:7.2f} {wall / wall0:5.2f}x {cpu:7.2f} {cpu / cpu0:5.2f}x "
              f"{peak:9.0f}  [{low:+.6f}, {high:+.6f}]")  # fmt: skip
    state = runs["poisson-chunks"][0]["state_bytes"]
    print(f"\nthe fold's state: {state / 1024:.0f} KiB, whatever the rows")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
