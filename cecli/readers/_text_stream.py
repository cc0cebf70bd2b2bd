"""The bytes of a text input (CSV, TSV, JSON Lines) as they stream in.

A file (plain, or decompressed by pyarrow as it is read), standard input, or
a remote object's stream (:mod:`cecli.readers._remote`). What goes wrong on
the way is one :class:`~cecli.errors.InputError` naming the input.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cecli.errors import InputError
from cecli.readers import STDIN
from cecli.readers._background import FdStream, OrderedPool, read_ahead
from cecli.readers._csv_text import reason

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

Error = Callable[[str], InputError]


def open_text(path: str, codec: str | None, remote: Remote | None, error: Error) -> Any:
    """A stream of the bytes of ``path`` (``-``: standard input), decompressed with ``codec``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"p": 0.5}\\n')
    >>> stream = open_text(path, None, None, ValueError)
    >>> read_bytes(stream, 100, ValueError, compressed=False)
    b'{"p": 0.5}\\n'
    >>> stream.close()
    """
    if path == STDIN:
        if sys.stdin is None:
            raise error(
                "is closed, so there is nothing to read. Pipe the predictions in "
                "(... | cecli score - LABELS), or give the file's path instead of -."
            )
        try:
            return FdStream(sys.stdin.fileno())
        except (OSError, ValueError, AttributeError):
            return sys.stdin.buffer  # an in-memory stand-in, as a test runner gives
    if remote is not None:  # a stream of the object, decompressed as it comes
        return remote.open_stream(codec)
    try:
        if codec is None:
            return FdStream(path)
        return pa.input_stream(path, compression=codec)
    except (OSError, pa.ArrowException) as exc:
        raise error(f"cannot be opened ({reason(exc)}).") from None


def read_bytes(stream: Any, size: int, error: Error, *, compressed: bool) -> bytes:
    """Up to ``size`` bytes of ``stream`` (fewer only at its end); a failed read is ``error``."""
    try:
        data = stream.read(size)
    except (OSError, EOFError, ValueError, pa.ArrowException) as exc:
        hint = " Check that the extension names its compression." if compressed else ""
        raise error(f"could not be read ({reason(exc)}).{hint}") from None
    return data if isinstance(data, bytes) else bytes(data)


class BlockStream:
    """What the CSV and JSON Lines readers share: a buffer filled block by block from
    ``_stream``, a block read ahead on a thread of its own, and closing them.

    A reader sets ``path``, ``_stream``, ``_buffer``, ``_eof``, ``_reading``
    (None) and ``_pools`` (its parse pools), and reads a block in
    ``_read_block``.
    """

    path: str
    _stream: Any
    _buffer: bytearray
    _eof: bool
    _reading: threading.Thread | None
    _pools: list[OrderedPool]

    def _read_block(self) -> bytes:
        raise NotImplementedError

    def _fill(self, at_least: int) -> None:
        """Read more blocks until the buffer holds ``at_least`` bytes or the input ends."""
        while not self._eof and len(self._buffer) < at_least:
            data = self._read_block()
            if not data:
                self._eof = True
            self._buffer += data

    def _read_ahead(self) -> Future[bytes]:
        """The next block, read on a thread while the caller parses this one."""
        future, self._reading = read_ahead(self._read_block)
        return future

    def close(self) -> None:
        for pool in self._pools:
            pool.close()  # its threads, and any read of a pyarrow stream, have ended
        reading = self._reading is not None and self._reading.is_alive()
        # a read of a pipe may still wait for its writer: its descriptor closes at exit
        if self.path != STDIN and not reading:
            self._stream.close()
