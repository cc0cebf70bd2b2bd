"""NPY files (memory-mapped) and NPZ archives (each member streamed from the zip).

An NPY file is one column: a 1-D array (one number, boolean or string per
sample) or a 2-D array (a row of numbers per sample, a ``"matrix"``). It is
memory-mapped and copied out a frame at a time, so a file larger than memory
is never loaded whole. An NPZ member is read straight from the (possibly
compressed) zip stream, a frame's worth of bytes at a time. A remote NPY file
(:mod:`cecli.readers._remote`) is read the same way by ranged reads: its
header in one request, then a frame's rows in one request each.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import math
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from cecli.errors import InputError
from cecli.readers import Field, Frame, Source

if TYPE_CHECKING:
    from cecli.readers._remote import Remote

#: The member names an NPZ's predictions and labels usually have, most likely first.
PREDICTION_KEYS = (
    "predictions",
    "preds",
    "pred",
    "probs",
    "probabilities",
    "proba",
    "logits",
    "scores",
    "y_pred",
    "outputs",
)
LABEL_KEYS = ("labels", "label", "targets", "target", "y", "y_true")

#: The one column of an NPY file or NPZ member is called this.
VALUES = "values"

#: What reading a damaged zip archive raises: the zipfile module's own errors, its
#: codecs' (zlib, lzma; bz2 raises OSError), struct's for a short record, and
#: NotImplementedError/RuntimeError for an unknown compression method or encryption.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)


def read_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data offset)`` of the NPY array at the stream's start.

    The header is untrusted text that NumPy tokenizes and evaluates as a Python
    literal, so a damaged one raises whatever the tokenizer, the literal parser
    or ``np.dtype`` raise (TokenError, SyntaxError, TypeError, KeyError, ...);
    every one of them is a header that is not valid, raised as ValueError.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((3, 2), dtype=np.float32))
    >>> _ = buf.seek(0)
    >>> read_header(buf)
    ((3, 2), False, dtype('float32'), 128)
    >>> read_header(io.BytesIO(b"\\x93NUMPY\\x01\\x00\\x03\\x00{(\\n"))
    Traceback (most recent call last):
    ...
    ValueError: its header is damaged (TokenError: ('EOF in multi-line statement', (2, 0)))
    """
    start = stream.tell()
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception as exc:  # NumPy parses the untrusted header: any failure means damaged
        raise ValueError(f"its header is damaged ({type(exc).__name__}: {exc})") from None
    if any(length < 0 for length in shape):  # NumPy's parser lets these through
        raise ValueError(f"its header is damaged (the shape {shape} has a negative length)")
    return shape, fortran, dtype, stream.tell() - start


def _header_bytes(stream: IO[bytes]) -> bytes:
    """The signature, version, length and header of an NPY stream, as bytes, parsed by none.

    Reading them apart from parsing them tells a stream that fails (a zip
    member's bad CRC) from a header that does.
    """
    head = stream.read(8)
    if len(head) < 8:
        return head  # too short: read_header says so
    length_bytes = stream.read(2 if head[6] < 2 else 4)
    length = int.from_bytes(length_bytes, "little")
    # NumPy refuses headers over 10,000 characters; read a little more, never gigabytes
    return head + length_bytes + stream.read(min(length, 1 << 16))


def _data_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return dtype.itemsize * math.prod(shape)


