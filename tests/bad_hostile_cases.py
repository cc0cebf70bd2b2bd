"""The bad inputs of the catalogue: hostile text in errors, and ``cecli compare``.

A file name, label, class name, column name or cell that holds an escape
sequence (clear the screen, set the window title, a hyperlink), rich markup
or a bidirectional override is shown in the error line with its control
characters written as escapes (``\\x1b``, ``\\u202e``) and its markup as
text. The fragments here are those escaped forms, written by hand; the
runner also checks that no control character reaches stderr at all.
"""

from __future__ import annotations

from pathlib import Path

from bad_cell_cases import one_bad_cell
from bad_input_cases import CLASSES, Case, K, good_preds, labelled_rows, labels, probs, write_csv

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;https://example.com/\x1b\\click\x1b]8;;\x1b\\"
RIGHT_TO_LEFT = "\u202e"


def escaped(text: str) -> str:
    """``text`` as the error line must show it (written out, not computed by cecli)."""
    return (
        text.replace("\x1b", "\\x1b")
        .replace("\x07", "\\x07")
        .replace("\n", "\\n")
        .replace(RIGHT_TO_LEFT, "\\u202e")
    )


def named(tmp: Path, name: str) -> Case:
    """A predictions file called ``name`` with a bad cell: the error starts with the name."""
    case = one_bad_cell(tmp, "oops", name=name, row=2, column=0)
    case.fragments[0] = escaped(name)
    return case


def file_name_clearing_the_screen(tmp: Path) -> Case:
    return named(tmp, f"x{CLEAR}y.csv")


def file_name_with_rich_markup(tmp: Path) -> Case:
    return named(tmp, "[red]x.csv")


def file_name_closing_markup(tmp: Path) -> Case:
    """``x[/].csv`` is ``].csv`` in a folder ``x[``: rich's closing tag, once an exit 3."""
    (tmp / "x[").mkdir()
    return named(tmp, "x[/].csv")


def missing_file_setting_the_title(tmp: Path) -> Case:
    name = f"runs{TITLE}.csv"
    return Case([name], [escaped(name), "no such file"])


def missing_file_with_a_newline(tmp: Path) -> Case:
    """A line break in a name would make two lines of one error."""
    name = "two\nlines.csv"
    return Case([name], [escaped(name), "no such file"])


def missing_file_reversing_the_text(tmp: Path) -> Case:
    name = f"report{RIGHT_TO_LEFT}vsc.exe"
    return Case([name], [escaped(name), "no such file"])


def with_label_names(tmp: Path, hostile: str, row: int = 3, shown: str | None = None) -> Case:
    """Labels given as class names, one of which is ``hostile`` (so not a class)."""
    y = [CLASSES[v] for v in labels()]
    y[row] = hostile
    write_csv(tmp / "labels.csv", ["label"], [[v] for v in y])
    shown = escaped(hostile) if shown is None else shown
    return Case([good_preds(tmp), "labels.csv"], ["labels.csv", f"row {row}", shown])


def label_clearing_the_screen(tmp: Path) -> Case:
    return with_label_names(tmp, f"{CLEAR}cat")


def label_with_a_hyperlink(tmp: Path) -> Case:
    """A quoted value is shown as repr shows it: the link's backslash (ST) doubled."""
    shown = r"'\x1b]8;;https://example.com/\x1b\\click\x1b]8;;\x1b\\'"
    return with_label_names(tmp, LINK, row=8, shown=shown)


def label_reversing_the_text(tmp: Path) -> Case:
    return with_label_names(tmp, f"{RIGHT_TO_LEFT}god", row=0)


def class_names_with_escapes(tmp: Path) -> Case:
    """The error lists the classes (the prediction columns): each shown escaped."""
    classes = [f"{CLEAR}cat", f"dog{TITLE}", "emu"]
    write_csv(tmp / "preds.csv", classes, [list(map(float, r)) for r in probs()])
    y = [classes[v] for v in labels()]
    y[5] = "zebra"
    write_csv(tmp / "labels.csv", ["label"], [[v] for v in y])
    return Case(
        ["preds.csv", "labels.csv"],
        ["labels.csv", "row 5", "'zebra'", escaped(classes[0]), escaped(classes[1])],
    )


def cell_with_an_escape(tmp: Path) -> Case:
    case = one_bad_cell(tmp, f"0.4{CLEAR}", row=6, column=1)
    case.fragments[-1] = escaped(case.fragments[-1])
    return case


def column_name_with_an_escape(tmp: Path) -> Case:
    """No label column: the error lists the columns, one of them hostile."""
    header = [*CLASSES, f"{CLEAR}label"]
    write_csv(tmp / "preds.csv", header, labelled_rows(probs()))
    return Case(["preds.csv"], ["preds.csv", escaped(header[-1]), "--label-col"])


