"""Remote inputs (``s3://``) score as the same files on disk do.

A local S3 server (moto's, on 127.0.0.1, fake credentials, never the
network) holds copies of files written here; the reference is cecli's run
of the local file, whose JSON must be the remote run's apart from the file
names, and scikit-learn's ``log_loss``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import InputError
from cecli.inputs import InputOptions, Inputs
from cecli.readers import _remote
from cecli.spill import Replay

moto_server = pytest.importorskip("moto.server", reason="moto[server] runs the local S3 server")
pafs = pytest.importorskip("pyarrow.fs")
if not hasattr(pafs, "S3FileSystem"):
    pytest.skip("this pyarrow is built without S3", allow_module_level=True)

runner = CliRunner()
N, K = 3000, 4
BUCKET = "cecli-test"
SECRET = "testing-secret-0123456789"


@pytest.fixture(scope="module")
def s3():
    """A local S3 server and the AWS variables that point at it; the filesystem to upload with."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)  # a developer's own profiles stay out
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        _remote._from_uri.cache_clear()
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint, allow_bucket_creation=True, region="us-east-1"
        )
        fs.create_dir(BUCKET)
        yield fs, endpoint
        _remote._from_uri.cache_clear()
        _remote._made.cache_clear()
    server.stop()


def upload(fs, local, key):
    with (
        open(local, "rb") as src,
        fs.open_output_stream(f"{BUCKET}/{key}", compression=None) as dst,
    ):
        dst.write(src.read())
    return f"s3://{BUCKET}/{key}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(15)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.2  # confident mistakes: flagged rows and label issues
    labels[flip] = probs[flip].argmin(axis=1)
    return probs, labels, tmp_path_factory.mktemp("remote")


def score(*args):
    result = runner.invoke(app, ["score", *map(str, args), "--format", "json"])
    return result


def same_json(local_args, remote_args, names):
    """The two runs' JSON, the remote's file names replaced by the local ones: equal."""
    a, b = score(*local_args), score(*remote_args)
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    text = b.stdout
    for url, path in names.items():
        text = text.replace(url, path)
    assert json.loads(text) == json.loads(a.stdout)
    return json.loads(a.stdout)


