"""Options as a person types them: errors name the flag, choices ignore case, help is plain.

Each option error the command line can meet is one line on stderr that names
the flag (never the Python parameter), the value given and the range allowed,
with exit status 2 and no traceback; the Python API names its parameter. A
percentage hint appears only when the value reads as a percentage whose
fraction is in range (the rule is written out below, independently of the code).
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import cecli
from cecli.accumulate import Accumulator
from cecli.bootstrap import check_bootstrap_options, paired_bootstrap
from cecli.calibration import CalibrationAccumulator
from cecli.cli import app, main
from cecli.errors import CecliError, OptionError
from cecli.options import FLAGS
from cecli.report import check_gate_limits, check_max_increase

runner = CliRunner()


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Two models' probabilities for a 3-class problem, with a label column."""
    folder = tmp_path_factory.mktemp("options")
    rng = np.random.default_rng(12)
    n, k = 40, 3
    y = rng.integers(0, k, n)
    paths = {}
    for name, boost in (("base", 1.0), ("cand", 2.0)):
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), y] += boost
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        lines = ["cat,dog,bird,label"]
        lines += [
            ",".join(repr(float(p)) for p in row) + f",{c}" for row, c in zip(probs, y, strict=True)
        ]
        paths[name] = folder / f"{name}.csv"
        paths[name].write_text("\n".join(lines) + "\n")
        # the same bytes under an extension cecli does not know: only --input-format reads it
        paths[f"{name}_dat"] = folder / f"{name}.dat"
        paths[f"{name}_dat"].write_text("\n".join(lines) + "\n")
    return paths


