"""The Dask cluster cecli's tasks run on: a local one made for them, or a scheduler's.

Dask is optional (``pip install "cecli[dask]"``); nothing here imports it
until a cluster is asked for.

Examples
--------
>>> from cecli.dask._cluster import INSTALL
>>> INSTALL
'pip install "cecli[dask]"'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from cecli.errors import OptionError

#: What to install when Dask is missing.
INSTALL = 'pip install "cecli[dask]"'


def _distributed(flag: str) -> Any:
    """The ``distributed`` module, or one clear error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise OptionError(f"{flag} needs Dask, which is not installed: {INSTALL}") from None
    return distributed


@contextlib.contextmanager
def connect(workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """A Dask client: a local cluster of ``workers`` processes, or the scheduler at ``address``.

    The local cluster has one thread a worker and its dashboard on a free
    port; it is closed when the block ends. An existing scheduler's workers
    must run this version of cecli.
    """
    flag = "--dask" if address is not None else "--workers"
    distributed = _distributed(flag)
    if address is not None:
        try:
            client = distributed.Client(address, timeout="10s")
        except (OSError, TimeoutError) as error:
            raise OptionError(f"--dask could not reach a scheduler at {address}: {error}") from None
        with client:
            _check_versions(client, address)
            yield client
        return
    if workers is None or workers < 1:
        raise OptionError(f"--workers must be a whole number of at least 1; got {workers}.")
    with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        yield client


def local_cluster(workers: int) -> Any:
    """A local cluster of ``workers`` processes of one thread, made for cecli's tasks.

    Distributed starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    also turns off glibc's sliding mmap threshold: then every chunk's arrays
    are mapped and unmapped afresh, and their page faults made a shard's task
    take 1.6-2x the wall time and 3-6x the system time it takes in a plain
    process (benchmarks/bench_dask.py). Without it a task costs what it costs
    serially.
    """
    import logging

    import dask

    distributed = _distributed("--workers")
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # None would still bind 8787
            silence_logs=logging.ERROR,
        )


def _version() -> str:
    from cecli import __version__

    return __version__


def _check_versions(client: Any, address: str) -> None:
    from cecli import __version__

    found = client.run(_version)
    if not found:
        raise OptionError(f"--dask: the scheduler at {address} has no workers.")
    other = sorted({v for v in found.values() if v != __version__})
    if other:
        raise OptionError(
            f"--dask: the workers at {address} run cecli {', '.join(other)}, but this is "
            f"cecli {__version__}; install the same version on every worker."
        )
