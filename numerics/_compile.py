"""Compile once: JAX's persistent compilation cache, and compiled sweep kernels kept per process.

Persistent cache
----------------
XLA compilation of a sweep kernel takes most of a short sweep's time, and the
kernel is the same on every run of the same problem (step sizes, step counts
and the horizon are data, see ``numerics._sweep``). ``enable_persistent_cache``
points JAX's persistent compilation cache (``jax_compilation_cache_dir``) at
``<user cache dir>/bea/jax`` (``platformdirs.user_cache_dir("bea")``, the folder
of bea's symbolic cache too), so a second process finds the compiled executable
on disk instead of compiling it again. JAX keys each entry by the program, the
compile options, the backend and the jax/jaxlib versions, so a changed program
never reuses a stale executable.

Switches (environment variables, read when the cache is first enabled):

* ``BEA_JAX_CACHE=0`` (or ``off``, ``false``, ``no``) leaves JAX's cache alone;
* ``BEA_JAX_CACHE_DIR=/path`` puts it elsewhere;
* a cache directory already configured by the user (``jax_compilation_cache_dir``
  or ``JAX_COMPILATION_CACHE_DIR``) is kept as it is.

The sweep (``numerics.agreement``) and the ``bea verify`` / ``bea demo``
commands enable it; other code can call ``enable_persistent_cache`` itself.

Stored kernels
--------------
``ExportStore`` keeps traced sweep kernels in ``<JAX cache dir>/bea-exported``
(``jax.export``, ``*.jaxexport``), and beside each the executable compiled
from it (``*.jaxexec``, ``jax.experimental.serialize_executable``), named by
the stored program's bytes, the compile options, the device kind and the
versions: a warm process loads the executable and neither traces, lowers nor
looks the program up in JAX's cache (on a 2-core machine the sweep of
``bea verify gd --loss logcosh`` takes 0.2 s instead of 1 s). An executable
that does not load (damaged, another jaxlib) is compiled again and replaced.

Per process
-----------
``KernelCache`` keeps the compiled sweep kernels of this process, keyed
by what determines the program (problem, orders, solver and tolerances, lane
count, devices), so a second sweep of the same problem with other step sizes
or another horizon neither traces nor compiles.

Example
-------
>>> import os
>>> os.environ["BEA_JAX_CACHE"] = "0"
>>> enable_persistent_cache() is None  # switched off: JAX's settings untouched
True
>>> del os.environ["BEA_JAX_CACHE"]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "ExportStore",
    "KernelCache",
    "enable_persistent_cache",
    "export_store",
    "fingerprint",
    "persistent_cache_dir",
]

_OFF = frozenset({"0", "off", "false", "no"})
_enabled: Path | None = None


def persistent_cache_dir() -> Path | None:
    """Where ``enable_persistent_cache`` puts JAX's cache; None when switched off."""
    if os.environ.get("BEA_JAX_CACHE", "").strip().lower() in _OFF:
        return None
    explicit = os.environ.get("BEA_JAX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bea")) / "jax"


