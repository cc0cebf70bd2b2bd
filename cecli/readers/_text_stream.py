"""The bytes of a text input (CSV, TSV, JSON Lines) as they stream in.

A file (plain, or decompressed by pyarrow as it is read), standard input, or
a remote object's stream (:mod:`cecli.readers._remote`). What goes wrong on
the way is one :class:`~cecli.errors.InputError` naming the input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cecli.errors import InputError
from cecli.readers import STDIN
from cecli.readers._background import FdStream
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