def error_line(result) -> str:
    """The one line of an error: exit status 2, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    return lines[0]


def percent_reading(value: float, low: float, high: float, open_low: bool, open_high: bool):
    """The rule, written out: a value from 2 to 100 whose hundredth lies in the range."""
    fraction = value / 100
    fits = (fraction > low if open_low else fraction >= low) and (
        fraction < high if open_high else fraction <= high
    )
    return fraction if 2 <= value <= 100 and fits else None


# -- every option error names its flag -------------------------------------------------

# (command, extra args, flag, value as shown, range as shown, interval for the hint or None)
UNIT = (0.0, 1.0)
SCORE_CASES = [
    (["--threshold", "90"], "--threshold", "got 90", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "0"], "--threshold", "got 0", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "-0.5"], "--threshold", "got -0.5", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "1.5"], "--threshold", "got 1.5", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "100"], "--threshold", "got 100", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "150"], "--threshold", "got 150", "(0, 1]", (*UNIT, True, False)),
    (["--threshold", "nan"], "--threshold", "got NaN", "(0, 1]", None),
    (["--label-smoothing", "10"], "--label-smoothing", "got 10", "[0, 1]", (*UNIT, False, False)),
    (["--label-smoothing", "1.5"], "--label-smoothing", "got 1.5", "[0, 1]", (*UNIT, False, False)),
    (["--label-smoothing", "-0.1"], "--label-smoothing", "got -0.1", "[0, 1]", None),
    (["--focal-gamma", "-1"], "--focal-gamma", "got -1", ">= 0", None),
    (["--focal-gamma", "inf"], "--focal-gamma", "got +inf", ">= 0", None),
    (["--focal-alpha", "-1"], "--focal-alpha", "got -1", ">= 0", None),
    (["--focal-alpha", "1,2"], "--focal-alpha", "has 2 values", "3 classes", None),
    (["--focal-alpha", "1,x"], "--focal-alpha", "got '1,x'", "numbers such as", None),
    (["--pos-weight", "2"], "--pos-weight", "applies to binary", "multilabel targets", None),
    (["--pos-weight", "one"], "--pos-weight", "got 'one'", "numbers such as", None),
    (["--eps", "0.6"], "--eps", "got 0.6", "(0, 0.5)", None),
    (["--eps", "0"], "--eps", "got 0", "(0, 0.5)", None),
    (["--eps", "5"], "--eps", "got 5", "(0, 0.5)", None),
    (["--eps", "tiny"], "--eps", "got 'tiny'", "(0, 0.5)", None),
    (["--top", "-1"], "--top", "got -1", ">= 0", None),
    (["--calibration", "--bins", "0"], "--bins", "got 0", "from 1 to 1000", None),
    (["--calibration", "--bins", "2000"], "--bins", "got 2000", "from 1 to 1000", None),
    (["--max-flagged", "-1"], "--max-flagged", "got -1", ">= 0", None),
    (["--min-accuracy", "95"], "--min-accuracy", "got 95", "[0, 1]", (*UNIT, False, False)),
    (["--min-accuracy", "1.5"], "--min-accuracy", "got 1.5", "[0, 1]", (*UNIT, False, False)),
    (["--min-accuracy", "100"], "--min-accuracy", "got 100", "[0, 1]", (*UNIT, False, False)),
    (["--min-accuracy", "-0.1"], "--min-accuracy", "got -0.1", "[0, 1]", None),
    (["--fail-above", "-1"], "--fail-above", "got -1", ">= 0", None),
    (["--fail-above", "nan"], "--fail-above", "got nan", ">= 0", None),
    (["--class-weights", "1,2"], "--class-weights", "has 2 class weights", "3 classes", None),
    (["--class-weights", "1,2,3,4"], "--class-weights", "has 4", "3 classes", None),
    (["--class-weights", "1,-2,1"], "--class-weights", "weight -2", "non-negative", None),
    (["--class-weights", "1,nan,1"], "--class-weights", "weight NaN", "finite", None),
    (["--class-weights", "0,0,0"], "--class-weights", "sum to zero", "positive weight", None),
    (["--chunk-size", "0"], "--chunk-size", "got '0'", "at least 1 byte", None),
    (["--chunk-size", "lots"], "--chunk-size", "got 'lots'", "64M", None),
]
COMPARE_CASES = [
    (["--confidence", "95"], "--confidence", "got 95", "(0, 1)", (*UNIT, True, True)),
    (["--confidence", "100"], "--confidence", "got 100", "(0, 1)", (*UNIT, True, True)),
    (["--confidence", "1.5"], "--confidence", "got 1.5", "(0, 1)", (*UNIT, True, True)),
    (["--confidence", "0"], "--confidence", "got 0", "(0, 1)", (*UNIT, True, True)),
    (["--bootstrap", "0"], "--bootstrap", "got 0", "from 1 to 10,000,000", None),
    (["--bootstrap", "-5"], "--bootstrap", "got -5", "from 1 to 10,000,000", None),
    (["--bootstrap", "100000000000"], "--bootstrap", "got 100000000000", "to 10,000,000", None),
    (["--seed", "-1"], "--seed", "got -1", ">= 0", None),
    (["--max-increase", "nan"], "--max-increase", "got nan", "finite", None),
    (["--max-increase", "inf"], "--max-increase", "got inf", "finite", None),
    (["--top", "-3"], "--top", "got -3", ">= 0", None),
    (["--threshold", "90"], "--threshold", "got 90", "(0, 1]", (*UNIT, True, False)),
    (["--label-smoothing", "2"], "--label-smoothing", "got 2", "[0, 1]", (*UNIT, False, False)),
    (["--focal-gamma", "-2"], "--focal-gamma", "got -2", ">= 0", None),
    (["--focal-alpha", "-2"], "--focal-alpha", "got -2", ">= 0", None),
    (["--pos-weight", "3"], "--pos-weight", "applies to binary", "multilabel targets", None),
    (["--eps", "0.7"], "--eps", "got 0.7", "(0, 0.5)", None),
    (["--class-weights", "1,2"], "--class-weights", "has 2 class weights", "3 classes", None),
]


def check_option_line(line: str, flag: str, value: str, allowed: str, interval) -> None:
    assert f"cecli: error: {flag} " in line
    assert value in line
    assert allowed in line
    # the command line never shows the Python name of the parameter
    python_name = next((k for k, v in FLAGS.items() if v == flag), None)
    if python_name and "_" in python_name:
        assert python_name not in line
    if interval is None:
        assert "%, write" not in line
        return
    given = float(re.search(r"got (-?\d+(?:\.\d+)?)", line).group(1))
    expected = percent_reading(given, *interval)
    hint = re.search(r"\(for ([\d.]+)%, write ([\d.e-]+)\)", line)
    if expected is None:
        assert hint is None, line
    else:
        assert hint is not None, line
        assert float(hint.group(1)) == given
        assert float(hint.group(2)) == pytest.approx(expected)


@pytest.mark.parametrize(("args", "flag", "value", "allowed", "interval"), SCORE_CASES)
def test_a_bad_score_option_names_its_flag_value_and_range(
    problem, args, flag, value, allowed, interval
):
    result = runner.invoke(app, ["score", str(problem["base"]), *args])
    check_option_line(error_line(result), flag, value, allowed, interval)


@pytest.mark.parametrize(("args", "flag", "value", "allowed", "interval"), COMPARE_CASES)
def test_a_bad_compare_option_names_its_flag_value_and_range(
    problem, args, flag, value, allowed, interval
):
    result = runner.invoke(
        app, ["compare", str(problem["base"]), str(problem["cand"]), "--bootstrap", "50", *args]
    )
    check_option_line(error_line(result), flag, value, allowed, interval)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["score", "missing.csv", "--threshold", "90"], "--threshold"),
        (["score", "missing.csv", "--min-accuracy", "95"], "--min-accuracy"),
        (["score", "missing.csv", "--max-flagged", "-1"], "--max-flagged"),
        (["score", "missing.csv", "--eps", "1"], "--eps"),
        (["compare", "missing.csv", "gone.csv", "--confidence", "95"], "--confidence"),
        (["compare", "missing.csv", "gone.csv", "--seed", "-4"], "--seed"),
        (["compare", "missing.csv", "gone.csv", "--focal-gamma", "-1"], "--focal-gamma"),
        (["score", "missing.csv", "--focal-alpha", "-1"], "--focal-alpha"),
        (["score", "missing.csv", "--pos-weight", "1,nan"], "--pos-weight"),
    ],
)
def test_a_bad_option_is_refused_before_any_file_is_read(tmp_path, monkeypatch, args, flag):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, "--per-sample", "out.csv"] if args[0] == "score" else args)
    assert error_line(result).startswith(f"cecli: error: {flag} ")
    assert list(tmp_path.iterdir()) == []  # no per-sample file, nor its temporary


def test_class_weight_errors_are_the_option_s_not_the_weight_column_s(tmp_path):
    path = tmp_path / "weighted.csv"
    path.write_text("a,b,w,label\n0.2,0.8,1,1\n0.6,0.4,2,0\n0.3,0.7,1,1\n")
    for weights, words in (("1,2,3", "has 3 class weights"), ("1,-1", "weight -1")):
        args = ["score", str(path), "--weight-col", "w", "--class-weights", weights]
        line = error_line(runner.invoke(app, args))
        assert line.startswith("cecli: error: --class-weights ")
        assert words in line
        assert "weighted.csv" not in line


@pytest.mark.parametrize(
    ("weights", "words"),
    [("balanced", 'cannot be "balanced"'), ("1,2", "has 2 label weights but there are 3 labels")],
)
def test_multilabel_class_weight_errors_name_the_flag(tmp_path, weights, words):
    preds, targets = tmp_path / "p.csv", tmp_path / "t.csv"
    preds.write_text("a,b,c\n0.2,0.8,0.5\n0.6,0.4,0.3\n")
    targets.write_text("a,b,c\n1,0,1\n0,1,1\n")
    args = ["score", str(preds), str(targets), "--kind", "MultiLabel", "--class-weights", weights]
    line = error_line(runner.invoke(app, args))
    assert line.startswith("cecli: error: --class-weights ")
    assert words in line
    assert "class_weights" not in line


def test_every_flag_in_the_table_is_an_option_and_every_name_a_core_parameter():
    group = typer.main.get_command(app)
    options = {opt for command in group.commands.values() for p in command.params for opt in p.opts}
    assert set(FLAGS.values()) <= options
    parameters = set()
    for call in (
        Accumulator,
        CalibrationAccumulator,
        paired_bootstrap,
        check_gate_limits,
        check_max_increase,
    ):
        parameters |= set(inspect.signature(call).parameters)
    assert set(FLAGS) <= parameters


# -- the Python API names its parameters --------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name", "words"),
    [
        (lambda: Accumulator(threshold=90), "threshold", "(0, 1]; got 90 (for 90%, write 0.9)"),
        (lambda: Accumulator(label_smoothing=-1), "label_smoothing", "[0, 1]; got -1."),
        (lambda: Accumulator(focal_gamma=-1), "focal_gamma", ">= 0; got -1"),
        (lambda: Accumulator(eps=0.5), "eps", "(0, 0.5); got 0.5"),
        (lambda: Accumulator(base=3), "base", "got 3"),
        (lambda: Accumulator("multiclass"), "kind", "got 'multiclass'"),
        (lambda: Accumulator(keep=-1), "keep", "None for all; got -1"),
        (lambda: CalibrationAccumulator(n_bins=0), "n_bins", ">= 1; got 0"),
        (
            lambda: cecli.categorical_cross_entropy([0, 1], [[0.9, 0.1], [0.2, 0.8]], eps="x"),
            "eps",
            "got 'x'",
        ),
        (
            lambda: cecli.categorical_cross_entropy(
                [0, 1], [[0.9, 0.1], [0.2, 0.8]], class_weights=[1, 2, 3]
            ),
            "class_weights",
            "has 3 class weights but there are 2 classes",
        ),
        (lambda: check_gate_limits(min_accuracy=95), "min_accuracy", "got 95 (for 95%"),
        (lambda: check_gate_limits(min_accuracy=1.5), "min_accuracy", "[0, 1]; got 1.5."),
        (lambda: check_gate_limits(fail_above=-2), "fail_above", ">= 0; got -2"),
        (lambda: check_gate_limits(max_flagged=-1), "max_flagged", ">= 0; got -1"),
        (lambda: check_max_increase(float("inf")), "max_increase", "finite number; got inf"),
        (lambda: check_bootstrap_options(confidence=100), "confidence", "(0, 1); got 100."),
        (lambda: check_bootstrap_options(n_resamples=0), "n_resamples", "from 1 to 10,000,000"),
        (lambda: check_bootstrap_options(seed=-1), "seed", ">= 0; got -1"),
        (lambda: check_bootstrap_options(method="basic"), "method", "got 'basic'"),
        (lambda: paired_bootstrap([0.1, 0.2], confidence=95), "confidence", "write 0.95"),
    ],
)
def test_the_python_api_names_its_parameter(call, name, words):
    with pytest.raises(CecliError) as raised:
        call()
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert message.startswith(f"{name} ")
    assert words in message
    assert "--" not in message
    assert raised.value.option == name


def test_naming_an_error_keeps_its_kind_and_detail():
    error = OptionError("must lie in (0, 1]; got 90.", option="threshold")
    named = error.naming("--threshold")
    assert type(named) is OptionError
    assert str(named) == "--threshold must lie in (0, 1]; got 90."
    assert named.option == "--threshold"
    assert OptionError("no option here").naming("--x").option is None


@pytest.mark.parametrize(
    "value", [1.01, 1.5, 1.99, 2, 5, 10, 50, 90, 99.5, 100, 100.5, 150, 1000, -5, 0.5, -0.1]
)
@pytest.mark.parametrize(
    ("check", "interval"),
    [
        (lambda v: Accumulator(threshold=v), (0.0, 1.0, True, False)),
        (lambda v: Accumulator(label_smoothing=v), (0.0, 1.0, False, False)),
        (lambda v: check_bootstrap_options(confidence=v), (0.0, 1.0, True, True)),
        (lambda v: check_gate_limits(min_accuracy=v), (0.0, 1.0, False, False)),
    ],
    ids=["threshold", "label_smoothing", "confidence", "min_accuracy"],
)
def test_a_percentage_hint_only_when_it_reads_as_one_and_fits(check, interval, value):
    low, high, open_low, open_high = interval
    in_range = (value > low if open_low else value >= low) and (
        value < high if open_high else value <= high
    )
    if in_range:
        check(value)  # no error at all
        return
    with pytest.raises(OptionError) as raised:
        check(value)
    expected = percent_reading(value, *interval)
    hint = re.search(r"\(for ([\d.]+)%, write ([\d.e-]+)\)", str(raised.value))
    assert (hint is None) == (expected is None), str(raised.value)
    if hint is not None:
        assert float(hint.group(2)) == pytest.approx(expected)


# -- choices ignore case --------------------------------------------------------------


def score_json(*args) -> dict:
    result = runner.invoke(app, ["score", *map(str, args), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("option", "spellings"),
    [
        ("--kind", ["categorical", "CATEGORICAL", "Categorical"]),
        ("--base", ["e", "E"]),
        ("--eps", ["auto", "AUTO", "Auto"]),
        ("--class-weights", ["balanced", "BALANCED", "Balanced"]),
    ],
)
def test_score_choices_ignore_case(problem, option, spellings):
    reports = [score_json(problem["base"], option, spelling) for spelling in spellings]
    assert all(report == reports[0] for report in reports)


def test_the_input_format_ignores_case(problem):
    unknown = runner.invoke(app, ["score", str(problem["base_dat"])])
    assert unknown.exit_code == 2  # the extension alone does not say how to read it
    reports = [
        score_json(problem["base_dat"], "--input-format", spelling)
        for spelling in ("csv", "CSV", "Csv")
    ]
    assert all(report == reports[0] for report in reports)
    assert reports[0]["n_samples"] == 40


def test_the_output_format_and_base_ignore_case(problem):
    lower = score_json(problem["base"], "--base", "e")
    result = runner.invoke(app, ["score", str(problem["base"]), "-f", "JSON", "--base", "E"])
    assert json.loads(result.stdout) == lower
    assert lower["unit"] == "nats"


def test_compare_choices_ignore_case(problem):
    def compare_json(*args):
        argv = ["compare", str(problem["base"]), str(problem["cand"]), "--bootstrap", "200"]
        result = runner.invoke(app, [*argv, *args, "-f", "Json"])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    for spellings in (["bca", "BCA", "Bca"], ["percentile", "PERCENTILE"]):
        reports = [compare_json("--ci-method", s, "--kind", "CATEGORICAL") for s in spellings]
        assert all(report == reports[0] for report in reports)
        assert reports[0]["bootstrap"]["method"] in ("bca", "percentile")


# -- help --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("score", "Usage: cecli score [OPTIONS] PREDICTIONS [LABELS]"),
        ("compare", "Usage: cecli compare [OPTIONS] BASELINE CANDIDATE [LABELS]"),
    ],
)
def test_the_usage_line_is_a_plain_synopsis(command, usage):
    result = runner.invoke(app, [command, "--help"], prog_name="cecli")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == usage
    assert "{" not in result.stdout
    assert "[[" not in result.stdout


EXIT_MEANINGS = {
    0: "gate passed",
    1: "a gate failed",
    2: "usage or input error",
    3: "internal error",
    129: "SIGHUP",
    130: "SIGINT",
    143: "SIGTERM",
}


@pytest.mark.parametrize("args", [["--help"], ["score", "--help"], ["compare", "--help"]])
def test_help_says_what_each_exit_status_means(args):
    result = runner.invoke(app, args, prog_name="cecli")
    assert result.exit_code == 0
    text = result.stdout
    assert "Exit status:" in text
    for status, meaning in EXIT_MEANINGS.items():
        line = next((ln for ln in text.splitlines() if re.match(rf"\s+{status}\s", ln)), None)
        assert line is not None, status
        assert meaning in line


def test_exit_statuses_in_help_are_the_ones_the_code_uses():
    from cecli.errors import ExitStatus

    for status in ExitStatus:
        assert status.value in EXIT_MEANINGS


# -- mistyped commands and options -----------------------------------------------------


def usage_error(capsys, *args: str) -> str:
    """The line the real entry point prints for a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as raised:
        main(list(args))
    assert raised.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cecli: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("scroe", "score"), ("scor", "score"), ("socre", "score"), ("comapre", "compare")],
)
def test_a_mistyped_command_points_at_the_misspelling(capsys, problem, typed, meant):
    line = usage_error(capsys, typed, str(problem["base"]))
    assert line.startswith(f"cecli: error: no such command '{typed}'; did you mean '{meant}'")
    assert line.endswith("? (see 'cecli --help')")


