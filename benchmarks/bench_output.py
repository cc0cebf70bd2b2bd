"""What cecli's outputs cost: ``-f json --top 0`` on every row, and ``--per-sample`` files.

Run by hand (never in the test suite)::

    python benchmarks/bench_output.py
    python benchmarks/bench_output.py --rounds 5

Each command is a whole process, timed from outside (start-up included);
each figure is the median of the rounds, and each ratio is to plain
``cecli score FILE LABELS -f json`` on the same file, run in turn with it in
the same rounds:

* ``-f json --top 0`` on 2,000,000 x 10 float32 probabilities (.npy), its
  output written to a file; and ``... --top 0 | head -1`` (the run must stop
  at the first block of rows, quietly);
* ``--per-sample out.csv`` and ``out.parquet`` on 1,000,000 x 10.

Peak memory is the largest resident set of the process (``getrusage``). The
cores and the load average are printed: on a busy machine the ratios hold
better than the seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

N_CLASSES = 10


def make_files(folder: Path, n_rows: int) -> tuple[Path, Path]:
    """Probabilities (float32, N x 10) and their labels, as .npy files.

    Made in a process of its own: a child forked from a big parent would count
    the parent's memory in its peak.
    """
    preds, targets = folder / f"probs_{n_rows}.npy", folder / f"labels_{n_rows}.npy"
    script = Path(__file__).resolve()
    make = [sys.executable, str(script), "--make", str(folder), "--rows", str(n_rows)]
    subprocess.run(make, check=True)
    return preds, targets


def write_files(folder: Path, n_rows: int) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 1.5, size=(n_rows, N_CLASSES))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) > rng.random((n_rows, 1))).argmax(axis=1)
    sharp = np.exp(3 * (logits - logits.max(axis=1, keepdims=True)))  # over-confident
    sharp /= sharp.sum(axis=1, keepdims=True)
    np.save(folder / f"probs_{n_rows}.npy", sharp.astype(np.float32))
    np.save(folder / f"labels_{n_rows}.npy", labels)


def cecli(*args: object) -> list[str]:
    return [sys.executable, "-m", "cecli", "score", *map(str, args)]


def run(command: list[str] | str, stdout: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process; a str runs in a shell (for a pipe)."""
    out = subprocess.DEVNULL if stdout is None else open(stdout, "wb")  # noqa: SIM115
    start = time.perf_counter()
    try:
        process = subprocess.Popen(
            command, shell=isinstance(command, str), stdout=out, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        if stdout is not None:
            out.close()
    elapsed = time.perf_counter() - start
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0 or errors.strip():
        raise SystemExit(f"{command} failed or spoke on stderr: {errors}")
    return elapsed, usage.ru_maxrss / 1024


def compare(
    name: str, command: list[str] | str, peer: list[str], rounds: int, stdout: Path | None = None
) -> None:
    """Run ``command`` and ``peer`` in turn, ``rounds`` times; print medians and the ratio."""
    run(peer)  # warm the page cache
    mine, theirs, ratios, peaks = [], [], [], []
    for _ in range(rounds):
        a, peak = run(command, stdout)
        b, _ = run(peer)
        mine.append(a)
        theirs.append(b)
        ratios.append(a / b)
        peaks.append(peak)
    print(
        f"{name:<34} {statistics.median(mine):7.2f} s  plain {statistics.median(theirs):6.2f} s"
        f"  ratio {statistics.median(ratios):5.2f}x  peak {max(peaks):7.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows for --top 0")
    parser.add_argument("--per-sample-rows", type=int, default=1_000_000)
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the files there
    arguments = parser.parse_args()
    if arguments.make:
        write_files(Path(arguments.make), arguments.rows)
        return
    rounds = arguments.rounds
    print(compile_cecli())
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    folder = Path(tempfile.mkdtemp(prefix="cecli-bench-output-"))
    try:
        preds, labels = make_files(folder, arguments.rows)
        plain = cecli(preds, labels, "-f", "json")
        json_out = folder / "top0.json"
        compare(
            f"-f json --top 0, {arguments.rows:,} rows",
            cecli(preds, labels, "-f", "json", "--top", "0"),
            plain,
            rounds,
            stdout=json_out,
        )
        print(f"{'':<34} output {json_out.stat().st_size / 2**20:,.0f} MiB")
        head = " ".join(cecli(preds, labels, "-f", "json", "--top", "0")) + " | head -1"
        compare("-f json --top 0 | head -1", head, plain, rounds)
        preds, labels = make_files(folder, arguments.per_sample_rows)
        plain = cecli(preds, labels, "-f", "json")
        for suffix in ("csv", "parquet"):
            compare(
                f"--per-sample .{suffix}, {arguments.per_sample_rows:,} rows",
                cecli(preds, labels, "-f", "json", "--per-sample", folder / f"out.{suffix}"),
                plain,
                rounds,
            )
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
