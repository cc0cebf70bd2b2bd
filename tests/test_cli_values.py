"""Option text becomes the value typer's own (pydantic) conversion would give, or its error.

cecli converts its options itself, to spare every run the import of pydantic
and the building of its validators; pydantic is the reference here: for each
text, the same value, or an error where it errs, with its message.
"""

from __future__ import annotations

import json
import math
from enum import Enum

import pytest
from typer.testing import CliRunner

from cecli.cli import app, main
from cecli.cli._command import convert

pydantic = pytest.importorskip("pydantic")

TEXTS = [
    "12",
    " 7 ",
    "\t4\n",
    "+3",
    "-0",
    "007",
    "1_000",
    "1.0",
    "-3.00",
    "1.5",
    "10.",
    ".5",
    "1e3",
    "1e-3",
    "1e400",
    "99999999999999999999",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "abc",
    "",
    " ",
    "+",
    "1 2",
    "0x10",
    "\u0663",  # an Arabic-Indic three
    "1,5",
]


def reference(annotation: type, text: str) -> tuple[str, object]:
    try:
        return "value", pydantic.TypeAdapter(annotation).validate_python(text)
    except pydantic.ValidationError as error:
        return "error", error.errors()[0]["msg"]


def ours(annotation: type, text: str) -> tuple[str, object]:
    try:
        return "value", convert(annotation, text)
    except ValueError as error:
        return "error", str(error)


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("annotation", [int, float])
@pytest.mark.parametrize("text", TEXTS)
def test_numbers_convert_as_pydantic_converts_them(annotation, text):
    kind, expected = reference(annotation, text)
    got_kind, got = ours(annotation, text)
    assert got_kind == kind, (text, expected, got)
    assert same(got, expected), (text, expected, got)


class Colour(str, Enum):
    red = "red"
    two = "2"


@pytest.mark.parametrize(
    ("text", "case_sensitive", "expected"),
    [
        ("red", True, Colour.red),
        ("RED", False, Colour.red),
        ("Red", True, "'Red' is not one of 'red', '2'."),
        ("2", False, Colour.two),
        (Colour.two, True, Colour.two),
        ("blue", False, "'blue' is not one of 'red', '2'."),
    ],
)
def test_a_choice_is_its_value_in_any_case_unless_case_matters(text, case_sensitive, expected):
    try:
        got = convert(Colour, text, case_sensitive=case_sensitive)
    except ValueError as error:
        got = str(error)
    assert got == expected


def test_text_and_flags_pass_through():
    assert convert(str, "a b.csv") == "a b.csv"
    assert convert(bool, True) is True
    assert convert(bool, "no") is False


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["score", "p.csv", "--top", "1.5"],
            "--top: input should be a valid integer, unable to parse string as an integer; "
            "got '1.5'. (see 'cecli score --help')",
        ),
        (
            ["compare", "a.csv", "b.csv", "--confidence", "high"],
            "--confidence: input should be a valid number, unable to parse string as a number; "
            "got 'high'. (see 'cecli compare --help')",
        ),
        (
            ["score", "p.csv", "--base", "3"],
            "--base: '3' is not one of 'e', '2', '10'. (see 'cecli score --help')",
        ),
    ],
)
def test_a_bad_value_on_the_command_line_reads_as_it_did_with_pydantic(capsys, args, line):
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"cecli: error: {line}\n"


def test_options_reach_the_command_as_their_types(tmp_path):
    """A value converted here is what the command uses: --top 1.0 lists one row."""
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.9,0.1,1\n0.8,0.2,1\n0.3,0.7,1\n")
    result = CliRunner().invoke(app, ["score", str(path), "-f", "JSON", "--top", "1.0"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["worst"]) == 1
    assert report["threshold"] == 0.9
