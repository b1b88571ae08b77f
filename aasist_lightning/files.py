"""The one way this package writes an output file: atomically, without losing anything.

Every writer here:

- checks the destination before any work (:func:`check_output`): not a folder, its folder exists or can be
  made, it can be written there, and it is not one of the run's inputs;
- writes a temporary file beside the destination and renames it over it (``os.replace``), so a reader or a
  crash never sees half a file, and a failed write leaves the earlier file as it was;
- keeps the permissions of the file it replaces (a new file gets the usual ``0o666 & ~umask``, not the
  ``0o600`` of a temporary file);
- leaves no temporary file behind, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]

_umask_lock = threading.Lock()


class OutputPathError(ValueError):
    """An output path that cannot be written, or that would replace an input; the message names it and
    says what to do."""


def _umask() -> int:
    try:  # Linux tells the umask without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:  # elsewhere os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Raise :class:`OutputPathError` unless ``path`` can be written as an output file; returns it as a
    ``Path``. Call it before the work whose result goes there."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"output {path} is a folder: give a file name inside it")
    for source in inputs:
        source = Path(source)
        if _same_file(path, source) or path.resolve() == source.resolve():
            raise OutputPathError(f"output {path} is also an input ({source}): choose another output path")
    parent = path.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"output {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"output {path}: cannot write in {existing} (permission denied)")
    return path


@contextlib.contextmanager
def atomic_path(path: PathLike, inputs: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``
    (keeping its permissions), otherwise it is deleted and ``path`` is left as it was."""
    path = check_output(path, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: PathLike, data: bytes, inputs: Iterable[PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, inputs) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, inputs: Iterable[PathLike] = ()) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), inputs)


def atomic_write_json(path: PathLike, data: Any, inputs: Iterable[PathLike] = ()) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n", inputs)


def atomic_copy(source: PathLike, path: PathLike) -> Path:
    """Copy ``source`` to ``path`` atomically (e.g. a checkpoint kept under a second name)."""
    with atomic_path(path, inputs=[source]) as tmp:
        shutil.copyfile(source, tmp)
    return Path(path)


__all__ = [
    "OutputPathError",
    "atomic_copy",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output",
]
