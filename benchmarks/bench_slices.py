"""Speed and memory of ``--by`` with a million slices, against a pandas groupby.

Run by hand (never in the test suite)::

    python benchmarks/bench_slices.py              # 5,000,000 rows in 1,000,000 slices
    python benchmarks/bench_slices.py --rounds 5 --cli

The data are token-level rows of sequences: ``--rows`` per-row losses
(skewed, as log losses are), whether each row is right and flagged, and the
sequence each belongs to (``--slices`` sequences, about ``rows / slices``
rows each, in order), so one slice per sequence gives per-sequence
perplexity. Every figure comes from a process of its own, which builds the
same data and then times one run with ``time.perf_counter``; its peak memory
is the process's peak RSS (``getrusage``) less that of a process that only
builds the data.

* ``cecli``: :class:`cecli.slices.SliceFold` fed the rows in chunks of
  838,860 (what ``cecli score`` reads per 64 MiB chunk of 10 classes), then
  read (per slice: rows, mean loss, its t interval, accuracy, flagged; worst
  first);
* ``pandas``: the peer, ``DataFrame.groupby(seq).agg(...)`` of the same rows
  (rows, mean, standard deviation, rights, flags), sorted by mean loss: what
  the same table costs a person with pandas and every row in memory.

Runs alternate; the medians and their ratio are printed with the core count
and the load average. With ``--cli`` it also times ``cecli score --by seq``
against ``cecli score`` on the same binary Parquet file (the extra cost of
the slices in a whole run).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

CHUNK_ROWS = 838_860


def data(n_rows: int, n_slices: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Token rows of ``n_slices`` sequences, in order: losses, right, flagged, sequence."""
    rng = np.random.default_rng(seed)
    seq = np.sort(rng.integers(0, n_slices, n_rows))
    loss = rng.lognormal(0.0, 1.0, n_rows)
    correct = rng.random(n_rows) < 0.6
    flagged = ~correct & (rng.random(n_rows) < 0.1)
    return {"seq": seq, "loss": loss, "correct": correct, "flagged": flagged}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_cecli(d: dict[str, np.ndarray]) -> int:
    from cecli.slices import SliceFold, SliceSpec

    fold = SliceFold([SliceSpec("seq")])
    n = len(d["loss"])
    for start in range(0, n, CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        fold.add_rows(
            [d["seq"][part]], d["loss"][part], None, d["correct"][part], d["flagged"][part]
        )
    table = fold.result(min_rows=30)
    return len(table)


def run_pandas(d: dict[str, np.ndarray]) -> int:
    import pandas as pd

    frame = pd.DataFrame(d)
    table = frame.groupby("seq").agg(
        n=("loss", "size"),
        mean_loss=("loss", "mean"),
        std=("loss", "std"),
        correct=("correct", "sum"),
        flagged=("flagged", "sum"),
    )
    table = table.sort_values("mean_loss", ascending=False)
    return len(table)


def child(which: str, n_rows: int, n_slices: int) -> None:
    """One measurement: build the data, then (unless "none") run ``which``; print a line."""
    d = data(n_rows, n_slices)
    if which == "cecli":
        import pandas

        import cecli.slices  # noqa: F401
    elif which == "pandas":
        import pandas  # noqa: F401
    before = _peak_mib()
    start = time.perf_counter()
    cpu = time.process_time()
    n = {"cecli": run_cecli, "pandas": run_pandas, "none": lambda d: 0}[which](d)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{wall:.4f} {cpu:.4f} {_peak_mib():.1f} {before:.1f} {n}")


def measure(which: str, n_rows: int, n_slices: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            which,
            "--rows",
            str(n_rows),
            "--slices",
            str(n_slices),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), int(out[4])


def cli(rounds: int, n_rows: int, n_slices: int) -> None:
    """``cecli score --by seq`` against ``cecli score`` on one binary Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.parquet"
        seq = np.sort(rng.integers(0, n_slices, n_rows))
        table = pa.table(
            {"p": rng.uniform(0.01, 0.99, n_rows), "label": rng.integers(0, 2, n_rows), "seq": seq}
        )
        pq.write_table(table, path)
        base = [sys.executable, "-m", "cecli", "score", str(path), "--pred-cols", "p", "-f", "json"]
        runs = {"score": base, "score --by seq": [*base, "--by", "seq"]}
        times: dict[str, list[float]] = {k: [] for k in runs}
        peaks: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(rounds):
            for name, argv in runs.items():
                start = time.perf_counter()
                with subprocess.Popen(argv, stdout=subprocess.DEVNULL) as process:
                    _, status, usage = os.wait4(process.pid, 0)
                times[name].append(time.perf_counter() - start)
                peaks[name].append(usage.ru_maxrss / 1024)
                assert status == 0, name
                process.returncode = 0
        for name in runs:
            print(
                f"  {name:<16} {statistics.median(times[name]):7.2f} s   "
                f"peak RSS {statistics.median(peaks[name]):7.0f} MiB"
            )
        ratio = statistics.median(times["score --by seq"]) / statistics.median(times["score"])
        print(f"  --by seq / plain score: {ratio:.2f}x wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--slices", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--child", choices=("cecli", "pandas", "none"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.slices)
        return
    print(compile_cecli())
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{args.rows:,} rows in about {args.slices:,} slices, {args.rounds} rounds alternated")
    floor = statistics.median(measure("none", args.rows, args.slices)[2] for _ in range(2))
    results: dict[str, list[tuple[float, float, float, int]]] = {"cecli": [], "pandas": []}
    for _ in range(args.rounds):
        for which in results:
            results[which].append(measure(which, args.rows, args.slices))
    for which, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = statistics.median(r[2] for r in runs) - floor
        print(
            f"  {which:<7} {wall:6.2f} s wall  {cpu:6.2f} s CPU  +{peak:6.0f} MiB peak  "
            f"{runs[0][3]:,} slices"
        )
    ratio = statistics.median(r[0] for r in results["cecli"]) / statistics.median(
        r[0] for r in results["pandas"]
    )
    print(f"  cecli / pandas: {ratio:.2f}x wall")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.cli:
        print("whole command, binary Parquet:")
        cli(args.rounds, args.rows, args.slices)


if __name__ == "__main__":
    main()
