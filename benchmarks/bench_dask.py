"""``cecli score`` of 40 Parquet shards serially, and on 1 and 2 Dask workers.

Usage: ``python benchmarks/bench_dask.py [--folder DIR] [--shards 40] [--rows 250000]
[--classes 10] [--runs 5] [--one-file]``

``--one-file`` scores the same rows as one Parquet file in pyarrow's default
row groups of 1,048,576 rows, which the workers read as runs of row groups.

The shards are written once into ``--folder`` (kept for the next run). Each
configuration is timed warm, the runs alternating between configurations:
serial (:func:`cecli.pipeline.score_inputs` in a plain process of its own,
as it runs and with its threads held to one core), the floor of any engine (the same
tasks on two plain processes, no scheduler, merged in this process) against
:func:`cecli.dask.score_on_workers` on a local cluster of 1 and of 2
processes, started once each before timing. Printed: wall time (min and
median), the speed-up of the median over serial and over serial on one
thread, the cores kept busy (CPU over wall), CPU seconds (serial: this
process; workers: the sum over the worker processes, read from each before
and after, plus this process's), each worker's peak resident memory, the
pickled state size of one shard, and the largest relative difference of
the mean loss from serial. The core count and load average are printed
beside them: on a busy machine the ratios mean little.
"""

from __future__ import annotations

import argparse
import glob
import os

# as the command line sets it (cecli/__main__.py): OpenBLAS's spinning threads otherwise
# double the CPU of a matrix product; Dask's workers get the same from distributed
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import pickle
import statistics
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from _bytecode import compile_cecli


def write_shards(folder: str, shards: int, rows: int, classes: int) -> str:
    os.makedirs(folder, exist_ok=True)
    for i in range(shards):
        path = os.path.join(folder, f"part-{i:05d}.parquet")
        if os.path.exists(path):
            continue
        rng = np.random.default_rng(i)
        probs = rng.dirichlet(np.full(classes, 0.5), rows)
        labels = rng.integers(0, classes, rows)
        table = {f"p{k}": probs[:, k] for k in range(classes)} | {"label": labels}
        pq.write_table(pa.table(table), path)
    return os.path.join(folder, "*.parquet")


