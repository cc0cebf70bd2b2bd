"""The options of issue #16 together: ignore_index with labels, class_axis, top_k,
pos_weight and focal_alpha, in the loss functions, the accumulator and the CLI.

The references: PyTorch's ``cross_entropy(ignore_index=-100)`` on ``N x C x T``
token-level outputs, its ``BCEWithLogitsLoss(pos_weight=...)`` of the cells
kept, scikit-learn's ``log_loss`` and ``top_k_accuracy_score`` of the rows
kept, and Keras's focal balancing written here. The targets are mapped by
``labels`` here, by a dict, so that the reference never runs cecli's mapping.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import log_loss, top_k_accuracy_score
from typer.testing import CliRunner

import cecli
from cecli.cli import app

runner = CliRunner()
PAD = -100


def token_case(seed: int, n: int, c: int, t: int, share: float):
    """LM-style logits ``N x C x T`` and labels ``N x T`` padded with -100 (never all)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, c, t))
    labels = rng.integers(0, c, (n, t))
    pad = rng.random((n, t)) < share
    pad[rng.integers(0, n), rng.integers(0, t)] = False
    labels[pad] = PAD
    return logits, labels


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# -- class_axis with ignore_index: token-level outputs -------------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    c=st.integers(2, 6),
    t=st.integers(1, 9),
    share=st.sampled_from([0.0, 0.3, 0.8]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    option=st.sampled_from(["plain", "weight", "smoothing"]),
)
def test_padded_tokens_n_c_t_are_pytorchs_cross_entropy(seed, n, c, t, share, reduction, option):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits, labels = token_case(seed, n, c, t, share)
    weight = np.random.default_rng(seed + 1).uniform(0.2, 2.0, c) if option == "weight" else None
    smoothing = 0.1 if option == "smoothing" else 0.0
    ours = cecli.categorical_cross_entropy(
        labels,
        logits,
        from_logits=True,
        class_axis=1,
        ignore_index=PAD,
        class_weights=weight,
        label_smoothing=smoothing,
        reduction=reduction,
    )
    theirs = F.cross_entropy(
        torch.tensor(logits),
        torch.tensor(labels),
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=PAD,
        label_smoothing=smoothing,
        reduction=reduction,
    ).numpy()
    np.testing.assert_allclose(ours.loss, theirs, rtol=1e-10, atol=1e-12)
    assert ours.n_ignored == int((labels == PAD).sum())
    if reduction == "none":
        assert ours.loss.shape == (n, t)


def test_padded_tokens_as_probabilities_and_per_sample_weights():
    torch = pytest.importorskip("torch")
    logits, labels = token_case(7, 4, 5, 6, 0.4)
    probs = softmax(logits, axis=1)
    w = np.array([1.0, 2.0, 0.5, 3.0])  # one per sequence, shared by its tokens
    ours = cecli.categorical_cross_entropy(
        labels, probs, class_axis=1, ignore_index=PAD, sample_weights=w, reduction="none"
    )
    each = torch.nn.functional.nll_loss(
        torch.tensor(np.log(probs)), torch.tensor(labels), ignore_index=PAD, reduction="none"
    ).numpy()
    np.testing.assert_allclose(ours.loss, each * w[:, None], rtol=1e-10)
    mean = cecli.categorical_cross_entropy(
        labels, probs, class_axis=1, ignore_index=PAD, sample_weights=w
    )
    kept = labels != PAD
    spread = np.broadcast_to(w[:, None], labels.shape)
    assert mean.loss == pytest.approx((each * spread)[kept].sum() / spread[kept].sum())


def test_top_k_ranks_each_token_in_the_positions_shape():
    logits, labels = token_case(11, 3, 6, 8, 0.3)
    r = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, class_axis=1, ignore_index=PAD, top_k=3
    )
    kept = labels != PAD
    rows = np.moveaxis(logits, 1, -1)[kept]  # the positions kept, as rows
    assert r.rank.shape == labels.shape
    assert (r.rank[~kept] == 0).all()
    assert r.top_k_accuracy == top_k_accuracy_score(labels[kept], rows, k=3, labels=range(6))
    order = np.argsort(rows, axis=1, kind="stable")[:, ::-1]
    expected = 1 + np.argmax(order == labels[kept][:, None], axis=1)
    assert r.rank[kept].tolist() == expected.tolist()


