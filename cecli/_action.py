"""The step of cecli's GitHub Action (``action.yml``): ``python -m cecli._action``.

One run of ``cecli score`` or ``cecli compare`` per step, with ``--format
markdown`` (the report, appended to the run's summary page,
``$GITHUB_STEP_SUMMARY``) and ``--json`` (the numbers, written to the step's
outputs, ``$GITHUB_OUTPUT``). The step's exit status is cecli's: 0 passes,
1 (a gate failed) fails the step once the summary and the outputs are
written, 2 and 3 fail it with cecli's error line as an annotation.

The inputs come from the environment (``INPUT_COMMAND``, ``INPUT_FILES``,
``INPUT_ARGS``, ``INPUT_HTML``), which ``action.yml`` fills from the
workflow's ``with:``; they never become shell text. ``files`` and ``args``
are split as a POSIX shell splits words (:func:`shlex.split`), with no
expansion of anything. Nothing from the data reaches a workflow command:
the log shows the report between ``::stop-commands::`` and its token, the
outputs are numbers and fixed words in the heredoc form with a random
delimiter, and an annotation's text is escaped (:func:`escape_data`).

This module is the action's, not the library's API.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cecli.errors import ExitStatus

COMMANDS = ("score", "compare")
#: GitHub's limit on what one step adds to the summary page.
SUMMARY_LIMIT = 1024 * 1024
#: The flags the action gives cecli itself, and what to do instead.
OWN_FLAGS = {
    "--format": "the action sets --format markdown, the report on the summary page",
    "-f": "the action sets --format markdown, the report on the summary page",
    "--json": "the action sets --json, the report the outputs are read from (see the json output)",
    "--html": "give the HTML report's path as the html input",
}
OUTPUTS = ("mean-loss", "delta-mean-loss", "passed", "verdict", "json", "html")


class ActionError(Exception):
    """An input of the action that cannot be run; the step fails with exit status 2."""


@dataclass(frozen=True)
class Step:
    """The action's inputs, checked: the command, its files and extra arguments, the HTML path."""

    command: str
    files: tuple[str, ...]
    args: tuple[str, ...]
    html: str | None


