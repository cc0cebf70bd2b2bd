"""Each reliability bin's Wilson interval on its accuracy, against scipy and the definition.

References: ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` for
unweighted bins; for weighted bins, Wilson's formula written here over
Kish's effective count ``(sum w)^2 / sum w^2`` of the predictions in the bin,
found by binning the rows here with ``np.digitize``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from cecli.calibration import CalibrationAccumulator, calibration, wilson_interval
from cecli.cli import app


def wilson_by_hand(p: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 7), (50, 100), (999, 1000), (0, 40)])
def test_the_interval_is_scipys_wilson_interval(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k / n, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_every_unweighted_bin_has_scipys_interval_on_its_counts():
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) * 2
    logits[np.arange(n), y] += 1
    s = calibration(y, logits, from_logits=True, n_bins=10)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    conf, right = p.max(1), p.argmax(1) == y
    index = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    checked = 0
    for b, bin_ in enumerate(s.bins):
        count = int((index == b).sum())
        assert bin_.count == count
        if count == 0:
            assert bin_.accuracy_ci_low is None
            continue
        k = int(right[index == b].sum())
        ci = stats.binomtest(k, count).proportion_ci(method="wilson")
        assert bin_.effective_count == count
        assert bin_.accuracy_ci_low == pytest.approx(ci.low, abs=1e-12)
        assert bin_.accuracy_ci_high == pytest.approx(ci.high, abs=1e-12)
        checked += 1
    assert checked >= 5


def test_a_thin_bin_has_a_wide_interval_and_a_full_one_a_narrow_one():
    acc = CalibrationAccumulator("binary", n_bins=2)
    acc.update([1, 0, 1], [0.1, 0.2, 0.3])  # the low bin: 3 rows, 2 positive
    acc.update(np.tile([0, 1], 500), np.full(1000, 0.7))  # the high bin: 1000 rows, half
    low, high = acc.result().bins
    assert low.accuracy_ci_high - low.accuracy_ci_low > 0.6
    assert high.accuracy_ci_high - high.accuracy_ci_low < 0.07


def test_weighted_bins_use_kishs_effective_count():
    rng = np.random.default_rng(1)
    n = 400
    p = rng.random(n)
    t = (rng.random(n) < p).astype(int)
    w = rng.choice([0.5, 1.0, 4.0], n)
    s = calibration(t, p, kind="binary", sample_weights=w, n_bins=4)
    index = np.clip(np.ceil(p * 4).astype(int) - 1, 0, 3)
    for b, bin_ in enumerate(s.bins):
        wb, tb = w[index == b], t[index == b]
        n_eff = wb.sum() ** 2 / (wb**2).sum()
        assert bin_.effective_count == pytest.approx(n_eff, rel=1e-12)
        assert bin_.effective_count < bin_.count
        low, high = wilson_by_hand(float(wb @ tb / wb.sum()), n_eff)
        assert bin_.accuracy_ci_low == pytest.approx(low, abs=1e-12)
        assert bin_.accuracy_ci_high == pytest.approx(high, abs=1e-12)


def test_merged_accumulators_give_the_same_intervals():
    rng = np.random.default_rng(2)
    p, t, w = rng.random(600), rng.integers(0, 2, 600), rng.random(600)
    whole = calibration(t, p, kind="binary", sample_weights=w, n_bins=5)
    left = CalibrationAccumulator("binary", n_bins=5)
    right = CalibrationAccumulator("binary", n_bins=5)
    left.update(t[:250], p[:250], w[:250])
    right.update(t[250:], p[250:], w[250:])
    merged = left.merge(right).result()
    for a, b in zip(whole.bins, merged.bins, strict=True):
        assert a.accuracy_ci_low == pytest.approx(b.accuracy_ci_low, rel=1e-12)
        assert a.accuracy_ci_high == pytest.approx(b.accuracy_ci_high, rel=1e-12)


def test_the_json_bins_carry_the_interval(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("p,label\n0.1,0\n0.2,1\n0.8,1\n0.9,1\n0.95,0\n")
    args = ["score", str(path), "--label-col", "label", "--calibration", "--bins", "2"]
    result = CliRunner().invoke(app, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    low, high = json.loads(result.stdout)["calibration"]["bins"]
    ci = stats.binomtest(1, 2).proportion_ci(method="wilson")
    assert low["accuracy_ci_low"] == pytest.approx(ci.low)
    assert low["accuracy_ci_high"] == pytest.approx(ci.high)
    assert high["effective_count"] == 3
    assert high["accuracy_ci_low"] < high["accuracy"] < high["accuracy_ci_high"]
