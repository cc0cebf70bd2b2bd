"""One array, every format, one answer.

The same predictions written as NPY, NPZ, Parquet (one column per class, a
list column, a fixed-size list column, numbers stored as text), Arrow IPC
(a Feather file from pandas, a stream as Hugging Face datasets keeps), CSV,
TSV.gz and JSON Lines must score the same: the same mean loss to the last bit, the same
count of clipped probabilities and the same per-class results. The rule
that makes it so (float32 and float64 kept, float16 widened to float32,
everything else read as float64; ``--eps auto`` the machine epsilon of that
type) is checked against the definition written here, -log max(p_true, eps),
for float32 and against scikit-learn's ``log_loss`` for float64.

The arrays hold probabilities of exactly zero and tiny ones on the true
class, some below float32's epsilon but above float64's, so the clipping
rule shows in the answer.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()
N, K = 300, 4
EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)
ARROW = {np.float32: pa.float32(), np.float64: pa.float64()}


def categorical() -> tuple[np.ndarray, np.ndarray]:
    """Rows of probabilities (float64) and labels; the true class exactly 0 on rows 0-9,
    1e-9 (below float32's eps, above float64's) on rows 10-19, 1e-30 on rows 20-24."""
    rng = np.random.default_rng(12)
    p = rng.dirichlet(np.full(K, 0.7), size=N)
    y = rng.integers(0, K, N)
    for rows, value in ((slice(0, 10), 0.0), (slice(10, 20), 1e-9), (slice(20, 25), 1e-30)):
        index = np.arange(N)[rows]
        p[index, y[index]] = value
    p[:5] = 0.0
    p[np.arange(5), (y[:5] + 1) % K] = 1.0  # a hard prediction on the wrong class
    return p / p.sum(axis=1, keepdims=True), y


def binary() -> tuple[np.ndarray, np.ndarray]:
    """P(positive) (float64) and 0/1 labels, with hard and tiny predictions on the wrong side."""
    rng = np.random.default_rng(13)
    p = rng.uniform(size=N)
    y = rng.integers(0, 2, N)
    p[:5], y[:5] = 0.0, 1
    p[5:10], y[5:10] = 1.0, 0
    p[10:20], y[10:20] = 1e-9, 1
    p[20:25], y[20:25] = 1 - 1e-12, 0
    return p, y


def columns(p: np.ndarray) -> list[str]:
    return [f"c{i}" for i in range(p.shape[1])] if p.ndim == 2 else ["p"]


def as_matrix(p: np.ndarray) -> np.ndarray:
    return p if p.ndim == 2 else p[:, None]


# -- writers: each writes ``p`` and ``y`` to ``folder`` and returns the arguments -----------


def npy(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    np.save(folder / "preds.npy", p)
    np.save(folder / "labels.npy", y)
    return ["preds.npy", "labels.npy"]


def npz(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    np.savez(folder / "outputs.npz", probs=p, labels=y)
    return ["outputs.npz"]


def parquet_columns(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    m = as_matrix(p)
    table = {name: pa.array(m[:, i]) for i, name in enumerate(columns(p))}
    pq.write_table(pa.table({**table, "label": y}), folder / "preds.parquet")
    return ["preds.parquet"]


def parquet_list(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    m = as_matrix(p)
    lists = pa.array(list(m), pa.list_(ARROW[m.dtype.type]))
    pq.write_table(pa.table({"probs": lists, "label": y}), folder / "preds.parquet")
    return ["preds.parquet"]


def parquet_fixed_size_list(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    m = as_matrix(p)
    lists = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])
    assert lists.type.value_type == ARROW[m.dtype.type]
    pq.write_table(pa.table({"probs": lists, "label": y}), folder / "preds.parquet")
    return ["preds.parquet"]


def feather_pandas(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    m = as_matrix(p)
    frame = pd.DataFrame({name: m[:, i] for i, name in enumerate(columns(p))})
    frame["label"] = y
    frame.to_feather(folder / "preds.feather")  # Feather version 2, lz4-compressed
    return ["preds.feather"]


def arrow_stream_list(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    m = as_matrix(p)
    lists = pa.array(list(m), pa.list_(ARROW[m.dtype.type]))
    table = pa.table({"probs": lists, "label": y})
    with ipc.new_stream(str(folder / "preds.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=100)  # batches, as datasets writes them
    return ["preds.arrow"]


def text_rows(p: np.ndarray, y: np.ndarray) -> list[list[str]]:
    """Every value in 17 significant digits (``repr``): the float64 read back exactly."""
    return [
        [*(repr(float(v)) for v in row), str(int(a))]
        for row, a in zip(as_matrix(p), y, strict=True)
    ]


def csv_text(p: np.ndarray, y: np.ndarray, sep: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerows([[*columns(p), "label"], *text_rows(p, y)])
    return out.getvalue()


def csv_file(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    (folder / "preds.csv").write_text(csv_text(p, y, ","))
    return ["preds.csv"]


def tsv_gz(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    (folder / "preds.tsv.gz").write_bytes(gzip.compress(csv_text(p, y, "\t").encode()))
    return ["preds.tsv.gz"]


def jsonl_gz(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    # json writes a float64 in its shortest repr, which reads back exactly
    rows = [
        json.dumps({"probs": [float(v) for v in row], "label": int(a)})
        for row, a in zip(as_matrix(p), y, strict=True)
    ]
    (folder / "preds.jsonl.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return ["preds.jsonl.gz"]


def parquet_strings(folder: Path, p: np.ndarray, y: np.ndarray) -> list[str]:
    cells = np.array(text_rows(p, y))
    table = {name: pa.array(cells[:, i]) for i, name in enumerate(columns(p))}
    pq.write_table(pa.table({**table, "label": y}), folder / "preds.parquet")
    return ["preds.parquet"]


#: Formats that store numbers with their float type.
TYPED_FORMATS: list[Callable[[Path, np.ndarray, np.ndarray], list[str]]] = [
    npy,
    npz,
    parquet_columns,
    parquet_list,
    parquet_fixed_size_list,
    feather_pandas,
    arrow_stream_list,
]
#: And the formats that store decimal text, read as float64.
TEXT_FORMATS = [csv_file, tsv_gz, parquet_strings, jsonl_gz]


def score(folder: Path, writer: Callable, p: np.ndarray, y: np.ndarray) -> dict:
    """The JSON report of ``cecli score`` on ``p`` and ``y`` written by ``writer``."""
    sub = folder / f"{writer.__name__}_{p.dtype}_{p.ndim}"
    sub.mkdir()
    args = [str(sub / a) for a in writer(sub, p, y)]
    result = runner.invoke(app, ["score", *args, "-f", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def answer(report: dict) -> dict:
    """What must agree: everything but the files' and columns' names."""
    per_class = [{k: v for k, v in c.items() if k != "class"} for c in report["per_class"]]
    keys = ("kind", "n_samples", "mean_loss", "sum_loss", "accuracy", "clipped", "flagged_count")
    return {**{k: report[k] for k in keys}, "per_class": per_class}


def all_agree(reports: dict[str, dict]) -> dict:
    answers = {name: answer(r) for name, r in reports.items()}
    first = next(iter(answers.values()))
    for name, a in answers.items():
        assert a == first, f"{name} differs: {a} != {first}"
    return first


def p_true(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The probability of the true class, in float64, from the values as stored."""
    p = p.astype(np.float64)
    if p.ndim == 1:
        return np.where(y == 1, p, 1 - p)
    return p[np.arange(len(y)), y]


