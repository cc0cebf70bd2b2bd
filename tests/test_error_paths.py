"""Error paths never crash: no abort at exit, no exit 3 for what the user can fix, clean signals.

* A pyarrow thread that still holds a buffer of Python memory when the
  interpreter exits aborts the process (exit 134, "terminate called without
  an active exception"). Runs of an error path and of a valid run, several at
  once so that the threads compete for the cores, must all exit as they should.
* Problems of the user's making in what cecli reads (``\\r`` line ends, a
  first row over 1 MiB, a closed standard input, a pipe) or where it writes
  its report are one line on stderr and exit 2, or simply work; the files it
  writes are checked in ``test_write_errors.py``.
* SIGTERM and SIGHUP stop a run as Ctrl-C does: the hidden temporary file of
  ``--per-sample`` is removed and what the user had is untouched.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cecli.cli import app
from cecli.readers import _background, open_source

runner = CliRunner()
N, K = 30, 3


def probs(n: int = N, k: int = K, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def targets(n: int = N, k: int = K, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, k, n)


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    """The definition: the mean of -log p[y]."""
    return float(np.mean([-math.log(p[i, y[i]]) for i in range(len(y))]))


def csv_text(header: list[str] | None, rows: list[list[object]], end: str = "\n") -> str:
    lines = ([",".join(header)] if header else []) + [",".join(map(str, r)) for r in rows]
    return end.join(lines) + end


def score_json(*args: object) -> dict:
    result = runner.invoke(app, ["score", *map(str, args), "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("cecli: error: "), stderr
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    return lines[0]


def cecli(*args: object, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """``cecli score ARGS`` in a process of its own; stdout and stderr captured unless given."""
    command = [sys.executable, "-m", "cecli", "score", *map(str, args)]
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(command, cwd=cwd, check=False, **kwargs)


# -- no abort at exit ---------------------------------------------------------------

#: An error found right after both files are read, as ``cecli score p.csv l.csv
#: --kind categorical`` finds it, in a process that then keeps the GIL until it
#: exits: a pyarrow thread that must free Python memory waits for the GIL until
#: the interpreter shuts down, which makes the abort likely on every run instead
#: of on one in a hundred. The switch interval bounds the wait for one that does.
HOLD_THE_GIL = """
import sys, time
sys.setswitchinterval(2)
from cecli.errors import CecliError
from cecli.inputs import InputOptions, Inputs
try:
    with Inputs(sys.argv[1], sys.argv[2], InputOptions(kind="categorical")):
        pass
except CecliError:
    start = time.perf_counter()
    while time.perf_counter() - start < 0.02:  # bytecode only: the GIL is not given up
        pass
    sys.exit(2)
