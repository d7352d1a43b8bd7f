"""The one home of fsspec/s3fs: filesystems from URIs, byte reads, atomic writes, safe output names.

Credentials and endpoints come from the standard AWS environment/config files, plus the job's
``storage_options`` (a JSON object handed to fsspec, e.g. ``{"endpoint_url": "http://..."}``).
Nothing here logs or stores them.

Transient storage errors (connection refused or reset, timeouts: an S3 endpoint restarting, a network
blip) are retried with doubling delays until ``DDNM_STORAGE_RETRY_S`` seconds (default
:data:`DEFAULT_RETRY_S`) have passed, on top of botocore's own quick retries (~8 s); permanent errors
(permission, read-only file system, missing bucket, not a folder) are raised at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import posixpath
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import fsspec
from fsspec.core import split_protocol

LOCAL_PROTOCOLS = (None, "file", "local")

DEFAULT_RETRY_S = 60.0  # the longest an S3 outage may last before a read or write counts as failed
RETRY_ENV = "DDNM_STORAGE_RETRY_S"
FIRST_RETRY_DELAY_S = 0.5
READ_MANY_CHUNK = 256  # files fetched at once by read_many: bounded memory, and a retry repeats at most these
# Exceptions that mean "try again": by class name, so botocore/aiohttp need not be imported here.
TRANSIENT_NAMES = frozenset({
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
    "ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "ServerTimeoutError",
})  # fmt: skip
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED})

T = TypeVar("T")
_BUDGET: contextvars.ContextVar[float | None] = contextvars.ContextVar("storage_retry_budget", default=None)

# Output names: slug of the id (readable) + hash of the id (unique, so two ids that slugify
# alike never collide). Slugs are cut so names stay well under common 255-byte limits.
SLUG_MAX = 64
ID_HASH_CHARS = 12


def is_local(uri: str) -> bool:
    return split_protocol(uri)[0] in LOCAL_PROTOCOLS


def filesystem_for(uri: str, storage_options: dict | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(filesystem, path)`` for ``uri``; storage options apply to remote protocols only."""
    options = {} if is_local(uri) else dict(storage_options or {})
    return fsspec.core.url_to_fs(uri, **options)


def normalize(uri: str) -> str:
    """A canonical spelling: absolute real path for local files, ``proto://path`` otherwise."""
    protocol, path = split_protocol(uri)
    if protocol in LOCAL_PROTOCOLS:
        return os.path.realpath(os.path.expanduser(path))
    return f"{protocol}://{path.rstrip('/')}"


def join(base: str, *parts: str) -> str:
    """Join URI parts with ``/`` (local paths too; fsspec accepts them on every platform)."""
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def parent(uri: str) -> str:
    protocol, path = split_protocol(uri)
    if protocol in LOCAL_PROTOCOLS:
        return os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    return f"{protocol}://{posixpath.dirname(path.rstrip('/'))}"


