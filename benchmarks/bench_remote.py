"""Remote inputs: requests and peak memory against file size, on a local S3 or HTTP server.

Starts moto's S3 server on 127.0.0.1 (fake credentials, never the network),
or with ``--http`` the tests' small HTTP file server (byte ranges, ETags;
``tests/http_server.py``) read through fsspec (the remote extra), and puts there
Parquet (row groups of 100,000 rows), NPY and CSV.gz files of N x 10
probabilities, and runs ``cecli score FILE -f json`` on each, local and remote,
in a subprocess of its own. For each run it prints the requests the server
saw, by kind (HEAD, GET, LIST), the peak resident memory of the process
(VmHWM, which the process reports as it ends), and the wall time.

    python benchmarks/bench_remote.py [--rows 250000,1000000,4000000] [--csv-rows 1000000]
    python benchmarks/bench_remote.py --http [--rows 1000000]

Needs ``moto[server]``, or for ``--http`` fsspec and aiohttp (the test extra).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bytecode import compile_cecli

K = 10
BUCKET = "cecli-bench"


class Requests(logging.Handler):
    """Counts the requests moto's server logs (werkzeug's access log), by method."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            match = re.search(r"(GET|HEAD|PUT|POST) (\S+) HTTP", line)
            if match:
                method, target = match.groups()
                listing = method == "GET" and "?" in target  # ?list-type=2&prefix=...
                kind = "LIST" if listing else method
                out[kind] = out.get(kind, 0) + 1
        return out


#: Runs cecli, then prints the process's peak resident memory (a child's ru_maxrss would
#: start from this process's, which holds the test data).
_CHILD = """
import sys
from cecli.__main__ import main
try:
    main()
finally:
    peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    sys.stderr.write(f"\\nPEAK {peak}\\n")
"""


def run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cecli score ARGS -f json``."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "score", *args, "-f", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cecli failed on {args}: {done.stderr}")
    return wall, int(done.stderr.rsplit("PEAK ", 1)[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="250000,1000000,4000000")
    parser.add_argument("--csv-rows", default="1000000")
    parser.add_argument("--http", action="store_true", help="an HTTP server, not S3")
    o = parser.parse_args()
    print(compile_cecli())
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    files = make_files(o)
    if o.http:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from http_server import FileServer

        with FileServer() as server:
            urls = {}
            for pair in files:
                for p in pair:
                    if p is not None and p not in urls:
                        urls[p] = server.put(f"/{p.name}", p.read_bytes())
            report(files, urls, lambda: dict(server.requests), server.requests.clear)
        return
    from moto.server import ThreadedMotoServer

    requests = Requests()
    logging.getLogger("werkzeug").addHandler(requests)
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    fs = pafs.S3FileSystem(endpoint_override=f"http://{host}:{port}", allow_bucket_creation=True)
    fs.create_dir(BUCKET)
    urls = {}
    for pair in files:
        for p in pair:
            if p is not None and p not in urls:
                with (
                    open(p, "rb") as src,
                    fs.open_output_stream(f"{BUCKET}/{p.name}", compression=None) as dst,
                ):
                    dst.write(src.read())
                urls[p] = f"s3://{BUCKET}/{p.name}"
    report(files, urls, requests.counts, requests.lines.clear)
    server.stop()


def make_files(o: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    """Parquet, NPY (and labels) and CSV.gz files of N x K probabilities, in a new folder."""
    folder = Path(tempfile.mkdtemp(prefix="cecli-bench-remote-"))
    rng = np.random.default_rng(0)
    files = []
    for n in map(int, o.rows.split(",")):
        probs = rng.dirichlet(np.ones(K), n)
        labels = rng.integers(0, K, n)
        pq_path = folder / f"p{n}.parquet"
        table = pa.table({f"c{k}": probs[:, k] for k in range(K)} | {"label": labels})
        pq.write_table(table, pq_path, row_group_size=100_000)
        np.save(folder / f"p{n}.npy", probs)
        np.save(folder / f"l{n}.npy", labels)
        files += [(pq_path, None), (folder / f"p{n}.npy", folder / f"l{n}.npy")]
        del probs, table
    for n in map(int, o.csv_rows.split(",")) if o.csv_rows else []:
        probs = rng.dirichlet(np.ones(K), n)
        labels = rng.integers(0, K, n)
        path = folder / f"p{n}.csv.gz"
        with gzip.open(path, "wt", compresslevel=1) as f:
            f.write(",".join([*(f"c{k}" for k in range(K)), "label"]) + "\n")
            rows = np.column_stack([probs, labels])
            np.savetxt(f, rows, fmt=["%.6f"] * K + ["%d"], delimiter=",")
        files.append((path, None))
    return files


def report(files: list, urls: dict, seen: Callable[[], dict], clear: Callable[[], None]) -> None:
    """Each file's run, local and remote: wall time, peak memory, the requests seen."""
    print(f"{'file':<22}{'MiB':>8}  {'where':<7}{'wall s':>8}{'peak MiB':>10}  requests")
    for preds, labels in files:
        size = sum(p.stat().st_size for p in (preds, labels) if p is not None) / 2**20
        for where in ("local", "remote"):
            args = [str(p) if where == "local" else urls[p] for p in (preds, labels) if p]
            clear()
            wall, peak = run(args)
            counts = seen() if where == "remote" else {}
            print(f"{preds.name:<22}{size:>8.0f}  {where:<7}{wall:>8.2f}{peak:>10.0f}  {counts}")


if __name__ == "__main__":
    main()
