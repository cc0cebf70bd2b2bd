"""Work on threads of their own, which are always joined before the interpreter exits.

A reader parses the next block of a file while the caller scores the previous
one. The parsing thread calls into pyarrow, and a thread still inside pyarrow
while the interpreter shuts down can abort the process ("terminate called
without an active exception"): pyarrow's C++ code asks for the GIL, and a
thread that asks for it then is ended by an exception no C++ frame may let
through. So every such thread here is joined: when the caller stops reading,
when the source is closed, and, as a last resort for a reader nobody closed,
by an :mod:`atexit` hook, which runs before the interpreter begins to shut
down.

:class:`OrderedPool` runs the parsing itself on several threads: blocks of a
file are parsed at once, and handed out in the file's order.

Reads of a pipe (standard input, a FIFO) are the exception: one may wait for
its writer for ever, so it runs on a daemon thread that is never waited for.
Such a read is plain Python I/O on a raw file descriptor (:class:`FdStream`),
which a daemon thread can safely be left inside: a buffered reader, whose lock
the interpreter takes at exit, cannot.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import queue
import select
import stat
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")

#: How often a waiting thread looks whether it has been asked to stop, in seconds.
POLL = 0.05

_live: weakref.WeakSet[Handoff | OrderedPool] = weakref.WeakSet()


class Handoff(Generic[T]):
    """Run ``produce(stopped)`` on a thread, one item ahead of the caller, who iterates.

    ``produce`` is called with a function that tells whether the caller has
    stopped; it should look between long steps. :meth:`close` stops the
    thread and waits for it; iterating to the end, or an error raised by
    ``produce`` (raised again in the caller), ends it too.
    """

    def __init__(self, produce: Callable[[Callable[[], bool]], Iterator[T]], name: str) -> None:
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        _live.add(self)
        self._thread.start()

    def _run(self, produce: Callable[[Callable[[], bool]], Iterator[T]]) -> None:
        try:
            items = produce(self._stop.is_set)
            with contextlib.closing(items) if hasattr(items, "close") else contextlib.nullcontext():
                for item in items:
                    if not self._put(("item", item)):
                        return
            self._put(("end", None))
        except BaseException as error:  # handed to the caller's thread, raised there
            self._put(("error", error))

    def _put(self, message: tuple[str, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            what, item = self._queue.get()
            if what == "end":
                return
            if what == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the thread and wait until it has ended (at most one step of ``produce``)."""
        self._stop.set()
        interrupted: BaseException | None = None
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=POLL)  # unblock a thread waiting to hand over
            except queue.Empty:
                pass
            except KeyboardInterrupt as again:  # a second Ctrl-C: join first, then stop
                interrupted = again
        _live.discard(self)
        if interrupted is not None:
            raise interrupted