def test_the_example_of_the_issue_reads_as_promised(capsys):
    assert usage_error(capsys, "scroe", "a.csv") == (
        "cecli: error: no such command 'scroe'; did you mean 'score'? (see 'cecli --help')"
    )


def test_an_unknown_command_with_nothing_close_gets_no_guess(capsys):
    line = usage_error(capsys, "frobnicate", "a.csv")
    assert line == "cecli: error: no such command 'frobnicate' (see 'cecli --help')"


def test_a_command_name_with_control_characters_is_shown_escaped(capsys):
    line = usage_error(capsys, "\x1b[2Jscroe", "a.csv")
    assert "\x1b" not in line
    assert "\\x1b[2Jscroe" in line


@pytest.mark.parametrize(
    ("args", "typed", "meant", "command"),
    [
        (["score", "p.csv", "--treshold", "0.5"], "--treshold", "--threshold", "score"),
        (["score", "p.csv", "--treshold=0.5"], "--treshold", "--threshold", "score"),
        (["score", "p.csv", "--calibraton"], "--calibraton", "--calibration", "score"),
        (["score", "p.csv", "--min-acuracy", "0.9"], "--min-acuracy", "--min-accuracy", "score"),
        (["compare", "a.csv", "b.csv", "--bootsrap", "9"], "--bootsrap", "--bootstrap", "compare"),
        (
            ["compare", "a.csv", "b.csv", "--fail-if-wrse"],
            "--fail-if-wrse",
            "--fail-if-worse",
            "compare",
        ),
        (["--verison"], "--verison", "--version", None),
    ],
)
def test_a_mistyped_option_names_the_misspelling_and_the_option_meant(
    capsys, args, typed, meant, command
):
    line = usage_error(capsys, *args)
    assert line.startswith(f"cecli: error: no such option '{typed}'; did you mean ")
    assert f"'{meant}'" in line
    see = f"cecli {command} --help" if command else "cecli --help"
    assert line.endswith(f"? (see '{see}')")