def option_value_with_an_escape(tmp: Path) -> Case:
    rows = labelled_rows(probs())
    write_csv(tmp / "preds.csv", [*CLASSES, "label"], rows)
    value = f"{CLEAR}label"
    return Case(["preds.csv", "--label-col", value], ["preds.csv", escaped(value), "'label'"])


# -- compare ----------------------------------------------------------------------------------


def model(tmp: Path, name: str, columns: list[str], ids: list[str] | None = None) -> str:
    """Predictions for the ``columns``, their labels, and a first column of ids if given."""
    k, n = len(columns), len(ids or IDS)
    p = probs(len(name), n, k) if k > 1 else probs(len(name), n, 2)[:, 1:]
    rows = labelled_rows(p, labels(n=n, k=max(k, 2)))
    header = [*columns, "label"]
    if ids is not None:
        header = ["id", *header]
        rows = [[i, *r] for i, r in zip(ids, rows, strict=True)]
    write_csv(tmp / name, header, rows)
    return name


IDS = [f"s{i:02d}" for i in range(len(labels()))]


def compare_dropped_column(tmp: Path) -> Case:
    base, cand = model(tmp, "base.csv", CLASSES), model(tmp, "cand.csv", CLASSES[:2])
    return Case([base, cand], ["cand.csv", "base.csv", "lacks 'emu'"], command="compare")


def compare_dropped_column_to_binary(tmp: Path) -> Case:
    """Two columns against one: once 'scored as categorical and ... as binary'."""
    base, cand = model(tmp, "base.csv", ["ham", "spam"]), model(tmp, "cand.csv", ["spam"])
    return Case([base, cand], ["cand.csv", "base.csv", "lacks 'ham'"], command="compare")


def compare_added_column(tmp: Path) -> Case:
    base, cand = model(tmp, "base.csv", CLASSES[:2]), model(tmp, "cand.csv", CLASSES)
    return Case([base, cand], ["cand.csv", "base.csv", "adds 'emu'"], command="compare")


def with_ids(tmp: Path, candidate_ids: list[str], fragments: list[str]) -> Case:
    base = model(tmp, "base.csv", CLASSES, IDS)
    cand = model(tmp, "cand.csv", CLASSES, candidate_ids)
    return Case([base, cand, "--id-col", "id"], fragments, command="compare")


def compare_ids_only_in_the_candidate(tmp: Path) -> Case:
    """Every baseline id is in the candidate, which has one more: one-sided."""
    return with_ids(tmp, [*IDS, "s99"], ["cand.csv", "base.csv", "1 ids", "'s99'"])


def compare_ids_only_in_the_baseline(tmp: Path) -> Case:
    return with_ids(tmp, IDS[:-1], ["base.csv", "cand.csv", "1 ids", f"{IDS[-1]!r}"])


def compare_ids_differ_both_ways(tmp: Path) -> Case:
    return with_ids(tmp, [*IDS[:-1], "s99"], ["cand.csv", "base.csv", "'s99'", f"{IDS[-1]!r}"])


def compare_repeated_id(tmp: Path) -> Case:
    return with_ids(tmp, [*IDS[:5], IDS[3], *IDS[6:]], ["cand.csv", f"{IDS[3]!r}", "rows 3 and 5"])


def compare_bad_cell_in_the_candidate(tmp: Path) -> Case:
    base = model(tmp, "base.csv", CLASSES)
    case = one_bad_cell(tmp, "oops", name="cand.csv", row=9, column=2)
    # an existing picture named by --plot is kept as it is
    return Case([base, "cand.csv", "--plot", "existing.png"], case.fragments, command="compare")


def compare_candidate_one_row_short(tmp: Path) -> Case:
    base = model(tmp, "base.csv", CLASSES)
    rows = labelled_rows(probs(n=len(IDS) - 1))
    write_csv(tmp / "cand.csv", [*CLASSES, "label"], rows)
    return Case(
        [base, "cand.csv"], ["cand.csv", f"has {len(IDS) - 1} rows", "--id-col"], command="compare"
    )


def compare_labels_on_stdin(tmp: Path) -> Case:
    base, cand = good_preds(tmp, "base.csv"), good_preds(tmp, "cand.csv")
    return Case([base, cand, "-"], ["LABELS", "standard input (-)"], b"label\n0\n", "compare")


def compare_hostile_id(tmp: Path) -> Case:
    hostile = f"s99{TITLE}"
    return with_ids(tmp, [*IDS[:-1], hostile], ["cand.csv", escaped(hostile)])


def compare_hostile_file_name(tmp: Path) -> Case:
    base = model(tmp, "base.csv", CLASSES)
    name = f"[bold]cand{CLEAR}.csv"
    model(tmp, name, CLASSES[: K - 1])
    return Case([base, name], [escaped(name), "lacks 'emu'"], command="compare")
