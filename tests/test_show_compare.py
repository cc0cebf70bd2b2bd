"""``cecli compare --show COLUMN[,COLUMN]``: the baseline's columns carried into the listed rows.

The reference for every value is the input file read again with pandas, as
text (``dtype=str``, an empty cell missing), row number to cell; numbers are
compared as numbers. The hostile values are tests/test_hostile_output.py's,
with their escaped forms written out by hand for the terminal and markdown.
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from html_page import Page
from json_close import assert_close as close
from test_hostile_output import HOSTILE as HOSTILE_IDS
from test_hostile_output import assert_inert, cecli, write_csv
from test_html import assert_inert as assert_inert_page

#: (value in the file, at a terminal, in markdown, in a CSV cell): tests/test_hostile_output.py's
#: and two more, a spreadsheet command and a script.
HOSTILE = [
    *HOSTILE_IDS,
    (
        "=cmd|' /C calc'!A0",
        "=cmd|' /C calc'!A0",
        r"\=cmd\|\' \/C calc\'\!A0",
        "'=cmd|' /C calc'!A0",
    ),
    (
        "<script>alert(1)</script>",
        "<script>alert(1)</script>",
        r"&lt;script&gt;alert\(1\)&lt;\/script&gt;",
        "<script>alert(1)</script>",
    ),
]
RAW = [h[0] for h in HOSTILE]

CLASSES = ["cat", "dog", "emu"]
LISTS = ("regressions", "fixed", "largest_increases")
#: A lower threshold than the default, so that some rows regress and some are fixed; the
#: baseline's ``score`` is numbers, which would be read as a class without --pred-cols
#: (unless --show names it: a shown column is never taken as a prediction).
QUICK = ["--bootstrap", "200", "--threshold", "0.6", "--pred-cols", "cat,dog,emu"]


def _probs(rng, labels, sharp, noise):
    logits = rng.normal(0, noise, (len(labels), len(CLASSES)))
    logits[np.arange(len(labels)), labels] += sharp
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def write_models(folder, n=240, seed=0):
    """Two models of the same rows; the baseline carries ``caption``, ``image`` and ``score``.

    Every 9th caption is empty (missing); the scores are written as Python's
    ``repr`` writes them, every 5th a whole number.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    base = pd.DataFrame(_probs(rng, labels, 2.0, 1.2), columns=CLASSES)
    base.insert(0, "id", [f"r{i:03d}" for i in range(n)])
    base["label"] = np.array(CLASSES)[labels]
    base["caption"] = [
        "" if i % 9 == 4 else f"a {CLASSES[labels[i]]}, number {i}" for i in range(n)
    ]
    base["image"] = [f"img/{i:03d}.png" for i in range(n)]
    score = rng.uniform(-5, 5, n)
    score[::5] = np.round(score[::5])
    base["score"] = [repr(float(s)) for s in score]
    cand = pd.DataFrame(_probs(rng, labels, 2.0, 1.6), columns=CLASSES)
    cand.insert(0, "id", base["id"])
    cand["label"] = base["label"]
    folder.mkdir(exist_ok=True)
    base.to_csv(folder / "base.csv", index=False)
    cand.to_csv(folder / "cand.csv", index=False)
    return folder / "base.csv", folder / "cand.csv"


@pytest.fixture
def models(tmp_path):
    return write_models(tmp_path / "models")