class OrderedPool(Generic[T]):
    """Run tasks on ``workers`` threads; iterating hands their results out in the tasks' order.

    ``tasks(stopped)`` yields zero-argument callables; it runs on a feeder
    thread of its own (it may read a file to make them) and should look at
    ``stopped()`` between long steps. At most ``workers + spare`` tasks are out
    at any time: drawn and running, done and waiting for their turn, or the
    result the caller holds (until it asks for the next). So memory is bounded
    however fast the file is read. A task done before the one ahead of it
    holds its slot while it waits: with more than one spare, a worker goes on
    to the next task meanwhile. An error raised by a task, or by ``tasks``, is
    raised in the caller in its turn. :meth:`close` stops and joins every thread.

    Examples
    --------
    >>> import time
    >>> def tasks(stopped):
    ...     for i in range(6):
    ...         yield lambda i=i: time.sleep(0.01 * (6 - i)) or i * i
    >>> pool = OrderedPool(tasks, workers=3, name="example")
    >>> list(pool)
    [0, 1, 4, 9, 16, 25]
    >>> pool.close()
    """

    def __init__(
        self,
        tasks: Callable[[Callable[[], bool]], Iterator[Callable[[], T]]],
        workers: int,
        name: str,
        spare: int = 1,
    ) -> None:
        self._slots = threading.Semaphore(workers + max(1, spare))
        self._stop = threading.Event()
        self._work: queue.SimpleQueue[tuple[Future[T], Callable[[], T]] | None] = (
            queue.SimpleQueue()
        )
        self._order: queue.SimpleQueue[Future[T] | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._run, name=f"worker-{i} of {name}", daemon=True)
            for i in range(max(1, workers))
        ]
        self._feeder = threading.Thread(target=self._feed, args=(tasks,), name=name, daemon=True)
        _live.add(self)
        for thread in [*self._workers, self._feeder]:
            thread.start()

    def _feed(self, tasks: Callable[[Callable[[], bool]], Iterator[Callable[[], T]]]) -> None:
        try:
            items = tasks(self._stop.is_set)
            with contextlib.closing(items) if hasattr(items, "close") else contextlib.nullcontext():
                while True:
                    # a slot first: drawing a task may read a block of the file
                    while not self._slots.acquire(timeout=POLL):
                        if self._stop.is_set():
                            return
                    if self._stop.is_set():
                        return
                    task = next(items, None)
                    if task is None:
                        break
                    future: Future[T] = Future()
                    self._order.put(future)
                    self._work.put((future, task))
        except BaseException as error:  # raised in the caller's thread, in its turn
            failed: Future[T] = Future()
            failed.set_exception(error)
            self._order.put(failed)
        self._order.put(None)

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, task = item
            if self._stop.is_set() or not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(task())
            except BaseException as error:
                future.set_exception(error)

    def __iter__(self) -> Iterator[T]:
        while True:
            future = self._order.get()
            if future is None:
                return
            result = future.result()
            del future
            yield result
            del result
            self._slots.release()  # the caller is done with it: the next task may start

    def close(self) -> None:
        """Stop drawing tasks, and wait until every thread has ended (at most one task each)."""
        self._stop.set()
        interrupted: BaseException | None = None
        for _ in self._workers:
            self._work.put(None)
        for thread in [self._feeder, *self._workers]:
            while thread.is_alive():
                try:
                    thread.join(POLL)
                except KeyboardInterrupt as again:  # a second Ctrl-C: join first, then stop
                    interrupted = again
        _live.discard(self)
        if interrupted is not None:
            raise interrupted


@atexit.register
def _close_all() -> None:
    """Join the threads of readers that were never closed, before the interpreter shuts down."""
    for handoff in list(_live):
        handoff.close()


def read_ahead(read: Callable[[], T]) -> tuple[Future[T], threading.Thread]:
    """Start ``read()`` on a daemon thread; its future result, and the thread."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(read())
        except BaseException as error:
            future.set_exception(error)

    thread = threading.Thread(target=run, name="cecli-read", daemon=True)
    thread.start()
    return future, thread


def wait(future: Future[T], stopped: Callable[[], bool]) -> T | None:
    """The future's result, or None as soon as ``stopped()`` (the future may still run)."""
    while True:
        try:
            return future.result(timeout=POLL)
        except TimeoutError:
            if stopped():
                return None


class FdStream:
    """Reads of a file descriptor that return ``n`` bytes unless the input ends first.

    No buffered reader and no lock: a daemon thread blocked in :meth:`read` when
    the interpreter exits is harmless.
    """

    def __init__(self, source: int | str) -> None:
        # a descriptor given (standard input's) stays open; a path's is closed with this
        self._raw = io.FileIO(source, "rb", closefd=not isinstance(source, int))
        #: A regular file (not a pipe or a terminal): a read of it ends soon.
        self.regular = stat.S_ISREG(os.fstat(self._raw.fileno()).st_mode)

    def read(self, n: int) -> bytes:
        parts = []
        got = 0
        while got < n:
            part = self._raw.read(n - got)
            if part is None:  # a non-blocking descriptor with nothing yet: not the end
                select.select([self._raw], [], [])
                continue
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._raw.close()
