"""Whole processes: ``cecli score`` against the readers it is measured by (issue #13).

Imported by ``bench_read.py`` (``--only peers``); run by hand, never in the tests.
Each contender is a process of its own, started in turn with the others
(A B C A B C ...) so that a noisy neighbour hurts every one alike; its wall
time is taken around it and its peak resident memory from ``os.wait4``, by a
small process of its own.
The figures are medians; a ratio is the median of the per-round ratios.

* 1,000,000 x 10 probabilities at 8 digits: against ``pyarrow.csv.read_csv``
  of the same file (target <= 1.3x) and a pandas + scikit-learn script
  (``pd.read_csv`` + ``log_loss``; cecli >= 3x faster).
* 20,000 x 20 at 17 digits: against ``read_csv`` (target <= 2x).
* 50,000 x 1,000: against polars ``read_csv`` of both files (target <= 1.2x).
* 1,000,000 x 10 float32 Parquet (plain columns, and one list column):
  against ``pyarrow.parquet.read_table`` (target <= 1.2x).

cecli's peak memory must stay below that of pyarrow's own ``read_csv``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _probs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    z = rng.standard_normal((n, k)) * 2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def make_text(folder: Path, name: str, n: int, k: int, digits: int, labels_apart: bool) -> Path:
    """An n x k probability CSV at ``digits`` significant digits (labels in it, or beside it)."""
    path = folder / name
    labels_path = folder / f"{path.stem}_labels.csv"
    if path.exists() and (labels_path.exists() or not labels_apart):
        return path
    rng = np.random.default_rng(n + k)
    labels = rng.integers(0, k, n)
    header = ",".join(f"p{j}" for j in range(k))
    with open(path, "w") as out:
        out.write(header + ("" if labels_apart else ",label") + "\n")
        for lo in range(0, n, 20_000):
            block = _probs(rng, min(20_000, n - lo), k)
            if labels_apart:
                np.savetxt(out, block, fmt=f"%.{digits}g", delimiter=",")
            else:
                rows = np.column_stack([block, labels[lo : lo + len(block)]])
                fmt = [f"%.{digits}g"] * k + ["%d"]
                np.savetxt(out, rows, fmt=fmt, delimiter=",")
    if labels_apart:
        labels_path.write_text("label\n" + "\n".join(map(str, labels)) + "\n")
    return path


def make_parquet(folder: Path) -> tuple[Path, Path]:
    plain, listed = folder / "probs_1m_f32.parquet", folder / "probs_1m_f32_list.parquet"
    if not (plain.exists() and listed.exists()):
        rng = np.random.default_rng(5)
        p = _probs(rng, 1_000_000, 10).astype(np.float32)
        labels = pa.array(rng.integers(0, 10, len(p)))
        columns = {f"p{j}": pa.array(p[:, j]) for j in range(10)}
        pq.write_table(pa.table({**columns, "label": labels}), plain)
        matrix = pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1)), 10)
        pq.write_table(pa.table({"probs": matrix, "label": labels}), listed)
    return plain, listed


# A small process that starts the command and reports its wall time and peak memory:
# a child's ru_maxrss starts at its parent's resident size when it forks, and this
# script holds the arrays it wrote the files from.
_TIMER = (
    "import json, os, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - start,"
    " usage.ru_maxrss / 1024]))\n"
)


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one process, measured by a small one."""
    done = subprocess.run([sys.executable, "-c", _TIMER, *command], capture_output=True)
    code, seconds, peak = json.loads(done.stdout)
    if code:
        raise SystemExit(f"{' '.join(command)} exited {code}: {done.stderr.decode()[-400:]}")
    return seconds, peak


def compare(title: str, contenders: dict[str, list[str]], rounds: int) -> dict[str, float]:
    """Run the contenders in turn; print medians, peaks and each peer's ratio to cecli."""
    for command in contenders.values():
        run(command)  # warm the page cache and the imports' bytecode
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    peaks: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, command in contenders.items():
            seconds, peak = run(command)
            walls[name].append(seconds)
            peaks[name].append(peak)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n  {title}: medians of {rounds} rounds, {os.cpu_count()} CPUs, load {load}")
    cecli = walls["cecli score"]
    ratios = {}
    for name in contenders:
        ratio = statistics.median(c / w for c, w in zip(cecli, walls[name], strict=True))
        ratios[name] = ratio
        print(
            f"    {name:<26} {statistics.median(walls[name]):7.3f} s  "
            f"peak {statistics.median(peaks[name]):6.0f} MiB  cecli/this {ratio:5.2f}"
        )
    return ratios


def bench_peers(folder: Path, rounds: int) -> None:
    py = sys.executable
    cecli = [py, "-m", "cecli", "score"]
    read_csv = "import sys, pyarrow.csv as c; c.read_csv(sys.argv[1])"
    sklearn = (
        "import sys, pandas as pd; from sklearn.metrics import log_loss; "
        "df = pd.read_csv(sys.argv[1]); y = df.pop('label').to_numpy(); "
        "print(log_loss(y, df.to_numpy(), labels=range(df.shape[1])))"
    )
    m1 = make_text(folder, "probs_1m_8digits.csv", 1_000_000, 10, 8, labels_apart=False)
    ratios = compare(
        "1,000,000 x 10 CSV at 8 digits",
        {
            "cecli score": [*cecli, str(m1), "-f", "json"],
            "pyarrow read_csv": [py, "-c", read_csv, str(m1)],
            "pandas + scikit-learn": [py, "-c", sklearn, str(m1)],
        },
        rounds,
    )
    print(
        f"    target: <= 1.3x read_csv ({ratios['pyarrow read_csv']:.2f}); "
        f"pandas + scikit-learn / cecli >= 3 ({1 / ratios['pandas + scikit-learn']:.2f})"
    )
    s17 = make_text(folder, "probs_20k_17digits.csv", 20_000, 20, 17, labels_apart=False)
    ratios = compare(
        "20,000 x 20 CSV at 17 digits",
        {
            "cecli score": [*cecli, str(s17), "-f", "json"],
            "pyarrow read_csv": [py, "-c", read_csv, str(s17)],
        },
        rounds,
    )
    print(f"    target: <= 2x read_csv ({ratios['pyarrow read_csv']:.2f})")
    wide = make_text(folder, "probs_50k_1000.csv", 50_000, 1_000, 8, labels_apart=True)
    labels = wide.with_name(f"{wide.stem}_labels.csv")
    polars = "import sys, polars as pl; pl.read_csv(sys.argv[1]); pl.read_csv(sys.argv[2])"
    ratios = compare(
        "50,000 x 1,000 CSV (labels in a file of their own)",
        {
            "cecli score": [*cecli, str(wide), str(labels), "-f", "json"],
            "polars read_csv": [py, "-c", polars, str(wide), str(labels)],
            "pyarrow read_csv": [py, "-c", read_csv, str(wide)],
        },
        rounds,
    )
    print(f"    target: <= 1.2x polars ({ratios['polars read_csv']:.2f})")
    read_table = "import sys, pyarrow.parquet as pq; pq.read_table(sys.argv[1])"
    for path in make_parquet(folder):
        ratios = compare(
            f"1,000,000 x 10 float32 Parquet ({path.name})",
            {
                "cecli score": [*cecli, str(path), "-f", "json"],
                "pyarrow read_table": [py, "-c", read_table, str(path)],
            },
            rounds,
        )
        print(f"    target: <= 1.2x read_table ({ratios['pyarrow read_table']:.2f})")
