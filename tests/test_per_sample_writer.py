"""``--per-sample`` is written on a thread of its own: in order, whole, and cleaned up on failure.

References: the per-sample loss by its definition (``-log p[y]``) on the arrays
the test wrote, read back with pyarrow (CSV, Parquet) or NumPy (NPY).
"""

from __future__ import annotations

import errno
import subprocess
import sys

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import OutputError
from cecli.losses import score
from cecli.render import per_sample
from cecli.render.per_sample import PerSampleWriter

runner = CliRunner()
N, K = 20000, 4


@pytest.fixture
def npy_files(tmp_path):
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(K), size=N)
    labels = rng.integers(0, K, N)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", labels)
    return tmp_path / "p.npy", tmp_path / "y.npy", probs, labels


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_many_chunks_are_written_whole_and_in_order(npy_files, tmp_path, suffix):
    preds, labels, probs, y = npy_files
    out = tmp_path / f"out{suffix}"
    args = ["score", str(preds), str(labels), "--per-sample", str(out), "--chunk-size", "16K"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    if suffix == ".npy":
        table = np.load(out)
        rows, loss, label = table["row"], table["loss"], table["label"].tolist()
    else:
        table = pacsv.read_csv(out) if suffix == ".csv" else pq.read_table(out)
        rows, loss = table.column("row").to_numpy(), table.column("loss").to_numpy()
        label = [int(v) for v in table.column("label").to_pylist()]
    assert rows.tolist() == list(range(N))
    assert label == y.tolist()
    np.testing.assert_allclose(loss, -np.log(probs[np.arange(N), y]), rtol=1e-12)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_writer_imports_no_pandas(npy_files, tmp_path):
    preds, labels, _, _ = npy_files
    code = (
        "import sys\n"
        "from cecli.cli import main\n"
        "try:\n"
        f"    main(['score', {str(preds)!r}, {str(labels)!r}, '-f', 'json',\n"
        f"          '--per-sample', {str(tmp_path / 'out.parquet')!r}])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print('pandas' in sys.modules, 'pyarrow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.splitlines()[-1] == "False True"
    assert pq.read_table(tmp_path / "out.parquet").num_rows == N


def _chunks(probs, y, size=5000):
    return [
        score("categorical", y[i : i + size], probs[i : i + size], row_offset=i)
        for i in range(0, len(y), size)
    ]


def _writer(tmp_path, name: str) -> PerSampleWriter:
    return PerSampleWriter(
        str(tmp_path / name),
        inputs=[],
        classes=["a", "b", "c", "d"],
        kind="categorical",
        weighted=False,
    )


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.npy"])
def test_a_failure_on_the_writing_thread_is_raised_by_commit_and_leaves_nothing(
    npy_files, tmp_path, monkeypatch, name
):
    _, _, probs, y = npy_files
    (tmp_path / name).write_bytes(b"what the user had\n")
    writer = _writer(tmp_path, name)

    def full(scores, ids, columns):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "_write", full)

    def feed_and_commit() -> None:
        for chunk in _chunks(probs, y):  # the failure shows at a write or at the commit
            writer.write(chunk, None)
        writer.commit()

    with pytest.raises(OutputError, match="cannot be written: No space left on device"):
        feed_and_commit()
    writer.abort()
    assert (tmp_path / name).read_bytes() == b"what the user had\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not writer._thread.is_alive()


def test_abort_stops_the_thread_and_removes_the_temporary(npy_files, tmp_path):
    _, _, probs, y = npy_files
    writer = _writer(tmp_path, "out.parquet")
    for chunk in _chunks(probs, y):
        writer.write(chunk, None)
    writer.abort()
    assert not writer._thread.is_alive()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npy", "y.npy"]
    assert per_sample._unfinished == set()
