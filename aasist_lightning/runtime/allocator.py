"""How the C allocator treats freed memory: the largest single speed lever for AASIST on CPU.

The first residual blocks of AASIST produce ~1 GB activations per batch of 16 (as much again in gradients).
glibc's malloc serves such blocks with ``mmap`` and gives them back with ``munmap`` on free, so every
training step (and every eager inference batch) page-faults gigabytes of fresh, kernel-zeroed memory; on a
virtual machine each fault is expensive. Measured on a 2-core AVX2 VM (AASIST-L, batch 16, 64,600 samples):
a training step takes 40 s by default and 15.5 s with ``retain`` (2.6x); eager inference 1.0 -> 2.9 utt/s.
The cost: peak RSS 8.0 -> 13.3 GiB in that training loop (freed blocks stay mapped and fragment), flat
across steps.

- ``retain``: freed memory stays in the process heap and is reused (``mallopt``: no ``mmap`` for large
  blocks, no trimming). Process-wide, from the call on.
- ``system``: glibc's defaults (mmap above 128 KiB, trim above 128 KiB) and the free heap returned now.

glibc's heap fragments under ``retain``; mimalloc (the ``cmeel-mimalloc`` wheel) keeps freed memory with far
less of that. The commands that train or score therefore start again under it (``LD_PRELOAD`` takes effect
only at process start: :func:`relaunch_under_mimalloc`); there ``retain`` / ``system`` set how long it keeps
memory freed from then on (for ever / its default 10 ms). AASIST-L training steps at batch 16 on 2 Zen 4
cores, fp32 (bf16 autocast): glibc ``retain`` 12.7 GiB, 7.6 s (6.2 GiB, 4.8 s); mimalloc ``retain`` 8.4 GiB,
7.5 s (5.0 GiB, 5.0 s); glibc ``system`` 7.6 GiB, 13-29 s.

Other C libraries (macOS, musl) keep their own behaviour: ``configure_allocator`` returns False there.
PyTorch's CPU tensors come from ``posix_memalign`` and so follow these settings.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import importlib.metadata
import logging
import os
import platform
import re
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

ALLOCATOR_MODES = ("retain", "system")

# glibc's mallopt parameters (malloc.h) and defaults.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
# mimalloc.h's mi_option_purge_delay (the same number in mimalloc 2 and 3) and its default, in ms.
_MI_OPTION_PURGE_DELAY = 15
_MI_DEFAULT_PURGE_DELAY_MS = 10

#: ``AASIST_MIMALLOC=0`` keeps the C library's malloc (no relaunch).
MIMALLOC_ENV = "AASIST_MIMALLOC"
#: Set in the process that :func:`relaunch_under_mimalloc` starts, so that it relaunches once at most.
RELAUNCHED_ENV = "AASIST_MIMALLOC_PRELOADED"

_current = "system"


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def configure_allocator(mode: str) -> bool:
    """Switch the process's malloc to ``mode`` (``retain`` / ``system``); True where it took effect."""
    global _current
    if mode not in ALLOCATOR_MODES:
        raise ValueError(f"allocator={mode!r}: use one of {', '.join(ALLOCATOR_MODES)}")
    mimalloc = _mimalloc()
    libc = _glibc()
    if mimalloc is not None:
        # Memory freed from now on: kept, or given back after mimalloc's default delay.
        mimalloc.mi_option_set(_MI_OPTION_PURGE_DELAY, -1 if mode == "retain" else _MI_DEFAULT_PURGE_DELAY_MS)
        ok = True
    elif libc is None:
        return False
    elif mode == "retain":
        # A trim threshold of -1 is SIZE_MAX once glibc casts it: never trim.
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, -1) == 1
    else:
        ok = libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD) == 1 and ok
        libc.malloc_trim(0)
    if ok:
        _current = mode
        log.debug("allocator: %s", mode)
    return ok


@functools.cache
def _mimalloc() -> ctypes.CDLL | None:
    """mimalloc's API where mimalloc is this process's malloc (preloaded), else None."""
    try:
        process = ctypes.CDLL(None)
        malloc, mi_malloc = process.malloc, process.mi_malloc
    except (OSError, AttributeError):
        return None
    if ctypes.cast(malloc, ctypes.c_void_p).value != ctypes.cast(mi_malloc, ctypes.c_void_p).value:
        return None
    process.mi_option_set.argtypes = [ctypes.c_int, ctypes.c_long]
    process.mi_option_set.restype = None
    return process


def malloc_name() -> str:
    """This process's malloc: ``mimalloc``, ``glibc`` or ``other``."""
    return "mimalloc" if _mimalloc() is not None else "glibc" if _glibc() is not None else "other"


@functools.cache
def mimalloc_library() -> Path | None:
    """The shared library of the installed ``cmeel-mimalloc`` wheel, or None."""
    try:
        files = importlib.metadata.distribution("cmeel-mimalloc").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = sorted(Path(str(f.locate())) for f in files if re.fullmatch(r"libmimalloc\.so[.\d]*", f.name))
    return next((path for path in found if path.is_file()), None)


def relaunch_under_mimalloc() -> None:
    """Start this program again, in this process, with mimalloc as its malloc (``LD_PRELOAD``), once.

    Does nothing where mimalloc already is the malloc, outside glibc systems, without the ``cmeel-mimalloc``
    wheel, where ``LD_PRELOAD`` already names a malloc, in the relaunched process itself, with
    ``AASIST_MIMALLOC=0``, or where ``sys.argv`` is not the
    command line the process started with (a script run in process by ``runpy``, as tests do). The process
    is replaced: call this first in a console script, before heavy imports and before any output. Child
    processes (data loader workers, DDP ranks) inherit the preload.
    """
    own_command_line = sys.orig_argv[len(sys.orig_argv) - len(sys.argv) :] == sys.argv
    if os.environ.get(MIMALLOC_ENV) == "0" or os.environ.get(RELAUNCHED_ENV) or not own_command_line:
        return
    preload = _mimalloc_preload()
    if preload and _mimalloc() is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **preload})


def _mimalloc_preload() -> dict[str, str]:
    """The environment entries that start a process under mimalloc; empty where that is not possible, or
    where ``LD_PRELOAD`` already names a malloc (jemalloc, tcmalloc: the user's choice stands)."""
    library, preloaded = mimalloc_library(), os.environ.get("LD_PRELOAD", "")
    if library is None or _glibc() is None or "malloc" in preloaded:
        return {}
    return {"LD_PRELOAD": f"{library} {preloaded}".strip(), RELAUNCHED_ENV: str(library)}


@contextlib.contextmanager
def children_under_mimalloc() -> Iterator[bool]:
    """Processes started in the block (``multiprocessing`` spawn, ``subprocess``) run under mimalloc, like the
    console scripts; yields whether that is possible here."""
    preload = _mimalloc_preload()
    saved = {key: os.environ.get(key) for key in preload}
    os.environ.update(preload)
    try:
        yield bool(preload)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def allocator_mode() -> str:
    """The mode last set through ``configure_allocator`` (``system`` until then)."""
    return _current


@contextlib.contextmanager
def allocator(mode: str) -> Iterator[bool]:
    """``configure_allocator(mode)`` for the block, then back to the previous mode."""
    previous = _current
    applied = configure_allocator(mode)
    try:
        yield applied
    finally:
        if applied:
            configure_allocator(previous)