def _field(source: Source, shape: tuple[int, ...], dtype: np.dtype) -> Field:
    if dtype.hasobject:
        raise source.error(
            "holds Python objects (a pickled object array), which cecli does not load. "
            "Save numbers, booleans or fixed-width strings (np.asarray(x, dtype=str))."
        )
    if len(shape) not in (1, 2):
        raise source.error(
            f"holds a {len(shape)}-D array of shape {shape}; cecli reads a 2-D array "
            "(samples x classes) or a 1-D array (one value per sample)."
        )
    if dtype.kind not in "biufUS":
        raise source.error(
            f"holds values of type {dtype}; cecli reads numbers, booleans or strings."
        )
    if shape[0] == 0:
        raise source.no_rows(f"holds an empty array (shape {shape}): there are no rows to score.")
    if dtype.itemsize == 0:
        raise source.error(
            f"holds values of type {dtype}, which are zero bytes wide: there is nothing in them."
        )
    if len(shape) == 2:
        if dtype.kind in "US":
            raise source.error(
                f"holds a 2-D array of strings (shape {shape}); a 2-D array must hold numbers."
            )
        return Field(VALUES, "matrix", shape[1])
    kind = "bool" if dtype.kind == "b" else "string" if dtype.kind in "US" else "number"
    return Field(VALUES, kind)


def _as_column(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "US":
        return values.astype(str).astype(object)
    return values


class RangedArray:
    """An NPY array in a random-access file, read by ranges: rows ``lo:hi`` as ``a[lo:hi]``.

    What a memory map gives a local file, for a remote one: only the rows
    asked for are fetched, one request per block of rows (per column, for an
    array in Fortran order).

    Examples
    --------
    >>> import pyarrow as pa
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.arange(6.0).reshape(3, 2))
    >>> a = RangedArray(pa.BufferReader(buf.getvalue()), (3, 2), False, np.dtype("<f8"), 128)
    >>> a[1:3].tolist()
    [[2.0, 3.0], [4.0, 5.0]]
    """

    def __init__(
        self, file: Any, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, offset: int
    ) -> None:
        self._file, self.shape, self.dtype = file, shape, dtype
        self._fortran, self._offset = fortran, offset

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.shape[0])
        n, item = self.shape[0], self.dtype.itemsize
        if self._fortran and len(self.shape) == 2:  # each column is a run of n values
            columns = [
                self._read(self._offset + (j * n + lo) * item, hi - lo, (hi - lo,))
                for j in range(self.shape[1])
            ]
            return np.stack(columns, axis=1) if columns else np.empty((hi - lo, 0), self.dtype)
        row_shape = self.shape[1:]
        row_bytes = item * math.prod(row_shape)
        return self._read(self._offset + lo * row_bytes, (hi - lo), (hi - lo, *row_shape))

    def _read(self, start: int, rows: int, shape: tuple[int, ...]) -> np.ndarray:
        size = self.dtype.itemsize * math.prod(shape)
        data = self._file.read_at(size, start) if size else b""
        if len(data) != size:
            raise OSError(f"the file ended {size - len(data)} bytes early")
        return np.frombuffer(data, dtype=self.dtype).reshape(shape)

    def close(self) -> None:
        self._file.close()