def test_an_error_in_a_kept_token_names_its_row_and_position():
    logits, labels = token_case(3, 2, 3, 4, 0.0)
    labels[0, 1] = PAD
    labels[1, 2] = 7  # no such class; position (1, 2) is row 6 in C order
    with pytest.raises(cecli.CecliError, match=r"row 6\b.*np.unravel_index"):
        cecli.categorical_cross_entropy(
            labels, logits, from_logits=True, class_axis=1, ignore_index=PAD
        )


# -- ignore_index with labels= and pos_label= -----------------------------------------------

NAMES = ["dog", "cat", "bird"]


def named_case(seed: int, n: int, pad):
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(0, 1.5, (n, 3)))
    codes = rng.integers(0, 3, n)
    padded = rng.random(n) < 0.3
    padded[0] = False
    targets = np.array([pad if p else NAMES[c] for c, p in zip(codes, padded, strict=True)],
                       dtype=object)  # fmt: skip
    return probs, codes, padded, targets


@pytest.mark.parametrize("pad", [PAD, "<pad>"])
@pytest.mark.parametrize("container", ["list", "object", "series"])
def test_ignore_index_is_compared_with_the_targets_before_labels_map_them(pad, container):
    probs, codes, padded, targets = named_case(5, 40, pad)
    y = {"list": targets.tolist(), "object": targets, "series": pd.Series(targets)}[container]
    r = cecli.categorical_cross_entropy(y, probs, labels=NAMES, ignore_index=pad, top_k=2)
    kept = ~padded
    assert r.n_ignored == int(padded.sum())
    assert r.loss == pytest.approx(log_loss(codes[kept], probs[kept], labels=[0, 1, 2]))
    assert r.top_k_accuracy == top_k_accuracy_score(codes[kept], probs[kept], k=2)


def test_an_ignored_value_that_is_a_class_ignores_that_class_not_that_column():
    probs = softmax(np.random.default_rng(2).normal(size=(6, 3)))
    y = np.array([3, 5, 7, 5, 3, 7])
    labels = [3, 5, 7]  # the column of class 5 is 1: ignore_index=1 ignores nothing
    r = cecli.categorical_cross_entropy(y, probs, labels=labels, ignore_index=5)
    kept = y != 5
    column = {3: 0, 5: 1, 7: 2}
    codes = np.array([column[v] for v in y])
    assert r.n_ignored == 2
    assert r.loss == pytest.approx(log_loss(codes[kept], probs[kept], labels=[0, 1, 2]))
    none = cecli.categorical_cross_entropy(y, probs, labels=labels, ignore_index=1)
    assert none.n_ignored == 0


def test_a_label_not_listed_is_named_at_its_row_in_the_whole_input():
    y = ["dog", PAD, PAD, "cow"]
    probs = softmax(np.zeros((4, 3)))
    with pytest.raises(cecli.CecliError, match=r"row 3 has the label 'cow'"):
        cecli.categorical_cross_entropy(y, probs, labels=NAMES, ignore_index=PAD)


@pytest.mark.parametrize(
    ("y", "pad", "pos_label", "labels"),
    [
        ([1, -1, PAD, 1, -1, PAD], PAD, 1, None),
        (["spam", "ham", "<pad>", "spam", "ham", "<pad>"], "<pad>", "spam", None),
        (["spam", "ham", "<pad>", "spam", "ham", "<pad>"], "<pad>", None, ["ham", "spam"]),
    ],
)
def test_binary_pos_label_with_ignored_rows(y, pad, pos_label, labels):
    p = np.array([0.8, 0.3, 0.5, 0.6, 0.1, 0.9])
    r = cecli.binary_cross_entropy(
        y, p, pos_label=pos_label, labels=labels, ignore_index=pad, pos_weight=2.0
    )
    t = np.array([1.0, 0.0, 1.0, 0.0])
    kept_p = p[[0, 1, 3, 4]]
    expected = -(2.0 * t * np.log(kept_p) + (1 - t) * np.log(1 - kept_p))
    assert r.n_ignored == 2
    assert r.loss == pytest.approx(expected.mean())


