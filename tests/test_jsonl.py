"""JSON Lines: one object a line, a list key as the N x K predictions, read in blocks.

The reference is the same rows written as Parquet (a list column, the same
layout) and as CSV (a column per class): ``cecli score`` of each must give the
JSON the JSON Lines file gives (the same counts, rows, ids and classes, the
sums to rounding, since frames end in other places). The mean loss is checked
against scikit-learn's ``log_loss`` too. Small blocks (``--chunk-size 64K``)
cut a file of ~1 MB into many; every way the text comes (compressed, from
standard input, in shards, with blank lines and CRLF line ends) must agree.
Every kind of bad line is one ``cecli: error:`` line naming the file, the line
(and row) and the key, with exit status 2, wherever the line is in the file.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from json_close import assert_close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import InputError
from cecli.readers import open_source
from cecli.readers.jsonl import JsonlSource

runner = CliRunner()
N, K = 6000, 4
REGIONS = ["north", "south", "east"]


@pytest.fixture(scope="module")
def rows():
    """Probabilities (some confidently wrong, so rows are flagged), labels, ids, weights."""
    rng = np.random.default_rng(16)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.1
    labels[flip] = probs[flip].argmin(axis=1)
    probs[:3] = [1.0, 0.0, 0.0, 0.0]  # a probability of exactly 0 on the true class: clipped
    labels[:3] = 2
    return {
        "probs": probs,
        "label": labels,
        "id": [f"s{i:05d}" for i in range(N)],
        "weight": rng.uniform(0.5, 2.0, N).round(3),
        "region": list(rng.choice(REGIONS, N)),
    }


def jsonl_lines(rows, *, extra: bool = True) -> list[str]:
    """Each row as one JSON object; ``extra`` adds keys a harness writes that are not read."""
    out = []
    for i in range(N):
        row = {
            "id": rows["id"][i],
            "probs": [float(v) for v in rows["probs"][i]],
            "label": int(rows["label"][i]),
            "weight": float(rows["weight"][i]),
            "region": rows["region"][i],
        }
        if extra:  # an object, a list of text, and a list of numbers and booleans
            row |= {"doc": {"q": f"question {i}"}, "tokens": ["a", "b"], "resps": [[-1.5, False]]}
        out.append(json.dumps(row))
    return out


def write_jsonl(path: Path, rows, *, newline: str = "\n", blank_every: int = 0) -> Path:
    lines = jsonl_lines(rows)
    if blank_every:
        lines = [ln + (newline if i % blank_every == 0 else "") for i, ln in enumerate(lines)]
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


def write_parquet(path: Path, rows) -> Path:
    table = pa.table(
        {
            "id": rows["id"],
            "probs": pa.array(list(rows["probs"]), pa.list_(pa.float64())),
            "label": rows["label"],
            "weight": rows["weight"],
            "region": rows["region"],
        }
    )
    pq.write_table(table, path)
    return path


def write_csv(path: Path, rows) -> Path:
    # the classes by index (0..K-1), as a list column names them
    lines = [",".join([*map(str, range(K)), "label", "id", "weight", "region"])]
    for i in range(N):
        values = [repr(float(v)) for v in rows["probs"][i]]
        values += [str(rows["label"][i]), rows["id"][i], repr(float(rows["weight"][i]))]
        lines.append(",".join([*values, rows["region"][i]]))
    path.write_text("\n".join(lines) + "\n")
    return path


ARGS = ["--id-col", "id", "--weight-col", "weight", "--by", "region", "--label-col", "label"]


def score(*args, stdin: bytes | None = None) -> dict:
    result = runner.invoke(app, ["score", *map(str, args), "-f", "json"], input=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def same_answer(report: dict, reference: dict) -> None:
    """Everything but the files' and the columns' names: to rounding for floats."""
    drop = ("files", "columns")
    assert_close(
        {k: v for k, v in report.items() if k not in drop},
        {k: v for k, v in reference.items() if k not in drop},
    )


@pytest.fixture(scope="module")
def references(rows, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    parquet = score(write_parquet(folder / "p.parquet", rows), *ARGS)
    csv = score(write_csv(folder / "p.csv", rows), *ARGS, "--pred-cols", "0,1,2,3")
    return parquet, csv


def test_a_jsonl_file_scores_as_the_same_rows_in_parquet_and_csv(rows, references, tmp_path):
    parquet, csv = references
    report = score(write_jsonl(tmp_path / "p.jsonl", rows), *ARGS, "--chunk-size", "64K")
    same_answer(report, parquet)
    same_answer(report, csv)
    assert report["n_samples"] == N
    assert report["flagged_count"] > 50
    assert report["clipped"] == 3
    weights = np.asarray(rows["weight"])
    expected = log_loss(rows["label"], rows["probs"], sample_weight=weights, labels=range(K))
    assert report["mean_loss"] == pytest.approx(expected, rel=1e-12)
    flagged_ids = [r["id"] for r in report["flagged"]]
    assert flagged_ids
    assert set(flagged_ids) <= set(rows["id"])


def test_small_blocks_read_the_file_in_many_frames_never_whole(rows, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    size = path.stat().st_size
    source = JsonlSource(str(path), block_bytes=64 << 10)
    try:
        frames = list(source.frames(N, ["probs", "label"]))
    finally:
        source.close()
    # a frame is a block of about 64 KiB of text: over a file of ~1.3 MB, many of them
    assert len(frames) >= size // (64 << 10)
    assert max(f.n_rows for f in frames) < N / 10
    assert [f.first_row for f in frames] == list(np.cumsum([0] + [f.n_rows for f in frames])[:-1])
    probs = np.concatenate([f.columns["probs"] for f in frames])
    np.testing.assert_array_equal(probs, rows["probs"])
    labels = np.concatenate([f.columns["label"] for f in frames])
    np.testing.assert_array_equal(labels, rows["label"])


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.bz2", ".jsonl.zst", ".ndjson"])
def test_compressed_and_ndjson_files_score_the_same(suffix, rows, references, tmp_path):
    text = write_jsonl(tmp_path / "plain.jsonl", rows).read_bytes()
    path = tmp_path / f"p{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(text))
    elif suffix.endswith(".bz2"):
        path.write_bytes(bz2.compress(text))
    elif suffix.endswith(".zst"):
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(text)
    else:
        path.write_bytes(text)
    same_answer(score(path, *ARGS, "--chunk-size", "64K"), references[0])


def test_standard_input_is_read_with_input_format_jsonl(rows, references, tmp_path):
    text = write_jsonl(tmp_path / "p.jsonl", rows).read_bytes()
    report = score("-", *ARGS, "--input-format", "jsonl", "--chunk-size", "64K", stdin=text)
    same_answer(report, references[0])
    assert report["files"]["predictions"] == "standard input"


def test_labels_in_a_file_of_their_own_line_up_with_standard_input(rows, tmp_path):
    labels = tmp_path / "labels.npy"
    np.save(labels, rows["label"])
    lines = [json.dumps({"probs": [float(v) for v in p]}) for p in rows["probs"]]
    stdin = ("\n".join(lines) + "\n").encode()
    report = score("-", labels, "--input-format", "jsonl", "--chunk-size", "64K", stdin=stdin)
    expected = log_loss(rows["label"], rows["probs"], labels=range(K))
    assert report["mean_loss"] == pytest.approx(expected, rel=1e-12)


def test_blank_lines_and_crlf_line_ends_change_nothing_but_the_line_numbers(
    rows, references, tmp_path
):
    path = write_jsonl(tmp_path / "p.jsonl", rows, newline="\r\n", blank_every=7)
    same_answer(score(path, *ARGS, "--chunk-size", "64K"), references[0])


def without_shard_places(value):
    """The report with each listed row's ``file`` and ``file_row`` left out."""
    if isinstance(value, dict):
        kept = {k: v for k, v in value.items() if k not in ("file", "file_row")}
        return {k: without_shard_places(v) for k, v in kept.items()}
    if isinstance(value, list):
        return [without_shard_places(v) for v in value]
    return value


