"""Bad input, through the real command: one line on stderr, exit status 2, nothing touched.

The catalogue: every case writes its files into a folder of its own and runs
``python -m cecli score ...`` (or ``compare``) there, so messages name files
as the user typed them. Each ``score`` case is run with ``--per-sample
existing.csv``, a file that holds sentinel bytes before the run; ``compare``
has no per-sample output, so its cases keep ``existing.png`` beside the
inputs (and one names it with ``--plot``). Every case must give

- exit status 2, nothing on stdout, no traceback;
- exactly one line on stderr, starting ``cecli: error: ``, in UTF-8, with no
  control character in it (hostile names are shown escaped), holding the
  fragments the case lists: the file first, then the row, line and column
  where they apply, and what is wrong;
- every file in the folder as it was, byte for byte: the inputs, the existing
  output file, and no temporary file left beside it.

The cases are in ``bad_input_cases.py`` (files, formats, shapes),
``bad_cell_cases.py`` (cells, quotes, row counts, labels, weights, values,
bytes) and ``bad_hostile_cases.py`` (hostile text, ``compare``). Most run as
real processes, a few at a time; more of the same kinds run in-process
through ``CliRunner`` with the same checks. Inputs that look bad but must
work, and runs that must warn, are in ``test_awkward_input.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import bad_cell_cases as cells
import bad_hostile_cases as hostile
import bad_input_cases as files
import pytest
from bad_input_cases import Case
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import ExitStatus

runner = CliRunner()

#: The output file every case is given, and the bytes it holds before the run.
EXISTING = {"score": "existing.csv", "compare": "existing.png"}
SENTINEL = b"row,loss\nsentinel,0.25\n\x00not written by this run\n"

#: What no line on stderr may hold: C0 and C1 controls, DEL, and the invisible
#: format and bidirectional controls (the error line's own newline is its end).
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def catalogue(*functions: Callable[[Path], Case]) -> dict[str, Callable[[Path], Case]]:
    return {f.__name__: f for f in functions}


#: Run as real processes: the kinds the issues list, one process each.
CASES = catalogue(
    # files and formats
    files.missing_file,
    files.a_directory,
    files.unknown_extension,
    files.empty_file,
    files.header_without_rows,
    files.empty_stdin,
    files.ragged_row,
    files.npy_named_csv,
    files.npy_three_dimensions,
    files.npy_object_dtype,
    files.npy_complex_dtype,
    files.parquet_uneven_lists,
    files.npz_without_usual_names,
    files.two_stdin_arguments,
    # columns, labels and values
    files.non_numeric_cell,
    files.non_numeric_cell_far_down,
    files.unknown_class_names,
    files.ambiguous_label_column,
    files.missing_label_column,
    files.fewer_labels_csv,
    files.more_labels_csv,
    files.fewer_labels_npy,
    files.binary_strings_without_positive,
    files.logits_given_as_probabilities,
    files.rows_not_summing_to_one,
    files.pred_cols_glob_matching_nothing,
    # a bad cell in a column of numbers: never a column left out
    cells.word_in_one_of_two_columns,
    cells.letter_l_in_hard_predictions,
    cells.typo_in_quantised_logits,
    cells.thousands_separator_in_logits,
    cells.hex_floats,
    cells.digit_separator,
    cells.missing_value_marker,
    cells.decimal_comma_in_tsv,
    cells.parquet_numbers_as_text_with_a_word,
    # quotes, headers, row counts
    cells.open_quote_in_a_number_column,
    cells.open_quote_in_a_text_column,
    cells.one_hot_header_read_as_data,
    cells.predictions_without_header_one_row_longer,
    cells.labels_without_header_one_row_longer,
    # labels, weights, values, bytes
    cells.word_among_class_indices,
    cells.word_among_binary_labels,
    cells.word_as_a_weight,
    cells.thousands_separator_in_a_weight,
    cells.negative_weight,
    cells.nan_probability,
    cells.independent_probabilities_as_categorical,
    cells.not_utf8_in_a_prediction_cell,
    cells.utf16_with_a_bad_cell,
    # hostile text
    hostile.file_name_clearing_the_screen,
    hostile.file_name_with_rich_markup,
    hostile.file_name_closing_markup,
    hostile.missing_file_setting_the_title,
    hostile.missing_file_with_a_newline,
    hostile.label_clearing_the_screen,
    hostile.label_with_a_hyperlink,
    hostile.class_names_with_escapes,
    hostile.column_name_with_an_escape,
    # compare
    hostile.compare_dropped_column,
    hostile.compare_dropped_column_to_binary,
    hostile.compare_ids_only_in_the_candidate,
    hostile.compare_ids_only_in_the_baseline,
    hostile.compare_bad_cell_in_the_candidate,
    hostile.compare_labels_on_stdin,
    hostile.compare_hostile_id,
    hostile.compare_hostile_file_name,
)

#: More of the same kinds, checked in-process (CliRunner) to keep the suite fast.
MORE_CASES = catalogue(
    files.missing_labels_file,
    files.compressed_npy,
    files.blank_lines_only,
    files.empty_labels_file,
    files.empty_npy,
    files.empty_cell,
    files.missing_named_label_column,
    files.fewer_labels_csv_than_npy,
    files.gzip_named_csv,
    files.binary_noise_as_csv,
    files.plain_text_named_gz,
    files.not_utf8,
    files.npy_2d_strings,
    files.parquet_null_in_column,
    files.npz_without_usual_label_name,
    files.npz_unknown_key,
    files.three_strings_for_binary,
    files.pred_col_of_text,
    files.npy_on_stdin,
    files.sample_weights_all_zero,
    files.label_column_and_labels_file,
    cells.letter_o_in_hard_predictions,
    cells.percentage,
    cells.dash_for_missing,
    cells.decimal_commas_throughout_tsv,
    cells.empty_cell_in_tsv,
    cells.bad_cell_with_crlf_line_ends,
    cells.open_quote_on_the_last_row,
    cells.labels_headed_by_a_class_index,
    cells.more_fields_than_the_header,
    cells.word_in_the_label_column,
    cells.label_out_of_range,
    cells.negative_label,
    cells.fractional_label,
    cells.empty_label,
    cells.binary_label_two,
    cells.misspelt_boolean_label,
    cells.parquet_word_among_labels,
    cells.nan_weight,
    cells.empty_weight,
    cells.weight_column_missing,
    cells.parquet_weights_as_text_with_a_word,
    cells.nan_logit,
    cells.infinite_probability,
    cells.negative_probability,
    cells.binary_probability_above_one,
    cells.npy_float32_with_nan,
    cells.not_utf8_in_a_label_cell,
    cells.utf16_cut_in_half_a_character,
    hostile.label_reversing_the_text,
    cells.half_the_cells_look_like_numbers,
    cells.bad_cell_far_down_a_tsv_gz,
    cells.parquet_numbers_as_text_bad_past_the_sample,
    cells.digit_separator_in_a_weight,
    hostile.missing_file_reversing_the_text,
    hostile.cell_with_an_escape,
    hostile.option_value_with_an_escape,
    hostile.compare_added_column,
    hostile.compare_ids_differ_both_ways,
    hostile.compare_repeated_id,
    hostile.compare_candidate_one_row_short,
    cells.word_in_a_prediction_cell,
    cells.not_utf8_in_the_first_column,
)

#: Cases that show a bug still open in a file this catalogue does not change.
KNOWN_BUGS: dict[str, str] = {}


def params(cases: dict[str, object]) -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
        if name in KNOWN_BUGS
        else name
        for name in cases
    ]


# -- running a case and checking it -----------------------------------------------------


@dataclass
class Outcome:
    case: Case
    folder: Path
    before: dict[str, object]
    status: int = -1
    stdout: bytes = b""
    stderr: bytes = b""
    after: dict[str, object] = field(default_factory=dict)


def snapshot(folder: Path) -> dict[str, object]:
    """Every file and folder under ``folder``: its bytes' digest, size, mode and mtime."""
    found: dict[str, object] = {}
    for root, folders, names in os.walk(folder):
        for name in folders:
            found[os.path.relpath(os.path.join(root, name), folder)] = "folder"
        for name in names:
            path = os.path.join(root, name)
            info = os.lstat(path)
            try:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except PermissionError:
                digest = None
            found[os.path.relpath(path, folder)] = (
                digest,
                info.st_size,
                info.st_mode,
                info.st_mtime_ns,
            )
    return found


