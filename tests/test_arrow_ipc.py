"""Arrow IPC: Feather files (what pandas.to_feather writes) and streams (Hugging Face datasets).

The reference is the same rows written as Parquet: ``cecli score`` of an IPC
file or stream must give the Parquet file's JSON (to rounding, as frames may
end in other places), and scikit-learn's ``log_loss``. The rows of each
record batch, read from the messages' headers, must be what pyarrow's own
reader gives batch by batch. float32 stays float32 (its epsilon clips), and
a damaged or foreign file is one ``cecli: error:`` line with exit status 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from json_close import assert_close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app
from cecli.readers import open_source
from cecli.readers.ipc import IpcSource, batch_rows

runner = CliRunner()
N, K = 5000, 5
EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(17)
    probs = rng.dirichlet(np.full(K, 0.5), N).astype(np.float32)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.1
    labels[flip] = probs[flip].argmin(axis=1)
    probs[:4] = np.eye(K, dtype=np.float32)[(labels[:4] + 1) % K]  # 0 on the true class
    probs[4:9, :] = 1.0 / (K - 1)
    probs[np.arange(4, 9), labels[4:9]] = 1e-9  # below float32's epsilon, clipped there
    out = pd.DataFrame({"id": [f"r{i:05d}" for i in range(N)], "label": labels})
    out["probs"] = list(probs)
    out["group"] = pd.Categorical(rng.choice(["a", "b", "c"], N))  # a dictionary column
    return out


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    probs = pa.array(list(np.stack(frame["probs"])), pa.list_(pa.float32()))
    return pa.table(
        {
            "id": frame["id"],
            "label": frame["label"],
            "probs": probs,
            "group": pa.array(frame["group"]),
        }
    )


def score(*args) -> dict:
    result = runner.invoke(app, ["score", *map(str, args), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def same_answer(report: dict, reference: dict) -> None:
    drop = ("files", "columns")
    assert_close(
        {k: v for k, v in report.items() if k not in drop},
        {k: v for k, v in reference.items() if k not in drop},
    )


ARGS = ["--id-col", "id", "--label-col", "label", "--by", "group"]


@pytest.fixture(scope="module")
def reference(frame, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("reference") / "p.parquet"
    pq.write_table(arrow_table(frame), path)
    return score(path, *ARGS)


def datasets_stream(path: Path, table: pa.Table, batch_rows: int = 1000) -> Path:
    """A stream file as Hugging Face ``datasets`` writes one: batches of 1,000 rows."""
    schema = table.schema.with_metadata({"huggingface": json.dumps({"info": {"features": {}}})})
    with ipc.new_stream(str(path), schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return path


def test_a_feather_file_from_pandas_scores_as_parquet_and_scikit_learn(frame, reference, tmp_path):
    path = tmp_path / "p.feather"
    frame.to_feather(path)  # Feather version 2, compressed with lz4 by default
    assert path.read_bytes()[:6] == b"ARROW1"
    report = score(path, *ARGS, "--chunk-size", "64K")
    same_answer(report, reference)
    probs = np.stack(frame["probs"])
    expected = log_loss(frame["label"], np.maximum(probs, EPS32), labels=range(K))
    assert report["mean_loss"] == pytest.approx(expected, rel=1e-5)


def test_float32_is_kept_and_clipped_at_its_own_epsilon(frame, tmp_path):
    path = tmp_path / "p.feather"
    frame.to_feather(path)
    source = open_source(str(path))
    try:
        frames = list(source.frames(1000, ["probs"]))
    finally:
        source.close()
    assert {f.columns["probs"].dtype for f in frames} == {np.dtype(np.float32)}
    probs = np.stack(frame["probs"])
    np.testing.assert_array_equal(np.concatenate([f.columns["probs"] for f in frames]), probs)
    report = score(path, "--label-col", "label")
    p_true = probs[np.arange(N), frame["label"]]
    assert report["clipped"] == int(np.sum(p_true < EPS32)) >= 9  # not float64's epsilon
    assert int(np.sum(p_true < np.finfo(np.float64).eps)) < report["clipped"]


def test_a_datasets_style_stream_scores_as_parquet(frame, reference, tmp_path):
    path = datasets_stream(tmp_path / "data-00000-of-00001.arrow", arrow_table(frame))
    assert path.read_bytes()[:4] == b"\xff\xff\xff\xff"  # a stream: no ARROW1 magic
    same_answer(score(path, *ARGS), reference)
    same_answer(score(path, *ARGS, "--chunk-size", "16K"), reference)


def test_a_saved_dataset_folder_is_read_as_shards_beside_its_descriptions(
    frame, reference, tmp_path
):
    """What ``Dataset.save_to_disk`` leaves: .arrow shards, dataset_info.json, state.json."""
    folder = tmp_path / "saved"
    folder.mkdir()
    table = arrow_table(frame)
    for i, (start, stop) in enumerate([(0, 2000), (2000, 2001), (2001, N)]):
        datasets_stream(folder / f"data-{i:05d}-of-00003.arrow", table.slice(start, stop - start))
    (folder / "dataset_info.json").write_text("{}")
    (folder / "state.json").write_text('{"_data_files": []}')
    report = score(folder, *ARGS)
    assert [s["n_rows"] for s in report["files"]["prediction_shards"]] == [2000, 1, 2999]
    for name in ("flagged", "worst"):
        for row in report[name]:
            row.pop("file"), row.pop("file_row")
    same_answer(report, reference)


@pytest.mark.parametrize("suffix", [".arrow", ".ipc", ".feather"])
@pytest.mark.parametrize("layout", ["file", "stream"])
@pytest.mark.parametrize("compression", [None, "zstd"])
def test_files_and_streams_of_every_extension_score_the_same(
    suffix, layout, compression, frame, reference, tmp_path
):
    path = tmp_path / f"p{suffix}"
    table = arrow_table(frame)
    options = ipc.IpcWriteOptions(compression=compression)
    writer = ipc.new_file if layout == "file" else ipc.new_stream
    with writer(str(path), table.schema, options=options) as out:
        out.write_table(table, max_chunksize=700)
    same_answer(score(path, *ARGS), reference)


def test_separate_columns_and_a_fixed_size_list_score_the_same(frame, reference, tmp_path):
    probs = np.stack(frame["probs"])
    table = arrow_table(frame)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), K)
    fixed_path = tmp_path / "fixed.feather"
    feather.write_feather(table.set_column(2, "probs", fixed), fixed_path, chunksize=999)
    same_answer(score(fixed_path, *ARGS), reference)
    columns = {str(k): probs[:, k] for k in range(K)}  # the classes named as a list names them
    wide = pa.table(
        {"id": table["id"], "label": table["label"], **columns, "group": table["group"]}
    )
    wide_path = tmp_path / "wide.feather"
    feather.write_feather(wide, wide_path, compression="uncompressed")
    same_answer(score(wide_path, *ARGS, "--pred-cols", ",".join(columns)), reference)


def test_labels_in_a_file_of_their_own(frame, tmp_path):
    table = arrow_table(frame)
    preds = tmp_path / "preds.arrow"
    datasets_stream(preds, table.select(["probs"]))
    np.save(tmp_path / "labels.npy", frame["label"].to_numpy())
    report = score(preds, tmp_path / "labels.npy")
    p_true = np.stack(frame["probs"])[np.arange(N), frame["label"]].astype(np.float64)
    assert report["mean_loss"] == pytest.approx(np.mean(-np.log(np.maximum(p_true, EPS32))))


def test_compare_reads_feather_as_it_reads_parquet(frame, tmp_path):
    rng = np.random.default_rng(5)
    other = frame.copy()
    noisy = np.stack(frame["probs"]) * rng.uniform(0.5, 1.5, (N, K)).astype(np.float32)
    other["probs"] = list((noisy / noisy.sum(axis=1, keepdims=True)).astype(np.float32))
    reports = {}
    for suffix in (".feather", ".parquet"):
        paths = []
        for name, data in (("base", frame), ("cand", other)):
            path = tmp_path / f"{name}{suffix}"
            table = arrow_table(data)
            feather.write_feather(table, path) if suffix == ".feather" else pq.write_table(
                table, path
            )
            paths.append(str(path))
        args = ["compare", *paths, "-f", "json", "--id-col", "id", "--label-col", "label"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        report["baseline"].pop("file"), report["candidate"].pop("file")
        reports[suffix] = report
    same_answer(reports[".feather"], reports[".parquet"])


# -- what the headers say --------------------------------------------------------------


@pytest.mark.parametrize("layout", ["file", "stream"])
@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_the_rows_of_each_batch_from_the_headers_are_pyarrows(layout, compression, tmp_path):
    rng = np.random.default_rng(6)
    sizes = [0, 1, 17, 1000, 0, 4096, 3]  # empty batches too
    table = pa.table(
        {
            "p": rng.uniform(size=sum(sizes)),
            "name": pa.array(rng.choice(["x", "y"], sum(sizes))).dictionary_encode(),
        }
    )
    path = tmp_path / "t.arrow"
    options = ipc.IpcWriteOptions(compression=compression)
    writer = ipc.new_file if layout == "file" else ipc.new_stream
    whole = table.combine_chunks().to_batches()[0]  # one dictionary, shared by every slice
    with writer(str(path), table.schema, options=options) as out:
        for at, size in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
            out.write_batch(whole.slice(int(at), size))
    with pa.memory_map(str(path)) as mapped:
        reader = ipc.open_file(mapped) if layout == "file" else ipc.open_stream(mapped)
        if layout == "file":
            expected = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
        else:
            expected = [batch.num_rows for batch in reader]
    with pa.memory_map(str(path)) as mapped:
        assert list(batch_rows(mapped, 8 if layout == "file" else 0)) == expected == sizes
    source = IpcSource(str(path))
    try:
        assert source.n_rows == sum(sizes)
        assert source.row_groups == (tuple(sizes) if layout == "file" else None)
    finally:
        source.close()


def test_a_run_of_record_batches_is_numbered_as_in_the_file(frame, tmp_path):
    path = tmp_path / "p.feather"
    feather.write_feather(arrow_table(frame), path, chunksize=1000)
    source = IpcSource(str(path))
    try:
        assert source.row_groups == (1000,) * 5
        frames = list(source.frames(600, ["label"], row_groups=(2, 4)))
    finally:
        source.close()
    assert [(f.first_row, f.n_rows) for f in frames] == [(2000, 600), (2600, 600), (3200, 600),
                                                          (3800, 200)]  # fmt: skip
    labels = np.concatenate([f.columns["label"] for f in frames])
    np.testing.assert_array_equal(labels, frame["label"][2000:4000])


# -- refusals -----------------------------------------------------------------------------


def one_error_line(args: list[str], *words: str) -> str:
    result = runner.invoke(app, ["score", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("cecli: error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def test_a_feather_version_1_file_is_one_line(tmp_path):
    path = tmp_path / "old.feather"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyarrow 25 deprecates writing it
        feather.write_feather(pa.table({"p": [0.5, 0.25]}), path, version=1)
    assert path.read_bytes()[:4] == b"FEA1"
    one_error_line([path], str(path), "Feather version 1", "version 2")


@pytest.mark.parametrize("cut", [0.5, 0.95])
@pytest.mark.parametrize("layout", ["file", "stream"])
def test_a_truncated_file_or_stream_is_one_line(layout, cut, frame, tmp_path):
    whole = tmp_path / "whole.arrow"
    writer = ipc.new_file if layout == "file" else ipc.new_stream
    table = arrow_table(frame)
    with writer(str(whole), table.schema) as out:
        out.write_table(table, max_chunksize=500)
    data = whole.read_bytes()
    path = tmp_path / "cut.arrow"
    path.write_bytes(data[: int(len(data) * cut)])
    one_error_line([path, "--label-col", "label"], str(path), "Arrow IPC")


def test_text_named_arrow_and_an_empty_table_are_one_line(tmp_path):
    text = tmp_path / "p.arrow"
    text.write_text("0.5,1\n0.25,0\n")
    one_error_line([text], str(text), "not a valid Arrow IPC")
    empty = tmp_path / "empty.feather"
    feather.write_feather(pa.table({"p": pa.array([], pa.float64())}), empty)
    one_error_line([empty], str(empty), "no rows")


def test_a_ragged_list_and_a_null_label_name_their_row(frame, tmp_path):
    rows = [[0.5, 0.5]] * 1500 + [[0.2, 0.3, 0.5]] + [[0.5, 0.5]] * 10
    path = tmp_path / "ragged.arrow"
    datasets_stream(path, pa.table({"probs": rows, "label": [1] * len(rows)}))
    one_error_line([path], "row 1500", "'probs'", "3 numbers")
    labels = [1] * 2000 + [None] + [0] * 5
    path = tmp_path / "null.feather"
    feather.write_feather(pa.table({"probs": [[0.5, 0.5]] * 2006, "label": labels}), path)
    one_error_line([path], "row 2000", "'label'", "empty (null)")


def test_standard_input_is_not_read_as_arrow(tmp_path):
    one_error_line(["-", "--input-format", "arrow"], "standard input", "not arrow")


def test_reading_arrow_ipc_and_jsonl_never_imports_pandas(frame, tmp_path):
    """pyarrow imports pandas for to_numpy and Python values; the readers use neither."""
    feather_path = tmp_path / "p.feather"
    frame.to_feather(feather_path)  # its schema carries pandas metadata
    jsonl_path = tmp_path / "p.jsonl"
    jsonl_path.write_text('{"probs": [0.25, 0.75], "label": 1, "id": "a"}\n' * 10)
    code = textwrap.dedent(
        """
        import sys
        from cecli.inputs import InputOptions, Inputs

        rows = []
        for path in sys.argv[1:]:
            with Inputs(path, None, InputOptions(label_col="label", id_col="id")) as inputs:
                rows.append(sum(len(batch.targets) for batch in inputs.batches()))
        print(rows, "pandas" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(feather_path), str(jsonl_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == [f"[{N},", "10]", "False"]
