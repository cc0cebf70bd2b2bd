"""Ignored labels (``ignore_index``, ``--ignore-label``) and top-k accuracy (``--top-k``).

The references: PyTorch's ``cross_entropy(ignore_index=...)`` itself, and
scikit-learn's ``log_loss`` and ``top_k_accuracy_score`` of the rows not
ignored; for multilabel cells, PyTorch's ``binary_cross_entropy`` of the
cells kept (torchmetrics' masking of elements). The accumulator fed in
chunks must give what one call gives.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import log_loss, top_k_accuracy_score
from typer.testing import CliRunner

import cecli
from cecli.cli import app

runner = CliRunner()
PAD = -100


def padded_case(seed: int, n: int, k: int, share: float):
    """Logits, labels with about ``share`` of them PAD (never all), and sample weights."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, k))
    labels = rng.integers(0, k, n)
    pad = rng.random(n) < share
    pad[rng.integers(0, n)] = False
    labels[pad] = PAD
    weights = rng.uniform(0.1, 3.0, n)
    return logits, labels, weights


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- the loss functions against PyTorch and scikit-learn --------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    k=st.integers(2, 7),
    share=st.sampled_from([0.0, 0.3, 0.9]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    smoothing=st.sampled_from([0.0, 0.1]),
    class_weighted=st.booleans(),
)
def test_categorical_ignore_index_is_pytorchs(
    seed, n, k, share, reduction, smoothing, class_weighted
):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits, labels, _ = padded_case(seed, n, k, share)
    class_weights = np.random.default_rng(seed + 1).uniform(0.2, 2.0, k) if class_weighted else None
    if class_weighted and smoothing:
        smoothing = 0.0  # cecli weighs a class term by the unsmoothed target (documented)
    ours = cecli.categorical_cross_entropy(
        labels,
        logits,
        from_logits=True,
        class_weights=class_weights,
        label_smoothing=smoothing,
        reduction=reduction,
        ignore_index=PAD,
    )
    theirs = F.cross_entropy(
        torch.tensor(logits),
        torch.tensor(labels),
        weight=None if class_weights is None else torch.tensor(class_weights),
        ignore_index=PAD,
        label_smoothing=smoothing,
        reduction=reduction,
    ).numpy()
    np.testing.assert_allclose(ours.loss, theirs, rtol=1e-10, atol=1e-12)
    assert ours.n_ignored == int((labels == PAD).sum())


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    k=st.integers(3, 8),  # 2 columns are "binary" to scikit-learn, which wants 1-D scores then
    top_k=st.integers(1, 8),
    ties=st.booleans(),
)
def test_top_k_accuracy_is_scikit_learns(seed, n, k, top_k, ties):
    top_k = min(top_k, k)
    logits, labels, weights = padded_case(seed, n, k, 0.3)
    if ties:  # few distinct scores: the tie rule decides; + 0.5 (softmax does not change)
        # so that no row is a one-hot row, which cecli warns looks like probabilities
        logits = np.round(logits) + 0.5
    probs = softmax(logits)
    result = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, ignore_index=PAD, top_k=top_k, sample_weights=weights
    )
    kept = labels != PAD
    with warnings.catch_warnings():  # k = n_classes: a perfect score, which it warns of
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        expected = top_k_accuracy_score(labels[kept], logits[kept], k=top_k, labels=np.arange(k))
    assert result.top_k_accuracy == pytest.approx(expected, abs=1e-15)
    # the loss is log_loss of the rows kept, weighted
    reference = log_loss(
        labels[kept], probs[kept], labels=np.arange(k), sample_weight=weights[kept]
    )
    assert result.loss == pytest.approx(reference, rel=1e-9)
    # each rank, by the definition: stable ascending sort, reversed
    order = np.argsort(logits, axis=1, kind="mergesort")[:, ::-1]
    ranks = 1 + np.argmax(order == labels[:, None], axis=1)
    assert result.rank[kept].tolist() == ranks[kept].tolist()
    assert (result.rank[~kept] == 0).all()


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_multilabel_cells_are_masked_as_torchmetrics_masks_them(seed, n, k, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.01, 0.99, (n, k))
    targets = rng.integers(0, 2, (n, k)).astype(np.int64)
    cells = rng.random((n, k)) < 0.3
    cells[rng.integers(0, n), rng.integers(0, k)] = False
    targets[cells] = PAD
    result = cecli.multilabel_cross_entropy(targets, probs, reduction=reduction, ignore_index=PAD)
    seen = ~cells
    p, t = torch.tensor(probs[seen]), torch.tensor(targets[seen], dtype=torch.float64)
    if reduction == "mean":
        expected = torch.nn.functional.binary_cross_entropy(p, t).item()
        assert result.loss == pytest.approx(expected, rel=1e-10)
    else:
        # a row's sum over its cells kept, over the number of labels (cecli's row mean)
        each = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).numpy()
        rows = np.zeros(n)
        np.add.at(rows, np.nonzero(seen)[0], each)
        rows /= k
        got = result.loss if reduction == "none" else [result.loss]
        want = rows if reduction == "none" else [rows.sum()]
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_binary_ignore_index_leaves_rows_out():
    targets = np.array([1, PAD, 0, 1, PAD])
    probs = np.array([0.8, 0.1, 0.3, 0.6, 0.99])
    result = cecli.binary_cross_entropy(targets, probs, ignore_index=PAD)
    kept = targets != PAD
    assert result.loss == pytest.approx(log_loss(targets[kept], probs[kept]), rel=1e-12)
    assert result.n_ignored == 2
    assert result.weight_sum == 3


