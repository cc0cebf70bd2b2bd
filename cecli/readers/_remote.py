"""Remote files: ``s3://``, ``gs://``, ``abfs://`` through :mod:`pyarrow.fs`.

``https://``, ``http://`` and ``hf://`` go through fsspec, wrapped for pyarrow
(:mod:`cecli.readers._fsspec`, the ``remote`` extra), and are read the same way.

A remote path is resolved once to a pyarrow filesystem and the path within
it (:func:`locate`); the readers then ask for a file object (a random-access
file for Parquet and NPY, read by ranges; a stream for CSV) and keep their
own logic. Credentials and endpoints come the way each store's own tools take
them (for S3 the AWS variables, ``AWS_ENDPOINT_URL`` included, and the AWS
config files); ``--storage-option KEY=VALUE`` passes the rest to the
filesystem (``endpoint_override``, ``region``, ``anonymous``, ...).

Messages name the URL as given, and never a credential.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cecli.errors import InputError, OptionError

#: The URL schemes read through pyarrow.fs, and the filesystem class for each.
SCHEMES = {
    "s3": "S3FileSystem",
    "gs": "GcsFileSystem",
    "gcs": "GcsFileSystem",
    "abfs": "AzureFileSystem",
    "abfss": "AzureFileSystem",
}
#: The URL schemes read through fsspec (:mod:`cecli.readers._fsspec`).
FSSPEC_SCHEMES = ("http", "https", "hf")
#: How often a remote file is read in one request: a CSV stream's reads, and its decompression.
STREAM_BUFFER = 4 << 20

#: Settings of the filesystem, as ``(key, value)`` pairs (``--storage-option KEY=VALUE``).
StorageOptions = tuple[tuple[str, str], ...]


def scheme_of(path: str) -> str | None:
    """The URL scheme of ``path`` when it is one cecli reads remotely, else None.

    Examples
    --------
    >>> scheme_of("s3://bucket/preds.parquet"), scheme_of("preds.parquet"), scheme_of("C:/x")
    ('s3', None, None)
    >>> scheme_of("HTTPS://example.org/preds.parquet"), scheme_of("hf://datasets/a/b/p.npy")
    ('https', 'hf')
    """
    head, sep, _ = path.partition("://")
    known = head.lower() in SCHEMES or head.lower() in FSSPEC_SCHEMES
    return head.lower() if sep and known else None


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL cecli reads remotely (``s3://``, ``https://``, ``hf://``, ...)."""
    return scheme_of(path) is not None


def through_fsspec(path: str) -> bool:
    """Whether ``path`` is a URL read through fsspec (``http(s)://``, ``hf://``)."""
    return scheme_of(path) in FSSPEC_SCHEMES


def has_wildcards(path: str) -> bool:
    """Whether a remote URL is a pattern (in an HTTP URL, ``?`` begins the query)."""
    scheme = scheme_of(path)
    if scheme in ("http", "https"):
        return any(ch in path.split("?", 1)[0] for ch in "*[")
    return any(ch in path for ch in "*?[")


#: What Hugging Face ``datasets.Dataset.save_to_disk`` writes beside its ``.arrow`` shards.
_DATASET_FILES = ("dataset_info.json", "state.json")


def hidden(name: str) -> bool:
    """Whether a file in a folder of shards is no shard: what writers leave beside them.

    Spark's ``_SUCCESS``, ``.crc`` files, ``_metadata`` (what pyarrow's datasets
    skip too), and a saved Hugging Face dataset's descriptions.

    Examples
    --------
    >>> [hidden(n) for n in ("_SUCCESS", ".part-0.crc", "state.json", "data-00000-of-00002.arrow")]
    [True, True, True, False]
    """
    return name.startswith((".", "_")) or name in _DATASET_FILES


def parse_storage_options(pairs: Iterable[str]) -> StorageOptions:
    """``KEY=VALUE`` texts as pairs; an error naming one that is not of that form.

    Examples
    --------
    >>> parse_storage_options(["region=eu-west-1", "anonymous=true"])
    (('region', 'eu-west-1'), ('anonymous', 'true'))
    >>> parse_storage_options(["region"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --storage-option takes KEY=VALUE (e.g. ...); got 'region'.
    """
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                f"--storage-option takes KEY=VALUE (e.g. region=eu-west-1); got {pair!r}."
            )
        out.append((key.strip(), value))
    return tuple(out)


def _value(text: str) -> Any:
    """A storage option's value as the filesystem takes it: a bool, a number, or text."""
    if text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[0-9]*\.[0-9]+", text):
        return float(text)
    return text