def write_one_file(folder: str, shards: int, rows: int, classes: int) -> str:
    """The same rows as one Parquet file, in pyarrow's default row groups (1,048,576 rows)."""
    path = os.path.join(folder + "-one", "all.parquet")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pattern = write_shards(folder, shards, rows, classes)
        pq.write_table(pq.ParquetDataset(sorted(glob.glob(pattern))).read(), path)
    return path


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _worker_stats() -> tuple[float, int]:
    import psutil

    p = psutil.Process()
    t = p.cpu_times()
    peak = getattr(p.memory_info(), "peak_wset", None) or _peak_rss()
    return t.user + t.system, peak


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def serial_mean(pattern: str, one_thread: bool) -> float:
    """The serial run (in a process of its own, as ``cecli score`` is); its mean loss.

    ``one_thread`` holds cecli's row threads and pyarrow's CPU pool to one core.
    """
    import pyarrow

    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions, Inputs
    from cecli.pipeline import score_inputs

    cores = pyarrow.cpu_count()
    if one_thread:
        os.environ["CECLI_NUM_THREADS"] = "1"
        pyarrow.set_cpu_count(1)
    try:
        with Inputs(pattern, None, InputOptions()) as inputs:
            return score_inputs(inputs, ScoreOptions(calibration_bins=15)).summary.mean_loss
    finally:
        os.environ.pop("CECLI_NUM_THREADS", None)
        pyarrow.set_cpu_count(cores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=os.path.join("bench-data", "dask-shards"))
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--one-file",
        action="store_true",
        help="score the rows as one Parquet file (tasks are runs of its row groups)",
    )
    args = parser.parse_args()
    print(compile_cecli())
    import distributed

    from cecli.dask import ShardTask, local_cluster, score_on_workers, score_shard
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions, Inputs

    pattern = write_shards(args.folder, args.shards, args.rows, args.classes)
    if args.one_file:
        pattern = write_one_file(args.folder, args.shards, args.rows, args.classes)
    options = ScoreOptions(calibration_bins=15)

    clusters = {}
    for n in (1, 2):
        cluster = local_cluster(n)
        clusters[n] = (cluster, distributed.Client(cluster))
    # distributed's own environment (MALLOC_TRIM_THRESHOLD_=65536), for comparison
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=":0", silence_logs=50
    )
    clusters["trim"] = (cluster, distributed.Client(cluster))
    # distributed leaves MALLOC_TRIM_THRESHOLD_ in this process's environment, which the
    # plain processes (spawned on first use) would inherit: give them glibc's default
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)

    # the floor: the same tasks on two plain processes (no scheduler), merged here in order
    import concurrent.futures
    import multiprocessing

    from cecli.dask._tasks import merge_parts, run_group, shard_tasks, task_groups
    from cecli.pipeline import finish

    spawn = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn)
    # the serial runs go to a process of their own, as a user's cecli score is: this one
    # holds the clusters' schedulers and nannies, whose threads would slow them
    solo = concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn)

    def serial() -> float:
        return solo.submit(serial_mean, pattern, False).result()

    def serial_one_thread() -> float:
        return solo.submit(serial_mean, pattern, True).result()

    def plain() -> float:
        with Inputs(pattern, None, InputOptions()) as inputs:
            tasks = shard_tasks(inputs, options, clusters[2][1])
            groups = task_groups(tasks, inputs.n_classes)
            parts = list(pool.map(run_group, [score_shard] * len(groups), groups))
            part = parts[0]
            for other in parts[1:]:
                part = merge_parts(part, other)
            return finish(inputs, part.state).summary.mean_loss

    def pool_cpu(executor: concurrent.futures.ProcessPoolExecutor) -> float:
        import psutil

        pids = list(executor._processes)
        return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)

    in_pools = {plain: pool, serial: solo, serial_one_thread: solo}

    def on(key: object):
        client = clusters[key][1]

        def run() -> float:
            with Inputs(pattern, None, InputOptions()) as inputs:
                return score_on_workers(inputs, options, client).summary.mean_loss

        return run

    on_cluster = {"1 worker": 1, "2 workers": 2, "1 worker, trim": "trim"}
    runs = {"serial": serial, "serial, 1 thread": serial_one_thread, "2 plain processes": plain}
    runs |= {name: on(key) for name, key in on_cluster.items()}
    walls = {k: [] for k in runs}
    cpus = {k: [] for k in runs}
    means = {}
    peaks = {}
    for name, fn in runs.items():  # warm up: imports, page cache
        means[name] = fn()
    for _ in range(args.runs):
        for name, fn in runs.items():
            client = clusters[on_cluster[name]][1] if name in on_cluster else None
            before = client.run(_worker_stats) if client else {}
            executor = in_pools.get(fn)
            pool0 = pool_cpu(executor) if executor else 0.0
            cpu0, t0 = _cpu(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
            cpu += pool_cpu(executor) - pool0 if executor else 0.0
            if client:
                after = client.run(_worker_stats)
                cpu += sum(after[w][0] - before[w][0] for w in after)
                peaks[name] = max(after[w][1] for w in after)
            walls[name].append(wall)
            cpus[name].append(cpu)
    pool.shutdown()
    solo.shutdown()
    for _, client in clusters.values():
        client.close()
    for cluster, _ in clusters.values():
        cluster.close()

    with Inputs(pattern, None, InputOptions()) as inputs:
        first = (pattern, (0, 1)) if args.one_file else (inputs.pred_source.paths[0], None)
        task = ShardTask(
            first[0], None, 0, inputs.options, options, inputs.kind, tuple(inputs.classes),
            row_groups=first[1],
        )  # fmt: skip
    state_bytes = len(pickle.dumps(score_shard(task)))
    n_rows = args.shards * args.rows
    layout = (
        f"one Parquet file of {n_rows:,} x {args.classes} in row groups of 1,048,576"
        if args.one_file
        else f"{args.shards} Parquet shards of {args.rows:,} x {args.classes} ({n_rows:,} rows)"
    )
    print(f"{layout}, {args.runs} warm runs each, alternating; calibration on")
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    base = statistics.median(walls["serial"])
    base_cpu = statistics.median(cpus["serial"])
    one = statistics.median(walls["serial, 1 thread"])
    for name in runs:
        med = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        peak = f", peak RSS a worker {peaks[name] / 2**20:.0f} MiB" if name in peaks else ""
        diff = abs(means[name] - means["serial"]) / abs(means["serial"])
        cores_used = statistics.median(c / w for c, w in zip(cpus[name], walls[name], strict=True))
        print(
            f"{name:>16}: wall min {min(walls[name]):.2f} s, median {med:.2f} s "
            f"(x{base / med:.2f} serial, x{one / med:.2f} serial on 1 thread); "
            f"CPU median {cpu:.2f} s (x{cpu / base_cpu:.2f} serial), {cores_used:.2f} cores busy"
            f"{peak}; mean loss rel. diff {diff:.1e}"
        )
    print(f"client peak RSS {_peak_rss() / 2**20:.0f} MiB; one task's state {state_bytes:,} B")


if __name__ == "__main__":
    main()