def test_ignored_rows_are_not_checked_and_errors_name_the_input_row():
    probs = np.array([[0.5, 0.5], [0.0, 0.0], [0.7, 0.3], [0.2, 0.9]])
    # row 1 sums to 0 but is ignored; row 3 sums to 1.1 and is named as row 3
    with pytest.raises(cecli.CecliError, match=r"\brow 3\b"):
        cecli.categorical_cross_entropy([0, PAD, 1, 1], probs, ignore_index=PAD)
    ok = cecli.categorical_cross_entropy([0, PAD, 1], probs[:3], ignore_index=PAD)
    assert ok.n_ignored == 1


def test_every_row_ignored_is_an_error():
    with pytest.raises(cecli.CecliError, match="leaves out every row"):
        cecli.categorical_cross_entropy([PAD, PAD], [[0.5, 0.5], [0.5, 0.5]], ignore_index=PAD)
    acc = cecli.Accumulator(ignore_index=PAD)
    acc.update([PAD], [[0.5, 0.5]])
    with pytest.raises(cecli.CecliError, match="leaves out every row"):
        acc.result()


@pytest.mark.parametrize(
    ("kind", "top_k", "message"),
    [
        ("categorical", 0, ">= 1"),
        ("categorical", 2.5, "whole number"),
        ("binary", 2, "categorical predictions"),
        ("multilabel", 1, "categorical predictions"),
    ],
)
def test_bad_top_k_is_refused(kind, top_k, message):
    with pytest.raises(cecli.CecliError, match=message):
        cecli.Accumulator(kind, top_k=top_k)


def test_top_k_above_the_classes_is_refused():
    with pytest.raises(cecli.CecliError, match="number of classes, 2"):
        cecli.categorical_cross_entropy([0], [[0.5, 0.5]], top_k=3)


