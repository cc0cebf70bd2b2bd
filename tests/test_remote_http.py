"""Remote inputs over ``http://`` and ``hf://`` (fsspec) score as the same files on disk do.

A small HTTP server on 127.0.0.1 (:mod:`tests.http_server`, written for these
tests, never the network) serves copies of files written here, with byte
ranges or without; a fake of the few Hugging Face Hub endpoints that
``huggingface_hub.HfFileSystem`` asks for serves a dataset repository. The
reference is cecli's run of the local file, whose JSON must be the remote
run's apart from the file names, and scikit-learn's ``log_loss``.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
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

pytest.importorskip("fsspec", reason="the remote extra reads https:// inputs")
pytest.importorskip("aiohttp", reason="the remote extra reads https:// inputs")
pytest.importorskip("huggingface_hub", reason="the remote extra reads hf:// inputs")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_server import FakeHub, FileServer

from cecli.cli import app
from cecli.errors import InputError
from cecli.inputs import InputOptions, Inputs
from cecli.readers import _fsspec
from cecli.spill import Replay

runner = CliRunner()
N, K = 3000, 4
SECRET = "hf_testing_secret_0123456789"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(15)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.2  # confident mistakes: flagged rows and label issues
    labels[flip] = probs[flip].argmin(axis=1)
    folder = tmp_path_factory.mktemp("http")
    table = pa.table({f"p{k}": probs[:, k] for k in range(K)} | {"label": labels})
    # row groups of 700 rows, frames of 512 (--chunk-size 16K): frames straddle row groups
    pq.write_table(table, folder / "preds.parquet", row_group_size=700)
    np.save(folder / "preds.npy", probs.astype(np.float32))
    np.save(folder / "labels.npy", labels)
    frame = pd.DataFrame(probs, columns=[f"p{k}" for k in range(K)]).assign(label=labels)
    with gzip.open(folder / "preds.csv.gz", "wt") as f:
        frame.to_csv(f, index=False)
    return probs, labels, folder


def serve(server, folder, *names):
    return [server.put(f"/data/{n}", (folder / n).read_bytes()) for n in names]


@pytest.fixture(scope="module")
def http(data):
    with FileServer() as server:
        yield server


def score(*args):
    return runner.invoke(app, ["score", *map(str, args), "--format", "json"])


def same_json(local_args, remote_args, names):
    """The two runs' JSON, the remote's file names replaced by the local ones: equal."""
    a, b = score(*local_args), score(*remote_args)
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    text = b.stdout
    for url, path in names.items():
        text = text.replace(url, str(path))
    assert json.loads(text) == json.loads(a.stdout)
    return json.loads(a.stdout)


def one_line(result, *says):
    """A run that failed with one ``cecli: error:`` line saying each of ``says``."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    for words in says:
        assert words in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_parquet_npy_and_csv_gz_are_the_local_files_answers(http, data):
    probs, labels, folder = data
    pq_url, npy_url, lab_url, csv_url = serve(
        http, folder, "preds.parquet", "preds.npy", "labels.npy", "preds.csv.gz"
    )
    local = folder / "preds.parquet"
    out = same_json(
        [local, "--chunk-size", "16K"], [pq_url, "--chunk-size", "16K"], {pq_url: local}
    )
    assert out["mean_loss"] == pytest.approx(log_loss(labels, probs), rel=1e-12)
    names = {npy_url: folder / "preds.npy", lab_url: folder / "labels.npy"}
    out = same_json(
        [folder / "preds.npy", folder / "labels.npy", "--chunk-size", "8K"],
        [npy_url, lab_url, "--chunk-size", "8K"],
        names,
    )
    p32 = probs.astype(np.float32).astype(np.float64)
    reference = log_loss(labels, p32 / p32.sum(axis=1, keepdims=True))
    assert out["mean_loss"] == pytest.approx(reference, rel=1e-6)
    same_json([folder / "preds.csv.gz"], [csv_url], {csv_url: folder / "preds.csv.gz"})


@pytest.mark.parametrize("layout", ["file", "stream"])
def test_arrow_ipc_and_jsonl_gz_are_the_local_files_answers(http, data, layout):
    probs, labels, folder = data
    table = pa.table({"probs": pa.array(list(probs)), "label": labels})
    path = folder / f"preds-{layout}.arrow"
    writer = pa.ipc.new_file if layout == "file" else pa.ipc.new_stream
    with writer(str(path), table.schema) as out:
        out.write_table(table, max_chunksize=1000)
    (url,) = serve(http, folder, path.name)
    args = ["--label-issues", "--chunk-size", "16K"]
    out = same_json([path, *args], [url, *args], {url: path})
    assert out["mean_loss"] == pytest.approx(log_loss(labels, probs), rel=1e-12)
    rows = [
        json.dumps({"probs": list(p), "label": int(y)}) for p, y in zip(probs, labels, strict=True)
    ]
    jsonl = folder / "preds.jsonl.gz"
    jsonl.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    (url,) = serve(http, folder, jsonl.name)
    same_json([jsonl], [url], {url: jsonl})


