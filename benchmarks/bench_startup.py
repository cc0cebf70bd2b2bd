"""Start-up: whole ``cecli`` processes against ``python -c "import numpy"``, issue #13's targets.

Run by hand (never in the test suite), from anywhere::

    python benchmarks/bench_startup.py              # 7 rounds and the import breakdown
    python benchmarks/bench_startup.py --rounds 15  # steadier medians on a busy machine

Each round starts every command once, in turn (the peer first), so that a
drift in the machine's speed touches them all alike; a command's ratio is the
median over rounds of its time divided by the peer's time in the same round.
Times are wall seconds (``time.perf_counter`` around the child) and CPU
seconds (the child's user + system, from ``resource.getrusage``).

Targets: ``cecli score`` on the 450-row sample (``-f json``) at most 2.5x the
peer; ``cecli --version`` at most 1.5x. The NPY line (the same sample, written
as ``.npy`` files) shows the scoring path without the CSV reader.

The breakdown runs ``python -X importtime`` on ``score -f json`` (median of three
runs per module) and lists cecli's ten slowest modules to import, each with
the time it spends itself and with what it imports, and the third-party
packages loaded. ``-X importtime`` adds its own overhead: read the breakdown
as shares, the ratios above as the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
PEER = "python -c 'import numpy'"
#: Third-party packages whose presence after a run is worth knowing.
PACKAGES = (
    "numpy",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "pyarrow.parquet",
    "pandas",
    "typer",
    "pydantic",
    "rich",
    "matplotlib",
)
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def commands(npy_dir: Path) -> dict[str, list[str]]:
    """Each command measured, by the name it is printed under; the peer first."""
    cecli = [sys.executable, "-m", "cecli"]
    csv = [str(SAMPLE / "digits_probs.csv"), str(SAMPLE / "digits_labels.csv")]
    npy = [str(npy_dir / "probs.npy"), str(npy_dir / "labels.npy")]
    return {
        PEER: [sys.executable, "-c", "import numpy"],
        "cecli score CSV -f json": [*cecli, "score", *csv, "-f", "json"],
        "cecli score CSV (table)": [*cecli, "score", *csv],
        "cecli score NPY -f json": [*cecli, "score", *npy, "-f", "json"],
        "cecli --version": [*cecli, "--version"],
        "cecli --help": [*cecli, "--help"],
    }


def run_once(argv: list[str]) -> tuple[float, float]:
    """One whole process: (wall seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: dict[str, list[str]], rounds: int) -> None:
    for argv in runs.values():  # warm the file cache and the bytecode
        run_once(argv)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, argv in runs.items():
            times[name].append(run_once(argv))
    peer = times[PEER]
    print(f"{'command':<26} {'wall s':>7} {'cpu s':>7} {'wall/peer':>10} {'cpu/peer':>9}")
    for name, got in times.items():
        wall = statistics.median(t[0] for t in got)
        cpu = statistics.median(t[1] for t in got)
        wall_ratio = statistics.median(a[0] / b[0] for a, b in zip(got, peer, strict=True))
        cpu_ratio = statistics.median(a[1] / b[1] for a, b in zip(got, peer, strict=True))
        print(f"{name:<26} {wall:7.3f} {cpu:7.3f} {wall_ratio:9.2f}x {cpu_ratio:8.2f}x")
    print("targets: 'cecli score CSV -f json' <= 2.50x, 'cecli --version' <= 1.50x (wall/peer)")


def import_times(argv: list[str]) -> dict[str, tuple[int, int, bool]]:
    """``-X importtime`` of one run: module -> (self us, cumulative us, imported at top level)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], cwd=REPO, capture_output=True, text=True
    )
    found = {}
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            own, total, indent, name = match.groups()
            found[name] = (int(own), int(total), len(indent) == 1)
    return found


def breakdown(argv: list[str], top: int = 10) -> None:
    runs = [import_times(argv) for _ in range(3)]
    names = set.intersection(*(set(r) for r in runs))

    def median(name: str, field: int) -> float:
        return statistics.median(r[name][field] for r in runs) / 1000

    ours = sorted((n for n in names if n.split(".")[0] == "cecli"), key=lambda n: -median(n, 1))
    print(f"\n-X importtime of 'cecli score CSV -f json', ms (median of 3 runs), top {top}:")
    print(f"{'cecli module':<30} {'itself':>7} {'with what it imports':>21}")
    for name in ours[:top]:
        print(f"{name:<30} {median(name, 0):7.1f} {median(name, 1):21.1f}")
    loaded = [p for p in PACKAGES if p in names]
    absent = [p for p in PACKAGES if p not in names]
    print("third-party packages, ms with their imports (first import only):")
    for package in loaded:
        print(f"  {package:<16} {median(package, 1):7.1f}")
    print(f"  not imported: {', '.join(absent) or 'none'}")
    print("(pandas, when listed, is pyarrow's: its first Array.to_numpy() imports it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every command")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the -X importtime part")
    args = parser.parse_args()
    print(compile_cecli())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs, load average {load}; Python {sys.version.split()[0]}; "
        f"medians of {args.rounds} rounds, commands alternated"
    )
    with tempfile.TemporaryDirectory() as folder:
        sample = np.load(SAMPLE / "digits.npz")
        np.save(Path(folder) / "probs.npy", sample["probs"])
        np.save(Path(folder) / "labels.npy", sample["labels"])
        runs = commands(Path(folder))
        measure(runs, args.rounds)
        if not args.no_breakdown:
            breakdown(runs["cecli score CSV -f json"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
