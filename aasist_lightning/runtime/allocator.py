"""How freed CPU memory is treated: the largest single speed lever for AASIST on CPU.

The first residual blocks of AASIST produce ~1 GB activations per batch of 16 (as much again in gradients).
glibc's malloc serves such blocks with ``mmap`` and gives them back with ``munmap`` on free, so every
training step (and every eager inference batch) page-faults gigabytes of fresh, kernel-zeroed memory; on a
virtual machine each fault is expensive. Measured on a 2-core AVX2 VM (AASIST-L, batch 16, 64,600 samples):
a training step takes 40 s by default and 15.5 s with the retained heap (2.6x); eager inference 1.0 -> 2.9
utt/s.

- ``pool`` (the default of train.py, eval.py, aasist-predict): PyTorch's blocks of 1 MiB and more come from a
  pool of resident pages (``page_pool.cpp``): a freed block's pages stay mapped, and a request is served from
  an idle range or assembled from several by moving their pages (``mremap``), so a steady loop faults
  nothing and the process holds its live peak, not a fragmented heap: AASIST-L fp32 training at batch 16
  peaks at ~6.3 GiB instead of ~12 with ``retain``, at the same step time. Smaller blocks follow glibc's
  defaults; idle pages are not inherited by forked DataLoader workers. Compiled on first use (~2 s, a C++
  compiler and Linux needed; cached under ``$XDG_CACHE_HOME/aasist-lightning``); where it cannot be,
  ``retain`` is used and a warning says why.
- ``retain``: freed memory stays in the glibc heap and is reused (``mallopt``: no ``mmap`` for large blocks,
  no trimming): as fast, but the heap fragments (peak RSS twice the live peak in fp32 training).
- ``system``: glibc's defaults (mmap above 128 KiB, trim above 128 KiB) and the free heap returned now.

Every mode is process-wide, from the call on. Other C libraries (macOS, musl) keep their own behaviour:
``configure_allocator`` returns False there. PyTorch's CPU tensors come from its CPU allocator (the pool, or
``posix_memalign`` under the glibc settings); ONNX Runtime keeps its own arena.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import logging
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from aasist_lightning.files import atomic_path
from aasist_lightning.runtime.hardware import cxx_command

log = logging.getLogger(__name__)

ALLOCATOR_MODES = ("pool", "retain", "system")

# glibc's mallopt parameters (malloc.h) and defaults.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536

_current = "system"
_pool: ctypes.CDLL | None = None  # the page pool's library once it has been enabled
_PAGE_POOL_SOURCE = Path(__file__).with_name("page_pool.cpp")


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


#: Builds of the page pool unused for this long (other torch versions, older sources) are deleted.
_UNUSED_BUILD_DAYS = 30


def _prune_unused_builds(keep: Path) -> None:
    """Delete the cached builds no process has loaded for :data:`_UNUSED_BUILD_DAYS` (loading one marks it
    used), so torch upgrades and new sources do not pile up builds. Called after a new build."""
    cutoff = time.time() - _UNUSED_BUILD_DAYS * 86400
    for build in keep.parent.glob("page_pool-*.so"):
        with contextlib.suppress(OSError):
            if build != keep and build.stat().st_mtime < cutoff:
                build.unlink()


@functools.cache
def _page_pool() -> ctypes.CDLL | None:
    """``page_pool.cpp`` compiled against this torch (once; cached by source, torch version and flags) and
    loaded; None where it cannot be (with a warning saying why) or torch is not installed."""
    try:
        import torch
    except ImportError:  # aasist-predict --onnx where torch is not installed: no PyTorch blocks to pool
        return None
    from aasist_lightning.models.weights import cache_dir  # it imports torch too

    compiler = cxx_command()
    if platform.system() != "Linux" or not compiler:
        log.warning("allocator=pool needs Linux and a C++ compiler (none found): using allocator=retain")
        return None
    root = Path(torch.__file__).parent
    flags = [
        *("-O2", "-std=c++20", "-shared", "-fPIC", "-w"),
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch.compiled_with_cxx11_abi())}",
        f"-I{root / 'include'}",
        f"-L{root / 'lib'}",
        f"-Wl,-rpath,{root / 'lib'}",
    ]
    source = _PAGE_POOL_SOURCE.read_bytes()
    build = " ".join([torch.__version__, *compiler, *flags]).encode()
    key = hashlib.sha256(source + b"\0" + build)
    library = cache_dir() / f"page_pool-{key.hexdigest()[:16]}.so"
    try:
        if not library.exists():
            with atomic_path(library) as tmp:  # concurrent first runs each build; the last rename wins
                command = [*compiler, *flags, str(_PAGE_POOL_SOURCE), "-o", str(tmp), "-lc10"]
                subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
            _prune_unused_builds(keep=library)
        with contextlib.suppress(OSError):  # its time of last use, for the pruning (a read-only cache works)
            os.utime(library)
        pool = ctypes.CDLL(str(library))
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        if isinstance(detail, bytes):  # a timeout's output is bytes even with text=True
            detail = detail.decode(errors="replace")
        log.warning("allocator=pool could not be built (%s): using allocator=retain", detail.strip()[:300])
        return None
    pool.aasist_page_pool_enable.argtypes = [ctypes.c_int]
    pool.aasist_page_pool_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64)] * 3
    return pool


def page_pool_stats() -> dict[str, int]:
    """Bytes of the page pool's blocks: ``live`` (in tensors), ``idle`` (kept for reuse) and ``faulted``
    (pages faulted in since the process started); zeros before ``allocator=pool`` was first used."""
    values = [ctypes.c_uint64() for _ in range(3)]
    if _pool is not None:
        _pool.aasist_page_pool_stats(*(ctypes.byref(v) for v in values))
    return dict(zip(("live", "idle", "faulted"), (v.value for v in values), strict=True))


def release_idle_memory() -> None:
    """Give the page pool's idle pages back to the system, e.g. before ONNX Runtime (which allocates
    outside PyTorch) runs a validation epoch between training epochs; a no-op in the other modes."""
    if _pool is not None and _current == "pool":
        _pool.aasist_page_pool_release()


def configure_allocator(mode: str) -> bool:
    """Switch the process's CPU allocation to ``mode`` (``pool`` / ``retain`` / ``system``); True where it
    took effect. ``pool`` falls back to ``retain`` (with a warning) where the pool cannot be built."""
    global _current, _pool
    if mode not in ALLOCATOR_MODES:
        raise ValueError(f"allocator={mode!r}: use one of {', '.join(ALLOCATOR_MODES)}")
    libc = _glibc()
    if libc is None:
        return False
    if mode == "pool":
        if _pool is None:
            _pool = _page_pool()
        if _pool is None or not _pool.aasist_page_pool_enable(1):
            mode = "retain"
    elif _pool is not None:
        _pool.aasist_page_pool_enable(0)  # every block from PyTorch's default allocator; idle pages go back
    if mode == "retain":
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
