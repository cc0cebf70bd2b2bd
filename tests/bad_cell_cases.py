"""The bad inputs of the catalogue: cells, quotes, row counts, labels, weights, values, bytes.

Most cases keep the labels in the predictions file: a column left out, or the
rest of the file swallowed by a quote, would then change the kind or the class
count and still score. Only the error line, with its row and column, is right.
Row numbers are 0-based data rows; line numbers count the header as line 1.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bad_input_cases import (
    CLASSES,
    Case,
    K,
    N,
    good_labels,
    good_preds,
    labelled_rows,
    labels,
    pred_rows,
    probs,
    write_csv,
)


def one_bad_cell(
    tmp: Path,
    value: str,
    *,
    row: int = 4,
    column: int = 1,
    name: str = "preds.csv",
    sep: str = ",",
    rows: list[list[object]] | None = None,
    args: tuple[str, ...] = (),
) -> Case:
    """Predictions and their labels in one file, with ``value`` in one prediction cell."""
    rows = labelled_rows(probs()) if rows is None else rows
    rows[row][column] = value
    write_csv(tmp / name, [*CLASSES, "label"], rows, sep=sep)
    where = [f"row {row}", f"(line {row + 2})", f"column {CLASSES[column]!r}", repr(value)]
    return Case([name, *args], [name, *where])


def hard_predictions(seed: int = 0) -> list[list[object]]:
    """0/1 predictions, one per class (one-hot), and the labels: whole numbers only."""
    y = labels(seed)
    return [[*map(int, row), int(a)] for row, a in zip(np.eye(K)[y], y, strict=True)]


def quantised_logits() -> list[list[object]]:
    """Logits rounded to whole numbers, as int8 models write them, and the labels."""
    scores = np.random.default_rng(7).integers(-8, 9, size=(N, K))
    return [[*map(int, row), int(a)] for row, a in zip(scores, labels(), strict=True)]


# -- a bad cell in a column of numbers ------------------------------------------------


def word_in_a_prediction_cell(tmp: Path) -> Case:
    return one_bad_cell(tmp, "oops")


def word_in_one_of_two_columns(tmp: Path) -> Case:
    """The issue's example: leaving 'b' out made it binary, scored on 'a' alone."""
    rows = pred_rows(probs(k=2))
    rows[1][1] = "oops"
    write_csv(tmp / "p.csv", ["a", "b"], rows)
    write_csv(tmp / "l.csv", ["label"], [[int(v)] for v in labels(k=2)])
    return Case(["p.csv", "l.csv"], ["p.csv", "row 1", "(line 3)", "column 'b'", "'oops'"])


def letter_l_in_hard_predictions(tmp: Path) -> Case:
    return one_bad_cell(tmp, "l", row=6, column=2, rows=hard_predictions())


def letter_o_in_hard_predictions(tmp: Path) -> Case:
    rows = hard_predictions(seed=3)
    return one_bad_cell(tmp, "O", row=11, column=0, rows=rows)


def typo_in_quantised_logits(tmp: Path) -> Case:
    return one_bad_cell(tmp, "1O", row=9, column=1, rows=quantised_logits(), args=("--logits",))


def thousands_separator_in_logits(tmp: Path) -> Case:
    return one_bad_cell(tmp, "1,000", row=2, column=0, rows=quantised_logits(), args=("--logits",))


def hex_floats(tmp: Path) -> Case:
    """float.hex() output: every cell looks like a number, none is one cecli reads."""
    rows = [[*(float(v).hex() for v in row[:K]), row[K]] for row in labelled_rows(probs())]
    return one_bad_cell(tmp, str(rows[0][0]), row=0, column=0, rows=rows)


def digit_separator(tmp: Path) -> Case:
    return one_bad_cell(tmp, "0_8", row=13, column=2)


def missing_value_marker(tmp: Path) -> Case:
    return one_bad_cell(tmp, "NA", row=5, column=0)


def percentage(tmp: Path) -> Case:
    return one_bad_cell(tmp, "80%", row=3, column=1)


