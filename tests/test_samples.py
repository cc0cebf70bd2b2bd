"""``sample_data/make_samples.py`` makes the same bytes on every run, and the NPZ is the CSVs.

A model's float64 outputs differ in their last bits with the BLAS's threads
and CPU kernels, and ``np.savez`` may stamp its members with the time, so the
script rounds every number as its CSV does, writes the NPZ with fixed
timestamps and no compression, and holds the BLAS to one thread. The script
itself runs in a few seconds, so it is run here, twice, into copies.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

SAMPLE_DATA = Path(__file__).parent.parent / "sample_data"
SCRIPT = SAMPLE_DATA / "make_samples.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_samples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_runs_of_the_script_write_the_same_bytes(tmp_path):
    made = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        shutil.copy(SCRIPT, folder)
        subprocess.run([sys.executable, str(folder / SCRIPT.name)], check=True, capture_output=True)
        made.append({p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".py"})
    first, second = made
    committed = [p.name for p in SAMPLE_DATA.iterdir() if p.suffix in {".csv", ".npz"}]
    assert sorted(first) == sorted(committed)
    for name in first:
        assert first[name] == second[name], name


def test_the_npz_holds_exactly_the_numbers_of_the_csv_files():
    npz = np.load(SAMPLE_DATA / "digits.npz")
    probs = np.loadtxt(SAMPLE_DATA / "digits_probs.csv", delimiter=",", skiprows=1)
    labels = np.loadtxt(SAMPLE_DATA / "digits_labels.csv", skiprows=1, dtype=np.int64)
    np.testing.assert_array_equal(npz["probs"], probs)
    np.testing.assert_array_equal(npz["labels"], labels)
    assert (npz["probs"].dtype, npz["labels"].dtype) == (np.float64, np.int64)


@pytest.mark.parametrize("clock", [(2001, 2, 3, 4, 5, 6), (2030, 12, 31, 23, 59, 58)])
def test_write_npz_gives_the_same_bytes_whatever_the_time(tmp_path, monkeypatch, clock):
    script = load_script()
    arrays = {"probs": np.random.default_rng(0).random((7, 3)), "labels": np.arange(7)}
    script.write_npz(tmp_path / "before.npz", **arrays)
    monkeypatch.setattr("time.localtime", lambda *_: (*clock, 0, 0, 0))
    monkeypatch.setattr("time.time", lambda: 1e9 + sum(clock))
    script.write_npz(tmp_path / "after.npz", **arrays)
    assert (tmp_path / "before.npz").read_bytes() == (tmp_path / "after.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "after.npz") as archive:
        members = archive.infolist()
    assert [m.filename for m in members] == ["probs.npy", "labels.npy"]
    assert {(m.date_time, m.compress_type) for m in members} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED)
    }
    loaded = np.load(tmp_path / "after.npz", allow_pickle=False)
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)


def test_as_written_is_what_the_csv_text_reads_back_as():
    script = load_script()
    values = np.array([[0.123456789012, 1e-12, 0.999999996], [0.5, 2 / 3, 1 / 7]])
    text = [f"{v:.8f}" for v in values.ravel()]
    np.testing.assert_array_equal(
        script.as_written(values, "{:.8f}").ravel(), [float(t) for t in text]
    )


def test_the_images_file_holds_the_labels_and_each_rows_image_in_scikit_learn():
    from sklearn.datasets import load_digits

    images = np.loadtxt(SAMPLE_DATA / "digits_images.csv", delimiter=",", skiprows=1, dtype=int)
    labels = np.loadtxt(SAMPLE_DATA / "digits_labels.csv", skiprows=1, dtype=np.int64)
    np.testing.assert_array_equal(images[:, 0], labels)
    index = images[:, 1]
    assert len(set(index.tolist())) == len(index)  # each a different image
    digits = load_digits()
    probs = np.loadtxt(SAMPLE_DATA / "digits_probs.csv", delimiter=",", skiprows=1)
    flipped = np.zeros(len(labels), bool)
    flipped[load_script().FLIPPED_ROWS] = True
    # the image's own digit is the label, but where the label was flipped on purpose
    np.testing.assert_array_equal(digits.target[index] == labels, ~flipped)
    # and what the model saw: its most probable digit is the image's on nearly every row
    assert np.mean(probs.argmax(axis=1) == digits.target[index]) > 0.95