@pytest.mark.parametrize("make", [categorical, binary])
def test_float32_scores_the_same_through_every_format_and_as_defined(make, tmp_path):
    p64, y = make()
    p = p64.astype(np.float32)
    result = all_agree({w.__name__: score(tmp_path, w, p, y) for w in TYPED_FORMATS})
    truth = p_true(p, y)
    assert result["kind"] == ("binary" if p.ndim == 1 else "categorical")
    assert result["clipped"] == int(np.sum(truth < EPS32)) > 20
    # the definition, with float32's epsilon: the tiny 1e-9 is clipped too
    defined = np.mean(-np.log(np.maximum(truth, EPS32)))
    assert result["mean_loss"] == pytest.approx(defined, rel=1e-6)


@pytest.mark.parametrize("make", [categorical, binary])
def test_float64_scores_the_same_through_every_format_and_as_scikit_learn(make, tmp_path):
    p, y = make()
    formats = TYPED_FORMATS + TEXT_FORMATS
    result = all_agree({w.__name__: score(tmp_path, w, p, y) for w in formats})
    truth = p_true(p, y)
    assert result["clipped"] == int(np.sum(truth < EPS64)) >= 10
    classes = list(range(K if p.ndim == 2 else 2))
    assert result["mean_loss"] == pytest.approx(log_loss(y, p, labels=classes), rel=1e-12)


@pytest.mark.parametrize("make", [categorical, binary])
def test_float16_is_scored_as_the_float32_it_widens_to(make, tmp_path):
    p, y = make()
    half = p.astype(np.float16)
    widened = score(tmp_path, npy, half.astype(np.float32), y)
    assert answer(score(tmp_path, npy, half, y)) == answer(widened)
    # and it is not scored as float64: float16's zeros and tiny values clip at float32's eps
    assert widened["clipped"] == int(np.sum(p_true(half, y) < EPS32))


def test_float32_and_float64_differ_only_by_the_clipping_they_document(tmp_path):
    """The same values in two widths clip at their own epsilon: 1e-9 only in float32."""
    p, y = categorical()
    narrow = score(tmp_path, npy, p.astype(np.float32), y)
    wide = score(tmp_path, npz, p, y)
    assert narrow["clipped"] - wide["clipped"] == 10
