"""Remote files over ``https://``, ``http://`` and ``hf://``, through fsspec.

These come with the ``remote`` extra (``pip install "cecli[remote]"``:
fsspec, aiohttp for HTTP, huggingface_hub for the Hugging Face Hub). The
fsspec filesystem is wrapped for pyarrow (:class:`pyarrow.fs.PyFileSystem`
over a :class:`pyarrow.fs.FSSpecHandler`), so the readers read these files as
they read ``s3://`` ones (:mod:`cecli.readers._remote`): Parquet and NPY by
ranged reads, each read one request (no read-ahead), CSV as one streamed GET.

An HTTP server that ignores ``Range`` (answers a ranged GET with the whole
file) is refused when a read other than the first bytes is asked of it,
never read at the wrong place; so is one that says ``Accept-Ranges: none`` or
gives no size, before anything is read. Such a file is read as CSV (a
stream), or downloaded first. HTTP cannot list, so a pattern over
``https://`` is an error; the Hub can, so ``hf://`` patterns and folders are
shards as ``s3://`` ones are.

Settings come from ``--storage-option``: ``header.NAME=VALUE`` adds an HTTP
header, and the Hub takes ``token`` and ``endpoint``. Without them the Hub's
credentials are its own (``HF_TOKEN``, or the token ``hf auth login`` saved).
Messages never show a credential.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from cecli.errors import InputError, OptionError, RemoteError

#: The URL schemes read through fsspec, and the packages each needs beside fsspec.
SCHEMES = {"http": "aiohttp", "https": "aiohttp", "hf": "huggingface_hub"}
INSTALL = 'pip install "cecli[remote]"'
#: The settings each filesystem takes from ``--storage-option`` (``header.NAME`` apart).
_SETTINGS = {
    "http": {"ssl": bool, "proxy": str, "allow_redirects": bool},
    "hf": {"token": str, "endpoint": str},
}


def kind_of(scheme: str) -> str:
    """``"http"`` for ``http``/``https``, ``"hf"`` for the Hub."""
    return "hf" if scheme == "hf" else "http"


def require(url: str, scheme: str) -> None:
    """An error naming the extra to install when fsspec (or its HTTP/Hub part) is missing.

    Examples
    --------
    >>> import sys
    >>> saved, sys.modules["fsspec"] = sys.modules.get("fsspec"), None
    >>> try:
    ...     require("https://example.org/preds.parquet", "https")
    ... finally:
    ...     _ = sys.modules.pop("fsspec") if saved is None else sys.modules.update(fsspec=saved)
    Traceback (most recent call last):
    ...
    cecli.errors.InputError: https://example.org/preds.parquet: https:// URLs are read ...
    """
    for name in ("fsspec", SCHEMES[scheme]):
        try:
            importlib.import_module(name)
        except ImportError:
            raise InputError(
                url,
                f"{scheme}:// URLs are read through {name}, which is not installed; install "
                f"cecli's remote extra: {INSTALL}",
            ) from None


def _settings(kind: str, storage_options: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``--storage-option`` pairs as the filesystem's keyword arguments; an error for others."""
    from cecli.readers._remote import _value

    known = _SETTINGS[kind]
    kwargs: dict[str, Any] = {}
    headers = {"Accept-Encoding": "identity"}  # bytes as stored: sizes and ranges agree
    for key, text in storage_options:
        if kind == "http" and key.lower().startswith("header."):
            headers[key[len("header.") :]] = text
        elif key in known:
            kwargs[key] = _value(text) if known[key] is bool else text
        else:
            takes = ", ".join(["header.NAME", *known] if kind == "http" else known)
            raise OptionError(
                f"--storage-option: {'HTTP' if kind == 'http' else 'the Hugging Face Hub'} "
                f"takes {takes}; got {key!r}."
            )
    if kind == "http":
        kwargs["headers"] = headers
    return kwargs


@functools.lru_cache(maxsize=16)
def _filesystem(kind: str, storage_options: tuple[tuple[str, str], ...]) -> Any:
    """The fsspec filesystem of one kind and settings, wrapped for pyarrow (made once)."""
    kwargs = _settings(kind, storage_options)
    if kind == "http":
        from fsspec.implementations.http import HTTPFileSystem

        fs = HTTPFileSystem(**kwargs)
    else:
        from huggingface_hub import HfFileSystem

        fs = HfFileSystem(**kwargs)
    return pafs.PyFileSystem(_Handler(fs))


