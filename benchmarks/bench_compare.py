"""Speed and memory of ``cecli compare``'s paired bootstrap, against its peers.

Run by hand (never in the test suite)::

    python benchmarks/bench_compare.py                  # 2,000 resamples x 1,000,000 rows
    python benchmarks/bench_compare.py --rounds 5 --cli # and the whole command
    python benchmarks/bench_compare.py --peer-resamples 2000   # peers at full size (minutes)

Every figure comes from a process of its own, which builds the same data (the
losses of a baseline and a candidate, skewed as log losses are, and row
weights), then times one bootstrap with ``time.perf_counter``; its peak memory
is the process's peak RSS (``getrusage``) less that of a process that only
builds the data. The statistic is the one ``cecli compare`` reports, the
weighted mean loss difference ``sum(w * (loss_c - loss_b)) / sum(w)`` (the
plain mean without weights), resampled by row, both models together:

* ``cecli``: :func:`cecli.bootstrap.paired_bootstrap` on the differences, BCa
  and percentile, without and with weights, on all threads and on one
  (``CECLI_NUM_THREADS=1``);
* a NumPy loop, the bootstrap most people write first: per resample,
  ``rng.integers`` row numbers and the (weighted) mean of the rows drawn;
* ``scipy.stats.bootstrap(paired=True, vectorized=True)`` on the two losses
  (and the weights), percentile (``batch=20`` bounds its memory) and BCa.

The peers cost the same for every resample, so they run ``--peer-resamples``
(200 by default) and their time is scaled to the full count (their memory is
not). SciPy's BCa jackknife evaluates the statistic on ``n`` leave-one-out
samples of ``n - 1`` rows each, ``n**2`` work: at a million rows that is
hours, so it and cecli's BCa are also timed at ``--bca-rows`` (20,000) rows,
with the full resample count. Ratios are to cecli's BCa (all threads, the
default of ``cecli compare``) on the same data in the same run.

With ``--cli`` it also times the whole command, ``cecli compare`` against
``cecli score`` on the same two 1,000,000 x 10 probability files in .npy
(runs alternated; wall time and peak RSS of each process).
"""

from __future__ import annotations

import argparse
import json
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

N_ROWS = 1_000_000
N_RESAMPLES = 2000