def output_args(case: Case) -> list[str]:
    """``--per-sample existing.csv`` for score. compare writes no per-sample file; its
    cases keep ``existing.png`` beside the inputs, and one names it with ``--plot``."""
    return ["--per-sample", EXISTING["score"]] if case.command == "score" else []


def prepare(make_case: Callable[[Path], Case], folder: Path) -> Outcome:
    case = make_case(folder)
    (folder / EXISTING[case.command]).write_bytes(SENTINEL)
    return Outcome(case, folder, snapshot(folder))


def run(outcome: Outcome) -> Outcome:
    case = outcome.case
    result = subprocess.run(
        [sys.executable, "-m", "cecli", case.command, *case.args, *output_args(case)],
        input=case.stdin,
        capture_output=True,
        cwd=outcome.folder,
        timeout=120,
    )
    outcome.status, outcome.stdout, outcome.stderr = (
        result.returncode,
        result.stdout,
        result.stderr,
    )
    outcome.after = snapshot(outcome.folder)
    return outcome


def check(outcome: Outcome) -> None:
    """One line on stderr that starts ``cecli: error: `` and holds every fragment; status 2;
    nothing on stdout; every file in the folder as it was."""
    stdout = outcome.stdout.decode("utf-8", "replace")
    stderr = outcome.stderr.decode("utf-8")  # the line is UTF-8 text, whatever the input
    assert "Traceback" not in stdout + stderr, stderr
    assert outcome.status == ExitStatus.INPUT_ERROR, stderr
    assert stdout == ""
    assert stderr.startswith("cecli: error: "), stderr
    assert stderr.endswith("\n"), stderr
    assert stderr.count("\n") == 1, stderr
    assert not CONTROLS.search(stderr[:-1]), f"a control character reached stderr: {stderr!r}"
    for fragment in outcome.case.fragments:
        assert fragment in stderr, f"{fragment!r} not in {stderr!r}"
    # inputs unchanged, the existing output kept byte for byte, no temporary file left
    assert outcome.after == outcome.before
    output = EXISTING[outcome.case.command]
    assert (outcome.folder / output).read_bytes() == SENTINEL
    assert not list(outcome.folder.glob(f".{output}.*.tmp"))


def run_all(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    """The processes, a few at a time: each is mostly a process start."""
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(run, outcome) for name, outcome in outcomes.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every process case's files and run."""
    return run_all(
        {name: prepare(make, tmp_path_factory.mktemp(name)) for name, make in CASES.items()}
    )


@pytest.mark.parametrize("name", params(CASES))
def test_bad_input_is_one_line_on_stderr_and_exit_status_2(name, outcomes):
    check(outcomes[name])


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    check(run(prepare(files.unreadable_file, tmp_path)))


@pytest.mark.parametrize("name", params(MORE_CASES))
def test_more_bad_input_in_process(name, tmp_path, monkeypatch):
    outcome = prepare(MORE_CASES[name], tmp_path)
    case = outcome.case
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [case.command, *case.args, *output_args(case)], input=case.stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    outcome.status = result.exit_code
    outcome.stdout, outcome.stderr = result.stdout.encode(), result.stderr.encode()
    outcome.after = snapshot(tmp_path)
    check(outcome)


def test_the_catalogue_holds_seventy_distinct_cases():
    assert not set(CASES) & set(MORE_CASES)
    assert len(CASES) + len(MORE_CASES) >= 70
