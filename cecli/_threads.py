"""The threads cecli's passes over rows run on: how many, and how rows are shared out.

NumPy releases the GIL inside its loops, so a pass over row ranges on a few
threads runs on as many cores. :func:`map_row_ranges` gives each thread one
contiguous range; :func:`map_blocks` cuts the rows into one grid of cache-sized
blocks from row 0 and gives each thread a run of whole blocks, so that sums of
the blocks' results are the same bits on any number of threads.

Examples
--------
>>> from cecli._threads import map_blocks
>>> map_blocks(10, 1 << 19, lambda lo, hi: (lo, hi))
[(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

#: Target size of one block of input, in bytes: a thread's block and its
#: scratch copies fit, with the other thread's, in the shared L3 cache.
BLOCK_BYTES = 1 << 20
#: Inputs smaller than this many bytes are not worth a second thread.
PARALLEL_MIN_BYTES = 1 << 21

_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None


def n_threads() -> int:
    """Threads to use: ``CECLI_NUM_THREADS`` if set, else the CPUs this process may run on.

    Examples
    --------
    >>> import os
    >>> os.environ["CECLI_NUM_THREADS"] = "3"
    >>> n_threads()
    3
    >>> del os.environ["CECLI_NUM_THREADS"]
    """
    setting = os.environ.get("CECLI_NUM_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def map_row_ranges(
    n_rows: int, row_bytes: int, work: Callable[[int, int], _T], align: int = 1
) -> list[_T]:
    """Call ``work(start, stop)`` on contiguous row ranges covering ``0..n_rows``.

    Large inputs are split into one range per thread and run on a shared
    pool; the results come back in row order. Every range but the last
    starts and ends on a multiple of ``align``: a thread that walks its
    range in steps of ``align`` rows from its start walks blocks of one grid
    from row 0, whatever the number of threads.

    Examples
    --------
    >>> map_row_ranges(1000, 8, lambda lo, hi: hi - lo)  # 8 kB: not worth a thread
    [1000]
    """
    threads = n_threads()
    units = -(-n_rows // max(1, align))
    if threads == 1 or n_rows * row_bytes < PARALLEL_MIN_BYTES or units < 2 * threads:
        return [work(0, n_rows)]
    global _pool
    if _pool is None or _pool._max_workers != threads:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cecli")
    edges = np.linspace(0, units, threads + 1).astype(int) * max(1, align)
    edges[-1] = n_rows
    futures = [_pool.submit(work, int(a), int(b)) for a, b in itertools.pairwise(edges)]
    return [future.result() for future in futures]


def map_blocks(n_rows: int, row_bytes: int, work: Callable[[int, int], _T]) -> list[_T]:
    """Call ``work(lo, hi)`` on row blocks of about :data:`BLOCK_BYTES`; results in row order.

    The blocks are one grid from row 0, whatever the threads (each thread takes
    a run of whole blocks), so sums of the results are the same bits on a
    machine of any core count.

    Examples
    --------
    >>> [hi - lo for lo, hi in map_blocks(5_000_000, 1, lambda lo, hi: (lo, hi))][:2]
    [1048576, 1048576]
    """
    step = max(1, BLOCK_BYTES // max(1, row_bytes))
    n_blocks = -(-n_rows // step)

    def run(first: int, last: int) -> list[_T]:
        stop = min(last * step, n_rows)
        return [work(lo, min(lo + step, stop)) for lo in range(first * step, stop, step)]

    return [result for part in map_row_ranges(n_blocks, row_bytes * step, run) for result in part]
