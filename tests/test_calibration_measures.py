"""The classwise ECE, the RMS (L2) calibration error and the Brier score's decomposition,
against definitions written here.

Nothing here compares the module with its own earlier output. The references:

* every column's bins: a loop over the columns and over bins ``b / n < p <= (b + 1) / n``
  (the first bin also holds 0), ``calibration_definitions.reference_bins``;
* classwise ECE (Kull et al. 2019; Nixon et al. 2019's static calibration error):
  ``(1 / C) sum_c sum_b (W_cb / W) |o_cb - p_cb|``;
* Brier decomposition (Murphy 1973), per column: ``REL = sum_b (W_b / W) (p_b - o_b)^2``,
  ``RES = sum_b (W_b / W) (o_b - o)^2``, ``UNC`` the outcome's weighted variance; the
  Brier score of the forecasts replaced by their bins' means, computed as such; and
  Stephenson, Coelho and Jolliffe's (2008) within-bin terms ``WBV - WBC``, computed as
  such. Summed over classes (categorical), averaged over labels (multilabel);
* RMS calibration error: torchmetrics' ``_ce_compute(norm="l2")`` and ``norm="max"``
  written out (its loop binning, ``conf > lower & conf <= upper``);
* sample weights: whole-number weights are the rows repeated.
"""

from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pytest
from calibration_definitions import reference_bins
from hypothesis import given
from hypothesis import strategies as st
from scipy import special
from typer.testing import CliRunner

from cecli.calibration import CalibrationAccumulator, calibration
from cecli.cli import app
from cecli.view import view_of

CLOSE = dict(rel=1e-9, abs=1e-12)


# --- references ------------------------------------------------------------------------


def bin_number(values, n_bins):
    """Each value's equal-width bin, one bin at a time: ``lower < p <= upper``, the first from 0."""
    out = np.full(len(values), -1)
    for b in range(n_bins):
        inside = (values > b / n_bins) & (values <= (b + 1) / n_bins)
        if b == 0:
            inside |= values == 0.0
        out[inside] = b
    assert (out >= 0).all()
    return out


def reference_measures(probs, outcomes, n_bins, weight=None, combine=np.sum):
    """Every column's bins from the definition: classwise ECE and the Brier decomposition."""
    probs = np.asarray(probs, dtype=np.float64)
    outcomes = np.asarray(outcomes, dtype=np.float64)
    n, columns = probs.shape
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    total = w.sum()
    per_column = {k: [] for k in ("ece", "rel", "res", "unc", "binned", "within", "brier")}
    for c in range(columns):
        p, o = probs[:, c], outcomes[:, c]
        bins = reference_bins(p, o, n_bins, w)
        base_rate = w @ o / total
        used = [b for b in bins if b["weight"] > 0]
        per_column["ece"].append(
            sum(b["weight"] / total * abs(b["accuracy"] - b["confidence"]) for b in used)
        )
        per_column["rel"].append(
            sum(b["weight"] / total * (b["confidence"] - b["accuracy"]) ** 2 for b in used)
        )
        per_column["res"].append(
            sum(b["weight"] / total * (b["accuracy"] - base_rate) ** 2 for b in used)
        )
        per_column["unc"].append(w @ (o - base_rate) ** 2 / total)
        # each probability replaced by its bin's mean, and each outcome's bin mean
        number = bin_number(p, n_bins)
        p_bin = np.array([bins[b]["confidence"] or 0.0 for b in number])
        o_bin = np.array([bins[b]["accuracy"] or 0.0 for b in number])
        per_column["binned"].append(w @ (p_bin - o) ** 2 / total)
        wbv = w @ (p - p_bin) ** 2 / total
        wbc = 2 * (w @ ((p - p_bin) * (o - o_bin))) / total
        per_column["within"].append(wbv - wbc)
        per_column["brier"].append(w @ (p - o) ** 2 / total)
    out = {k: float(combine(v)) for k, v in per_column.items()}
    out["ece"] = float(np.mean(per_column["ece"]))
    return out


