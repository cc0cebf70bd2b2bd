"""The README stays true: every option of every command appears in it."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from cecli.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _options() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name == "option":
                found += [(name, opt) for opt in param.opts + param.secondary_opts]
    return found


def test_every_score_option_is_in_the_readme():
    options = _options()
    assert ("score", "--logits") in options  # the walk found the command's options
    missing = [f"{cmd} {opt}" for cmd, opt in options if opt != "--help" and opt not in README]
    assert missing == []


def test_every_command_is_in_the_readme():
    group = typer.main.get_command(app)
    for name in group.commands:
        assert re.search(rf"cecli {name}\b", README), name


def _console_with_output() -> list[tuple[str, str]]:
    """Each README command that is followed by its output: (command, output)."""
    pairs = re.findall(r"```console\n([^\n]+)\n```\n\n```text\n(.*?)```", README, re.DOTALL)
    return [(command.split("&& ")[-1], output) for command, output in pairs]


def test_the_readme_shows_what_its_commands_print(monkeypatch):
    """The outputs printed in the README are what the commands print today."""
    import shlex

    from typer.testing import CliRunner

    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    pairs = _console_with_output()
    assert {c.split()[1] for c, _ in pairs} == {"score", "compare"}
    for command, shown in pairs:
        argv = shlex.split(command)
        assert argv[0] == "cecli"
        result = CliRunner().invoke(app, argv[1:])
        printed = "\n".join(line.rstrip() for line in result.output.splitlines()).strip()
        if shown.startswith("...\n"):  # the end of the output
            assert printed.endswith(shown.removeprefix("...\n").strip()), command
        else:
            assert printed == shown.strip(), command


def _workflow_commands() -> list[tuple[str, int]]:
    """Each ``cecli`` line of the README's yaml blocks, and the exit status its text promises.

    The promise is the last "exit status N" in the prose between the previous
    code block and the yaml block.
    """
    found = []
    for match in re.finditer(r"```yaml\n(.*?)```", README, re.DOTALL):
        if re.search(r"uses: [\w-]+/cecli@v\d", match.group(1)):
            continue  # a workflow of the GitHub Action: tests/test_action.py runs it
        before = README[: match.start()]
        prose = before[before.rfind("```") + 3 :]
        statuses = re.findall(r"exit status (\d)", prose)
        assert statuses, f"no exit status is said before: {match.group(1)[:60]!r}"
        commands = [
            line.strip()
            for line in match.group(1).splitlines()
            if line.strip().startswith("cecli ")
        ]
        assert commands, match.group(1)
        found += [(command, int(statuses[-1])) for command in commands]
    return found


def test_the_readme_workflow_steps_run_as_written(tmp_path):
    """The GitHub Actions steps run from a checkout, on the files they name, as the text says."""
    import os
    import shlex
    import subprocess
    import sys

    commands = _workflow_commands()
    assert {c.split()[1] for c, _ in commands} == {"score", "compare"}
    for command, status in commands:
        summary = tmp_path / "summary.md"
        summary.write_text("")
        # the installed command, as `pip install .` would give it: this interpreter's cecli
        python = f"{shlex.quote(sys.executable)} -m cecli"
        env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
        result = subprocess.run(
            ["bash", "-c", python + command.removeprefix("cecli")],
            cwd=Path(__file__).parent.parent,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == status, (command, result.stderr)
        assert result.stdout == ""  # all of it went to the summary
        text = summary.read_text()
        assert text.startswith(f"### cecli {command.split()[1]}"), text[:200]
        for path in re.findall(r"sample_data/\S+", command):
            assert (Path(__file__).parent.parent / path).is_file(), path
