"""Every class's probability binned while a loss kernel holds the block: the classwise sums.

The classwise ECE and the Brier score's decomposition
(:mod:`cecli.calibration._classwise`) bin each class's probability on its
own, in ``n_bins`` equal-width bins (``lower < p <= upper``, the first also
``p = 0``). For class-index targets without sample weights, the loss kernels
of :mod:`cecli._kernels` do it here, on each ``K x B`` (class-major) block
of probabilities they have just formed: no second softmax, no second pass
over the chunk from memory, and on the kernels' threads.

Most of a row's probabilities are small: only the values above the first
bin's upper edge are binned one by one (a flat ``class * n_bins + bin``
index, one ``np.bincount`` for the counts and one for the sums); the first
bin's count and sum are each class's totals less theirs.

The sums of the blocks are kept block by block (a few blocks to a slot when
the sums are large) on the kernels' grid of blocks from row 0, and added in
row order at the end: the same bits on any number of threads.

Examples
--------
>>> import numpy as np
>>> from cecli._class_bins import bin_edges, bin_index
>>> bin_index(np.array([0.0, 0.2, 0.21, 1.0]), bin_edges(5)).tolist()
[0, 0, 1, 4]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

#: The most float64 sums a chunk's slots may hold (8 MiB); more blocks then share a slot.
SLOT_VALUES = 1 << 20


def bin_edges(n_bins: int) -> NDArray[np.float64]:
    """``b / n_bins``, correctly rounded (``np.linspace(0, 1, 6)[3]`` is 0.6000000000000001).

    Examples
    --------
    >>> bin_edges(4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    return np.arange(n_bins + 1) / n_bins


def bin_index(confidence: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin ``b`` holds ``edges[b] < c <= edges[b + 1]``; 0 goes in the first, >1 in the last.

    The same as ``np.searchsorted(edges[1:-1], c)``, five times faster:
    ``ceil(c n) - 1``, then moved by one wherever rounding put ``c`` on the
    wrong side of an edge. float32 values take :func:`float32_bin_index`.

    Examples
    --------
    >>> bin_index(np.array([0.5, 0.5000001, 2.0]), bin_edges(2)).tolist()
    [0, 1, 1]
    """
    if confidence.dtype == np.float32:
        return float32_bin_index(confidence, len(edges) - 1)
    n = len(edges) - 1
    scaled = np.multiply(confidence, n)
    np.ceil(scaled, out=scaled)
    np.clip(scaled, 1, n, out=scaled)
    index = scaled.astype(np.intp)
    index -= 1
    index -= confidence <= edges[index]
    index += confidence > edges[index + 1]
    return np.clip(index, 0, n - 1, out=index)


def float32_bin_index(probs: NDArray[np.float32], n_bins: int) -> NDArray[np.intp]:
    """:func:`bin_index` of float32 values: ``ceil(p n) - 1``, exactly.

    ``p n`` is exact in float64 (24 bits times a small whole number), so its
    ceiling is the exact one. The edges are ``b / n`` rounded to float64, but
    no float32 value lies between ``b / n`` and its rounding (a float32 value
    is ``m / 2^e`` with ``m < 2^24``, at least ``1 / (n 2^e)`` from any ``b / n``
    it does not equal; a dyadic ``b / n`` is exact): the rounded edges bin a
    float32 value as the exact ones do, and no value needs moving.

    Examples
    --------
    >>> float32_bin_index(np.array([0.0, 0.125, 0.1250001, 1.0], np.float32), 8).tolist()
    [0, 0, 1, 7]
    >>> float32_bin_index(np.array([0.1], np.float32), 10).tolist()  # float32 0.1 is above 1/10
    [1]
    """
    scaled = np.multiply(probs, n_bins, dtype=np.float64)
    np.ceil(scaled, out=scaled)
    index = scaled.astype(np.intp)
    index -= 1
    return np.clip(index, 0, n_bins - 1, out=index)


def first_upper(edges: NDArray[np.float64], dtype: np.dtype) -> np.floating:
    """The first bin's upper edge in ``dtype``: ``p > it`` exactly when ``p > edges[1]``.

    For float32 it is the float32 at or just below ``edges[1]``: no float32
    lies strictly between the two, so the comparison, made in float32 (a
    float64 scalar would make NumPy cast the whole block), is the exact one.
    One bin has no upper edge to pass: infinity.

    Examples
    --------
    >>> float(first_upper(bin_edges(10), np.dtype(np.float32))) <= 0.1
    True
    """
    if len(edges) == 2:
        return dtype.type(np.inf)
    edge = dtype.type(edges[1])
    if float(edge) > edges[1]:
        edge = np.nextafter(edge, dtype.type(-np.inf))
    return edge


class Buffers(Protocol):
    """Reusable buffers by name: what the loss kernels' per-thread scratch gives."""

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray: ...


class _Fresh:
    """:class:`Buffers` that are fresh arrays every time."""

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        return np.empty(shape, dtype)


@dataclass
class ClassBins:
    """A chunk's per (class, bin) sums, as :class:`BlockBinner` found them; ``K x n_bins``.

    ``count`` is the number of rows whose probability of the class lies in
    the bin, ``prob`` the sum of those probabilities (float64), ``correct``
    the number of them whose true class it is. ``entropy`` and ``brier``
    are the sums of the rows' entropies (nats) and Brier scores, when the
    kernel summed them instead of keeping them row by row (else None).
    """

    n_bins: int
    count: NDArray[np.int64]
    prob: NDArray[np.float64]
    correct: NDArray[np.int64]
    entropy: float | None = None
    brier: float | None = None


class BlockBinner:
    """Bins each ``K x B`` block of a chunk's probabilities; the blocks' sums kept in row order.

    ``step`` is the kernel's block of rows; ``at_most_one`` says that no
    probability exceeds 1 (a softmax's, where checked probabilities may by a
    rounding); with ``row_sums`` the blocks' sums of the rows' entropies and
    Brier scores are kept too (:meth:`add_rows`). The kernel's threads must start
    on multiples of :attr:`slot_rows` (``map_row_ranges(..., align=...)``)
    and walk their rows in steps of ``step``, so that each slot's blocks are
    added by one thread, in order.

    Examples
    --------
    >>> import numpy as np
    >>> binner = BlockBinner(n_rows=3, n_classes=2, n_bins=2, step=2)
    >>> probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    >>> labels = np.array([0, 1, 1])
    >>> for lo in (0, 2):
    ...     block = np.ascontiguousarray(probs[lo : lo + 2].T)
    ...     rows = np.arange(block.shape[1])
    ...     binner.add(block, labels[lo : lo + 2], labels[lo : lo + 2] * block.shape[1] + rows, lo)
    >>> sums = binner.result()
    >>> sums.count.tolist(), sums.correct.tolist()
    ([[2, 1], [2, 1]], [[0, 1], [1, 1]])
    >>> sums.prob.round(6).tolist()
    [[0.8, 0.9], [0.6, 0.7]]
    """

    def __init__(
        self,
        n_rows: int,
        n_classes: int,
        n_bins: int,
        step: int,
        dtype: np.dtype | type = np.float64,
        at_most_one: bool = False,
        row_sums: bool = False,
    ) -> None:
        self.n_bins, self.n_classes, self.step = n_bins, n_classes, max(1, step)
        self.edges = bin_edges(n_bins)
        self.threshold = first_upper(self.edges, np.dtype(dtype))
        n_blocks = max(1, -(-n_rows // self.step))
        cells = n_classes * n_bins
        per_slot = max(1, -(-n_blocks * cells // SLOT_VALUES))
        #: Rows of one slot: a run of whole blocks that one thread adds up in order.
        self.slot_rows = per_slot * self.step
        n_slots = -(-n_blocks // per_slot)
        self._count = np.zeros((n_slots, cells), np.int64)
        self._prob = np.zeros((n_slots, cells))
        self._correct = np.zeros((n_slots, cells), np.int64)
        #: whether the rows' entropies and Brier scores are summed here (:meth:`add_rows`)
        self.row_sums = row_sums
        self._rows = np.zeros((n_slots, 2))
        #: float32 values are binned by ``ceil(p n)`` alone (see float32_bin_index)
        self._exact = np.dtype(dtype) == np.float32
        #: whether no probability exceeds 1 (a softmax's), so none needs moving to the last bin
        self.at_most_one = at_most_one

    def add(
        self,
        probs: NDArray,
        labels: NDArray[np.intp],
        true_at: NDArray[np.intp],
        lo: int,
        scratch: Buffers | None = None,
    ) -> None:
        """Add the ``K x B`` block of rows ``lo:lo + B``; ``true_at`` are the true classes'
        flat positions in it (``label * B + row``). ``probs`` is not changed.

        ``scratch`` (the kernel thread's buffers) holds the temporaries: a fresh
        array of a block's size for each would have the allocator map and unmap
        pages block after block.
        """
        if scratch is None:
            scratch = _Fresh()
        k, b = probs.shape
        n = self.n_bins
        flat = probs.reshape(-1)
        mask = np.greater(probs, self.threshold, out=scratch.get("bin_mask", probs.shape, bool))
        above = np.flatnonzero(mask)  # ascends, class by class
        values = self._values(flat, above, scratch)
        per_class = np.diff(np.searchsorted(above, np.arange(k + 1) * b))
        # each value's cell plus one: one past the cells, sliced off the counts
        after = self._cells(values, above, b, scratch)
        count = np.bincount(after, minlength=k * n + 1)[1:]
        # (on no values, bincount gives int64 zeros even with weights)
        prob = np.bincount(after, weights=values, minlength=k * n + 1)[1:].astype(np.float64)
        in_first = b - per_class
        count[::n] = in_first
        # the first bin's sum: the class's total less the other bins' (which hold no
        # first-bin cell yet); where it holds nothing, 0, not a rounding residue
        total = np.einsum("ij->i", probs, dtype=np.float64)
        first = total - prob.reshape(k, n).sum(axis=1)
        first[in_first == 0] = 0.0
        prob[::n] = np.maximum(first, 0.0, out=first)
        after = self._true_cells(flat, true_at, labels, scratch)
        correct = np.bincount(after, minlength=k * n + 1)[1:]
        slot = lo // self.slot_rows
        self._count[slot] += count
        self._prob[slot] += prob
        self._correct[slot] += correct

    @staticmethod
    def _values(flat: NDArray, above: NDArray[np.intp], scratch: Buffers) -> NDArray[np.float64]:
        """The values at ``above``, as float64 (exact), which ``np.bincount`` weighs by."""
        # the positions are in range: "clip" takes straight into ``out`` ("raise" buffers)
        if flat.dtype == np.float64:
            out = scratch.get("bin_values", above.shape, np.float64)
            return flat.take(above, out=out, mode="clip")
        taken = flat.take(above, out=scratch.get("bin_taken", above.shape, flat.dtype), mode="clip")
        values = scratch.get("bin_values", above.shape, np.float64)
        np.copyto(values, taken)
        return values

    def _cells(
        self, values: NDArray[np.float64], above: NDArray[np.intp], b: int, scratch: Buffers
    ) -> NDArray[np.intp]:
        """The flat ``class * n_bins + bin`` cell, plus one, of each value above the first
        bin, made in ``above`` (the values' flat positions ``class * b + row``)."""
        n = self.n_bins
        np.floor_divide(above, b, out=above)  # the class
        np.multiply(above, n, out=above)
        if self._exact:
            # p n is exact in float64 for float32 p (see float32_bin_index): its ceiling is
            # the bin plus one, at least 2 above the first bin, at most n (a probability a
            # rounding above 1 is in the last bin)
            scaled = np.multiply(values, n, out=scratch.get("bin_scaled", values.shape, np.float64))
            np.ceil(scaled, out=scaled)
            if not self.at_most_one:
                np.minimum(scaled, n, out=scaled)
            np.add(above, scaled, out=above, casting="unsafe")
        else:
            above += bin_index(values, self.edges)
            above += 1
        return above

    def _true_cells(
        self, flat: NDArray, true_at: NDArray[np.intp], labels: NDArray[np.intp], scratch: Buffers
    ) -> NDArray[np.intp]:
        """The flat cell, plus one, of each row's true class."""
        b = len(labels)
        p_true = flat.take(true_at, out=scratch.get("bin_p_true", (b,), flat.dtype), mode="clip")
        index = np.multiply(labels, self.n_bins, out=scratch.get("bin_true", (b,), np.intp))
        if self._exact:
            buffer = scratch.get("bin_true_scaled", (b,), np.float64)
            scaled = np.multiply(p_true, self.n_bins, out=buffer, dtype=np.float64)
            np.ceil(scaled, out=scaled)
            if self.at_most_one:
                np.maximum(scaled, 1.0, out=scaled)  # 0 is in the first bin
            else:
                np.clip(scaled, 1.0, self.n_bins, out=scaled)
            np.add(index, scaled, out=index, casting="unsafe")
        else:
            index += bin_index(p_true, self.edges)
            index += 1
        return index

    def add_rows(self, entropy: NDArray[np.float64], brier: NDArray[np.float64], lo: int) -> None:
        """Add the entropies and Brier scores of the block of rows from ``lo``."""
        slot = self._rows[lo // self.slot_rows]
        slot[0] += entropy.sum()
        slot[1] += brier.sum()

    def result(self) -> ClassBins:
        """The chunk's sums: the slots' added in row order."""
        shape = (self.n_classes, self.n_bins)
        rows = self._rows.sum(axis=0) if self.row_sums else (None, None)
        return ClassBins(
            self.n_bins,
            self._count.sum(axis=0).reshape(shape),
            self._prob.sum(axis=0).reshape(shape),
            self._correct.sum(axis=0).reshape(shape),
            None if rows[0] is None else float(rows[0]),
            None if rows[1] is None else float(rows[1]),
        )