def test_a_parquet_is_fetched_a_row_group_per_request(http, data):
    probs, labels, _folder = data
    table = pa.table({f"p{k}": probs[:, k] for k in range(K)} | {"label": labels})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=300)  # 10 row groups
    url = http.put("/groups.parquet", sink.getvalue())
    http.requests.clear()
    assert score(url).exit_code == 0
    # the footer, then each row group's five column chunks in one coalesced ranged GET;
    # a HEAD for the size (fsspec's read-ahead would fetch 5 MiB past every read instead)
    assert 10 <= http.requests["GET range"] <= 10 + 3
    assert http.requests["GET"] == 0
    assert http.requests["HEAD"] <= 2


def test_a_query_is_not_part_of_the_name(http, data):
    _, _, folder = data
    (url,) = serve(http, folder, "preds.parquet")
    same_json(
        [folder / "preds.parquet"],
        [url + "?download=1"],
        {url + "?download=1": folder / "preds.parquet"},
    )


def test_a_server_without_ranges_is_refused_for_parquet_and_npy_and_streams_csv(data):
    _, _, folder = data
    with FileServer(ranges=False) as server:
        pq_url, npy_url, lab_url, csv_url = serve(
            server, folder, "preds.parquet", "preds.npy", "labels.npy", "preds.csv.gz"
        )
        one_line(score(pq_url), pq_url, "ignores byte ranges", "Download the file first")
        one_line(score(npy_url, lab_url), "ignores byte ranges")
        same_json([folder / "preds.csv.gz"], [csv_url], {csv_url: folder / "preds.csv.gz"})


def test_a_server_that_gives_no_size_is_refused_for_parquet_and_streams_csv(data):
    _, _, folder = data
    with FileServer(sizes=False) as server:
        pq_url, csv_url = serve(server, folder, "preds.parquet", "preds.csv.gz")
        one_line(score(pq_url), pq_url, "does not give its size")
        same_json([folder / "preds.csv.gz"], [csv_url], {csv_url: folder / "preds.csv.gz"})


def test_bad_urls_are_one_line_naming_them(http):
    with FileServer() as gone:
        closed = gone.url
    cases = [
        (http.url + "/missing.parquet", "404 Not Found"),
        (closed + "/preds.parquet", "cannot connect to the server"),
        (http.url + "/data/*.parquet", "cannot list"),
        (http.url + "/data/", "names a folder"),
    ]
    for url, says in cases:
        one_line(score(url), url, says)


