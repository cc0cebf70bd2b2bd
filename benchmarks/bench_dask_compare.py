"""``cecli compare --ci-method poisson`` of 2 x 40 Parquet shards serially, and on 1 and 2 workers.

Usage: ``python benchmarks/bench_dask_compare.py [--folder DIR] [--shards 40] [--rows 250000]
[--classes 10] [--bootstrap 2000] [--runs 3]``

Two models' shards (the same labels, other probabilities) are written once
into ``--folder`` (kept for the next run). Each configuration is timed warm,
the runs alternating: serial (:func:`cecli.pairing.compare_inputs` with
method "poisson", in this process) against
:func:`cecli.dask.compare_on_workers` on a local cluster of 1 and of 2
processes, started once each before timing. Printed: wall time (min and
median), the speed-up of the median over serial, CPU seconds (workers: the
sum over the worker processes plus this process's), each worker's peak
resident memory, whether the interval is the serial one to the bit, and the
core count and load average beside them: on a busy machine the ratios mean
little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from _bytecode import compile_cecli
from bench_dask import _cpu, _peak_rss, _worker_stats


def write_models(folder: str, shards: int, rows: int, classes: int) -> tuple[str, str]:
    patterns = []
    for model in ("baseline", "candidate"):
        where = os.path.join(folder, model)
        os.makedirs(where, exist_ok=True)
        for i in range(shards):
            path = os.path.join(where, f"part-{i:05d}.parquet")
            if os.path.exists(path):
                continue
            labels = np.random.default_rng(i).integers(0, classes, rows)
            rng = np.random.default_rng([i, model == "candidate"])
            probs = rng.dirichlet(np.full(classes, 0.5), rows)
            if model == "candidate":  # a little better: some mass moved to the label
                probs = 0.9 * probs + 0.1 * np.eye(classes)[labels]
            table = {f"p{k}": probs[:, k] for k in range(classes)} | {"label": labels}
            pq.write_table(pa.table(table), path)
        patterns.append(os.path.join(where, "*.parquet"))
    return patterns[0], patterns[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=os.path.join("bench-data", "dask-compare"))
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(compile_cecli())
    import distributed

    from cecli.dask import compare_on_workers, local_cluster
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions, Inputs
    from cecli.pairing import CompareOptions, compare_inputs

    base, cand = write_models(args.folder, args.shards, args.rows, args.classes)
    options = ScoreOptions()
    compare = CompareOptions(n_resamples=args.bootstrap, method="poisson")

    def serial():
        with Inputs(base, None, InputOptions()) as b, Inputs(cand, None, InputOptions()) as c:
            return compare_inputs(b, c, options, compare).comparison

    clusters = {}
    for n in (1, 2):
        cluster = local_cluster(n)
        clusters[n] = (cluster, distributed.Client(cluster))

    def on(n: int):
        def run():
            with Inputs(base, None, InputOptions()) as b, Inputs(cand, None, InputOptions()) as c:
                return compare_on_workers(b, c, options, compare, clusters[n][1]).comparison

        return run

    on_cluster = {"1 worker": 1, "2 workers": 2}
    runs = {"serial": serial} | {name: on(n) for name, n in on_cluster.items()}
    walls = {k: [] for k in runs}
    cpus = {k: [] for k in runs}
    found, peaks = {}, {}
    for name, fn in runs.items():  # warm up: imports, page cache
        found[name] = fn()
    for _ in range(args.runs):
        for name, fn in runs.items():
            client = clusters[on_cluster[name]][1] if name in on_cluster else None
            before = client.run(_worker_stats) if client else {}
            cpu0, t0 = _cpu(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
            if client:
                after = client.run(_worker_stats)
                cpu += sum(after[w][0] - before[w][0] for w in after)
                peaks[name] = max(after[w][1] for w in after)
            walls[name].append(wall)
            cpus[name].append(cpu)
    for _, client in clusters.values():
        client.close()
    for cluster, _ in clusters.values():
        cluster.close()

    n_rows = args.shards * args.rows
    print(f"2 models x {args.shards} Parquet shards of {args.rows:,} x {args.classes} "
          f"({n_rows:,} rows each), {args.bootstrap} Poisson resamples, {args.runs} warm runs "
          "each, alternating")  # fmt: skip
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    base_wall = statistics.median(walls["serial"])
    base_cpu = statistics.median(cpus["serial"])
    s = found["serial"]
    for name in runs:
        med, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        peak = f", peak RSS a worker {peaks[name] / 2**20:.0f} MiB" if name in peaks else ""
        r = found[name]
        same = (r.ci_low, r.ci_high, r.delta_mean_loss) == (s.ci_low, s.ci_high, s.delta_mean_loss)
        print(
            f"{name:>9}: wall min {min(walls[name]):.2f} s, median {med:.2f} s "
            f"(x{base_wall / med:.2f} serial); CPU median {cpu:.2f} s "
            f"(x{cpu / base_cpu:.2f} serial){peak}; interval the serial one to the bit: {same}"
        )
    print(f"client peak RSS {_peak_rss() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
