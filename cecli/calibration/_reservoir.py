"""A uniform random sample of a stream's rows, in bounded memory, mergeable."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli.errors import OptionError, ShapeError


class ReservoirSample:
    """A uniform random sample of at most ``capacity`` rows of a stream, mergeable.

    Every row gets a key, uniform in [0, 1): a hash of the seed and the
    row's number in the stream (the output function of SplitMix64, whose
    outputs pass the BigCrush tests of randomness); the sample is the
    ``capacity`` rows with the smallest keys (bottom-k sampling). So every
    set of ``capacity`` rows is equally likely, and since a row's key
    depends only on the seed and the row, the same seed and the same rows
    give the same sample however the rows are chunked, or shared among
    samplers of the same seed that are merged afterwards (keep the smallest
    keys of both; samplers of other seeds merge into a uniform sample too,
    just another one). No random number generator is kept, and NumPy's
    ``numpy.random`` (some 20 ms to import) is not needed.

    Parameters
    ----------
    capacity : int
        The most rows kept.
    seed : int, SeedSequence or Generator, optional
        An int (taken modulo ``2**64``); a ``SeedSequence`` or ``Generator``
        gives one 64-bit seed; None takes one from the operating system.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.calibration import ReservoirSample
    >>> sample = ReservoirSample(3, seed=0)
    >>> for lo in range(0, 10, 4):
    ...     rows = np.arange(lo, min(lo + 4, 10))
    ...     sample.update(rows * 10, rows % 2)
    >>> sample.n_seen, len(sample.rows)
    (10, 3)
    >>> values, parity = sample.arrays()
    >>> bool((values == sample.rows * 10).all() and (parity == sample.rows % 2).all())
    True
    """

    def __init__(
        self,
        capacity: int,
        seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
            raise OptionError(f"capacity must be a whole number >= 1; got {capacity!r}.")
        if capacity < 1:
            raise OptionError(f"capacity must be a whole number >= 1; got {capacity!r}.")
        self.capacity = int(capacity)
        self.seed = _seed_of(seed)
        self.n_seen = 0
        # the kept rows, in the order they arrived, and the rows offered since the
        # last compaction (at most ``capacity`` more, so memory stays within 2x)
        self._keys = np.empty(0)
        self._rows = np.empty(0, np.int64)
        self._arrays: list[NDArray | None] | None = None
        self._pending: list[tuple[NDArray[np.float64], NDArray[np.int64], list]] = []
        self._n_pending = 0
        #: no key at or above this can enter (1.0 until the sample is full)
        self._bound = 1.0
        self._next_row = 0

    @property
    def rows(self) -> NDArray[np.int64]:
        """The sampled rows' 0-based numbers in the stream, ascending."""
        self._compact()
        return self._rows[self._order()]

    def arrays(self) -> tuple[NDArray | None, ...]:
        """The sampled rows of each array given to :meth:`update`, in stream order."""
        self._compact()
        if self._arrays is None:
            return ()
        order = self._order()
        return tuple(None if a is None else a[order] for a in self._arrays)

    def _order(self) -> slice | NDArray[np.intp]:
        """The kept rows in stream order: chunks offered in order are already in it."""
        rows = self._rows
        if len(rows) < 2 or bool((rows[1:] > rows[:-1]).all()):
            return slice(None)
        return np.argsort(rows, kind="stable")

    def update(self, *arrays: ArrayLike | None, row_offset: int | None = None) -> None:
        """Offer one chunk of rows: arrays aligned on their first axis (None stays None).

        ``row_offset`` is the chunk's first row in the stream (by default,
        following the rows offered so far). The rows are copied.
        """
        values = [None if a is None else np.asarray(a) for a in arrays]
        present = [v for v in values if v is not None]
        if not present:
            raise OptionError("ReservoirSample.update needs at least one array.")
        n = len(present[0])
        if any(len(v) != n for v in present):
            raise ShapeError(
                "The arrays given to ReservoirSample.update must have the same number of rows; "
                f"got {[len(v) for v in present]}."
            )
        self._check_layout(values)
        offset = self._next_row if row_offset is None else int(row_offset)
        keys = row_keys(self.seed, offset, n)
        self.n_seen += n
        self._next_row = max(self._next_row, offset + n)
        pick = self._entrants(keys)
        if pick is None:
            self._offer(keys, np.arange(offset, offset + n, dtype=np.int64), values, owned=False)
            return
        rows = pick.astype(np.int64)
        rows += offset
        values = [None if v is None else _take_rows(v, pick) for v in values]
        self._offer(keys[pick], rows, values, owned=True)

    def _entrants(self, keys: NDArray[np.float64]) -> NDArray[np.intp] | None:
        """Where the chunk's rows that may still enter the sample are, or None for all of them.

        A row may enter if its key is below the largest kept one (once the
        sample is full) and among the chunk's own ``capacity`` smallest: a
        row with that many smaller keys in its chunk alone never enters. So
        a chunk larger than the sample is cut down at once, and only what
        is left takes part in the compaction.
        """
        n, capacity, bound = len(keys), self.capacity, self._bound
        limit = bound
        if n > capacity:
            # a little above the chunk's capacity-th smallest key: its expected value
            # plus 8 standard deviations, so that nearly always that many keys lie below
            limit = min(bound, capacity / n * (1.0 + 8.0 / math.sqrt(capacity)))
        if limit >= 1.0:
            return None
        pick = np.flatnonzero(keys < limit)
        if len(pick) < capacity and limit < bound:
            pick = np.flatnonzero(keys < bound)  # the guess was too low: look up to the bound
        if len(pick) > capacity:
            pick = pick[_smallest(keys[pick], capacity)]
        return pick

    def merge(self, other: ReservoirSample) -> ReservoirSample:
        """Add another sample of different rows of the same stream (in place); return self."""
        if other.capacity != self.capacity:
            raise OptionError("Only reservoir samples of the same capacity can be merged.")
        keys, rows, arrays = other._compacted()
        if arrays is not None:
            self._check_layout(arrays)
            self._offer(keys, rows, list(arrays), owned=False)
        self.n_seen += other.n_seen
        self._next_row = max(self._next_row, other._next_row)
        return self

    def _check_layout(self, values: list[NDArray | None]) -> None:
        layout = self._layout()
        if layout is None:
            return
        if [None if v is None else v.shape[1:] for v in values] != layout:
            raise ShapeError(
                "Every chunk given to a ReservoirSample must hold the same arrays, with the "
                "same shapes apart from the number of rows."
            )

    def _layout(self) -> list[tuple[int, ...] | None] | None:
        """The shapes (but for rows) of the arrays held, or None before the first chunk."""
        first = self._arrays
        if first is None and self._pending:
            first = self._pending[0][2]
        return None if first is None else [None if a is None else a.shape[1:] for a in first]

    def _offer(
        self,
        keys: NDArray[np.float64],
        rows: NDArray[np.int64],
        values: list[NDArray | None],
        owned: bool,
    ) -> None:
        self._pending.append((keys, rows, values))
        self._n_pending += len(keys)
        if self._n_pending >= self.capacity:
            # rows that are not copies are taken from the caller's arrays here, at once
            self._compact(last_owned=owned)
        elif not owned:
            self._pending[-1] = (keys, rows, [None if v is None else v.copy() for v in values])

    def _compact(self, last_owned: bool = True) -> None:
        """Keep only the sample itself: the ``capacity`` smallest keys, in their order.

        ``last_owned`` says whether the arrays of the last rows offered are copies
        (those offered before always are).
        """
        if not self._pending:
            return
        if (
            self._arrays is None
            and len(self._pending) == 1
            and self._n_pending <= self.capacity
            and last_owned
        ):
            # the first rows offered are the sample as they are: no copy of them
            self._keys, self._rows, self._arrays = self._pending[0]
        else:
            self._keys, self._rows, self._arrays = self._compacted()
        self._pending, self._n_pending = [], 0
        if len(self._keys) == self.capacity:
            self._bound = float(self._keys.max())

    def _compacted(
        self,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], list[NDArray | None] | None]:
        """The ``capacity`` smallest keys of kept and pending rows, in order; changes nothing."""
        if not self._pending:
            return self._keys, self._rows, self._arrays
        mine = self._arrays
        if mine is None:
            mine = [None if v is None else v[:0] for v in self._pending[0][2]]
        parts = [(self._keys, self._rows, mine), *self._pending]
        keys = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        picks: list[NDArray[np.intp] | None] = [None] * len(parts)
        if len(keys) > self.capacity:
            keep = _smallest(keys, self.capacity)
            keys, rows = keys[keep], rows[keep]
            # the kept rows of each part, taken by position: no copy of what is dropped
            bounds = np.cumsum([0, *(len(p[0]) for p in parts)])
            cuts = np.searchsorted(keep, bounds)  # ``keep`` is ascending
            spans = zip(itertools.pairwise(cuts), bounds[:-1], strict=True)
            picks = [keep[a:b] - start for (a, b), start in spans]
        merged: list[NDArray | None] = []
        for column in range(len(mine)):
            if mine[column] is None:
                merged.append(None)
                continue
            merged.append(_gathered([p[2][column] for p in parts], picks, len(keys)))
        return keys, rows, merged


