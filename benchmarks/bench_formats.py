"""Memory and speed of JSON Lines and Arrow IPC inputs (issue #16), by whole processes.

Run by hand (never in the test suite); it writes about 0.9 GB of files::

    python benchmarks/bench_formats.py                  # 1,000,000 x 10
    python benchmarks/bench_formats.py --rows 200000    # smaller
    python benchmarks/bench_formats.py --dir /scratch   # where the files go

The same 1,000,000 x 10 probabilities (float32), labels and ids are written
as JSON Lines (one ``{"id", "probs", "label"}`` object a line), as a Feather
file (``pyarrow.feather.write_feather``, lz4, record batches of 65,536 rows)
and as an Arrow IPC stream (batches of 1,000 rows, as Hugging Face datasets
writes them). Each is scored by the real ``cecli score`` command in a process
of its own, and read whole by pyarrow in another (``pyarrow.json.read_json``,
``pyarrow.feather.read_table``, ``pyarrow.ipc.open_stream(...).read_all()``):
wall seconds and peak resident memory (the child's ``ru_maxrss``), medians of
three runs. The check of bounded memory: cecli's peak must not grow with the
file (it is set by ``--chunk-size``), where reading the file whole needs more
than the file.

``--wide N`` adds N x 32,000 float32 logits (a language model's vocabulary)
as a Feather file (uncompressed) and a datasets-style stream (batches of 100
rows): memory-mapped files of N x 128 KB, scored with ``--logits``, whose
peak must stay far below their size (the mapped pages are given back as the
batches are read).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
from _bytecode import compile_cecli

K = 10


def probabilities(n: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, K), dtype=np.float32) * 2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p.astype(np.float32), rng.integers(0, K, n)


def make_files(folder: Path, n: int) -> dict[str, Path]:
    paths = {
        "JSON Lines": folder / f"preds_{n}.jsonl",
        "Feather": folder / f"preds_{n}.feather",
        "IPC stream": folder / f"preds_{n}.arrow",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    probs, labels = probabilities(n)
    with open(paths["JSON Lines"], "w") as out:
        for lo in range(0, n, 10_000):
            block = probs[lo : lo + 10_000].astype(np.float64)
            out.writelines(
                json.dumps({"id": f"r{lo + i}", "probs": row.tolist(), "label": int(y)}) + "\n"
                for i, (row, y) in enumerate(zip(block, labels[lo : lo + 10_000], strict=True))
            )
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), K),
            "label": labels,
        }
    )
    feather.write_feather(table, paths["Feather"], chunksize=65_536)
    with ipc.new_stream(str(paths["IPC stream"]), table.schema) as writer:
        writer.write_table(table, max_chunksize=1_000)
    return paths


def make_wide(folder: Path, n: int) -> dict[str, Path]:
    paths = {
        "wide Feather": folder / f"logits_{n}.feather",
        "wide stream": folder / f"logits_{n}.arrow",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    width = 32_000
    rng = np.random.default_rng(3)
    schema = pa.schema([("logits", pa.list_(pa.float32(), width)), ("label", pa.int64())])
    options = ipc.IpcWriteOptions(compression=None)
    with (
        ipc.new_file(str(paths["wide Feather"]), schema, options=options) as file,
        ipc.new_stream(str(paths["wide stream"]), schema, options=options) as stream,
    ):
        for lo in range(0, n, 100):
            rows = min(100, n - lo)
            z = rng.standard_normal((rows, width), dtype=np.float32) * 2
            batch = pa.record_batch(
                [
                    pa.FixedSizeListArray.from_arrays(pa.array(z.ravel()), width),
                    pa.array(rng.integers(0, width, rows)),
                ],
                schema=schema,
            )
            file.write_batch(batch)
            stream.write_batch(batch)
    return paths


def timed(command: list[str], runs: int) -> tuple[float, float, str]:
    """Median wall seconds and peak RSS (MiB) of a command, each in a fresh parent."""
    walls, peaks, stdout = [], [], ""
    for _ in range(runs):
        code = (
            "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            "out = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(json.dumps([out.returncode, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.stdout, "
            "out.stderr[-300:]]))"
        )
        done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True)
        rc, wall, peak, stdout, stderr = json.loads(done.stdout)
        if rc:
            raise SystemExit(f"{' '.join(command)} exited {rc}: {stderr}")
        walls.append(wall)
        peaks.append(peak / 1024)
    return statistics.median(walls), statistics.median(peaks), stdout


READ_WHOLE = {
    "wide Feather": "import pyarrow.feather, sys; pyarrow.feather.read_table(sys.argv[1])",
    "wide stream": (
        "import pyarrow as pa, sys; pa.ipc.open_stream(pa.OSFile(sys.argv[1])).read_all()"
    ),
    "JSON Lines": "import pyarrow.json, sys; pyarrow.json.read_json(sys.argv[1])",
    "Feather": "import pyarrow.feather, sys; pyarrow.feather.read_table(sys.argv[1])",
    "IPC stream": (
        "import pyarrow as pa, sys; pa.ipc.open_stream(pa.memory_map(sys.argv[1])).read_all()"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cecli-bench"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wide", type=int, default=0, help="rows of 32,000 logits (0: none)")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(compile_cecli())
    print(
        f"numpy {np.__version__}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()}"
    )
    start = time.perf_counter()
    paths = make_files(folder, args.rows)
    if args.wide:
        paths |= make_wide(folder, args.wide)
    print(f"files ready in {time.perf_counter() - start:.0f} s; medians of {args.runs} runs")
    print(
        f"  {'input':<11} {'MB':>6} {'cecli s':>8} {'MiB':>6} {'MiB/MB':>7} "
        f"{'whole s':>8} {'MiB':>6}  mean loss"
    )
    for name, path in paths.items():
        size = path.stat().st_size / 1e6
        cecli = ["cecli", "score", str(path), "--label-col", "label", "-f", "json"]
        if name.startswith("wide"):
            cecli.append("--logits")
        seconds, peak, out = timed(cecli, args.runs)
        whole_s, whole_peak, _ = timed([sys.executable, "-c", READ_WHOLE[name], str(path)], 1)
        report = json.loads(out)
        assert report["n_samples"] == (args.wide if name.startswith("wide") else args.rows)
        print(
            f"  {name:<11} {size:>6.0f} {seconds:>8.2f} {peak:>6.0f} {peak / size:>7.2f} "
            f"{whole_s:>8.2f} {whole_peak:>6.0f}  {report['mean_loss']:.6f}"
        )


if __name__ == "__main__":
    main()