def torchmetrics_ce(confidences, accuracies, n_bins, norm):
    """torchmetrics' ``_ce_compute`` with its loop binning, written out in NumPy."""
    boundaries = np.linspace(0, 1, n_bins + 1)
    acc_bin, conf_bin, prop_bin = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for i, (lower, upper) in enumerate(itertools.pairwise(boundaries)):
        in_bin = (confidences > lower) & (confidences <= upper)
        prop = in_bin.mean()
        if prop > 0:
            acc_bin[i] = accuracies[in_bin].mean()
            conf_bin[i] = confidences[in_bin].mean()
            prop_bin[i] = prop
    if norm == "l1":
        return float(np.sum(np.abs(acc_bin - conf_bin) * prop_bin))
    if norm == "max":
        return float(np.max(np.abs(acc_bin - conf_bin)))
    ce = np.sum((acc_bin - conf_bin) ** 2 * prop_bin)
    return float(np.sqrt(ce)) if ce > 0 else 0.0


def assert_matches(summary, want):
    d = summary.brier_decomposition
    assert summary.classwise_ece == pytest.approx(want["ece"], **CLOSE)
    assert d.reliability == pytest.approx(want["rel"], **CLOSE)
    assert d.resolution == pytest.approx(want["res"], **CLOSE)
    assert d.uncertainty == pytest.approx(want["unc"], **CLOSE)
    assert d.binned_brier == pytest.approx(want["binned"], **CLOSE)
    assert d.within_bins == pytest.approx(want["within"], rel=1e-7, abs=1e-9)
    assert summary.brier == pytest.approx(want["brier"], rel=1e-9, abs=1e-12)
    # the identities: REL - RES + UNC is the binned Brier; adding the within-bin terms, the Brier
    assert d.binned_brier == pytest.approx(d.reliability - d.resolution + d.uncertainty, **CLOSE)
    assert d.binned_brier + d.within_bins == pytest.approx(summary.brier, **CLOSE)


# --- data ------------------------------------------------------------------------------


def probabilities_on_edges(rng, n, k, n_bins):
    """Rows of multiples of ``1 / n_bins``: every probability on an edge, zeros among them."""
    counts = rng.multinomial(n_bins, rng.dirichlet(np.ones(k)), size=n)
    return counts / n_bins


@st.composite
def categorical_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 200))
    k = draw(st.integers(2, 9))
    n_bins = draw(st.integers(1, 20))
    rng = np.random.default_rng(seed)
    input_kind = draw(st.sampled_from(["probs", "edges", "logits"]))
    if input_kind == "edges":
        probs = probabilities_on_edges(rng, n, k, n_bins)
    else:
        probs = rng.dirichlet(np.full(k, draw(st.sampled_from([0.1, 1.0, 5.0]))), size=n)
    soft = draw(st.booleans())
    if soft:
        targets = rng.dirichlet(np.full(k, 0.5), size=n)
        outcomes = targets
    else:
        targets = rng.integers(0, k, n)
        if input_kind == "edges":  # a true class of probability 0 is fine, but keep some right
            targets = np.where(rng.random(n) < 0.5, probs.argmax(axis=1), targets)
        outcomes = np.eye(k)[targets]
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    if weights is not None and not weights.sum() > 0:
        weights = None
    preds = probs
    if input_kind == "logits":
        # a row's shift changes nothing; no probability of 0, whose log would mask the class
        preds = np.log(np.maximum(probs, 1e-300)) + rng.normal(0, 5, (n, 1))
        probs = special.softmax(preds, axis=1)
    return preds, probs, targets, outcomes, n_bins, weights, input_kind == "logits"


# --- every column binned: categorical, binary, multilabel --------------------------------


@given(case=categorical_case())
def test_categorical_classwise_ece_and_brier_decomposition_follow_the_definition(case):
    preds, probs, targets, outcomes, n_bins, weights, from_logits = case
    summary = calibration(
        targets, preds, from_logits=from_logits, sample_weights=weights, n_bins=n_bins
    )
    assert_matches(summary, reference_measures(probs, outcomes, n_bins, weights))


