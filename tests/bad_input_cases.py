"""The bad inputs of the catalogue in ``test_bad_input.py``: files, formats and shapes.

Each function writes the files of one case into a fresh folder and returns a
:class:`Case`: the arguments after ``cecli score`` (or ``cecli compare``), and
the fragments the one error line must hold. By convention the first fragment
is the file the error is about (or ``standard input``), and the others say
where (row, line, column) and what is wrong. The cells, labels, weights and
encodings are in ``bad_cell_cases.py``; hostile text and ``compare`` in
``bad_hostile_cases.py``.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N, K = 20, 3
CLASSES = ["cat", "dog", "emu"]


@dataclass
class Case:
    """The arguments after the command, the fragments the error line must hold, and stdin."""

    args: list[str]
    fragments: list[str]
    stdin: bytes = b""
    command: str = "score"


def probs(seed: int = 0, n: int = N, k: int = K) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def labels(seed: int = 0, n: int = N, k: int = K) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, k, n)


def write_csv(
    path: Path, header: list[str] | None, rows: list[list[object]], sep: str = ","
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows([[repr(v) if isinstance(v, float) else v for v in row] for row in rows])
    path.write_text(out.getvalue(), encoding="utf-8")


def pred_rows(p: np.ndarray) -> list[list[object]]:
    return [[float(v) for v in row] for row in p]


def good_preds(tmp: Path, name: str = "preds.csv", n: int = N) -> str:
    write_csv(tmp / name, CLASSES, pred_rows(probs(n=n)))
    return name


def good_labels(tmp: Path, name: str = "labels.csv", n: int = N) -> str:
    write_csv(tmp / name, ["label"], [[int(v)] for v in labels(n=n)])
    return name


def labelled_rows(p: np.ndarray, y: np.ndarray | None = None) -> list[list[object]]:
    """Prediction rows with their label as the last cell."""
    y = labels(n=len(p), k=p.shape[1]) if y is None else y
    return [[*row, int(label)] for row, label in zip(pred_rows(p), y, strict=True)]


# -- the cases ----------------------------------------------------------------------


def missing_file(tmp: Path) -> Case:
    return Case(["nope.csv", good_labels(tmp)], ["nope.csv", "no such file"])


def missing_labels_file(tmp: Path) -> Case:
    return Case([good_preds(tmp), "nope.npy"], ["nope.npy", "no such file"])


def a_directory(tmp: Path) -> Case:
    (tmp / "outputs").mkdir()
    return Case(["outputs"], ["outputs", "folder"])


def unknown_extension(tmp: Path) -> Case:
    (tmp / "preds.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet")
    return Case(["preds.xlsx"], ["preds.xlsx", "'.xlsx'", "--input-format"])


def compressed_npy(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs())
    (tmp / "preds.npy.gz").write_bytes(gzip.compress((tmp / "preds.npy").read_bytes()))
    return Case(["preds.npy.gz", good_labels(tmp)], ["preds.npy.gz", "'.npy'", ".gz"])


def empty_file(tmp: Path) -> Case:
    (tmp / "preds.csv").write_bytes(b"")
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "empty"])


def blank_lines_only(tmp: Path) -> Case:
    (tmp / "preds.csv").write_bytes(b"\r\n\n  \n")
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "empty"])


def header_without_rows(tmp: Path) -> Case:
    (tmp / "preds.csv").write_text("cat,dog,emu,label\n\n")
    return Case(["preds.csv"], ["preds.csv", "header but no rows"])


def empty_labels_file(tmp: Path) -> Case:
    (tmp / "labels.tsv").write_text("label\n")
    return Case([good_preds(tmp), "labels.tsv"], ["labels.tsv", "header but no rows"])


def empty_npy(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", np.empty((0, K)))
    return Case(["preds.npy", good_labels(tmp)], ["preds.npy", "empty", "(0, 3)"])


def ragged_row(tmp: Path) -> Case:
    rows = pred_rows(probs())
    rows[5] = rows[5][:2]
    write_csv(tmp / "preds.csv", CLASSES, rows)
    # row 5 is the file's 7th line: the header is line 1
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "row 5", "line 7", "2 fields", "3"])


def non_numeric_cell(tmp: Path) -> Case:
    rows = pred_rows(probs())
    rows[7][1] = "high"
    write_csv(tmp / "preds.csv", CLASSES, rows)
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "row 7", "'dog'", "'high'"])


def non_numeric_cell_far_down(tmp: Path) -> Case:
    """Past the rows the column types are guessed from (and past the first block)."""
    n = 40_000
    rows = pred_rows(probs(n=n))
    rows[n - 3][2] = "0.4.1"
    write_csv(tmp / "preds.csv", CLASSES, rows)
    assert (tmp / "preds.csv").stat().st_size > 2 << 20
    labels_name = good_labels(tmp, n=n)
    return Case(
        ["preds.csv", labels_name, "--chunk-size", "64K"],
        ["preds.csv", f"row {n - 3}", "'emu'", "'0.4.1'"],
    )


def empty_cell(tmp: Path) -> Case:
    rows = pred_rows(probs())
    rows[3][0] = ""
    write_csv(tmp / "preds.csv", CLASSES, rows)
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "row 3", "'cat'", "empty"])


def unknown_class_names(tmp: Path) -> Case:
    names = np.array([*CLASSES, "zebra", "yak", "wolf", "vole", "tapir", "shrew"])
    values = names[np.r_[labels(), 3, 4, 5, 6, 7, 8]]
    write_csv(tmp / "preds.csv", CLASSES, pred_rows(probs(n=N + 6)))
    write_csv(tmp / "labels.csv", ["label"], [[v] for v in values])
    return Case(
        ["preds.csv", "labels.csv"],
        ["labels.csv", f"row {N} has the label 'zebra'", "'yak'", "...", "'cat', 'dog', 'emu'"],
    )


def ambiguous_label_column(tmp: Path) -> Case:
    y = labels()
    rows = [[*row, int(a), int(a)] for row, a in zip(pred_rows(probs()), y, strict=True)]
    write_csv(tmp / "preds.csv", [*CLASSES, "label", "y"], rows)
    return Case(["preds.csv"], ["preds.csv", "'label'", "'y'", "--label-col"])


def missing_label_column(tmp: Path) -> Case:
    return Case([good_preds(tmp)], ["preds.csv", "'cat', 'dog', 'emu'", "--label-col"])


def missing_named_label_column(tmp: Path) -> Case:
    return Case(
        [good_preds(tmp), good_labels(tmp), "--label-col", "truth"],
        ["labels.csv", "'truth'", "'label'"],
    )


def fewer_labels_csv(tmp: Path) -> Case:
    return Case(
        [good_preds(tmp), good_labels(tmp, n=N - 5)], ["labels.csv", "preds.csv", "20", "15"]
    )


def more_labels_csv(tmp: Path) -> Case:
    return Case(
        [good_preds(tmp), good_labels(tmp, n=N + 7)], ["labels.csv", "preds.csv", "20", "27"]
    )


def fewer_labels_npy(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs())
    np.save(tmp / "labels.npy", labels(n=N - 5))
    return Case(["preds.npy", "labels.npy"], ["labels.npy", "preds.npy", "20", "15"])


def fewer_labels_csv_than_npy(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs(n=300))
    return Case(
        ["preds.npy", good_labels(tmp, n=290), "--chunk-size", "100"],
        ["labels.csv", "preds.npy", "300", "290"],
    )


def npy_named_csv(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs())
    (tmp / "preds.npy").rename(tmp / "preds.csv")
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "NPY", ".npy"])


def gzip_named_csv(tmp: Path) -> Case:
    good_preds(tmp, "plain.csv")
    (tmp / "preds.csv").write_bytes(gzip.compress((tmp / "plain.csv").read_bytes()))
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "gzip", ".csv.gz"])


def binary_noise_as_csv(tmp: Path) -> Case:
    (tmp / "preds.csv").write_bytes(b"cat,dog\n" + bytes(range(256)) * 4)
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "binary"])


def plain_text_named_gz(tmp: Path) -> Case:
    good_preds(tmp, "preds.csv.gz")
    return Case(["preds.csv.gz", good_labels(tmp)], ["preds.csv.gz", "compress"])


def not_utf8(tmp: Path) -> Case:
    (tmp / "preds.csv").write_bytes("chat,café,émeu\n".encode("latin-1") + b"0.2,0.3,0.5\n")
    return Case(["preds.csv", good_labels(tmp, n=1)], ["preds.csv", "UTF-8"])


def npy_three_dimensions(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs()[:, :, None])
    np.save(tmp / "labels.npy", labels())
    return Case(["preds.npy", "labels.npy"], ["preds.npy", "3-D", "(20, 3, 1)"])


def npy_object_dtype(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs())
    objects = np.array([["cat"], 1, None] * 7, dtype=object)[:N]
    np.save(tmp / "labels.npy", objects, allow_pickle=True)
    return Case(["preds.npy", "labels.npy"], ["labels.npy", "Python objects"])


def npy_complex_dtype(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs().astype(np.complex128))
    np.save(tmp / "labels.npy", labels())
    return Case(["preds.npy", "labels.npy"], ["preds.npy", "complex128"])


def npy_2d_strings(tmp: Path) -> Case:
    np.save(tmp / "preds.npy", probs())
    np.save(tmp / "labels.npy", np.array(CLASSES)[labels()].reshape(-1, 2))
    return Case(["preds.npy", "labels.npy"], ["labels.npy", "2-D array of strings"])


def parquet_uneven_lists(tmp: Path) -> Case:
    rows = [list(map(float, row)) for row in probs()]
    rows[4] = rows[4][:2]
    table = pa.table({"probs": pa.array(rows, pa.list_(pa.float64())), "label": labels()})
    pq.write_table(table, tmp / "preds.parquet")
    return Case(["preds.parquet"], ["preds.parquet", "row 4", "'probs'", "2 numbers", "3"])


def parquet_null_in_column(tmp: Path) -> Case:
    p = probs()
    dog = pa.array([None if i == 6 else float(v) for i, v in enumerate(p[:, 1])])
    table = pa.table({"cat": p[:, 0], "dog": dog, "emu": p[:, 2], "label": labels()})
    pq.write_table(table, tmp / "preds.parquet")
    return Case(["preds.parquet"], ["preds.parquet", "row 6", "'dog'", "null"])


def npz_without_usual_names(tmp: Path) -> Case:
    np.savez(tmp / "outputs.npz", foo=probs(), bar=labels())
    return Case(["outputs.npz"], ["outputs.npz", "'foo'", "'bar'", "--pred-key"])


def npz_without_usual_label_name(tmp: Path) -> Case:
    np.savez(tmp / "outputs.npz", probs=probs(), answers=labels())
    return Case(["outputs.npz"], ["outputs.npz", "'probs'", "'answers'", "--label-key"])


def npz_unknown_key(tmp: Path) -> Case:
    np.savez(tmp / "outputs.npz", probs=probs(), labels=labels())
    return Case(
        ["outputs.npz", "--pred-key", "logits"],
        ["outputs.npz", "'logits'", "'probs'", "'labels'"],
    )


def binary_strings_without_positive(tmp: Path) -> Case:
    p = probs(k=2)[:, 1]
    names = np.array(["ham", "spam"])[labels(k=2)]
    write_csv(
        tmp / "preds.csv",
        ["p_spam", "label"],
        [[float(a), b] for a, b in zip(p, names, strict=True)],
    )
    return Case(["preds.csv"], ["preds.csv", "'ham'", "'spam'", "--positive"])


def three_strings_for_binary(tmp: Path) -> Case:
    p = probs(k=2)[:, 1]
    names = np.array(["ham", "spam", "eggs"])[labels(k=3)]
    write_csv(
        tmp / "preds.csv",
        ["p_spam", "label"],
        [[float(a), b] for a, b in zip(p, names, strict=True)],
    )
    return Case(["preds.csv", "--positive", "spam"], ["preds.csv", "'eggs'", "two values"])


def logits_given_as_probabilities(tmp: Path) -> Case:
    scores = np.random.default_rng(3).normal(size=(N, K)) * 3
    write_csv(tmp / "preds.csv", CLASSES, pred_rows(scores))
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "row", "--logits"])


def rows_not_summing_to_one(tmp: Path) -> Case:
    p = probs()
    p[9] *= 1.73
    write_csv(tmp / "preds.csv", CLASSES, pred_rows(p))
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "row 9", "--logits"])


def pred_cols_glob_matching_nothing(tmp: Path) -> Case:
    return Case(
        [good_preds(tmp), good_labels(tmp), "--pred-cols", "prob_*"],
        ["preds.csv", "'prob_*'", "'cat', 'dog', 'emu'"],
    )


def pred_col_of_text(tmp: Path) -> Case:
    rows = [
        [*row, name]
        for row, name in zip(pred_rows(probs()), np.array(CLASSES)[labels()], strict=True)
    ]
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], rows)
    return Case(["preds.csv", "--pred-cols", "cat,label"], ["preds.csv", "'label'", "not numbers"])


def two_stdin_arguments(tmp: Path) -> Case:
    return Case(["-", "-"], ["standard input", "(-)"], stdin=b"cat,dog\n0.5,0.5\n")


def npy_on_stdin(tmp: Path) -> Case:
    np.save(tmp / "labels.npy", labels())
    return Case(
        ["-", "labels.npy", "--input-format", "npy"],
        ["standard input", "CSV, TSV or JSON Lines"],
        stdin=b"",
    )


def empty_stdin(tmp: Path) -> Case:
    return Case(["-", good_labels(tmp)], ["standard input", "empty"], stdin=b"")


def sample_weights_all_zero(tmp: Path) -> Case:
    rows = [[*row, label, 0.0] for row, label in zip(pred_rows(probs()), labels(), strict=True)]
    write_csv(tmp / "preds.csv", [*CLASSES, "label", "w"], rows)
    return Case(
        ["preds.csv", "--label-col", "label", "--weight-col", "w"],
        ["preds.csv", "column 'w'", "sum to zero", "positive weight"],
    )


def label_column_and_labels_file(tmp: Path) -> Case:
    rows = [[*row, label] for row, label in zip(pred_rows(probs()), labels(), strict=True)]
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], rows)
    return Case(
        ["preds.csv", good_labels(tmp)],
        ["preds.csv", "'label'", "labels.csv", "--pred-cols"],
    )


def unreadable_file(tmp: Path) -> Case:
    name = good_preds(tmp)
    (tmp / name).chmod(0)
    return Case([name, good_labels(tmp)], ["preds.csv", "permission denied"])
