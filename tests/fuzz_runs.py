"""Running fuzz cases (``tests/fuzzing.py``) through ``cecli score``, and judging the runs.

:func:`run_in_process` runs a case through the console script's entry point,
:func:`run_subprocess` through a fresh ``python -m cecli``, and :func:`judge`
says what, if anything, was wrong with the run. A bad input may be refused
(exit status 2, one ``cecli: error:`` line) or scored (exit status 0);
anything else is a bug: exit status 3 or any other, an exception escaping
the entry point, a signal, a traceback, more than one error line, output
that does not parse as the format asked for, or an input file changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

from fuzzing import Built, Case


@dataclass
class Outcome:
    """What a run did: its exit status (negative: killed by that signal; None: an
    exception escaped the entry point), its output, and what was wrong with it (None: clean)."""

    status: int | None
    stdout: str
    stderr: str
    problem: str | None = None


def judge(built: Built, status: int | None, stdout: str, stderr: str, folder: Path) -> Outcome:
    """The run's :class:`Outcome`, its ``problem`` set when the run broke a rule."""
    talk = [line for line in stderr.splitlines() if not line.startswith("cecli: warning: ")]
    problem = None
    if status is None:
        problem = "exception escaped"
    elif status < 0:
        problem = f"signal {-status}"
    elif status not in (0, 2):
        problem = f"exit {status}"
    elif "Traceback" in stderr:
        problem = "traceback"
    elif status == 2 and (len(talk) != 1 or not talk[0].startswith("cecli: error: ")):
        problem = f"exit 2 with {len(talk)} lines of talk, not one error line"
    elif status == 0 and talk:
        problem = "exit 0 with talk on stderr"
    elif status == 0 and built.output_format == "json":
        try:
            json.loads(stdout)
        except ValueError:
            problem = "exit 0, but the JSON does not parse"
    if problem is None:
        for name, data in built.files.items():
            if (folder / name).read_bytes() != data:
                problem = f"input {name} changed"
    return Outcome(status, stdout, stderr, problem)


def invoke(args: list[str]) -> tuple[int | None, str, str]:
    """``cecli ARGS`` through ``cecli.cli.main`` in this process: (status, stdout, stderr).

    The status is None when an exception escaped the entry point (its traceback
    is then on the captured stderr). Warnings are shown as a fresh interpreter
    shows them (not raised, as the test suite's filters would), and the
    filters are restored afterwards.
    """
    from typer.testing import CliRunner

    from cecli.cli import main

    status: int | None
    with warnings.catch_warnings(), CliRunner().isolation() as (out, err, _):
        warnings.resetwarnings()
        warnings.simplefilter("default")
        try:
            main(list(args))
            status = 0
        except SystemExit as stop:
            code = stop.code
            status = code if isinstance(code, int) else 0 if code is None else 1
        except BaseException:  # an escaped exception is a finding: record it, go on
            status = None
            sys.stderr.write(traceback.format_exc())
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return status, stdout, stderr


def run_in_process(built: Built, folder: Path) -> Outcome:
    """Run the case through ``cecli.cli.main`` in this process (stdio captured)."""
    status, stdout, stderr = invoke(built.write(folder))
    return judge(built, status, stdout, stderr, folder)


def run_subprocess(built: Built, folder: Path, timeout: float = 120) -> Outcome:
    """Run the case in a fresh ``python -m cecli``: aborts and signals show as themselves."""
    args = built.write(folder)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "cecli", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=env,
        cwd=folder,
    )
    return judge(
        built,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        folder,
    )


def command_line(case: Case) -> str:
    """How to reproduce ``case`` by hand (it writes the files and shows the run)."""
    return f"python benchmarks/fuzz_inputs.py --repro {case.id}"
