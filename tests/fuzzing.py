"""Seeded mutations of valid input files, and a judge of what ``cecli score`` did with them.

A :class:`Case` is a seed format, a mutator and an integer seed; from these
alone :func:`build` makes the same files every time: a small valid input
(5 to 50 rows, 2 to 4 classes) in that format, with one of its files mutated,
and the ``cecli score`` arguments that read it. ``tests/fuzz_runs.py`` runs
them and judges what happened.

The test suite (``tests/test_fuzz.py``) runs a few hundred cases;
``benchmarks/fuzz_inputs.py`` runs thousands on demand and reproduces one.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: Seed formats. ``tsv.gz`` mutates the compressed bytes, ``tsv.gz:text`` the text
#: inside (compressed again); ``npz:member`` mutates one array inside a valid archive.
FORMATS = ("csv", "tsv.gz", "tsv.gz:text", "npy", "npz", "npz:member", "parquet", "parquet:list")
MUTATORS = ("flip", "insert", "delete", "truncate", "duplicate", "splice", "swap", "mixed")

#: Bytes that mean something to a parser, inserted or written over others.
SPECIAL = (
    *(b'"', b",", b"\t", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xff\xfe"),
    *(b" ", b"-", b".", b"e", b"nan", b"-inf", b"1e400", b"0x1p-3", b"=1+1", b"\x1b[2J", b"\xc3"),
    b"\\",
)
CLASS_NAMES = (("cat", "dog", "emu", "fox"), ("0", "1", "2", "3"), ("p_a", "p_b", "p_c", "p_d"))


@dataclass(frozen=True)
class Case:
    """One fuzz case, reproducible from its three fields alone."""

    fmt: str
    mutator: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.fmt}/{self.mutator}/{self.seed}"

    @classmethod
    def parse(cls, text: str) -> Case:
        fmt, mutator, seed = text.rsplit("/", 2)
        if fmt not in FORMATS or mutator not in MUTATORS:
            raise ValueError(f"not a case: {text!r} (format/mutator/seed)")
        return cls(fmt, mutator, int(seed))


def cases(n: int, first_seed: int = 0) -> list[Case]:
    """``n`` cases, every format with every mutator in turn, seeds counting up."""
    combos = [(f, m) for f in FORMATS for m in MUTATORS]
    return [Case(*combos[i % len(combos)], first_seed + i // len(combos)) for i in range(n)]


@dataclass
class Built:
    """A case's files (name to bytes), the ``cecli`` arguments, and which file was mutated."""

    files: dict[str, bytes]
    args: list[str]
    target: str
    original: bytes
    output_format: str

    def write(self, folder: Path) -> list[str]:
        """Write the files into ``folder``; the arguments with the files' full paths."""
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return [str(folder / a) if a in self.files or a == "out.csv" else a for a in self.args]


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(str(p).encode()) for p in parts])


# ---- valid seed files ---------------------------------------------------------------


@dataclass
class _Data:
    probs: np.ndarray  # N x K, or N for binary
    labels: np.ndarray  # class indices
    classes: tuple[str, ...]
    logits: bool
    ids: list[str] | None
    names_as_labels: bool
    dtype: type = np.float64


def _data(seed: int) -> _Data:
    rng = _rng("data", seed)
    n, k = int(rng.integers(5, 51)), int(rng.integers(2, 5))
    classes = CLASS_NAMES[int(rng.integers(len(CLASS_NAMES)))][:k]
    logits = rng.random() < 0.2
    dtype = np.float32 if rng.random() < 0.3 else np.float64
    probs = rng.normal(size=(n, k)) * 2 if logits else rng.dirichlet(np.ones(k), size=n)
    probs = probs.astype(dtype)
    if k == 2 and rng.random() < 0.5:
        probs = probs[:, 1]  # binary: the positive class's probability (or logit)
    labels = rng.integers(0, k, n)
    ids = [f"r{i}" for i in range(n)] if rng.random() < 0.5 else None
    return _Data(probs, labels, classes, bool(logits), ids, bool(rng.random() < 0.4), dtype)


def _text_table(d: _Data, sep: str, with_labels: bool) -> bytes:
    cols = ["p"] if d.probs.ndim == 1 else list(d.classes)
    head = (["id"] if d.ids else []) + cols + (["label"] if with_labels else [])
    lines = [sep.join(head)]
    for i in range(len(d.labels)):
        row = d.probs[i] if d.probs.ndim == 2 else [d.probs[i]]
        cells = ([d.ids[i]] if d.ids else []) + [repr(float(v)) for v in row]
        if with_labels:
            cells.append(_label_text(d, i))
        lines.append(sep.join(cells))
    return ("\n".join(lines) + "\n").encode()


def _label_text(d: _Data, i: int) -> str:
    label = int(d.labels[i])
    return d.classes[label] if d.names_as_labels and d.probs.ndim == 2 else str(label)


def _labels_csv(d: _Data) -> bytes:
    return ("label\n" + "".join(_label_text(d, i) + "\n" for i in range(len(d.labels)))).encode()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _npz(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, **arrays)
    return out.getvalue()


