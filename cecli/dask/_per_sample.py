"""``--per-sample DIR/`` on workers: each task writes its shard's rows to a part file.

The rows never travel through the scheduler: the task that scores a shard
writes its rows, as the serial ``--per-sample`` file holds them (the same
columns, the global ``row`` and, for shards, ``file`` and ``file_row``), to
``part-NNNNN`` (the shard's index in sorted order; ``part-NNNNN-MMMMM`` for the
Mth run of row groups of a Parquet shard read in runs) in a hidden staging folder
beside DIR. Only when every task has succeeded is the staging folder renamed
to DIR; a failed or interrupted run removes it and leaves DIR as it was. A DIR
that exists is replaced whole at that moment if it holds nothing but part
files (an earlier run's); a DIR holding anything else is refused before a
row is scored. The parts' format is DIR's suffix (``rows.csv/``), Parquet
when it has none. The workers must see DIR where the client does: the same
machine for a local cluster, a shared filesystem for a scheduler's.

Examples
--------
>>> from cecli.dask._per_sample import is_folder, parts_format
>>> is_folder("rows/"), is_folder("rows.parquet")
(True, False)
>>> parts_format("rows/"), parts_format("rows.csv/")
('.parquet', '.csv')
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from cecli.errors import InputError, OptionError, OutputError, reason_of

#: What a part is named: the shard's index among all shards (and the run of its row
#: groups, for a shard read in runs), and the format.
PART = re.compile(r"part-\d{5}(-\d{5})?\.(csv|parquet|pq|npy)\Z")
#: Staging folders not yet renamed into place or removed (removed at exit).
_unfinished: set[str] = set()


@atexit.register
def _remove_unfinished() -> None:
    for folder in list(_unfinished):
        shutil.rmtree(folder, ignore_errors=True)
    _unfinished.clear()


def is_folder(path: str) -> bool:
    """Whether ``--per-sample PATH`` names a folder: it ends in a separator, or is one."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def parts_format(path: str) -> str:
    """The parts' suffix: the folder's own (``rows.csv/``), else ``.parquet``."""
    from cecli.render.per_sample import SUFFIXES

    suffix = os.path.splitext(path.rstrip("/" + os.sep))[1].lower()
    return suffix if suffix in SUFFIXES else ".parquet"


@dataclass(frozen=True)
class PartFile:
    """One task's part: where it goes and what the per-sample writer needs (sent to a worker)."""

    path: str
    classes: tuple[str, ...]
    kind: str
    weighted: bool
    shards: Any  # the ShardMap with every shard's start, or None for one file
    #: Whether the rows get ``label_issue`` and ``label_quality`` (written in a last pass).
    label_issues: bool = False
    #: Whether the rows get ``rank`` (``top_k``) and ``ignored`` (``ignore_index``).
    ranks: bool = False
    ignored: bool = False
    #: The ``--show`` columns, written last.
    show: tuple[str, ...] = ()

    def open(self) -> Any:
        """A :class:`~cecli.render.per_sample.PerSampleWriter` for this part."""
        from cecli.render.per_sample import PerSampleWriter

        return PerSampleWriter(
            self.path,
            inputs=(),  # the client checked the inputs: none is in the staging folder
            classes=self.classes,
            kind=self.kind,
            weighted=self.weighted,
            label_issues=self.label_issues,
            shards=self.shards,
            ranks=self.ranks,
            ignored=self.ignored,
            show=self.show,
        )


class PartsFolder:
    """The client's side: check DIR, make the staging folder, and rename it at the end."""

    def __init__(
        self,
        path: str,
        inputs: Any,
        *,
        weighted: bool,
        label_issues: bool = False,
        ranks: bool = False,
        ignored: bool = False,
        show: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.format = parts_format(path)
        self.show = show
        if show:
            from cecli.render._show_cells import per_sample_names

            per_sample_names(show, self.format)  # an NPY part cannot hold them: say so now
        self.target = os.path.abspath(path.rstrip("/" + os.sep) or path)
        parent = os.path.dirname(self.target)
        if not os.path.isdir(parent):
            raise InputError(path, f"cannot be written: the folder {parent} does not exist.")
        if os.path.exists(self.target) and not os.path.isdir(self.target):
            raise OptionError(
                f"--per-sample {path}: is a file; on workers --per-sample writes a folder of "
                "parts: give a folder that does not exist yet."
            )
        for given in inputs.files():
            if os.path.abspath(given).startswith(self.target + os.sep):
                raise InputError(
                    path, f"holds the input {given}; --per-sample will not replace it."
                )
        if os.path.isdir(self.target):
            other = sorted(n for n in os.listdir(self.target) if not PART.match(n))
            if other:
                raise OptionError(
                    f"--per-sample {path}: the folder holds {other[0]!r}, which is not a part "
                    "file of an earlier run; give a new folder or an empty one."
                )
        self.shards = inputs.shard_map
        self.classes = tuple(inputs.classes)
        self.kind = inputs.kind
        self.weighted = weighted
        self.label_issues = label_issues
        self.ranks, self.ignored = ranks, ignored
        try:
            self.staging = tempfile.mkdtemp(
                prefix=f".{os.path.basename(self.target)}.", suffix=".tmp", dir=parent
            )
            _unfinished.add(self.staging)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.staging, 0o777 & ~umask)  # mkdtemp's folder is private (0700)
        except OSError as error:
            raise self._failed(error) from None

    def part(self, index: int, run: int | None = None) -> PartFile:
        """The part of shard ``index`` (its place among all shards), or of its ``run``."""
        name = f"part-{index:05d}{'' if run is None else f'-{run:05d}'}{self.format}"
        path = os.path.join(self.staging, name)
        return PartFile(
            path,
            self.classes,
            self.kind,
            self.weighted,
            self.shards,
            self.label_issues,
            self.ranks,
            self.ignored,
            self.show,
        )

    def commit(self) -> None:
        """Put the parts in place of DIR: an earlier DIR goes only now, whole."""
        old = None
        try:
            if os.path.isdir(self.target):
                old = tempfile.mkdtemp(
                    prefix=f".{os.path.basename(self.target)}.",
                    suffix=".old",
                    dir=os.path.dirname(self.target),
                )
                os.replace(self.target, old)  # an empty folder is replaced by a rename
            os.replace(self.staging, self.target)
            _unfinished.discard(self.staging)
        except OSError as error:
            if old is not None and not os.path.exists(self.target):
                with contextlib.suppress(OSError):
                    os.replace(old, self.target)  # the earlier DIR back where it was
            raise self._failed(error) from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the staging folder and its parts; DIR is as it was."""
        shutil.rmtree(self.staging, ignore_errors=True)
        _unfinished.discard(self.staging)

    def _failed(self, error: OSError) -> OutputError:
        return OutputError(f"--per-sample {self.path}: cannot be written: {reason_of(error)}.")