def _seed_of(seed: int | np.random.SeedSequence | np.random.Generator | None) -> int:
    """One 64-bit seed from what :class:`ReservoirSample` accepts."""
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed) % (1 << 64)
    if hasattr(seed, "generate_state"):  # a SeedSequence
        return int(seed.generate_state(1, np.uint64)[0])
    if hasattr(seed, "integers"):  # a Generator
        return int(seed.integers(1 << 64, dtype=np.uint64))
    raise OptionError(f"seed must be an int, a SeedSequence or a Generator; got {seed!r}.")


#: SplitMix64's constants: the golden-ratio increment and the two multipliers of its mix.
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
#: Keys made at a time by :func:`row_keys`: the uint64 temporaries stay in cache.
_KEY_BLOCK = 1 << 16


def row_keys(seed: int, first_row: int, n: int) -> NDArray[np.float64]:
    """The keys of rows ``first_row .. first_row + n - 1``: uniform in [0, 1), 53 bits each.

    Row ``r``'s key is SplitMix64's output for the state
    ``seed + (r + 1) * 0x9E3779B97F4A7C15`` (mod ``2**64``), its top 53 bits
    as a fraction: the ``r + 1``-th number of the SplitMix64 stream seeded
    with ``seed``. NumPy's unsigned integers wrap around as the algorithm
    needs.

    Examples
    --------
    >>> from cecli.calibration._reservoir import row_keys
    >>> keys = row_keys(0, 0, 3)
    >>> int(keys[0] * 2**53) == 0xE220A8397B1DCDAF >> 11  # SplitMix64(0)'s first output
    True
    >>> bool((row_keys(0, 1, 2) == keys[1:]).all())
    True
    """
    out = np.empty(n)
    step = max(1, min(n, _KEY_BLOCK))
    z = np.empty(step, np.uint64)
    shifted = np.empty(step, np.uint64)
    counts = np.arange(1, step + 1, dtype=np.uint64)
    golden, mix1, mix2 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)
    for lo in range(0, n, step):
        m = min(step, n - lo)
        x, t = z[:m], shifted[:m]
        # the state of row r: seed + (r + 1) * golden, every step modulo 2**64
        np.add(counts[:m], np.uint64((first_row + lo) % (1 << 64)), out=x)
        np.multiply(x, golden, out=x)
        np.add(x, np.uint64(seed), out=x)
        for shift, mix in ((30, mix1), (27, mix2)):
            np.right_shift(x, np.uint64(shift), out=t)
            np.bitwise_xor(x, t, out=x)
            np.multiply(x, mix, out=x)
        np.right_shift(x, np.uint64(31), out=t)
        np.bitwise_xor(x, t, out=x)
        np.right_shift(x, np.uint64(11), out=x)
        np.multiply(x, 2.0**-53, out=out[lo : lo + m])
    return out