def _compiled_files(directory: Path | None) -> list[Path]:
    """Regular files (no links) of JAX's cache folder and its ``bea-exported`` store."""
    files: list[Path] = []
    for folder in () if directory is None else (directory, directory / "bea-exported"):
        if folder.is_symlink() or not folder.is_dir():
            continue
        files.extend(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
    return files


def compiled_cache_info() -> dict:
    """``{"directory", "files", "bytes"}`` of the compiled-program cache (bea's own folder)."""
    directory = persistent_cache_dir()
    files = _compiled_files(directory)
    size = 0
    for f in files:
        with contextlib.suppress(OSError):
            size += f.stat().st_size
    return {
        "directory": None if directory is None else str(directory),
        "files": len(files),
        "bytes": size,
    }


def clear_compiled_cache() -> int:
    """Remove the compiled programs and stored kernels in bea's folder; the number removed.

    Only bea's own folder (``BEA_JAX_CACHE_DIR`` or the user cache folder) is
    touched, never a JAX cache directory configured elsewhere.
    """
    removed = 0
    for f in _compiled_files(persistent_cache_dir()):
        with contextlib.suppress(OSError):
            f.unlink()
            removed += 1
    return removed


def enable_persistent_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache in the user cache folder (see the module doc).

    Returns the directory in use, or None when ``BEA_JAX_CACHE=0`` switches it
    off. A directory the user configured for JAX is kept. Every compiled
    program is cached (no minimum compile time), since the sweep kernels are
    the ones worth keeping and they are small.
    """
    global _enabled
    import jax

    target = persistent_cache_dir()
    if target is None:
        return None
    current = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]
    if current:
        return Path(current)
    if _enabled is not None:
        return _enabled
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unusable folder only costs the cache
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _enabled = target
    return target


class KernelCache:
    """A small LRU of compiled kernels: ``get(key)`` / ``put(key, value)``.

    Values keep the objects their key names by identity (losses given as Python
    functions) alive, so an id in a key is never reused while its entry exists.
    """

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_FINGERPRINT: str | None = None


def fingerprint() -> str:
    """Digest of what a traced sweep kernel depends on besides its key (see the module doc).

    The versions of jax, jaxlib, diffrax, equinox and sympy, the float64
    switch, and the contents of the ``.py`` files of ``bea`` and ``numerics``
    (read once per process, a few milliseconds).
    """
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from importlib import metadata

        import jax

        import bea

        digest = hashlib.sha256()
        for name in ("jax", "jaxlib", "diffrax", "equinox", "sympy"):
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                version = "-"
            digest.update(f"{name}={version};".encode())
        digest.update(f"x64={bool(jax.config.jax_enable_x64)};".encode())  # type: ignore[attr-defined]
        for package in (Path(bea.__file__).parent, Path(__file__).parent):
            for path in sorted(package.rglob("*.py")):
                digest.update(str(path.relative_to(package.parent)).encode())
                digest.update(path.read_bytes())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


class ExportStore:
    """Traced kernels on disk, exported with ``jax.export`` (see the module doc).

    ``get_or_export(key, export, check)``: the ``jax.export.Exported`` stored
    under ``key`` (any text that names the program in every process alike),
    or ``export()``'s, which is then stored. ``check(exported)`` returns False
    for a program that does not fit (other argument shapes): it is replaced.
    Without a directory (``BEA_JAX_CACHE=0``) or without ``flatbuffers``,
    ``export()`` is returned and nothing is stored.
    """

    def __init__(self, directory: Path | None):
        self.directory = directory

    def path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        name = hashlib.sha256(f"{fingerprint()}\n{key}".encode()).hexdigest()
        return self.directory / f"{name}.jaxexport"

    def get_or_export(self, key: str, export: Callable, check: Callable):
        from jax import export as jax_export

        path = self.path(key)
        if path is not None and path.is_file():
            try:
                found = jax_export.deserialize(bytearray(path.read_bytes()))
                if check(found):
                    return found
            except (ImportError, OSError):
                return export()
            except Exception:  # an unreadable or foreign file: replaced below
                pass
        exported = export()
        if path is None:
            return exported
        try:
            blob = exported.serialize()
        except ImportError:  # serialisation needs flatbuffers
            return exported
        if not _write_atomic(path, blob):
            return exported  # an unusable folder only costs the store
        # the program as a later process will read it: one lowering for both
        return jax_export.deserialize(bytearray(blob))

    def _executable_path(self, key: str, context: str) -> Path | None:
        """Where the executable compiled from the program stored under ``key`` is kept.

        Named by the stored program's bytes (so a replaced or damaged program
        never finds an executable of another), ``context`` (compile options,
        device kind) and the fingerprint (versions of jax and jaxlib).
        """
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        digest = hashlib.sha256(f"{fingerprint()}\n{context}\n".encode())
        digest.update(path.read_bytes())
        return self.directory / f"{digest.hexdigest()}.jaxexec"  # type: ignore[operator]

    def load_executable(self, key: str, context: str, devices: list):
        """The compiled executable kept for the program under ``key``, or None.

        Loading it skips lowering the stored program and JAX's cache look-up
        (about 0.5 s of a warm ``bea verify`` on a 2-core machine). The file is
        a pickle (``jax.experimental.serialize_executable``): like JAX's own
        cache, the folder must be the user's own.
        """
        try:
            found = self._executable_path(key, context)
            if found is None or not found.is_file():
                return None
            import pickle

            from jax.experimental import serialize_executable

            payload, in_tree, out_tree = pickle.loads(found.read_bytes())
            return serialize_executable.deserialize_and_load(
                payload, in_tree, out_tree, backend=devices[0].client, execution_devices=devices
            )
        except Exception:  # unreadable, foreign or from another jaxlib: compiled again
            return None

    def save_executable(self, key: str, context: str, compiled) -> bool:
        """Keep ``compiled`` (compiled from the program under ``key``); False where it cannot be."""
        try:
            target = self._executable_path(key, context)
            if target is None:
                return False
            import pickle

            from jax.experimental import serialize_executable

            blob = pickle.dumps(serialize_executable.serialize(compiled))
        except Exception:  # a backend or program without serialisation: nothing kept
            return False
        return _write_atomic(target, blob)


def _write_atomic(path: Path, blob: bytes) -> bool:
    """Write ``blob`` to ``path`` through a temporary file in its folder; False on OSError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def export_store() -> ExportStore:
    """The store in ``<JAX cache dir>/bea-exported`` of the cache in use (None folder: off)."""
    directory = enable_persistent_cache()
    return ExportStore(None if directory is None else directory / "bea-exported")
