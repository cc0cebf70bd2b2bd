"""One view per chunk, every statistic a fold: merging states equals one pass, against references.

The references are scikit-learn (``log_loss``, ``calibration_curve``-style
bins written out in ``calibration_definitions``) and definitions written
here; the property is that a run split into parts, each scored by a state
of its own and merged in row order, gives what one state over all the rows
gives, whatever the chunk sizes, and that a merge never changes its argument.
"""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from calibration_definitions import reference_bins, reference_ece_mce
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from cecli.errors import OptionError, ProbabilityError
from cecli.folds import (
    FINE_EDGES_NATS,
    HISTOGRAM_EDGES_NATS,
    LossHistogram,
    ScoreOptions,
    ScoreState,
)
from cecli.view import view_of

OPTIONS = ScoreOptions(calibration_bins=10, temperature=True, fine_histogram=True, keep=5)


def data(n: int = 3000, k: int = 4, seed: int = 7):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, n)
    weights = rng.uniform(0.5, 2.0, n)
    ids = np.array([f"row-{i}" for i in range(n)], dtype=object)
    return probs, labels, weights, ids


def run(parts, probs, labels, weights, ids, options=OPTIONS):
    """One state per part, each fed its rows in chunks of its own size, merged in row order."""
    states = []
    for (lo, hi), size in parts:
        state = ScoreState("categorical", from_logits=False, options=options)
        for a in range(lo, hi, size):
            b = min(a + size, hi)
            state.add(state.view(labels[a:b], probs[a:b], weights[a:b], first_row=a, ids=ids[a:b]))
        states.append(state)
    merged = states[0]
    for other in states[1:]:
        merged = merged.merge(other)
    return merged.result()


def test_a_merged_run_equals_one_pass_and_the_references():
    probs, labels, weights, ids = data()
    one = run([((0, 3000), 3000)], probs, labels, weights, ids)
    split = run(
        [((0, 1000), 128), ((1000, 2200), 333), ((2200, 3000), 97)], probs, labels, weights, ids
    )

    expected = log_loss(labels, probs, sample_weight=weights)
    for scored in (one, split):
        assert scored.summary.mean_loss == pytest.approx(expected, rel=1e-12)
        loss = -np.log(probs[np.arange(len(labels)), labels])
        counts = [
            int(((loss > lo) & (loss <= hi)).sum())
            for lo, hi in zip(
                (-np.inf, *HISTOGRAM_EDGES_NATS), (*HISTOGRAM_EDGES_NATS, np.inf), strict=True
            )
        ]
        assert scored.histogram == counts
        assert sum(scored.fine_histogram) == len(labels)
        assert len(scored.fine_edges) == len(FINE_EDGES_NATS)
        confidence = probs.max(axis=1)
        credit = (probs.argmax(axis=1) == labels).astype(float)
        ece, mce = reference_ece_mce(reference_bins(confidence, credit, 10, weights))
        assert scored.calibration.ece == pytest.approx(ece, rel=1e-9)
        assert scored.calibration.mce == pytest.approx(mce, rel=1e-9)
        worst = np.lexsort((np.arange(len(loss)), -loss))[:5]
        assert [r.row for r in scored.summary.worst] == worst.tolist()
        assert {r.row: scored.ids[r.row] for r in scored.summary.worst} == {
            int(r): f"row-{r}" for r in worst
        }
    # the parts' sums are added in another order: equal to rounding, the rest exactly
    assert split.summary.n_samples == one.summary.n_samples
    assert split.histogram == one.histogram
    assert split.fine_histogram == one.fine_histogram
    for a, b in zip(split.calibration.bins, one.calibration.bins, strict=True):
        assert a.count == b.count
        if b.count:
            assert a.confidence == pytest.approx(b.confidence, rel=1e-12, abs=0)
    # every row fits in the temperature sample: the same rows, so the same temperature
    assert split.temperature.temperature == pytest.approx(one.temperature.temperature, rel=1e-9)


def test_a_merge_changes_only_the_state_it_is_called_on():
    probs, labels, weights, ids = data(400)
    left = ScoreState("categorical", from_logits=False, options=OPTIONS)
    right = ScoreState("categorical", from_logits=False, options=OPTIONS)
    left.add(left.view(labels[:200], probs[:200], weights[:200], first_row=0, ids=ids[:200]))
    right.add(right.view(labels[200:], probs[200:], weights[200:], first_row=200, ids=ids[200:]))
    before = pickle.dumps(right)
    left.merge(right)
    assert pickle.dumps(right) == before
    assert right.result().summary.n_samples == 200
    assert left.result().summary.n_samples == 400


def test_states_of_other_options_do_not_merge():
    plain = ScoreState("categorical", from_logits=False, options=ScoreOptions())
    calibrated = ScoreState("categorical", from_logits=False, options=OPTIONS)
    with pytest.raises(OptionError):
        plain.merge(calibrated)
    with pytest.raises(OptionError):
        LossHistogram([0.1, 1.0]).merge(LossHistogram([0.2, 1.0]))