@given(case=categorical_case())
def test_the_checked_view_gives_what_update_gives(case):
    # the view's facts (the loss kernel's, or the wide path's) bin the same probabilities
    preds, probs, targets, outcomes, n_bins, weights, from_logits = case
    for terms in (True, False):
        acc = CalibrationAccumulator(from_logits=from_logits, n_bins=n_bins)
        acc.add(view_of("categorical", targets, preds, weights, from_logits=from_logits,
                        calibration=terms))  # fmt: skip
        assert_matches(acc.result(), reference_measures(probs, outcomes, n_bins, weights))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_inputs_past_the_kernel_and_float32(from_logits, dtype):
    # 70 classes: the calibration facts' own softmax, not the loss kernel's
    rng = np.random.default_rng(70)
    n, k, n_bins = 500, 70, 10
    logits = rng.normal(0, 3, (n, k)).astype(dtype)
    probs = special.softmax(logits.astype(np.float64), axis=1)
    preds = logits if from_logits else (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)
    labels = rng.integers(0, k, n)
    summary = calibration(labels, preds, from_logits=from_logits, n_bins=n_bins)
    reference = probs if from_logits else preds.astype(np.float64)
    want = reference_measures(reference, np.eye(k)[labels], n_bins)
    tolerance = dict(rel=1e-5, abs=1e-7) if dtype == np.float32 else CLOSE
    assert summary.classwise_ece == pytest.approx(want["ece"], **tolerance)
    d = summary.brier_decomposition
    assert d.reliability == pytest.approx(want["rel"], **tolerance)
    assert d.resolution == pytest.approx(want["res"], **tolerance)
    assert d.uncertainty == pytest.approx(want["unc"], **CLOSE)
    assert d.binned_brier + d.within_bins == pytest.approx(summary.brier, **CLOSE)


@pytest.mark.parametrize("n_bins", [3, 7, 10, 15])
def test_float32_probabilities_on_and_beside_the_edges_are_binned_as_their_float64(n_bins):
    # float32 is binned by ceil(p n) alone: the rounded edges must bin it as the loop does
    edges = (np.arange(n_bins + 1) / n_bins).astype(np.float32)
    up, down = np.nextafter(edges, np.float32(2)), np.nextafter(edges, np.float32(-1))
    v = np.clip(np.concatenate([edges, up, down]), 0, 1).astype(np.float32)
    probs = np.stack([v, np.float32(1) - v], axis=1)
    labels = np.random.default_rng(n_bins).integers(0, 2, len(v))
    summary = calibration(labels, probs, n_bins=n_bins)
    assert_matches(summary, reference_measures(probs.astype(np.float64), np.eye(2)[labels], n_bins))


@st.composite
def bernoulli_case(draw, labels):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 200))
    n_bins = draw(st.integers(1, 20))
    rng = np.random.default_rng(seed)
    probs = rng.beta(0.7, 0.7, (n, labels))
    on_edges = rng.random((n, labels)) < 0.2  # some on bin edges, at 0 and at 1
    probs[on_edges] = rng.integers(0, n_bins + 1, int(on_edges.sum())) / n_bins
    if draw(st.booleans()):
        targets = rng.random((n, labels))  # soft targets
    else:
        targets = (rng.random((n, labels)) < probs).astype(float)
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    if weights is not None and not weights.sum() > 0:
        weights = None
    return probs, targets, n_bins, weights


@given(case=bernoulli_case(labels=1))
def test_binary_bins_the_positive_class_and_its_classwise_ece_is_the_ece(case):
    probs, targets, n_bins, weights = case
    summary = calibration(
        targets[:, 0], probs[:, 0], kind="binary", sample_weights=weights, n_bins=n_bins
    )
    assert_matches(summary, reference_measures(probs, targets, n_bins, weights))
    assert summary.classwise_ece == pytest.approx(summary.ece, **CLOSE)


@given(case=bernoulli_case(labels=4))
def test_multilabel_bins_each_label_on_its_own_and_averages_over_labels(case):
    probs, targets, n_bins, weights = case
    summary = calibration(targets, probs, kind="multilabel", sample_weights=weights, n_bins=n_bins)
    assert_matches(summary, reference_measures(probs, targets, n_bins, weights, combine=np.mean))


def test_binary_logits_are_binned_as_their_sigmoid():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, 400)
    targets = (rng.random(400) < special.expit(logits)).astype(int)
    summary = calibration(targets, logits, kind="binary", from_logits=True, n_bins=12)
    p = special.expit(logits)[:, None]
    assert_matches(summary, reference_measures(p, targets[:, None].astype(float), 12))


