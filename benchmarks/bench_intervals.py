"""The cost of issue 14's intervals and of EL2N, against what they would cost otherwise.

Run by hand (never in the test suite)::

    python benchmarks/bench_intervals.py               # all three, 1,000,000 rows
    python benchmarks/bench_intervals.py --only el2n   # one of: el2n, accuracy, calibration

1. ``el2n``: each row's EL2N on 1,000,000 x 10 float32 probabilities and
   logits, in process: :func:`cecli.view.view_of` without it, with it (from the
   loss kernel's Brier terms), and with a separate blocked pass
   (:func:`cecli.el2n.row_el2n` with no terms), in alternated rounds; CPU
   seconds, medians. Then whole ``cecli score`` processes of the same .npy
   files, plain and with ``--el2n``, alternated.
2. ``accuracy``: the accuracy difference's interval drawn from the counts
   (:func:`cecli.bootstrap.count_bootstrap`) against gathering the loss
   bootstrap's resamples again (:func:`cecli.bootstrap.resample_sums` of the
   -1/0/1 values), and the loss bootstrap itself, 2,000 resamples.
3. ``calibration``: :func:`cecli.compare_calibration.compare_calibration` on
   2 x 1,000,000 binary rows (unweighted and weighted), 2,000 resamples,
   against the loss's :func:`~cecli.bootstrap.paired_bootstrap` and a naive
   bootstrap (per resample, ``rng.integers`` rows, and each model's per-bin
   sums by a weighted ``np.bincount`` of the draw counts), timed on 20
   resamples and scaled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

N_ROWS, N_CLASSES, RESAMPLES = 1_000_000, 10, 2000


def cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def alternated(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(cpu(run))
    return {name: statistics.median(t) for name, t in times.items()}


def make_categorical(n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    z = (rng.standard_normal((n, k)) * 2).astype(np.float32)
    z[np.arange(n), y] += 2.5
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return y, z, p.astype(np.float32)


def bench_el2n(args: argparse.Namespace) -> None:
    from cecli.el2n import row_el2n
    from cecli.view import view_of

    y, z, p = make_categorical(args.rows, N_CLASSES)
    print(f"EL2N, {args.rows:,} x {N_CLASSES} float32, in process (CPU s, median of {args.rounds})")

    def contenders(preds: np.ndarray, logits: bool) -> dict[str, Callable[[], object]]:
        return {
            "plain": lambda: view_of("categorical", y, preds, from_logits=logits),
            "kernel terms": lambda: view_of("categorical", y, preds, from_logits=logits, el2n=True),
            "separate pass": lambda: (
                view_of("categorical", y, preds, from_logits=logits),
                row_el2n("categorical", preds, y, None, from_logits=logits),
            ),
        }

    for name, preds, logits in (("probabilities", p, False), ("logits", z, True)):
        medians = alternated(contenders(preds, logits), args.rounds)
        plain = medians["plain"]
        cells = ", ".join(f"{k} {v:.3f} ({v / plain:.2f}x)" for k, v in medians.items())
        print(f"  {name:14} {cells}")
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "p.npy", p)
        np.save(Path(folder) / "y.npy", y)
        command = [sys.executable, "-m", "cecli", "score", "p.npy", "y.npy", "-f", "json"]
        runs: dict[str, list[float]] = {"plain": [], "--el2n": []}
        for _ in range(args.rounds):
            for name in runs:
                extra = ["--el2n"] if name == "--el2n" else []
                before = os.times()
                subprocess.run(command + extra, cwd=folder, check=True, capture_output=True)
                after = os.times()
                runs[name].append(
                    after.children_user + after.children_system
                    - before.children_user - before.children_system
                )  # fmt: skip
        plain = statistics.median(runs["plain"])
        with_el2n = statistics.median(runs["--el2n"])
        print(
            f"  whole cecli score, CPU s: plain {plain:.3f}, --el2n {with_el2n:.3f} "
            f"({with_el2n / plain:.2f}x)"
        )


def bench_accuracy(args: argparse.Namespace) -> None:
    from cecli.bootstrap import block_sizes, count_bootstrap, paired_bootstrap, resample_sums

    rng = np.random.default_rng(1)
    d = rng.choice([-1.0, 0.0, 1.0], args.rows, p=[0.05, 0.88, 0.07])
    loss = rng.standard_normal(args.rows)
    medians = alternated(
        {
            "loss bootstrap": lambda: paired_bootstrap(loss, n_resamples=RESAMPLES, seed=0),
            "accuracy, gathered again": lambda: resample_sums(
                d, block_sizes(args.rows), RESAMPLES, 0
            ),
            "accuracy, from counts": lambda: count_bootstrap(d, n_resamples=RESAMPLES, seed=0),
        },
        max(1, args.rounds // 3),
    )
    print(f"Accuracy difference's interval, {args.rows:,} rows x {RESAMPLES:,} resamples (CPU s)")
    for name, value in medians.items():
        print(f"  {name:26} {value:.3f}")


def bench_calibration(args: argparse.Namespace) -> None:
    from cecli.bootstrap import paired_bootstrap
    from cecli.calibration._bins import _bin_edges, _bin_index
    from cecli.compare_calibration import CalibrationRows, compare_calibration

    n = args.rows
    rng = np.random.default_rng(2)
    p = rng.random(n)
    t = (rng.random(n) < p).astype(float)
    q = np.clip(p + 0.15 * (p - 0.5) + rng.normal(0, 0.05, n), 0, 1)
    w = rng.choice([0.5, 1.0, 2.0], n)
    one = np.ones(n)

    def rows(x: np.ndarray, weight: np.ndarray) -> CalibrationRows:
        return CalibrationRows(x, t, (x - t) ** 2, weight)

    edges = _bin_edges(15)
    b_bin, c_bin = _bin_index(p, edges), _bin_index(q, edges)

    def naive(resamples: int) -> None:
        for _ in range(resamples):
            drawn = np.bincount(rng.integers(0, n, n), minlength=n)
            np.bincount(b_bin, weights=drawn * (t - p), minlength=15)
            np.bincount(c_bin, weights=drawn * (t - q), minlength=15)

    print(f"compare --calibration, 2 x {n:,} binary rows x {RESAMPLES:,} resamples (CPU s)")
    print(f"  loss bootstrap (one model pair)  {cpu(lambda: paired_bootstrap(q - p, seed=0)):.2f}")
    for name, weight in (("unweighted", one), ("weighted", w)):
        spent = cpu(
            lambda weight=weight: compare_calibration(
                rows(p, weight), rows(q, weight), n_resamples=RESAMPLES
            )
        )
        print(f"  ECE and Brier, {name:10}        {spent:.2f}")
    print(f"  naive bincount (from 20)         {cpu(lambda: naive(20)) * RESAMPLES / 20:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["el2n", "accuracy", "calibration"])
    parser.add_argument("--rows", type=int, default=N_ROWS)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    compile_cecli()
    for name, bench in (
        ("el2n", bench_el2n),
        ("accuracy", bench_accuracy),
        ("calibration", bench_calibration),
    ):
        if args.only in (None, name):
            bench(args)


if __name__ == "__main__":
    main()