class NpySource(Source):
    """A ``.npy`` file, memory-mapped (a remote one read by ranges)."""

    named = False

    def __init__(self, path: str, *, remote: Remote | None = None) -> None:
        self.display = path
        if remote is not None:
            self._open_remote(remote)
            return
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY":
            what = (
                " (it is a zip archive: an NPZ? name it .npz)" if magic[:4] == b"PK\x03\x04" else ""
            )
            raise self.error(
                f"is not an NPY file{what}: it does not start with NumPy's signature. "
                "Save it with np.save, or give it the extension of its format."
            )
        # the header is checked here, before NumPy maps the file: a damaged one
        # is an error of its own, and a header promising more than the file
        # holds is a truncated file, not a failed map
        with open(path, "rb") as f:
            try:
                shape, _, dtype, offset = read_header(f)
            except ValueError as exc:
                raise self.error(f"is not a valid NPY file: {exc}.") from None
            size = os.fstat(f.fileno()).st_size
        _field(self, shape, dtype)
        if offset + _data_bytes(shape, dtype) > size:
            raise self.error(
                f"is truncated: its header says {shape} values of type {dtype} "
                f"({_data_bytes(shape, dtype)} bytes), but it holds {max(0, size - offset)} "
                "bytes of data. Save it again with np.save."
            )
        try:
            self._array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise self.error(
                    "holds Python objects (a pickled object array), which cecli does not "
                    "load. Save numbers, booleans or fixed-width strings."
                ) from None
            raise self.error(f"is not a valid NPY file ({exc}).") from None
        except (OSError, EOFError) as exc:
            raise self.error(f"is not a valid NPY file ({exc}).") from None
        if not isinstance(self._array, np.ndarray):
            raise self.error("is not an NPY file (it looks like an NPZ archive: name it .npz).")
        self.fields = [_field(self, self._array.shape, self._array.dtype)]
        self.n_rows = int(self._array.shape[0])

    def _open_remote(self, remote: Remote) -> None:
        """The header from the file's first bytes (one request), the rows by range later."""
        file = remote.open_file()
        try:
            size = file.size()
            head = file.read_at(min(size, (1 << 16) + 16), 0)
            if head[:6] != b"\x93NUMPY":
                file.close()
                raise self.error(
                    "is not an NPY file: it does not start with NumPy's signature. Save it "
                    "with np.save, or give it the extension of its format."
                )
            shape, fortran, dtype, offset = read_header(io.BytesIO(head))
        except ValueError as exc:
            file.close()
            raise self.error(f"is not a valid NPY file: {exc}.") from None
        except OSError as exc:
            file.close()
            raise remote.error(f"could not be read ({exc}).") from None
        self.fields = [_field(self, shape, dtype)]
        if offset + _data_bytes(shape, dtype) > size:
            file.close()
            raise self.error(
                f"is truncated: its header says {shape} values of type {dtype} "
                f"({_data_bytes(shape, dtype)} bytes), but it holds {max(0, size - offset)} "
                "bytes of data. Save it again with np.save."
            )
        self._array = RangedArray(file, shape, fortran, dtype, offset)
        self.n_rows = int(shape[0])

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        step = max(1, rows_per_frame)
        for lo in range(0, self.n_rows, step):
            hi = min(lo + step, self.n_rows)
            try:
                block = np.array(self._array[lo:hi])  # a copy, so the map's pages can go
            except OSError as exc:  # a remote file's read (a local map's reads do not fail)
                raise self.error(f"could not be read past row {lo} ({exc}).") from None
            self._release(lo, hi)
            yield Frame(lo, hi - lo, {VALUES: _as_column(block)} if columns else {})

    def _release(self, lo: int, hi: int) -> None:
        """Drop the mapped pages of rows ``lo:hi`` from this process's resident memory.

        Pages read through a map stay resident (and count as ours) until unmapped;
        without this, scoring a 2.6 GB file would end with 2.6 GB resident.
        """
        mm = getattr(self._array, "_mmap", None)
        if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            return
        row_bytes = self._array.dtype.itemsize * math.prod(self._array.shape[1:])
        start = self._array.offset % mmap.ALLOCATIONGRANULARITY + lo * row_bytes
        stop = start + (hi - lo) * row_bytes
        page = mmap.PAGESIZE
        start -= start % page
        with contextlib.suppress(OSError, ValueError):  # an advice, not a requirement
            mm.madvise(mmap.MADV_DONTNEED, start, min(stop, len(mm)) - start)

    def close(self) -> None:
        if isinstance(self._array, RangedArray):
            self._array.close()
            return
        mm = getattr(self._array, "_mmap", None)
        if mm is not None:
            mm.close()


