"""On-disk cache for expensive symbolic derivations.

High-order derivations (for example the B-series coefficients of a modified
equation to order 12, rendered as strings of exact rationals) are stored as
one small JSON file per key.  Nothing is ever unpickled or evaluated: a cache
file holds plain JSON data with an integrity check, and anything that does not
verify is reported with a ``CacheWarning``, removed and recomputed.

File layout
-----------
The file for a key ``k`` (a dict of plain JSON data such as
``{"kind": "modified_equation", "method": "rk4", "order": 12}``) is
``<directory>/<sha256(canonical_json(k))>.json`` and contains::

    {"format": "bea-cache", "version": 1, "key": k,
     "sha256": sha256(canonical_json(payload)), "payload": payload}

where ``canonical_json`` is compact JSON with sorted keys.  A file whose
version differs from ``CACHE_FORMAT_VERSION`` is a miss and is
overwritten by the next store; a file that is not valid JSON, lacks a field,
names another key or fails the digest check is reported, removed and treated
as a miss.

Decoding and meaning
--------------------
The digest only proves that a file is self-consistent: someone who rewrites
an entry can recompute it. ``DiskCache.get_or_compute`` therefore takes
an optional ``decode(payload)`` that turns a payload into the value returned
and checks its meaning (types, lengths, invariants, spot checks); a
``ValueError``, ``TypeError``, ``ArithmeticError`` or ``RecursionError``
from it is treated exactly like a bad digest: warned about, removed,
recomputed and rewritten.

Special files
-------------
Entries are opened with ``O_NOFOLLOW | O_NONBLOCK``, so a symbolic link or a
FIFO in place of an entry is neither followed nor waited on; anything that is
not a regular file, or is larger than ``max_bytes`` (``MAX_ENTRY_BYTES``
by default), is a miss and is replaced by the next store. Reading stops after
``max_bytes``. A directory in place of an entry is a miss for that key only;
the cache stays on. Temporary files left by a writer that was killed are
removed by the next store once they are ``ORPHAN_AGE`` seconds old, and
lock files are opened without following links.

Location and switches
---------------------
The directory is ``platformdirs.user_cache_dir("bea")``, or the value of the
environment variable ``BEA_CACHE_DIR`` if set.  ``BEA_CACHE=0`` (or ``off``,
``false``, ``no``) disables the cache.

Concurrency
-----------
Files are written to a temporary file in the same directory, flushed,
``fsync``-ed and moved into place with ``os.replace``, so readers see
either the old or the new complete file.  ``DiskCache.get_or_compute``
additionally holds an advisory lock (``fcntl.flock`` on ``<hash>.lock``)
while it computes and stores, so that concurrent processes asking for the
same key compute it once.  Where ``fcntl`` is unavailable the lock is skipped:
results stay correct but may be computed more than once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import platformdirs

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CACHE_FORMAT_VERSION",
    "DECODE_ERRORS",
    "MAX_ENTRY_BYTES",
    "ORPHAN_AGE",
    "CacheWarning",
    "DiskCache",
    "default_cache",
]

#: Version of the on-disk format; files with another version are misses.
CACHE_FORMAT_VERSION = 1
_FORMAT = "bea-cache"
_DISABLING_VALUES = frozenset({"0", "off", "false", "no"})
_ENTRY_RE = re.compile(r"[0-9a-f]{64}\.(json|lock)\Z")
_TEMP_RE = re.compile(r"\.[0-9a-f]{64}\..*\.tmp\Z")
_MISS = object()
#: Largest entry read, in bytes (64 MiB: a modified equation to order 15, about
#: 380 000 trees, is about 15 MB).
MAX_ENTRY_BYTES = 64 * 2**20
#: Age in seconds after which a leftover temporary file is removed by a store.
ORPHAN_AGE = 3600.0
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
#: What a ``decode`` callable may raise to say that a payload is invalid.
DECODE_ERRORS = (ValueError, TypeError, ArithmeticError, RecursionError, KeyError, IndexError)


class CacheWarning(UserWarning):
    """A cache file was invalid, or the cache directory is unusable.

    The derivation goes on without the cache; the warning names the file or
    directory and the reason.
    """


# --------------------------------------------------------------------------- JSON


def _check_json(value: object, where: str) -> None:
    """Raise TypeError/ValueError unless `value` is plain JSON data."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is {value!r}, which JSON cannot represent; "
                "store it as a string such as 'nan' or 'inf'"
            )
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"{where} has the key {k!r} of type {type(k).__name__}; "
                    "JSON object keys must be str, convert it with str(...)"
                )
            _check_json(item, f"{where}[{k!r}]")
        return
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(
        f"{where} is a {kind}, which is not JSON data (None, bool, int, float, str, "
        "list, tuple or dict with str keys); convert it first, e.g. exact sympy "
        "numbers with str(...) and numpy scalars with .item()"
    )


