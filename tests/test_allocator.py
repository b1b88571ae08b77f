"""The allocator modes: freed tensor memory stays in the process (page pool, retained heap) or goes back."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pytest
import torch

from aasist_lightning.runtime import allocator as allocator_module
from aasist_lightning.runtime.allocator import (
    allocator,
    allocator_mode,
    configure_allocator,
    page_pool_stats,
    release_idle_memory,
)

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt modes need glibc")
MIB = 2**20


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_drop_after_free(mib: int = 256) -> float:
    block = torch.ones(mib * 2**18)  # touched, so resident
    before = _rss_mib()
    del block
    return before - _rss_mib()


@glibc
def test_retain_keeps_freed_memory_and_system_gives_it_back() -> None:
    assert allocator_mode() == "system"
    assert _rss_drop_after_free() > 200  # glibc's default: a large block is unmapped on free
    with allocator("retain") as applied:
        assert applied and allocator_mode() == "retain"
        assert _rss_drop_after_free() < 50  # kept in the heap for the next batch
        assert torch.ones(256 * 2**18).sum() == 256 * 2**18  # and reused
    assert allocator_mode() == "system"
    assert _rss_drop_after_free() > 200


@glibc
def test_pool_reuses_resident_pages_and_holds_only_the_live_peak() -> None:
    with allocator("pool"):
        if allocator_mode() != "pool":
            pytest.skip("the page pool could not be built here (no C++ compiler?)")
        first = torch.arange(16 * 2**20, dtype=torch.float32)  # 64 MiB
        second = torch.ones(16 * 2**20)
        faulted = page_pool_stats()["faulted"]
        assert page_pool_stats()["live"] >= 128 * MIB
        del first, second
        assert page_pool_stats() == {"live": 0, "idle": 128 * MIB, "faulted": faulted}
        # Larger than any idle range: assembled from both by moving their pages, nothing faulted in.
        merged = torch.full((32 * 2**20,), 2.0)
        assert page_pool_stats()["faulted"] == faulted and page_pool_stats()["idle"] == 0
        assert merged.sum() == 64 * 2**20 and merged[-1] == 2.0
        del merged
        # Smaller: a piece of one idle range, the rest stays idle.
        piece = torch.arange(4 * 2**20, dtype=torch.float64)  # 32 MiB
        assert page_pool_stats() == {"live": 32 * MIB, "idle": 96 * MIB, "faulted": faulted}
        assert piece[-1] == 4 * 2**20 - 1
        del piece
        small = torch.ones(1000)  # under 1 MiB: glibc's
        assert page_pool_stats()["live"] == 0 and small.sum() == 1000
        assert _rss_drop_after_free() < 50  # kept for the next batch
        idle = page_pool_stats()["idle"]
        before = _rss_mib()
        release_idle_memory()  # as before a validation epoch on ONNX Runtime
        assert page_pool_stats()["idle"] == 0 and before - _rss_mib() > 0.9 * idle / MIB
    assert allocator_mode() == "system" and page_pool_stats()["idle"] == 0  # the idle pages went back
    assert _rss_drop_after_free() > 200


@glibc
def test_pool_falls_back_to_the_retained_heap_where_it_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(allocator_module, "_pool", None)
    allocator_module._page_pool.cache_clear()
    try:
        with allocator("pool") as applied:
            assert applied and allocator_mode() == "retain"
        assert "allocator=pool could not be built" in caplog.text and "using allocator=retain" in caplog.text
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.so"))
    finally:
        allocator_module._page_pool.cache_clear()


@glibc
def test_a_new_build_prunes_only_builds_unused_for_a_month(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A compiler that writes an empty "library" (loading it fails: allocator=retain, with the warning); the
    new build deleted the cached builds last used a month ago, not the recent one or other files."""
    compiler = tmp_path / "fake-c++"
    compiler.write_text('#!/bin/sh\nwhile [ "$1" != -o ]; do shift; done; : > "$2"\n')
    compiler.chmod(0o755)
    cache = tmp_path / "cache" / "aasist_lightning"  # the package's one per-user cache folder
    cache.mkdir(parents=True)
    month_ago = time.time() - 31 * 86400
    for name in ("page_pool-stale.so", "page_pool-recent.so", "notes.so"):
        (cache / name).write_bytes(b"")
    for name in ("page_pool-stale.so", "notes.so"):
        os.utime(cache / name, (month_ago, month_ago))
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AASIST_CACHE_DIR", raising=False)
    allocator_module._page_pool.cache_clear()
    try:
        assert allocator_module._page_pool() is None
    finally:
        allocator_module._page_pool.cache_clear()
    assert "allocator=pool could not be built" in caplog.text
    left = sorted(p.name for p in cache.iterdir())
    assert "page_pool-stale.so" not in left and {"page_pool-recent.so", "notes.so"} <= set(left)
    new = [cache / name for name in left if name not in ("page_pool-recent.so", "notes.so")]
    assert len(new) == 1 and time.time() - new[0].stat().st_mtime < 60  # the new build, marked used


def test_unknown_mode_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"allocator='jemalloc': use one of pool, retain, system"):
        configure_allocator("jemalloc")
