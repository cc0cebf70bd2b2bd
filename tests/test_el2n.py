"""Each row's EL2N score (:mod:`cecli.el2n`) against definitions written here.

References, independent of the code under test:

* the definition: ``np.linalg.norm(softmax(z) - t, axis=1)`` (categorical),
  ``|sigmoid(z) - t|`` (binary), the norm over labels (multilabel);
* the gradient itself, by central finite differences of the cross-entropy
  written here with ``scipy.special.logsumexp``, and by torch's autograd of
  ``cross_entropy`` when torch is installed;
* closed forms where the definition's float64 arithmetic would cancel
  (``p_y`` within 1e-13 of 1);
* ``np.quantile`` and ``np.mean`` for the distribution the report gives.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import expit, logsumexp, softmax
from typer.testing import CliRunner

import cecli
from cecli.cli import app
from cecli.el2n import EL2N_BINS, El2nDistribution
from cecli.losses import score
from cecli.view import view_of


def onehot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[y]


def logits_case(n: int = 500, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) * 3
    return y, z


@pytest.mark.parametrize("k", [3, 10, 100])  # 100: wider than the narrow kernels
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("calibration", [False, True])
def test_categorical_el2n_is_the_norm_of_p_minus_onehot(k, from_logits, calibration):
    y, z = logits_case(k=k)
    p = softmax(z, axis=1)
    preds = z if from_logits else p
    view = view_of(
        "categorical", y, preds, from_logits=from_logits, calibration=calibration, el2n=True
    )
    expected = np.linalg.norm(p - onehot(y, k), axis=1)
    np.testing.assert_allclose(view.scores.el2n, expected, rtol=1e-12, atol=1e-15)


def test_soft_targets_use_the_whole_target_row():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(200, 4))
    t = rng.dirichlet(np.ones(4), 200)
    s = score("categorical", t, z, from_logits=True)
    np.testing.assert_allclose(s.el2n, np.linalg.norm(softmax(z, axis=1) - t, axis=1), rtol=1e-12)


def test_label_smoothing_and_focal_weighting_do_not_change_it():
    y, z = logits_case()
    plain = score("categorical", y, z, from_logits=True).el2n
    other = score("categorical", y, z, from_logits=True, label_smoothing=0.1, focal_gamma=2)
    np.testing.assert_allclose(other.el2n, plain, rtol=1e-12)


def test_it_is_the_norm_of_the_gradient_by_finite_differences():
    y, z = logits_case(n=40, k=4, seed=2)

    def loss(logits: np.ndarray) -> np.ndarray:
        return logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]

    h = 1e-6
    gradient = np.empty_like(z)
    for j in range(z.shape[1]):
        step = np.zeros_like(z)
        step[:, j] = h
        gradient[:, j] = (loss(z + step) - loss(z - step)) / (2 * h)
    got = score("categorical", y, z, from_logits=True).el2n
    np.testing.assert_allclose(got, np.linalg.norm(gradient, axis=1), rtol=1e-7, atol=1e-9)


def test_it_is_the_norm_of_torchs_autograd_gradient():
    torch = pytest.importorskip("torch")
    y, z = logits_case(n=64, k=7, seed=3)
    logits = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y), reduction="sum")
    loss.backward()
    expected = logits.grad.norm(dim=1).numpy()
    got = score("categorical", y, z, from_logits=True).el2n
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("calibration", [False, True])
def test_a_confident_right_row_keeps_its_tiny_score(calibration):
    # z = (30, 0, 0): p_j = e^-30 / S off the true class, 1 - p_y = 2 e^-30 / S, so
    # EL2N = sqrt(6) e^-30 / S; 1 - p_y in float64 would keep only 3 digits of it
    z = np.array([[30.0, 0.0, 0.0]])
    s = 1 + 2 * math.exp(-30)
    view = view_of("categorical", [0], z, from_logits=True, calibration=calibration, el2n=True)
    assert view.scores.el2n[0] == pytest.approx(math.sqrt(6) * math.exp(-30) / s, rel=1e-12)


def test_binary_el2n_is_the_gap_of_the_one_logit():
    rng = np.random.default_rng(4)
    z = rng.normal(size=300) * 4
    t = rng.integers(0, 2, 300)
    got = score("binary", t, z, from_logits=True).el2n
    np.testing.assert_allclose(got, np.abs(expit(z) - t), rtol=1e-12, atol=1e-16)
    # |p - 1| = sigmoid(-z), without the definition's cancellation
    np.testing.assert_allclose(got, np.where(t == 1, expit(-z), expit(z)), rtol=1e-14)
    p = expit(z)
    np.testing.assert_allclose(score("binary", t, p).el2n, np.abs(p - t), rtol=1e-12)
    # two-class softmax of the logits (0, z) is the same model: its EL2N is sqrt(2) times
    two = score("categorical", t, np.column_stack([np.zeros(300), z]), from_logits=True)
    np.testing.assert_allclose(two.el2n, math.sqrt(2) * np.abs(expit(z) - t), rtol=1e-10)


def test_a_binary_logit_far_on_the_right_side_keeps_its_tiny_score():
    s = score("binary", [1, 0], [40.0, -40.0], from_logits=True)
    np.testing.assert_allclose(s.el2n, [expit(-40.0)] * 2, rtol=1e-12)


def test_multilabel_el2n_is_the_norm_over_labels():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(100, 6)) * 2
    t = rng.integers(0, 2, (100, 6))
    s = score("multilabel", t, z, from_logits=True)
    np.testing.assert_allclose(s.el2n, np.linalg.norm(expit(z) - t, axis=1), rtol=1e-12)


def test_update_returns_it_and_can_spare_it():
    acc = cecli.Accumulator("categorical")
    y, z = logits_case(n=20)
    p = softmax(z, axis=1)
    assert acc.update(y, p).el2n is not None
    assert acc.update(y, p, el2n=False).el2n is None
    assert score("categorical", y, p, el2n=False).el2n is None


def test_the_distribution_gives_numpys_quantiles_within_a_bin_and_merges():
    y, z = logits_case(n=5000, k=10, seed=6)
    whole, left, right = El2nDistribution(), El2nDistribution(), El2nDistribution()
    whole.add(view_of("categorical", y, z, from_logits=True, el2n=True))
    left.add(view_of("categorical", y[:1234], z[:1234], from_logits=True, el2n=True))
    right.add(view_of("categorical", y[1234:], z[1234:], from_logits=True, el2n=True))
    merged = left.merge(right).result()
    s = whole.result()
    values = np.linalg.norm(softmax(z, axis=1) - onehot(y, 10), axis=1)
    assert s.quantile_error == pytest.approx(math.sqrt(2) / EL2N_BINS)
    assert s.mean == pytest.approx(values.mean(), rel=1e-12)
    assert s.max == pytest.approx(values.max(), rel=1e-12)
    for q, v in s.quantiles.items():
        exact = np.quantile(values, q, method="inverted_cdf")
        assert abs(v - exact) <= s.quantile_error, q
        assert merged.quantiles[q] == v
    assert merged.mean == pytest.approx(s.mean, rel=1e-12)


def write_case(tmp_path, n=400, k=4):
    y, z = logits_case(n=n, k=k, seed=7)
    p = softmax(z, axis=1)
    path = tmp_path / "p.csv"
    header = ",".join(f"p{j}" for j in range(k)) + ",label"
    rows = [
        ",".join(f"{v:.17g}" for v in row) + f",{label}" for row, label in zip(p, y, strict=True)
    ]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path, np.linalg.norm(p - onehot(y, k), axis=1)


def test_the_cli_reports_the_distribution_with_el2n_only(tmp_path):
    path, values = write_case(tmp_path)
    args = ["score", str(path), "--label-col", "label", "-f", "json"]
    plain = json.loads(CliRunner().invoke(app, args).stdout)
    assert "el2n" not in plain
    got = json.loads(CliRunner().invoke(app, [*args, "--el2n"]).stdout)["el2n"]
    assert got["n_samples"] == len(values)
    assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert (
        abs(got["p50"] - np.quantile(values, 0.5, method="inverted_cdf")) <= got["quantile_error"]
    )
    table = CliRunner().invoke(app, [*args[:-2], "--el2n"])
    assert "EL2N" in table.stdout


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_the_per_sample_file_has_each_rows_el2n(tmp_path, suffix):
    path, values = write_case(tmp_path)
    out = tmp_path / f"rows{suffix}"
    result = CliRunner().invoke(
        app, ["score", str(path), "--label-col", "label", "--per-sample", str(out)]
    )
    assert result.exit_code == 0, result.output
    if suffix == ".npy":
        column = np.load(out)["el2n"]
    else:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        table = pacsv.read_csv(out) if suffix == ".csv" else pq.read_table(out)
        column = table.column("el2n").to_numpy()
    np.testing.assert_allclose(column, values, rtol=1e-12)