def _canonical(value: object, what: str) -> str:
    _check_json(value, what)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_key(key: object) -> str:
    if not isinstance(key, Mapping):
        raise TypeError(
            f"a cache key must be a dict of JSON data, such as "
            f"{{'kind': 'modified_equation', 'order': 12}}; got {type(key).__name__}"
        )
    return _canonical(dict(key), "key")


# --------------------------------------------------------------------------- cache


class DiskCache:
    """A directory of integrity-checked JSON files, one per key.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Where the files live.  Defaults to ``$BEA_CACHE_DIR`` if set, else
        ``platformdirs.user_cache_dir("bea")``.  Created on first store.
    enabled : bool, optional
        Whether to read and write at all.  Defaults to true unless
        ``$BEA_CACHE`` is ``0``, ``off``, ``false`` or ``no``.
    max_bytes : int, optional
        Largest entry read (default ``MAX_ENTRY_BYTES``); larger files
        are misses.

    Notes
    -----
    Keys are dicts of plain JSON data; payloads are plain JSON data (tuples
    are stored as lists).  Both are checked before anything is written, so a
    non-serialisable payload fails the same way whether or not the cache is
    enabled.  Returned payloads are always the JSON round trip of what was
    stored, so a hit and a miss return equal values.

    If the directory cannot be written, one ``CacheWarning`` is issued
    and the instance carries on without the cache.

    Examples
    --------
    >>> import tempfile
    >>> cache = DiskCache(tempfile.mkdtemp(), enabled=True)
    >>> key = {"kind": "example", "order": 2}
    >>> cache.get_or_compute(key, lambda: {"coefficients": ["1/2", "1/12"]})
    {'coefficients': ['1/2', '1/12']}
    >>> cache.get(key)
    {'coefficients': ['1/2', '1/12']}
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        enabled: bool | None = None,
        max_bytes: int = MAX_ENTRY_BYTES,
    ):
        if directory is None:
            directory = os.environ.get("BEA_CACHE_DIR") or _platform_cache_dir()
        if enabled is None:
            enabled = os.environ.get("BEA_CACHE", "").strip().lower() not in _DISABLING_VALUES
        self.directory = Path(directory).expanduser()
        self.enabled = bool(enabled)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._unusable: str | None = None  # reason, once the directory failed

    def __repr__(self) -> str:
        state = "enabled" if self.active else "disabled"
        return f"DiskCache({str(self.directory)!r}, {state})"

    @property
    def active(self) -> bool:
        """Whether the cache is enabled and its directory has not failed."""
        return self.enabled and self._unusable is None

    # -- paths

    def path_for(self, key: Mapping[str, Any]) -> Path:
        """The file that stores `key`: ``<directory>/<sha256 of the canonical key>.json``."""
        return self.directory / f"{_digest(_check_key(key))}.json"

    # -- reading

    def get(self, key: Mapping[str, Any]) -> Any:
        """Return the stored payload for `key`, or ``None`` on a miss.

        A stored ``None`` payload is indistinguishable from a miss here; use
        ``get_or_compute`` to cache such values.
        """
        value = self._load(key)
        return None if value is _MISS else value

    def _load(self, key: Mapping[str, Any]) -> Any:
        canonical_key = _check_key(key)
        if not self.active:
            return _MISS
        path = self.directory / f"{_digest(canonical_key)}.json"
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return _MISS
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symbolic link: never followed
                try:
                    link = os.lstat(path)
                except OSError:
                    return _MISS
                return self._reject(path, link, "a symbolic link, not a regular file")
            if exc.errno in (errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
                return _MISS  # a socket or another special file: replaced by the next store
            self._disable(f"cannot read {path}: {exc}")
            return _MISS
        try:
            identity = os.fstat(fd)
            if not stat.S_ISREG(identity.st_mode):
                if stat.S_ISDIR(identity.st_mode):
                    return _MISS  # cannot be replaced by a file: this key is not cached
                return self._reject(path, identity, "not a regular file (a FIFO or a device)")
            if identity.st_size > self.max_bytes:
                return self._reject(
                    path, identity, f"{identity.st_size} bytes, more than {self.max_bytes}"
                )
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read(self.max_bytes + 1)
        except OSError as exc:
            self._disable(f"cannot read {path}: {exc}")
            return _MISS
        finally:
            os.close(fd)
        if len(raw) > self.max_bytes:  # grew while being read
            return self._reject(path, identity, f"more than {self.max_bytes} bytes")
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return self._reject(path, identity, f"not valid JSON (truncated or corrupted: {exc})")
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return self._reject(path, identity, f"not a {_FORMAT} file")
        version = entry.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            return self._reject(path, identity, f"invalid version field {version!r}")
        if version != CACHE_FORMAT_VERSION:
            return _MISS  # another format version: recomputed and overwritten
        missing = [f for f in ("key", "sha256", "payload") if f not in entry]
        if missing:
            return self._reject(path, identity, f"missing field(s) {', '.join(missing)}")
        try:
            stored_key = _canonical(entry["key"], "stored key")
            payload_text = _canonical(entry["payload"], "stored payload")
        except (TypeError, ValueError, RecursionError) as exc:  # e.g. NaN, deep nesting
            return self._reject(path, identity, f"invalid content: {exc}")
        if stored_key != canonical_key:
            return self._reject(
                path, identity, f"it stores the key {stored_key}, not {canonical_key}"
            )
        if entry["sha256"] != _digest(payload_text):
            return self._reject(
                path, identity, "the payload does not match its sha256 digest (modified file)"
            )
        return entry["payload"]

    def _reject(self, path: Path, identity: os.stat_result, reason: str) -> object:
        warnings.warn(
            f"ignoring invalid cache file {path}: {reason}; it is removed and the value recomputed",
            CacheWarning,
            stacklevel=4,
        )
        # Remove the file unless another process has replaced it meanwhile
        # (lstat and unlink act on a symbolic link itself, never on its target).
        with contextlib.suppress(OSError):
            current = os.lstat(path)
            if (current.st_ino, current.st_dev, current.st_mtime_ns) == (
                identity.st_ino,
                identity.st_dev,
                identity.st_mtime_ns,
            ):
                os.unlink(path)
        return _MISS

    # -- writing

    def put(self, key: Mapping[str, Any], payload: Any) -> None:
        """Store `payload` under `key`, atomically replacing any previous file.

        Raises
        ------
        TypeError, ValueError
            If `key` or `payload` is not plain JSON data; the message names
            the offending element.
        """
        canonical_key = _check_key(key)
        payload_text = _canonical(payload, "payload")
        self._store(canonical_key, payload_text)

    def _store(self, canonical_key: str, payload_text: str) -> None:
        if not self.active:
            return
        name = _digest(canonical_key)
        entry = (
            f'{{"format":"{_FORMAT}","version":{CACHE_FORMAT_VERSION},"key":{canonical_key},'
            f'"sha256":"{_digest(payload_text)}","payload":{payload_text}}}\n'
        )
        tmp_name = None
        target = self.directory / f"{name}.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_orphans()
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.directory, prefix=f".{name}.", suffix=".tmp", delete=False
            ) as tmp:
                tmp_name = tmp.name
                tmp.write(entry.encode("utf-8"))
                tmp.flush()
                os.fsync(tmp.fileno())
            try:
                os.replace(tmp_name, target)
            except OSError as exc:
                if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise
                warnings.warn(
                    f"cannot store {target}: a directory is in its place; this value is not "
                    "cached (remove the directory to cache it)",
                    CacheWarning,
                    stacklevel=4,
                )
                return
            tmp_name = None
        except OSError as exc:
            self._disable(f"cannot write to {self.directory}: {exc}")
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)

    def _remove_orphans(self) -> None:
        """Remove temporary files older than ``ORPHAN_AGE`` (left by killed writers)."""
        cutoff = time.time() - ORPHAN_AGE
        with contextlib.suppress(OSError):
            for item in os.scandir(self.directory):
                if not _TEMP_RE.match(item.name):
                    continue
                with contextlib.suppress(OSError):
                    info = item.stat(follow_symlinks=False)
                    if info.st_mtime < cutoff and not stat.S_ISDIR(info.st_mode):
                        os.unlink(item.path)

    def get_or_compute(
        self,
        key: Mapping[str, Any],
        compute: Callable[[], Any],
        decode: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Return the payload for `key`, calling ``compute()`` and storing it on a miss.

        Concurrent callers (threads or processes) asking for the same key
        wait for one another, so ``compute`` runs once where ``fcntl`` is
        available.  ``compute`` must not itself ask for the same key.

        ``decode(payload)``, if given, turns the payload into the value
        returned and checks its meaning; if it raises one of
        ``DECODE_ERRORS`` on a stored payload, the entry is reported with
        a ``CacheWarning``, removed, recomputed and rewritten.

        Returns
        -------
        The payload as stored, i.e. its JSON round trip (tuples become lists),
        or ``decode`` of it.

        Raises
        ------
        TypeError, ValueError
            If `key` or the computed payload is not plain JSON data.
        """
        canonical_key = _check_key(key)
        value = self._decoded(key, decode)
        if value is not _MISS:
            return value
        with self._lock(_digest(canonical_key)):
            value = self._decoded(key, decode)  # another process may have stored it meanwhile
            if value is not _MISS:
                return value
            payload_text = _canonical(compute(), "computed payload")
            self._store(canonical_key, payload_text)
        payload = json.loads(payload_text)
        return payload if decode is None else decode(payload)

    def _decoded(self, key: Mapping[str, Any], decode: Callable[[Any], Any] | None) -> Any:
        path = self.directory / f"{_digest(_check_key(key))}.json"
        before = _identity(path)
        payload = self._load(key)
        if payload is _MISS or decode is None:
            return payload
        try:
            return decode(payload)
        except DECODE_ERRORS as exc:
            if before is None:
                return _MISS
            return self._reject(path, before, f"the payload does not check out ({exc})")

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        if fcntl is None or not self.active:
            yield
            return
        path = self.directory / f"{name}.lock"
        flags = (_OPEN_FLAGS & ~os.O_RDONLY) | os.O_RDWR | os.O_CREAT
        fd = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for _ in range(2):
                try:
                    fd = os.open(path, flags, 0o644)
                    break
                except OSError as exc:
                    if exc.errno != errno.ELOOP:  # e.g. a directory: go on without the lock
                        if exc.errno in (errno.EISDIR, errno.ENXIO, errno.EWOULDBLOCK):
                            break
                        raise
                    os.unlink(path)  # a symbolic link: removed, never followed
        except OSError as exc:
            self._disable(f"cannot write to {self.directory}: {exc}")
            yield
            return
        if fd is None:
            yield
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                with contextlib.suppress(OSError):  # e.g. file systems without locks
                    fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # -- maintenance

    def clear(self) -> int:
        """Remove every cache, lock and leftover temporary file; return how many.

        Only files named like this cache's own files are touched, so pointing
        ``BEA_CACHE_DIR`` at a shared directory is safe; symbolic links are
        removed themselves (never their targets) and directories are kept.
        """
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return 0
        for entry in entries:
            if not (_ENTRY_RE.match(entry.name) or _TEMP_RE.match(entry.name)):
                continue
            if entry.is_dir(follow_symlinks=False):
                continue  # never removes directories
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)  # a link is removed itself, never its target
                removed += 1
        return removed

    def info(self) -> dict[str, Any]:
        """What the cache holds: directory, state, entry count, bytes, leftover files.

        Returns a dict of JSON data: ``directory``, ``enabled``, ``active``,
        ``entries`` (``<hash>.json`` files), ``bytes`` (their total size),
        ``locks``, ``temporary`` (leftover ``.tmp`` files) and ``other``
        (anything in the directory that is not a regular file of this cache).
        """
        out: dict[str, Any] = {
            "directory": str(self.directory),
            "enabled": self.enabled,
            "active": self.active,
            "entries": 0,
            "bytes": 0,
            "locks": 0,
            "temporary": 0,
            "other": 0,
        }
        try:
            items = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return out
        for item in items:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            regular = stat.S_ISREG(info.st_mode)
            if regular and item.name.endswith(".json") and _ENTRY_RE.match(item.name):
                out["entries"] += 1
                out["bytes"] += info.st_size
            elif regular and _ENTRY_RE.match(item.name):
                out["locks"] += 1
            elif regular and _TEMP_RE.match(item.name):
                out["temporary"] += 1
            elif _ENTRY_RE.match(item.name) or _TEMP_RE.match(item.name):
                out["other"] += 1
        return out

    def _disable(self, reason: str) -> None:
        if self._unusable is None:
            self._unusable = reason
            warnings.warn(
                f"{reason}; continuing without the disk cache (set BEA_CACHE_DIR to a "
                "writable directory, or BEA_CACHE=0 to silence this)",
                CacheWarning,
                stacklevel=4,
            )


def _identity(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _platform_cache_dir() -> str:
    return platformdirs.user_cache_dir("bea")


_DEFAULTS: dict[tuple[str, bool], DiskCache] = {}


def default_cache() -> DiskCache:
    """The cache configured by the environment.

    Reads ``BEA_CACHE_DIR`` and ``BEA_CACHE`` on every call and returns one
    shared ``DiskCache`` per configuration, so that an unusable
    directory is reported only once.

    Examples
    --------
    >>> default_cache() is default_cache()
    True
    """
    cache = DiskCache()
    config = (str(cache.directory), cache.enabled)
    return _DEFAULTS.setdefault(config, cache)
