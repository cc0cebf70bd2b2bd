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
