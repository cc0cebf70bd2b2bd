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
  at the first block of rows, quietly); its floor is ``cp`` of the same
  output to a file, what writing those bytes costs at the least;
* ``--per-sample out.csv`` and ``out.parquet`` on 1,000,000 x 10, each
  also against its floor: a bare process that memory-maps the same final
  table (the rows cecli wrote, saved once as an uncompressed Arrow file) and
  writes it with ``pyarrow.csv.write_csv`` or ``pyarrow.parquet.write_table``
  and their defaults, over the file of the round before, as cecli's run does.
  ``plain + floor`` is the sum of the two medians: what a run would take if
  it wrote the file as fast as pyarrow does, after scoring.

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
    name: str,
    command: list[str] | str,
    peer: list[str],
    rounds: int,
    stdout: Path | None = None,
    floor: list[str] | None = None,
) -> None:
    """Run ``command``, ``peer`` (and ``floor``) in turn, ``rounds`` times; print the medians."""
    run(peer)  # warm the page cache
    if floor is not None:
        run(floor)
    mine, theirs, ratios, peaks, floors, to_floor = [], [], [], [], [], []
    for _ in range(rounds):
        a, peak = run(command, stdout)
        b, _ = run(peer)
        mine.append(a)
        theirs.append(b)
        ratios.append(a / b)
        peaks.append(peak)
        if floor is not None:
            c, _ = run(floor)
            floors.append(c)
            to_floor.append(a / c)
    print(
        f"{name:<34} {statistics.median(mine):7.2f} s  plain {statistics.median(theirs):6.2f} s"
        f"  ratio {statistics.median(ratios):5.2f}x  peak {max(peaks):7.1f} MiB"
    )
    if floor is not None:
        bare, plain = statistics.median(floors), statistics.median(theirs)
        mine_median = statistics.median(mine)
        print(
            f"{'':<34} floor {bare:5.2f} s  ratio {statistics.median(to_floor):5.2f}x"
            f"  plain + floor {plain + bare:5.2f} s  ratio {mine_median / (plain + bare):5.2f}x"
        )


def final_table(per_sample: Path, saved: Path) -> None:
    """Save the rows of a --per-sample Parquet file as an uncompressed Arrow file."""
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    feather.write_feather(pq.read_table(per_sample), saved, compression="uncompressed")


def bare_write(table: str, out: str) -> None:
    """The floor: pyarrow alone writes the table to ``out`` (its format from the suffix)."""
    import pyarrow as pa

    rows = pa.ipc.open_file(pa.memory_map(table)).read_all()
    if out.endswith(".csv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(rows, out)
    else:
        import pyarrow.parquet as pq

        pq.write_table(rows, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows for --top 0")
    parser.add_argument("--per-sample-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--per-sample-only", action="store_true", help="time only the --per-sample files"
    )
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the files there
    parser.add_argument("--bare-write", nargs=2, help=argparse.SUPPRESS)  # internal: the floor
    arguments = parser.parse_args()
    if arguments.make:
        write_files(Path(arguments.make), arguments.rows)
        return
    if arguments.bare_write:
        bare_write(*arguments.bare_write)
        return
    rounds = arguments.rounds
    print(compile_cecli())
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    folder = Path(tempfile.mkdtemp(prefix="cecli-bench-output-"))
    try:
        if not arguments.per_sample_only:
            preds, labels = make_files(folder, arguments.rows)
            plain = cecli(preds, labels, "-f", "json")
            json_out, saved = folder / "top0.json", folder / "saved.json"
            run(cecli(preds, labels, "-f", "json", "--top", "0"), saved)
            # the floor: a bare process that copies the same bytes to a file (cp)
            copy = ["cp", str(saved), str(folder / "floor.json")]
            compare(
                f"-f json --top 0, {arguments.rows:,} rows",
                cecli(preds, labels, "-f", "json", "--top", "0"),
                plain,
                rounds,
                stdout=json_out,
                floor=copy,
            )
            print(f"{'':<34} output {json_out.stat().st_size / 2**20:,.0f} MiB")
            head = " ".join(cecli(preds, labels, "-f", "json", "--top", "0")) + " | head -1"
            compare("-f json --top 0 | head -1", head, plain, rounds)
        preds, labels = make_files(folder, arguments.per_sample_rows)
        plain = cecli(preds, labels, "-f", "json")
        table = folder / "final.arrow"
        run(cecli(preds, labels, "-f", "json", "--per-sample", folder / "out.parquet"))
        final_table(folder / "out.parquet", table)
        for suffix in ("csv", "parquet"):
            out = folder / f"out.{suffix}"
            bare = [sys.executable, str(Path(__file__).resolve()), "--bare-write", str(table)]
            compare(
                f"--per-sample .{suffix}, {arguments.per_sample_rows:,} rows",
                cecli(preds, labels, "-f", "json", "--per-sample", out),
                plain,
                rounds,
                floor=[*bare, str(folder / f"floor.{suffix}")],
            )
            print(f"{'':<34} output {out.stat().st_size / 2**20:,.1f} MiB")
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
