"""The GitHub Action (``action.yml``): its steps run here as the runner runs them.

Each test takes a step out of ``action.yml``, fills its ``env:`` from the
inputs as GitHub evaluates ``${{ inputs.* }}`` (the defaults of
``action.yml`` for those not given), and runs its ``run:`` text with bash as
a composite step's ``shell: bash`` does, with ``GITHUB_OUTPUT``,
``GITHUB_STEP_SUMMARY`` and ``RUNNER_TEMP`` in a temporary folder. The
install step is not run (it needs the network); its place is taken by this
interpreter, whose cecli is the checkout's. The outputs are read back with a
parser of GitHub's file-command form written here, and checked against the
definitions (scikit-learn's log loss) and against the JSON report cecli
wrote.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app

yaml = pytest.importorskip("yaml")
if shutil.which("bash") is None:
    pytest.skip("the action's steps are bash", allow_module_level=True)

ROOT = Path(__file__).parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
N, K = 200, 3


def step(step_id: str) -> dict:
    return next(s for s in ACTION["runs"]["steps"] if s.get("id") == step_id)


class Ran:
    """A step's exit status, log and the files it wrote."""

    def __init__(self, done: subprocess.CompletedProcess, tmp: Path) -> None:
        self.status, self.log = done.returncode, done.stdout + done.stderr
        self.summary = (tmp / "summary.md").read_text(encoding="utf-8")
        self.output_text = (tmp / "github_output").read_text(encoding="utf-8")
        self.outputs = parse_outputs(self.output_text)

    def annotations(self) -> list[str]:
        """The log's workflow commands that the runner acts on (outside stop-commands)."""
        commands, stopped = [], None
        for line in self.log.splitlines():
            if stopped is not None:
                if line == f"::{stopped}::":
                    stopped = None
                continue
            if line.startswith("::stop-commands::"):
                stopped = line.removeprefix("::stop-commands::")
            elif line.startswith("::"):
                commands.append(line)
        assert stopped is None, "workflow commands left off"
        return [c for c in commands if not c.startswith(("::group::", "::endgroup::"))]

    def quoted(self) -> list[str]:
        """The log's lines with workflow commands off: cecli's report and stderr."""
        lines, stopped = [], None
        for line in self.log.splitlines():
            if stopped is not None:
                if line == f"::{stopped}::":
                    stopped = None
                else:
                    lines.append(line)
            elif line.startswith("::stop-commands::"):
                stopped = line.removeprefix("::stop-commands::")
        return lines


def parse_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``name=value`` lines, ``name<<END`` heredocs."""
    lines, found, i = text.split("\n"), {}, 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            while lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            i += 1
            assert name not in found, f"{name} set twice"
            found[name] = "\n".join(value)
        else:
            name, value = line.split("=", 1)
            assert name not in found, f"{name} set twice"
            found[name] = value
    return found


def run_step(tmp: Path, step_id: str = "cecli", cwd: Path | None = None, **inputs: str) -> Ran:
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, unknown
    values.update(inputs)

    def evaluate(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return values[expression.removeprefix("inputs.")]
        assert expression == "steps.install.outputs.python", expression
        return sys.executable  # the install step's interpreter: here, this one

    definition = step(step_id)
    assert definition["shell"] == "bash"
    env = {name: EXPRESSION.sub(evaluate, str(v)) for name, v in definition["env"].items()}
    for name in ("github_output", "summary.md"):
        (tmp / name).write_text("")
    (tmp / "runner_temp").mkdir(exist_ok=True)
    done = subprocess.run(
        # how the runner runs a `shell: bash` step
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", definition["run"]],
        cwd=cwd or tmp,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GITHUB_OUTPUT": str(tmp / "github_output"),
            "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
            "RUNNER_TEMP": str(tmp / "runner_temp"),
            "GITHUB_ACTION_PATH": str(ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    return Ran(done, tmp)


def unescape(data: str) -> str:
    """A workflow command's message as GitHub shows it (its documented escapes undone)."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def model(seed: int, sharp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Targets and probabilities; ``sharp`` moves that much mass onto the true class."""
    targets = np.random.default_rng(99).integers(0, K, N)
    probs = np.random.default_rng(seed).dirichlet(np.ones(K), size=N)
    probs = (1 - sharp) * probs + sharp * np.eye(K)[targets]
    return targets, probs