class NpzSource(Source):
    """One member of a ``.npz`` archive, chosen by ``key`` or by its usual names."""

    named = False
    archive = True

    def __init__(self, path: str, *, key: str | None, role: str) -> None:
        self.display = path
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except _ZIP_ERRORS as exc:
            raise self.error(f"is not a valid NPZ archive ({exc}).") from None
        members = {
            os.path.splitext(name)[0]: name
            for name in self._zip.namelist()
            if name.endswith(".npy")
        }
        if not members:
            raise self.error("holds no arrays (no .npy members).")
        self.key = self._choose(members, key, role)
        self.display = f"{path}[{self.key}]"
        self._member = members[self.key]
        with self._damaged():
            with self._zip.open(self._member) as stream:
                shape, fortran, dtype, offset = self._header(stream)
            held = self._zip.getinfo(self._member).file_size
        self._shape, self._fortran, self._dtype = shape, fortran, dtype
        self.fields = [_field(self, shape, dtype)]
        if offset + _data_bytes(shape, dtype) > held:
            raise self.error(
                f"member {self._member!r} is truncated: its header says {shape} values of type "
                f"{dtype} ({_data_bytes(shape, dtype)} bytes), but it holds "
                f"{max(0, held - offset)} bytes of data. Save the archive again with np.savez."
            )
        self.n_rows = int(shape[0])

    @contextlib.contextmanager
    def _damaged(self) -> Iterator[None]:
        """Errors of a damaged archive (a bad CRC, a broken deflate stream), naming the member."""
        try:
            yield
        except InputError:
            raise
        except _ZIP_ERRORS as exc:
            raise self.error(
                f"member {self._member!r} cannot be read: the archive is damaged "
                f"({type(exc).__name__}: {exc}). Save it again with np.savez."
            ) from None

    def _choose(self, members: dict[str, str], key: str | None, role: str) -> str:
        option = "--pred-key" if role == "predictions" else "--label-key"
        listing = ", ".join(repr(k) for k in members)
        if key is not None:
            if key not in members:
                raise self.error(
                    f"has no array {key!r}; it holds {listing}. Pass one of them as {option}."
                )
            return key
        usual = PREDICTION_KEYS if role == "predictions" else LABEL_KEYS
        by_lower = {k.lower(): k for k in members}
        for name in usual:
            if name in by_lower:
                return by_lower[name]
        raise self.error(
            f"holds {listing}, none with a usual name for the {role}; say which with {option} NAME."
        )

    def _header(self, stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        with self._damaged():
            head = _header_bytes(stream)
        try:
            return read_header(io.BytesIO(head))
        except ValueError as exc:
            raise self.error(f"member {self._member!r} is not a valid NPY array: {exc}.") from None

    def frames(
        self, rows_per_frame: int, columns: list[str], *, stacked: list[str] | None = None
    ) -> Iterator[Frame]:
        try:
            yield from self._frames(rows_per_frame)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise self.error(
                f"member {self._member!r} could not be read ({exc}): the archive is damaged."
            ) from None

    def _frames(self, rows_per_frame: int) -> Iterator[Frame]:
        step = max(1, rows_per_frame)
        n = self.n_rows
        if self._fortran:
            # column-major rows are not contiguous in the stream: load the member whole
            with self._damaged(), self._zip.open(self._member) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
            for lo in range(0, n, step):
                hi = min(lo + step, n)
                yield Frame(lo, hi - lo, {VALUES: _as_column(array[lo:hi])})
            return
        row_shape = self._shape[1:]
        row_bytes = self._dtype.itemsize * math.prod(row_shape)
        with self._damaged():
            stream = self._zip.open(self._member)
        with stream:
            with self._damaged():
                self._header(stream)
            for lo in range(0, n, step):
                hi = min(lo + step, n)
                with self._damaged():
                    data = stream.read((hi - lo) * row_bytes)
                if len(data) != (hi - lo) * row_bytes:
                    raise self.error(
                        f"member {self._member!r} ends early, at row {lo + len(data) // row_bytes} "
                        f"of {n}: the archive is truncated."
                    )
                block = np.frombuffer(data, dtype=self._dtype).reshape((hi - lo, *row_shape))
                yield Frame(lo, hi - lo, {VALUES: _as_column(block)})

    def close(self) -> None:
        self._zip.close()