def test_a_view_is_checked_once_and_a_bad_chunk_adds_nothing():
    state = ScoreState("categorical", from_logits=False, options=OPTIONS)
    good = state.view([0, 1], [[0.9, 0.1], [0.3, 0.7]], first_row=0)
    with pytest.raises(ProbabilityError, match="row 3"):
        state.view([0, 1], [[0.9, 0.1], [0.3, 0.9]], first_row=2)
    state.add(good)
    assert state.result().summary.n_samples == 2


def test_the_view_keeps_the_inputs_as_checked():
    view = view_of(
        "categorical", [1, 0], np.array([[0.2, 0.8], [0.6, 0.4]], np.float16), sample_weights=[2, 1]
    )
    assert view.preds.dtype == np.float32  # float16 is widened once, here
    assert view.weights.dtype == np.float64
    assert view.weights.tolist() == [2.0, 1.0]
    assert view.labels.tolist() == [1, 0]
    assert view.targets is None
    soft = view_of("categorical", [[0.3, 0.7], [1.0, 0.0]], [[0.2, 0.8], [0.6, 0.4]])
    assert soft.targets is not None
    assert soft.targets[0].tolist() == [0.3, 0.7]
    assert soft.labels.tolist() == [1, 0]


def test_a_calibration_fold_fed_views_equals_the_checking_update():
    """The view path skips the checks, not any arithmetic: the same sums, bit for bit."""
    from cecli.calibration import CalibrationAccumulator

    probs, labels, weights, _ = data(1000, k=6, seed=3)
    for from_logits, preds in ((False, probs), (True, np.log(probs) + 3.0)):
        by_view = CalibrationAccumulator("categorical", from_logits=from_logits, n_bins=8)
        checking = copy.deepcopy(by_view)
        for lo in range(0, 1000, 300):
            hi = min(lo + 300, 1000)
            view = view_of(
                "categorical",
                labels[lo:hi],
                preds[lo:hi],
                weights[lo:hi],
                from_logits=from_logits,
                first_row=lo,
            )
            by_view.add(view)
            checking.update(labels[lo:hi], preds[lo:hi], weights[lo:hi], row_offset=lo)
        assert by_view.result() == checking.result()


def test_a_view_of_other_options_is_refused_by_the_calibration_fold():
    from cecli.calibration import CalibrationAccumulator

    acc = CalibrationAccumulator("categorical", from_logits=False)
    with pytest.raises(OptionError, match="logits"):
        acc.add(view_of("categorical", [0], [[2.0, 1.0]], from_logits=True))
    with pytest.raises(OptionError, match="eps"):
        acc.add(view_of("categorical", [0], [[0.9, 0.1]], eps=1e-3))


def definition_counts(edges, losses):
    """Bin b holds edges[b-1] < loss <= edges[b]; the last every loss above the last edge."""
    lows, highs = (-np.inf, *edges), (*edges, np.inf)
    pairs = zip(lows, highs, strict=True)
    counts = [int(((losses > lo) & (losses <= hi)).sum()) for lo, hi in pairs]
    counts[-1] += int(np.isnan(losses).sum())  # NaN is above every edge
    return counts


@given(
    st.lists(
        st.one_of(
            st.sampled_from([*HISTOGRAM_EDGES_NATS, 0.0, np.inf, np.nan, -1.0]),
            st.floats(0, 20),
        ),
        max_size=60,
    ),
    st.sampled_from([HISTOGRAM_EDGES_NATS, FINE_EDGES_NATS[::7], (1.0, 0.5, 2.0)]),
)
def test_the_loss_histogram_counts_by_its_definition(losses, edges):
    loss = np.array(losses, dtype=np.float64)
    histogram = LossHistogram(edges)
    histogram.add(view_of_losses(loss))
    histogram.add(view_of_losses(loss[::-1]))
    if list(edges) == sorted(edges):
        assert histogram.result() == [2 * c for c in definition_counts(edges, loss)]
    else:  # unsorted edges: as np.searchsorted bins them
        bins = np.searchsorted(np.asarray(edges), loss)
        assert histogram.result() == (2 * np.bincount(bins, minlength=len(edges) + 1)).tolist()


def test_the_loss_histogram_counts_across_blocks():
    rng = np.random.default_rng(3)
    loss = np.concatenate([rng.exponential(1.0, 200_000) ** 2, HISTOGRAM_EDGES_NATS])
    histogram = LossHistogram(HISTOGRAM_EDGES_NATS)
    histogram.add(view_of_losses(loss))
    assert histogram.result() == definition_counts(HISTOGRAM_EDGES_NATS, loss)


def view_of_losses(loss):
    """A stand-in view: the histogram reads only the per-sample losses."""
    return SimpleNamespace(scores=SimpleNamespace(loss=loss))