def _parquet(d: _Data, as_list: bool, rng: np.random.Generator) -> bytes:
    columns: dict[str, pa.Array] = {}
    if d.ids:
        columns["id"] = pa.array(d.ids)
    if as_list:
        probs = d.probs if d.probs.ndim == 2 else np.stack([1 - d.probs, d.probs], axis=1)
        width = probs.shape[1]
        flat = pa.array(probs.ravel())
        if rng.random() < 0.5:
            columns["probs"] = pa.FixedSizeListArray.from_arrays(flat, width)
        else:
            offsets = pa.array(np.arange(0, probs.size + 1, width, dtype=np.int32))
            columns["probs"] = pa.ListArray.from_arrays(offsets, flat)
    elif d.probs.ndim == 1:
        columns["p"] = pa.array(d.probs)
    else:
        for j, name in enumerate(d.classes):
            columns[name] = pa.array(d.probs[:, j])
    if d.names_as_labels and d.probs.ndim == 2 and not as_list:  # a list has no class names
        columns["label"] = pa.array([d.classes[int(v)] for v in d.labels])
    else:
        columns["label"] = pa.array(d.labels.astype(np.int64))
    out = io.BytesIO()
    codec = ("none", "snappy", "zstd", "gzip")[int(rng.integers(4))]
    pq.write_table(pa.table(columns), out, compression=codec)
    return out.getvalue()


def _seed_files(fmt: str, seed: int) -> tuple[dict[str, bytes], list[str], _Data]:
    """The valid files of a seed, and the names of the files passed to ``cecli score``."""
    d = _data(seed)
    rng = _rng("layout", fmt, seed)
    if fmt == "csv":
        if rng.random() < 0.5:
            return {"preds.csv": _text_table(d, ",", True)}, ["preds.csv"], d
        files = {"preds.csv": _text_table(d, ",", False), "labels.csv": _labels_csv(d)}
        return files, ["preds.csv", "labels.csv"], d
    if fmt.startswith("tsv.gz"):
        data = gzip.compress(_text_table(d, "\t", True), mtime=0)
        return {"preds.tsv.gz": data}, ["preds.tsv.gz"], d
    if fmt == "npy":
        labels = d.labels.astype((np.int64, np.int32, np.uint8)[int(rng.integers(3))])
        files = {"preds.npy": _npy(d.probs), "labels.npy": _npy(labels)}
        return files, ["preds.npy", "labels.npy"], d
    if fmt.startswith("npz"):
        key = ("probs", "preds", "logits")[int(rng.integers(3))]
        data = _npz({key: d.probs, "labels": d.labels}, compressed=bool(rng.random() < 0.5))
        return {"outputs.npz": data}, ["outputs.npz"], d
    data = _parquet(d, fmt == "parquet:list", rng)
    return {"preds.parquet": data}, ["preds.parquet"], d


# ---- mutators -------------------------------------------------------------------------


def _header_span(data: bytes, fmt: str) -> tuple[int, int]:
    """Where a file's header is: the first line of text or NPY, a zip entry's, a Parquet footer."""
    if fmt.startswith("parquet") and len(data) >= 12 and data.endswith(b"PAR1"):
        footer = int.from_bytes(data[-8:-4], "little")
        return max(4, len(data) - 8 - footer), len(data)
    if fmt.startswith("npz") and data.startswith(b"PK\x03\x04") and len(data) >= 30:
        name, extra = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
        return 0, min(len(data), 30 + name + extra)
    end = data.find(b"\n")
    return 0, len(data) if end < 0 else end + 1


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def _span(rng: np.random.Generator, size: int, longest: int = 32) -> tuple[int, int]:
    start = int(rng.integers(0, size + 1))
    return start, min(size, start + int(rng.integers(1, longest + 1)))


