"""NPY files (memory-mapped) and NPZ archives (each member streamed from the zip).

An NPY file is one column: a 1-D array (one number, boolean or string per
sample) or a 2-D array (a row of numbers per sample, a ``"matrix"``). It is
memory-mapped and copied out a frame at a time, so a file larger than memory
is never loaded whole. An NPZ member is read straight from the (possibly
compressed) zip stream, a frame's worth of bytes at a time.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from cecli.readers import Field, Frame, Source

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
        raise source.error(f"holds an empty array (shape {shape}): there are no rows to score.")
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


class NpySource(Source):
    """A ``.npy`` file, memory-mapped."""

    named = False

    def __init__(self, path: str) -> None:
        self.display = path
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

    def frames(self, rows_per_frame: int, columns: list[str]) -> Iterator[Frame]:
        step = max(1, rows_per_frame)
        for lo in range(0, self.n_rows, step):
            hi = min(lo + step, self.n_rows)
            block = np.array(self._array[lo:hi])  # a copy, so the map's pages can go
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
        mm = getattr(self._array, "_mmap", None)
        if mm is not None:
            mm.close()


class NpzSource(Source):
    """One member of a ``.npz`` archive, chosen by ``key`` or by its usual names."""

    named = False

    def __init__(self, path: str, *, key: str | None, role: str) -> None:
        self.display = path
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
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
        with self._zip.open(self._member) as stream:
            shape, fortran, dtype = self._header(stream)
        self._shape, self._fortran, self._dtype = shape, fortran, dtype
        self.fields = [_field(self, shape, dtype)]
        self.n_rows = int(shape[0])

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

    def _header(self, stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(stream)
            return np.lib.format.read_array_header_2_0(stream)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise self.error(f"member {self._member!r} is not a valid NPY array ({exc}).") from None

    def frames(self, rows_per_frame: int, columns: list[str]) -> Iterator[Frame]:
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
            with self._zip.open(self._member) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
            for lo in range(0, n, step):
                hi = min(lo + step, n)
                yield Frame(lo, hi - lo, {VALUES: _as_column(array[lo:hi])})
            return
        row_shape = self._shape[1:]
        row_bytes = self._dtype.itemsize * math.prod(row_shape)
        with self._zip.open(self._member) as stream:
            self._header(stream)
            for lo in range(0, n, step):
                hi = min(lo + step, n)
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