def test_shards_of_jsonl_score_as_the_one_file(rows, references, tmp_path):
    lines = jsonl_lines(rows)
    folder = tmp_path / "shards"
    folder.mkdir()
    cuts = [0, 1000, 1001, 4000, N]
    for i, (start, stop) in enumerate(itertools.pairwise(cuts)):
        text = ("\n".join(lines[start:stop]) + "\n").encode()
        (folder / f"part-{i:05d}.jsonl.gz").write_bytes(gzip.compress(text))
    report = score(folder, *ARGS)
    assert [s["n_rows"] for s in report["files"]["prediction_shards"]] == [1000, 1, 2999, 2000]
    for r in report["flagged"]:  # each listed row names its shard and its row there
        shard = int(np.searchsorted(cuts, r["row"], side="right")) - 1
        assert r["file"] == str(folder / f"part-{shard:05d}.jsonl.gz")
        assert r["file_row"] == r["row"] - cuts[shard]
    same_answer(without_shard_places(report), references[0])


def test_compare_reads_jsonl_as_it_reads_parquet(rows, tmp_path):
    rng = np.random.default_rng(3)
    other = dict(rows)
    noisy = rows["probs"] * rng.uniform(0.5, 1.5, rows["probs"].shape)
    other["probs"] = noisy / noisy.sum(axis=1, keepdims=True)
    parts = {}
    for name, data in (("base", rows), ("cand", other)):
        parts[name, "jsonl"] = write_jsonl(tmp_path / f"{name}.jsonl", data)
        parts[name, "parquet"] = write_parquet(tmp_path / f"{name}.parquet", data)
    reports = {}
    for fmt in ("jsonl", "parquet"):
        args = ["compare", str(parts["base", fmt]), str(parts["cand", fmt]), "-f", "json"]
        result = runner.invoke(app, [*args, "--id-col", "id", "--label-col", "label"])
        assert result.exit_code == 0, result.stderr
        reports[fmt] = json.loads(result.stdout)
    for report in reports.values():
        report["baseline"].pop("file"), report["candidate"].pop("file")
    same_answer(reports["jsonl"], reports["parquet"])