def flip(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """1 to 8 bytes changed: bits flipped, or a byte that means something written over one."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if not out:
            break
        at = int(rng.integers(len(out)))
        if rng.random() < 0.5:
            out[at] ^= int(rng.integers(1, 256))
        else:
            out[at] = SPECIAL[int(rng.integers(len(SPECIAL)))][0]
    return bytes(out)


def insert(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """1 to 8 insertions of quotes, delimiters, line ends, NUL, 0xFF, a BOM or random bytes."""
    out = data
    for _ in range(int(rng.integers(1, 9))):
        at = int(rng.integers(len(out) + 1))
        if rng.random() < 0.75:
            piece = SPECIAL[int(rng.integers(len(SPECIAL)))]
        else:
            piece = rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8).tobytes()
        out = out[:at] + piece + out[at:]
    return out


def delete(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """1 to 3 ranges of up to 32 bytes removed."""
    out = data
    for _ in range(int(rng.integers(1, 4))):
        start, end = _span(rng, len(out))
        out = out[:start] + out[end:]
    return out


def truncate(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """The file cut short anywhere, from nothing left to one byte missing."""
    return data[: int(rng.integers(0, max(1, len(data))))]


def duplicate(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """Lines repeated (text), or a byte range repeated in place (binary)."""
    if ctx.text:
        lines = _lines(data)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(len(lines)))
            lines.insert(int(rng.integers(len(lines) + 1)), lines[at])
        return b"".join(lines)
    start, end = _span(rng, len(data), 256)
    return data[:end] + data[start:end] + data[end:]


def splice(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """Headers moved about: another seed's header on this body, a header repeated or dropped,
    another file's body after this one's."""
    start, end = _header_span(data, ctx.fmt)
    other = ctx.other
    o_start, o_end = _header_span(other, ctx.fmt)
    choice = int(rng.integers(5))
    if choice == 0:  # another seed's header (other classes, shape, dtype) on this body
        return data[:start] + other[o_start:o_end] + data[end:]
    if choice == 1:  # this header again, somewhere inside
        if ctx.text:
            lines = _lines(data)
            lines.insert(int(rng.integers(1, len(lines) + 1)), data[start:end])
            return b"".join(lines)
        at = int(rng.integers(len(data) + 1))
        return data[:at] + data[start:end] + data[at:]
    if choice == 2:  # the header gone
        return data[:start] + data[end:]
    if choice == 3:  # two files one after the other (cat a b > c)
        return data + other
    # this header over another seed's body
    return other[:o_start] + data[start:end] + other[o_end:]


def swap(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """Two rows (text) or two byte ranges (binary) traded places."""
    if ctx.text:
        lines = _lines(data)
        a, b = (int(v) for v in rng.integers(len(lines), size=2))
        lines[a], lines[b] = lines[b], lines[a]
        return b"".join(lines)
    if len(data) < 4:
        return data[::-1]
    width = int(rng.integers(1, max(2, len(data) // 4)))
    a = int(rng.integers(0, len(data) - 2 * width + 1))
    b = int(rng.integers(a + width, len(data) - width + 1))
    return (
        data[:a]
        + data[b : b + width]
        + data[a + width : b]
        + data[a : a + width]
        + data[b + width :]
    )


def mixed(data: bytes, rng: np.random.Generator, ctx: _Context) -> bytes:
    """2 to 4 of the other mutators, one after another."""
    for _ in range(int(rng.integers(2, 5))):
        name = MUTATORS[int(rng.integers(len(MUTATORS) - 1))]
        data = MUTATE[name](data, rng, ctx)
    return data


@dataclass
class _Context:
    fmt: str
    text: bool
    other: bytes  # the same file of another seed, for splicing


MUTATE: dict[str, Callable[[bytes, np.random.Generator, _Context], bytes]] = {
    "flip": flip,
    "insert": insert,
    "delete": delete,
    "truncate": truncate,
    "duplicate": duplicate,
    "splice": splice,
    "swap": swap,
    "mixed": mixed,
}


def _rezip(data: bytes, rng: np.random.Generator, mutate: Callable[[bytes], bytes]) -> bytes:
    """The archive again, one of its members mutated (a valid zip with a bad array inside)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    infos = source.infolist()
    chosen = infos[int(rng.integers(len(infos)))].filename
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in infos:
            body = source.read(info)
            if info.filename == chosen:
                body = mutate(body)
            target.writestr(
                zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)),
                body,
                compress_type=info.compress_type,
            )
    return out.getvalue()


def build(case: Case, *, mutate: bool = True) -> Built:
    """The files and arguments of ``case``: the same bytes on every run and machine.

    With ``mutate=False``, the valid files the case starts from (and the same arguments).
    """
    files, inputs, d = _seed_files(case.fmt, case.seed)
    other_files, _, _ = _seed_files(case.fmt, case.seed + 7919)
    rng = _rng("mutate", case.fmt, case.mutator, case.seed)
    target = inputs[int(rng.integers(len(inputs)))] if rng.random() < 0.3 else inputs[0]
    original = files[target]
    other = other_files.get(target, next(iter(other_files.values())))
    mutator = MUTATE[case.mutator]
    if not mutate:
        mutated = original
    elif case.fmt == "tsv.gz:text":
        ctx = _Context(case.fmt, True, gzip.decompress(other))
        mutated = gzip.compress(mutator(gzip.decompress(original), rng, ctx), mtime=0)
    elif case.fmt == "npz:member":
        ctx = _Context("npy", False, _npy(_data(case.seed + 7919).probs))
        mutated = _rezip(original, rng, lambda body: mutator(body, rng, ctx))
    else:
        ctx = _Context(case.fmt, target.endswith((".csv", ".tsv")), other)
        mutated = mutator(original, rng, ctx)
    files = {**files, target: mutated}
    choose = _rng("arguments", case.fmt, case.mutator, case.seed)
    output_format = ("table", "json", "csv", "markdown")[int(choose.integers(4))]
    args = ["score", *inputs, "-f", output_format]
    if d.logits:
        args.append("--logits")
    if choose.random() < 0.25:
        args += ["--per-sample", "out.csv"]
    if choose.random() < 0.15:
        args.append("--calibration")
    return Built(files, args, target, original, output_format)