def reference(path, names):
    """Row number -> {name: cell} of ``path``, read by pandas as text; an empty cell is None."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {row: {name: (frame[name][row] or None) for name in names} for row in range(len(frame))}


def listed(document):
    return [r for key in LISTS for r in document[key]]


def compare_json(*args):
    result = cecli("compare", *args, "-f", "json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_the_listed_rows_carry_the_baselines_values(models):
    base, cand = models
    document = compare_json(base, cand, *QUICK, "--top", "0", "--show", "caption,image,score")
    assert all(document[key] for key in LISTS)  # each list has rows to check
    expected = reference(base, ["caption", "image", "score"])
    for r in listed(document):
        shown = r["show"]
        assert list(shown) == ["caption", "image", "score"]  # in the order asked
        assert shown["caption"] == expected[r["row"]]["caption"]
        assert shown["image"] == expected[r["row"]]["image"]
        assert shown["score"] == expected[r["row"]]["score"]  # only shown: the text as written
        assert r["id"] == f"r{r['row']:03d}"
    missing = [r for r in listed(document) if r["row"] % 9 == 4]
    assert missing
    assert all(r["show"]["caption"] is None for r in missing)
    whole = [r for r in listed(document) if r["row"] % 5 == 0]
    assert whole
    assert all(re.fullmatch(r"-?\d+\.0", r["show"]["score"]) for r in whole)  # as written


def test_without_show_the_rows_have_no_show_key_and_are_the_same(models):
    base, cand = models
    plain = compare_json(base, cand, *QUICK, "--top", "4")
    shown = compare_json(base, cand, *QUICK, "--top", "4", "--show", "caption")
    assert all("show" not in r for r in listed(plain))
    for r in listed(shown):
        r.pop("show")
    assert shown == plain


def test_the_labels_file_can_hold_the_columns(models, tmp_path):
    base, cand = models
    frame = pd.read_csv(base, dtype=str, keep_default_na=False)
    frame[["label", "caption", "image"]].to_csv(tmp_path / "labels.csv", index=False)
    for model in (base, cand):
        pd.read_csv(model).drop(columns=["label", "caption", "image", "score"], errors="ignore")\
            .to_csv(tmp_path / f"{model.stem}_preds.csv", index=False)  # fmt: skip
    preds = [tmp_path / "base_preds.csv", tmp_path / "cand_preds.csv"]
    args = [*preds, tmp_path / "labels.csv", *QUICK, "--top", "0", "--show", "image,caption"]
    document = compare_json(*args)
    expected = reference(tmp_path / "labels.csv", ["image", "caption"])
    assert listed(document)
    for r in listed(document):
        assert r["show"] == expected[r["row"]]


def test_rows_joined_by_id_show_the_baselines_values_of_each_row(models, tmp_path):
    base, cand = models
    shuffled = pd.read_csv(cand).sample(frac=1.0, random_state=3)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    args = ["--id-col", "id", *QUICK, "--top", "0", "--show", "caption"]
    document = compare_json(base, tmp_path / "shuffled.csv", *args)
    in_order = compare_json(base, cand, *args)
    expected = reference(base, ["caption"])
    assert listed(document)
    for r in listed(document):
        assert r["show"] == expected[r["row"]]
    assert document["largest_increases"] == in_order["largest_increases"]


def test_rows_left_out_by_ignore_label_keep_their_numbers_in_the_input(models):
    base, cand = models
    document = compare_json(base, cand, *QUICK, "--top", "0", "--ignore-label", "emu",
                            "--show", "caption")  # fmt: skip
    labels = pd.read_csv(base)["label"]
    expected = reference(base, ["caption"])
    assert listed(document)
    for r in listed(document):
        assert labels[r["row"]] != "emu"
        assert r["show"] == expected[r["row"]]


def test_many_chunks_give_the_answer_of_one(models, monkeypatch):
    from cecli.spill import ShownSpill

    parquet = []
    for model in models:  # a CSV this small is one block; Parquet is cut at --chunk-size
        frame = pd.read_csv(model, dtype={"caption": str}, keep_default_na=False)
        frame.to_parquet(model.with_suffix(".parquet"), row_group_size=50)
        parquet.append(model.with_suffix(".parquet"))
    writes = []
    write = ShownSpill.write

    def counted(self, first_row, columns):
        writes.append((first_row, len(columns[0])))
        write(self, first_row, columns)

    monkeypatch.setattr(ShownSpill, "write", counted)
    args = [*parquet, *QUICK, "--top", "5", "--show", "caption,image,score"]
    whole = compare_json(*args)
    assert writes == [(0, 240)]
    writes.clear()
    chunked = compare_json(*args, "--chunk-size", "1K")  # 42 rows of 3 classes
    assert len(writes) == 6  # the baseline's columns came in many chunks, in order
    assert [w[0] for w in writes] == np.cumsum([0] + [w[1] for w in writes[:-1]]).tolist()
    for key in LISTS:  # the rows and their values exactly; the sums to rounding
        assert chunked[key] == whole[key]
    close(chunked, whole)
    expected = reference(models[0], ["caption", "image"])
    assert listed(whole)
    for r in listed(whole):
        assert {k: r["show"][k] for k in ("caption", "image")} == expected[r["row"]]


def test_on_workers_the_rows_carry_the_serial_runs_values(models, tmp_path, cluster):
    pytest.importorskip("distributed")
    base, cand = models
    cuts = [0, 97, 98, 98, 150, 240]  # a 1-row shard pair and an empty one
    for name, model in (("b", base), ("c", cand)):
        frame = pd.read_csv(model, dtype=str, keep_default_na=False)
        (tmp_path / name).mkdir()
        for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
            frame.iloc[lo:hi].to_csv(tmp_path / name / f"part-{i}.csv", index=False)
    shards = [str(tmp_path / "b" / "*.csv"), str(tmp_path / "c" / "*.csv")]
    args = [*QUICK, "--top", "6", "--ci-method", "poisson", "--show", "caption,score"]
    serial = compare_json(*shards, *args)
    address = cluster.scheduler.address
    on_workers = compare_json(*shards, *args, "--dask", address)
    expected = reference(base, ["caption", "score"])
    assert listed(serial)
    for key in LISTS:
        assert on_workers[key] == serial[key]
    for r in listed(on_workers):
        assert r["show"]["caption"] == expected[r["row"]]["caption"]
        assert float(r["show"]["score"]) == float(expected[r["row"]]["score"])


@pytest.fixture
def hostile(tmp_path):
    """A row per hostile value, its ``caption``; the candidate's loss is higher on every row."""
    n = len(RAW)
    header = ["id", "a", "b", "label", "caption", "image"]
    base = [[f"r{i}", 0.9, 0.1, "a", RAW[i], f"img/{i}.png"] for i in range(n)]
    cand = [[f"r{i}", 0.8 - 0.01 * i, 0.2 + 0.01 * i, "a"] for i in range(n)]
    return (
        write_csv(tmp_path / "base.csv", header, base),
        write_csv(tmp_path / "cand.csv", header[:4], cand),
    )