def dash_for_missing(tmp: Path) -> Case:
    return one_bad_cell(tmp, "-", row=17, column=2)


def decimal_comma_in_tsv(tmp: Path) -> Case:
    return one_bad_cell(tmp, "0,25", row=8, column=1, name="preds.tsv", sep="\t")


def decimal_commas_throughout_tsv(tmp: Path) -> Case:
    rows = [
        [*(repr(float(v)).replace(".", ",") for v in row[:K]), row[K]]
        for row in labelled_rows(probs())
    ]
    return one_bad_cell(
        tmp, str(rows[0][0]), row=0, column=0, name="preds.tsv", sep="\t", rows=rows
    )


def empty_cell_in_tsv(tmp: Path) -> Case:
    case = one_bad_cell(tmp, "", row=12, column=2, name="preds.tsv", sep="\t")
    case.fragments = [*case.fragments[:-1], "empty"]
    return case


def bad_cell_with_crlf_line_ends(tmp: Path) -> Case:
    case = one_bad_cell(tmp, "oops", row=6, column=0)
    path = tmp / "preds.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return case


def bad_cell_far_down_a_tsv_gz(tmp: Path) -> Case:
    """Past the type sample and the first chunks of a compressed file."""
    n = 30_000
    rows = labelled_rows(probs(n=n), labels(n=n))
    case = one_bad_cell(tmp, "0.75.1", row=n - 10, column=1, name="preds.tsv", sep="\t", rows=rows)
    (tmp / "preds.tsv.gz").write_bytes(gzip.compress((tmp / "preds.tsv").read_bytes(), 1))
    (tmp / "preds.tsv").unlink()
    case.args = ["preds.tsv.gz", "--chunk-size", "64K"]
    case.fragments[0] = "preds.tsv.gz"
    return case


def half_the_cells_look_like_numbers(tmp: Path) -> Case:
    """At the boundary (MOSTLY = one half) a column is numbers with bad cells, not text."""
    rows = labelled_rows(probs(n=8), labels(n=8))
    notes = ["0.5", "x.png", "0.25", "y.png", "1e-3", "z.png", "7", "w.png"]
    write_csv(
        tmp / "preds.csv",
        [*CLASSES, "label", "note"],
        [[*r, c] for r, c in zip(rows, notes, strict=True)],
    )
    return Case(["preds.csv"], ["preds.csv", "row 1", "(line 3)", "column 'note'", "'x.png'"])


def parquet_numbers_as_text_with_a_word(tmp: Path) -> Case:
    p = probs()
    text = {c: [repr(float(v)) for v in p[:, i]] for i, c in enumerate(CLASSES)}
    text["dog"][6] = "oops"
    pq.write_table(pa.table({**text, "label": labels()}), tmp / "preds.parquet")
    return Case(["preds.parquet"], ["preds.parquet", "row 6", "column 'dog'", "'oops'"])


def parquet_numbers_as_text_bad_past_the_sample(tmp: Path) -> Case:
    """Every sampled cell is a number; the bad one is found when its batch is read."""
    n = 70_000
    cells = np.full(n, "0.25", dtype=object)
    cells[n - 5] = "0.2.5"
    table = pa.table(
        {"cat": cells, "dog": np.full(n, "0.75", dtype=object), "label": np.ones(n, int)}
    )
    pq.write_table(table, tmp / "preds.parquet")
    return Case(["preds.parquet"], ["preds.parquet", f"row {n - 5}", "column 'cat'", "'0.2.5'"])


# -- a quote never closed ---------------------------------------------------------------


def with_open_quote(tmp: Path, row: int, column: int, ids: bool = False) -> Case:
    """The cell at ``row`` starts with a quote that never closes; labels in the same file."""
    rows = labelled_rows(probs())
    header = [*CLASSES, "label"]
    if ids:
        header = ["id", *header]
        rows = [[f"img_{i:03d}.png", *r] for i, r in enumerate(rows)]
    lines = [",".join(header)] + [",".join(map(str, r)) for r in rows]
    cells = lines[row + 1].split(",")
    cells[column] = '"' + cells[column]
    lines[row + 1] = ",".join(cells)
    (tmp / "preds.csv").write_text("\n".join(lines) + "\n")
    return Case(["preds.csv"], ["preds.csv", f"row {row}", f"(line {row + 2})", "quote"])