def test_an_unknown_option_with_nothing_close_gets_no_guess(capsys):
    line = usage_error(capsys, "score", "p.csv", "--xyzzy")
    assert line == "cecli: error: no such option '--xyzzy' (see 'cecli score --help')"


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (["score", "p.csv", "--threshold", "abc"], "--threshold", "'abc'"),
        (["score", "p.csv", "--top=many"], "--top", "'many'"),
        (["score", "p.csv", "--bins", "1.5"], "--bins", "'1.5'"),
        (["score", "p.csv", "-f", "yaml"], "--format", "'yaml'"),
        (["score", "p.csv", "--kind", "multiclass"], "--kind", "'multiclass'"),
        (["score", "p.csv", "--base", "3"], "--base", "'3'"),
        (["compare", "a.csv", "b.csv", "--ci-method", "basic"], "--ci-method", "'basic'"),
        (["compare", "a.csv", "b.csv", "--seed", "x"], "--seed", "'x'"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_flag_and_the_value(capsys, args, flag, value):
    line = usage_error(capsys, *args)
    assert line.startswith(f"cecli: error: {flag}: ")
    assert value in line
    assert line.endswith(f"(see 'cecli {args[0]} --help')")


def test_a_mistyped_command_in_a_real_process():
    command = [sys.executable, "-m", "cecli", "scroe", "a.csv"]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == (
        "cecli: error: no such command 'scroe'; did you mean 'score'? (see 'cecli --help')\n"
    )


def test_an_option_error_in_a_real_process(problem):
    command = [sys.executable, "-m", "cecli", "score", str(problem["base"]), "--threshold", "90"]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert out.stdout == ""
    assert (
        out.stderr == "cecli: error: --threshold must lie in (0, 1]; got 90 (for 90%, write 0.9).\n"
    )


def test_an_id_column_is_the_ids_with_pred_cols_too(tmp_path):
    """``--pred-cols`` chooses the predictions; an ``id`` column not among them is still the ids."""
    from typer.testing import CliRunner

    from cecli.cli import app

    path = tmp_path / "p.csv"
    path.write_text("id,prob_a,prob_b,label\nx1,0.9,0.1,a\nx2,0.01,0.99,a\nx3,0.2,0.8,b\n")
    result = CliRunner().invoke(app, ["score", str(path), "--pred-cols", "prob_*", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = __import__("json").loads(result.stdout)
    assert doc["columns"]["id"] == "id"
    assert doc["worst"][0]["id"] == "x2"
    chosen = CliRunner().invoke(app, ["score", str(path), "--pred-cols", "id,prob_a", "-f", "json"])
    assert chosen.exit_code == 2  # chosen as a prediction, it is one (and not a number)
