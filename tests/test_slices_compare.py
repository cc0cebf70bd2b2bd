"""``cecli compare --by``: per-slice paired differences, and Holm's correction by its definition.

References: pandas.groupby over the per-row losses the test computes,
scipy.stats's one-sample t test and t quantile, and Holm's step-down written
out here as Holm (1979) states it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from typer.testing import CliRunner

from cecli.cli import app
from cecli.slices import holm

runner = CliRunner()
CLASSES = ["cat", "dog", "owl"]


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(4)
    n = 2400
    y = rng.integers(0, 3, n)
    country = rng.choice(["fr", "de", "us", "jp", "nz"], n, p=[0.3, 0.3, 0.25, 0.14, 0.01])
    base = rng.normal(size=(n, 3))
    base[np.arange(n), y] += 1.5
    cand = base + rng.normal(scale=0.3, size=(n, 3))
    jp = country == "jp"
    cand[jp] = rng.normal(size=(jp.sum(), 3))  # the candidate forgot Japan
    pb, pc = _softmax(base), _softmax(cand)
    paths = {}
    for name, p in (("baseline", pb), ("candidate", pc)):
        frame = pd.DataFrame(p, columns=CLASSES)
        if name == "candidate":
            frame["country"] = country  # set aside: the slices are the baseline's
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    paths["labels"] = tmp_path / "labels.csv"
    pd.DataFrame({"label": np.array(CLASSES)[y], "country": country}).to_csv(
        paths["labels"], index=False
    )
    losses = pd.DataFrame(
        {
            "country": country,
            "base": -np.log(pb[np.arange(n), y]),
            "cand": -np.log(pc[np.arange(n), y]),
        }
    )
    return {k: str(v) for k, v in paths.items()}, losses


def _compare(files, *args):
    argv = ["compare", files["baseline"], files["candidate"], files["labels"], "--bootstrap", "100"]
    return runner.invoke(app, [*argv, *args])


def holm_by_definition(p, alpha):
    """Holm (1979): order the p-values; reject H_(1..k-1), where k is the first with
    p_(k) > alpha / (m - k + 1); the adjusted p-value is the least alpha rejecting it."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    rejected = [False] * m
    for rank, i in enumerate(order):
        if p[i] > alpha / (m - rank):
            break
        rejected[i] = True
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return rejected, adjusted


def test_holm_matches_its_definition():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        rejected, adjusted = holm_by_definition(p.tolist(), 0.05)
        got = holm(p)
        np.testing.assert_allclose(got, adjusted, rtol=1e-15)
        assert (got <= 0.05).tolist() == rejected


def test_per_slice_differences_intervals_and_holm(files):
    paths, losses = files
    result = _compare(paths, "--by", "country", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    slicing, slices = doc["slicing"], doc["slices"]
    groups = {k: g for k, g in losses.groupby("country")}
    ranked = [k for k, g in groups.items() if len(g) >= 30]
    m = len(ranked)
    assert slicing["n_tests"] == m == 4  # nz has too few rows
    assert slicing["correction"] == "holm"
    assert slicing["alpha"] == 0.05
    assert slicing["interval_level"] == pytest.approx(1 - 0.05 / m)
    p_by_country = {}
    for s in slices:
        g = groups[s["value"]]
        d = (g["cand"] - g["base"]).to_numpy()
        assert s["n_samples"] == len(g)
        assert s["baseline_mean_loss"] == pytest.approx(g["base"].mean(), rel=1e-12)
        assert s["candidate_mean_loss"] == pytest.approx(g["cand"].mean(), rel=1e-12)
        assert s["delta_mean_loss"] == pytest.approx(d.mean(), rel=1e-9)
        if not s["ranked"]:
            assert s["verdict"] == "not_ranked"
            continue
        half = scipy.stats.t.ppf(1 - 0.05 / (2 * m), len(d) - 1) * scipy.stats.sem(d)
        assert (s["ci_low"], s["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
        assert s["p_value"] == pytest.approx(scipy.stats.ttest_1samp(d, 0).pvalue, rel=1e-7)
        p_by_country[s["value"]] = s
    names = list(p_by_country)
    rejected, adjusted = holm_by_definition([p_by_country[k]["p_value"] for k in names], 0.05)
    for k, r, a in zip(names, rejected, adjusted, strict=True):
        s = p_by_country[k]
        assert s["p_holm"] == pytest.approx(a, rel=1e-9)
        expected = ("worse" if s["delta_mean_loss"] > 0 else "better") if r else "no_difference"
        assert s["verdict"] == expected
    assert slices[0]["value"] == "jp"  # the largest increase first
    assert slices[0]["verdict"] == "worse"


def test_fail_if_any_slice_worse_gate(files):
    paths, _ = files
    failed = _compare(paths, "--by", "country", "--fail-if-any-slice-worse")
    assert failed.exit_code == 1, failed.output
    assert "Holm's step-down over 4 ranked slices" in failed.stdout
    same = runner.invoke(
        app,
        [
            "compare",
            paths["baseline"],
            paths["baseline"],
            paths["labels"],
            "--bootstrap",
            "100",
            "--by",
            "country",
            "--fail-if-any-slice-worse",
        ],
    )
    assert same.exit_code == 0, same.output


def test_compare_csv_and_markdown_list_the_slices(files):
    paths, _ = files
    csv = _compare(paths, "--by", "country", "-f", "csv").stdout.splitlines()
    assert csv[0].startswith("country,n_samples,baseline_mean_loss,candidate_mean_loss")
    assert len(csv) == 1 + 5
    markdown = _compare(paths, "--by", "country", "-f", "markdown", "--top", "2").stdout
    assert "largest increase first: 2 of 4 ranked" in markdown
    assert "Bonferroni level 98.75%" in markdown


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--by", "nope"], "--by 'nope': no such column"),
        (["--by", "country:3"], "cannot be cut into quantile bins"),
        (["--fail-if-any-slice-worse"], "--fail-if-any-slice-worse applies to --by"),
    ],
)
def test_bad_compare_slices_are_one_line_and_exit_2(files, args, words):
    paths, _ = files
    result = _compare(paths, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error:")
    assert words in lines[0]