def open_quote_in_a_number_column(tmp: Path) -> Case:
    return with_open_quote(tmp, 5, 1)


def open_quote_in_a_text_column(tmp: Path) -> Case:
    return with_open_quote(tmp, 3, 0, ids=True)


def open_quote_on_the_last_row(tmp: Path) -> Case:
    return with_open_quote(tmp, N - 1, 2)


# -- files one row apart: a header missed or invented -----------------------------------


def one_hot_header_read_as_data(tmp: Path) -> Case:
    """A header of class indices over 0/1 rows, forced to be data: one row too many."""
    rows = [row[:K] for row in hard_predictions()]
    write_csv(tmp / "preds.csv", [str(c) for c in range(K)], rows)
    write_csv(tmp / "labels.csv", None, [[int(v)] for v in labels()])
    return Case(
        ["preds.csv", "labels.csv", "--no-header"],
        ["labels.csv", f"has {N} rows", f"preds.csv has {N + 1}", "one row", "--header"],
    )


def predictions_without_header_one_row_longer(tmp: Path) -> Case:
    write_csv(tmp / "preds.csv", None, pred_rows(probs(n=N + 1)))
    return Case(
        ["preds.csv", good_labels(tmp)],
        ["labels.csv", f"preds.csv has {N + 1}", "one row", "--header", "--no-header"],
    )


def labels_without_header_one_row_longer(tmp: Path) -> Case:
    write_csv(tmp / "labels.csv", None, [[int(v)] for v in labels(n=N + 1)])
    return Case(
        [good_preds(tmp), "labels.csv"],
        ["labels.csv", f"has {N + 1} rows", "one row", "--header", "--no-header"],
    )


def labels_headed_by_a_class_index(tmp: Path) -> Case:
    """A header '0' over class indices is data: the labels are one row longer."""
    write_csv(tmp / "labels.csv", ["0"], [[int(v)] for v in labels()])
    return Case([good_preds(tmp), "labels.csv"], ["labels.csv", f"has {N + 1} rows", "--header"])


def more_fields_than_the_header(tmp: Path) -> Case:
    rows = labelled_rows(probs())
    rows[10] = [*rows[10], 7]
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], rows)
    return Case(["preds.csv"], ["preds.csv", "row 10", "(line 12)", "5 fields", "4"])


# -- labels ---------------------------------------------------------------------------------


def with_label(tmp: Path, value: object, k: int = K, row: int = 1) -> str:
    """A labels file of class indices with ``value`` at ``row``; predictions to match."""
    y: list[object] = [int(v) for v in labels(k=k)]
    y[row] = value
    write_csv(tmp / "labels.csv", ["label"], [[v] for v in y])
    if k == 2:
        write_csv(tmp / "preds.csv", ["p"], [[float(v)] for v in probs(k=2)[:, 1]])
    else:
        good_preds(tmp)
    return "labels.csv"


def word_among_class_indices(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, "oops")], ["labels.csv", "row 1", "'oops'"])


def word_among_binary_labels(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, "oops", k=2)], ["labels.csv", "row 1", "'oops'"])


def word_in_the_label_column(tmp: Path) -> Case:
    rows = labelled_rows(probs())
    rows[7][K] = "oops"
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], rows)
    return Case(["preds.csv"], ["preds.csv", "row 7", "'oops'"])


def label_out_of_range(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, K, row=3)], ["labels.csv", f"Label {K} at row 3"])


def negative_label(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, -1, row=5)], ["labels.csv", "Label -1 at row 5"])


def fractional_label(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, 1.5, row=2)], ["labels.csv", "row 2", "1.5"])


