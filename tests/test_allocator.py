"""The retained-heap allocator mode: freed tensor memory stays in the process, not returned to the OS."""

from __future__ import annotations

import os
import platform

import pytest
import torch

from aasist_lightning.runtime.allocator import allocator, allocator_mode, configure_allocator

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt modes need glibc")


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


def test_unknown_mode_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"allocator='jemalloc': use one of retain, system"):
        configure_allocator("jemalloc")