"""


def _run_many(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    def one(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=cwd, capture_output=True, check=False, timeout=60)

    # more processes than cores: pyarrow's threads are descheduled at awkward moments
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, commands))


def _statuses(results: list[subprocess.CompletedProcess]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in results:
        counts[r.returncode] = counts.get(r.returncode, 0) + 1
    return counts


def test_an_error_path_never_aborts_at_exit(tmp_path):
    (tmp_path / "p.csv").write_text("a\n1.0\n1.0\n")
    (tmp_path / "l.csv").write_text("label\n0\n0\n")
    (tmp_path / "hold.py").write_text(HOLD_THE_GIL)
    held = [[sys.executable, "hold.py", "p.csv", "l.csv"]] * 24
    real = [[sys.executable, "-m", "cecli", "score", "p.csv", "l.csv", "--kind", "categorical"]]
    results = _run_many(held + real * 6, tmp_path)
    assert _statuses(results) == {2: 30}, [r.stderr[-300:] for r in results if r.returncode != 2]
    for r in results[len(held) :]:
        assert "Categorical scoring needs" in one_error_line(r.stderr.decode())


def test_a_valid_run_never_aborts_at_exit(tmp_path):
    p, y = probs(), targets()
    (tmp_path / "p.csv").write_text(csv_text(["a", "b", "c"], p.tolist()))
    (tmp_path / "l.csv").write_text(csv_text(["label"], [[int(v)] for v in y]))
    command = [sys.executable, "-m", "cecli", "score", "p.csv", "l.csv", "-f", "json"]
    results = _run_many([command] * 8 + [[*command, "--per-sample", "out.csv"]] * 4, tmp_path)
    assert _statuses(results) == {0: 12}, [r.stderr[-300:] for r in results if r.returncode]
    for r in results:
        assert json.loads(r.stdout)["mean_loss"] == pytest.approx(cross_entropy(p, y), rel=1e-12)


def _reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cecli-parse") and t.is_alive()]


def _wide_csv(path: Path, n: int = 20000) -> None:
    path.write_text(csv_text(["a", "b", "c", "label"], np.column_stack([probs(n), targets(n)])))


def test_closing_a_source_ends_its_reading_thread(tmp_path):
    _wide_csv(tmp_path / "p.csv", n=100_000)  # more blocks than the pool holds at a time
    before = _reading_threads()
    source = open_source(str(tmp_path / "p.csv"), chunk_bytes=64 << 10)
    frames = source.frames(1000, ["a", "b"])
    assert next(frames).n_rows > 0
    assert len(_reading_threads()) == len(before) + 1  # reading ahead, the check can fail
    source.close()  # the frames are left unread, as an error in the other file leaves them
    assert _reading_threads() == before
    frames.close()


def test_a_reader_nobody_closes_is_joined_before_the_interpreter_exits(tmp_path):
    _wide_csv(tmp_path / "p.csv", n=100_000)  # more blocks than the pool holds at a time
    before = _reading_threads()
    source = open_source(str(tmp_path / "p.csv"), chunk_bytes=64 << 10)
    frames = source.frames(1000, ["a", "b"])
    next(frames)
    assert len(_reading_threads()) == len(before) + 1
    _background._close_all()  # what the atexit hook runs
    assert _reading_threads() == before
    source.close()


def test_opened_files_are_closed_when_the_inputs_are_refused(tmp_path):
    _wide_csv(tmp_path / "p.csv")
    (tmp_path / "l.csv").write_text("label\n0\n")
    # a thread another test left ending on a busy machine is not this run's
    before = set(_reading_threads())
    result = runner.invoke(app, ["score", str(tmp_path / "p.csv"), str(tmp_path / "l.csv")])
    assert result.exit_code == 2
    assert [t for t in _reading_threads() if t not in before] == []


# -- \r line ends, long first rows ----------------------------------------------------


def _cr_cases(tmp: Path) -> dict[str, tuple[list[str], float]]:
    """Each case: the arguments, and the loss by the definition."""
    p, y = probs(), targets()
    want = cross_entropy(p, y)
    rows = p.tolist()
    label_rows = [[int(v)] for v in y]
    cases: dict[str, tuple[list[str], float]] = {}

    def write(name: str, text: str) -> str:
        (tmp / name).write_bytes(text.encode())
        return str(tmp / name)

    cases["predictions"] = (
        [
            write("p1.csv", csv_text(["a", "b", "c"], rows, "\r")),
            write("l1.csv", csv_text(["label"], label_rows)),
        ],
        want,
    )
    cases["labels"] = (
        [
            write("p2.csv", csv_text(["a", "b", "c"], rows)),
            write("l2.csv", csv_text(["label"], label_rows, "\r")),
        ],
        want,
    )
    cases["one file"] = (
        [
            write(
                "p3.csv",
                csv_text(
                    ["a", "b", "c", "label"],
                    [r + t for r, t in zip(rows, label_rows, strict=True)],
                    "\r",
                ),
            )
        ],
        want,
    )
    cases["no header"] = (
        [
            write("p4.csv", csv_text(None, rows, "\r")),
            write("l4.csv", csv_text(None, label_rows, "\r")),
        ],
        want,
    )
    tsv = "\r".join("\t".join(map(str, r)) for r in [["a", "b", "c"], *rows]) + "\r"
    cases["tsv"] = (
        [write("p5.tsv", tsv), write("l5.csv", csv_text(["label"], label_rows, "\r"))],
        want,
    )
    quoted = [[f'"id\r{i}"', *r] for i, r in enumerate(rows)]
    cases["quoted ids"] = (
        [
            write("p6.csv", csv_text(["id", "a", "b", "c"], quoted, "\r")),
            write("l6.csv", csv_text(["label"], label_rows, "\r")),
        ],
        want,
    )
    no_final = csv_text(["a", "b", "c"], rows, "\r")[:-1]  # no line end after the last row
    cases["no final line end"] = (
        [write("p7.csv", no_final), write("l7.csv", csv_text(["label"], label_rows, "\r"))],
        want,
    )
    return cases


@pytest.mark.parametrize(
    "case",
    ["predictions", "labels", "one file", "no header", "tsv", "quoted ids", "no final line end"],
)
def test_old_mac_line_ends_are_read_as_written(tmp_path, case):
    args, want = _cr_cases(tmp_path)[case]
    report = score_json(*args)
    assert report["n_samples"] == N
    assert report["mean_loss"] == pytest.approx(want, rel=1e-12)


def test_carriage_returns_are_read_block_by_block(tmp_path):
    # many blocks of 64 KiB, each cut at a \r: every row is read once
    n = 20000
    p, y = probs(n), targets(n)
    (tmp_path / "p.csv").write_bytes(csv_text(["a", "b", "c"], p.tolist(), "\r").encode())
    (tmp_path / "l.csv").write_bytes(csv_text(["label"], [[int(v)] for v in y], "\r").encode())
    report = score_json(tmp_path / "p.csv", tmp_path / "l.csv", "--chunk-size", "64K")
    assert report["n_samples"] == n
    assert report["mean_loss"] == pytest.approx(cross_entropy(p, y), rel=1e-9)


def _padded(x: float, width: int) -> str:
    """``x`` written with ``width`` characters: trailing zeros after 17 significant digits."""
    text = f"{x:.17f}"
    return text + "0" * (width - len(text))


@pytest.mark.parametrize(
    "case", ["long id", "long numbers", "long id, one file", "long id, later rows too"]
)
def test_a_first_row_over_a_mebibyte_is_read(tmp_path, case):
    p, y = probs(), targets()
    header = ["id", "a", "b", "c"]
    ids = [f"row{i}" for i in range(N)]
    ids[0] = "x" * (2 << 20)
    if case == "long id, later rows too":
        ids[N // 2] = "y" * (3 << 20)
    cells = [[ids[i], *(repr(float(v)) for v in p[i])] for i in range(N)]
    if case == "long numbers":  # 1.5 MB in the first row, every cell a plain number
        header = ["id", *[f"c{j}" for j in range(K)]]
        cells = [[f"row{i}", *(_padded(v, 500_000) for v in p[i])] for i in range(N)]
    label_rows = [[int(v)] for v in y]
    if case == "long id, one file":
        (tmp_path / "p.csv").write_text(
            csv_text([*header, "label"], [c + t for c, t in zip(cells, label_rows, strict=True)])
        )
        args = [tmp_path / "p.csv"]
    else:
        (tmp_path / "p.csv").write_text(csv_text(header, cells))
        (tmp_path / "l.csv").write_text(csv_text(["label"], label_rows))
        args = [tmp_path / "p.csv", tmp_path / "l.csv"]
    report = score_json(*args)
    assert report["n_samples"] == N
    assert report["mean_loss"] == pytest.approx(cross_entropy(p, y), rel=1e-9)


@pytest.mark.parametrize("where", [0, 1, 17])
def test_a_long_bad_cell_is_one_short_line(tmp_path, where):
    rows = probs().tolist()
    rows[where][1] = "z" * (2 << 20)  # 2 MiB of text where a number should be
    (tmp_path / "p.csv").write_text(csv_text(["a", "b", "c"], rows))
    (tmp_path / "l.csv").write_text(csv_text(["label"], [[int(v)] for v in targets()]))
    result = runner.invoke(app, ["score", str(tmp_path / "p.csv"), str(tmp_path / "l.csv")])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert f"row {where} " in line
    assert "'b'" in line
    assert "2,097,152 characters" in line
    assert len(line) < 600


# -- standard input, FIFOs, devices -----------------------------------------------------


def _labels_file(tmp: Path, n: int = N) -> Path:
    if n > 10_000:  # only the count matters
        (tmp / "l.csv").write_text("label\n" + "1\n" * n)
    else:
        (tmp / "l.csv").write_text(csv_text(["label"], [[int(v)] for v in targets(n)]))
    return tmp / "l.csv"


def test_a_closed_standard_input_is_one_line(tmp_path):
    _labels_file(tmp_path)
    result = cecli("-", "l.csv", cwd=tmp_path, preexec_fn=lambda: os.close(0))
    assert result.returncode == 2
    line = one_error_line(result.stderr.decode())
    assert "standard input" in line
    assert "closed" in line


@pytest.mark.parametrize(
    ("opened", "flags", "words"),
    [
        (os.devnull, os.O_RDONLY, "is empty"),
        ("l.csv", os.O_WRONLY, "could not be read (Bad file descriptor)"),
    ],
    ids=["empty", "write-only"],
)
def test_standard_input_that_cannot_be_read_is_one_line(tmp_path, opened, flags, words):
    _labels_file(tmp_path)
    fd = os.open(tmp_path / opened, flags)
    try:
        result = cecli("-", "l.csv", cwd=tmp_path, stdin=fd)
    finally:
        os.close(fd)
    assert result.returncode == 2
    line = one_error_line(result.stderr.decode())
    assert "standard input" in line
    assert words in line


def test_a_non_blocking_standard_input_is_read_to_its_end(tmp_path):
    # a parent may leave the pipe non-blocking: a read with nothing yet is not the end
    import fcntl

    p, y = probs(), targets()
    _labels_file(tmp_path)
    text = csv_text(["a", "b", "c"], p.tolist()).encode()
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETFL, fcntl.fcntl(read_end, fcntl.F_GETFL) | os.O_NONBLOCK)
    command = [sys.executable, "-m", "cecli", "score", "-", "l.csv", "-f", "json"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdin=read_end, stdout=subprocess.PIPE)
    os.close(read_end)
    os.write(write_end, text[: len(text) // 2])
    time.sleep(0.5)  # cecli finds the pipe empty before the rest comes
    os.write(write_end, text[len(text) // 2 :])
    os.close(write_end)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    report = json.loads(stdout)
    assert report["n_samples"] == N
    assert report["mean_loss"] == pytest.approx(cross_entropy(p, y), rel=1e-12)


def test_a_fifo_is_read_like_a_file(tmp_path):
    p, y = probs(), targets()
    _labels_file(tmp_path)
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    text = csv_text(["a", "b", "c"], p.tolist()).encode()

    def feed() -> None:
        with open(fifo, "wb") as out:
            for i in range(0, len(text), 100):  # in small pieces, as a slow writer would
                out.write(text[i : i + 100])
                out.flush()

    writer = threading.Thread(target=feed)
    writer.start()
    result = cecli("p.csv", "l.csv", "-f", "json", cwd=tmp_path, timeout=60)
    writer.join()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mean_loss"] == pytest.approx(cross_entropy(p, y), rel=1e-12)


def test_a_device_as_input_is_one_line(tmp_path):
    _labels_file(tmp_path)
    result = cecli(os.devnull, "l.csv", "--input-format", "csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "empty" in one_error_line(result.stderr.decode())


def test_a_full_standard_output_is_one_line(tmp_path):
    (tmp_path / "p.csv").write_text(csv_text(["a", "b", "c"], probs().tolist()))
    _labels_file(tmp_path)
    for fmt in ("table", "json", "csv"):
        with open("/dev/full", "wb") as full:
            result = cecli(
                "p.csv", "l.csv", "-f", fmt, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE
            )
        assert result.returncode == 2
        line = one_error_line(result.stderr.decode())
        assert "standard output" in line
        assert "No space left on device" in line


# -- signals ----------------------------------------------------------------------------

ROW = "0.2,0.3,0.5\n"


def _start(tmp: Path, *, ignore: tuple[int, ...] = ()) -> subprocess.Popen:
    """``cecli score - l.csv --per-sample out.csv``, its predictions fed by the test."""

    def dispositions() -> None:  # as a shell or CI would start it, whatever ran the tests
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN if s in ignore else signal.SIG_DFL)

    command = [sys.executable, "-m", "cecli", "score", "-", "l.csv", "--per-sample", "out.csv"]
    return subprocess.Popen(
        command,
        cwd=tmp,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=dispositions,
    )


def _temporaries(tmp: Path) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith(".out.csv.")]


def _wait_for_temporary(tmp: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not _temporaries(tmp):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.01)


#: Rows: more than cecli reads before it starts (the first MiB, and a block of 8 MiB).
FIRST_PART = 850_000
REST = 1000


@pytest.mark.parametrize(
    ("signum", "status", "word"),
    [
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "terminated"),
        (signal.SIGINT, 130, "interrupted"),
    ],
    ids=["TERM", "HUP", "INT"],
)
def test_a_signal_mid_run_leaves_the_users_file_and_no_temporary(tmp_path, signum, status, word):
    _labels_file(tmp_path, FIRST_PART + REST)
    out = tmp_path / "out.csv"
    out.write_bytes(b"what the user had\n")
    proc = _start(tmp_path)
    try:
        proc.stdin.write(("a,b,c\n" + ROW * FIRST_PART).encode())
        proc.stdin.flush()
        _wait_for_temporary(tmp_path, proc)
        proc.send_signal(signum)
        # the input is still open: cecli must not wait for more of it
        returncode = proc.wait(timeout=60)
        stderr = proc.stderr.read().decode()
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert returncode == status, stderr
    assert stderr == f"cecli: {word}\n"
    assert out.read_bytes() == b"what the user had\n"
    assert _temporaries(tmp_path) == []


def test_an_ignored_hangup_stays_ignored(tmp_path):
    # under nohup, SIGHUP must not stop the run
    _labels_file(tmp_path, FIRST_PART + REST)
    proc = _start(tmp_path, ignore=(signal.SIGHUP,))
    proc.stdin.write(("a,b,c\n" + ROW * FIRST_PART).encode())
    proc.stdin.flush()
    _wait_for_temporary(tmp_path, proc)
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate((ROW * REST).encode(), timeout=120)
    assert proc.returncode == 0, stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert len(rows) == 1 + FIRST_PART + REST
    assert _temporaries(tmp_path) == []


# -- binary formats --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["p.npy", "p.npz", "p.parquet"])
def test_a_pipe_given_as_a_binary_format_is_one_line(tmp_path, name):
    os.mkfifo(tmp_path / name)  # nobody writes: cecli must not wait for a writer
    _labels_file(tmp_path)
    result = runner.invoke(app, ["score", str(tmp_path / name), str(tmp_path / "l.csv")])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "pipe" in line
    assert "CSV" in line


@pytest.mark.parametrize(("n", "where"), [(50, 0.5), (20000, 0.25), (20000, 0.75)])
def test_a_damaged_npz_is_one_line(tmp_path, n, where):
    p = np.random.default_rng(0).dirichlet(np.ones(3), n)
    np.savez_compressed(tmp_path / "p.npz", predictions=p, labels=np.arange(n) % 3)
    data = bytearray((tmp_path / "p.npz").read_bytes())
    data[int(len(data) * where)] ^= 0x55  # one flipped byte inside a compressed member
    (tmp_path / "p.npz").write_bytes(bytes(data))
    result = runner.invoke(app, ["score", str(tmp_path / "p.npz")])
    assert result.exit_code == 2
    assert "p.npz" in one_error_line(result.stderr)