@dataclass(frozen=True)
class Remote:
    """A remote file: its URL as given, its filesystem, and its path there."""

    url: str
    filesystem: Any
    path: str

    def error(self, message: str) -> InputError:
        return InputError(self.url, message)

    def info(self) -> Any:
        """The file's :class:`pyarrow.fs.FileInfo` (type, size, modification time)."""
        try:
            return self.filesystem.get_file_info(self.path)
        except (OSError, ValueError) as exc:
            raise self.error(f"cannot be read ({_reason(exc)}).") from None

    def check_file(self) -> Any:
        """The file's info; an error for an object that is missing or a prefix (a folder)."""
        import pyarrow.fs as pafs

        info = self.info()
        if info.type == pafs.FileType.NotFound:
            raise self.error(
                "no such object (or its bucket is missing, or the credentials may not list "
                "it). Check the URL and the credentials."
            )
        if info.type == pafs.FileType.Directory:
            raise self.error(
                "is a folder (a prefix), not a file. Give a file inside it, or a pattern "
                "such as 'PREFIX/*.parquet'."
            )
        return info

    def open_file(self) -> Any:
        """A random-access file (``read_at``, ``seek``, ``size``): each read one ranged GET."""
        try:
            return self.filesystem.open_input_file(self.path)
        except (OSError, ValueError) as exc:
            raise self.error(f"cannot be opened ({_reason(exc)}).") from None

    def open_stream(self, codec: str | None) -> Any:
        """A stream of the file, decompressed with ``codec`` (pyarrow's name) when given."""
        try:
            return self.filesystem.open_input_stream(
                self.path,
                compression=codec,
                buffer_size=STREAM_BUFFER,
            )
        except (OSError, ValueError) as exc:
            raise self.error(f"cannot be opened ({_reason(exc)}).") from None


def locate(url: str, storage_options: StorageOptions = ()) -> Any:
    """``url`` resolved to its filesystem (made once per store and options) and path there.

    Examples
    --------
    >>> locate("s3://bucket")
    Traceback (most recent call last):
    ...
    cecli.errors.InputError: s3://bucket: names a bucket (or container), not a file: ...
    """
    scheme = scheme_of(url)
    if scheme is None:
        raise InputError(url, "is not a URL cecli reads (s3://, gs://, abfs://, https://, hf://).")
    _refuse_secrets(url)
    if scheme in FSSPEC_SCHEMES:
        from cecli.readers import _fsspec

        return _fsspec.locate(url, scheme, storage_options)
    # no settings in a query (?region=...): "?" is a wildcard, as in a local pattern
    store, _, key = url.split("://", 1)[1].partition("/")
    if not store or not key.strip("/"):
        raise InputError(
            url, "names a bucket (or container), not a file: give the file's key after it."
        )
    try:
        if storage_options:
            # a URL's store is the bucket (abfs: container@account, the path starting at the
            # container)
            filesystem, base = _configured(scheme, storage_options), store.split("@")[0]
        else:
            filesystem, base = _from_uri(f"{scheme}://{store}")
    except OptionError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(url, f"cannot be reached ({_reason(exc)}).") from None
    return Remote(url, filesystem, f"{base.rstrip('/')}/{unquote(key)}")


#: Query settings that hold a credential (pyarrow takes some of them in a URL).
_SECRET_KEYS = re.compile(r"secret|token|password|access_key|sas|credential|key$", re.IGNORECASE)


def _refuse_secrets(url: str) -> None:
    """An error for a URL that holds a credential, which would show in every report of it.

    Examples
    --------
    >>> _refuse_secrets("s3://AKIA:hunter2@bucket/preds.parquet")
    Traceback (most recent call last):
    ...
    cecli.errors.InputError: s3://***@bucket/preds.parquet: holds credentials; ...
    >>> _refuse_secrets("https://user:hunter2@example.org/preds.parquet")
    Traceback (most recent call last):
    ...
    cecli.errors.InputError: https://***@example.org/preds.parquet: holds credentials; ...
    >>> _refuse_secrets("abfs://container@account.dfs.core.windows.net/preds.parquet")
    """
    scheme, rest = url.split("://", 1)
    store, slash, path = rest.partition("/")
    user, at, host = store.rpartition("@")
    path, _, query = path.partition("?")
    settings = [pair.partition("=") for pair in query.split("&") if pair]
    hidden = [key for key, _, _ in settings if _SECRET_KEYS.search(key)]
    if not (at and ":" in user) and not hidden:
        return
    shown_query = "&".join(k + "=" + ("***" if k in hidden else v) for k, _, v in settings)
    shown = f"{scheme}://{'***@' if at and ':' in user else user + at}{host}{slash}{path}"
    how = {
        "http": "as a header: --storage-option 'header.Authorization=Bearer ...' (or Basic ...)",
        "https": "as a header: --storage-option 'header.Authorization=Bearer ...' (or Basic ...)",
        "hf": "the Hub's way: HF_TOKEN, `hf auth login`, or --storage-option token=...",
    }.get(scheme.lower(), "the standard way (the AWS variables or config files), or with "
          "--storage-option")  # fmt: skip
    raise InputError(
        shown + (f"?{shown_query}" if query else ""),
        "holds credentials; they would be shown wherever the URL is (reports, messages). "
        f"Give them {how}.",
    )


@functools.lru_cache(maxsize=64)
def _from_uri(store: str) -> tuple[Any, str]:
    """The filesystem of one bucket, as pyarrow makes it from a URL (its region looked up).

    Cached: two thousand shards in one bucket make one filesystem (one client), not
    two thousand.
    """
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(store)