# -- pos_weight and focal_alpha with ignored multilabel cells --------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    k=st.integers(1, 5),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_pos_weight_with_ignored_cells_is_bce_with_logits_of_the_cells_kept(seed, n, k, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, k))
    logits[0, 0] = 3.0  # a kept cell outside [0, 1]: these are logits
    targets = rng.integers(0, 2, (n, k)).astype(float)
    pad = rng.random((n, k)) < 0.3
    pad[0, 0] = False
    y = np.where(pad, PAD, targets)
    pos_weight = rng.uniform(0.2, 4.0, k)
    ours = cecli.multilabel_cross_entropy(
        y, logits, from_logits=True, pos_weight=pos_weight, ignore_index=PAD, reduction=reduction
    )
    cells = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight), reduction="none")(
        torch.tensor(logits), torch.tensor(targets)
    ).numpy()
    kept = ~pad
    if reduction == "mean":
        assert ours.loss == pytest.approx(cells[kept].mean(), rel=1e-10)
    else:
        # each row: the mean of its cells kept, weighed by its share of the cells kept
        rows = (cells * kept).sum(axis=1) / k
        np.testing.assert_allclose(
            ours.loss, rows if reduction == "none" else rows.sum(), rtol=1e-10, atol=1e-12
        )


def test_focal_alpha_and_pos_label_with_ignored_cells_are_kerass_formula_of_the_cells_kept():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, (12, 3))
    t = rng.integers(0, 2, (12, 3))
    pad = rng.random((12, 3)) < 0.25
    alpha, gamma = np.array([0.25, 0.5, 0.75]), 2.0
    y = np.where(pad, PAD, np.where(t == 1, 1, -1))  # {-1, 1} cells, pos_label 1
    ours = cecli.multilabel_cross_entropy(
        y, p, pos_label=1, focal_alpha=alpha, focal_gamma=gamma, ignore_index=PAD
    )
    cell = -(
        alpha * t * (1 - p) ** gamma * np.log(p) + (1 - alpha) * (1 - t) * p**gamma * np.log(1 - p)
    )
    assert ours.loss == pytest.approx(cell[~pad].mean(), rel=1e-12)
    assert ours.n_ignored == int(pad.all(axis=1).sum())


def test_multilabel_class_axis_with_ignored_cells_and_pos_weight():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(3, 4, 5))  # N x L x T
    targets = rng.integers(0, 2, (3, 4, 5)).astype(float)
    pad = rng.random((3, 4, 5)) < 0.3
    pos_weight = np.array([1.0, 2.0, 0.5, 3.0])
    ours = cecli.multilabel_cross_entropy(
        np.where(pad, PAD, targets), logits, from_logits=True, class_axis=1,
        pos_weight=pos_weight, ignore_index=PAD,
    )  # fmt: skip
    cells = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor(pos_weight[:, None]), reduction="none"
    )(torch.tensor(logits), torch.tensor(targets)).numpy()
    assert ours.loss == pytest.approx(cells[~pad].mean(), rel=1e-10)


# -- the accumulator: chunks and merges of it all are one call -------------------------------


def test_accumulator_with_labels_ignore_top_k_class_axis_and_focal_alpha_is_one_call():
    rng = np.random.default_rng(21)
    logits = rng.normal(0, 2, (6, 3, 5))  # 6 sequences, 3 classes, 5 tokens
    codes = rng.integers(0, 3, (6, 5))
    pad = rng.random((6, 5)) < 0.3
    y = np.where(pad, "<pad>", np.array(NAMES)[codes])
    options = dict(
        from_logits=True, labels=NAMES, ignore_index="<pad>", top_k=2, class_axis=1,
        focal_alpha=[0.5, 1.0, 2.0], focal_gamma=1.0,
    )  # fmt: skip
    one = cecli.categorical_cross_entropy(y, logits, **options)
    left, right = cecli.Accumulator(**options), cecli.Accumulator(**options)
    left.update(y[:2], logits[:2])
    left.update(y[2:3], logits[2:3])
    right.update(y[3:], logits[3:], row_offset=15)
    s = left.merge(right).result()
    assert s.mean_loss == pytest.approx(one.loss, rel=1e-12)
    assert s.n_ignored == one.n_ignored == int(pad.sum())
    assert s.n_samples == int((~pad).sum())
    assert s.top_k_accuracy == one.top_k_accuracy
    assert s.ignore_index == "<pad>"
    assert s.focal_alpha == (0.5, 1.0, 2.0)
    rows = np.moveaxis(logits, 1, -1)[~pad]
    assert s.top_k_accuracy == top_k_accuracy_score(codes[~pad], rows, k=2, labels=range(3))