# -- the accumulator: chunks give one call's answer --------------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 120),
    k=st.integers(2, 6),
    cut=st.integers(1, 119),
    weighted=st.booleans(),
)
def test_chunked_accumulator_is_one_call(seed, n, k, cut, weighted):
    logits, labels, weights = padded_case(seed, n, k, 0.4)
    weights = weights if weighted else None
    top_k = min(2, k)
    one = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, sample_weights=weights, ignore_index=PAD, top_k=top_k
    )
    acc = cecli.Accumulator(from_logits=True, ignore_index=PAD, top_k=top_k, keep=None)
    cut = min(cut, n - 1)
    for lo, hi in ((0, cut), (cut, n)):
        acc.update(labels[lo:hi], logits[lo:hi], None if weights is None else weights[lo:hi])
    s = acc.result()
    kept = labels != PAD
    assert s.n_samples == kept.sum()
    assert s.n_ignored == (~kept).sum()
    assert s.mean_loss == pytest.approx(one.loss, rel=1e-12)
    assert s.top_k_accuracy == pytest.approx(one.top_k_accuracy, abs=1e-15)
    assert s.accuracy == pytest.approx((logits[kept].argmax(1) == labels[kept]).mean())
    # every kept row is a row not ignored, numbered as in the input, with its rank
    rows = np.array([r.row for r in s.worst])
    assert sorted(rows.tolist()) == np.flatnonzero(kept).tolist()
    assert [r.rank for r in s.worst] == one.rank[rows].tolist()
    # per class: only rows not ignored
    counts = np.bincount(labels[kept], minlength=k)
    assert [c.count for c in s.per_class] == counts.tolist()


def test_merged_accumulators_add_their_ignored_rows():
    logits, labels, _ = padded_case(7, 50, 3, 0.5)
    left = cecli.Accumulator(from_logits=True, ignore_index=PAD, top_k=2)
    right = cecli.Accumulator(from_logits=True, ignore_index=PAD, top_k=2)
    left.update(labels[:20], logits[:20])
    right.update(labels[20:], logits[20:], row_offset=20)
    s = left.merge(right).result()
    assert s.n_ignored == int((labels == PAD).sum())
    with pytest.raises(cecli.CecliError, match="same options"):
        left.merge(cecli.Accumulator(from_logits=True, ignore_index=PAD))


def test_score_frame_takes_ignore_index_and_top_k():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"a": [0.7, 0.2, 0.5, 0.1], "b": [0.2, 0.5, 0.5, 0.3], "c": [0.1, 0.3, 0.0, 0.6]}
    )
    frame["label"] = [0, PAD, 1, 2]
    s = cecli.score_frame(frame, label_col="label", ignore_index=PAD, top_k=2).summary
    kept = frame["label"] != PAD
    probs = frame[["a", "b", "c"]].to_numpy()[kept]
    assert s.n_ignored == 1
    assert s.mean_loss == pytest.approx(log_loss(frame["label"][kept], probs, labels=[0, 1, 2]))
    assert s.top_k_accuracy == top_k_accuracy_score(frame["label"][kept], probs, k=2)


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def padded_csv(tmp_path):
    logits, labels, _ = padded_case(3, 40, 4, 0.3)
    probs = softmax(logits)
    names = ["ant", "bee", "cat", "dog"]
    text = ["PAD" if y == PAD else names[y] for y in labels]
    lines = ["ant,bee,cat,dog,label,n"]
    for p, y, t in zip(probs, labels, text, strict=True):
        lines.append(",".join(repr(float(v)) for v in p) + f",{t},{y}")
    path = tmp_path / "preds.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, probs, labels


#: The padded file's prediction columns ("n" holds the labels as numbers).
COLS = ["--pred-cols", "ant,bee,cat,dog"]


