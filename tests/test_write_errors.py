"""Files cecli writes: a folder that refuses them, a full disk, a device behind the name.

Each is one line on stderr and exit status 2 (or, for /dev/null, simply works),
and what the user had at the path is left byte for byte.
"""

from __future__ import annotations

import errno
import os
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

from cecli.cli import app
from cecli.render import _csv_file

runner = CliRunner()
N, K = 30, 3


def probs(n: int = N) -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(K), size=n)


def targets(n: int = N) -> np.ndarray:
    return np.random.default_rng(1).integers(0, K, n)


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    return "\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n"


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("cecli: error: "), stderr
    assert "internal error" not in stderr
    return lines[0]


def _labels_file(tmp, n: int = N):
    (tmp / "l.csv").write_text(csv_text(["label"], [[int(v)] for v in targets(n)]))
    return tmp / "l.csv"


# -- files cecli writes -----------------------------------------------------------------


def _score_files(tmp, n: int = N) -> tuple:
    (tmp / "p.csv").write_text(csv_text(["a", "b", "c"], probs(n).tolist()))
    return tmp / "p.csv", _labels_file(tmp, n)


def _refuse(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.npy"])
def test_a_folder_that_refuses_the_per_sample_file_is_one_line(tmp_path, monkeypatch, name):
    p, y = _score_files(tmp_path)
    out = tmp_path / name
    out.write_bytes(b"what the user had\n")
    monkeypatch.setattr(tempfile, "mkstemp", _refuse)  # as a read-only folder refuses it
    result = runner.invoke(app, ["score", str(p), str(y), "--per-sample", str(out)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--per-sample" in line
    assert "Permission denied" in line
    assert out.read_bytes() == b"what the user had\n"


def test_a_folder_that_refuses_the_picture_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    p, y = _score_files(tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"what the user had\n")
    monkeypatch.setattr(tempfile, "mkstemp", _refuse)
    for command in (
        ["score", str(p), str(y)],
        ["compare", str(p), str(p), str(y), "--bootstrap", "50"],
    ):
        result = runner.invoke(app, [*command, "--plot", str(out)])
        assert result.exit_code == 2
        line = one_error_line(result.stderr)
        assert "--plot" in line
        assert "Permission denied" in line
        assert out.read_bytes() == b"what the user had\n"


@pytest.mark.parametrize("folder", ["/proc", "/sys"])
@pytest.mark.parametrize(
    ("option", "name"), [("--per-sample", "cecli-test.csv"), ("--plot", "cecli-test.png")]
)
def test_a_system_folder_that_refuses_writes_is_one_line(tmp_path, folder, option, name):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    if not os.path.isdir(folder):
        pytest.skip(f"no {folder} here")
    p, y = _score_files(tmp_path)
    result = runner.invoke(app, ["score", str(p), str(y), option, f"{folder}/{name}"])
    assert result.exit_code == 2
    assert "cannot be written" in one_error_line(result.stderr)


class _DiskFillsUp:
    """A per-sample CSV file on a disk full from its second write on; closing it fails too.

    The first write reaches the real temporary file, so there is half a file to clean up.
    """

    def __init__(self, path):
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close
        self.writes = 0

    def write(self, data):
        self.writes += 1
        if self.writes > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def close(self):
        self.file.close()
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_disk_that_fills_up_mid_write_loses_nothing(tmp_path, monkeypatch):
    p, y = tmp_path / "p.npy", tmp_path / "y.npy"
    np.save(p, probs(5000))
    np.save(y, targets(5000))  # read 682 rows at a time: several chunks, several writes
    out = tmp_path / "out.csv"
    out.write_bytes(b"what the user had\n")
    opened = []
    monkeypatch.setattr(
        _csv_file, "_open", lambda path: opened.append(_DiskFillsUp(path)) or opened[-1]
    )
    before = set(tmp_path.iterdir())
    result = runner.invoke(
        app, ["score", str(p), str(y), "--per-sample", str(out), "--chunk-size", "16K"]
    )
    assert [f.writes for f in opened] == [2]  # the failure came mid-file, from the disk
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--per-sample" in line
    assert line.endswith("No space left on device.")
    assert out.read_bytes() == b"what the user had\n"
    assert set(tmp_path.iterdir()) == before  # no temporary left


@pytest.mark.parametrize(("device", "status"), [("/dev/full", 2), (os.devnull, 0)])
def test_a_name_that_points_at_a_device_is_written_in_place(tmp_path, device, status):
    p, y = _score_files(tmp_path)
    link = tmp_path / "out.csv"
    link.symlink_to(device)
    result = runner.invoke(app, ["score", str(p), str(y), "--per-sample", str(link)])
    assert result.exit_code == status, result.output
    if status:
        assert "No space left on device" in one_error_line(result.stderr)
    assert link.is_symlink()
    assert os.readlink(link) == device
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []
