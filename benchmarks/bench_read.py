"""Memory and speed of reading inputs, against the targets of issues #3 and #13.

Run by hand (never in the test suite); it writes about 6.5 GB of files::

    python benchmarks/bench_read.py                    # all five
    python benchmarks/bench_read.py --only peers       # whole processes against peers
    python benchmarks/bench_read.py --only csv         # just the CSV timing
    python benchmarks/bench_read.py --dir /scratch     # where the files go

1. A 20,000 x 32,000 float32 logits NPY (2.6 GB, a language model's
   vocabulary) scored by the real ``cecli score`` command: its peak resident
   memory (the child's ``ru_maxrss``) must stay under 400 MB.
2. The same logits as Parquet (one list column of float32, row groups of 500
   rows): the same limit.
3. A 1,000,000 x 10 probability CSV: ``score_inputs`` end to end, in process,
   against ``pyarrow.csv.read_csv`` reading the same file (the target is at
   most 1.3x), with medians over interleaved rounds; and the whole command's
   wall time for reference (it adds Python's start-up and imports).
4. Three rows of 12,500 to 100,000 columns (``--only wide``): the whole
   command against ``pyarrow.csv.read_csv`` of the same file in a process of
   its own, and the time per column, which must stay flat (linear reading).
5. ``--only peers`` (``bench_read_peers.py``): whole ``cecli score`` processes
   against ``pyarrow.csv.read_csv``, polars, pandas + scikit-learn and
   ``pyarrow.parquet.read_table``, with peak memory (``pip install ".[bench]"``).
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
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _bytecode import compile_cecli

N_LM, K_LM = 20_000, 32_000
N_CSV, K_CSV = 1_000_000, 10


def make_lm_files(folder: Path) -> tuple[Path, Path, Path]:
    logits_path, labels_path = folder / "lm_logits.npy", folder / "lm_labels.npy"
    parquet_path = folder / "lm_logits.parquet"
    rng = np.random.default_rng(0)
    if not logits_path.exists():
        out = np.lib.format.open_memmap(logits_path, "w+", np.float32, (N_LM, K_LM))
        for lo in range(0, N_LM, 500):
            out[lo : lo + 500] = rng.standard_normal((500, K_LM), dtype=np.float32) * 2
        out.flush()
        del out
    if not labels_path.exists():
        np.save(labels_path, rng.integers(0, K_LM, N_LM))
    if not parquet_path.exists():
        logits = np.load(logits_path, mmap_mode="r")
        labels = np.load(labels_path)
        schema = pa.schema([("logits", pa.list_(pa.float32(), K_LM)), ("label", pa.int64())])
        with pq.ParquetWriter(parquet_path, schema, compression="none") as writer:
            for lo in range(0, N_LM, 500):
                block = np.ascontiguousarray(logits[lo : lo + 500])
                column = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), K_LM)
                batch = pa.record_batch([column, pa.array(labels[lo : lo + 500])], schema=schema)
                writer.write_batch(batch, row_group_size=500)
    return logits_path, labels_path, parquet_path


def make_csv(folder: Path) -> Path:
    path = folder / "probs_1m.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(1)
    z = rng.standard_normal((N_CSV, K_CSV)) * 2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = rng.integers(0, K_CSV, N_CSV)
    names = [f"p{j}" for j in range(K_CSV)] + ["label"]
    columns = [pa.array(p[:, j]) for j in range(K_CSV)] + [pa.array(labels)]
    pacsv.write_csv(pa.table(columns, names=names), path)
    return path


def run_command(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of a ``cecli`` child process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cecli", *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cecli failed ({done.returncode}): {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("  (note: ru_maxrss of children is a running maximum; run each check alone)")
    return seconds, peak / 1024, done.stdout


def bench_memory(folder: Path) -> None:
    logits, labels, parquet = make_lm_files(folder)
    for name, args in [
        ("NPY", [str(logits), str(labels)]),
        ("Parquet", [str(parquet)]),
    ]:
        # a fresh interpreter per measurement: ru_maxrss of children is a running maximum
        code = (
            "import resource, subprocess, sys, time, json\n"
            f"args = {['score', *args, '--logits', '-f', 'json']!r}\n"
            "t = time.perf_counter()\n"
            "out = subprocess.run([sys.executable, '-m', 'cecli', *args], capture_output=True,"
            " text=True)\n"
            "t = time.perf_counter() - t\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
            "d = json.loads(out.stdout) if out.returncode == 0 else {}\n"
            "print(json.dumps({'rc': out.returncode, 'err': out.stderr[-300:], 's': t,"
            " 'peak': peak, 'mean': d.get('mean_loss'), 'n': d.get('n_samples')}))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        result = __import__("json").loads(done.stdout)
        if result["rc"] != 0:
            raise SystemExit(f"cecli failed: {result['err']}")
        size = (logits if name == "NPY" else parquet).stat().st_size / 1e9
        verdict = "ok" if result["peak"] < 400 else "OVER"
        print(
            f"  {name:<8} {size:5.2f} GB  {result['n']:,} rows  {result['s']:6.1f} s  "
            f"peak RSS {result['peak']:6.0f} MB  (target < 400 MB: {verdict})  "
            f"mean loss {result['mean']:.6f}"
        )


def bench_csv(folder: Path, rounds: int) -> None:
    from cecli.inputs import InputOptions, Inputs
    from cecli.pipeline import score_inputs

    path = make_csv(folder)
    size = path.stat().st_size / 2**20

    def read_only() -> object:
        return pacsv.read_csv(path)

    def cecli_in_process() -> object:
        with Inputs(str(path), None, InputOptions()) as inputs:
            return score_inputs(inputs)

    runs = {"pyarrow read_csv": read_only, "cecli score_inputs": cecli_in_process}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm the page cache and the imports
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"  {N_CSV:,} x {K_CSV} CSV ({size:.0f} MiB), medians of {rounds} interleaved rounds")
    for name, seconds in med.items():
        print(f"    {name:<22} {seconds * 1000:8.0f} ms")
    ratio = med["cecli score_inputs"] / med["pyarrow read_csv"]
    print(f"    ratio cecli / read_csv   {ratio:8.2f}   (target <= 1.3)")
    wall = [run_command(["score", str(path), "-f", "json"])[0] for _ in range(3)]
    print(f"    whole command, wall      {statistics.median(wall) * 1000:8.0f} ms (median of 3)")


WIDE_COLUMNS = (12_500, 25_000, 50_000, 100_000)


def make_wide(folder: Path, k: int) -> tuple[Path, Path]:
    preds, labels = folder / f"wide_{k}.csv", folder / "wide_labels.csv"
    if not preds.exists():
        p = np.random.default_rng(0).dirichlet(np.ones(k), size=3)
        header = ",".join(f"c{i}" for i in range(k))
        np.savetxt(preds, p, delimiter=",", header=header, comments="", fmt="%.6g")
    labels.write_text("label\n1\n2\n3\n")
    return preds, labels


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command, each a median of 3 runs."""
    walls, peaks = [], []
    for _ in range(3):
        code = (
            "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            "out = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(json.dumps([out.returncode, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
        )
        line = subprocess.run([sys.executable, "-c", code, *command], capture_output=True)
        rc, wall, peak = json.loads(line.stdout)
        if rc:
            raise SystemExit(f"{' '.join(command)} exited {rc}")
        walls.append(wall)
        peaks.append(peak / 1024)
    return statistics.median(walls), statistics.median(peaks)


def bench_wide(folder: Path) -> None:
    """Three rows of up to 100,000 columns: time must grow linearly with the columns."""
    print(f"  3 rows x K columns, whole process, medians of 3; load {os.getloadavg()[0]:.2f}")
    print(f"  {'K':>8} {'cecli s':>9} {'read_csv s':>11} {'ratio':>6} {'us/col':>7} {'MiB':>6}")
    for k in WIDE_COLUMNS:
        preds, labels = make_wide(folder, k)
        cecli_s, peak = timed(["cecli", "score", str(preds), str(labels), "-f", "json"])
        read = "import pyarrow.csv, sys; pyarrow.csv.read_csv(sys.argv[1])"
        arrow_s, _ = timed([sys.executable, "-c", read, str(preds)])
        print(
            f"  {k:>8,} {cecli_s:>9.2f} {arrow_s:>11.2f} {cecli_s / arrow_s:>6.2f} "
            f"{cecli_s / k * 1e6:>7.1f} {peak:>6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp") + "/cecli-bench")
    parser.add_argument("--only", choices=["memory", "csv", "wide", "peers"])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(compile_cecli())
    import cecli

    print(
        f"cecli {cecli.__version__}, numpy {np.__version__}, pyarrow {pa.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}"
    )
    if args.only in (None, "memory"):
        print(f"\n{N_LM:,} x {K_LM:,} float32 logits, scored by the cecli command")
        bench_memory(folder)
    if args.only in (None, "csv"):
        print("\nCSV end to end")
        bench_csv(folder, args.rounds)
    if args.only in (None, "wide"):
        print("\nWide CSV (issue 12: reading time linear in the number of columns)")
        bench_wide(folder)
    if args.only in (None, "peers"):
        from bench_read_peers import bench_peers

        print("\nWhole processes against peers (issue 13)")
        bench_peers(folder, args.rounds)


if __name__ == "__main__":
    main()