def preds_file(path: Path, probs: np.ndarray, targets: np.ndarray, **extra: list) -> Path:
    header = ["a", "b", "c", "label", *extra]
    rows = [
        [*map(repr, p), int(t), *(column[i] for column in extra.values())]
        for i, (p, t) in enumerate(zip(probs.tolist(), targets, strict=True))
    ]
    return write_csv(path, header, rows)


def report_of(ran: Ran) -> dict:
    path = Path(ran.outputs["json"])
    assert path.parent.parent.name == "runner_temp"  # under the runner's temporary folder
    return json.loads(path.read_text(encoding="utf-8"))


def markdown_of(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "-f", "markdown"])
    return result.stdout


# -- score ------------------------------------------------------------------------------


def test_score_that_passes_puts_the_report_on_the_summary_and_the_numbers_in_the_outputs(
    tmp_path, monkeypatch
):
    targets, probs = model(0)
    preds_file(tmp_path / "p.csv", probs, targets)
    args = "--label-col label --fail-above 10"
    ran = run_step(tmp_path, command="score", files="p.csv", args=args)
    assert ran.status == 0, ran.log
    assert set(ran.outputs) == {"mean-loss", "delta-mean-loss", "passed", "verdict", "json", "html"}
    report = report_of(ran)
    assert float(ran.outputs["mean-loss"]) == report["mean_loss"]
    assert float(ran.outputs["mean-loss"]) == pytest.approx(log_loss(targets, probs), rel=1e-12)
    assert ran.outputs["passed"] == "true"
    assert ran.outputs["verdict"] == ran.outputs["delta-mean-loss"] == ran.outputs["html"] == ""
    monkeypatch.chdir(tmp_path)
    assert ran.summary == markdown_of("score", "p.csv", *args.split())
    assert ran.summary.startswith("### cecli score")
    assert ran.annotations() == []
    assert "\n".join(ran.quoted()).startswith("### cecli score")  # the report is in the log too


def test_a_failed_gate_fails_the_step_after_the_summary_and_outputs(tmp_path):
    targets, probs = model(0)
    preds_file(tmp_path / "p.csv", probs, targets)
    ran = run_step(tmp_path, files="p.csv", args="--label-col label --fail-above 0.01")
    assert ran.status == 1
    assert ran.outputs["passed"] == "false"
    assert float(ran.outputs["mean-loss"]) == pytest.approx(log_loss(targets, probs), rel=1e-12)
    assert report_of(ran)["passed"] is False
    assert "**FAILED**" in ran.summary
    [gate] = ran.annotations()
    assert gate.startswith("::error title=cecli::cecli: gate failed: fail_above: ")


def test_files_and_args_with_spaces_and_quotes_are_words_as_a_shell_makes_them(tmp_path):
    targets, probs = model(1)
    ids = [f"r{i}" for i in range(N)]
    preds_file(tmp_path / "my preds.csv", probs, targets, **{"row id": ids})
    ran = run_step(
        tmp_path,
        files="'my preds.csv'",
        args='--label-col "label" --id-col "row id" --top 3\n--fail-above 10',
    )
    assert ran.status == 0, ran.log
    report = report_of(ran)
    assert report["columns"]["id"] == "row id"
    worst = np.argsort(np.log(probs[np.arange(N), targets]), kind="stable")[:3]  # highest loss
    assert [r["id"] for r in report["worst"]] == [ids[i] for i in worst]
    assert float(ran.outputs["mean-loss"]) == pytest.approx(log_loss(targets, probs), rel=1e-12)