def escape_data(text: str) -> str:
    """``text`` as the message of a workflow command (``::error::``): one line, taken as text.

    Examples
    --------
    >>> escape_data("100% wrong\\r\\nrow 3")
    '100%25 wrong%0D%0Arow 3'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation(kind: str, message: str) -> str:
    """The workflow command that shows ``message`` as an ``error`` or ``warning`` annotation.

    Examples
    --------
    >>> annotation("error", "cecli: error: p.csv: no such file.\\n::add-mask::x")
    '::error title=cecli::cecli: error: p.csv: no such file.%0A::add-mask::x'
    """
    return f"::{kind} title=cecli::{escape_data(message)}"


def output_text(values: Mapping[str, str]) -> str:
    """``values`` in the form ``$GITHUB_OUTPUT`` reads: each a heredoc with a random delimiter.

    A delimiter that a value holds is never used, so no value can end its own
    heredoc and set another output; an empty value is ``name=``.

    Examples
    --------
    >>> text = output_text({"passed": "true", "verdict": ""})
    >>> lines = text.splitlines()
    >>> lines[0].startswith("passed<<ghadelimiter_"), lines[1], lines[2] == lines[0][8:], lines[3]
    (True, 'true', True, 'verdict=')
    """
    parts = []
    for name, value in values.items():
        if not value:  # nothing that could end a line: the plain form
            parts.append(f"{name}=\n")
            continue
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        while delimiter in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(parts)


def _split(name: str, text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as error:  # an unclosed quote
        raise ActionError(
            f"the {name} input cannot be split into words ({error}); close its quotes, "
            "or quote a path with spaces as 'my preds.csv'."
        ) from None


def _own_flag(token: str) -> str | None:
    """The flag of :data:`OWN_FLAGS` that ``token`` gives: ``--json=x``, ``-fjson`` too."""
    for flag in OWN_FLAGS:
        # a long flag may carry its value after "=", a short one right after it
        if token == flag or token.startswith(f"{flag}=" if flag.startswith("--") else flag):
            return flag
    return None


def read_inputs(env: Mapping[str, str]) -> Step:
    """The action's inputs from ``INPUT_*`` in ``env``, checked before cecli runs.

    Parameters
    ----------
    env : mapping of str to str
        The step's environment.

    Returns
    -------
    Step
        The command, the files and extra arguments split into words, the HTML path or None.

    Raises
    ------
    ActionError
        For an unknown command, no files, an unclosed quote, or a flag the
        action sets itself (``--format``, ``--json``, ``--html``) in ``args``.

    Examples
    --------
    >>> read_inputs({"INPUT_COMMAND": "score", "INPUT_FILES": "'my preds.csv' y.csv",
    ...              "INPUT_ARGS": "--fail-above 0.5", "INPUT_HTML": ""})
    Step(command='score', files=('my preds.csv', 'y.csv'), args=('--fail-above', '0.5'), html=None)
    >>> read_inputs({"INPUT_COMMAND": "score", "INPUT_FILES": "p.csv", "INPUT_ARGS": "-fjson"})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli._action.ActionError: the args input has -f: the action sets --format markdown, ...
    """
    command = env.get("INPUT_COMMAND", "").strip()
    if command not in COMMANDS:
        raise ActionError(f"the command input must be score or compare; got {command!r}.")
    files = _split("files", env.get("INPUT_FILES", ""))
    if not files:
        raise ActionError(
            f"the files input is empty; name the files for cecli {command}, "
            "such as: preds.csv labels.csv."
        )
    args = _split("args", env.get("INPUT_ARGS", ""))
    for name, words in (("files", files), ("args", args)):
        for token in words:
            if token == "--":  # what follows is a file, whatever it looks like
                break
            flag = _own_flag(token)
            if flag is not None:
                raise ActionError(f"the {name} input has {flag}: {OWN_FLAGS[flag]}.")
    html = env.get("INPUT_HTML", "").strip() or None
    return Step(command, files, args, html)


def cecli_argv(step: Step, json_path: str) -> list[str]:
    """The one cecli run of the step: markdown on stdout, the JSON report to ``json_path``.

    Examples
    --------
    >>> step = Step("compare", ("a.csv", "b.csv"), ("--fail-if-worse",), "r.html")
    >>> print(*cecli_argv(step, "out.json")[3:])
    compare --format markdown --json out.json --html r.html a.csv b.csv --fail-if-worse
    """
    html = ["--html", step.html] if step.html is not None else []
    own = ["--format", "markdown", "--json", json_path, *html]
    return [sys.executable, "-m", "cecli", step.command, *own, *step.files, *step.args]


def _number(value: object) -> str:
    return "" if value is None else repr(float(value))  # type: ignore[arg-type]


def outputs_of(step: Step, report: Mapping[str, object], json_path: str) -> dict[str, str]:
    """The step's outputs, from cecli's JSON report.

    ``mean-loss`` is the mean loss (compare: the candidate's), ``delta-mean-loss``
    compare's candidate minus baseline, ``passed`` ``true`` when every gate
    passed (or none was asked for), ``verdict`` compare's verdict (``better``,
    ``worse``, ``no_difference``, ``insufficient_data``); for ``score`` the
    last two are empty, since a score has no verdict: ``passed`` says whether
    its gates passed. ``json`` is the report's path, ``html`` the HTML
    report's when one was asked for and written.

    Examples
    --------
    >>> step = Step("score", ("p.csv",), (), None)
    >>> outputs = outputs_of(step, {"mean_loss": 0.25, "passed": True}, "r.json")
    >>> outputs["mean-loss"], outputs["passed"], outputs["verdict"], outputs["html"]
    ('0.25', 'true', '', '')
    """
    html = step.html if step.html is not None and os.path.isfile(step.html) else ""
    if step.command == "compare":
        candidate = report["candidate"]
        assert isinstance(candidate, Mapping)
        mean_loss, delta = candidate["mean_loss"], report["delta_mean_loss"]
        verdict = str(report["verdict"])
    else:
        mean_loss, delta, verdict = report["mean_loss"], None, ""
    return {
        "mean-loss": _number(mean_loss),
        "delta-mean-loss": _number(delta),
        "passed": "true" if report["passed"] else "false",
        "verdict": verdict,
        "json": json_path,
        "html": html,
    }


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8", newline="\n") as out:
            out.write(text)


def _log(title: str, text: str) -> None:
    """``text`` in the log, in a group, with workflow commands off: the data cannot run one."""
    token = uuid.uuid4().hex
    body = text if not text or text.endswith("\n") else text + "\n"
    sys.stdout.write(f"::group::{title}\n::stop-commands::{token}\n{body}::{token}::\n")
    sys.stdout.write("::endgroup::\n")
    sys.stdout.flush()


def _annotations(stderr: str) -> list[str]:
    kinds = {
        "cecli: error: ": "error",
        "cecli: internal error: ": "error",
        "cecli: gate failed: ": "error",
        "cecli: warning: ": "warning",
    }
    found = []
    for line in stderr.splitlines():
        for prefix, kind in kinds.items():
            if line.startswith(prefix):
                found.append(annotation(kind, line))
                break
    return found


def _summary(report: str, step: Step) -> str:
    size = len(report.encode("utf-8"))
    if size <= SUMMARY_LIMIT:
        return report if report.endswith("\n") else report + "\n"
    return (
        f"### cecli {step.command}\n\nThe report is {size:,} bytes, more than the summary "
        f"page's {SUMMARY_LIMIT:,}; ask for fewer rows (--top 10), or for the html input.\n"
    )


def _failure_summary(step: Step, stderr: str, status: int) -> str:
    from cecli.render.escape import markdown

    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith(("cecli: error: ", "cecli: internal"))]
    said = (errors or [f"cecli exited with status {status}."])[-1]
    return f"### cecli {step.command}\n\n**Not run to the end**: {markdown(said)}\n"


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the step: cecli once, its report to the summary page, its numbers to the outputs.

    Parameters
    ----------
    env : mapping of str to str, optional
        The environment (default: the process's): the ``INPUT_*`` inputs and
        ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY`` and ``RUNNER_TEMP``; each
        file that is not named is not written.

    Returns
    -------
    int
        cecli's exit status: 0 passed, 1 a gate failed, 2 bad input, 3 a bug.

    Examples
    --------
    >>> main({"INPUT_COMMAND": "scroe", "INPUT_FILES": "p.csv"})
    ::error title=cecli::the command input must be score or compare; got 'scroe'.
    2
    """
    env = os.environ if env is None else env
    try:
        step = read_inputs(env)
    except ActionError as error:
        print(annotation("error", str(error)), flush=True)
        return int(ExitStatus.INPUT_ERROR)
    folder = tempfile.mkdtemp(prefix="cecli-", dir=env.get("RUNNER_TEMP") or None)
    json_path = os.path.join(folder, "cecli.json")
    child_env = {**os.environ, **env, "PYTHONUTF8": "1"}
    done = subprocess.run(
        cecli_argv(step, json_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=child_env,
        check=False,
    )
    status = done.returncode if done.returncode >= 0 else 128 - done.returncode
    _log(f"cecli {step.command}", done.stdout + done.stderr)
    for line in _annotations(done.stderr):
        print(line, flush=True)
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if status not in (ExitStatus.SUCCESS, ExitStatus.GATE_FAILED):
        if not _annotations(done.stderr):
            print(annotation("error", f"cecli exited with status {status}."), flush=True)
        _append(summary_path, _failure_summary(step, done.stderr, status))
        return status
    try:
        with open(json_path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as error:
        print(annotation("error", f"cecli wrote no JSON report to read: {error}"), flush=True)
        return int(ExitStatus.INTERNAL_ERROR)
    _append(summary_path, _summary(done.stdout, step))
    output_path = env.get("GITHUB_OUTPUT")
    _append(output_path, output_text(outputs_of(step, report, json_path)))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
