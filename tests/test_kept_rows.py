"""The kept rows (worst and flagged) as a fold: the same rows in the same order, however fed.

The reference is the definition, written here with Python's ``sorted``: loss
descending, ties by row ascending, the first ``keep`` (all with ``keep=None``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cecli.kept import FIELDS, KeptRows, RowFacts, TopRows, _order
from cecli.losses import score


def definition(loss: np.ndarray, rows: np.ndarray, keep: int | None) -> list[int]:
    """The rows a report lists, by the definition (NaN losses last, as NumPy sorts them)."""
    pairs = sorted(zip(loss.tolist(), rows.tolist(), strict=True), key=_key)
    chosen = [row for _, row in pairs]
    return chosen if keep is None else chosen[:keep]


def _key(pair: tuple[float, int]) -> tuple[bool, float, int]:
    loss, row = pair
    return (loss != loss, -loss if loss == loss else 0.0, row)


def chunk_scores(probs: np.ndarray, labels: np.ndarray, size: int) -> list:
    return [
        score("categorical", labels[i : i + size], probs[i : i + size], row_offset=i)
        for i in range(0, len(labels), size)
    ]


def tied_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from a few distinct rows, so that many losses are exactly equal."""
    rng = np.random.default_rng(seed)
    table = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    return table[rng.integers(0, len(table), n)], rng.integers(0, 3, n)


@pytest.mark.parametrize("keep", [None, 0, 1, 7, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rows_kept_are_the_definition_whatever_the_chunks_and_merges(keep, seed):
    probs, labels = tied_problem(300, seed)
    parts = chunk_scores(probs, labels, 37)
    everything = np.concatenate([p.loss for p in parts])
    flagged = np.concatenate([p.flagged for p in parts])
    rows = np.arange(len(labels))
    rng = np.random.default_rng(seed)
    folds = []
    for part in rng.permutation(len(parts)).tolist():  # chunks arrive in any order
        worst, wrong = TopRows(keep), TopRows(keep)
        worst.update(parts[part])
        wrong.update(parts[part], parts[part].flagged)
        folds.append((worst, wrong))
    worst, wrong = folds[0]
    for other_worst, other_wrong in folds[1:]:
        worst.merge(other_worst)
        wrong.merge(other_wrong)
    assert [r.row for r in worst.result()] == definition(everything, rows, keep)
    assert [r.row for r in wrong.result()] == definition(everything[flagged], rows[flagged], keep)
    assert worst.rows() == set(definition(everything, rows, keep))


def test_a_merge_leaves_its_argument_as_it_was():
    probs, labels = tied_problem(100, 3)
    first, second = chunk_scores(probs, labels, 50)
    for keep in (None, 5):
        mine, theirs = TopRows(keep), TopRows(keep)
        mine.update(first)
        theirs.update(second)
        before = tuple(theirs.result())
        mine.merge(theirs)
        assert tuple(theirs.result()) == before
        assert len(mine.result()) == (100 if keep is None else 5)


@given(
    st.lists(
        st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.5, float("inf"), float("nan"), 1e-300]),
        max_size=200,
    ),
    st.randoms(use_true_random=False),
)
def test_the_fast_order_is_lexsorts(losses, random):
    loss = np.array(losses, dtype=np.float64)
    rows = np.array(random.sample(range(10 * len(losses) + 1), len(losses)), dtype=np.int64)
    assert _order(loss, rows).tolist() == np.lexsort((rows, -loss)).tolist()
    assert rows[_order(loss, rows)].tolist() == definition(loss, rows, None)


def test_kept_rows_read_as_the_tuple_they_replace():
    probs, labels = tied_problem(20000, 4)  # more rows than one block of the iteration
    fold = TopRows(None)
    for part in chunk_scores(probs, labels, 4096):
        fold.update(part)
    kept = fold.result()
    as_tuple = tuple(kept[i] for i in range(len(kept)))
    assert isinstance(kept, KeptRows)
    assert all(isinstance(r, RowFacts) for r in as_tuple[:3])
    assert kept == as_tuple
    assert as_tuple == kept
    head = as_tuple[:1]
    assert kept[:2] + kept[2:] == as_tuple  # a tuple, as tuple + tuple was
    assert head + kept[1:2] == as_tuple[:2]
    assert kept[-1] == as_tuple[-1]
    assert kept[5:9] == as_tuple[5:9]
    assert kept.column("loss").tolist() == [r.loss for r in as_tuple]
    assert KeptRows() == ()
    with pytest.raises(ValueError, match="read-only"):
        kept.column("row")[0] = 1


def test_ties_over_rows_too_far_apart_for_one_sort_key_are_still_by_row():
    loss = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    rows = np.array([2**62, 5, 0, 2**62 + 7, 3, 1], dtype=np.int64)
    assert rows[_order(loss, rows)].tolist() == definition(loss, rows, None)


def test_an_unbounded_fold_read_then_fed_more_lists_every_row_in_order():
    probs, labels = tied_problem(3000, 5)
    parts = chunk_scores(probs, labels, 700)
    fold = TopRows(None)
    fold.update(parts[0])
    first = fold.result()
    assert [r.row for r in first] == definition(parts[0].loss, np.arange(700), None)
    for part in parts[1:]:
        other = TopRows(None)
        other.update(part)
        fold.merge(other)
    everything = np.concatenate([p.loss for p in parts])
    kept = fold.result()
    assert kept.column("row").tolist() == definition(everything, np.arange(3000), None)
    assert [r.row for r in kept[10:20]] == definition(everything, np.arange(3000), None)[10:20]
    assert [r.row for r in first] == definition(parts[0].loss, np.arange(700), None)


def test_kept_rows_in_an_order_read_as_the_rows_moved_into_it():
    rng = np.random.default_rng(6)
    n = 20000  # more rows than one block of the iteration
    columns = {name: rng.integers(0, 1000, n).astype(dtype) for name, dtype in FIELDS.items()}
    order = rng.permutation(n)
    lazy = KeptRows(columns, order)
    moved = KeptRows({name: a[order] for name, a in columns.items()})
    assert len(lazy) == n
    assert tuple(lazy) == tuple(moved)
    assert lazy[3] == moved[3]
    assert lazy[-1] == moved[-1]
    assert lazy[100:9000:7] == moved[100:9000:7]
    assert lazy[5:9].column("loss").tolist() == columns["loss"][order[5:9]].tolist()
    with pytest.raises(ValueError, match="read-only"):
        lazy.column("row")[0] = 1


def test_a_failed_read_of_an_unbounded_fold_leaves_its_rows(monkeypatch):
    probs, labels = tied_problem(900, 7)
    fold = TopRows(None)
    for part in chunk_scores(probs, labels, 300):
        fold.update(part)
    calls = []

    def failing(arrays, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # as if memory ran out at the third field
            raise MemoryError
        return concatenate(arrays, *args, **kwargs)

    concatenate = np.concatenate
    monkeypatch.setattr(np, "concatenate", failing)
    with pytest.raises(MemoryError):
        fold.result()
    monkeypatch.setattr(np, "concatenate", concatenate)
    everything = np.concatenate([p.loss for p in chunk_scores(probs, labels, 300)])
    assert [r.row for r in fold.result()] == definition(everything, np.arange(900), None)