# -- compare ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("better", "status", "verdict"), [(True, 0, "better"), (False, 1, "worse")]
)
def test_compare_gives_its_verdict_and_the_change_in_loss(tmp_path, better, status, verdict):
    targets, weak = model(2)
    _, strong = model(3, sharp=0.6)
    preds_file(tmp_path / "weak.csv", weak, targets)
    preds_file(tmp_path / "strong.csv", strong, targets)
    baseline, candidate = ("weak", "strong") if better else ("strong", "weak")
    ran = run_step(
        tmp_path,
        command="compare",
        files=f"{baseline}.csv {candidate}.csv",
        args="--label-col label --fail-if-worse --bootstrap 500",
    )
    assert ran.status == status, ran.log
    loss = {"weak": log_loss(targets, weak), "strong": log_loss(targets, strong)}
    assert ran.outputs["verdict"] == verdict == report_of(ran)["verdict"]
    assert float(ran.outputs["mean-loss"]) == pytest.approx(loss[candidate], rel=1e-12)
    delta = loss[candidate] - loss[baseline]
    assert float(ran.outputs["delta-mean-loss"]) == pytest.approx(delta, rel=1e-9)
    assert ran.outputs["passed"] == ("true" if better else "false")
    assert ran.summary.startswith("### cecli compare")


# -- what cannot run --------------------------------------------------------------------


def test_bad_input_is_an_error_annotation_and_exit_status_2(tmp_path):
    name = "100% gone\n::add-mask::x.csv"  # a % and a line of its own: both stay text
    ran = run_step(tmp_path, files=f"'{name}'")
    assert ran.status == 2
    assert ran.outputs == {}
    [error] = ran.annotations()
    assert error.startswith("::error title=cecli::cecli: error: ")
    said = [line for line in ran.quoted() if line.startswith("cecli: error: ")]
    assert len(said) == 1
    assert unescape(error.removeprefix("::error title=cecli::")) == said[0]
    assert "%25" in error
    assert "**Not run to the end**" in ran.summary
    assert "\n::" not in ran.summary


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"command": "scroe", "files": "p.csv"}, "the command input must be score or compare"),
        ({"files": ""}, "the files input is empty"),
        ({"files": "p.csv", "args": "--top '3"}, "cannot be split into words"),
        ({"files": "p.csv", "args": "--format json"}, "the args input has --format"),
        ({"files": "p.csv", "args": "-fjson"}, "the args input has -f"),
        ({"files": "p.csv", "args": "--json=mine.json"}, "the args input has --json"),
        ({"files": "p.csv --html r.html"}, "give the HTML report's path as the html input"),
    ],
)
def test_inputs_the_action_cannot_run_fail_before_cecli(tmp_path, inputs, says):
    ran = run_step(tmp_path, **inputs)
    assert ran.status == 2
    [error] = ran.annotations()
    assert error.startswith("::error title=cecli::")
    assert says in error
    assert ran.outputs == {}


def test_an_own_flag_after_double_dash_is_a_file_name(tmp_path):
    ran = run_step(tmp_path, files="-- --json")
    assert ran.status == 2
    [error] = ran.annotations()
    assert "cecli: error: --json: no such file" in error


def test_hostile_text_in_the_files_reaches_no_output_and_no_workflow_command(tmp_path):
    targets, probs = model(4)
    hostile = [
        "::error::pwned",
        "passed=true",
        "x\n::set-output name=passed::true",
        "ghadelimiter_0\nverdict=better",
        "<img src=x onerror=alert(1)>",
        "@octocat",
    ]
    ids = [hostile[i % len(hostile)] + f" {i}" for i in range(N)]
    preds_file(tmp_path / "p.csv", probs, targets, id=ids)
    ran = run_step(tmp_path, files="p.csv", args="--label-col label --id-col id --top 0")
    assert ran.status == 0, ran.log
    assert ran.outputs["passed"] == "true"
    assert ran.outputs["verdict"] == ""
    assert float(ran.outputs["mean-loss"]) == pytest.approx(log_loss(targets, probs), rel=1e-12)
    assert ran.annotations() == []
    assert not any(line.startswith("::") for line in ran.summary.splitlines())
    assert "<img" not in ran.summary
    assert "@octocat" not in ran.summary  # a mention is broken by a zero-width space
    assert len(report_of(ran)["worst"]) == N  # the rows did reach the report