def test_a_fixed_binary_case_by_hand():
    # 2 bins: {0.2, 0.45} with outcomes {0, 0} and {0.9, 0.6} with {1, 1}; base rate 1/2
    summary = calibration([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.45], kind="binary", n_bins=2)
    d = summary.brier_decomposition
    assert d.reliability == pytest.approx((0.325**2 + 0.25**2) / 2, **CLOSE)
    assert d.resolution == pytest.approx(0.25, **CLOSE)
    assert d.uncertainty == pytest.approx(0.25, **CLOSE)
    assert summary.brier == pytest.approx((0.04 + 0.01 + 0.16 + 0.2025) / 4, **CLOSE)
    # within bins: the spreads (0.125^2 each side of 0.325; 0.15^2 of 0.75), no covariance
    assert d.within_bins == pytest.approx((2 * 0.125**2 + 2 * 0.15**2) / 4, **CLOSE)


# --- the RMS (L2) and max calibration errors, as torchmetrics computes them ---------------


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), n_bins=st.integers(1, 20))
def test_rms_and_max_calibration_errors_are_torchmetrics_formulas(seed, n, n_bins):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(5, 0.4), size=n)
    labels = rng.integers(0, 5, n)
    summary = calibration(labels, probs, n_bins=n_bins)
    confidence = probs.max(axis=1)
    accuracy = (probs.argmax(axis=1) == labels).astype(float)
    l2 = torchmetrics_ce(confidence, accuracy, n_bins, "l2")
    assert summary.rms_calibration_error == pytest.approx(l2, **CLOSE)
    assert summary.mce == pytest.approx(
        torchmetrics_ce(confidence, accuracy, n_bins, "max"), **CLOSE
    )
    assert summary.ece == pytest.approx(
        torchmetrics_ce(confidence, accuracy, n_bins, "l1"), **CLOSE
    )
    # binary: the positive-class probability against the target, torchmetrics' binary input
    p = rng.random(n)
    t = (rng.random(n) < p).astype(float)
    binary = calibration(t, p, kind="binary", n_bins=n_bins)
    assert binary.rms_calibration_error == pytest.approx(
        torchmetrics_ce(p, t, n_bins, "l2"), **CLOSE
    )


def test_whole_number_weights_are_the_rows_repeated():
    rng = np.random.default_rng(8)
    probs = rng.dirichlet(np.ones(4), 120)
    labels = rng.integers(0, 4, 120)
    weights = rng.integers(0, 4, 120)
    weighted = calibration(labels, probs, sample_weights=weights, n_bins=7)
    repeated = calibration(np.repeat(labels, weights), np.repeat(probs, weights, axis=0), n_bins=7)
    for name in ("rms_calibration_error", "classwise_ece", "brier"):
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), **CLOSE), name
    for name in ("reliability", "resolution", "uncertainty", "binned_brier", "within_bins"):
        got = getattr(weighted.brier_decomposition, name)
        assert got == pytest.approx(getattr(repeated.brier_decomposition, name), **CLOSE), name


# --- chunks, merges and what a worker ships ------------------------------------------------


def measures(summary):
    d = summary.brier_decomposition
    return [summary.rms_calibration_error, summary.classwise_ece, d.reliability, d.resolution,
            d.uncertainty, d.binned_brier, d.within_bins]  # fmt: skip


@given(case=categorical_case(), cuts=st.lists(st.floats(0, 1), max_size=4))
def test_chunks_and_merges_in_any_order_equal_one_update(case, cuts):
    preds, _, targets, _, n_bins, weights, from_logits = case
    n = len(preds)
    whole = CalibrationAccumulator(from_logits=from_logits, n_bins=n_bins)
    whole.update(targets, preds, weights)
    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    chunked = CalibrationAccumulator(from_logits=from_logits, n_bins=n_bins)
    workers = []
    for lo, hi in itertools.pairwise(edges):
        w = None if weights is None else weights[lo:hi]
        chunked.update(targets[lo:hi], preds[lo:hi], w)
        worker = CalibrationAccumulator(from_logits=from_logits, n_bins=n_bins)
        worker.update(targets[lo:hi], preds[lo:hi], w, row_offset=lo)
        workers.append(pickle.loads(pickle.dumps(worker)))  # as a Dask worker ships it
    merged = CalibrationAccumulator(from_logits=from_logits, n_bins=n_bins)
    for worker in reversed(workers):
        merged.merge(worker)
    want = measures(whole.result())
    for got in (measures(chunked.result()), measures(merged.result())):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_merge_never_changes_its_argument():
    rng = np.random.default_rng(1)
    first, second = CalibrationAccumulator(n_bins=5), CalibrationAccumulator(n_bins=5)
    first.update(rng.integers(0, 3, 50), rng.dirichlet(np.ones(3), 50))
    second.update(rng.integers(0, 3, 50), rng.dirichlet(np.ones(3), 50))
    before = pickle.dumps(second)
    empty = CalibrationAccumulator(n_bins=5)
    empty.merge(second)  # the empty one takes a copy of the sums, not the arrays
    empty.merge(first)
    first.merge(second)
    assert pickle.dumps(second) == before
    assert measures(empty.result()) == pytest.approx(measures(first.result()), rel=1e-12)


