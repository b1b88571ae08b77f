"""The one way this package writes an output file: atomically, without losing anything.

Every writer here:

- checks the destination before any work (:func:`check_output`): not a folder, its folder exists or can be
  made, it can be written there, and it is not one of the run's inputs;
- writes a temporary file beside the destination and renames it over it (``os.replace``), so a reader or a
  crash never sees half a file, and a failed write leaves the earlier file as it was;
- keeps the permissions of the file it replaces (a new file gets the usual ``0o666 & ~umask``, not the
  ``0o600`` of a temporary file);
- leaves no temporary file behind, whatever happens (an error, Ctrl-C);
- names the destination, not its temporary file, when writing fails (e.g. a full disk).

A run with several outputs writes them as one transaction (:func:`atomic_outputs`): all are checked before
the work, and none replaces an earlier file unless every one of them was written.

Symbolic links: an output path that is a link is replaced by the new file (the link's target is left as it
was), and one that leads to an input is refused like the input itself.
"""

from __future__ import annotations

import contextlib
import itertools
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


def same_path(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: the same resolved path, or links (hard or symbolic) to one file."""
    a, b = Path(a), Path(b)
    return _same_file(a, b) or a.resolve() == b.resolve()


def is_within(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, links and ``..`` resolved (neither need exist)."""
    path, folder = Path(path).expanduser(), Path(folder).expanduser()
    return same_path(path, folder) or folder.resolve() in path.resolve().parents


class InputPathError(OSError):
    """An input path that is a folder, a pipe or a device where a file is read; the message names it."""


def check_input(path: PathLike, what: str = "input") -> Path:
    """``path`` as a ``Path`` if it is a regular file (or a link to one); otherwise FileNotFoundError or
    :class:`InputPathError` saying what it is. ``what`` names its role ("score file", "protocol")."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found")
    if path.is_dir():
        raise InputPathError(f"{what} {path} is a folder: give the path of a file")
    raise InputPathError(f"{what} {path} is not a regular file (a pipe or a device): give the path of a file")


def _output_problem(path: Path, inputs: Iterable[PathLike]) -> tuple[str, str] | None:
    """(what is wrong with ``path`` as an output, how the message ends by default), or None."""
    if path.is_dir():
        return f"output {path} is a folder", ": give a file name inside it"
    for source in inputs:
        source = Path(source)
        if same_path(path, source):
            return f"output {path} is also an input ({source})", ": choose another output path"
    mode = _read_only_mode(path) if path.is_file() else None
    if mode is not None:  # as root too: a read-only file is kept
        return (
            f"output {path} is read-only (mode {mode:o}): it is never replaced",
            ". Fix: choose another output path (or make it writable first)",
        )
    problem = folder_problem(path.parent)
    return (f"output {path}: {problem}", "") if problem else None


def check_output(path: PathLike, inputs: Iterable[PathLike] = (), fix: str | None = None) -> Path:
    """Raise :class:`OutputPathError` unless ``path`` can be written as an output file; returns it as a
    ``Path``. Call it before the work whose result goes there. ``fix``: the advice of a tool whose outputs
    have fixed names (instead of choosing another path)."""
    path = Path(path)
    found = _output_problem(path, inputs)
    if found is not None:
        what, default_fix = found
        raise OutputPathError(what + (f". Fix: {fix}" if fix else default_fix))
    return path


def folder_problem(folder: PathLike) -> str | None:
    """Why files cannot be written in ``folder`` (made where missing), or None: its nearest existing part is a
    file, or a folder that cannot be written."""
    existing = Path(folder)
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing} (permission denied)"
    mode = _read_only_mode(existing)
    if mode is not None:  # root may, but a folder marked read-only is not written
        return f"cannot write in {existing} (a read-only folder, mode {mode:o})"
    return None


def _read_only_mode(path: Path) -> int | None:
    """``path``'s permission bits when none of them allows writing (which does not stop root), else None."""
    mode = path.stat().st_mode & 0o777
    return None if mode & 0o222 else mode


class Outputs:
    """The outputs of one run, committed together; made by :func:`atomic_outputs`."""

    def __init__(self, planned: list[Path], inputs: list[PathLike]) -> None:
        self._planned = planned
        self._inputs = inputs
        self._temps: list[tuple[Path, Path]] = []  # (temporary, destination), in the order written
        self._made: list[Path] = []  # folders made for the outputs, removed again if nothing is committed

    @contextlib.contextmanager
    def write(self, path: PathLike) -> Iterator[Path]:
        """Yield the temporary path that stands for ``path`` until the commit. An OSError of the block that
        names no file, or the temporary one, is raised again naming ``path``."""
        path = Path(path)
        if path not in self._planned:  # checked before the work, like the planned ones
            self._planned.append(_checked(path, self._planned, self._inputs))
        try:
            missing = list(itertools.takewhile(lambda f: not f.exists(), (path.parent, *path.parent.parents)))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made += missing  # deepest first
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
        except OSError as error:
            raise _naming(error, path) from error
        tmp = Path(tmp_name)
        self._temps.append((tmp, path))
        try:
            yield tmp
        except OSError as error:
            if error.filename not in (None, tmp_name, str(tmp)):
                raise  # about another file (e.g. an input read while writing), which it names
            raise _naming(error, path) from error

    def write_text(self, path: PathLike, text: str) -> Path:
        """Write ``text`` (UTF-8) as the output ``path`` (see :meth:`write`); returns ``path``."""
        with self.write(path) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
        return Path(path)

    def _commit(self) -> None:
        for tmp, path in self._temps:  # every mode first: a failure here still replaces nothing
            try:
                try:
                    mode = stat.S_IMODE(path.stat().st_mode)
                except FileNotFoundError:
                    mode = 0o666 & ~_umask()
                os.chmod(tmp, mode)
            except OSError as error:
                raise _naming(error, path) from error
        for tmp, path in self._temps:
            try:
                os.replace(tmp, path)
            except OSError as error:
                raise _naming(error, path, "the outputs before it in this run were replaced") from error

    def _discard(self) -> None:
        for tmp, _ in self._temps:
            tmp.unlink(missing_ok=True)
        for folder in sorted(set(self._made), key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):  # one that now holds something else stays
                folder.rmdir()


class OutputWriteError(OSError):
    """Writing an output failed (e.g. a full disk); the message names the destination, not a temporary."""

    reason = ""


def _naming(error: OSError, path: Path, outcome: str = "no earlier output was replaced") -> OSError:
    """``error`` as an :class:`OutputWriteError` naming the destination ``path`` (not a temporary file)."""
    reason = getattr(error, "reason", "") or error.strerror or str(error) or type(error).__name__
    named = OutputWriteError(error.errno, f"{reason}; {outcome}", str(path))
    named.reason = reason
    return named


def _checked(path: Path, others: list[Path], inputs: list[PathLike], fix: str | None = None) -> Path:
    checked = check_output(path, inputs, fix)
    if any(checked.absolute() == other.absolute() or _same_file(checked, other) for other in others):
        raise OutputPathError(f"output {path} is given twice: give each output its own path")
    return checked


def check_outputs(
    paths: Iterable[PathLike | None], inputs: Iterable[PathLike] = (), fix: str | None = None
) -> list[Path]:
    """:func:`check_output` for each of a run's outputs (None entries are skipped), none given twice;
    returns them as ``Path`` objects."""
    inputs = list(inputs)
    checked: list[Path] = []
    for path in paths:
        if path is not None:
            checked.append(_checked(Path(path), checked, inputs, fix))
    return checked


@contextlib.contextmanager
def atomic_outputs(
    paths: Iterable[PathLike | None] = (), inputs: Iterable[PathLike] = ()
) -> Iterator[Outputs]:
    """Check every output ``paths`` (None entries are skipped) before the work (:func:`check_output`, and
    no path twice), then yield an :class:`Outputs`: ``with outputs.write(path) as tmp`` writes one to a
    temporary file. When the block ends without an error every file written replaces its destination
    (keeping its permissions); otherwise (an error, Ctrl-C) the temporary files are deleted and every
    destination is left as it was."""
    inputs = list(inputs)
    outputs = Outputs(check_outputs(paths, inputs), inputs)
    try:
        yield outputs
        outputs._commit()
    finally:
        outputs._discard()


@contextlib.contextmanager
def atomic_path(path: PathLike, inputs: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``
    (keeping its permissions), otherwise it is deleted and ``path`` is left as it was."""
    with atomic_outputs([path], inputs) as outputs, outputs.write(path) as tmp:
        yield tmp


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
    "InputPathError",
    "OutputPathError",
    "OutputWriteError",
    "Outputs",
    "atomic_copy",
    "atomic_outputs",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_input",
    "check_output",
    "check_outputs",
    "folder_problem",
    "is_within",
    "same_path",
]
