"""``cecli score --label-issues`` from file to answer, beside cleanlab's, and its memory.

Run by hand (never in the test suite; it needs cleanlab and pandas)::

    python benchmarks/bench_label_issues_run.py             # 1,000,000 x 10, CSV and NPY
    python benchmarks/bench_label_issues_run.py --rounds 5
    python benchmarks/bench_label_issues_run.py --huge      # also the 2.6 GB NPY of logits

The set: 1,000,000 rows of 10-class probabilities leaning to each row's true
class, with 10% of the labels flipped uniformly; written as a CSV of 8
significant digits (labels a column) and as two NPY files (float32
probabilities, int64 labels). Each command is a whole process, timed from
outside, start-up included; the figures are medians of the rounds, run in
turn, and each ratio is to the peer of the same round:

* ``cecli``: ``cecli score FILE --label-issues -f json`` (every issue
  listed), output to a file;
* ``cleanlab``: the script a cleanlab user writes: ``pandas.read_csv`` (or
  ``numpy.load``), then ``cleanlab.filter.find_label_issues(labels,
  pred_probs, return_indices_ranked_by="self_confidence")`` with its
  defaults (it uses every core), the indices printed;
* ``plain``: ``cecli score FILE -f json``, the scoring pass alone: what the
  passes after the first cost on top.

Then the rows found are checked to be cleanlab's, in its order, and the F1
of finding the flipped rows is printed for both. Peak memory is the process's
largest resident set (``getrusage``). With ``--huge``: the 20,000 x 32,000
float32 logits (2.56 GB) of ``bench_read.py``, scored with ``--label-issues``
(read four times; peak resident set against the 400 MB bound of issue 2).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

N_ROWS, N_CLASSES, NOISE = 1_000_000, 10, 0.10

PEER = """
import sys
import numpy as np
from cleanlab.filter import find_label_issues
path = sys.argv[1]
if path.endswith(".csv"):
    import pandas as pd
    frame = pd.read_csv(path)
    labels = frame.pop("label").to_numpy()
    probs = frame.to_numpy()
else:
    probs, labels = np.load(path), np.load(sys.argv[2])
rows = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
print(" ".join(map(str, rows.tolist())))
"""


def make_set(folder: Path | str, n: int) -> tuple[Path, Path, Path, np.ndarray]:
    """The CSV, the two NPY files, and which rows were flipped."""
    folder = Path(folder)
    csv_path, probs_path, labels_path = folder / "li.csv", folder / "li_p.npy", folder / "li_y.npy"
    flipped_path = folder / "li_flipped.npy"
    if not flipped_path.exists():
        rng = np.random.default_rng(0)
        truth = rng.integers(0, N_CLASSES, n)
        z = rng.standard_normal((n, N_CLASSES))
        z[np.arange(n), truth] += 4.0
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        probs = probs.astype(np.float32)
        labels = truth.copy()
        flip = rng.random(n) < NOISE
        labels[flip] = (truth[flip] + rng.integers(1, N_CLASSES, int(flip.sum()))) % N_CLASSES
        np.save(probs_path, probs)
        np.save(labels_path, labels)
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = {f"c{j}": np.char.mod("%.8g", probs[:, j]) for j in range(N_CLASSES)}
        table = pa.table({**text, "label": labels})
        pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
        np.save(flipped_path, np.flatnonzero(flip))
    return csv_path, probs_path, labels_path, np.load(flipped_path)


#: Runs one command and prints its wall and CPU seconds and peak RSS: a fresh process
#: per command, since a child's ru_maxrss can carry the largest of those before it.
TIMER = """
import json, os, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as out:
    done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([done.returncode, done.stderr.decode()[-500:], wall,
                  usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024]))
"""


def run(command: list[str], stdout: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one process."""
    timer = [sys.executable, "-c", TIMER, str(stdout), *command]
    status, errors, wall, cpu, peak = json.loads(subprocess.check_output(timer))
    if status != 0:
        raise SystemExit(f"{command} failed: {errors}")
    return wall, cpu, peak


def agreement(mine: np.ndarray, theirs: np.ndarray, issues: list[dict]) -> str:
    """Whether the rows are cleanlab's, in its order up to rows of the same score."""
    if not np.array_equal(np.sort(mine), np.sort(theirs)):
        return f"DIFFERENT rows ({len(np.setxor1d(mine, theirs)):,} in one only)"
    if np.array_equal(mine, theirs):
        return "the same rows in the same order"
    score = {r["row"]: r["score"] for r in issues}
    same_scores = [score[int(a)] == score[int(b)] for a, b in zip(mine, theirs, strict=True)]
    if all(same_scores):
        moved = int(np.sum(mine != theirs))
        return f"the same rows, in the same order but for {moved:,} that tie on their score"
    return "the same rows in ANOTHER order"