@pytest.fixture(scope="module")
def parquet(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / "preds.parquet"
    table = pa.table({f"p{k}": probs[:, k] for k in range(K)} | {"label": labels})
    # row groups of 700 rows, frames of 512 (--chunk-size 16K): frames straddle row groups
    pq.write_table(table, path, row_group_size=700)
    return str(path), upload(fs, path, "preds.parquet")


def test_parquet_is_the_local_files_answer(parquet, data):
    local, url = parquet
    out = same_json([local, "--chunk-size", "16K"], [url, "--chunk-size", "16K"], {url: local})
    probs, labels, _ = data
    assert out["mean_loss"] == pytest.approx(log_loss(labels, probs), rel=1e-12)


def test_csv_gz_is_the_local_files_answer(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / "preds.csv.gz"
    frame = pd.DataFrame(probs, columns=[f"p{k}" for k in range(K)]).assign(label=labels)
    with gzip.open(path, "wt") as f:
        frame.to_csv(f, index=False)
    url = upload(fs, path, "text/preds.csv.gz")
    same_json([path], [url], {url: str(path)})


def test_jsonl_gz_is_the_local_files_answer(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / "preds.jsonl.gz"
    rows = [
        json.dumps({"probs": list(map(float, p)), "label": int(y)})
        for p, y in zip(probs, labels, strict=True)
    ]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    url = upload(fs, path, "text/preds.jsonl.gz")
    # --label-issues: the stream is read once, its rows kept on disk for the later passes
    same_json([path, "--label-issues"], [url, "--label-issues"], {url: str(path)})


@pytest.mark.parametrize("layout", ["file", "stream"])
def test_arrow_ipc_is_the_local_files_answer(s3, data, layout):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / f"preds-{layout}.arrow"
    table = pa.table({"probs": pa.array(list(probs.astype(np.float32))), "label": labels})
    writer = pa.ipc.new_file if layout == "file" else pa.ipc.new_stream
    with writer(str(path), table.schema) as out:
        out.write_table(table, max_chunksize=1000)
    url = upload(fs, path, f"ipc/preds-{layout}.arrow")
    args = ["--label-issues", "--chunk-size", "16K"]
    same_json([path, *args], [url, *args], {url: str(path)})


def test_npy_is_the_local_files_answer(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    preds, targets = folder / "preds.npy", folder / "labels.npy"
    np.save(preds, probs.astype(np.float32))
    np.save(targets, labels)
    # Fortran order: each frame is read a column at a time
    np.save(folder / "fortran.npy", np.asfortranarray(probs))
    a, b = upload(fs, preds, "npy/preds.npy"), upload(fs, targets, "npy/labels.npy")
    same_json(
        [preds, targets, "--chunk-size", "8K"],
        [a, b, "--chunk-size", "8K"],
        {a: str(preds), b: str(targets)},
    )
    f = upload(fs, folder / "fortran.npy", "npy/fortran.npy")
    same_json(
        [folder / "fortran.npy", targets], [f, b], {f: str(folder / "fortran.npy"), b: str(targets)}
    )


def test_a_remote_pattern_is_its_shards(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    local = folder / "shards"
    local.mkdir()
    cuts = [0, 1000, 1001, 2400, N]
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        table = pa.table({f"p{k}": probs[lo:hi, k] for k in range(K)} | {"label": labels[lo:hi]})
        pq.write_table(table, local / f"part-{i}.parquet")
        upload(fs, local / f"part-{i}.parquet", f"shards/part-{i}.parquet")
    # not in the pattern, nor in the folder; ** finds it
    (local / "nested").mkdir()
    pq.write_table(pq.read_table(local / "part-0.parquet"), local / "nested" / "part-9.parquet")
    upload(fs, local / "nested" / "part-9.parquet", "shards/nested/part-9.parquet")
    pattern = f"s3://{BUCKET}/shards/*.parquet"
    names = {f"s3://{BUCKET}/shards": str(local)}
    out = same_json([local / "*.parquet"], [pattern], names)
    assert out["n_samples"] == N
    assert [s["file"] for s in out["files"]["prediction_shards"]] == [
        str(local / f"part-{i}.parquet") for i in range(4)
    ]
    same_json([local / "part-?.parquet"], [f"s3://{BUCKET}/shards/part-?.parquet"], names)
    deep = same_json([local / "**" / "*.parquet"], [f"s3://{BUCKET}/shards/**/*.parquet"], names)
    assert deep["n_samples"] == N + 1000
    # a prefix is a folder: the files directly in it
    same_json([local], [f"s3://{BUCKET}/shards"], names)


def test_label_issues_read_a_remote_parquet_again(parquet):
    local, url = parquet
    out = same_json([local, "--label-issues"], [url, "--label-issues"], {url: local})
    assert out["label_issue_count"] > 0


def test_a_remote_file_that_changes_between_passes_is_refused(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / "changing.parquet"
    pq.write_table(pa.table({"p0": probs[:, 0], "p1": 1 - probs[:, 0], "label": labels % 2}), path)
    url = upload(fs, path, "changing.parquet")
    with Inputs(url, None, InputOptions()) as inputs, Replay(inputs) as replay:
        assert replay.spill is None  # a binary file is read again, not kept on disk
        for batch in inputs.batches():
            replay.keep(batch)
        pq.write_table(pa.table({"p0": [0.5], "p1": [0.5], "label": [1]}), path)
        upload(fs, path, "changing.parquet")
        with pytest.raises(InputError, match="changed while cecli was reading it"):
            list(replay.batches())


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"s3://{BUCKET}/missing.parquet", "no such object"),
        ("s3://no-such-bucket-here/preds.parquet", "no such object"),
        (f"s3://{BUCKET}", "names a bucket"),
        (f"s3://{BUCKET}/missing/*.parquet", "matches no object"),
        (f"s3://{BUCKET}/npy/preds.npz", "no such object"),
    ],
)
def test_bad_urls_are_one_line_naming_them(s3, url, says):
    result = score(url)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    assert url in lines[0]
    assert says in lines[0]
    assert SECRET not in result.output


def test_storage_options_configure_the_filesystem(parquet, s3, monkeypatch):
    _, endpoint = s3
    local, url = parquet
    # AWS_ENDPOINT_URL still applies beside other settings
    same_json([local], [url, "--storage-option", "region=us-east-1"], {url: local})
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    host = endpoint.split("://", 1)[1]
    options = ["--storage-option", f"endpoint_override={host}", "--storage-option", "scheme=http"]
    same_json([local], [url, *options], {url: local})
    result = score(url, "--storage-option", "no_such_setting=1")
    assert result.exit_code == 2
    assert "--storage-option" in result.stderr
    result = score(url, "--storage-option", "region")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr


def test_compare_reads_remote_files(parquet):
    local, url = parquet
    a = runner.invoke(app, ["compare", local, local, "--format", "json"])
    b = runner.invoke(app, ["compare", url, local, "--format", "json"])
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    assert json.loads(b.stdout.replace(url, local)) == json.loads(a.stdout)


class _Requests(logging.Handler):
    """The GET requests moto's server logs (werkzeug's access log)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.gets = 0

    def emit(self, record: logging.LogRecord) -> None:
        if re.search(r"GET /\S+ HTTP", record.getMessage()):
            self.gets += 1


def test_a_remote_parquet_is_fetched_a_row_group_per_request(s3, data):
    fs, _ = s3
    probs, labels, folder = data
    path = folder / "groups.parquet"
    table = pa.table({f"p{k}": probs[:, k] for k in range(K)} | {"label": labels})
    pq.write_table(table, path, row_group_size=300)  # 10 row groups
    url = upload(fs, path, "groups.parquet")
    requests = _Requests()
    log = logging.getLogger("werkzeug")
    log.addHandler(requests)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        assert score(url).exit_code == 0
    finally:
        log.removeHandler(requests)
        log.setLevel(level)
    # the footer, then each row group's five column chunks in one coalesced request
    # (without pre-buffering: a request or more per column chunk, over 50)
    assert 10 <= requests.gets <= 10 + 3


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"s3://AKIDEXAMPLE:{SECRET}@{BUCKET}/preds.parquet", f"s3://***@{BUCKET}/preds.parquet"),
        (
            f"s3://{BUCKET}/preds.parquet?region=us-east-1&secret_key={SECRET}",
            f"s3://{BUCKET}/preds.parquet?region=us-east-1&secret_key=***",
        ),
    ],
)
def test_credentials_in_a_url_are_refused_unshown(s3, url, shown):
    result = score(url)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"cecli: error: {shown}: holds credentials")
    assert SECRET not in result.output


def test_a_real_process_reads_a_remote_file_and_ends_quietly(parquet):
    """pyarrow's S3 client is shut down at exit without a word on stderr."""
    _, url = parquet
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-m", "cecli", "score", url, "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["n_samples"] == N