@pytest.mark.parametrize(("column", "label"), [("label", "PAD"), ("n", "-100")])
def test_cli_reports_the_rows_ignored_and_top_k(padded_csv, column, label):
    path, probs, labels = padded_csv
    result = runner.invoke(
        app,
        ["score", str(path), *COLS, "--label-col", column, "--ignore-label", label, "--top-k", "3",
         "-f", "json", "--top", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    kept = labels != PAD
    assert d["n_ignored"] == int((~kept).sum())
    assert d["ignore_label"] == label
    assert d["n_samples"] == int(kept.sum())
    assert d["mean_loss"] == pytest.approx(log_loss(labels[kept], probs[kept]), rel=1e-9)
    assert d["top_k"] == 3
    assert d["top_k_accuracy"] == top_k_accuracy_score(labels[kept], probs[kept], k=3)
    assert {r["row"] for r in d["worst"]} == set(np.flatnonzero(kept).tolist())
    order = np.argsort(probs, axis=1, kind="mergesort")[:, ::-1]
    ranks = 1 + np.argmax(order == np.where(kept, labels, 0)[:, None], axis=1)
    assert all(r["rank"] == ranks[r["row"]] for r in d["worst"])


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_format_says_how_many_rows_were_ignored(padded_csv, fmt):
    path, _, labels = padded_csv
    n = str(int((labels == PAD).sum()))
    args = ["score", str(path), *COLS, "--label-col", "label", "--ignore-label", "PAD"]
    args += ["--top-k", "2"]
    result = runner.invoke(app, [*args, "-f", fmt])
    assert result.exit_code == 0, result.output
    assert n in result.stdout
    assert "top" in result.stdout.lower()
    if fmt == "csv":
        header, row = result.stdout.splitlines()
        values = dict(zip(header.split(","), row.split(","), strict=True))
        assert values["n_ignored"] == n
        assert values["ignore_label"] == "PAD"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_per_sample_file_keeps_ignored_rows_marked(padded_csv, tmp_path, suffix):
    path, probs, labels = padded_csv
    out = tmp_path / f"rows{suffix}"
    args = ["score", str(path), *COLS, "--label-col", "label", "--ignore-label", "PAD"]
    args += ["--top-k", "2"]
    result = runner.invoke(app, [*args, "--per-sample", str(out)])
    assert result.exit_code == 0, result.output
    if suffix == ".npy":
        rows = np.load(out)
        ignored, loss, rank, label = rows["ignored"], rows["loss"], rows["rank"], rows["label"]
        assert (label[ignored] == -1).all()
    else:
        import pandas as pd

        rows = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        ignored = rows["ignored"].to_numpy(bool)
        loss, rank = rows["loss"].to_numpy(float), rows["rank"].to_numpy()
    assert len(rows) == len(labels)  # the rows still line up with the input
    assert ignored.tolist() == (labels == PAD).tolist()
    assert np.isnan(loss[ignored]).all()
    assert (rank[ignored] == 0).all()
    kept = ~ignored
    expected = -np.log(probs[kept, labels[kept]])
    np.testing.assert_allclose(loss[kept], expected, rtol=1e-12)
    assert (rank[kept] >= 1).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label-col", "n"], "Label -100 at row 2"),
        (["--top-k", "0", "--label-col", "label"], "--top-k must be a whole number >= 1"),
        (["--top-k", "9", "--label-col", "n", "--ignore-label", "-100"], "--top-k must be from 1"),
    ],
)
def test_cli_option_errors_are_one_line(padded_csv, args, message):
    path, _, _ = padded_csv
    result = runner.invoke(app, ["score", str(path), *COLS, *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error: ")
    assert message in lines[0]


def test_a_class_may_be_ignored_as_pytorchs_ignore_index_may_be_one(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.9,0.1,a\n0.4,0.6,b\n0.3,0.7,b\n")
    args = ["score", str(path), "--label-col", "label", "--ignore-label", "a", "-f", "json"]
    d = json.loads(runner.invoke(app, args).stdout)
    assert d["n_ignored"] == 1
    assert d["n_samples"] == 2
    assert d["mean_loss"] == pytest.approx(-np.log([0.6, 0.7]).mean())


def test_cli_every_row_ignored_is_one_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.5,0.5,-100\n0.4,0.6,-100\n")
    result = runner.invoke(
        app, ["score", str(path), "--label-col", "label", "--ignore-label", "-100"]
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert "--ignore-label leaves out every row (2 of them)" in line


def test_cli_top_k_on_binary_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("p,label\n0.9,1\n0.2,0\n")
    result = runner.invoke(app, ["score", str(path), "--label-col", "label", "--top-k", "1"])
    assert result.exit_code == 2
    assert "--top-k applies to categorical predictions" in result.stderr
