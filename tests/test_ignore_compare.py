"""``cecli compare --ignore-label`` and ``--top-k``: one mask for both models, and top-k of each.

The references: each model's mean loss is PyTorch's ``cross_entropy`` with
``ignore_index=-100`` (per row, weighted as cecli weighs, over the rows
kept); each model's top-k accuracy is scikit-learn's ``top_k_accuracy_score``
over the rows kept. The bootstrap intervals over the rows kept must be those
of the serial run of the same files with the ignored rows removed (the same
rows, the same seed), and the rows listed must be named by their row in the
padded input.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import top_k_accuracy_score
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()
PAD = -100
N, K = 240, 5
CLASSES = ["ant", "bee", "cat", "dog", "eel"]


@pytest.fixture(scope="module")
def data():
    """Two models' logits, labels with about a third PAD (runs of them, as padding), weights."""
    rng = np.random.default_rng(2016)
    labels = rng.integers(0, K, N)
    pad = rng.random(N) < 0.25
    pad[100:130] = True  # a run of padding, as at the end of a sequence
    labels[pad] = PAD
    baseline = rng.normal(0, 1.5, (N, K))
    truth = np.eye(K)[np.where(pad, 0, labels)]
    candidate = baseline + 1.2 * truth + rng.normal(0, 1.0, (N, K))
    weights = rng.uniform(0.5, 2.0, N).round(3)
    groups = rng.choice(["doc-a", "doc-b", "doc-c"], N)
    return labels, baseline, candidate, weights, groups


def write(path, logits, labels, weights, groups, *, columns=CLASSES, text=False, rows=None):
    frame = pd.DataFrame(logits, columns=CLASSES)[list(columns)]
    frame["label"] = [("PAD" if y == PAD else CLASSES[y]) for y in labels] if text else labels
    frame["w"] = weights
    frame["g"] = groups
    frame["id"] = [f"t{i:04d}" for i in range(len(labels))]
    if rows is not None:
        frame = frame.iloc[rows]
    frame.to_csv(path, index=False)
    return str(path)


def compare(*args: str):
    result = runner.invoke(app, ["compare", *args])
    assert result.exit_code == 0, result.output
    return result


def compare_json(*args: str) -> dict:
    return json.loads(compare(*args, "-f", "json").stdout)