def test_a_wide_state_ships_only_the_cells_with_weight():
    # 2,000 classes of mostly tiny probabilities: most (class, bin) cells are empty
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1, (300, 2000))
    logits[np.arange(300), rng.integers(0, 2000, 300)] += 12
    acc = CalibrationAccumulator(from_logits=True)
    acc.update(rng.integers(0, 2000, 300), logits)
    sums = acc._classwise
    shipped = len(pickle.dumps(sums))
    assert shipped < sums.weight.nbytes  # not the 2,000 x 15 x 3 sums of 8 bytes
    back = pickle.loads(pickle.dumps(sums))
    for name in ("weight", "prob", "outcome", "spread"):
        assert np.array_equal(getattr(back, name), getattr(sums, name)), name


# --- what the command shows ---------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(3, 0.5), 200)
    labels = rng.integers(0, 3, 200)
    preds, targets = tmp_path / "preds.npy", tmp_path / "labels.npy"
    np.save(preds, probs)
    np.save(targets, labels)
    return str(preds), str(targets), probs, labels


def test_json_holds_the_measures_of_the_definition(files):
    preds, targets, probs, labels = files
    result = runner.invoke(
        app, ["score", preds, targets, "--calibration", "--bins", "8", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    c = json.loads(result.stdout)["calibration"]
    want = reference_measures(probs, np.eye(3)[labels], 8)
    confidence, accuracy = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
    assert c["rms_calibration_error"] == pytest.approx(
        torchmetrics_ce(confidence, accuracy, 8, "l2"), **CLOSE
    )
    assert c["classwise_ece"] == pytest.approx(want["ece"], **CLOSE)
    d = c["brier_decomposition"]
    assert d["binned"] == "each class's probability, summed over classes"
    for key, name in (("reliability", "rel"), ("resolution", "res"), ("uncertainty", "unc"),
                      ("binned_brier", "binned"), ("within_bins", "within")):  # fmt: skip
        assert d[key] == pytest.approx(want[name], rel=1e-7, abs=1e-9), key


def test_the_table_and_markdown_show_them(files):
    preds, targets, _, _ = files
    summary = calibration(np.load(targets), np.load(preds))
    d = summary.brier_decomposition
    table = runner.invoke(app, ["score", preds, targets, "--calibration"], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    for label, value in (("RMS CE", f"{summary.rms_calibration_error:.4f}"),
                         ("classwise ECE", f"{summary.classwise_ece:.4f}"),
                         ("reliability", f"{d.reliability:.4f}"),
                         ("resolution", f"{d.resolution:.4f}"),
                         ("uncertainty", f"{d.uncertainty:.4f}"),
                         ("within bins", f"{d.within_bins:+.4f}")):  # fmt: skip
        shown = [line.split() for line in lines if line.strip().startswith(label)]
        assert shown, label
        assert shown[0][len(label.split())] == value, (label, shown)
    markdown = runner.invoke(app, ["score", preds, targets, "--calibration", "-f", "markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert f"| RMS calibration error | {summary.rms_calibration_error:.4f} |" in markdown.output
    assert f"| classwise ECE | {summary.classwise_ece:.4f} |" in markdown.output
    assert (
        f"| Brier | {summary.brier:.4f} = reliability {d.reliability:.4f} - resolution "
        f"{d.resolution:.4f} + uncertainty {d.uncertainty:.4f}, {d.within_bins:+.4f} within bins |"
    ) in markdown.output