class _Handler(pafs.FSSpecHandler):
    """pyarrow's handler, reading without read-ahead and with the size already known."""

    def __init__(self, fs: Any) -> None:
        super().__init__(fs)
        #: Each file's size, from the info taken just before it is opened.
        self.sizes: dict[str, int] = {}
        #: Each file's URL as given, for messages.
        self.urls: dict[str, str] = {}

    def open_input_file(self, path: str) -> Any:
        # cache_type "none": each read_at is one ranged GET of what is asked, as pyarrow's own
        # S3 files do (fsspec's default reads 5 MiB ahead of every read)
        file = self.fs.open(path, mode="rb", cache_type="none", size=self.sizes.get(path))
        return pa.PythonFile(_Guarded(file, self.urls.get(path, path)), mode="r")

    def open_input_stream(self, path: str) -> Any:
        # block_size 0: one GET, its body streamed (whether or not the server serves ranges)
        file = self.fs.open(path, mode="rb", block_size=0, size=self.sizes.get(path))
        return pa.PythonFile(_Guarded(file, self.urls.get(path, path)), mode="r")


class _Guarded:
    """An fsspec file whose failed reads are one :class:`RemoteError` naming the URL."""

    def __init__(self, file: Any, url: str) -> None:
        self._file = file
        self._url = url

    def read(self, n: int = -1) -> bytes:
        try:
            return self._file.read(n)
        except Exception as exc:
            raise RemoteError(self._url, failed_read(exc)) from None

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._file.seek(offset, whence)
        except ValueError as exc:
            raise RemoteError(self._url, failed_read(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def failed_read(exc: BaseException) -> str:
    """What to say of a read that failed, and what to do.

    Examples
    --------
    >>> failed_read(ValueError("The HTTP server doesn't appear to support range requests."))
    ... # doctest: +ELLIPSIS
    'the server ignores byte ranges (it sends the whole file for a part of it), and ...'
    """
    if "support range requests" in str(exc):
        # fsspec's check: a 200 (not 206) for a range past the start is the whole file
        return (
            "the server ignores byte ranges (it sends the whole file for a part of it), and "
            "Parquet and NPY are read by ranges. Download the file first, or give it as CSV, "
            "which streams."
        )
    return f"could not be read ({reason(exc)})."


def reason(exc: BaseException) -> str:
    """What went wrong, on one line and without a credential: a status, a refused connection.

    Examples
    --------
    >>> reason(ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"))
    'cannot connect to the server (connection refused, or no such host)'
    """
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, FileNotFoundError) and cause is not None:
        return reason(cause)
    status = getattr(exc, "status", None)
    if status is None:  # huggingface_hub's errors hold the response
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        words = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone"}
        return f"the server answered {status} {words.get(status, '')}".rstrip()
    text = " ".join(str(exc).split())
    if isinstance(exc, ConnectionError) or type(exc).__name__.startswith("ClientConnector"):
        return "cannot connect to the server (connection refused, or no such host)"
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text or type(exc).__name__


def _secrets() -> list[str]:
    names = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
    return [v for v in (os.environ.get(n) for n in names) if v and len(v) >= 4]


@dataclass(frozen=True)
class FsspecRemote:
    """A file on an HTTP server or the Hub: its URL as given, and its path in the filesystem."""

    url: str
    filesystem: Any
    path: str
    scheme: str
    #: The raw fsspec info of the last look (size, ETag, Last-Modified, blob id).
    seen: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def _handler(self) -> Any:
        return self.filesystem.handler

    def error(self, message: str) -> InputError:
        return InputError(self.url, message)

    def _info(self, fresh: bool = False) -> dict[str, Any] | None:
        """fsspec's info of the file, or None when it is missing."""
        fs = self._handler.fs
        try:
            if fresh and hasattr(fs, "invalidate_cache"):
                fs.invalidate_cache(self.path)
            info = fs.info(self.path)
        except FileNotFoundError as exc:
            cause = exc.__cause__
            # fsspec's HTTP info says "not found" for any failure: the cause tells which
            missing = getattr(cause, "status", None) in (404, 410)
            if self.scheme != "hf" and cause is not None and not missing:
                raise self.error(f"cannot be read ({reason(cause)}).") from None
            if self.scheme == "hf" and "repository not found" in str(exc):
                raise self.error(
                    "no such repository (or it is private: give a token with HF_TOKEN, "
                    "`hf auth login` or --storage-option token=...)."
                ) from None
            if self.scheme == "hf" and "revision not found" in str(exc):
                raise self.error("no such revision (the name after @) in the repository.") from None
            return None
        except Exception as exc:  # the client's own errors (aiohttp's, huggingface_hub's)
            raise self.error(f"cannot be read ({reason(exc)}).") from None
        self.seen.clear()
        self.seen.update(info)
        return info

    def info(self) -> Any:
        """The file's :class:`pyarrow.fs.FileInfo` (a missing one is ``NotFound``)."""
        info = self._info()
        if info is None:
            return pafs.FileInfo(self.path, pafs.FileType.NotFound)
        kind = pafs.FileType.Directory if info.get("type") == "directory" else pafs.FileType.File
        return pafs.FileInfo(self.path, kind, size=info.get("size"))

    def check_file(self) -> Any:
        """The file's info; an error for a file that is missing or a folder."""
        info = self.info()
        if info.type == pafs.FileType.NotFound:
            where = "on the server" if self.scheme != "hf" else "in the repository"
            raise self.error(f"no such file {where} (404 Not Found). Check the URL.")
        if info.type == pafs.FileType.Directory:
            raise self.error(
                "is a folder, not a file. Give a file inside it, or a pattern such as "
                "'FOLDER/*.parquet'."
            )
        size = self.seen.get("size")
        if size is not None:
            self._handler.sizes[self.path] = int(size)
        self._handler.urls[self.path] = self.url
        return info

    def _ranged(self) -> None:
        """An error, before any read, for a file that cannot be read by ranges."""
        if self.seen.get("size") is None:
            raise self.error(
                "the server does not give its size (no Content-Length), and Parquet and NPY "
                "are read by ranges. Download the file first, or give it as CSV, which streams."
            )
        if self.seen.get("partial") is False:
            raise self.error(
                "the server does not serve byte ranges (Accept-Ranges: none), and Parquet and "
                "NPY are read by ranges. Download the file first, or give it as CSV, which "
                "streams."
            )

    def open_file(self) -> Any:
        """A random-access file: each read one ranged GET."""
        self._ranged()
        try:
            return self.filesystem.open_input_file(self.path)
        except RemoteError:
            raise
        except Exception as exc:
            raise self.error(f"cannot be opened ({reason(exc)}).") from None

    def open_stream(self, codec: str | None) -> Any:
        """A stream of the file (one GET), decompressed with ``codec`` when given."""
        from cecli.readers._remote import STREAM_BUFFER

        try:
            return self.filesystem.open_input_stream(
                self.path, compression=codec, buffer_size=STREAM_BUFFER
            )
        except RemoteError:
            raise
        except Exception as exc:
            raise self.error(f"cannot be opened ({reason(exc)}).") from None

    @property
    def validated(self) -> bool:
        """Whether a change of the file between two reads can be told (an ETag, a date)."""
        return self.validator() is not None

    def validator(self) -> str | None:
        """What changes with the file's content: its ETag, blob id, or modification date."""
        info = self.seen
        lfs = info.get("lfs")
        sha = getattr(lfs, "sha256", None) or (lfs.get("sha256") if isinstance(lfs, dict) else None)
        for value in (info.get("ETag"), sha, info.get("blob_id"), info.get("Last-Modified")):
            if value:
                return str(value)
        return None

    def stamp(self) -> tuple[object, ...]:
        """``(size, validator)`` looked up afresh: what tells that the file changed."""
        info = self._info(fresh=True)
        if info is None:
            raise self.error("is gone (404 Not Found) since it was first read.")
        return int(info.get("size") or 0), self.validator()


def locate(url: str, scheme: str, storage_options: tuple[tuple[str, str], ...]) -> FsspecRemote:
    """``url`` resolved to its fsspec filesystem (made once per kind and settings) and path.

    Examples
    --------
    >>> locate("https://host/preds.parquet", "https", (("region", "x"),))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --storage-option: HTTP takes header.NAME, ssl, proxy, ...
    """
    require(url, scheme)
    kind = kind_of(scheme)
    rest = url.split("://", 1)[1]
    if kind == "http":
        host, _, path = rest.partition("/")
        if not host:
            raise InputError(url, "names no server: give https://HOST/PATH.")
        if path.split("?", 1)[0].endswith("/") or not path.split("?", 1)[0]:
            raise InputError(
                url,
                "names a folder (it ends in /), and HTTP cannot list a folder's files: give "
                "the URL of each file.",
            )
        fs_path = scheme + "://" + rest
    else:
        typed = rest.startswith(("datasets/", "spaces/", "models/", "buckets/"))
        if rest.count("/") < 2 + typed:
            raise InputError(
                url, "names a repository, not a file: give hf://REPO/PATH (hf://datasets/...)."
            )
        fs_path = rest
    try:
        filesystem = _filesystem(kind, tuple(storage_options))
    except OptionError:
        raise
    except Exception as exc:
        raise InputError(url, f"cannot be reached ({reason(exc)}).") from None
    return FsspecRemote(url, filesystem, fs_path, scheme)


def no_listing(url: str) -> InputError:
    """The error for a pattern over HTTP, which cannot list."""
    return InputError(
        url,
        "is a pattern, but an HTTP server cannot list its files, so a pattern over http(s):// "
        "matches nothing. Give each file's URL, or put the shards where they can be listed "
        "(s3://, hf://, a folder).",
    )
