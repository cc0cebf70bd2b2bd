"""Each row's rank of its true class (``top_k``): the definition, on every layout the kernel takes.

The definition is scikit-learn's tie rule written out: sort each row's
scores with a stable sort, reverse it, and find the true class (so of equal
scores the higher class index ranks first). The kernel ranks narrow arrays a
column at a time against a threshold per row and wide ones a block of rows
at a time, on threads for large inputs; each way must give the definition.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cecli.losses._rank import NARROW_CLASSES, true_class_rank


def definition(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    order = np.argsort(preds, axis=1, kind="stable")[:, ::-1]
    return 1 + np.argmax(order == labels[:, None], axis=1)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    k=st.sampled_from([1, 2, 3, 7, NARROW_CLASSES, NARROW_CLASSES + 1, 130]),
    dtype=st.sampled_from([np.float32, np.float64]),
    layout=st.sampled_from(["C", "F", "reversed columns"]),
    values=st.sampled_from(["normal", "few distinct", "zeros", "-inf"]),
)
def test_ranks_are_the_definitions(seed, n, k, dtype, layout, values):
    rng = np.random.default_rng(seed)
    preds = rng.normal(size=(n, k)).astype(dtype)
    labels = rng.integers(0, k, n)
    if values == "few distinct":  # ties everywhere: the tie rule decides
        preds = np.round(preds)
    elif values == "zeros":  # probabilities that underflowed, the true class's too
        preds[rng.random((n, k)) < 0.5] = 0.0
        preds[rng.random(n) < 0.2, 0] = -0.0
    elif values == "-inf":  # masked classes, the true class's sometimes
        preds[rng.random((n, k)) < 0.3] = -np.inf
    if layout == "F":
        preds = np.asfortranarray(preds)
    elif layout == "reversed columns":
        preds = preds[:, ::-1]
    assert true_class_rank(preds, labels).tolist() == definition(preds, labels).tolist()


@pytest.mark.parametrize("k", [10, 200])
def test_large_inputs_on_threads_and_blocks(k, monkeypatch):
    monkeypatch.setenv("CECLI_NUM_THREADS", "2")  # a thread each half, whatever the machine
    rng = np.random.default_rng(k)
    n = (1 << 22) // (4 * k)  # 4 MiB of float32: two threads, several blocks each
    preds = np.round(rng.normal(size=(n, k)) * 4).astype(np.float32) / 4
    labels = rng.integers(0, k, n)
    assert np.array_equal(true_class_rank(preds, labels), definition(preds, labels))
