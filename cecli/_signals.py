"""SIGTERM and SIGHUP stop a run the way Ctrl-C does.

CI systems cancel a job with SIGTERM, and closing a terminal sends SIGHUP. By
default either ends Python at once, and a half-written ``--per-sample`` file
would stay behind as its hidden temporary. While a command runs, both raise
:class:`Terminated` instead, a :class:`KeyboardInterrupt`, so the clean-up
that Ctrl-C gets runs for them too; the command line then exits with status
128 + the signal's number (143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the run stops as on Ctrl-C, and every clean-up runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (CI cancelling a job, a closed terminal) into :class:`Terminated`.

    A signal the caller ignores (``nohup``) stays ignored; after the first, the
    others are ignored until the clean-up is over.
    """
    stopping = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    signals = [*stopping, signal.SIGINT]
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a library caller keeps its own
        return
    previous = {s: signal.getsignal(s) for s in signals}

    def stop(signum: int, frame: object) -> None:
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        raise Terminated(signum)

    for s in stopping:
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:  # None: set outside Python, and left as it is
                signal.signal(s, handler)
