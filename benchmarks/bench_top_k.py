"""What ``top_k`` costs: the rank of each row's true class, on 1,000,000 x 10 float32 logits.

Run by hand (never in the test suite)::

    python benchmarks/bench_top_k.py            # 15 interleaved rounds
    python benchmarks/bench_top_k.py --rounds 31

It times, in interleaved rounds so that a noisy neighbour hurts every
contender alike, and prints the median of each:

* the accumulator fed the logits in 4 chunks, plain and with ``top_k=5``
  (the number the option's cost is read from: their difference);
* the rank pass alone (:func:`cecli.losses._rank.true_class_rank`) over the
  whole array, and the same ranks by a straightforward NumPy reference
  (two boolean masks per block and ``np.count_nonzero`` along the rows);
* one ``logits > 0`` pass, a floor: any rank pass reads every value once.

The ranks of the kernel and the reference are checked equal first (ties
included). The core count and the load average are printed with the
figures: on a busy machine the medians say little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

import cecli
from cecli import _threads
from cecli.losses._rank import true_class_rank

N, K, TOP_K, CHUNKS = 1_000_000, 10, 5, 4


def reference_rank(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 + #{j: s_j > s_y} + #{j > y: s_j = s_y}``, a block at a time, with two masks."""
    n, k = preds.shape
    out = np.empty(n, dtype=np.int64)
    columns = np.arange(k)
    step = max(1, (1 << 16) // k)
    for lo in range(0, n, step):
        block, y = preds[lo : lo + step], labels[lo : lo + step]
        own = block[np.arange(len(block)), y][:, None]
        ahead = (block > own) | ((block == own) & (columns > y[:, None]))
        out[lo : lo + step] = 1 + np.count_nonzero(ahead, axis=1)
    return out


def accumulate(logits: np.ndarray, labels: np.ndarray, top_k: int | None) -> object:
    acc = cecli.Accumulator(from_logits=True, top_k=top_k)
    for part in np.array_split(np.arange(len(labels)), CHUNKS):
        lo, hi = int(part[0]), int(part[-1]) + 1
        acc.update(labels[lo:hi], logits[lo:hi], row_offset=lo)
    return acc.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((N, K), dtype=np.float32) * 3).astype(np.float32)
    labels = rng.integers(0, K, N).astype(np.intp)
    tied = np.round(logits[:50_000])  # few distinct values: the tie rule decides
    assert np.array_equal(
        true_class_rank(tied, labels[:50_000]), reference_rank(tied, labels[:50_000])
    )
    assert np.array_equal(true_class_rank(logits, labels), reference_rank(logits, labels))
    plain = accumulate(logits, labels, None)
    ranked = accumulate(logits, labels, TOP_K)
    assert ranked.mean_loss == plain.mean_loss  # type: ignore[attr-defined]

    runs: dict[str, Callable[[], object]] = {
        "accumulator, 4 chunks": lambda: accumulate(logits, labels, None),
        f"accumulator, 4 chunks, top_k={TOP_K}": lambda: accumulate(logits, labels, TOP_K),
        "rank pass (true_class_rank)": lambda: true_class_rank(logits, labels),
        "rank pass, NumPy reference": lambda: reference_rank(logits, labels),
        "floor: logits > 0": lambda: logits > 0,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{N:,} x {K} float32 logits; {args.rounds} rounds; median seconds")
    print(f"cores: {cores} (cecli threads: {_threads.n_threads()}); load average: {load}")
    for name, values in times.items():
        print(f"  {name:<40} {statistics.median(values):8.4f}")
    cost = statistics.median(times[f"accumulator, 4 chunks, top_k={TOP_K}"]) - statistics.median(
        times["accumulator, 4 chunks"]
    )
    print(f"  {'top_k cost (difference of medians)':<40} {cost:8.4f}")


if __name__ == "__main__":
    main()
