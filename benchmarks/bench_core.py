"""Speed and memory of the numeric core, against the floors and peers that issue #2 names.

Run by hand (never in the test suite)::

    python benchmarks/bench_core.py              # both shapes, 15 rounds, back to back
    python benchmarks/bench_core.py --idle 0.3   # each call after 0.3 s idle ("cold")

For each shape (1,000,000 x 10 and 20,000 x 1,000, float32) it times, in
interleaved rounds so that a noisy neighbour hurts every contender alike:

* ``cecli`` per-sample loss from logits and from probabilities
  (``reduction="none"``; validation of range and row sums included);
* one ``np.exp`` pass and one ``p.max()`` pass over the same array (floors);
* ``torch.nn.functional.cross_entropy(..., reduction="none")`` with two
  threads (optional: ``pip install torch==2.13.0``, the CPU build);
* ``sklearn.metrics.log_loss`` on the same probabilities (optional).

It prints the median of each and the ratios the issue sets targets for, and
the peak memory that cecli allocates beyond its output (tracemalloc sees
NumPy's allocations), as a fraction of the input array's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import cecli
from cecli import _threads

SHAPES = [(1_000_000, 10), (20_000, 1_000)]


def make_inputs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k), dtype=np.float32) * 3).astype(np.float32)
    labels = rng.integers(0, k, n)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return logits, labels, probs


def contenders(
    logits: np.ndarray, labels: np.ndarray, probs: np.ndarray, rounds_slow: bool
) -> dict[str, Callable[[], object]]:
    runs: dict[str, Callable[[], object]] = {
        "cecli logits": lambda: cecli.categorical_cross_entropy(
            labels, logits, from_logits=True, reduction="none"
        ),
        "cecli probs": lambda: cecli.categorical_cross_entropy(labels, probs, reduction="none"),
        "np.exp pass": lambda: np.exp(logits),
        "p.max() pass": lambda: probs.max(),
    }
    try:
        import torch

        torch.set_num_threads(2)
        z, y = torch.from_numpy(logits), torch.from_numpy(labels)
        runs["torch cross_entropy"] = lambda: torch.nn.functional.cross_entropy(
            z, y, reduction="none"
        )
    except ImportError:
        print("torch is not installed (pip install torch==2.13.0): no torch column")
    if rounds_slow:
        try:
            from sklearn.metrics import log_loss

            classes = np.arange(probs.shape[1])
            runs["sklearn log_loss"] = lambda: log_loss(labels, probs, labels=classes)
        except ImportError:
            print("scikit-learn is not installed: no sklearn column")
    return runs


def time_interleaved(
    runs: dict[str, Callable[[], object]], rounds: int, idle: float
) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    slow = {"sklearn log_loss"}
    for run in runs.values():  # warm up: thread pool, page faults, imports
        run()
    for i in range(rounds):
        for name, run in runs.items():
            if name in slow and i >= 3:
                continue
            if idle:
                time.sleep(idle)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_extra_bytes(run: Callable[[], object]) -> int:
    tracemalloc.start()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - result.loss.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="seconds to sleep before each timed call: a 'cold' start, as in a command-line "
        "run, where the second CPU has been idle (default 0: back to back, as timeit does)",
    )
    args = parser.parse_args()
    print(
        f"cecli {cecli.__version__}, numpy {np.__version__}, {_threads.n_threads()} threads, "
        f"{os.cpu_count()} CPUs; medians of {args.rounds} interleaved rounds, "
        f"{args.idle:g} s idle before each call"
    )
    for n, k in SHAPES:
        logits, labels, probs = make_inputs(n, k)
        runs = contenders(logits, labels, probs, rounds_slow=True)
        med = time_interleaved(runs, args.rounds, args.idle)
        print(f"\n{n:,} x {k:,} float32 ({logits.nbytes / 2**20:.0f} MiB)")
        print(f"  {'contender':<22}{'median ms':>10}")
        for name, seconds in med.items():
            print(f"  {name:<22}{seconds * 1e3:>10.2f}")
        print("  ratios (target)")
        ratio = med["cecli logits"] / med["np.exp pass"]
        print(f"    logits / np.exp pass          {ratio:6.2f}   (<= 3)")
        if "torch cross_entropy" in med:
            ratio = med["cecli logits"] / med["torch cross_entropy"]
            print(f"    logits / torch (2 threads)    {ratio:6.2f}   (<= 0.8)")
        ratio = med["cecli probs"] / med["p.max() pass"]
        print(f"    probs / p.max() pass          {ratio:6.2f}   (<= 3)")
        if "sklearn log_loss" in med:
            ratio = med["sklearn log_loss"] / med["cecli probs"]
            print(f"    sklearn log_loss / probs      {ratio:6.1f}   (>= 10)")
        for name, run in (("logits", runs["cecli logits"]), ("probs", runs["cecli probs"])):
            extra = peak_extra_bytes(run)
            print(
                f"    peak extra memory, {name:<7}   {extra / 2**20:6.1f} MiB "
                f"= {extra / logits.nbytes:.2f} x the input (a float64 copy would be 2.00)"
            )


if __name__ == "__main__":
    main()