def empty_label(tmp: Path) -> Case:
    name = with_label(tmp, "", row=4)
    return Case(["preds.csv", name], ["labels.csv", "row 4", "(line 6)", "'label'", "empty"])


def binary_label_two(tmp: Path) -> Case:
    return Case(["preds.csv", with_label(tmp, 2, k=2, row=6)], ["labels.csv", "row 6", "is 2"])


def misspelt_boolean_label(tmp: Path) -> Case:
    y = ["true" if v else "false" for v in labels(k=2)]
    y[9] = "ture"
    write_csv(tmp / "preds.csv", ["p"], [[float(v)] for v in probs(k=2)[:, 1]])
    write_csv(tmp / "labels.csv", ["label"], [[v] for v in y])
    return Case(["preds.csv", "labels.csv"], ["labels.csv", "'ture'"])


def parquet_word_among_labels(tmp: Path) -> Case:
    p = probs()
    y = [str(v) for v in labels()]
    y[8] = "oops"
    table = pa.table({**{c: p[:, i] for i, c in enumerate(CLASSES)}, "label": y})
    pq.write_table(table, tmp / "preds.parquet")
    return Case(["preds.parquet"], ["preds.parquet", "row 8", "'oops'"])


# -- weights --------------------------------------------------------------------------------


def with_weight(tmp: Path, value: object, row: int = 4, fragments: tuple[str, ...] = ()) -> Case:
    """Predictions, labels and a weight column 'w' in one file, ``value`` at ``row``."""
    rows = [[*r, 1.0] for r in labelled_rows(probs())]
    rows[row][-1] = value
    write_csv(tmp / "preds.csv", [*CLASSES, "label", "w"], rows)
    return Case(["preds.csv", "--weight-col", "w"], ["preds.csv", f"row {row}", *fragments])


def word_as_a_weight(tmp: Path) -> Case:
    return with_weight(tmp, "heavy", fragments=("(line 6)", "column 'w'", "'heavy'"))


def digit_separator_in_a_weight(tmp: Path) -> Case:
    return with_weight(tmp, "0_8", 9, ("(line 11)", "column 'w'", "'0_8'"))


def thousands_separator_in_a_weight(tmp: Path) -> Case:
    return with_weight(tmp, "1,000", 0, ("(line 2)", "column 'w'", "'1,000'"))


def negative_weight(tmp: Path) -> Case:
    return with_weight(tmp, -1.0, 6, ("-1", "non-negative"))


def nan_weight(tmp: Path) -> Case:
    return with_weight(tmp, "nan", 3, ("NaN",))


def empty_weight(tmp: Path) -> Case:
    return with_weight(tmp, "", 11, ("(line 13)", "column 'w'", "empty"))


def weight_column_missing(tmp: Path) -> Case:
    case = with_weight(tmp, 1.0)
    case.args[-1] = "weight"
    case.fragments = ["preds.csv", "--weight-col", "'weight'", "'w'"]
    return case


def parquet_weights_as_text_with_a_word(tmp: Path) -> Case:
    p = probs()
    w = ["1.0"] * N
    w[12] = "heavy"
    columns = {c: p[:, i] for i, c in enumerate(CLASSES)}
    pq.write_table(pa.table({**columns, "label": labels(), "w": w}), tmp / "preds.parquet")
    return Case(
        ["preds.parquet", "--weight-col", "w"],
        ["preds.parquet", "row 12", "column 'w'", "'heavy'"],
    )


# -- values that are numbers but not predictions --------------------------------------------


def with_value(tmp: Path, value: float, row: int, column: int) -> str:
    """Probabilities and labels in one file, ``value`` at ``row``, ``column``."""
    p = probs()
    p[row, column] = value
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], labelled_rows(p))
    return "preds.csv"


def nan_probability(tmp: Path) -> Case:
    return Case([with_value(tmp, np.nan, 2, 0)], ["preds.csv", "row 2", "NaN"])


def nan_logit(tmp: Path) -> Case:
    return Case([with_value(tmp, np.nan, 14, 2), "--logits"], ["preds.csv", "row 14", "NaN"])