# -- --html (built on its own branch: runs once cecli has it) ---------------------------


def _has_html() -> bool:
    return "--html" in CliRunner().invoke(app, ["score", "--help"]).stdout


@pytest.mark.skipif(not _has_html(), reason="this cecli has no --html")
def test_the_html_input_writes_the_report_and_gives_its_path(tmp_path):
    targets, probs = model(5)
    preds_file(tmp_path / "p.csv", probs, targets)
    ran = run_step(tmp_path, files="p.csv", args="--label-col label", html="cecli 100%.html")
    assert ran.status == 0, ran.log
    assert ran.outputs["html"] == "cecli 100%.html"
    assert "<html" in (tmp_path / "cecli 100%.html").read_text(encoding="utf-8").lower()
    assert ran.summary.startswith("### cecli score")


def test_a_report_too_large_for_the_summary_page_is_a_note_there():
    from cecli._action import SUMMARY_LIMIT, Step, _summary

    step = Step("score", ("p.csv",), (), None)
    fits = "x" * (SUMMARY_LIMIT - 1) + "\n"
    assert _summary(fits, step) == fits
    note = _summary(fits + "y", step)
    assert note.startswith("### cecli score")
    assert f"{SUMMARY_LIMIT + 1:,} bytes" in note


# -- action.yml itself ------------------------------------------------------------------


def test_no_input_is_ever_shell_text():
    """GitHub's hardening guide: an expression in `run:` is a script-injection hole."""
    for definition in ACTION["runs"]["steps"]:
        assert "${{" not in definition.get("run", ""), definition
    steps = ACTION["runs"]["steps"]
    used = " ".join(
        str(value)
        for definition in steps
        for key in ("env", "with")
        for value in definition.get(key, {}).values()
    )
    for name in ACTION["inputs"]:
        assert f"inputs.{name}" in used, name


def test_the_outputs_are_the_steps_and_the_modules():
    from cecli._action import OUTPUTS

    assert tuple(ACTION["outputs"]) == OUTPUTS
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == f"${{{{ steps.cecli.outputs.{name} }}}}"


def test_the_install_step_refuses_extras_that_are_not_names(tmp_path):
    ran = run_step(tmp_path, step_id="install", extras="plot] @ https://example.com/x")
    assert ran.status == 2
    [error] = ran.annotations()
    assert "the extras input must be" in error
    assert not (tmp_path / "runner_temp" / "cecli-venv").exists()


# -- the README's workflow --------------------------------------------------------------


def test_the_readme_workflow_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## GitHub Action") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    prose = section[: block.start()]
    status = int(re.findall(r"exit status (\d)", prose)[-1])
    steps = yaml.safe_load(block.group(1))["jobs"]["model"]["steps"]
    [uses] = [s for s in steps if re.fullmatch(r"[\w-]+/cecli@v\d+", s.get("uses", ""))]
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@v4")]
    assert f"steps.{uses['id']}.outputs.html" in upload["with"]["path"]
    assert "always()" in upload["if"]  # a failed gate is when the report matters most
    inputs = {k: str(v) for k, v in uses["with"].items()}
    if not _has_html():
        inputs.pop("html")  # until --html is merged: the rest of the step as written
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    ran = run_step(tmp_path, **inputs)
    assert ran.status == status, ran.log
    assert ran.summary.startswith(f"### cecli {inputs['command']}")
    assert ran.outputs["passed"] == ("true" if status == 0 else "false")
    if "html" in inputs:
        assert (tmp_path / inputs["html"]).is_file()
        assert ran.outputs["html"] == inputs["html"]