def _configured(scheme: str, storage_options: StorageOptions) -> Any:
    """The filesystem ``--storage-option`` describes (the AWS endpoint variables still apply)."""
    kwargs = {key: _value(value) for key, value in storage_options}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if SCHEMES[scheme] == "S3FileSystem" and endpoint and "endpoint_override" not in kwargs:
        # pyarrow reads the variable for a URL, but not when a filesystem is made from settings
        head, sep, host = endpoint.partition("://")
        kwargs["endpoint_override"] = host.rstrip("/") if sep else head
        if sep:
            kwargs.setdefault("scheme", head)
    return _made(scheme, tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=64)
def _made(scheme: str, settings: tuple[tuple[str, Any], ...]) -> Any:
    import pyarrow.fs as pafs

    name = SCHEMES[scheme]
    cls = getattr(pafs, name, None)
    if cls is None:
        raise OptionError(f"this pyarrow cannot read {scheme}:// URLs; upgrade pyarrow.")
    try:
        return cls(**dict(settings))
    except TypeError:
        keys = ", ".join(key for key, _ in settings)
        raise OptionError(
            f"--storage-option: pyarrow.fs.{name} does not take one of {keys}; its "
            "documentation lists the settings it takes."
        ) from None


def glob(pattern: str, storage_options: StorageOptions = ()) -> list[str]:
    """The files a remote pattern (or a prefix, as a folder) names, as URLs in sorted order.

    Wildcards are those of :func:`glob.glob`: ``*`` and ``?`` within one
    level, ``[...]`` a character class, ``**`` any number of levels.
    """
    import pyarrow.fs as pafs

    if scheme_of(pattern) in ("http", "https"):
        from cecli.readers import _fsspec

        raise _fsspec.no_listing(pattern)
    remote = locate(pattern, storage_options)
    # a listed path is the store's (bucket/key): the URL is the pattern's up to the bucket
    store_url = remote.url.split("://", 1)[0] + "://" + remote.url.split("://", 1)[1].split("/")[0]
    bucket = remote.path.split("/", 1)[0]
    parts = remote.path.split("/")
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    base = "/".join(fixed)
    wild = len(fixed) < len(parts)
    selector = pafs.FileSelector(base, recursive=wild, allow_not_found=True)
    try:
        infos = remote.filesystem.get_file_info(selector)
    except (OSError, ValueError) as exc:
        raise remote.error(f"cannot be listed ({_reason(exc)}).") from None
    files = [i.path for i in infos if i.type == pafs.FileType.File]
    if wild:
        matcher = re.compile(_translate(remote.path))
        files = [f for f in files if matcher.fullmatch(f)]
    else:  # a prefix: the files directly in it, as a folder's
        files = [f for f in files if not hidden(f.rsplit("/", 1)[-1])]
    return [store_url + f[len(bucket) :] for f in sorted(files)]


def is_folder(url: str, storage_options: StorageOptions = ()) -> bool:
    """Whether ``url`` is a prefix holding files (an S3 "folder"), not an object."""
    import pyarrow.fs as pafs

    if scheme_of(url) in ("http", "https"):
        return False  # HTTP cannot list: a URL is one file
    return locate(url, storage_options).info().type == pafs.FileType.Directory


def _translate(pattern: str) -> str:
    """A glob pattern as a regular expression over ``/``-separated paths.

    Examples
    --------
    >>> bool(re.fullmatch(_translate("b/p/*.parquet"), "b/p/x.parquet"))
    True
    >>> bool(re.fullmatch(_translate("b/p/*.parquet"), "b/p/q/x.parquet"))
    False
    >>> bool(re.fullmatch(_translate("b/**/*.npy"), "b/q/r/x.npy"))
    True
    """
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        j = 0
        while j < len(part):
            ch = part[j]
            if ch == "*":
                out.append("[^/]*")
            elif ch == "?":
                out.append("[^/]")
            elif (ch == "[" and "]" in part[j + 2 :]) or part[j + 1 : j + 2] == "]":
                end = part.index("]", j + 2)
                body = part[j + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                j = end
            else:
                out.append(re.escape(ch))
            j += 1
        if not last:
            out.append("/")
    return "".join(out)


def stamp(url: str, storage_options: StorageOptions = ()) -> tuple[object, ...]:
    """``(size, modification time in ns, 0)`` of a remote file: what tells that it changed.

    Over HTTP and the Hub, ``(size, validator)``: the ETag (or the Hub's blob id, or the
    Last-Modified date), looked up afresh.
    """
    remote = locate(url, storage_options)
    if through_fsspec(url):
        return remote.stamp()
    info = remote.check_file()
    return int(info.size or 0), int(info.mtime_ns or 0), 0


def _reason(exc: BaseException) -> str:
    """pyarrow's (or the store's) message on one line, credentials blotted out."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_ACCOUNT_KEY"):
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text or type(exc).__name__