def test_accumulator_multilabel_ignored_cells_with_pos_weight_is_one_call():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(40, 3))
    y = np.where(rng.random((40, 3)) < 0.3, PAD, rng.integers(0, 2, (40, 3)))
    options = dict(from_logits=True, pos_weight=[1.0, 3.0, 0.5], ignore_index=PAD)
    one = cecli.multilabel_cross_entropy(y, logits, **options)
    acc = cecli.Accumulator("multilabel", **options)
    for lo in range(0, 40, 7):
        acc.update(y[lo : lo + 7], logits[lo : lo + 7])
    s = acc.result()
    assert s.mean_loss == pytest.approx(one.loss, rel=1e-12)
    assert s.n_ignored == one.n_ignored
    assert s.pos_weight == (1.0, 3.0, 0.5)


# -- the command line: the flags together ---------------------------------------------------


@pytest.fixture
def padded_csv(tmp_path):
    rng = np.random.default_rng(13)
    probs = softmax(rng.normal(0, 2, (30, 3)))
    labels = rng.integers(0, 3, 30)
    labels[rng.random(30) < 0.3] = PAD
    lines = ["a,b,c,label"] + [
        ",".join(repr(float(v)) for v in p) + f",{y}" for p, y in zip(probs, labels, strict=True)
    ]
    path = tmp_path / "preds.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, probs, labels


def test_cli_ignore_label_top_k_and_focal_alpha_together(padded_csv):
    path, probs, labels = padded_csv
    args = ["score", str(path), "--label-col", "label", "--ignore-label", "-100", "--top-k", "2",
            "--focal-alpha", "0.5,1,2", "-f", "json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    kept = labels != PAD
    alpha = np.array([0.5, 1.0, 2.0])[labels[kept]]
    expected = (alpha * -np.log(probs[kept, labels[kept]])).mean()
    assert d["n_ignored"] == int((~kept).sum())
    assert d["mean_loss"] == pytest.approx(expected, rel=1e-9)
    assert d["top_k_accuracy"] == top_k_accuracy_score(labels[kept], probs[kept], k=2)


def test_cli_ignore_label_with_pos_weight_on_binary(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("p,label\n0.9,1\n0.2,0\n0.5,-100\n0.7,0\n")
    args = ["score", str(path), "--label-col", "label", "--ignore-label", "-100",
            "--pos-weight", "3", "-f", "json"]  # fmt: skip
    d = json.loads(runner.invoke(app, args).stdout)
    expected = np.mean([-3 * np.log(0.9), -np.log(0.8), -np.log(0.3)])
    assert d["n_ignored"] == 1
    assert d["mean_loss"] == pytest.approx(expected, rel=1e-9)


def test_cli_top_k_with_pos_weight_is_one_line(padded_csv):
    path, _, _ = padded_csv
    result = runner.invoke(
        app, ["score", str(path), "--label-col", "label", "--top-k", "2", "--pos-weight", "2"]
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error: --top-k is for categorical predictions")


def test_compare_ignore_label_with_pos_weight_is_each_models_bce_of_the_rows_kept(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    labels = rng.integers(0, 2, 50)
    labels[rng.random(50) < 0.3] = PAD
    logits = {name: rng.normal(0, 2, 50) for name in ("base", "cand")}
    for name, z in logits.items():
        frame = pd.DataFrame({"z": z, "label": labels})
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    args = ["compare", str(tmp_path / "base.csv"), str(tmp_path / "cand.csv")]
    args += ["--label-col", "label", "--logits", "--ignore-label", "-100", "--pos-weight", "3"]
    args += ["-f", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    kept = labels != PAD
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0, dtype=torch.float64))
    for name, key in (("base", "baseline"), ("cand", "candidate")):
        z = torch.tensor(logits[name][kept])
        expected = bce(z, torch.tensor(labels[kept], dtype=torch.float64)).item()
        assert d[key]["mean_loss"] == pytest.approx(expected, rel=1e-10)
    assert d["n_ignored"] == int((~kept).sum())
