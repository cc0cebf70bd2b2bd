"""``--json PATH``: the JSON report in a file too, whatever ``--format`` prints.

The file is what ``--format json`` prints for the same run, its numbers are
the definitions' (scikit-learn's log loss), and it is written whatever the
gates say; a file that cannot be written is one line and exit status 2, and
what the user had at PATH is left byte for byte.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile

import numpy as np
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()
N, K = 60, 3


def _files(tmp, name: str = "p.csv", seed: int = 0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), size=N)
    targets = np.random.default_rng(1).integers(0, K, N)
    lines = ["a,b,c,label"] + [
        ",".join(map(repr, row)) + f",{t}" for row, t in zip(probs.tolist(), targets, strict=True)
    ]
    (tmp / name).write_text("\n".join(lines) + "\n")
    return tmp / name, probs, targets


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("cecli: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("output_format", ["table", "markdown", "csv", "json"])
def test_the_file_is_what_format_json_prints_and_stdout_is_unchanged(tmp_path, output_format):
    p, probs, targets = _files(tmp_path)
    out = tmp_path / "report.json"
    common = ["score", str(p), "--label-col", "label"]
    with_file = runner.invoke(app, [*common, "-f", output_format, "--json", str(out)])
    plain = runner.invoke(app, [*common, "-f", output_format])
    as_json = runner.invoke(app, [*common, "-f", "json"])
    assert with_file.exit_code == plain.exit_code == as_json.exit_code == 0
    assert with_file.stdout == plain.stdout
    assert out.read_text(encoding="utf-8") == as_json.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["mean_loss"] == pytest.approx(log_loss(targets, probs, labels=range(K)))


def test_a_failed_gate_still_writes_the_file(tmp_path):
    p, probs, targets = _files(tmp_path)
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["score", str(p), "--label-col", "label", "--fail-above", "0.01", "--json", str(out)]
    )
    assert result.exit_code == 1
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["passed"] is False
    assert [g["passed"] for g in document["gates"]] == [False]
    assert document["gates"][0]["value"] == pytest.approx(log_loss(targets, probs))


def test_compare_writes_its_report(tmp_path):
    base, base_probs, targets = _files(tmp_path, "base.csv", seed=0)
    cand, cand_probs, _ = _files(tmp_path, "cand.csv", seed=5)
    out = tmp_path / "compare.json"
    common = ["compare", str(base), str(cand), "--label-col", "label", "--bootstrap", "200"]
    with_file = runner.invoke(app, [*common, "-f", "markdown", "--json", str(out)])
    as_json = runner.invoke(app, [*common, "-f", "json"])
    assert with_file.exit_code == as_json.exit_code == 0
    assert with_file.stdout.startswith("### cecli compare")
    assert out.read_text(encoding="utf-8") == as_json.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    delta = log_loss(targets, cand_probs) - log_loss(targets, base_probs)
    assert document["delta_mean_loss"] == pytest.approx(delta)


def test_an_existing_file_is_replaced_and_keeps_its_mode(tmp_path):
    p, _, _ = _files(tmp_path)
    out = tmp_path / "report.json"
    out.write_text("old")
    out.chmod(0o640)
    result = runner.invoke(app, ["score", str(p), "--label-col", "label", "--json", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["n_samples"] == N
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(q.name for q in tmp_path.iterdir()) == ["p.csv", "report.json"]


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("-", "for JSON on standard output use --format json"),
        ("{tmp}", "is a folder"),
        ("{tmp}/missing/r.json", "does not exist"),
        ("{tmp}/p.csv", "is one of the input files"),
    ],
)
def test_a_path_that_cannot_be_the_report_is_refused_before_reading(tmp_path, where, says):
    p, _, _ = _files(tmp_path)
    before = p.read_bytes()
    path = where.format(tmp=tmp_path)
    for command in (
        ["score", str(p), "--label-col", "label"],
        ["compare", str(p), str(p), "--label-col", "label"],
    ):
        result = runner.invoke(app, [*command, "--json", path])
        assert result.exit_code == 2
        line = one_error_line(result.stderr)
        assert says in line
        assert result.stdout == ""  # refused before any report
    assert p.read_bytes() == before


def _refuse(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


def test_a_folder_that_refuses_the_file_is_one_line(tmp_path, monkeypatch):
    p, _, _ = _files(tmp_path)
    out = tmp_path / "report.json"
    out.write_bytes(b"what the user had\n")
    monkeypatch.setattr(tempfile, "mkstemp", _refuse)  # as a read-only folder refuses it
    result = runner.invoke(app, ["score", str(p), "--label-col", "label", "--json", str(out)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--json" in line
    assert "Permission denied" in line
    assert out.read_bytes() == b"what the user had\n"


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from cecli.render import json as json_renderer

    p, _, _ = _files(tmp_path)
    out = tmp_path / "report.json"
    out.write_bytes(b"what the user had\n")

    def half_then_full(report, stream):
        stream.write("{\n")
        stream.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json_renderer, "render", half_then_full)
    result = runner.invoke(app, ["score", str(p), "--label-col", "label", "--json", str(out)])
    assert result.exit_code == 2
    assert one_error_line(result.stderr).endswith("No space left on device.")
    assert out.read_bytes() == b"what the user had\n"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["p.csv", "report.json"]


@pytest.mark.parametrize(("device", "status"), [("/dev/full", 2), (os.devnull, 0)])
def test_a_name_that_points_at_a_device_is_written_in_place(tmp_path, device, status):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    p, _, _ = _files(tmp_path)
    link = tmp_path / "report.json"
    link.symlink_to(device)
    result = runner.invoke(app, ["score", str(p), "--label-col", "label", "--json", str(link)])
    assert result.exit_code == status, result.output
    if status:
        assert "No space left on device" in one_error_line(result.stderr)
    assert link.is_symlink()
    assert os.readlink(link) == device
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []
