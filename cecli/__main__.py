"""``python -m cecli`` and the ``cecli`` console script: :func:`cecli.cli.main` in its own process.

A run imports NumPy, pyarrow and typer, tens of thousands of objects that live
until the process ends and are never garbage. Python's cyclic collector walks
the young ones each time 700 more are made, and the last collection at exit
walks and frees them all: together about 20 ms of a 0.18 s run on the sample
files, more than cecli's own modules cost to import
(``benchmarks/bench_startup.py``). A process whose data are NumPy arrays gains
nothing from either, so this entry point collects less often and freezes what
is alive before exiting (:func:`gc.freeze`). Cycles are still collected, and
every file is closed and every temporary removed by the code that made it, not
by the collector.

It also asks OpenBLAS (NumPy's linear algebra) for one thread, unless
``OPENBLAS_NUM_THREADS`` is already set: at import OpenBLAS starts a thread per
core, about a quarter of NumPy's import time, and cecli's kernels run their
own threads and keep every BLAS call small, because OpenBLAS's threads
competing with them made a pass up to ten times slower (:mod:`cecli._kernels`).

The Python API (``import cecli``) changes neither the collector nor OpenBLAS.
"""

from __future__ import annotations

import gc
import os

#: The collector's thresholds while the command runs (Python's default is (700, 10, 10)).
GC_THRESHOLDS = (50_000, 20, 100)


def main() -> None:
    """Run the ``cecli`` command line, ``sys.argv[1:]``, and exit with its status.

    Examples
    --------
    >>> import subprocess, sys
    >>> done = subprocess.run([sys.executable, "-m", "cecli", "--version"],
    ...                       capture_output=True, text=True)
    >>> done.stdout.startswith("cecli "), done.returncode
    (True, 0)
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when NumPy is imported
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        from cecli.cli import main as run

        run()
    finally:
        # What is alive now is freed by the operating system: the collector need not walk it
        gc.freeze()
        gc.set_threshold(*thresholds)


if __name__ == "__main__":
    main()
