"""Reading predictions and labels: every format, chunking and label form scores alike.

The same predictions and labels written as CSV, TSV, compressed CSV, NPY,
NPZ, Parquet or piped through standard input must give the losses that
scikit-learn's ``log_loss`` (and :func:`cecli.categorical_cross_entropy`)
give on the original arrays. Floats are written with ``repr``, which
round-trips exactly, so the losses agree to 1e-12. Reading in tiny chunks
must give exactly what one chunk gives, and every form a label may take
(indices, names, one-hot rows, booleans, two strings with ``--positive``)
must mean the same thing.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

import cecli
from cecli.cli import app
from cecli.errors import CecliError
from cecli.inputs import InputOptions, Inputs
from cecli.pipeline import ScoreOptions, score_inputs

CLOSE = dict(rel=1e-12, abs=1e-12)
THRESHOLD = 0.9
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

runner = CliRunner()


# -- data and references ------------------------------------------------------------


def make_probs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Rows of probabilities, often confident (so some rows are flagged), never near 0."""
    return 0.98 * rng.dirichlet(np.full(k, 0.3), size=n) + 0.02 / k


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    """240 rows, 4 classes: (labels, probs)."""
    rng = np.random.default_rng(20240601)
    probs = make_probs(rng, 240, 4)
    labels = rng.integers(0, 4, 240)
    return labels, probs


@dataclass(frozen=True)
class Scores:
    """What a run read and scored: the aggregate, and every row's loss in row order."""

    mean_loss: float
    n_samples: int
    flagged_count: int
    counts: list[int]
    classes: list[str]
    rows: np.ndarray
    losses: np.ndarray


def score_files(predictions: Path | str, labels: Path | str | None = None, **options) -> Scores:
    """Score through the Python API, collecting per-sample losses with ``on_batch``."""
    rows: list[np.ndarray] = []
    losses: list[np.ndarray] = []

    def collect(batch, scores, columns) -> None:
        rows.append(scores.rows.copy())
        losses.append(scores.loss.copy())

    label_path = None if labels is None else str(labels)
    with Inputs(str(predictions), label_path, InputOptions(**options)) as inputs:
        scored = score_inputs(inputs, ScoreOptions(threshold=THRESHOLD), on_batch=collect)
        classes = list(inputs.classes)
    s = scored.summary
    return Scores(
        mean_loss=s.mean_loss,
        n_samples=s.n_samples,
        flagged_count=s.flagged_count,
        counts=[c.count for c in s.per_class],
        classes=classes,
        rows=np.concatenate(rows),
        losses=np.concatenate(losses),
    )


def flagged(labels: np.ndarray, probs: np.ndarray) -> int:
    """Confidently wrong, by definition: the argmax is not the label, with p >= threshold."""
    return int(((probs.argmax(axis=1) != labels) & (probs.max(axis=1) >= THRESHOLD)).sum())


def assert_scores(got: Scores, labels: np.ndarray, probs: np.ndarray) -> None:
    """``got`` is the categorical cross-entropy of ``probs`` against class indices ``labels``."""
    n, k = probs.shape
    assert got.n_samples == n
    assert got.rows.tolist() == list(range(n))
    assert got.mean_loss == pytest.approx(log_loss(labels, probs, labels=np.arange(k)), **CLOSE)
    assert got.mean_loss == pytest.approx(
        float(cecli.categorical_cross_entropy(labels, probs).loss), **CLOSE
    )
    np.testing.assert_allclose(got.losses, -np.log(probs[np.arange(n), labels]), rtol=1e-12)
    assert got.flagged_count == flagged(labels, probs)
    assert got.counts == np.bincount(labels, minlength=k).tolist()