#: A listed row at the terminal: its id, label, both predictions, the losses, the shown cells.
TABLE_ROW = re.compile(
    r"^  r(\d+) +a +a \(\d\.\d\d\) +a \(\d\.\d\d\) +(\d\.\d{3} -> \d\.\d{3})(?:   (.*))?$"
)


def table_rows(out: str) -> dict[int, tuple[str, str]]:
    """Row number -> (the losses, the shown cells as one string) of each listed row."""
    found = [TABLE_ROW.match(line) for line in out.splitlines()]
    return {int(m[1]): (m[2], (m[3] or "").rstrip()) for m in found if m}


def assert_shown_as(cell: str, visible: str) -> None:
    """``cell`` is ``visible``, or its start cut with an ellipsis (no narrower than 6)."""
    if cell.endswith("…") and cell != visible:
        assert visible.startswith(cell[:-1]), (cell, visible)
        assert len(cell) >= 6, cell
    else:
        assert cell == visible


def test_hostile_values_are_escaped_at_the_terminal(hostile):
    result = cecli("compare", *hostile, "--top", "0", "--show", "caption")
    assert result.exit_code == 0, result.stderr
    out = assert_inert(result.stdout)
    rows = table_rows(out)
    assert sorted(rows) == list(range(len(RAW)))
    for i, (_raw, terminal, _md, _csv) in enumerate(HOSTILE):
        assert_shown_as(rows[i][1], terminal)
    assert any(cell.endswith("…") for _, cell in rows.values())  # the longest are cut