def test_without_the_remote_extra_one_line_names_it(http, monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    url = http.url + "/data/preds.parquet"
    one_line(score(url), url, 'pip install "cecli[remote]"')
    one_line(score("hf://datasets/org/repo/preds.parquet"), 'pip install "cecli[remote]"')


def test_credentials_in_a_url_are_refused_unshown(http):
    url = http.url.replace("://", f"://someone:{SECRET}@") + "/data/preds.parquet"
    line = one_line(score(url), "holds credentials", "header.Authorization")
    assert SECRET not in line
    assert "***@127.0.0.1" in line


def test_storage_options_give_headers(data):
    _, _, folder = data
    with FileServer() as server:
        server.required = {"Authorization": f"Bearer {SECRET}"}
        (url,) = serve(server, folder, "preds.parquet")
        line = one_line(score(url), url, "401")
        assert SECRET not in line
        auth = ["--storage-option", f"header.Authorization=Bearer {SECRET}"]
        same_json([folder / "preds.parquet"], [url, *auth], {url: folder / "preds.parquet"})
        one_line(
            score(url, "--storage-option", "region=us-east-1"), "--storage-option", "header.NAME"
        )


def test_label_issues_read_an_http_parquet_again(http, data):
    _, _, folder = data
    (url,) = serve(http, folder, "preds.parquet")
    local = folder / "preds.parquet"
    out = same_json([local, "--label-issues"], [url, "--label-issues"], {url: local})
    assert out["label_issue_count"] > 0


def test_an_http_file_that_changes_between_passes_is_refused(http, data):
    probs, labels, folder = data
    path = folder / "changing.parquet"
    pq.write_table(pa.table({"p0": probs[:, 0], "p1": 1 - probs[:, 0], "label": labels % 2}), path)
    (url,) = serve(http, folder, "changing.parquet")
    with Inputs(url, None, InputOptions()) as inputs, Replay(inputs) as replay:
        assert replay.spill is None  # read again by ranges, its ETag checked
        for batch in inputs.batches():
            replay.keep(batch)
        pq.write_table(pa.table({"p0": [0.5], "p1": [0.5], "label": [1]}), path)
        serve(http, folder, "changing.parquet")
        with pytest.raises(InputError, match="changed while cecli was reading it"):
            list(replay.batches())


def test_a_server_that_cannot_tell_a_change_has_its_rows_kept_on_disk(data):
    _, _, folder = data
    with FileServer(validators=False) as server:
        (url,) = serve(server, folder, "preds.parquet")
        with Inputs(url, None, InputOptions()) as inputs, Replay(inputs) as replay:
            assert replay.spill is not None  # no ETag, no Last-Modified: spilled as stdin is
        local = folder / "preds.parquet"
        same_json([local, "--label-issues"], [url, "--label-issues"], {url: local})


# -- the Hugging Face Hub ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(data, tmp_path_factory):
    """A fake Hub with one private dataset repository; a developer's own token stays out."""
    probs, labels, folder = data
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp, FakeHub("org/preds", token=SECRET) as fake:
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"):
            mp.delenv(name, raising=False)
        mp.setenv("HF_HOME", str(home))
        fake.put_file("preds.parquet", (folder / "preds.parquet").read_bytes())
        shards = folder / "shards"
        shards.mkdir()
        for i, (lo, hi) in enumerate(itertools.pairwise([0, 1000, 1001, 2400, N])):
            part = pa.table({f"p{k}": probs[lo:hi, k] for k in range(K)} | {"label": labels[lo:hi]})
            pq.write_table(part, shards / f"part-{i}.parquet")
            fake.put_file(f"shards/part-{i}.parquet", (shards / f"part-{i}.parquet").read_bytes())
        fake.put_file("shards/_SUCCESS", b"")
        yield (
            fake,
            ["--storage-option", f"endpoint={fake.url}", "--storage-option", f"token={SECRET}"],
        )
        _fsspec._filesystem.cache_clear()


def test_an_hf_file_is_the_local_files_answer(hub, data):
    _fake, options = hub
    _, _, folder = data
    url = "hf://datasets/org/preds/preds.parquet"
    local = folder / "preds.parquet"
    same_json([local], [url, *options], {url: local})
    same_json([local, "--label-issues"], [url, "--label-issues", *options], {url: local})


def test_an_hf_pattern_and_folder_are_their_shards(hub, data):
    _fake, options = hub
    _, _, folder = data
    names = {"hf://datasets/org/preds/shards": folder / "shards"}
    out = same_json(
        [folder / "shards" / "*.parquet"],
        ["hf://datasets/org/preds/shards/*.parquet", *options],
        names,
    )
    assert [s["file"] for s in out["files"]["prediction_shards"]] == [
        str(folder / "shards" / f"part-{i}.parquet") for i in range(4)
    ]
    same_json([folder / "shards"], ["hf://datasets/org/preds/shards", *options], names)


def test_hf_errors_are_one_line_and_show_no_token(hub):
    _fake, options = hub
    endpoint = options[:2]
    url = "hf://datasets/org/preds/preds.parquet"
    line = one_line(score(url, *endpoint), url, "HF_TOKEN")  # private: a token is needed
    missing = "hf://datasets/org/preds/missing.parquet"
    line += one_line(score(missing, *options), missing, "no such file")
    assert SECRET not in line
    one_line(score("hf://datasets/org", *options), "names a repository")
    one_line(score(url, "--storage-option", "headers=x"), "--storage-option", "token, endpoint")


def test_hf_credentials_and_endpoint_come_the_hubs_way(hub, data):
    """HF_TOKEN and HF_ENDPOINT, in a real process (huggingface_hub reads them at import)."""
    fake, _ = hub
    _, labels, _ = data
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, HF_ENDPOINT=fake.url, HF_TOKEN=SECRET)
    env["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cecli",
            "score",
            "hf://datasets/org/preds/preds.parquet",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["n_samples"] == len(labels)


def test_hf_shards_score_on_two_workers_with_their_storage_options(hub, data):
    """--workers 2: each worker opens its shards with the same --storage-option settings."""
    pytest.importorskip("distributed")
    _fake, options = hub
    _, _, folder = data
    names = {"hf://datasets/org/preds/shards": folder / "shards"}
    pattern = "hf://datasets/org/preds/shards/*.parquet"
    local = folder / "shards" / "*.parquet"
    out = same_json([local, "--workers", "2"], [pattern, "--workers", "2", *options], names)
    assert out["n_samples"] == N