def assert_binary_scores(got: Scores, targets: np.ndarray, p: np.ndarray) -> None:
    """``got`` is the binary cross-entropy of ``p`` (the positive class's) against 0/1 targets."""
    assert got.n_samples == len(p)
    assert got.mean_loss == pytest.approx(log_loss(targets, p, labels=[0, 1]), **CLOSE)
    assert got.mean_loss == pytest.approx(
        float(cecli.binary_cross_entropy(targets, p).loss), **CLOSE
    )
    expected = -np.log(np.where(targets == 1, p, 1 - p))
    np.testing.assert_allclose(got.losses, expected, rtol=1e-12)


# -- writing files ------------------------------------------------------------------


def cell(value: object) -> str:
    """Text of one CSV cell; floats with ``repr``, which reads back as the same float."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def csv_bytes(
    columns: dict[str, np.ndarray],
    *,
    delimiter: str = ",",
    header: bool = True,
    newline: str = "\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    if header:
        writer.writerow(list(columns))
    n = len(next(iter(columns.values())))
    for i in range(n):
        writer.writerow([cell(values[i]) for values in columns.values()])
    return out.getvalue().encode("utf-8")


def write(path: Path, data: bytes) -> Path:
    """Write ``data``, compressed as the file's last suffix says."""
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    elif path.suffix == ".bz2":
        with bz2.open(path, "wb") as f:
            f.write(data)
    elif path.suffix == ".zst":
        with pa.CompressedOutputStream(str(path), "zstd") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def prob_columns(probs: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
    names = names or [str(j) for j in range(probs.shape[1])]
    return {name: probs[:, j] for j, name in enumerate(names)}


# -- round trips --------------------------------------------------------------------

#: A way of saving the data: (tmp_path, labels, probs) -> (predictions, labels or None,
#: options, bytes for standard input or None).
Saved = tuple[str, str | None, dict, bytes | None]


def as_csv(suffix: str) -> Callable[[Path, np.ndarray, np.ndarray], Saved]:
    def save(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
        columns = {**prob_columns(probs), "label": labels}
        path = write(tmp / f"preds{suffix}", csv_bytes(columns))
        return str(path), None, {}, None

    return save


def as_tsv_pair(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    preds = write(tmp / "preds.tsv", csv_bytes(prob_columns(probs), delimiter="\t"))
    truth = write(tmp / "labels.tsv", csv_bytes({"label": labels}, delimiter="\t"))
    return str(preds), str(truth), {}, None


def as_npy_pair(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    np.save(tmp / "preds.npy", probs)
    np.save(tmp / "labels.npy", labels)
    return str(tmp / "preds.npy"), str(tmp / "labels.npy"), {}, None


def as_npz(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    np.savez(tmp / "outputs.npz", probs=probs, labels=labels)
    return str(tmp / "outputs.npz"), None, {}, None


def as_npz_compressed(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    np.savez_compressed(tmp / "outputs.npz", logits_unused=probs[:1], predictions=probs, y=labels)
    return str(tmp / "outputs.npz"), None, {}, None


def as_npz_keys(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    np.savez(tmp / "outputs.npz", model_out=probs, truth=labels, other=labels[:3])
    return str(tmp / "outputs.npz"), None, {"pred_key": "model_out", "label_key": "truth"}, None


def as_parquet(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    table = pa.table({**prob_columns(probs), "label": labels})
    pq.write_table(table, tmp / "preds.parquet", row_group_size=100)
    return str(tmp / "preds.parquet"), None, {}, None


def as_parquet_list(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    table = pa.table({"label": labels, "probs": pa.array(list(probs), pa.list_(pa.float64()))})
    pq.write_table(table, tmp / "preds.parquet", row_group_size=100)
    return str(tmp / "preds.parquet"), None, {}, None


def as_parquet_fixed_list(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    k = probs.shape[1]
    values = pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), k)
    pq.write_table(pa.table({"probs": values, "y": labels}), tmp / "preds.pq", row_group_size=70)
    return str(tmp / "preds.pq"), None, {}, None


def as_stdin(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    return "-", None, {}, csv_bytes({**prob_columns(probs), "label": labels})


def as_npy_with_labels_on_stdin(tmp: Path, labels: np.ndarray, probs: np.ndarray) -> Saved:
    np.save(tmp / "preds.npy", probs)
    return str(tmp / "preds.npy"), "-", {}, csv_bytes({"label": labels})


SAVERS = {
    "csv": as_csv(".csv"),
    "tsv-pair": as_tsv_pair,
    "csv.gz": as_csv(".csv.gz"),
    "csv.bz2": as_csv(".csv.bz2"),
    "csv.zst": as_csv(".csv.zst"),
    "npy-pair": as_npy_pair,
    "npz": as_npz,
    "npz-compressed": as_npz_compressed,
    "npz-keys": as_npz_keys,
    "parquet": as_parquet,
    "parquet-list": as_parquet_list,
    "parquet-fixed-list": as_parquet_fixed_list,
    "stdin": as_stdin,
    "stdin-labels": as_npy_with_labels_on_stdin,
}


def fake_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes | None) -> None:
    if data is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("saver", SAVERS.values(), ids=SAVERS.keys())
def test_every_format_gives_the_reference_losses(saver, data, tmp_path, monkeypatch):
    labels, probs = data
    preds, truth, options, stdin = saver(tmp_path, labels, probs)
    fake_stdin(monkeypatch, stdin)
    got = score_files(preds, truth, **options)
    assert_scores(got, labels, probs)
    assert got.classes == ["0", "1", "2", "3"]


@pytest.mark.parametrize("saver", SAVERS.values(), ids=SAVERS.keys())
def test_tiny_chunks_give_exactly_what_one_chunk_gives(saver, data, tmp_path, monkeypatch):
    labels, probs = data
    preds, truth, options, stdin = saver(tmp_path, labels, probs)
    fake_stdin(monkeypatch, stdin)
    whole = score_files(preds, truth, chunk_bytes=1 << 30, **options)
    fake_stdin(monkeypatch, stdin)
    # 4 float64 columns: 3 rows a chunk, with row groups of 70 or 100 rows
    tiny = score_files(preds, truth, chunk_bytes=100, **options)
    assert np.array_equal(tiny.rows, whole.rows)
    assert np.array_equal(tiny.losses, whole.losses)
    assert tiny.mean_loss == pytest.approx(whole.mean_loss, **CLOSE)
    assert (tiny.n_samples, tiny.flagged_count, tiny.counts) == (
        whole.n_samples,
        whole.flagged_count,
        whole.counts,
    )


def test_csv_larger_than_a_block_reads_across_block_boundaries(tmp_path):
    """CSV blocks are at least 64 KiB: a 3000-row file spans several, with quoted ids whose
    commas and line breaks must not be taken for the end of a field or a row."""
    rng = np.random.default_rng(7)
    n, k = 3000, 4
    probs = make_probs(rng, n, k)
    labels = rng.integers(0, k, n)
    ids = np.array([f'row "{i}",\nline {i % 3}' if i % 7 == 0 else f"r{i}" for i in range(n)])
    preds = write(tmp_path / "preds.csv", csv_bytes({"id": ids, **prob_columns(probs)}))
    truth = write(tmp_path / "labels.csv", csv_bytes({"label": labels}))
    assert preds.stat().st_size > 3 * (64 << 10)

    one = score_files(preds, truth, chunk_bytes=1 << 30)
    assert_scores(one, labels, probs)
    many = score_files(preds, truth, chunk_bytes=1)
    assert_scores(many, labels, probs)
    assert np.array_equal(many.losses, one.losses)
    assert many.mean_loss == pytest.approx(one.mean_loss, **CLOSE)


def test_quotes_first_seen_past_the_first_mebibyte(tmp_path):
    """Column types (and whether fields are quoted) are guessed from the first MiB; quoted
    fields with line breaks that only start later must still be read as fields."""
    rng = np.random.default_rng(11)
    n, k = 20_000, 4
    probs = make_probs(rng, n, k)
    labels = rng.integers(0, k, n)
    ids = np.array([f'late, "quoted"\nid {i}' if i >= n - 50 else f"r{i}" for i in range(n)])
    path = write(tmp_path / "preds.csv", csv_bytes({"id": ids, **prob_columns(probs), "y": labels}))
    assert path.read_bytes().index(b'"') > 1 << 20
    assert_scores(score_files(path), labels, probs)


@pytest.mark.parametrize("where", ["predictions", "labels"])
def test_id_and_weight_columns(where, pets, tmp_path):
    """Ids and sample weights may share a file with the predictions or with the labels."""
    labels, probs = pets
    n = len(labels)
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.1, 3.0, n)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    extra = {"id": ids, "weight": weights}
    pred_columns = prob_columns(probs, ["cat", "dog", "emu"])
    label_columns = {"label": NAMES[labels]}
    if where == "predictions":
        pred_columns = {**extra, **pred_columns}
    else:
        label_columns = {**extra, **label_columns}
    write(tmp_path / "preds.csv", csv_bytes(pred_columns))
    pq.write_table(pa.table(label_columns), tmp_path / "labels.parquet", row_group_size=7)
    options = InputOptions(weight_col="weight", id_col="id", chunk_bytes=100)
    with Inputs(str(tmp_path / "preds.csv"), str(tmp_path / "labels.parquet"), options) as inputs:
        scored = score_inputs(inputs, ScoreOptions(keep=None))
    summary = scored.summary
    assert summary.mean_loss == pytest.approx(
        log_loss(labels, probs, sample_weight=weights), **CLOSE
    )
    assert summary.weight_sum == pytest.approx(weights.sum(), **CLOSE)
    assert scored.ids == {r.row: ids[r.row] for r in summary.worst + summary.flagged}
    assert len(scored.ids) == n


def test_ids_with_line_breaks_name_the_flagged_rows(tmp_path):
    rng = np.random.default_rng(8)
    n, k = 50, 3
    probs = make_probs(rng, n, k)
    labels = rng.integers(0, k, n)
    ids = np.array([f"sample, {i}\nsecond line" for i in range(n)])
    path = write(tmp_path / "preds.csv", csv_bytes({"id": ids, **prob_columns(probs)}))
    truth = write(tmp_path / "labels.csv", csv_bytes({"label": labels}))
    with Inputs(str(path), str(truth), InputOptions()) as inputs:
        scored = score_inputs(inputs, ScoreOptions(threshold=THRESHOLD, keep=None))
    assert scored.summary.flagged_count == flagged(labels, probs) > 0
    assert scored.ids == {r.row: ids[r.row] for r in scored.summary.worst + scored.summary.flagged}


# -- label forms --------------------------------------------------------------------


@pytest.fixture
def pets() -> tuple[np.ndarray, np.ndarray]:
    """60 rows, 3 classes (cat, dog, emu): (labels, probs)."""
    rng = np.random.default_rng(99)
    return rng.integers(0, 3, 60), make_probs(rng, 60, 3)


NAMES = np.array(["cat", "dog", "emu"])


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.int64)[labels]


def labels_indices(tmp, labels, probs):
    preds = csv_bytes(prob_columns(probs, ["cat", "dog", "emu"]))
    return preds, {"label": labels}


def labels_names(tmp, labels, probs):
    return csv_bytes(prob_columns(probs, ["cat", "dog", "emu"])), {"label": NAMES[labels]}


def labels_names_prefix_stripped(tmp, labels, probs):
    preds = csv_bytes(prob_columns(probs, ["prob_cat", "prob_dog", "prob_emu"]))
    return preds, {"label": NAMES[labels]}


def labels_names_as_headers(tmp, labels, probs):
    preds = csv_bytes(prob_columns(probs, ["prob_cat", "prob_dog", "prob_emu"]))
    return preds, {"label": np.array(["prob_cat", "prob_dog", "prob_emu"])[labels]}


def labels_integer_names(tmp, labels, probs):
    """scikit-learn's classes_ [3, 5, 7] as headers: the label 5 is column "5", not index 5."""
    preds = csv_bytes(prob_columns(probs, ["3", "5", "7"]))
    return preds, {"label": np.array([3, 5, 7])[labels]}


def labels_integral_floats(tmp, labels, probs):
    return csv_bytes(prob_columns(probs)), {"label": labels.astype(float)}


def labels_one_hot_reordered(tmp, labels, probs):
    targets = one_hot(labels, 3)
    preds = csv_bytes(prob_columns(probs, ["cat", "dog", "emu"]))
    return preds, {"emu": targets[:, 2], "cat": targets[:, 0], "dog": targets[:, 1]}


def labels_one_hot_prefix_stripped(tmp, labels, probs):
    targets = one_hot(labels, 3)
    preds = csv_bytes(prob_columns(probs, ["p.cat", "p.dog", "p.emu"]))
    return preds, {"dog": targets[:, 1], "emu": targets[:, 2], "cat": targets[:, 0]}


def labels_with_id_column(tmp, labels, probs):
    preds = csv_bytes({"id": np.arange(len(labels)) + 1000, **prob_columns(probs)})
    return preds, {"id": np.arange(len(labels)) + 1000, "Target": labels}


LABEL_FORMS = {
    "indices": labels_indices,
    "names": labels_names,
    "names-prefix-stripped": labels_names_prefix_stripped,
    "names-as-headers": labels_names_as_headers,
    "integer-names": labels_integer_names,
    "integral-floats": labels_integral_floats,
    "one-hot-reordered": labels_one_hot_reordered,
    "one-hot-prefix-stripped": labels_one_hot_prefix_stripped,
    "label-and-id-columns": labels_with_id_column,
}


@pytest.mark.parametrize("form", LABEL_FORMS.values(), ids=LABEL_FORMS.keys())
def test_label_forms_in_a_csv_file_agree(form, pets, tmp_path):
    labels, probs = pets
    preds, label_columns = form(tmp_path, labels, probs)
    write(tmp_path / "preds.csv", preds)
    write(tmp_path / "labels.csv", csv_bytes(label_columns))
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.csv", chunk_bytes=200)
    assert_scores(got, labels, probs)


def test_integer_class_names_name_the_classes(pets, tmp_path):
    labels, probs = pets
    write(tmp_path / "preds.csv", csv_bytes({**prob_columns(probs, ["3", "5", "7"])}))
    write(tmp_path / "labels.csv", csv_bytes({"label": np.array([3, 5, 7])[labels]}))
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.csv")
    assert got.classes == ["3", "5", "7"]


def test_label_column_inside_the_predictions_file(pets, tmp_path):
    labels, probs = pets
    columns = {"y_true": NAMES[labels], **prob_columns(probs, ["prob_cat", "prob_dog", "prob_emu"])}
    write(tmp_path / "preds.csv", csv_bytes(columns))
    got = score_files(tmp_path / "preds.csv")
    assert_scores(got, labels, probs)
    assert got.classes == ["cat", "dog", "emu"]


@pytest.mark.parametrize(
    "labels_as",
    ["npy-strings", "npy-one-hot", "parquet-dictionary", "parquet-strings", "npy-int32"],
)
def test_label_forms_in_binary_files_agree(labels_as, pets, tmp_path):
    labels, probs = pets
    write(tmp_path / "preds.csv", csv_bytes(prob_columns(probs, ["cat", "dog", "emu"])))
    if labels_as == "npy-strings":
        np.save(tmp_path / "labels.npy", NAMES[labels])
    elif labels_as == "npy-one-hot":
        np.save(tmp_path / "labels.npy", one_hot(labels, 3).astype(np.float32))
    elif labels_as == "npy-int32":
        np.save(tmp_path / "labels.npy", labels.astype(np.int32))
    elif labels_as == "parquet-dictionary":
        names = pa.array(NAMES[labels]).dictionary_encode()
        pq.write_table(pa.table({"label": names}), tmp_path / "labels.parquet")
    else:
        pq.write_table(pa.table({"label": NAMES[labels]}), tmp_path / "labels.parquet")
    truth = next(tmp_path.glob("labels.*"))
    assert_scores(score_files(tmp_path / "preds.csv", truth, chunk_bytes=100), labels, probs)


@pytest.fixture
def coin() -> tuple[np.ndarray, np.ndarray]:
    """80 binary rows: (0/1 targets, the positive class's probability)."""
    rng = np.random.default_rng(5)
    targets = rng.integers(0, 2, 80)
    return targets, 0.01 + 0.98 * rng.beta(0.4, 0.4, 80)


@pytest.mark.parametrize(
    ("label_values", "options"),
    [
        pytest.param(lambda t: t, {}, id="zero-one"),
        pytest.param(lambda t: t.astype(bool), {}, id="booleans"),
        pytest.param(lambda t: t.astype(float), {}, id="integral-floats"),
        pytest.param(lambda t: np.where(t == 1, "spam", "ham"), {"positive": "spam"}, id="strings"),
        pytest.param(lambda t: np.where(t == 1, "True", "False"), {}, id="capitalised-booleans"),
    ],
)
def test_binary_label_forms_agree(label_values, options, coin, tmp_path):
    targets, p = coin
    columns = {"p_spam": p, "label": label_values(targets)}
    write(tmp_path / "preds.csv", csv_bytes(columns))
    assert_binary_scores(score_files(tmp_path / "preds.csv", **options), targets, p)


def test_positive_picks_the_class_the_predictions_are_about(coin, tmp_path):
    targets, p = coin
    columns = {"p_ham": p, "label": np.where(targets == 1, "ham", "spam")}
    write(tmp_path / "preds.csv", csv_bytes(columns))
    got = score_files(tmp_path / "preds.csv", positive="ham")
    assert_binary_scores(got, targets, p)
    assert got.classes == ["spam", "ham"]


@pytest.mark.parametrize("labels_as", ["npy-bool", "parquet-bool", "npz"])
def test_binary_labels_in_binary_files(labels_as, coin, tmp_path):
    targets, p = coin
    if labels_as == "npz":
        np.savez(tmp_path / "out.npz", probs=p, target=targets.astype(bool))
        got = score_files(tmp_path / "out.npz")
    else:
        np.save(tmp_path / "preds.npy", p)
        if labels_as == "npy-bool":
            np.save(tmp_path / "labels.npy", targets.astype(bool))
            truth = tmp_path / "labels.npy"
        else:
            truth = tmp_path / "labels.parquet"
            pq.write_table(pa.table({"is_spam": targets.astype(bool)}), truth)
        got = score_files(tmp_path / "preds.npy", truth, chunk_bytes=40)
    assert_binary_scores(got, targets, p)


# -- header detection and CSV dialects ----------------------------------------------


def test_a_headerless_savetxt_file_is_all_data(data, tmp_path):
    labels, probs = data
    np.savetxt(tmp_path / "preds.csv", probs, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "labels.csv", labels, fmt="%d")
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.csv")
    assert_scores(got, labels, probs)
    assert got.classes == ["0", "1", "2", "3"]


def test_a_headerless_file_of_whole_numbers_is_all_data(data, tmp_path):
    """One-hot rows over one-hot rows: no fractions below, so the first line is data."""
    labels, probs = data
    np.savetxt(tmp_path / "preds.tsv", probs, delimiter="\t", fmt="%.17g")
    np.savetxt(tmp_path / "labels.tsv", one_hot(labels, 4), delimiter="\t", fmt="%d")
    assert_scores(score_files(tmp_path / "preds.tsv", tmp_path / "labels.tsv"), labels, probs)


def test_integer_class_names_over_fractions_are_a_header(data, tmp_path):
    labels, probs = data
    np.savetxt(tmp_path / "preds.csv", probs, delimiter=",", fmt="%.17g", header="0,1,2,3")
    # np.savetxt writes "# 0,1,2,3"; strip the comment marker as pandas users' files have none
    text = (tmp_path / "preds.csv").read_text().replace("# ", "", 1)
    (tmp_path / "preds.csv").write_text(text)
    np.save(tmp_path / "labels.npy", labels)
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.npy")
    assert_scores(got, labels, probs)


def test_header_option_takes_the_first_line_as_names(data, tmp_path):
    labels, probs = data
    np.savetxt(tmp_path / "preds.csv", probs, delimiter=",", fmt="%.17g")
    write(tmp_path / "labels.csv", csv_bytes({"label": labels[1:]}))
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.csv", header=True)
    assert_scores(got, labels[1:], probs[1:])
    first_line = (tmp_path / "preds.csv").read_text().splitlines()[0]
    assert got.classes == first_line.split(",")


def test_no_header_option_reads_a_first_line_of_whole_numbers_as_data(data, tmp_path):
    """A first row that is exactly one-hot looks like integer class names; --no-header says no."""
    labels, probs = data
    probs = probs.copy()
    probs[0] = [0.0, 1.0, 0.0, 0.0]
    labels = labels.copy()
    labels[0] = 1
    np.savetxt(tmp_path / "preds.csv", probs, delimiter=",", fmt="%.17g")
    np.save(tmp_path / "labels.npy", labels)
    with pytest.raises(CecliError):
        score_files(tmp_path / "preds.csv", tmp_path / "labels.npy")
    got = score_files(tmp_path / "preds.csv", tmp_path / "labels.npy", header=False)
    assert got.n_samples == len(labels)
    assert got.mean_loss == pytest.approx(log_loss(labels, probs, labels=np.arange(4)), **CLOSE)


DIALECTS = {
    "quoted": dict(quoting=csv.QUOTE_ALL),
    "crlf": dict(newline="\r\n"),
    "bom": dict(bom=True),
    "blank-trailing-lines": dict(trailing="\n\n\n"),
    "blank-trailing-crlf": dict(newline="\r\n", trailing="\r\n\r\n"),
    "all-at-once": dict(quoting=csv.QUOTE_ALL, newline="\r\n", bom=True, trailing="\r\n\n"),
}


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=DIALECTS.keys())
@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
def test_csv_dialects(dialect, header, pets, tmp_path):
    labels, probs = pets
    dialect = dict(dialect)
    bom, trailing = dialect.pop("bom", False), dialect.pop("trailing", "")
    columns = {**prob_columns(probs, ["cat", "dog", "emu"]), "label": NAMES[labels]}
    if not header:
        columns = {**prob_columns(probs), "3": labels}
    text = csv_bytes(columns, header=header, **dialect) + trailing.encode()
    write(tmp_path / "preds.csv", (b"\xef\xbb\xbf" if bom else b"") + text)
    options = {} if header else {"label_col": "3"}
    got = score_files(tmp_path / "preds.csv", **options)
    assert_scores(got, labels, probs)
    assert got.classes == (["cat", "dog", "emu"] if header else ["0", "1", "2"])


# -- through the command line (CliRunner) -------------------------------------------


def run_json(args: list[str], stdin: bytes | None = None) -> dict:
    result = runner.invoke(app, ["score", *args, "--format", "json"], input=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_reports_the_same_scores_for_every_format(data, tmp_path):
    labels, probs = data
    reference = log_loss(labels, probs, labels=np.arange(4))
    reports = []
    for name in ("csv.gz", "npz-keys", "parquet-list", "stdin"):
        folder = tmp_path / name
        folder.mkdir()
        preds, truth, options, stdin = SAVERS[name](folder, labels, probs)
        args = [preds] + ([truth] if truth else [])
        args += [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
        reports.append(run_json(args, stdin))
    for report in reports:
        assert report["n_samples"] == len(labels)
        assert report["mean_loss"] == pytest.approx(reference, **CLOSE)
        assert report["flagged_count"] == flagged(labels, probs)
        assert [c["count"] for c in report["per_class"]] == np.bincount(labels).tolist()
        assert report["classes"] == ["0", "1", "2", "3"]


def test_cli_chunk_size_does_not_change_the_report(data, tmp_path):
    labels, probs = data
    preds, truth, _, _ = as_npy_pair(tmp_path, labels, probs)
    one = run_json([preds, truth])
    tiny = run_json([preds, truth, "--chunk-size", "100"])
    assert tiny["mean_loss"] == pytest.approx(one["mean_loss"], **CLOSE)
    assert tiny["flagged"] == one["flagged"]
    assert tiny["worst"] == one["worst"]
    for a, b in zip(tiny["per_class"], one["per_class"], strict=True):
        assert (a["class"], a["count"], a["flagged"]) == (b["class"], b["count"], b["flagged"])
        assert a["mean_loss"] == pytest.approx(b["mean_loss"], **CLOSE)


def test_cli_columns_by_option(pets, tmp_path):
    labels, probs = pets
    columns = {
        "name": np.array([f"img{i:03d}" for i in range(len(labels))]),
        "taken": np.array([f"2024-05-{1 + i % 28:02d}" for i in range(len(labels))]),  # dates
        **prob_columns(probs, ["prob_cat", "prob_dog", "prob_emu"]),
        "score": np.linspace(0, 1, len(labels)),  # a number column that is not a prediction
        "truth": NAMES[labels],
    }
    write(tmp_path / "preds.csv", csv_bytes(columns))
    report = run_json(
        [
            str(tmp_path / "preds.csv"),
            "--pred-cols",
            "prob_*",
            "--label-col",
            "truth",
            "--id-col",
            "name",
            "--top",
            "0",
        ]
    )
    assert report["classes"] == ["cat", "dog", "emu"]
    assert report["mean_loss"] == pytest.approx(log_loss(labels, probs), **CLOSE)
    assert report["files"]["predictions"] == str(tmp_path / "preds.csv")
    for row in report["worst"]:
        assert row["id"] == f"img{row['row']:03d}"
        assert row["label"] == NAMES[labels[row["row"]]]


def test_cli_binary_strings_with_positive(coin, tmp_path):
    targets, p = coin
    write(tmp_path / "p.tsv", csv_bytes({"p": p}, delimiter="\t"))
    write(
        tmp_path / "y.tsv", csv_bytes({"y": np.where(targets == 1, "spam", "ham")}, delimiter="\t")
    )
    report = run_json([str(tmp_path / "p.tsv"), str(tmp_path / "y.tsv"), "--positive", "spam"])
    assert report["kind"] == "binary"
    assert report["mean_loss"] == pytest.approx(log_loss(targets, p), **CLOSE)


# -- the sample data ----------------------------------------------------------------


def test_sample_digits_agree_across_formats():
    npz = np.load(SAMPLE_DATA / "digits.npz")
    labels = npz["labels"]
    assert_scores(score_files(SAMPLE_DATA / "digits.npz"), labels, npz["probs"])
    # the CSV holds the probabilities rounded to 8 decimals: its own reference
    rounded = np.loadtxt(SAMPLE_DATA / "digits_probs.csv", delimiter=",", skiprows=1)
    got = score_files(SAMPLE_DATA / "digits_probs.csv", SAMPLE_DATA / "digits_labels.csv")
    assert_scores(got, labels, rounded)
