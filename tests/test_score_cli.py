"""`cecli score` as its users meet it: the report, JSON, CSV, markdown, per-sample files, gates.

References are independent of the code under test: scikit-learn's log_loss and
accuracy on the arrays that the test itself wrote, and the definitions.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import accuracy_score, log_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    """A 3-class problem with two deliberately confident mistakes (rows 3 and 7)."""
    rng = np.random.default_rng(7)
    n, k = 60, 3
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 2.0
    for row in (3, 7):
        wrong = (labels[row] + 1) % k
        logits[row] = -4.0
        logits[row, wrong] = 6.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    preds_path = tmp_path / "preds.csv"
    with open(preds_path, "w") as f:
        f.write("id,cat,dog,bird\n")
        for i, row in enumerate(probs):
            f.write(f"s{i}," + ",".join(repr(float(p)) for p in row) + "\n")
    labels_path = tmp_path / "labels.csv"
    names = np.array(["cat", "dog", "bird"])
    labels_path.write_text("label\n" + "\n".join(names[labels]) + "\n")
    return {"preds": preds_path, "labels": labels_path, "probs": probs, "y": labels}


def invoke(*args):
    return runner.invoke(app, ["score", *map(str, args)])


def run_cecli(*args, env=None):
    """The installed command in a real process."""
    command = [sys.executable, "-m", "cecli", "score", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


def test_json_matches_scikit_learn(files):
    result = invoke(files["preds"], files["labels"], "-f", "json", "--top", "5")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    probs, y = files["probs"], files["y"]
    assert data["mean_loss"] == pytest.approx(log_loss(y, probs), rel=1e-12)
    assert data["sum_loss"] == pytest.approx(log_loss(y, probs, normalize=False), rel=1e-12)
    assert data["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(axis=1)))
    assert data["perplexity"] == pytest.approx(np.exp(log_loss(y, probs)), rel=1e-12)
    assert data["classes"] == ["cat", "dog", "bird"]
    assert (data["kind"], data["input"], data["unit"]) == ("categorical", "probabilities", "nats")
    assert (data["n_samples"], data["n_classes"]) == (60, 3)
    # the two planted mistakes are confidently wrong, with their ids
    flagged_rows = {r["row"] for r in data["flagged"]}
    assert {3, 7} <= flagged_rows
    first = data["flagged"][0]
    assert set(first) == {
        "row",
        "id",
        "label",
        "label_index",
        "predicted",
        "predicted_index",
        "confidence",
        "p_true",
        "loss",
    }
    assert first["id"] == f"s{first['row']}"
    assert first["loss"] == pytest.approx(-np.log(probs[first["row"], y[first["row"]]]))
    for key in ("per_class", "weights", "gates", "passed", "clipped", "threshold", "worst"):
        assert key in data
    assert sum(c["count"] for c in data["per_class"]) == 60


def test_json_is_alone_on_stdout_in_a_real_process(files):
    out = run_cecli(files["preds"], files["labels"], "-f", "json")
    assert out.returncode == 0, out.stderr
    json.loads(out.stdout)  # nothing else is on stdout
    assert out.stderr == ""


def test_bits_rescale_the_loss(files):
    nats = json.loads(invoke(files["preds"], files["labels"], "-f", "json").stdout)
    bits = json.loads(invoke(files["preds"], files["labels"], "-f", "json", "--base", "2").stdout)
    assert bits["unit"] == "bits"
    assert bits["mean_loss"] == pytest.approx(nats["mean_loss"] / np.log(2), rel=1e-12)
    assert bits["perplexity"] == pytest.approx(nats["perplexity"], rel=1e-12)


@pytest.mark.parametrize(
    ("gate", "limit", "status"),
    [
        ("--fail-above", "0.01", 1),
        ("--fail-above", "100", 0),
        ("--max-flagged", "0", 1),
        ("--max-flagged", "1000", 0),
        ("--min-accuracy", "0.999", 1),
        ("--min-accuracy", "0.1", 0),
    ],
)
def test_gates_set_the_exit_status_and_the_report_still_prints(files, gate, limit, status):
    result = invoke(files["preds"], files["labels"], "-f", "json", gate, limit)
    assert result.exit_code == status
    data = json.loads(result.stdout)
    assert data["passed"] is (status == 0)
    (entry,) = data["gates"]
    assert entry["name"] == gate.lstrip("-").replace("-", "_")
    assert entry["limit"] == float(limit)
    assert entry["passed"] is (status == 0)
    if status:
        assert "gate failed" in result.stderr
        assert gate.lstrip("-").replace("-", "_") in result.stderr


def test_a_failed_gate_exits_1_in_a_real_process(files):
    out = run_cecli(
        str(files["preds"]),
        str(files["labels"]),
        "--max-flagged",
        "0",
    )
    assert out.returncode == 1
    assert "Confidently wrong" in out.stdout
    assert "\x1b[" not in out.stdout  # no colour codes when stdout is not a terminal
    assert out.stderr.strip().startswith("cecli: gate failed: max_flagged")


def test_top_zero_lists_every_flagged_row(files):
    data = json.loads(invoke(files["preds"], files["labels"], "-f", "json", "--top", "0").stdout)
    assert len(data["flagged"]) == data["flagged_count"]
    assert len(data["worst"]) == 60
    losses = [r["loss"] for r in data["worst"]]
    assert losses == sorted(losses, reverse=True)


def test_csv_output_is_one_header_and_one_row(files):
    result = invoke(files["preds"], files["labels"], "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    assert float(rows[0]["mean_loss"]) == pytest.approx(log_loss(files["y"], files["probs"]))
    assert rows[0]["n_samples"] == "60"


def test_markdown_output_has_tables(files):
    result = invoke(files["preds"], files["labels"], "-f", "markdown")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "| class | count | mean loss | accuracy | flagged |" in lines
    assert any(line.startswith("| 3 | s3 |") or line.startswith("| 7 | s7 |") for line in lines)


def test_table_output_names_the_flagged_ids(files):
    result = invoke(files["preds"], files["labels"])
    assert result.exit_code == 0
    assert "s3" in result.stdout
    assert "s7" in result.stdout
    assert "Per-sample loss" in result.stdout


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_per_sample_file_round_trip(files, tmp_path, suffix):
    out = tmp_path / f"per_sample{suffix}"
    result = invoke(files["preds"], files["labels"], "--per-sample", out, "--chunk-size", "1K")
    assert result.exit_code == 0, result.stderr
    probs, y = files["probs"], files["y"]
    expected = -np.log(probs[np.arange(60), y])
    if suffix == ".npy":
        table = np.load(out)
        loss, rows, label = table["loss"], table["row"], table["label"]
        assert label.tolist() == y.tolist()
    else:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(out)
        else:
            table = pq.read_table(out)
        loss = table.column("loss").to_numpy()
        rows = table.column("row").to_numpy()
        names = np.array(["cat", "dog", "bird"])
        assert table.column("label").to_pylist() == names[y].tolist()
        assert table.column("id").to_pylist() == [f"s{i}" for i in range(60)]
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert rows.tolist() == list(range(60))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_per_sample_refuses_to_overwrite_an_input(files):
    before = files["labels"].read_bytes()
    result = invoke(files["preds"], files["labels"], "--per-sample", files["labels"])
    assert result.exit_code == 2
    assert "will not overwrite" in result.stderr
    assert files["labels"].read_bytes() == before


def test_per_sample_onto_a_folder_is_refused_before_any_work(files, tmp_path):
    folder = tmp_path / "out.csv"
    folder.mkdir()
    before = set(tmp_path.iterdir())
    result = invoke(files["preds"], files["labels"], "--per-sample", folder)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "is a folder" in result.stderr
    assert list(folder.iterdir()) == []
    assert set(tmp_path.iterdir()) == before


def test_a_per_sample_file_that_cannot_be_written_is_one_line_and_no_temporary(
    files, tmp_path, monkeypatch
):
    from cecli.render import _csv_file

    class FullDisk:
        """The temporary file on a disk with room for a few bytes of the first write."""

        def __init__(self, path):
            self.path = path

        def write(self, data):
            with open(self.path, "wb") as half:
                half.write(bytes(data[:6]))
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(_csv_file, "_open", FullDisk)
    out = tmp_path / "per_sample.csv"
    out.write_text("what the user had\n")
    before = set(tmp_path.iterdir())
    result = invoke(files["preds"], files["labels"], "--per-sample", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "No space left on device" in result.stderr
    assert out.read_text() == "what the user had\n"
    assert set(tmp_path.iterdir()) == before


def test_an_interrupted_run_leaves_no_file_and_no_temporary(files, tmp_path):
    # row 50's label is not a class: the run fails after writing earlier chunks
    text = files["labels"].read_text().splitlines()
    text[51] = "horse"
    files["labels"].write_text("\n".join(text) + "\n")
    out = tmp_path / "per_sample.csv"
    out.write_text("what the user had\n")
    result = invoke(files["preds"], files["labels"], "--per-sample", out, "--chunk-size", "1K")
    assert result.exit_code == 2
    assert "horse" in result.stderr
    assert out.read_text() == "what the user had\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".per_sample")]
    assert leftovers == []


_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]")  # a foreground colour


def test_no_color_turns_colour_off_even_at_a_forced_terminal(files):
    forced = {**os.environ, "FORCE_COLOR": "1"}
    forced.pop("NO_COLOR", None)
    coloured = run_cecli(files["preds"], files["labels"], env=forced)
    assert _COLOUR.search(coloured.stdout)  # the check below can fail
    plain = run_cecli(files["preds"], files["labels"], env={**forced, "NO_COLOR": "1"})
    assert plain.returncode == 0
    assert not _COLOUR.search(plain.stdout)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_reader_that_stops_early_is_not_an_error(tmp_path, fmt):
    # `cecli score ... | head -1`: the pipe closes; the status still reports the gates.
    # 5,000 rows listed make far more output than a pipe's 64 KiB buffer holds.
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=5000)
    data = np.column_stack([probs, rng.integers(0, 4, 5000)])
    path = tmp_path / "big.csv"
    np.savetxt(path, data, delimiter=",", header="a,b,c,d,label", comments="", fmt="%.17g")
    command = [sys.executable, "-m", "cecli", "score", str(path), "-f", fmt, "--top", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with proc:
        proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert status == 0
    assert "Traceback" not in stderr
    assert stderr == ""


@pytest.fixture
def spam(tmp_path):
    path = tmp_path / "spam.csv"
    path.write_text("id,p_spam,label\na,0.9,spam\nb,0.2,ham\nc,0.7,spam\nd,0.4,ham\n")
    return path


def test_positive_that_is_not_a_label_is_an_error_not_a_wrong_loss(spam):
    result = invoke(spam, "--positive", "eggs")
    assert result.exit_code == 2
    assert "'eggs' is not one of the labels" in result.stderr
    right = json.loads(invoke(spam, "--positive", "spam", "-f", "json").stdout)
    assert right["mean_loss"] == pytest.approx(log_loss([1, 0, 1, 0], [0.9, 0.2, 0.7, 0.4]))


def test_positive_is_refused_where_it_means_nothing(files, tmp_path):
    result = invoke(files["preds"], files["labels"], "--positive", "cat")
    assert result.exit_code == 2
    assert "binary" in result.stderr
    numeric = tmp_path / "numeric.csv"
    numeric.write_text("p,label\n0.9,1\n0.2,0\n")
    result = invoke(numeric, "--positive", "1")
    assert result.exit_code == 2
    assert "leave --positive out" in result.stderr


def test_ids_and_class_names_are_shown_as_written(tmp_path):
    path = tmp_path / "markup.csv"
    path.write_text("id,p,label\n[/foo],0.99,0\n[red]b[/red],0.2,1\n")
    result = invoke(path)
    assert result.exit_code == 0, result.stderr
    assert "[/foo]" in result.stdout
    assert "[red]b[/red]" in result.stdout


@pytest.mark.parametrize(
    ("option", "value"),
    [("--min-accuracy", "95"), ("--min-accuracy", "-0.1"), ("--fail-above", "nan")],
)
def test_a_gate_limit_out_of_range_is_a_usage_error(files, option, value):
    result = invoke(files["preds"], files["labels"], option, value)
    assert result.exit_code == 2
    assert option in result.stderr


def test_per_sample_file_gets_the_umask_mode(files, tmp_path):
    out = tmp_path / "rows.csv"
    old = os.umask(0o022)
    try:
        assert invoke(files["preds"], files["labels"], "--per-sample", out).exit_code == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_file_that_is_not_npy_is_named_so(tmp_path, files):
    bad = tmp_path / "garbage.npy"
    bad.write_bytes(b"hello world")
    result = invoke(bad, files["labels"])
    assert result.exit_code == 2
    assert "is not an NPY file" in result.stderr


def test_input_format_is_for_what_the_extension_does_not_tell(files, tmp_path):
    labels = tmp_path / "labels.npy"
    np.save(labels, files["y"])
    tsv = files["preds"].read_text().replace(",", "\t")
    result = runner.invoke(
        app, ["score", "-", str(labels), "--input-format", "tsv", "-f", "json"], input=tsv
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mean_loss"] == pytest.approx(log_loss(files["y"], files["probs"]), rel=1e-12)


def test_nan_in_a_csv_is_a_nan_not_an_empty_cell(tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("p,label\nnan,1\n0.5,0\n")
    result = invoke(path)
    assert result.exit_code == 2
    assert "row 0 is NaN" in result.stderr
    assert "--logits" not in result.stderr  # logits are never NaN either


def test_format_names_are_case_insensitive(files):
    result = invoke(files["preds"], files["labels"], "-f", "JSON")
    assert result.exit_code == 0
    json.loads(result.stdout)


def test_a_header_taken_by_mistake_suggests_no_header(tmp_path):
    path = tmp_path / "onehot_first.csv"
    path.write_text("0,1,0\n0.2,0.7,0.1\n")
    result = invoke(path, "--label-col", "1")
    assert result.exit_code == 2
    assert "--no-header" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--thresold", "0.5"], ["-f", "yaml"], ["--top", "x"], []],
    ids=["misspelt option", "bad choice", "not a number", "missing argument"],
)
def test_a_usage_error_is_one_line_and_exit_status_2(files, args):
    given = [files["preds"], files["labels"]] if args else []
    out = run_cecli(*given, *args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error: ")
    assert "cecli score --help" in lines[0]


def test_the_report_says_which_columns_it_read(spam):
    data = json.loads(invoke(spam, "--positive", "spam", "-f", "json").stdout)
    assert data["columns"] == {
        "predictions": ["p_spam"],
        "labels": ["label"],
        "id": "id",
        "weight": None,
        "ignored": [],
    }
    table = invoke(spam, "--positive", "spam").stdout
    assert re.search(r"columns\s+p_spam\s*\n", table)