def f1(found: np.ndarray, truth: np.ndarray) -> float:
    hits = len(np.intersect1d(found, truth))
    return 2 * hits / max(1, len(found) + len(truth))


def bench(name: str, files: list[Path], folder: Path, rounds: int, flipped: np.ndarray) -> None:
    cecli = [sys.executable, "-m", "cecli", "score", *map(str, files), "-f", "json"]
    commands = {
        "cecli": [*cecli, "--label-issues"],
        "cleanlab": [sys.executable, "-c", PEER, *map(str, files)],
        "plain": cecli,
    }
    outputs = {key: folder / f"out_{key}.txt" for key in commands}
    for key, command in commands.items():  # warm the page cache
        run(command, outputs[key])
    times: dict[str, list[tuple[float, float, float]]] = {key: [] for key in commands}
    for _ in range(rounds):
        for key, command in commands.items():
            times[key].append(run(command, outputs[key]))
    wall = {key: statistics.median(t[0] for t in v) for key, v in times.items()}
    cpu = {key: statistics.median(t[1] for t in v) for key, v in times.items()}
    peak = {key: max(t[2] for t in v) for key, v in times.items()}
    ratios = [a[0] / b[0] for a, b in zip(times["cecli"], times["cleanlab"], strict=True)]
    over = [a[0] / b[0] for a, b in zip(times["cecli"], times["plain"], strict=True)]
    print(f"{name}")
    for key in commands:
        print(
            f"  {key:<9} {wall[key]:6.2f} s wall  {cpu[key]:6.2f} s CPU  peak {peak[key]:6.0f} MiB"
        )
    print(f"  cecli / cleanlab {statistics.median(ratios):.2f}x (wall, median of the rounds)")
    print(f"  cecli / plain    {statistics.median(over):.2f}x (the passes after the first)")
    issues = json.loads(outputs["cecli"].read_text())["label_issues"]
    mine = np.array([r["row"] for r in issues], dtype=np.int64)
    theirs = np.array(outputs["cleanlab"].read_text().split(), dtype=np.int64)
    print(f"  {len(mine):,} issues; cleanlab {len(theirs):,}: {agreement(mine, theirs, issues)}")
    scores = f"cecli {f1(mine, flipped):.3f}, cleanlab {f1(theirs, flipped):.3f}"
    print(f"  F1 of the flipped rows: {scores}")


def bench_huge(folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_read import make_lm_files

    logits, labels, _ = make_lm_files(folder)
    out = folder / "out_huge.json"
    command = [sys.executable, "-m", "cecli", "score", str(logits), str(labels), "--logits",
               "--label-issues", "-f", "json"]  # fmt: skip
    wall, cpu, peak = run(command, out)
    doc = json.loads(out.read_text())
    size = logits.stat().st_size / 1e9
    verdict = "ok" if peak < 400 else "OVER"
    print(
        f"2.6 GB NPY of logits ({size:.2f} GB, {doc['n_samples']:,} x {doc['n_classes']:,}), "
        f"--label-issues: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak:.0f} MiB "
        f"(bound 400: {verdict}); {doc['label_issue_count']:,} issues"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=N_ROWS)
    parser.add_argument("--huge", action="store_true", help="also the 2.6 GB NPY of logits")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cecli-bench")
    args = parser.parse_args()
    print(compile_cecli())
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    folder = args.cache / f"label_issues_v2_{args.rows}"
    folder.mkdir(parents=True, exist_ok=True)
    # made in a process of its own: a child forked from a big parent would count its pages
    made = f"from bench_label_issues_run import make_set; make_set({str(folder)!r}, {args.rows})"
    here = str(Path(__file__).parent)
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); {made}"],
                   check=True)  # fmt: skip
    csv_path, probs_path, labels_path, flipped = make_set(folder, args.rows)
    n = f"{args.rows:,} x {N_CLASSES}"
    bench(f"CSV, {n} (8 digits)", [csv_path], folder, args.rounds, flipped)
    bench(f"NPY, {n} (float32)", [probs_path, labels_path], folder, args.rounds, flipped)
    if args.huge:
        bench_huge(args.cache)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
