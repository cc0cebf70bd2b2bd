"""Start-up: each command imports what it uses, and nothing heavy it does not.

Each case runs the real entry point in a fresh interpreter and reads
``sys.modules`` after it has finished (written to a file, so that the
command's own stdout and stderr stay as they are). Positive controls check
that the probe does see modules a command must import, so that an absence
means something.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

PROBE = """\
import json, sys
from cecli.cli import main
status = None
try:
    main(sys.argv[2:])
except SystemExit as done:
    status = done.code
with open(sys.argv[1], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""

#: Never needed to score: the plotting library, typer's validation layer.
NEVER = ("matplotlib", "pydantic")
#: Only for what asks for them: --calibration/--plot, compare, a table, --per-sample.
ON_DEMAND = (
    "cecli.calibration",
    "cecli.compare",
    "cecli.bootstrap",
    "rich",
    "cecli.render.table",
    "cecli.render.per_sample",
    "cecli.render.plot",
    "pyarrow.parquet",
)


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    """The top-level packages and the modules loaded by ``cecli ARGS``, run to its end."""
    record = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(record), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(record.read_text())
    assert found["status"] in (0, None), (found["status"], done.stderr)
    return set(found["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


@pytest.fixture(scope="module")
def npy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("startup")
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.save(folder / "probs.npy", probs)
    np.save(folder / "labels.npy", rng.integers(0, 4, 50))
    (folder / "probs.csv").write_text(
        "a,b,c,d,label\n"
        + "".join(
            ",".join(repr(float(p)) for p in row) + f",{y}\n"
            for row, y in zip(probs, np.load(folder / "labels.npy"), strict=True)
        )
    )
    return folder


def test_the_version_imports_neither_numpy_nor_any_reader(tmp_path):
    modules = modules_after(tmp_path, "--version")
    heavy = ("numpy", "pandas", "pyarrow", "cecli.pipeline", "cecli.inputs", *NEVER, *ON_DEMAND)
    assert loaded(modules, heavy) == []
    assert "cecli.cli" in modules


@pytest.mark.parametrize("args", [["--help"], ["score", "--help"], ["compare", "--help"]])
def test_help_imports_no_numpy_and_no_pydantic(tmp_path, args):
    modules = modules_after(tmp_path, *args)
    assert loaded(modules, ("numpy", "pandas", "pyarrow", *NEVER)) == []


def test_scoring_npy_as_json_loads_only_the_scoring_path(tmp_path, npy_files):
    modules = modules_after(
        tmp_path, "score", str(npy_files / "probs.npy"), str(npy_files / "labels.npy"), "-f", "json"
    )
    assert {"numpy", "cecli.losses", "cecli.render.json"} <= modules  # the probe sees imports
    assert loaded(modules, ("pandas", *NEVER, "rich", "cecli.render.table")) == []
    unused = ("cecli.render.per_sample", "cecli.render.plot", "pyarrow.parquet")
    assert loaded(modules, unused) == []


def test_scoring_npy_as_json_imports_neither_calibration_nor_compare(tmp_path, npy_files):
    modules = modules_after(
        tmp_path, "score", str(npy_files / "probs.npy"), str(npy_files / "labels.npy"), "-f", "json"
    )
    assert loaded(modules, ("cecli.calibration", "cecli.compare", "cecli.bootstrap")) == []


def test_scoring_csv_as_json_imports_neither_matplotlib_nor_rich(tmp_path, npy_files):
    modules = modules_after(tmp_path, "score", str(npy_files / "probs.csv"), "-f", "json")
    assert {"pyarrow.csv", "cecli.readers.csv"} <= modules
    unwanted = ("pandas", *NEVER, "rich", "pyarrow.parquet", "cecli.render.per_sample",
                "cecli.readers.npy")  # fmt: skip
    assert loaded(modules, unwanted) == []


def test_scoring_local_files_imports_no_fsspec(tmp_path, npy_files):
    """https:// and hf:// inputs are read through fsspec; a local file's run never loads it."""
    modules = modules_after(
        tmp_path, "score", str(npy_files / "probs.npy"), str(npy_files / "labels.npy"), "-f", "json"
    )
    assert "cecli.readers._remote" in modules  # the probe sees the remote module's parent
    remote = ("fsspec", "aiohttp", "huggingface_hub", "cecli.readers._fsspec")
    assert loaded(modules, remote) == []


def test_scoring_csv_as_json_imports_no_pandas(tmp_path, npy_files):
    modules = modules_after(tmp_path, "score", str(npy_files / "probs.csv"), "-f", "json")
    assert "pandas" not in modules


def test_what_a_run_asks_for_is_what_it_imports(tmp_path, npy_files):
    """The positive controls: a table loads rich; --calibration loads calibration; and so on."""
    preds, labels = str(npy_files / "probs.npy"), str(npy_files / "labels.npy")
    table = modules_after(tmp_path, "score", preds, labels)
    assert {"rich", "cecli.render.table"} <= table
    calibrated = modules_after(tmp_path, "score", preds, labels, "--calibration", "-f", "json")
    assert "cecli.calibration" in calibrated
    assert "rich" not in calibrated
    written = modules_after(
        tmp_path, "score", preds, labels, "--per-sample", str(tmp_path / "rows.csv"), "-f", "json"
    )
    assert "cecli.render.per_sample" in written
    assert (tmp_path / "rows.csv").is_file()


def test_a_named_command_builds_only_that_command(tmp_path, npy_files):
    """typer builds a group's every command before parsing; a run builds the one it names."""
    modules = modules_after(
        tmp_path, "score", str(npy_files / "probs.npy"), str(npy_files / "labels.npy"), "-f", "json"
    )
    assert "cecli.cli.score_command" in modules  # the probe sees the command's module
    from cecli.cli import _app_for, app

    assert [info.name for info in _app_for(["score", "x.csv"]).registered_commands] == ["score"]
    assert [info.name for info in _app_for(["compare"]).registered_commands] == ["compare"]
    for args in ([], ["--help"], ["--version", "score"], ["scroe"]):
        assert _app_for(args) is app


ENTRY = """\
import gc, json, os, sys
gc.set_threshold(700, 10, 10)
from cecli.__main__ import main
sys.argv = ["cecli", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    status = done.code
with open({record!r}, "w") as out:
    json.dump({{"status": status, "threshold": gc.get_threshold(),
               "frozen": gc.get_freeze_count(),
               "blas": os.environ.get("OPENBLAS_NUM_THREADS")}}, out)
"""


def entry_point_run(tmp_path: Path, args: list[str], openblas: str | None) -> dict:
    """What ``cecli.__main__.main`` left behind: its status, the collector, OpenBLAS's setting."""
    record = tmp_path / "entry.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    env.pop("OPENBLAS_NUM_THREADS", None)
    if openblas is not None:
        env["OPENBLAS_NUM_THREADS"] = openblas
    script = ENTRY.format(record=str(record))
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(record.read_text())


@pytest.mark.parametrize(("args", "status"), [(["--version"], 0), (["score", "nope.csv"], 2)])
def test_the_entry_point_passes_the_status_on_and_restores_the_collector(tmp_path, args, status):
    found = entry_point_run(tmp_path, args, openblas=None)
    assert found["status"] == status
    assert found["threshold"] == [700, 10, 10]  # as it was before the command ran
    assert found["frozen"] > 1000  # what was alive at the end is left to the operating system
    assert found["blas"] == "1"  # OpenBLAS starts no threads of its own


def test_the_entry_point_leaves_a_given_openblas_setting(tmp_path):
    assert entry_point_run(tmp_path, ["--version"], openblas="2")["blas"] == "2"