def torch_loss(logits, labels, weights=None):
    """Each model's mean loss by PyTorch: cross_entropy(ignore_index=-100), weighted if asked."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = torch.tensor(logits), torch.tensor(labels)
    if weights is None:
        return F.cross_entropy(z, y, ignore_index=PAD).item()
    each = F.cross_entropy(z, y, ignore_index=PAD, reduction="none").numpy()
    kept = labels != PAD
    return float(np.sum(weights[kept] * each[kept]) / np.sum(weights[kept]))


def top_k(labels, logits, k):
    kept = labels != PAD
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return top_k_accuracy_score(labels[kept], logits[kept], k=k, labels=np.arange(K))


ARGS = ["--label-col", "label", "--pred-cols", ",".join(CLASSES), "--logits", "--top", "0"]


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    labels, baseline, candidate, weights, groups = data
    folder = tmp_path_factory.mktemp("padded")
    return (
        write(folder / "base.csv", baseline, labels, weights, groups),
        write(folder / "cand.csv", candidate, labels, weights, groups),
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_the_difference_is_pytorchs_over_the_rows_kept(data, files, weighted):
    labels, baseline, candidate, weights, _ = data
    extra = ["--weight-col", "w"] if weighted else []
    d = compare_json(*files, *ARGS, *extra, "--ignore-label", "-100", "--top-k", "3")
    w = weights if weighted else None
    kept = labels != PAD
    assert d["n_samples"] == int(kept.sum())
    assert d["n_ignored"] == int((~kept).sum())
    assert d["ignore_label"] == "-100"
    b_loss, c_loss = torch_loss(baseline, labels, w), torch_loss(candidate, labels, w)
    assert d["baseline"]["mean_loss"] == pytest.approx(b_loss, rel=1e-10)
    assert d["candidate"]["mean_loss"] == pytest.approx(c_loss, rel=1e-10)
    assert d["delta_mean_loss"] == pytest.approx(c_loss - b_loss, rel=1e-9)
    b_top, c_top = top_k(labels, baseline, 3), top_k(labels, candidate, 3)
    assert d["top_k"] == 3
    assert d["baseline"]["top_k_accuracy"] == pytest.approx(b_top, abs=1e-15)
    assert d["candidate"]["top_k_accuracy"] == pytest.approx(c_top, abs=1e-15)
    assert d["delta_top_k_accuracy"] == pytest.approx(c_top - b_top, abs=1e-15)
    # accuracy, by the definition: top-1 over the rows kept
    accuracy = (candidate[kept].argmax(1) == labels[kept]).mean()
    assert d["candidate"]["accuracy"] == pytest.approx(accuracy, abs=1e-15)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_the_intervals_are_those_of_the_rows_kept(data, files, tmp_path, method):
    labels, baseline, candidate, weights, groups = data
    kept = np.flatnonzero(labels != PAD)
    # the same rows with the padding removed: the reference is cecli's run of them
    bare = (
        write(tmp_path / "b.csv", baseline, labels, weights, groups, rows=kept),
        write(tmp_path / "c.csv", candidate, labels, weights, groups, rows=kept),
    )
    quick = ["--bootstrap", "400", "--ci-method", method, "--weight-col", "w"]
    padded = compare_json(*files, *ARGS, *quick, "--ignore-label", "-100")
    plain = compare_json(*bare, *ARGS, *quick)
    for key in ("delta_mean_loss", "ci_low", "ci_high", "p_better", "verdict",
                "delta_accuracy", "delta_accuracy_ci_low", "delta_accuracy_ci_high",
                "rows_better", "rows_worse", "regressions_count", "fixed_count"):  # fmt: skip
        want = plain[key]
        assert padded[key] == (want if isinstance(want, str) else pytest.approx(want, rel=1e-12)), (
            key
        )
    # the rows listed are the same rows, named by their row in the padded input
    for name in ("regressions", "fixed", "largest_increases"):
        got = [r["row"] for r in padded[name]]
        assert got == [int(kept[r["row"]]) for r in plain[name]], name
        assert all(labels[r] != PAD for r in got)
    assert padded["largest_increases"], "the data has rows whose loss rose"


def test_the_poisson_interval_leaves_the_ignored_rows_out(data, files):
    labels, *_ = data
    d = compare_json(*files, *ARGS, "--ignore-label", "-100", "--ci-method", "poisson")
    assert d["n_samples"] == int((labels != PAD).sum())
    assert d["ci_low"] < d["delta_mean_loss"] < d["ci_high"]
    assert all(labels[r["row"]] != PAD for r in d["largest_increases"])


def test_slices_count_their_ignored_rows_and_top_k(data, files):
    labels, baseline, candidate, _, groups = data
    d = compare_json(
        *files, *ARGS, "--ignore-label", "-100", "--top-k", "2", "--by", "g",
        "--min-slice-rows", "10",
    )  # fmt: skip
    assert {s["value"] for s in d["slices"]} == set(groups.tolist())
    torch = pytest.importorskip("torch")
    for s in d["slices"]:
        mine = groups == s["value"]
        assert s["n_ignored"] == int((labels[mine] == PAD).sum())
        assert s["n_samples"] == int((labels[mine] != PAD).sum())
        b_top, c_top = (
            top_k(labels[mine], baseline[mine], 2),
            top_k(labels[mine], candidate[mine], 2),
        )
        assert s["baseline_top_k_accuracy"] == pytest.approx(b_top, abs=1e-15)
        assert s["candidate_top_k_accuracy"] == pytest.approx(c_top, abs=1e-15)
        assert s["delta_top_k_accuracy"] == pytest.approx(c_top - b_top, abs=1e-15)
        y, F = torch.tensor(labels[mine]), torch.nn.functional
        b = F.cross_entropy(torch.tensor(baseline[mine]), y, ignore_index=PAD).item()
        c = F.cross_entropy(torch.tensor(candidate[mine]), y, ignore_index=PAD).item()
        assert s["delta_mean_loss"] == pytest.approx(c - b, rel=1e-9)


def test_a_slice_of_padding_only_is_there_with_no_rows_scored(data, tmp_path):
    labels, baseline, candidate, weights, groups = data
    groups = groups.astype(object)  # room for a longer value
    groups[labels == PAD] = np.where(
        np.arange(N)[labels == PAD] % 2, "pad-only", groups[labels == PAD]
    )
    args = [
        write(tmp_path / "b.csv", baseline, labels, weights, groups),
        write(tmp_path / "c.csv", candidate, labels, weights, groups),
    ]
    d = compare_json(*args, *ARGS, "--ignore-label", "-100", "--by", "g")
    only = [s for s in d["slices"] if s["value"] == "pad-only"]
    assert len(only) == 1
    assert only[0]["n_samples"] == 0
    assert only[0]["n_ignored"] == int((groups == "pad-only").sum())
    assert only[0]["verdict"] == "not_ranked"
    assert sum(s["n_ignored"] for s in d["slices"]) == int((labels == PAD).sum())


def test_quantile_bins_of_kept_rows_count_the_ignored_in_them(tmp_path):
    rng = np.random.default_rng(5)
    n = 120
    labels = rng.integers(0, K, n)
    labels[-20:] = PAD  # the 20 largest values of the column: padding only
    x = np.arange(n, dtype=float)
    files = [
        write(tmp_path / f"{name}.csv", rng.normal(size=(n, K)), labels, np.ones(n), x)
        for name in ("b", "c")
    ]
    d = compare_json(*files, *ARGS, "--ignore-label", "-100", "--by", "g:4")
    assert len(d["slices"]) == 4  # no fifth bin of padding alone
    assert sum(s["n_ignored"] for s in d["slices"]) == 20
    assert sum(s["n_samples"] for s in d["slices"]) == n - 20


def test_rows_joined_by_id_and_classes_in_another_order(data, files, tmp_path):
    labels, baseline, candidate, weights, groups = data
    shuffled = np.random.default_rng(3).permutation(N)
    cand = write(
        tmp_path / "c.csv", candidate, labels, weights, groups, columns=CLASSES[::-1],
        text=True, rows=shuffled,
    )  # fmt: skip
    base = write(tmp_path / "b.csv", baseline, labels, weights, groups, text=True)
    args = ["--ignore-label", "PAD", "--top-k", "2"]
    joined = compare_json(base, cand, *ARGS, "--id-col", "id", *args)
    positional = compare_json(*files, *ARGS, "--ignore-label", "-100", "--top-k", "2")
    for key in ("n_samples", "n_ignored", "delta_mean_loss", "ci_low", "ci_high",
                "delta_top_k_accuracy"):  # fmt: skip
        assert joined[key] == pytest.approx(positional[key], rel=1e-9), key
    assert joined["ignore_label"] == "PAD"
    assert [r["row"] for r in joined["largest_increases"]] == [
        r["row"] for r in positional["largest_increases"]
    ]


def test_a_class_named_by_ignore_label_with_the_classes_in_another_order(data, tmp_path):
    labels, baseline, candidate, weights, groups = data
    named = np.where(labels == PAD, 0, labels)  # "ant" rows are left out
    base = write(tmp_path / "b.csv", baseline, named, weights, groups, text=True)
    cand = write(tmp_path / "c.csv", candidate, named, weights, groups, text=True,
                 columns=CLASSES[::-1])  # fmt: skip
    d = compare_json(base, cand, *ARGS, "--ignore-label", "ant")
    assert d["n_ignored"] == int((named == 0).sum())
    expect = torch_loss(candidate, np.where(named == 0, PAD, named)) - torch_loss(
        baseline, np.where(named == 0, PAD, named)
    )
    assert d["delta_mean_loss"] == pytest.approx(expect, rel=1e-9)


def test_calibration_compares_the_rows_kept(data, files, tmp_path):
    labels, baseline, candidate, weights, groups = data
    kept = np.flatnonzero(labels != PAD)
    bare = (
        write(tmp_path / "b.csv", baseline, labels, weights, groups, rows=kept),
        write(tmp_path / "c.csv", candidate, labels, weights, groups, rows=kept),
    )
    quick = ["--bootstrap", "200", "--calibration"]
    padded = compare_json(*files, *ARGS, *quick, "--ignore-label", "-100")["calibration"]
    plain = compare_json(*bare, *ARGS, *quick)["calibration"]
    assert padded.pop("ece_method") == plain.pop("ece_method")
    assert padded.pop("brier_method") == plain.pop("brier_method")
    assert padded == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_format_says_how_many_rows_were_ignored_and_top_k(data, files, fmt):
    labels, *_ = data
    n = int((labels == PAD).sum())
    out = compare(*files, *ARGS, "--ignore-label", "-100", "--top-k", "2", "-f", fmt).stdout
    if fmt == "csv":
        header, row = out.splitlines()
        values = dict(zip(header.split(","), row.split(","), strict=True))
        assert values["n_ignored"] == str(n)
        assert values["ignore_label"] == "-100"
        assert values["top_k"] == "2"
        for key in ("baseline_top_k_accuracy", "candidate_top_k_accuracy"):
            assert 0 <= float(values[key]) <= 1
    else:
        assert f"{n} rows (label" in out
        assert "top-2 accuracy" in out


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_format_of_slices_has_their_ignored_rows_and_top_k(files, fmt):
    args = ["--ignore-label", "-100", "--top-k", "2", "--by", "g", "--min-slice-rows", "5"]
    out = compare(*files, *ARGS, *args, "-f", fmt).stdout
    if fmt == "csv":
        header = out.splitlines()[0].split(",")
        assert {"n_ignored", "baseline_top_k_accuracy", "delta_top_k_accuracy"} <= set(header)
    else:
        assert "ignored" in out
        assert "top-2" in out


# -- errors: one line, exit 2 ---------------------------------------------------------------


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cecli: error: ")
    return lines[0]


def test_every_row_ignored_is_one_line(tmp_path):
    for name in ("b", "c"):
        (tmp_path / f"{name}.csv").write_text("a,b,label\n0.5,0.5,-100\n0.4,0.6,-100\n")
    result = runner.invoke(
        app,
        ["compare", str(tmp_path / "b.csv"), str(tmp_path / "c.csv"), "--label-col", "label",
         "--ignore-label", "-100"],
    )  # fmt: skip
    assert "--ignore-label leaves out every row (2 of them)" in _one_line(result)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top-k", "0"], "--top-k must be a whole number >= 1"),
        (["--top-k", "9"], "--top-k must be from 1 to the number of classes, 5"),
    ],
)
def test_bad_top_k_is_one_line(files, extra, message):
    result = runner.invoke(app, ["compare", *files, *ARGS, "--ignore-label", "-100", *extra])
    assert message in _one_line(result)


def test_top_k_on_binary_is_one_line(tmp_path):
    for name in ("b", "c"):
        (tmp_path / f"{name}.csv").write_text("p,label\n0.9,1\n0.2,0\n0.4,-100\n")
    args = [str(tmp_path / "b.csv"), str(tmp_path / "c.csv"), "--label-col", "label"]
    result = runner.invoke(app, ["compare", *args, "--ignore-label", "-100", "--top-k", "1"])
    assert "--top-k applies to categorical predictions" in _one_line(result)


def test_padding_without_ignore_label_is_one_line_with_the_hint(files):
    result = runner.invoke(app, ["compare", *files, *ARGS])
    line = _one_line(result)
    assert "(padding? give --ignore-label -100" in line


def test_the_poisson_bootstrap_draws_each_kept_row_by_its_input_row():
    from cecli.poisson_bootstrap import PoissonBootstrap

    rng = np.random.default_rng(8)
    n = 90
    d, w = rng.normal(0.2, 1.0, n), rng.uniform(0.5, 2.0, n)
    a = rng.integers(-1, 2, n).astype(float)
    kept = rng.random(n) < 0.6
    counted = kept.astype(float)
    spread = PoissonBootstrap(300, seed=4).add(0, d * kept, w * kept, a * kept, counted)
    # the definition: each kept row alone, at its own row number
    one_by_one = PoissonBootstrap(300, seed=4)
    for i in np.flatnonzero(kept).tolist():
        one_by_one.merge(
            PoissonBootstrap(300, seed=4).add(i, d[i : i + 1], w[i : i + 1], a[i : i + 1])
        )
    assert np.array_equal(spread.sums(), one_by_one.sums())
    assert spread.n_rows == one_by_one.n_rows == int(kept.sum())


def test_multilabel_cells_are_left_out_of_both_models(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    n, names = 150, ["a", "b", "c"]
    targets = rng.integers(0, 2, (n, 3))
    targets[rng.random((n, 3)) < 0.2] = PAD
    targets[:4] = PAD  # rows whose every cell is ignored
    probs = [rng.uniform(0.05, 0.95, (n, 3)) for _ in range(2)]
    paths = []
    for name, values in (("b", probs[0]), ("c", probs[1]), ("y", targets)):
        pd.DataFrame(values, columns=names).to_csv(tmp_path / f"{name}.csv", index=False)
        paths.append(str(tmp_path / f"{name}.csv"))
    d = compare_json(*paths, "--kind", "multilabel", "--ignore-label", "-100")
    seen = targets != PAD
    t = torch.tensor(targets[seen], dtype=torch.float64)
    each = [
        torch.nn.functional.binary_cross_entropy(torch.tensor(p[seen]), t).item() for p in probs
    ]
    assert d["n_ignored"] == 4 + int((~seen[4:]).all(axis=1).sum())
    assert d["delta_mean_loss"] == pytest.approx(each[1] - each[0], rel=1e-10)