def losses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row log losses of a baseline and a slightly better candidate, and row weights."""
    rng = np.random.default_rng(seed)
    p_base = rng.beta(8, 2, n)
    p_cand = np.clip(p_base + rng.normal(0.01, 0.05, n), 1e-6, 1 - 1e-6)
    return -np.log(p_base), -np.log(p_cand), rng.uniform(0.5, 2.0, n)


def weighted_mean_difference(loss_b, loss_c, w, axis=-1):
    """The statistic, as cecli computes it, for SciPy (vectorised along ``axis``)."""
    return np.sum(w * (loss_c - loss_b), axis=axis) / np.sum(w, axis=axis)


def mean_difference(loss_b, loss_c, axis=-1):
    return np.mean(loss_c - loss_b, axis=axis)


def numpy_loop(diff: np.ndarray, w: np.ndarray | None, n_resamples: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    n = len(diff)
    means = np.empty(n_resamples)
    for i in range(n_resamples):
        rows = rng.integers(0, n, n)
        means[i] = np.mean(diff[rows]) if w is None else np.average(diff[rows], weights=w[rows])
    return tuple(np.quantile(means, [0.025, 0.975]))


def scipy_bootstrap(data: tuple, weighted: bool, method: str, n_resamples: int, seed: int):
    from scipy import stats

    result = stats.bootstrap(
        data,
        weighted_mean_difference if weighted else mean_difference,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        method=method,
        batch=20,
        rng=np.random.default_rng(seed),
    )
    return result.confidence_interval.low, result.confidence_interval.high


def work(name: str, rows: int, n_resamples: int) -> dict:
    """Run one measurement in this process; the dict printed as JSON for the parent."""
    loss_b, loss_c, w = losses(rows)
    diff = loss_c - loss_b
    weighted = name.endswith("weighted")
    weights = w if weighted else None
    data = (loss_b, loss_c, w) if weighted else (loss_b, loss_c)
    # imports are not the bootstrap's cost: done before the clock starts
    from cecli.bootstrap import paired_bootstrap

    if name.startswith("scipy"):
        import scipy.stats  # noqa: F401
    start_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if name.startswith("cecli"):
        method = "percentile" if "percentile" in name else "bca"
        r = paired_bootstrap(diff, weights, n_resamples=n_resamples, seed=0, method=method)
        interval = (r.ci_low, r.ci_high)
    elif name.startswith("numpy"):
        interval = numpy_loop(diff, weights, n_resamples, 0)
    elif name.startswith("scipy"):
        method = "BCa" if "BCa" in name else "percentile"
        interval = scipy_bootstrap(data, weighted, method, n_resamples, 0)
    else:  # "data": only the arrays, for the baseline of the peak memory
        interval = (float("nan"), float("nan"))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_kib": peak, "start_kib": start_peak, "interval": interval}


def measure(name: str, rows: int, n_resamples: int, threads: str | None = None) -> dict:
    env = dict(os.environ)
    if threads is not None:
        env["CECLI_NUM_THREADS"] = threads
    argv = [sys.executable, __file__, "--work", name, "--rows", str(rows)]
    argv += ["--resamples", str(n_resamples)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout)


#: (label, worker name, threads, peer?) timed at the full row count.
CASES = [
    ("cecli BCa", "cecli-bca", None, False),
    ("cecli BCa, 1 thread", "cecli-bca", "1", False),
    ("cecli percentile", "cecli-percentile", None, False),
    ("cecli BCa, weighted", "cecli-bca-weighted", None, False),
    ("cecli BCa, weighted, 1 thread", "cecli-bca-weighted", "1", False),
    ("numpy loop", "numpy", None, True),
    ("numpy loop, weighted", "numpy-weighted", None, True),
    ("scipy percentile", "scipy-percentile", None, True),
    ("scipy percentile, weighted", "scipy-percentile-weighted", None, True),
]


def table(title: str, rows: int, cases: list, args: argparse.Namespace) -> None:
    baseline = measure("data", rows, 1)["peak_kib"]
    print(f"\n{title}: {rows:,} rows, {args.resamples:,} resamples, median of {args.rounds}")
    print(f"{'':38s} {'seconds':>8s} {'ratio':>7s} {'peak MiB':>9s}  interval (2.5%, 97.5%)")
    reference = None
    for label, name, threads, peer in cases:
        n_resamples = min(args.peer_resamples, args.resamples) if peer else args.resamples
        scale = args.resamples / n_resamples
        runs = [measure(name, rows, n_resamples, threads) for _ in range(args.rounds)]
        seconds = statistics.median(r["seconds"] for r in runs) * scale
        reference = reference or seconds
        peak = max(0.0, (max(r["peak_kib"] for r in runs) - baseline) / 1024)
        low, high = runs[0]["interval"]
        note = f" ({n_resamples:,}, x{scale:g})" if scale != 1 else ""
        print(f"{label + note:38s} {seconds:8.2f} {seconds / reference:6.1f}x {peak:9.0f}  "
              f"[{low:+.6f}, {high:+.6f}]")  # fmt: skip


def make_files(folder: Path) -> None:
    rng = np.random.default_rng(1)
    n, k = N_ROWS, 10
    labels = rng.integers(0, k, n)
    for name, scale in (("baseline", 2.0), ("candidate", 2.1)):
        logits = rng.standard_normal((n, k)) + scale * np.eye(k)[labels]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        np.save(folder / f"{name}.npy", probs.astype(np.float32))
    np.save(folder / "labels.npy", labels)


def run_process(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def bench_cli(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # written by a process of its own: a child's peak RSS starts from its parent's
        subprocess.run([sys.executable, __file__, "--make", tmp], check=True)
        files = [str(Path(tmp) / f) for f in ("baseline.npy", "candidate.npy", "labels.npy")]
        cecli = [sys.executable, "-m", "cecli"]
        commands = {
            "cecli compare": [*cecli, "compare", *files, "--format", "json"],
            "cecli score": [*cecli, "score", files[0], files[2], "--format", "json"],
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():  # alternated: drift hits both alike
                runs[name].append(run_process(argv))
    print(f"\nwhole command on 2 x {N_ROWS:,} x 10 float32 probabilities (.npy), "
          f"median of {rounds}")  # fmt: skip
    seconds = {name: statistics.median(t for t, _ in r) for name, r in runs.items()}
    for name, r in runs.items():
        print(f"{name:38s} {seconds[name]:8.2f} s   peak RSS {max(m for _, m in r):6.0f} MiB")
    ratio = seconds["cecli compare"] / seconds["cecli score"]
    print(f"{'compare / score':38s} {ratio:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=N_ROWS)
    parser.add_argument("--resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--peer-resamples", type=int, default=200)
    parser.add_argument("--bca-rows", type=int, default=20_000)
    parser.add_argument("--cli", action="store_true", help="also time the whole command")
    parser.add_argument("--work", help=argparse.SUPPRESS)  # internal: one measurement
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the files there
    args = parser.parse_args()
    if args.make:
        make_files(Path(args.make))
        return
    if args.work:
        print(json.dumps(work(args.work, args.rows, args.resamples)))
        return
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    table("paired bootstrap", args.rows, CASES, args)
    bca = [CASES[0], CASES[3], ("scipy BCa", "scipy-BCa", None, False),
           ("scipy BCa, weighted", "scipy-BCa-weighted", None, False)]  # fmt: skip
    table("BCa where SciPy's n**2 jackknife is affordable", args.bca_rows, bca, args)
    if args.cli:
        print(compile_cecli())
        bench_cli(args.rounds)
    print(f"\nload average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