def test_keys_cecli_does_not_read_stop_nothing_until_they_are_asked_for(rows, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    source = open_source(str(path))
    try:
        kinds = {f.name: (f.kind, f.width) for f in source.fields}
    finally:
        source.close()
    assert kinds == {
        "id": ("string", None),
        "probs": ("matrix", K),
        "label": ("number", None),
        "weight": ("number", None),
        "region": ("string", None),
        "doc": ("string", None),
        "tokens": ("string", None),
        "resps": ("string", None),
    }
    result = runner.invoke(app, ["score", str(path), "--id-col", "doc"])
    assert result.exit_code == 2
    assert "'doc'" in result.stderr
    assert "line 1" in result.stderr


# -- bad lines ------------------------------------------------------------------------

GOOD = '{"probs": [0.1, 0.9], "label": 1, "id": "a"}'
#: A bad line, and what its one error line must say beside the file and the line.
BAD_LINES = {
    "a row with another list length": ('{"probs": [0.1, 0.8, 0.1], "label": 1, "id": "a"}',
                                       ["'probs'", "3 numbers", "row 0 holds 2"]),
    "a list item that is not a number": ('{"probs": [0.1, "high"], "label": 1, "id": "a"}',
                                         ["'probs'", "'high'", "not a number"]),
    "a null in the list": ('{"probs": [0.1, null], "label": 1, "id": "a"}',
                           ["'probs'", "null at position 1"]),
    "a null label": ('{"probs": [0.1, 0.9], "label": null, "id": "a"}',
                     ["'label'", "null or missing"]),
    "a missing label": ('{"probs": [0.1, 0.9], "id": "a"}', ["'label'", "null or missing"]),
    "a label of text among numbers": ('{"probs": [0.1, 0.9], "label": "one", "id": "a"}',
                                      ["'label'", "'one'", "one type"]),
    "an array, not an object": ("[0.1, 0.9, 1]", ["an array", "not a JSON object"]),
    "a number, not an object": ("0.5", ["a number", "not a JSON object"]),
    "bad JSON": ('{"probs": [0.1, 0.9], "label": 1, "id": "a"', ["not valid JSON"]),
    "two objects on a line": (GOOD + GOOD, ["more than one JSON value"]),
    "a key twice": ('{"probs": [0.1, 0.9], "label": 1, "label": 0, "id": "a"}',
                    ["'label' twice"]),
    "an object split over lines": ('{"probs": [0.1, 0.9],\n"label": 1, "id": "a"}',
                                   ["not valid JSON"]),
    "a number too large": ('{"probs": [0.1, 1e999], "label": 1, "id": "a"}',
                           ["'probs'", "too large"]),
}  # fmt: skip


def bad_file(tmp_path: Path, bad: str, at_line: int, total: int = 20000) -> Path:
    """``total`` good lines with ``bad`` as line ``at_line`` (1-based) and a blank line before."""
    lines = [GOOD] * (at_line - 2) + [""] + [bad] + [GOOD] * (total - at_line)
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("at_line", [3, 15001], ids=["in the first lines", "blocks later"])
@pytest.mark.parametrize("case", BAD_LINES)
def test_a_bad_line_is_one_error_line_naming_file_line_and_key(case, at_line, tmp_path):
    bad, words = BAD_LINES[case]
    path = bad_file(tmp_path, bad, at_line)
    args = ["score", str(path), "--chunk-size", "64K", "--id-col", "id", "--label-col", "label"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cecli: error: {path}: "), result.stderr
    assert re.search(rf"\bline {at_line}\b", result.stderr), result.stderr
    if "row " in result.stderr:  # the row skips the blank line: one less than the line
        assert re.search(rf"\brow {at_line - 2} \(line {at_line}\)", result.stderr)
    for word in words:
        assert word in result.stderr, result.stderr


def test_an_empty_file_and_a_file_of_blank_lines_have_no_rows(tmp_path):
    for text in ("", "\n\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_text(text)
        with pytest.raises(InputError, match="no rows"):
            open_source(str(path))


def test_a_compressed_file_named_as_plain_jsonl_says_so(rows, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(gzip.compress(b'{"probs": [0.5, 0.5], "label": 1}\n'))
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 2
    assert "gzip-compressed" in result.stderr
    assert ".jsonl.gz" in result.stderr


def test_a_json_file_is_pointed_at_jsonl(tmp_path):
    path = tmp_path / "preds.json"
    path.write_text(GOOD + "\n")
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 2
    assert ".jsonl" in result.stderr
    # and --input-format jsonl reads it
    report = score(path, "--input-format", "jsonl", "--label-col", "label")
    assert report["n_samples"] == 1