def resolve(uri: str, base_dir: str) -> str:
    """Absolute form of ``uri``: URIs with a protocol stay; relative paths are taken relative to
    ``base_dir`` (the manifest's folder, so a manifest travels with its images)."""
    protocol, path = split_protocol(uri)
    if protocol not in LOCAL_PROTOCOLS:
        return uri
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return os.path.abspath(path)
    if is_local(base_dir):
        return os.path.abspath(os.path.join(split_protocol(base_dir)[1], path))
    return join(base_dir, path)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error may go away on its own (a retry is worth it)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if any(cls.__name__ in TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry_budget_s() -> float:
    """Seconds a storage call may keep retrying: :func:`retry_budget` if set, else ``DDNM_STORAGE_RETRY_S``."""
    budget = _BUDGET.get()
    return float(os.environ.get(RETRY_ENV, DEFAULT_RETRY_S)) if budget is None else budget


@contextlib.contextmanager
def retry_budget(seconds: float) -> Iterator[None]:
    """Storage calls inside (this thread) retry for at most ``seconds`` (the pre-flight probe is short)."""
    token = _BUDGET.set(seconds)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def retrying(action: Callable[[], T]) -> T:
    """``action()``, retried with doubling delays after transient errors until the budget's deadline."""
    deadline, delay = time.monotonic() + retry_budget_s(), FIRST_RETRY_DELAY_S
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay *= 2


def read_bytes(uri: str, storage_options: dict | None = None) -> bytes:
    fs, path = filesystem_for(uri, storage_options)
    return retrying(lambda: fs.cat_file(path))


def read_many(uris: list[str], storage_options: dict | None = None, chunk: int = READ_MANY_CHUNK) -> Iterator[bytes]:
    """The bytes of each of ``uris`` (files under one folder), in order. On an object store fsspec fetches each
    ``chunk`` concurrently: the ledger's many small parts cost one round trip's latency a chunk, not one a part
    (500 parts from a local moto server, which answers about one request at a time: 5.1 s one by one, 4.1 s)."""
    if not uris:
        return
    fs, _ = filesystem_for(uris[0], storage_options)
    for start in range(0, len(uris), chunk):
        paths = [filesystem_for(u, storage_options)[1] for u in uris[start:start + chunk]]
        found = retrying(lambda: fs.cat(paths, on_error="raise"))
        yield from (found[p] for p in paths)


def write_bytes_atomic(
    uri: str, data: bytes, storage_options: dict | None = None, content_type: str | None = None
) -> None:
    """Write ``data`` so readers see the old file or the whole new one, never a part.

    Local: write a hidden temp file in the same directory, then ``os.replace`` (atomic on POSIX
    and Windows within one filesystem). Object stores: a single PUT is already atomic.
    ``content_type`` is stored with S3 objects (a static bucket serves HTML only if it says so).
    """
    fs, path = filesystem_for(uri, storage_options)
    if not is_local(uri):
        s3 = content_type and split_protocol(uri)[0] in ("s3", "s3a")
        retrying(lambda: fs.pipe_file(path, data, **({"ContentType": content_type} if s3 else {})))
        return
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    # Leading dot: pyarrow dataset readers and our ledger ignore hidden files.
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def list_files(dir_uri: str, storage_options: dict | None = None) -> list[str]:
    """Full URIs of the files directly under ``dir_uri`` (empty if it does not exist)."""
    fs, path = filesystem_for(dir_uri, storage_options)
    try:
        entries = retrying(lambda: fs.ls(path, detail=True))
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "file"]
    return sorted(join(dir_uri, n) for n in names)


def exists(uri: str, storage_options: dict | None = None) -> bool:
    fs, path = filesystem_for(uri, storage_options)
    return retrying(lambda: fs.exists(path))


def remove(uri: str, storage_options: dict | None = None) -> None:
    fs, path = filesystem_for(uri, storage_options)
    retrying(lambda: fs.rm_file(path))


def remove_many(uris: list[str], storage_options: dict | None = None) -> int:
    """Delete ``uris`` (files under one folder; S3 deletes up to 1000 a request) and return how many are still
    there: a batch that fails is retried one file at a time, and a file already gone counts as deleted."""
    if not uris:
        return 0
    fs, _ = filesystem_for(uris[0], storage_options)
    paths = [filesystem_for(u, storage_options)[1] for u in uris]
    try:
        retrying(lambda: fs.rm(paths))
        return 0
    except (OSError, ValueError):  # ValueError: a folder among them (fsspec's local rm)
        left = 0
        for uri in uris:
            try:
                remove(uri, storage_options)
            except FileNotFoundError:
                pass
            except (OSError, ValueError):
                left += 1
        return left


def slugify(text: str) -> str:
    """ASCII letters, digits, ``.``, ``_`` and ``-`` only; no leading dots, never empty.

    Separators and ``..`` can never survive, so an id cannot climb out of the output folder.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text)
    slug = re.sub(r"\.{2,}", ".", slug).strip(".-_")[:SLUG_MAX].strip(".-_")
    return slug or "item"


def output_name(row_id: str, suffix: str = ".png") -> str:
    """File name for a row's output: ``<slug>-<sha256(id)[:12]><suffix>``; unique per id."""
    digest = hashlib.sha256(row_id.encode("utf-8")).hexdigest()[:ID_HASH_CHARS]
    return f"{slugify(row_id)}-{digest}{suffix}"


def images_dir(out_uri: str) -> str:
    return join(out_uri, "images")


def output_uri_for(out_uri: str, row_id: str, suffix: str = ".png") -> str:
    """Where a row's restored image goes: ``OUT/images/<slug>-<hash>.png`` (``.tif`` for TIFF outputs)."""
    return join(images_dir(out_uri), output_name(row_id, suffix))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