def test_a_narrow_terminal_cuts_the_shown_columns_not_the_numbers(hostile):
    wide = table_rows(cecli("compare", *hostile, "--top", "0").stdout)
    result = cecli("compare", *hostile, "--top", "0", "--show", "image,caption",
                   env={"COLUMNS": "90"})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert max(map(len, result.stdout.splitlines())) <= 90
    rows = table_rows(result.stdout)
    assert sorted(rows) == sorted(wide) == list(range(len(RAW)))
    for i, (losses, cells) in rows.items():
        assert losses == wide[i][0]  # the numbers whole
        image, caption = re.split(r"   +", cells, maxsplit=1)  # no value holds 3 spaces
        assert_shown_as(image, f"img/{i}.png")
        assert_shown_as(caption, HOSTILE[i][1])


def test_hostile_values_are_escaped_in_markdown(hostile):
    result = cecli("compare", *hostile, "--top", "0", "--show", "caption", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\| \d+ \| r\d+ \|", line)]
    assert len(rows) == len(RAW)  # each a table row of its own: no newline got through
    by_row = {int(line.split(" | ")[0][2:]): line for line in rows}
    for i, (_raw, _terminal, md, _csv) in enumerate(HOSTILE):
        assert by_row[i].endswith(f" | {md} |"), (by_row[i], md)
        assert by_row[i].count(" | ") == 7  # eight cells: no pipe of the value splits one


def test_hostile_values_keep_their_text_in_json(hostile):
    result = cecli("compare", *hostile, "--top", "0", "--show", "caption", "-f", "json")
    document = json.loads(result.stdout)
    assert {r["row"]: r["show"]["caption"] for r in document["largest_increases"]} == dict(
        enumerate(RAW)
    )


def test_compare_csv_is_the_summary_and_holds_no_shown_value(hostile):
    plain = cecli("compare", *hostile, "--top", "0", "-f", "csv")
    shown = cecli("compare", *hostile, "--top", "0", "--show", "caption", "-f", "csv")
    assert shown.exit_code == plain.exit_code == 0
    assert shown.stdout == plain.stdout


def test_hostile_values_are_text_on_the_page_and_images_thumbnails(hostile, tmp_path):
    target = tmp_path / "compare.html"
    result = cecli("compare", *hostile, "--top", "0", "--show", "caption,image", "--html", target)
    assert result.exit_code == 0, result.stderr
    page = Page(target.read_text(encoding="utf-8"))
    assert_inert_page(page)
    rows = [int(r) for r in page.column("largest_increases", "row")]
    assert sorted(rows) == list(range(len(RAW)))
    captions = page.column("largest_increases", "caption")
    assert captions == [HOSTILE[r][1] for r in rows]  # the terminal's text, as a person reads
    sources = [a["src"] for a in page.elements("img")]
    assert sources == [f"img/{r}.png" for r in rows]


@pytest.mark.parametrize(
    ("show", "says"),
    [
        ("nope", "--show 'nope': no such column in "),
        ("caption,nope", "--show 'nope': no such column in "),
        (",", "--show names columns, such as --show caption,image; got ','."),
    ],
)
def test_a_column_that_is_not_there_is_one_line_and_exit_2(models, show, says):
    base, cand = models
    result = cecli("compare", base, cand, "--show", show)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    assert says in lines[0]
    if show != ",":
        assert str(base) in lines[0]
    assert "Traceback" not in result.stderr


def test_a_column_of_the_candidate_alone_is_not_shown(models, tmp_path):
    base, cand = models
    frame = pd.read_csv(cand)
    frame["note"] = "x"
    frame.to_csv(tmp_path / "cand_note.csv", index=False)
    result = cecli("compare", base, tmp_path / "cand_note.csv", "--show", "note")
    assert result.exit_code == 2
    assert f"--show 'note': no such column in {base}" in result.stderr
