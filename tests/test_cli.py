"""The command line as it stands: a version, a help text, and nothing heavy at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import cecli
from cecli.cli import app

runner = CliRunner()


def test_version_through_the_app():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cecli {cecli.__version__}"


def test_version_through_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "cecli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"cecli {cecli.__version__}"
    assert out.stderr == ""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["score", "--help"]])
def test_version_and_help_do_not_import_numpy_pandas_or_pyarrow(args):
    code = (
        f"import sys; from cecli.cli import main; sys.argv = ['cecli', *{args!r}];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_help_exits_zero_and_describes_the_tool():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "cross-entropy" in result.stdout