def _gathered(pieces: list[NDArray], picks: list[NDArray[np.intp] | None], n: int) -> NDArray:
    """The rows ``picks`` (None: all) of each piece, one after another: one copy of each row."""
    first = pieces[0]
    out = np.empty((n, *first.shape[1:]), dtype=np.result_type(*pieces))
    at = 0
    for piece, pick in zip(pieces, picks, strict=True):
        size = len(piece) if pick is None else len(pick)
        if pick is None:
            out[at : at + size] = piece
        else:
            _take_rows(piece, pick, out[at : at + size])
        at += size
    return out


def _take_rows(array: NDArray, pick: NDArray[np.intp], out: NDArray | None = None) -> NDArray:
    """``array.take(pick, axis=0)`` (into ``out``): the same bytes, faster for rows of 2-D arrays.

    A C-contiguous array's rows are taken as single items of a void type
    (one copy of each row's bytes): 0.7 ms for 131,072 rows of 10 float32,
    against 2.0 ms along axis 0 of the float array. The picks are in range:
    ``mode="clip"`` takes straight into ``out`` (``"raise"`` buffers).
    """
    if (
        array.ndim == 2
        and array.flags.c_contiguous
        and array.shape[1] > 0
        and not array.dtype.hasobject  # (no void view of references)
    ):
        rows = np.dtype((np.void, array.shape[1] * array.itemsize))
        if out is None:
            out = np.empty((len(pick), array.shape[1]), array.dtype)
        if out.flags.c_contiguous and out.dtype == array.dtype:
            array.reshape(-1).view(rows).take(pick, out=out.reshape(-1).view(rows), mode="clip")
            return out
    if out is None:
        return array.take(pick, axis=0)
    return array.take(pick, axis=0, out=out, mode="clip")


def _smallest(keys: NDArray[np.float64], count: int) -> NDArray[np.intp]:
    """Where the ``count`` smallest keys are, ascending (of keys tied with the last, the first).

    Keys are 53-bit uniforms, so ties are all but impossible, but the rule
    keeps the sample the same however the rows were chunked.
    """
    kth = np.partition(keys, count - 1)[count - 1]
    keep = keys < kth
    keep[np.flatnonzero(keys == kth)[: count - int(keep.sum())]] = True
    return np.flatnonzero(keep)
