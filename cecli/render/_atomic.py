"""Output files written beside their path and renamed into place: all or nothing.

A run that fails or is stopped (Ctrl-C, SIGTERM, SIGHUP: see
:mod:`cecli._signals`) leaves the file it was asked to write as it was, and
no temporary file: the temporary is removed where the failure is caught, and
any left when the process exits (a signal between two steps) at exit.
``--per-sample`` and ``--html`` write this way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import TextIO

#: Temporary files not yet renamed into place or removed. A signal can stop a run
#: between any two steps; whatever is left here when the process exits is removed.
_unfinished: set[str] = set()


@atexit.register
def _remove_unfinished() -> None:
    for tmp in list(_unfinished):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _unfinished.clear()


def temporary(target: str, folder: str) -> str:
    """A new hidden file beside ``target``, with the mode ``target`` has or would get.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> tmp = temporary(os.path.join(folder, "report.html"), folder)
    >>> os.path.basename(tmp).startswith(".report.html."), tmp in _unfinished
    (True, True)
    >>> os.unlink(tmp); _unfinished.discard(tmp)
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        _unfinished.add(tmp)
        os.close(fd)
        # mkstemp makes the file private (0600); give it the mode a new file would
        # have (the umask's), or keep the mode of the file it replaces
        if os.path.exists(target):
            mode = os.stat(target).st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
    except BaseException:
        os.unlink(tmp)
        _unfinished.discard(tmp)
        raise
    return tmp


def write_text(path: str, write: Callable[[TextIO], None]) -> None:
    """Call ``write`` with a UTF-8 text file beside ``path``, then rename it to ``path``.

    Whatever ``write`` raises (an :class:`OSError`, a signal's
    :class:`KeyboardInterrupt`) removes the temporary file and leaves ``path``
    as it was; the exception goes on.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> path = os.path.join(tempfile.mkdtemp(), "page.html")
    >>> write_text(path, lambda out: out.write("<p>hi</p>"))
    >>> Path(path).read_text(encoding="utf-8")
    '<p>hi</p>'
    >>> def broken(out):
    ...     out.write("half")
    ...     raise OSError(28, "No space left on device")
    >>> try:
    ...     write_text(path, broken)
    ... except OSError as error:
    ...     print(error.strerror)
    No space left on device
    >>> Path(path).read_text(encoding="utf-8"), sorted(os.listdir(os.path.dirname(path)))
    ('<p>hi</p>', ['page.html'])
    """
    target = os.path.abspath(path)
    tmp = temporary(target, os.path.dirname(target))
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            write(out)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _unfinished.discard(tmp)