def infinite_probability(tmp: Path) -> Case:
    return Case([with_value(tmp, np.inf, 7, 1)], ["preds.csv", "row 7", "+inf", "[0, 1]"])


def negative_probability(tmp: Path) -> Case:
    return Case([with_value(tmp, -0.25, 5, 0)], ["preds.csv", "row 5", "-0.25", "[0, 1]"])


def binary_probability_above_one(tmp: Path) -> Case:
    p = probs(k=2)[:, 1]
    p[10] = 1.5
    rows = [[float(a), int(b)] for a, b in zip(p, labels(k=2), strict=True)]
    write_csv(tmp / "preds.csv", ["p_spam", "label"], rows)
    return Case(["preds.csv"], ["preds.csv", "row 10", "1.5", "[0, 1]"])


def independent_probabilities_as_categorical(tmp: Path) -> Case:
    """Each column in [0, 1], rows not summing to 1: a per-label sigmoid, say so."""
    p = np.random.default_rng(4).uniform(0.05, 0.95, size=(N, K))
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], labelled_rows(p))
    return Case(["preds.csv"], ["preds.csv", "row 0", "sum to 1", "--kind multilabel"])


def npy_float32_with_nan(tmp: Path) -> Case:
    p = probs().astype(np.float32)
    p[16, 1] = np.nan
    np.save(tmp / "preds.npy", p)
    np.save(tmp / "labels.npy", labels())
    return Case(["preds.npy", "labels.npy"], ["preds.npy", "row 16", "NaN"])


# -- bytes that are not UTF-8, and UTF-16 ---------------------------------------------------


def not_utf8_in_a_prediction_cell(tmp: Path) -> Case:
    case = one_bad_cell(tmp, "0.3", row=3, column=1)
    path = tmp / "preds.csv"
    lines = path.read_bytes().split(b"\n")
    cells = lines[4].split(b",")
    cells[1] = b"0.\xff3"
    lines[4] = b",".join(cells)
    path.write_bytes(b"\n".join(lines))
    case.fragments = [*case.fragments[:-1], "UTF-8"]
    return case


def not_utf8_in_a_label_cell(tmp: Path) -> Case:
    names = np.array(["chat", "chien", "emeu"])[labels()]
    rows = [[*r, name] for r, name in zip(pred_rows(probs()), names, strict=True)]
    rows[9][K] = "\udce9meu"  # a lone byte 0xe9: 'émeu' in Latin-1
    lines = [",".join(["chat", "chien", "emeu", "label"])]
    lines += [",".join(map(str, r)) for r in rows]
    text = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    (tmp / "preds.csv").write_bytes(text)
    return Case(["preds.csv"], ["preds.csv", "row 9", "(line 11)", "column 'label'", "UTF-8"])


def not_utf8_in_the_first_column(tmp: Path) -> Case:
    lines = [b"id," + ",".join(CLASSES).encode() + b",label"]
    lines += [
        f"r{i},".encode() + ",".join(map(str, r)).encode()
        for i, r in enumerate(labelled_rows(probs()))
    ]
    lines[3] = b"\xe9" + lines[3]
    (tmp / "preds.csv").write_bytes(b"\n".join(lines) + b"\n")
    return Case(["preds.csv"], ["preds.csv", "row 2", "(line 4)", "column 'id'", "UTF-8"])


def utf16_with_a_bad_cell(tmp: Path) -> Case:
    case = one_bad_cell(tmp, "oops", row=15, column=2)
    path = tmp / "preds.csv"
    path.write_bytes(path.read_text().encode("utf-16"))
    return case


def utf16_cut_in_half_a_character(tmp: Path) -> Case:
    good_preds(tmp, "plain.csv")
    (tmp / "preds.csv").write_bytes((tmp / "plain.csv").read_text().encode("utf-16")[:-1])
    (tmp / "plain.csv").unlink()
    return Case(["preds.csv", good_labels(tmp)], ["preds.csv", "UTF-16", "UTF-8"])
